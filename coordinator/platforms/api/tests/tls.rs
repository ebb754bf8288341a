//! The HTTP trigger over TLS against a real HTTPS server on 127.0.0.1 (Python's http.server in
//! an SSL context, with a certificate the test makes for `localhost`).

// Test code: a panic with a message is how a test fails.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use sebs_platform::tls::Rustls;
use sebs_testkit::{free_port, require, Server};
use sebs_worker::{HttpTrigger, InvocationRequest, Trigger};

const SERVER: &str = r#"
import http.server, ssl, sys
class Reply(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        reply = b'{"is_cold": false, "echo": ' + body + b', "host": "' + self.headers["Host"].encode() + b'", "id": "' + self.headers["x-request-id"].encode() + b'"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Reply)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain("cert.pem", "key.pem")
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"#;

#[tokio::test]
async fn invokes_over_tls_and_reuses_the_connection() {
    let Some(openssl) = require("openssl", "apt-get install openssl") else {
        return;
    };
    // A test CA, and a certificate for `localhost` that it signs.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("leaf.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let steps: [&[&str]; 4] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=sebs test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "key.pem",
            "-out",
            "leaf.csr",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "leaf.ext",
            "-out",
            "cert.pem",
        ],
        &["x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der"],
    ];
    for args in steps {
        let made = Command::new(&openssl)
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&made.stderr)
        );
    }
    let der = std::fs::read(dir.path().join("ca.der")).unwrap();

    let port = free_port();
    let mut command = Command::new("python3");
    command
        .current_dir(dir.path())
        .args(["-c", SERVER, &port.to_string()]);
    let mut server = Server::start("https-server", command);
    server.wait_listening(&format!("127.0.0.1:{port}"), Duration::from_secs(20));

    let securer = std::sync::Arc::new(Rustls::new(Some(der)).unwrap());
    let url = format!("https://localhost:{port}/api/handler");
    let trigger = HttpTrigger::with_tls(&url, Duration::from_secs(20), securer).unwrap();
    let payload = Bytes::from_static(b"{\"n\": 1}");
    let request = InvocationRequest {
        request_id: "r",
        payload: &payload,
    };
    let first = trigger.invoke(request).await;
    assert!(first.error.is_none(), "{:?}", first.error);
    assert_eq!(first.status, Some(200));
    let body = String::from_utf8_lossy(&first.body).to_string();
    assert!(
        body.contains(&format!("\"host\": \"localhost:{port}\"")),
        "{body}"
    );
    assert!(body.contains("\"echo\": {\"n\": 1}"), "{body}");
    assert!(
        body.contains("\"id\": \"r\""),
        "sebs's request id is sent: {body}"
    );
    assert!(first.http_startup > 0.0, "a new connection is timed");
    let second = trigger.invoke(request).await;
    assert_eq!(second.status, Some(200));
    assert_eq!(
        second.http_startup, 0.0,
        "the kept-alive TLS connection is reused"
    );

    // The system's roots alone do not trust the test's certificate.
    let strict = HttpTrigger::with_tls(
        &url,
        Duration::from_secs(20),
        std::sync::Arc::new(Rustls::new(None).unwrap()),
    )
    .unwrap();
    let refused = strict.invoke(request).await;
    let error = refused.error.expect("an untrusted certificate fails");
    assert_eq!(error.kind, sebs_common::ErrorKind::Connect);
    assert!(error.message.contains("TLS handshake"), "{}", error.message);
}
