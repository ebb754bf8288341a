//! Client sides: servers a run starts beside the function, whose address the function gets
//! through its event (SEBS-CONTRACT §4). SeBS's experiments start these by hand; here
//! `sebs benchmark invoke` starts the one a benchmark's `config.json` names.
//!
//! - [`ClientSideKind::UdpEcho`] (020.network-benchmark, 030.clock-synchronization): echoes every
//!   datagram and records when it arrived and when the echo left, per request id (the datagram's
//!   text), as SeBS's `server-<request id>.csv`.
//! - [`ClientSideKind::TcpReply`] (040.server-reply): writes `accepted` to every connection and
//!   closes it, recording each connection. With a barrier of N (SeBS's eviction-model server) it
//!   holds connections until N are open and then answers them all, so that N concurrent
//!   invocations overlap and run on N instances.
//! - [`ClientSideKind::HttpFiles`] (120.uploader): serves a folder over HTTP/1.1.
//!
//! Each server runs until [`ClientSide::stop`], which returns what it recorded. Records stay in
//! memory: a run of SeBS's size (thousands of datagrams) needs a few hundred kB.

mod http_files;
mod tcp;
mod udp;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use sebs_common::ClientSideKind;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::trigger::epoch_seconds;

/// What the TCP reply server writes to every connection (SeBS's eviction-model server's word).
pub const TCP_REPLY: &[u8] = b"accepted";
/// The datagram that ends a clock-synchronization exchange; it is neither echoed nor recorded.
pub const UDP_STOP: &[u8] = b"stop";

/// One echoed datagram: its index among the datagrams of its request (0 is the function's
/// warm-up round trip, which neither side's CSV keeps), and epoch seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Datagram {
    pub request_id: String,
    pub index: u64,
    pub received: f64,
    pub sent: f64,
}

/// One connection the TCP reply server answered.
#[derive(Clone, Debug, PartialEq)]
pub struct Connection {
    pub peer: SocketAddr,
    pub accepted: f64,
    pub replied: f64,
}

/// One request the file server answered.
#[derive(Clone, Debug, PartialEq)]
pub struct FileRequest {
    pub path: String,
    pub status: u16,
    pub bytes: u64,
    pub received: f64,
}

/// Everything a client side recorded, in arrival order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientSideLog {
    pub datagrams: Vec<Datagram>,
    pub connections: Vec<Connection>,
    pub requests: Vec<FileRequest>,
}

type SharedLog = Arc<Mutex<ClientSideLog>>;

fn record(log: &SharedLog, add: impl FnOnce(&mut ClientSideLog)) {
    if let Ok(mut log) = log.lock() {
        add(&mut log);
    }
}

fn now() -> f64 {
    epoch_seconds(SystemTime::now())
}

/// How a client side serves, beyond its kind.
#[derive(Clone, Debug)]
pub struct ClientSideOptions {
    /// The port to listen on; 0 picks a free one.
    pub port: u16,
    /// tcp-reply: connections are held until this many are open, then all are answered; 1
    /// answers each at once.
    pub tcp_barrier: usize,
    /// http-files: the folder served.
    pub files: Option<PathBuf>,
}

impl Default for ClientSideOptions {
    fn default() -> Self {
        ClientSideOptions {
            port: 0,
            tcp_barrier: 1,
            files: None,
        }
    }
}

/// A running client side. Dropping it stops serving too, without its records.
#[derive(Debug)]
pub struct ClientSide {
    kind: ClientSideKind,
    address: SocketAddr,
    log: SharedLog,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ClientSide {
    /// Binds `bind` on `options.port` and starts serving.
    pub async fn start(
        kind: ClientSideKind,
        bind: IpAddr,
        options: &ClientSideOptions,
    ) -> io::Result<ClientSide> {
        let log = SharedLog::default();
        let (stop, stopped) = watch::channel(false);
        let at = SocketAddr::new(bind, options.port);
        let (address, task) = match kind {
            ClientSideKind::UdpEcho => {
                let socket = tokio::net::UdpSocket::bind(at).await?;
                let address = socket.local_addr()?;
                (
                    address,
                    tokio::spawn(udp::serve(socket, log.clone(), stopped)),
                )
            }
            ClientSideKind::TcpReply => {
                let listener = tokio::net::TcpListener::bind(at).await?;
                let address = listener.local_addr()?;
                let barrier = options.tcp_barrier.max(1);
                (
                    address,
                    tokio::spawn(tcp::serve(listener, barrier, log.clone(), stopped)),
                )
            }
            ClientSideKind::HttpFiles => {
                let root: PathBuf = options
                    .files
                    .clone()
                    .ok_or_else(|| io::Error::other("the http-files client side needs a folder"))?;
                let listener = tokio::net::TcpListener::bind(at).await?;
                let address = listener.local_addr()?;
                let task = tokio::spawn(http_files::serve(listener, root, log.clone(), stopped));
                (address, task)
            }
        };
        tracing::debug!(kind = kind.as_str(), %address, "client side listening");
        Ok(ClientSide {
            kind,
            address,
            log,
            stop,
            task,
        })
    }

    pub fn kind(&self) -> ClientSideKind {
        self.kind
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The address as a URL the function is given, with `host` in place of the bound address
    /// (the machine's public name when functions run elsewhere): `udp://host:port`,
    /// `tcp://host:port` or `http://host:port`.
    pub fn url(&self, host: &str) -> String {
        let scheme = match self.kind {
            ClientSideKind::UdpEcho => "udp",
            ClientSideKind::TcpReply => "tcp",
            ClientSideKind::HttpFiles => "http",
        };
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]") // an IPv6 literal
        } else {
            host.to_string()
        };
        format!("{scheme}://{host}:{}", self.address.port())
    }

    /// Writes one request's `server-<request id>.csv` from what was recorded so far (see
    /// [`ClientSideLog::write_server_csv`]). Every datagram is recorded before its echo leaves,
    /// so once the function has replied its file is complete.
    pub fn write_server_csv(&self, request_id: &str, dir: &Path) -> io::Result<PathBuf> {
        let log = self
            .log
            .lock()
            .map_err(|_| io::Error::other("client side log poisoned"))?;
        log.write_server_csv(request_id, dir)
    }

    /// What was recorded so far, without stopping.
    pub fn snapshot(&self) -> ClientSideLog {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Stops serving and returns everything recorded.
    pub async fn stop(self) -> ClientSideLog {
        let _ = self.stop.send(true);
        let log = self.log.clone();
        let _ = self.task.await;
        let recorded = log.lock().map(|l| l.clone()).unwrap_or_default();
        recorded
    }
}

impl ClientSideLog {
    /// Writes the records into `dir`: SeBS's `server-<request id>.csv` (`id,server_rcv,server_send`)
    /// per request for datagrams, `tcp-connections.csv` and `http-requests.csv`. Returns the
    /// files written.
    pub fn write_to(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        use std::fmt::Write as _;
        std::fs::create_dir_all(dir)?;
        let mut written = Vec::new();
        let mut requests: Vec<&str> = self
            .datagrams
            .iter()
            .map(|d| d.request_id.as_str())
            .collect();
        requests.sort_unstable();
        requests.dedup();
        for request in requests {
            written.push(self.write_server_csv(request, dir)?);
        }
        if !self.connections.is_empty() {
            let mut csv = "connection,peer,accepted,replied\n".to_string();
            for (i, c) in self.connections.iter().enumerate() {
                let _ = writeln!(csv, "{i},{},{:.6},{:.6}", c.peer, c.accepted, c.replied);
            }
            let path = dir.join("tcp-connections.csv");
            std::fs::write(&path, csv)?;
            written.push(path);
        }
        if !self.requests.is_empty() {
            let mut csv = "path,status,bytes,received\n".to_string();
            for r in &self.requests {
                let _ = writeln!(csv, "{},{},{},{:.6}", r.path, r.status, r.bytes, r.received);
            }
            let path = dir.join("http-requests.csv");
            std::fs::write(&path, csv)?;
            written.push(path);
        }
        Ok(written)
    }
}

impl ClientSideLog {
    /// Writes SeBS's `server-<request id>.csv` of one request's datagrams into `dir` and returns
    /// its path: `id,server_rcv,server_send`, epoch seconds, ids from 1. Round trip 0 is the
    /// function's warm-up, which it does not record either, so that the two files join row by
    /// row (SEBS-CONTRACT §5).
    pub fn write_server_csv(&self, request_id: &str, dir: &Path) -> io::Result<PathBuf> {
        use std::fmt::Write as _;
        let mut csv = "id,server_rcv,server_send\n".to_string();
        for d in self
            .datagrams
            .iter()
            .filter(|d| d.request_id == request_id && d.index > 0)
        {
            let _ = writeln!(csv, "{},{:.6},{:.6}", d.index, d.received, d.sent);
        }
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("server-{}.csv", file_safe(request_id)));
        std::fs::write(&path, csv)?;
        Ok(path)
    }
}

/// A request id made safe as part of a file name.
fn file_safe(id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect();
    if safe.is_empty() {
        "_".into()
    } else {
        safe
    }
}

#[cfg(test)]
mod tests;
