//! What network-ping-pong (020) and invocation-overhead (030) share: one invocation that
//! exchanges datagrams with a UDP echo on the client side, and the two CSV files per invocation
//! that SeBS's processing joins.
//!
//! - the function uploads `results-<request id>.<8 hex>.csv` (`id, client_send, client_rcv`:
//!   its own send and receive times, epoch seconds by its clock) to the output prefix its event
//!   names;
//! - the client writes `server-<request id>.csv` (`id, server_rcv, server_send`, by this host's
//!   clock).
//!
//! Both leave out the first exchange, as SeBS does, and rows are joined by position.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use sebs_common::ExecutionResult;
use serde_json::Value;

use super::backend::{ExperimentBackend, FunctionHandle, Region, ServiceKind, ServiceRow};
use super::csv::{for_each_row, CsvWriter};

/// One invocation and what the echo saw during it.
#[derive(Debug)]
pub struct Exchange {
    pub result: ExecutionResult,
    pub rows: Vec<ServiceRow>,
}

/// Where the functions of an experiment send their datagrams: the experiment's
/// `client-address` (named by `field`), if given.
#[derive(Clone, Copy, Debug)]
pub struct Reach<'a> {
    pub address: Option<IpAddr>,
    pub field: &'a str,
}

/// Invokes `function` once with `event` plus where to reach a fresh UDP echo, and returns the
/// result with the echo's log.
pub async fn exchange(
    backend: &dyn ExperimentBackend,
    function: &FunctionHandle,
    event: &Value,
    repetitions: u32,
    reach: Reach<'_>,
    region: &Region,
) -> Result<Exchange> {
    let service = backend.start_service(ServiceKind::UdpEcho).await?;
    let ip = match service.reachable_at(reach.address, reach.field) {
        Ok(ip) => ip,
        Err(e) => {
            service.finish().await?;
            return Err(e);
        }
    };
    let mut event = event.clone();
    event["server-address"] = Value::String(ip.to_string());
    event["server-port"] = Value::from(service.address.port());
    event["repetitions"] = Value::from(repetitions);
    let payload = Bytes::from(serde_json::to_vec(&event)?);
    let mut result = None;
    let invoked = backend
        .invoke_batch(function, payload, 1, region, &mut |r| {
            result = Some(r);
            Ok(())
        })
        .await;
    let log = service.finish().await?;
    invoked?;
    Ok(Exchange {
        result: result.context("the invocation returned no result")?,
        rows: log.rows,
    })
}

/// Writes `server-<request id>.csv`, leaving out the first exchange.
pub fn write_server_csv(dir: &Path, request_id: &str, rows: &[ServiceRow]) -> Result<()> {
    let mut csv = CsvWriter::create(
        &dir.join(format!("server-{request_id}.csv")),
        &["id", "server_rcv", "server_send"],
    )?;
    for (i, row) in rows.iter().enumerate().skip(1) {
        csv.row(&[
            i.to_string(),
            format!("{:.6}", row.received),
            format!("{:.6}", row.sent),
        ])?;
    }
    Ok(())
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
