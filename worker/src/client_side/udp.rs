//! The UDP echo server of 020.network-benchmark and 030.clock-synchronization.

use std::collections::HashMap;

use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::{now, record, Datagram, SharedLog, UDP_STOP};

/// Echoes every datagram to its sender until `stop` turns true. A datagram's text is the
/// request id of the function that sent it (SeBS's functions send their request id), so the
/// records of concurrent invocations stay apart; `index` counts the datagrams of one request.
pub(super) async fn serve(socket: UdpSocket, log: SharedLog, mut stop: watch::Receiver<bool>) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut counts: HashMap<String, u64> = HashMap::new();
    loop {
        let (len, peer) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    // ICMP errors of earlier sends surface here on Linux; keep serving.
                    tracing::debug!(error = %e, "udp client side: receive failed");
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let received = now();
        let message = &buf[..len];
        if message == UDP_STOP {
            continue;
        }
        let request_id = String::from_utf8_lossy(message).into_owned();
        let index = counts.entry(request_id.clone()).or_insert(0);
        // Recorded before the echo leaves (SeBS takes `server_send` just before sending too):
        // once the function has its last echo, its records are complete. An echo that fails
        // to leave is like one lost on the way, which the function counts as lost.
        let datagram = Datagram {
            request_id,
            index: *index,
            received,
            sent: now(),
        };
        *index += 1;
        record(&log, |l| l.datagrams.push(datagram));
        if let Err(e) = socket.send_to(message, peer).await {
            tracing::debug!(error = %e, %peer, "udp client side: echo failed");
        }
    }
}
