//! The HTTPS trigger of function URLs against a real TLS server on 127.0.0.1 (Python's
//! http.server behind `ssl`, with a certificate made by openssl for this test).

// Test helpers: a panic with a message is how a test fails.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use sebs_worker::{InvocationRequest, Trigger};

const SERVER: &str = r#"
import http.server, json, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        reply = json.dumps({"is_cold": False, "echo": json.loads(body), "id": self.headers["x-request-id"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[2], sys.argv[3])
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_urls_are_invoked_over_tls_on_kept_alive_connections() {
    let Some(openssl) = sebs_testkit::require("openssl", "apt-get install openssl") else {
        return;
    };
    // A CA, and a certificate for localhost that it signs (a self-signed leaf is not accepted).
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (ca, cert, key) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=sebs-test-ca",
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
            "ext.cnf",
            "-out",
            "cert.pem",
        ],
    ];
    for args in steps {
        let made = Command::new(&openssl)
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&made.stderr)
        );
    }
    let port = sebs_testkit::free_port();
    let mut command = Command::new("python3");
    command
        .args(["-c", SERVER, &port.to_string()])
        .arg(&cert)
        .arg(&key);
    let mut server = sebs_testkit::Server::start("tls-server", command);
    server.wait_listening(&format!("127.0.0.1:{port}"), Duration::from_secs(20));

    let root = CertificateDer::from_pem_file(&ca).unwrap();
    let url = format!("https://localhost:{port}/");
    let trigger =
        sebs_platform_aws::https::HttpsTrigger::new(&url, Duration::from_secs(10), Some(root))
            .unwrap();
    let payload = Bytes::from_static(br#"{"size": "test"}"#);
    let first = trigger
        .invoke(InvocationRequest {
            request_id: "r1",
            payload: &payload,
        })
        .await;
    assert!(first.error.is_none(), "{:?}\n{}", first.error, server.log());
    assert_eq!(first.status, Some(200));
    let body: serde_json::Value = serde_json::from_slice(&first.body).unwrap();
    assert_eq!(body["echo"]["size"], "test");
    assert_eq!(body["id"], "r1");
    assert!(
        first.http_startup > 0.0,
        "a new connection's TCP and TLS set-up is measured"
    );
    let second = trigger
        .invoke(InvocationRequest {
            request_id: "r2",
            payload: &payload,
        })
        .await;
    assert_eq!(second.status, Some(200));
    assert_eq!(second.http_startup, 0.0, "the connection was kept alive");

    // Without the test's root the server is not trusted.
    let untrusted =
        sebs_platform_aws::https::HttpsTrigger::new(&url, Duration::from_secs(10), None).unwrap();
    let refused = untrusted
        .invoke(InvocationRequest {
            request_id: "r3",
            payload: &payload,
        })
        .await;
    let error = refused.error.unwrap();
    assert_eq!(error.kind, sebs_common::ErrorKind::Connect);
    assert!(error.message.contains("TLS handshake"), "{}", error.message);
}
