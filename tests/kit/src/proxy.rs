//! A TCP relay between a client and a server that a test can cut and heal (a network
//! partition), and that can hold what the client sends for a fixed time (a one-way delay, as
//! `tc qdisc … netem delay` adds on the client's interface).
//!
//! Threads, not an async runtime: a handful of connections per test. Cut breaks every
//! connection (both sockets are shut down, so both ends see it at once) and closes whatever
//! connects until it is healed.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct State {
    upstream: SocketAddr,
    delay: Duration,
    cut: AtomicBool,
    stop: AtomicBool,
    /// Both sockets of every live connection, to break them.
    live: Mutex<HashMap<u64, [TcpStream; 2]>>,
    accepted: AtomicU64,
    refused: AtomicU64,
}

/// A relay from its own address to `upstream`; stopped on drop.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    state: Arc<State>,
    accept: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Relays connections to `listen` (e.g. `127.0.0.1:0`) to `upstream`.
    pub fn start(listen: &str, upstream: SocketAddr) -> Proxy {
        Proxy::with_delay(listen, upstream, Duration::ZERO)
    }

    /// As `start`, holding every chunk the client sends for `delay` before it goes on.
    pub fn with_delay(listen: &str, upstream: SocketAddr, delay: Duration) -> Proxy {
        let listener = TcpListener::bind(listen)
            .unwrap_or_else(|e| panic!("proxy: cannot bind {listen}: {e}"));
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            upstream,
            delay,
            cut: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            live: Mutex::new(HashMap::new()),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        });
        let accept = {
            let state = state.clone();
            std::thread::spawn(move || accept_loop(listener, state))
        };
        Proxy {
            addr,
            state,
            accept: Some(accept),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Breaks every connection and refuses new ones until `heal`.
    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        for [client, server] in self.state.live.lock().unwrap().values() {
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        }
    }

    pub fn heal(&self) {
        self.state.cut.store(false, Ordering::SeqCst);
    }

    /// Connections relayed so far.
    pub fn accepted(&self) -> u64 {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// Connections closed at once because the relay was cut.
    pub fn refused(&self) -> u64 {
        self.state.refused.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        self.cut();
        // Wakes the accepting thread.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, state: Arc<State>) {
    let mut next_id = 0u64;
    for client in listener.incoming() {
        if state.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        if state.cut.load(Ordering::SeqCst) {
            state.refused.fetch_add(1, Ordering::SeqCst);
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(server) = TcpStream::connect_timeout(&state.upstream, Duration::from_secs(5)) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let _ = (client.set_nodelay(true), server.set_nodelay(true));
        next_id += 1;
        let id = next_id;
        let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) else {
            continue;
        };
        state.live.lock().unwrap().insert(id, [c, s]);
        state.accepted.fetch_add(1, Ordering::SeqCst);
        let (Ok(client_reader), Ok(server_writer)) = (client.try_clone(), server.try_clone())
        else {
            continue;
        };
        let upstream = {
            let delay = state.delay;
            std::thread::spawn(move || pump_delayed(client_reader, server_writer, delay))
        };
        let state = state.clone();
        std::thread::spawn(move || {
            pump(server, client);
            let _ = upstream.join();
            state.live.lock().unwrap().remove(&id);
        });
    }
}

/// Copies `from` to `to` until either ends, then shuts both down.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// As `pump`, each chunk written `delay` after it was read (in order; reading goes on
/// meanwhile, so the delay does not limit throughput).
fn pump_delayed(from: TcpStream, to: TcpStream, delay: Duration) {
    if delay.is_zero() {
        return pump(from, to);
    }
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = {
        let mut to = to.try_clone().unwrap();
        std::thread::spawn(move || {
            for (due, chunk) in rx {
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                if to.write_all(&chunk).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Both);
        })
    };
    let mut from_reader = from.try_clone().unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = from_reader.read(&mut buf) {
        if n == 0
            || tx
                .send((Instant::now() + delay, buf[..n].to_vec()))
                .is_err()
        {
            break;
        }
    }
    drop(tx);
    let _ = writer.join();
    let _ = from.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on 127.0.0.1 for the relay to reach.
    fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let writer = stream.try_clone().unwrap();
                    pump(stream, writer);
                });
            }
        });
        addr
    }

    fn round_trip(stream: &mut TcpStream, text: &[u8]) -> Vec<u8> {
        stream.write_all(text).unwrap();
        let mut back = vec![0u8; text.len()];
        stream.read_exact(&mut back).unwrap();
        back
    }

    #[test]
    fn a_cut_breaks_connections_and_refuses_new_ones_until_healed() {
        let proxy = Proxy::start("127.0.0.1:0", echo());
        let mut stream = TcpStream::connect(proxy.addr()).unwrap();
        assert_eq!(round_trip(&mut stream, b"hello"), b"hello");
        proxy.cut();
        let mut buf = [0u8; 1];
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        assert!(
            matches!(stream.read(&mut buf), Ok(0) | Err(_)),
            "the live connection broke"
        );
        let mut during = TcpStream::connect(proxy.addr()).unwrap();
        during
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = during.write_all(b"x");
        assert!(matches!(during.read(&mut buf), Ok(0) | Err(_)));
        assert!(proxy.refused() >= 1);
        proxy.heal();
        let mut after = TcpStream::connect(proxy.addr()).unwrap();
        assert_eq!(round_trip(&mut after, b"again"), b"again");
        assert_eq!(proxy.accepted(), 2);
    }

    #[test]
    fn a_delay_holds_what_the_client_sends() {
        let delay = Duration::from_millis(80);
        let proxy = Proxy::with_delay("127.0.0.1:0", echo(), delay);
        let mut stream = TcpStream::connect(proxy.addr()).unwrap();
        for _ in 0..3 {
            let sent = Instant::now();
            assert_eq!(round_trip(&mut stream, b"ping"), b"ping");
            assert!(sent.elapsed() >= delay, "{:?}", sent.elapsed());
        }
    }
}
