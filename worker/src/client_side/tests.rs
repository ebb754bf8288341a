use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::*;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn udp_echo_records_each_request_apart() {
    let server = ClientSide::start(ClientSideKind::UdpEcho, LOCALHOST, &Default::default())
        .await
        .unwrap();
    assert!(server.url("127.0.0.1").starts_with("udp://127.0.0.1:"));
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = [0u8; 64];
    for message in ["req-a", "req-b", "req-a", "stop", "req-a"] {
        client
            .send_to(message.as_bytes(), server.address())
            .await
            .unwrap();
        if message == "stop" {
            continue; // never echoed
        }
        let (n, _) = tokio::time::timeout(WAIT, client.recv_from(&mut buf))
            .await
            .expect("an echo")
            .unwrap();
        assert_eq!(&buf[..n], message.as_bytes());
    }
    let log = server.stop().await;
    let a: Vec<u64> = log
        .datagrams
        .iter()
        .filter(|d| d.request_id == "req-a")
        .map(|d| d.index)
        .collect();
    assert_eq!(a, [0, 1, 2]);
    assert_eq!(log.datagrams.len(), 4, "the stop datagram is not recorded");
    assert!(log
        .datagrams
        .iter()
        .all(|d| d.sent >= d.received && d.received > 1.6e9));

    let dir = tempfile::tempdir().unwrap();
    let files = log.write_to(dir.path()).unwrap();
    assert_eq!(files.len(), 2);
    let csv = std::fs::read_to_string(dir.path().join("server-req-a.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "id,server_rcv,server_send");
    // Round trip 0 is the function's warm-up, which its own CSV leaves out too.
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[1].starts_with("1,") && lines[2].starts_with("2,"));
}

#[tokio::test]
async fn a_request_file_is_complete_once_its_last_echo_arrived() {
    let server = ClientSide::start(ClientSideKind::UdpEcho, LOCALHOST, &Default::default())
        .await
        .unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = [0u8; 64];
    for _ in 0..4 {
        client.send_to(b"req-c", server.address()).await.unwrap();
        tokio::time::timeout(WAIT, client.recv_from(&mut buf))
            .await
            .expect("an echo")
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = server.write_server_csv("req-c", dir.path()).unwrap();
    let csv = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        csv.lines().count(),
        4,
        "a header and round trips 1..=3: {csv}"
    );
    server.stop().await;
}

#[tokio::test]
async fn tcp_reply_with_a_barrier_answers_once_it_is_full() {
    let options = ClientSideOptions {
        tcp_barrier: 2,
        ..Default::default()
    };
    let server = ClientSide::start(ClientSideKind::TcpReply, LOCALHOST, &options)
        .await
        .unwrap();
    let mut first = TcpStream::connect(server.address()).await.unwrap();
    let mut early = [0u8; 8];
    // Alone, the first connection is held: nothing arrives while it waits.
    let held = tokio::time::timeout(Duration::from_millis(200), first.read(&mut early)).await;
    assert!(held.is_err(), "answered before the barrier was full");
    let mut second = TcpStream::connect(server.address()).await.unwrap();
    for stream in [&mut first, &mut second] {
        let mut reply = Vec::new();
        tokio::time::timeout(WAIT, stream.read_to_end(&mut reply))
            .await
            .expect("answered once two were open")
            .unwrap();
        assert_eq!(reply, TCP_REPLY);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_given_port_is_the_one_listened_on() {
    let port = {
        let probe = std::net::TcpListener::bind((LOCALHOST, 0)).unwrap();
        probe.local_addr().unwrap().port()
    };
    let options = ClientSideOptions {
        port,
        ..Default::default()
    };
    let server = ClientSide::start(ClientSideKind::TcpReply, LOCALHOST, &options)
        .await
        .unwrap();
    assert_eq!(server.address().port(), port);
    server.stop().await;
}

#[tokio::test]
async fn tcp_reply_answers_and_closes() {
    let server = ClientSide::start(ClientSideKind::TcpReply, LOCALHOST, &Default::default())
        .await
        .unwrap();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(server.address()).await.unwrap();
        let mut reply = Vec::new();
        tokio::time::timeout(WAIT, stream.read_to_end(&mut reply))
            .await
            .expect("the server closes the connection")
            .unwrap();
        assert_eq!(reply, TCP_REPLY);
    }
    // The third connection's record is written by its own task: wait for it.
    let deadline = tokio::time::Instant::now() + WAIT;
    while server.snapshot().connections.len() < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let log = server.stop().await;
    assert_eq!(log.connections.len(), 3);
    let dir = tempfile::tempdir().unwrap();
    log.write_to(dir.path()).unwrap();
    let csv = std::fs::read_to_string(dir.path().join("tcp-connections.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4);
}

async fn http_get(address: std::net::SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut reply))
        .await
        .expect("a whole reply")
        .unwrap();
    let split = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers end");
    let head = String::from_utf8_lossy(&reply[..split]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, reply[split + 4..].to_vec())
}

#[tokio::test]
async fn http_files_serves_only_files_under_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::create_dir_all(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/file.bin"), &data).unwrap();
    let options = ClientSideOptions {
        files: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let server = ClientSide::start(ClientSideKind::HttpFiles, LOCALHOST, &options)
        .await
        .unwrap();
    let (status, body) = http_get(server.address(), "/sub/file.bin").await;
    assert_eq!(status, 200);
    assert!(body == data, "the file comes back byte for byte");
    for bad in ["/missing.bin", "/sub/../sub/file.bin", "/", "/sub"] {
        assert_eq!(http_get(server.address(), bad).await.0, 404, "{bad}");
    }
    let log = server.stop().await;
    assert_eq!(log.requests.len(), 5);
    assert_eq!(log.requests[0].bytes, data.len() as u64);
}

#[tokio::test]
async fn http_files_needs_a_folder() {
    let err = ClientSide::start(ClientSideKind::HttpFiles, LOCALHOST, &Default::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("folder"), "{err}");
}

#[test]
fn request_ids_become_safe_file_names() {
    assert_eq!(file_safe("abc-123_x"), "abc-123_x");
    assert_eq!(file_safe("../etc/passwd"), "___etc_passwd");
    assert_eq!(file_safe(""), "_");
}
