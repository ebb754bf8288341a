//! The TCP reply server of 040.server-reply.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::{now, record, Connection, SharedLog, TCP_REPLY};

/// Writes [`TCP_REPLY`] to every connection and closes it, until `stop` turns true.
pub(super) async fn serve(listener: TcpListener, log: SharedLog, mut stop: watch::Receiver<bool>) {
    loop {
        let (mut stream, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!(error = %e, "tcp client side: accept failed");
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let accepted = now();
        let log = log.clone();
        tokio::spawn(async move {
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
                Err(e) => tracing::debug!(error = %e, %peer, "tcp client side: reply failed"),
            }
        });
    }
}
