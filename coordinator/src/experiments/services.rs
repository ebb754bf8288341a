//! The client side of SeBS's network benchmarks, as tasks of this process: a UDP echo for
//! 020.network-benchmark and 030.clock-synchronization, a TCP reply server for 040.server-reply.
//! Each timestamps what it receives and sends by this host's clock, which is what the
//! experiments compare with the function's own timestamps.
//!
//! (When the catalogue's client sides land in the worker crate, these give way to them; the
//! fleet will run them on the workers, next to where invocations are sent from.)

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::SystemTime;

use anyhow::{Context, Result};
use sebs_worker::epoch_seconds;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::oneshot;

use super::backend::{ClientService, ServiceLog, ServiceRow};

/// What ends a clock-synchronization exchange (030 sends it when its minimum RTT settled).
const STOP: &[u8] = b"stop";

fn now() -> f64 {
    epoch_seconds(SystemTime::now())
}

/// Runs `serve` as the service's task until the stop signal it is given fires.
fn spawn<F>(address: SocketAddr, serve: impl FnOnce(oneshot::Receiver<()>) -> F) -> ClientService
where
    F: Future<Output = Result<ServiceLog>> + Send + 'static,
{
    let (stop, stopped) = oneshot::channel();
    ClientService {
        address,
        stop,
        task: tokio::spawn(serve(stopped)),
    }
}

/// Echoes datagrams until stopped.
pub async fn udp_echo(ip: IpAddr) -> Result<ClientService> {
    let socket = UdpSocket::bind((ip, 0))
        .await
        .with_context(|| format!("binding a UDP port on {ip}"))?;
    let address = socket.local_addr()?;
    Ok(spawn(address, |mut stopped| async move {
        let mut log = ServiceLog::default();
        let mut buf = [0u8; 1024];
        loop {
            let (len, peer) = tokio::select! {
                got = socket.recv_from(&mut buf) => got.context("receiving a datagram")?,
                _ = &mut stopped => return Ok(log),
            };
            let received = now();
            let message = &buf[..len];
            if message == STOP {
                continue;
            }
            let sent = now();
            socket
                .send_to(message, peer)
                .await
                .context("answering a datagram")?;
            log.rows.push(ServiceRow {
                peer,
                message: String::from_utf8_lossy(message).into_owned(),
                received,
                sent,
            });
        }
    }))
}

/// Accepts connections `barrier` at a time and answers each round with `accepted`, until
/// stopped. `port` 0 picks a free one.
pub async fn tcp_reply(ip: IpAddr, port: u16, barrier: usize) -> Result<ClientService> {
    let listener = TcpListener::bind((ip, port))
        .await
        .with_context(|| format!("listening on {ip}:{port}"))?;
    let address = listener.local_addr()?;
    Ok(spawn(address, |mut stopped| async move {
        let mut log = ServiceLog::default();
        let mut waiting: Vec<(TcpStream, SocketAddr, f64)> = Vec::new();
        loop {
            let (stream, peer) = tokio::select! {
                got = listener.accept() => got.context("accepting a connection")?,
                _ = &mut stopped => return Ok(log),
            };
            waiting.push((stream, peer, now()));
            if waiting.len() < barrier.max(1) {
                continue;
            }
            for (mut stream, peer, received) in waiting.drain(..) {
                let sent = now();
                // A function that gave up meanwhile is its invocation's failure, not ours.
                let _ = stream.write_all(b"accepted").await;
                let _ = stream.shutdown().await;
                log.rows.push(ServiceRow {
                    peer,
                    message: "accepted".into(),
                    received,
                    sent,
                });
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use tokio::io::AsyncReadExt;

    const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn the_echo_answers_and_logs_every_datagram_but_stop() {
        let service = udp_echo(LOCALHOST).await.unwrap();
        let client = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
        let mut buf = [0u8; 64];
        for _ in 0..3 {
            client.send_to(b"req-1", service.address).await.unwrap();
            let (n, _) = client.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"req-1");
        }
        client.send_to(STOP, service.address).await.unwrap();
        let log = service.finish().await.unwrap();
        assert_eq!(log.rows.len(), 3);
        assert!(log
            .rows
            .iter()
            .all(|r| r.message == "req-1" && r.sent >= r.received));
    }

    #[tokio::test]
    async fn functions_elsewhere_need_to_be_told_the_address() {
        let service = udp_echo(IpAddr::V4(Ipv4Addr::UNSPECIFIED)).await.unwrap();
        let err = service
            .reachable_at(None, "experiments.x.client-address")
            .unwrap_err()
            .to_string();
        assert!(err.contains("experiments.x.client-address"), "{err}");
        assert_eq!(
            service.reachable_at(Some(LOCALHOST), "f").unwrap(),
            LOCALHOST
        );
        service.finish().await.unwrap();
        let local = udp_echo(LOCALHOST).await.unwrap();
        assert_eq!(local.reachable_at(None, "f").unwrap(), LOCALHOST);
        local.finish().await.unwrap();
    }

    #[tokio::test]
    async fn the_reply_server_answers_once_the_barrier_is_full() {
        let service = tcp_reply(LOCALHOST, 0, 2).await.unwrap();
        let mut first = TcpStream::connect(service.address).await.unwrap();
        let mut buf = Vec::new();
        // Alone, the first connection gets nothing yet.
        let early = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            first.read_to_end(&mut buf),
        )
        .await;
        assert!(early.is_err(), "answered before the barrier was full");
        let mut second = TcpStream::connect(service.address).await.unwrap();
        for stream in [&mut first, &mut second] {
            let mut reply = Vec::new();
            stream.read_to_end(&mut reply).await.unwrap();
            assert_eq!(reply, b"accepted");
        }
        assert_eq!(service.finish().await.unwrap().rows.len(), 2);
    }
}
