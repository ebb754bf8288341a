//! The lean HTTP/1.1 client behind plain `http://` triggers, against a scripted server on
//! 127.0.0.1: keep-alive, chunked replies, closes announced and unannounced, stalls, malformed
//! replies.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use sebs_common::ErrorKind;
use sebs_testkit::scripted_http::{Reply, ScriptedHttp};
use sebs_worker::{HttpTrigger, InvocationRequest, LeanConnection, RawInvocation, Trigger};

const PAYLOAD: &[u8] = br#"{"size": "test"}"#;

fn trigger(server: &ScriptedHttp, timeout: Duration) -> HttpTrigger {
    HttpTrigger::new(&server.url("/function?x=1"), timeout).unwrap()
}

fn own(trigger: &HttpTrigger) -> LeanConnection {
    trigger
        .own_connection()
        .expect("a plain http:// trigger hands out lean connections")
}

async fn invoke(connection: &mut LeanConnection, id: &str) -> RawInvocation {
    let payload = Bytes::from_static(PAYLOAD);
    let request = InvocationRequest {
        request_id: id,
        payload: &payload,
    };
    connection.invoke(request).await.clone()
}

/// Invokes through the trigger's pool of connections.
async fn invoke_pooled(trigger: &HttpTrigger, id: &str) -> RawInvocation {
    let payload = Bytes::from_static(PAYLOAD);
    let request = InvocationRequest {
        request_id: id,
        payload: &payload,
    };
    trigger.invoke(request).await
}

fn ok_body(raw: &RawInvocation) -> &str {
    assert!(raw.error.is_none(), "unexpected failure: {:?}", raw.error);
    assert_eq!(raw.status, Some(200));
    std::str::from_utf8(&raw.body).unwrap()
}

fn failed(raw: &RawInvocation) -> (ErrorKind, &str) {
    let error = raw.error.as_ref().expect("the invocation failed");
    assert_eq!(raw.status, None);
    (error.kind, error.message.as_str())
}

#[tokio::test]
async fn keeps_one_connection_alive_and_sends_the_rendered_request() {
    let server = ScriptedHttp::start(|n| {
        Reply::Send(
            format!("HTTP/1.1 200 OK\r\nx-sebs-memory-kib: 7\r\ncontent-length: 4\r\n\r\nok:{n}")
                .into_bytes(),
        )
    });
    let trigger = trigger(&server, Duration::from_secs(10)).with_header(
        HeaderName::from_static("x-api-key"),
        HeaderValue::from_static("secret"),
    );
    let mut connection = own(&trigger);
    for n in 0..5 {
        let raw = invoke(&mut connection, &format!("id{n}")).await;
        assert_eq!(ok_body(&raw), format!("ok:{n}"));
        assert_eq!(raw.headers["x-sebs-memory-kib"], "7");
        assert_eq!(
            raw.http_startup > 0.0,
            n == 0,
            "connect time only when connecting"
        );
        assert!(raw.first_byte > 0.0 && raw.client_us > 0 && raw.client_end >= raw.client_begin);
    }
    assert_eq!(server.connections(), 1, "one kept-alive connection");
    let requests = server.requests();
    assert_eq!(requests.len(), 5);
    let first = &requests[0];
    assert_eq!(first.request_line(), "POST /function?x=1 HTTP/1.1");
    let host = server.url("").trim_start_matches("http://").to_string();
    assert_eq!(first.header("host"), Some(host.as_str()));
    assert_eq!(first.header("content-type"), Some("application/json"));
    assert_eq!(first.header("x-api-key"), Some("secret"));
    assert_eq!(first.header("x-request-id"), Some("id0"));
    assert_eq!(first.header("content-length"), Some("16"));
    assert_eq!(first.body, PAYLOAD);
    assert_eq!(requests[4].header("x-request-id"), Some("id4"));
}

#[tokio::test]
async fn reassembles_chunked_replies_and_skips_trailers() {
    let server = ScriptedHttp::start(|_| {
        Reply::Send(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
              5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n"
                .to_vec(),
        )
    });
    let mut connection = own(&trigger(&server, Duration::from_secs(10)));
    for _ in 0..3 {
        let raw = invoke(&mut connection, "c").await;
        assert_eq!(ok_body(&raw), "hello world");
    }
    assert_eq!(
        server.connections(),
        1,
        "chunked replies keep the connection"
    );
}

#[tokio::test]
async fn skips_interim_replies() {
    let server = ScriptedHttp::start(|_| {
        Reply::Send(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi".to_vec(),
        )
    });
    let mut connection = own(&trigger(&server, Duration::from_secs(10)));
    assert_eq!(ok_body(&invoke(&mut connection, "i").await), "hi");
}

#[tokio::test]
async fn connection_close_makes_the_next_request_reconnect() {
    let server = ScriptedHttp::start(|_| {
        Reply::SendAndClose(
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok".to_vec(),
        )
    });
    let mut connection = own(&trigger(&server, Duration::from_secs(10)));
    for _ in 0..3 {
        let raw = invoke(&mut connection, "c").await;
        assert_eq!(ok_body(&raw), "ok");
        assert!(raw.http_startup > 0.0, "every request connected anew");
        assert!(!connection.is_open(), "closed as the server said");
    }
    assert_eq!(server.connections(), 3);
}

#[tokio::test]
async fn reads_bodies_that_end_with_the_connection() {
    let server = ScriptedHttp::start(|_| {
        Reply::SendAndClose(b"HTTP/1.0 200 OK\r\n\r\nuntil the end".to_vec())
    });
    let mut connection = own(&trigger(&server, Duration::from_secs(10)));
    for _ in 0..2 {
        assert_eq!(
            ok_body(&invoke(&mut connection, "e").await),
            "until the end"
        );
    }
    assert_eq!(server.connections(), 2);
}

/// The server closes a kept-alive connection without saying so (an idle timeout): the request
/// that finds it closed is sent again on a new connection, once, and succeeds.
#[tokio::test]
async fn a_connection_the_server_closed_while_idle_is_replaced() {
    let server = ScriptedHttp::start(|n| match n {
        0 => Reply::SendAndClose(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\na".to_vec()),
        _ => Reply::ok("b"),
    });
    let mut connection = own(&trigger(&server, Duration::from_secs(10)));
    assert_eq!(ok_body(&invoke(&mut connection, "1").await), "a");
    assert!(
        connection.is_open(),
        "nothing said the connection would close"
    );
    // Let the close arrive first, as it would for an idle connection.
    sebs_testkit::wait_until("the server's close", Duration::from_secs(5), || {
        server.connections() == 1
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let raw = invoke(&mut connection, "2").await;
    assert_eq!(ok_body(&raw), "b");
    assert!(raw.http_startup > 0.0, "it reconnected");
    assert_eq!(server.connections(), 2);
    assert_eq!(
        server.requests().len(),
        2,
        "each request reached the server once"
    );
}

/// A server that closes without replying on a new connection is a failure, not retried.
#[tokio::test]
async fn a_close_without_reply_on_a_new_connection_fails() {
    let server = ScriptedHttp::start(|_| Reply::Close);
    let mut connection = own(&trigger(&server, Duration::from_secs(10)));
    let raw = invoke(&mut connection, "x").await;
    let (kind, message) = failed(&raw);
    assert_eq!(kind, ErrorKind::Connect);
    assert!(
        message.contains("closed the connection without a reply"),
        "{message}"
    );
    assert_eq!(server.requests().len(), 1, "not sent twice");
}

#[tokio::test]
async fn a_body_cut_short_fails_and_the_next_request_reconnects() {
    let server = ScriptedHttp::start(|n| match n {
        0 => Reply::SendAndClose(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc".to_vec()),
        _ => Reply::ok("fine"),
    });
    let mut connection = own(&trigger(&server, Duration::from_secs(10)));
    let raw = invoke(&mut connection, "1").await;
    let (kind, message) = failed(&raw);
    assert_eq!(kind, ErrorKind::Connect);
    assert!(
        message.contains("before the reply was complete"),
        "{message}"
    );
    assert!(raw.body.is_empty() && raw.headers.is_empty());
    assert_eq!(ok_body(&invoke(&mut connection, "2").await), "fine");
}

#[tokio::test]
async fn a_stalled_reply_times_out_and_the_connection_is_replaced() {
    let server = ScriptedHttp::start(|n| match n {
        3 => Reply::Stall(Duration::from_secs(3)),
        _ => Reply::ok("late but fine"),
    });
    let mut connection = own(&trigger(&server, Duration::from_millis(300)));
    // Quick replies first: the connection's timer is still set for the first one's deadline
    // when the stall comes.
    for _ in 0..3 {
        assert_eq!(
            ok_body(&invoke(&mut connection, "0").await),
            "late but fine"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let raw = invoke(&mut connection, "1").await;
    let (kind, message) = failed(&raw);
    assert_eq!(kind, ErrorKind::Timeout);
    assert!(message.contains("within 300ms"), "{message}");
    assert!(raw.client_us >= 300_000);
    assert!(
        !connection.is_open(),
        "a timed-out connection is not reused"
    );
    assert_eq!(
        ok_body(&invoke(&mut connection, "2").await),
        "late but fine"
    );
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn malformed_replies_are_invalid_replies() {
    let replies: [&[u8]; 4] = [
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: nine\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
    ];
    let server = ScriptedHttp::start(move |n| Reply::Send(replies[n % replies.len()].to_vec()));
    let trigger = trigger(&server, Duration::from_secs(10));
    for n in 0..replies.len() {
        // Through the shared pool this time: the same client behind `Trigger::invoke`.
        let raw = invoke_pooled(&trigger, "m").await;
        let (kind, message) = failed(&raw);
        assert_eq!(kind, ErrorKind::InvalidReply, "reply {n}: {message}");
        assert!(
            message.starts_with("malformed HTTP reply from http://"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_failure() {
    let port = sebs_testkit::free_port();
    let trigger =
        HttpTrigger::new(&format!("http://127.0.0.1:{port}/"), Duration::from_secs(5)).unwrap();
    let mut connection = own(&trigger);
    let raw = invoke(&mut connection, "r").await;
    let (kind, message) = failed(&raw);
    assert_eq!(kind, ErrorKind::Connect);
    assert!(
        message.contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{message}"
    );
}

#[tokio::test]
async fn the_pooled_trigger_reuses_its_lean_connections() {
    let server = ScriptedHttp::start(|_| Reply::ok("pooled"));
    let trigger = trigger(&server, Duration::from_secs(10));
    for _ in 0..4 {
        let raw = invoke_pooled(&trigger, "p").await;
        assert_eq!(ok_body(&raw), "pooled");
    }
    assert_eq!(server.connections(), 1);
}

/// An open loop's timer thread writes prepared requests through the connection's shared socket:
/// whole, in part, or not at all. The connection sends the rest and reads the reply, and the
/// server sees each request once, whole. A close lets go of the shared socket.
#[tokio::test]
async fn prepared_requests_written_elsewhere_are_completed_by_the_connection() {
    use std::io::Write;
    use std::time::Instant;

    let server = ScriptedHttp::start(|n| match n {
        3 => Reply::Send(
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nr3".to_vec(),
        ),
        n => Reply::ok(&format!("r{n}")),
    });
    let mut connection = own(&trigger(&server, Duration::from_secs(10)));
    let payload = Bytes::from_static(PAYLOAD);
    let request = |id| InvocationRequest {
        request_id: id,
        payload: &payload,
    };
    assert!(
        connection.prepare(request("none")).is_none(),
        "nothing to write to before connecting"
    );
    connection.open().await.unwrap();
    // Written whole elsewhere, then in part (the connection sends the rest), then not at all.
    let mut shared = None;
    for (n, (id, elsewhere)) in [("a", None), ("b", Some(10)), ("c", Some(0)), ("d", Some(0))]
        .into_iter()
        .enumerate()
    {
        let (socket, bytes) = connection.prepare(request(id)).expect("an open connection");
        let at = Instant::now();
        let written = elsewhere.unwrap_or(bytes.len());
        (&*socket).write_all(&bytes[..written]).unwrap();
        let sent = (written > 0).then_some((at, written));
        let (raw, ended) = connection.invoke_prepared(bytes, sent).await;
        let raw = raw.clone();
        assert_eq!(ok_body(&raw), format!("r{n}"));
        assert!(raw.client_end >= raw.client_begin && raw.first_byte > 0.0);
        assert!(ended >= at && ended <= Instant::now());
        shared = Some(socket);
    }
    let requests = server.requests();
    let ids: Vec<_> = requests.iter().map(|r| r.header("x-request-id")).collect();
    assert_eq!(ids, [Some("a"), Some("b"), Some("c"), Some("d")]);
    assert!(requests.iter().all(|r| r.body == PAYLOAD));
    assert_eq!(server.connections(), 1);
    // The last reply closed the connection: it no longer holds the shared socket.
    assert!(!connection.is_open());
    assert_eq!(std::sync::Arc::strong_count(&shared.unwrap()), 1);
    assert!(connection.prepare(request("e")).is_none());
}
