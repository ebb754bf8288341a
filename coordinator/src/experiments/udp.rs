//! What network-ping-pong (020) and invocation-overhead (030) share: the experiment's UDP echo
//! (the worker's `udp-echo` client side), invocations that exchange datagrams with it, and the
//! two CSV files per invocation that SeBS's processing joins.
//!
//! - the function uploads `results-<request id>.csv` (`id, client_send, client_rcv`: its own
//!   send and receive times, epoch seconds by its clock) to the output prefix its event names,
//!   which storage keeps as `results-<request id>.<8 hex>.csv` (SeBS's unique names);
//! - the echo's `server-<request id>.csv` (`id, server_rcv, server_send`, by this host's clock)
//!   is written into the experiment's folder as each invocation replies.
//!
//! Both leave out round trip 0, the function's warm-up, as SeBS does, and rows are joined by
//! position.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use sebs_common::{ClientSideKind, ExecutionResult};
use sebs_worker::client_side::ClientSide;
use serde_json::Value;

use super::backend::{ExperimentBackend, FunctionHandle, Prepared, Region};
use super::client_side::{self, Reach};
use super::csv::for_each_row;

/// Starts the experiment's UDP echo where the invocations are sent from, and prepares the
/// benchmark (020 or 030) for it: input.py puts the echo's address into the event
/// (`server-address`, `server-port`). The echo stops when it is dropped.
pub async fn prepare_with_echo(
    backend: &dyn ExperimentBackend,
    reach: Reach,
) -> Result<(ClientSide, Prepared)> {
    let echo =
        client_side::start(backend, ClientSideKind::UdpEcho, &Default::default(), reach).await?;
    let prepared = backend.prepare("test", Some(&echo.url())).await?;
    Ok((echo.side, prepared))
}

/// The event asking for `repetitions` round trips (the experiment's setting replaces the one
/// input.py took from the input size).
pub fn with_repetitions(event: &Value, repetitions: u32) -> Value {
    let mut event = event.clone();
    event["repetitions"] = Value::from(repetitions);
    event
}

/// Invokes `function` once with `event`, writes the echo's `server-<request id>.csv` of the
/// invocation into `dir`, and returns the result.
pub async fn exchange(
    backend: &dyn ExperimentBackend,
    echo: &ClientSide,
    function: &FunctionHandle,
    event: &Value,
    region: &Region,
    dir: &Path,
) -> Result<ExecutionResult> {
    let payload = Bytes::from(serde_json::to_vec(event)?);
    let mut result = None;
    backend
        .invoke_batch(function, payload, 1, region, &mut |r| {
            result = Some(r);
            Ok(())
        })
        .await?;
    let result = result.context("the invocation returned no result")?;
    echo.write_server_csv(&result.request_id, dir)
        .with_context(|| format!("writing the echo's records into {}", dir.display()))?;
    Ok(result)
}

/// Where the function uploads its CSV: (bucket, prefix) from its event, in either of SeBS's
/// layouts (`bucket: {bucket, output}`, or an `output-bucket` prefix in the benchmarks' bucket).
pub fn output_location(backend: &dyn ExperimentBackend, event: &Value) -> Result<(String, String)> {
    if let (Some(bucket), Some(prefix)) = (
        event["bucket"]["bucket"].as_str(),
        event["bucket"]["output"].as_str(),
    ) {
        return Ok((bucket.to_string(), prefix.to_string()));
    }
    if let Some(prefix) = event["output-bucket"].as_str() {
        return Ok((backend.benchmarks_bucket(), prefix.to_string()));
    }
    bail!("the benchmark's event names no output location (`bucket.output` or `output-bucket`): {event}")
}

/// One exchange joined from both sides, epoch seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timestamps {
    pub client_send: f64,
    pub client_rcv: f64,
    pub server_rcv: f64,
    pub server_send: f64,
}

impl Timestamps {
    /// The round trip without the time the echo held the datagram, seconds: SeBS's
    /// `(server_rcv − client_send) + (client_rcv − server_send)`. Clock offsets cancel.
    pub fn rtt(&self) -> f64 {
        (self.server_rcv - self.client_send) + (self.client_rcv - self.server_send)
    }

    /// The function's clock minus this host's, seconds, assuming symmetric delays:
    /// `((client_send − server_rcv) + (client_rcv − server_send)) / 2`.
    pub fn clock_drift(&self) -> f64 {
        ((self.client_send - self.server_rcv) + (self.client_rcv - self.server_send)) / 2.0
    }
}

/// The request id in `results-<id>.<hex>.csv` or `server-<id>.csv` (SeBS's rule: after the
/// first `-`, up to the first `.`).
fn request_id(name: &str) -> Option<&str> {
    name.split_once('-')?.1.split('.').next()
}

/// Every exchange in `dir`, per request id, joining the function's and the client's files.
/// Invocations with only one side are reported and left out.
pub fn read_exchanges(dir: &Path) -> Result<BTreeMap<String, Vec<Timestamps>>> {
    let mut client: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut server: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let (map, columns) = if name.starts_with("results-") && name.ends_with(".csv") {
            (&mut client, ["client_send", "client_rcv"])
        } else if name.starts_with("server-") && name.ends_with(".csv") {
            (&mut server, ["server_rcv", "server_send"])
        } else {
            continue;
        };
        let Some(id) = request_id(&name) else {
            continue;
        };
        let rows = map.entry(id.to_string()).or_default();
        for_each_row(&path, &columns, |row| {
            rows.push((row.number(0)?, row.number(1)?));
            Ok(())
        })?;
    }
    let mut joined = BTreeMap::new();
    for (id, function_side) in client {
        let Some(client_side) = server.remove(&id) else {
            tracing::warn!(request = %id, "the function's timestamps have no client-side file; left out");
            continue;
        };
        if function_side.len() != client_side.len() {
            tracing::warn!(request = %id, function = function_side.len(), client = client_side.len(), "datagrams were lost; rows are joined by position as in SeBS");
        }
        let rows = function_side
            .iter()
            .zip(&client_side)
            .map(
                |(&(client_send, client_rcv), &(server_rcv, server_send))| Timestamps {
                    client_send,
                    client_rcv,
                    server_rcv,
                    server_send,
                },
            )
            .collect();
        joined.insert(id, rows);
    }
    for id in server.keys() {
        tracing::warn!(request = %id, "no timestamps from the function (it failed, or uploaded nothing); left out");
    }
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtt_and_drift_separate_delay_from_clock_offset() {
        // The function's clock runs 10 s ahead; each way takes 2 ms; the echo holds 1 ms.
        let (theta, d) = (10.0, 0.002);
        let t = Timestamps {
            client_send: 100.0 + theta,
            server_rcv: 100.0 + d,
            server_send: 100.0 + d + 0.001,
            client_rcv: 100.0 + 2.0 * d + 0.001 + theta,
        };
        assert!((t.rtt() - 2.0 * d).abs() < 1e-9);
        assert!((t.clock_drift() - theta).abs() < 1e-9);
    }

    #[test]
    fn request_ids_come_from_file_names() {
        assert_eq!(request_id("results-abc123.1f2e3d4c.csv"), Some("abc123"));
        assert_eq!(request_id("server-abc123.csv"), Some("abc123"));
    }
}
