//! A scripted HTTP/1.1 server on 127.0.0.1 for tests of HTTP clients: every request it reads
//! gets the reply its script says, byte for byte, so that a test can send what well-behaved
//! servers rarely do (chunked bodies, trailers, early closes, stalls, malformed heads).
//!
//! Each connection is served by a thread of its own with blocking I/O; the server stops
//! accepting when dropped.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server does with one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Writes these bytes and waits for the next request on the connection.
    Send(Vec<u8>),
    /// Writes these bytes, then closes the connection.
    SendAndClose(Vec<u8>),
    /// Closes the connection without a reply.
    Close,
    /// Replies nothing for this long, then closes the connection.
    Stall(Duration),
}

impl Reply {
    /// A 200 with `Content-Length` and `body`, connection kept.
    pub fn ok(body: &str) -> Reply {
        Reply::Send(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    }
}

/// One request as the server read it.
#[derive(Clone, Debug)]
pub struct Request {
    /// 0-based number of the connection it came on, in the order they were accepted.
    pub connection: usize,
    /// The request line and headers, without the blank line.
    pub head: String,
    pub body: Vec<u8>,
}

impl Request {
    pub fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }

    /// The first header of that name (case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

type Script = dyn Fn(usize) -> Reply + Send + Sync;

/// The server; `script(n)` says what to do with the n-th request (0-based, over all
/// connections).
#[derive(Debug)]
pub struct ScriptedHttp {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    connections: Arc<AtomicUsize>,
    stopping: Arc<AtomicBool>,
}

impl ScriptedHttp {
    pub fn start(script: impl Fn(usize) -> Reply + Send + Sync + 'static) -> ScriptedHttp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let stopping = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        let (seen, count, stop) = (requests.clone(), connections.clone(), stopping.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let connection = count.fetch_add(1, Ordering::SeqCst);
                let (seen, script) = (seen.clone(), script.clone());
                std::thread::spawn(move || serve(stream, connection, &seen, script.as_ref()));
            }
        });
        ScriptedHttp {
            addr,
            requests,
            connections,
            stopping,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The requests read so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for ScriptedHttp {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(mut stream: TcpStream, connection: usize, seen: &Mutex<Vec<Request>>, script: &Script) {
    let mut input = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let request = loop {
            if let Some(request) = take_request(&mut input, connection) {
                break request;
            }
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => input.extend_from_slice(&buf[..n]),
            }
        };
        let index = {
            let mut seen = seen.lock().unwrap();
            seen.push(request);
            seen.len() - 1
        };
        match script(index) {
            Reply::Send(bytes) => {
                if stream.write_all(&bytes).is_err() {
                    return;
                }
            }
            Reply::SendAndClose(bytes) => {
                let _ = stream.write_all(&bytes);
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            Reply::Close => {
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            Reply::Stall(how_long) => {
                std::thread::sleep(how_long);
                return;
            }
        }
    }
}

/// Splits one whole request (head and `Content-Length` body) off the front of `input`.
fn take_request(input: &mut Vec<u8>, connection: usize) -> Option<Request> {
    let end = input.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&input[..end]).into_owned();
    let mut request = Request {
        connection,
        head,
        body: Vec::new(),
    };
    let length: usize = request
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if input.len() < end + 4 + length {
        return None;
    }
    request.body = input[end + 4..end + 4 + length].to_vec();
    input.drain(..end + 4 + length);
    Some(request)
}
