//! A single-member etcd (Debian `etcd-server`) on free ports of 127.0.0.1 with a data folder of
//! its own, for the fleet's tests; and a reader of its keys through etcd's JSON gateway, so that
//! tests can see what the fleet wrote.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use crate::{free_port, require, wait_until, Server};

/// A running etcd and its client URL (`http://127.0.0.1:PORT`).
#[derive(Debug)]
pub struct Etcd {
    pub server: Server,
    pub endpoint: String,
    address: String,
}

/// Starts `etcd` on free ports, or `None` (test skipped) when it is not installed; waits until
/// it reports itself healthy.
pub fn start() -> Option<Etcd> {
    let program = require("etcd", "apt-get install etcd-server")?;
    let (client, peer) = (free_port(), free_port());
    let client_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let mut command = Command::new(program);
    command
        .args(["--name", "sebs-test", "--data-dir", "data"])
        .args(["--listen-client-urls", &client_url])
        .args(["--advertise-client-urls", &client_url])
        .args(["--listen-peer-urls", &peer_url])
        .args(["--initial-advertise-peer-urls", &peer_url])
        .args(["--initial-cluster", &format!("sebs-test={peer_url}")])
        // Leases are checked at this granularity; keep elections quick on a busy machine.
        .args(["--heartbeat-interval", "100", "--election-timeout", "1000"]);
    let server = Server::start("etcd", command);
    let address = format!("127.0.0.1:{client}");
    let etcd = Etcd {
        server,
        endpoint: client_url,
        address,
    };
    wait_until("etcd to be healthy", Duration::from_secs(60), || {
        etcd.request("GET", "/health", None)
            .is_some_and(|v| v["health"] == "true")
    });
    Some(etcd)
}

impl Etcd {
    /// Every key under `prefix` with its value (as text), in key order.
    pub fn keys(&self, prefix: &str) -> Vec<(String, String)> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut end = prefix.as_bytes().to_vec();
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        let body = json!({"key": b64.encode(prefix), "range_end": b64.encode(end)});
        let reply = self
            .request("POST", "/v3/kv/range", Some(&body))
            .unwrap_or_else(|| {
                panic!(
                    "etcd did not answer a range of {prefix}:\n{}",
                    self.server.log()
                )
            });
        let decode = |v: &Value| {
            let bytes = b64
                .decode(v.as_str().unwrap_or_default())
                .unwrap_or_default();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        reply["kvs"]
            .as_array()
            .map(|kvs| {
                kvs.iter()
                    .map(|kv| (decode(&kv["key"]), decode(&kv["value"])))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One HTTP/1.0 request to the client port; the JSON reply, or `None` when etcd does not
    /// answer (yet).
    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Option<Value> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream = TcpStream::connect(&self.address).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        let head = format!(
            "{method} {path} HTTP/1.0\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.address,
            body.len()
        );
        stream.write_all(head.as_bytes()).ok()?;
        stream.write_all(body.as_bytes()).ok()?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply).ok()?;
        let (_, json) = reply.split_once("\r\n\r\n")?;
        serde_json::from_str(json).ok()
    }
}
