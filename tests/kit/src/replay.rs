//! A real HTTP/1.1 server on 127.0.0.1 that answers with recorded replies, for the cloud APIs that
//! cannot run offline (Azure Resource Manager, Kudu, Cloud Functions).
//!
//! Each route (method and path) has a list of replies served in order, the last one repeating, so
//! a long-running operation can answer "running" twice and then "done". Every request is
//! recorded (method, path with query, headers, body) for the test to check what the client sent.
//! `{{base}}` in a reply's headers or body becomes the server's own URL, so recorded `Location`
//! headers and operation URLs point back at it. A request no route matches gets a 404 naming it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One recorded reply.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, body: &serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// A reply recorded in a JSON file: `{"status": 202, "headers": {...}, "body": ...}`. A
    /// string body is sent as it is, anything else as JSON.
    pub fn from_file(path: &Path) -> Reply {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("recorded reply {}: {e}", path.display()));
        let value: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("recorded reply {}: {e}", path.display()));
        let status = value["status"]
            .as_u64()
            .unwrap_or_else(|| panic!("recorded reply {}: no status", path.display()));
        let mut headers: Vec<(String, String)> = value["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let body = match &value["body"] {
            serde_json::Value::Null => Vec::new(),
            serde_json::Value::String(s) => s.clone().into_bytes(),
            other => {
                if !headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                {
                    headers.push(("content-type".into(), "application/json".into()));
                }
                other.to_string().into_bytes()
            }
        };
        Reply {
            status: status as u16,
            headers,
            body,
        }
    }
}

/// A request the server received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Header names in lowercase.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} {} did not send JSON ({e}): {}",
                self.method,
                self.target,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

#[derive(Default)]
struct State {
    routes: Vec<Route>,
    requests: Vec<Recorded>,
}

struct Route {
    method: String,
    path: String,
    replies: Vec<Reply>,
    served: usize,
}

/// The server; it stops accepting when dropped.
#[derive(Debug)]
pub struct ReplayServer {
    base: String,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("routes", &self.routes.len())
            .field("requests", &self.requests.len())
            .finish()
    }
}

impl ReplayServer {
    pub fn start() -> ReplayServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let (accept_state, accept_base) = (state.clone(), base.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                // The server is gone (dropped): stop accepting.
                if Arc::strong_count(&accept_state) == 1 {
                    return;
                }
                let (state, base) = (accept_state.clone(), accept_base.clone());
                std::thread::spawn(move || serve(stream, &state, &base));
            }
        });
        ReplayServer { base, state }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Answers `method path` (path without query; a path ending in `*` matches any path with that
    /// prefix) with `replies` in order, the last one repeating. Routes added later win.
    pub fn on(&self, method: &str, path: &str, replies: Vec<Reply>) {
        assert!(!replies.is_empty(), "a route needs at least one reply");
        self.state.lock().unwrap().routes.insert(
            0,
            Route {
                method: method.to_string(),
                path: path.to_string(),
                replies,
                served: 0,
            },
        );
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The requests to `method path` (path without query).
    pub fn requests_to(&self, method: &str, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path() == path)
            .collect()
    }
}

impl Drop for ReplayServer {
    fn drop(&mut self) {
        // Wake the accept loop so that it sees it is alone and returns.
        let _ = TcpStream::connect(self.base.trim_start_matches("http://"));
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>, base: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        let close = request
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        let reply = answer(state, &request);
        let replace = |s: &str| s.replace("{{base}}", base);
        let body = replace(&String::from_utf8_lossy(&reply.body)).into_bytes();
        let mut head = format!("HTTP/1.1 {} Recorded\r\n", reply.status);
        for (name, value) in &reply.headers {
            head.push_str(&format!("{name}: {}\r\n", replace(value)));
        }
        head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&body).is_err() {
            return;
        }
        if close {
            return;
        }
    }
}

fn answer(state: &Mutex<State>, request: &Recorded) -> Reply {
    let mut state = state.lock().unwrap();
    state.requests.push(request.clone());
    let path = request.path().to_string();
    let route = state.routes.iter_mut().find(|r| {
        r.method == request.method
            && match r.path.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => r.path == path,
            }
    });
    match route {
        Some(route) => {
            let reply = route.replies[route.served.min(route.replies.len() - 1)].clone();
            route.served += 1;
            reply
        }
        None => Reply::json(
            404,
            &serde_json::json!({"error": format!("no recorded reply for {} {}", request.method, request.target)}),
        ),
    }
}

/// Reads one request; `None` at the end of the connection or on a malformed request.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Recorded> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2]; // the chunk and its CRLF
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = headers.get("content-length") {
        body = vec![0; length.parse().ok()?];
        reader.read_exact(&mut body).ok()?;
    }
    Some(Recorded {
        method,
        target,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(url: &str) -> (u16, String) {
        let address = url.trim_start_matches("http://");
        let (host, path) = address.split_once('/').unwrap();
        let mut stream = TcpStream::connect(host).unwrap();
        write!(
            stream,
            "GET /{path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        let status = text[9..12].parse().unwrap();
        let body = text.split_once("\r\n\r\n").unwrap().1.to_string();
        (status, body)
    }

    #[test]
    fn replies_in_order_then_repeats_the_last_and_records_requests() {
        let server = ReplayServer::start();
        server.on(
            "GET",
            "/op",
            vec![
                Reply::json(200, &serde_json::json!({"done": false})),
                Reply::json(
                    200,
                    &serde_json::json!({"done": true, "self": "{{base}}/op"}),
                ),
            ],
        );
        let url = format!("{}/op?x=1", server.url());
        assert_eq!(get(&url).1, r#"{"done":false}"#);
        let done = format!(r#"{{"done":true,"self":"{}/op"}}"#, server.url());
        assert_eq!(get(&url).1, done);
        assert_eq!(get(&url).1, done);
        let (status, body) = get(&format!("{}/other", server.url()));
        assert_eq!(status, 404);
        assert!(body.contains("GET /other"), "{body}");
        let seen = server.requests_to("GET", "/op");
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0].target, "/op?x=1");
    }
}
