//! The TCP reply server of 040.server-reply.

use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::{now, record, Connection, SharedLog, TCP_REPLY};

/// Writes [`TCP_REPLY`] to every connection and closes it, until `stop` turns true. Connections
/// are held until `barrier` of them are open, then all are answered (1: each at once).
/// Connections still held when the server stops are closed unanswered.
pub(super) async fn serve(
    listener: TcpListener,
    barrier: usize,
    log: SharedLog,
    mut stop: watch::Receiver<bool>,
) {
    let mut held: Vec<(TcpStream, SocketAddr, f64)> = Vec::with_capacity(barrier);
    loop {
        let (stream, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!(error = %e, "tcp client side: accept failed");
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        held.push((stream, peer, now()));
        if held.len() < barrier {
            continue;
        }
        for (stream, peer, accepted) in held.drain(..) {
            tokio::spawn(reply(stream, peer, accepted, log.clone()));
        }
    }
}

async fn reply(mut stream: TcpStream, peer: SocketAddr, accepted: f64, log: SharedLog) {
    let written = stream.write_all(TCP_REPLY).await;
    let _ = stream.shutdown().await;
    match written {
        Ok(()) => {
            let replied = now();
            record(&log, |l| {
                l.connections.push(Connection {
                    peer,
                    accepted,
                    replied,
                })
            });
        }
        // A function that gave up meanwhile is its invocation's failure, not the server's.
        Err(e) => tracing::debug!(error = %e, %peer, "tcp client side: reply failed"),
    }
}
