//! SeBS's eviction-model experiment: how long an idle instance survives. One copy of
//! 040.server-reply is deployed per idle time (`<function>-<time>-<copy>`); each repetition
//! invokes every copy `invocations` times at once (a TCP reply server per idle time holds the
//! replies until all of its invocations connected, so they run on distinct instances), sleeps
//! the copy's idle time after its reply, and invokes it again: a cold second invocation means
//! the instance was evicted while idle.
//!
//! `invoke` writes `results_<invocations>_<repetitions>_<sleep>.json` in SeBS's layout (idle
//! time → one list per repetition of `{first, first_times, second, second_times, invocation,
//! repetition}`), rewritten after every repetition. `process` writes `result.csv`
//! (`idle_time, repetition, invocation, first_cold, second_cold, evicted, idle_s,
//! first_request_id, second_request_id`; seconds) and plots the fraction evicted per idle time
//! with its 95% Wilson interval.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use futures_util::future::join_all;
use sebs_common::experiments::EvictionModel;
use sebs_common::{ClientSideKind, ExecutionResult};
use sebs_report::{Body, Chart, Marks, Series};
use sebs_worker::client_side::ClientSideOptions;
use serde_json::{json, Value};

use super::backend::{DeployRequest, ExperimentBackend, FunctionHandle, Region};
use super::client_side::{self, Reach, Started};
use super::csv::{python_bool, CsvWriter};
use super::report::{fixed, ReportWriter};
use crate::progress;
use crate::results::write_atomically;

pub fn results_file(plan: &EvictionModel) -> String {
    format!(
        "results_{}_{}_{}.json",
        plan.invocations, plan.repetitions, plan.sleep
    )
}

pub async fn run(backend: &dyn ExperimentBackend, plan: &EvictionModel, out: &Path) -> Result<()> {
    let reach = Reach::new(
        plan.client_address.as_deref(),
        "experiments.eviction-model.client-address",
    )?;
    // input.py makes the event from a client side's address, so the first repetition's
    // servers start first; every invocation's event then names its own idle time's server.
    let mut servers = Some(start_servers(backend, plan, reach).await?);
    let url = servers
        .iter()
        .flatten()
        .next()
        .map(Started::url)
        .context("experiments.eviction-model.times: no idle time to measure")?;
    let prepared = backend.prepare("test", Some(&url)).await?;
    let mut functions = Vec::new();
    for &time in &plan.times {
        for copy in 0..plan.copies_per_time {
            let request = DeployRequest {
                suffix: format!("-{time}-{copy}"),
                ..Default::default()
            };
            let function = backend.deploy(&prepared, &request).await?;
            if copy == plan.function_copy_idx {
                functions.push((time, function));
            }
        }
    }
    let region = backend.regions().workers.remove(0);
    let path = out.join(results_file(plan));
    let mut results: BTreeMap<u64, Vec<Vec<Value>>> =
        plan.times.iter().map(|&t| (t, Vec::new())).collect();
    let longest = plan.times.iter().max().copied().unwrap_or(0);
    let status = progress::status("eviction-model");
    for repetition in 0..plan.repetitions {
        if backend.stop_requested() {
            break;
        }
        status.set_message(format!(
            "repetition {}/{}: idle times up to {longest} s",
            repetition + 1,
            plan.repetitions
        ));
        let these = match servers.take() {
            Some(first) => first,
            None => start_servers(backend, plan, reach).await?,
        };
        // The longest idle time first, so that all runs overlap (SeBS's order).
        let region = &region;
        let runs = functions
            .iter()
            .zip(&these)
            .rev()
            .flat_map(|((time, function), server)| {
                let mut event = prepared.event.clone();
                event["ip-address"] = Value::String(server.ip.to_string());
                event["port"] = Value::from(server.port());
                (0..plan.invocations).map(move |invocation| {
                    pair(
                        backend,
                        function,
                        *time,
                        event.clone(),
                        region,
                        invocation,
                        repetition,
                    )
                })
            });
        let finished = join_all(runs).await;
        for server in these {
            server.side.stop().await;
        }
        for per_time in results.values_mut() {
            per_time.push(Vec::new());
        }
        for run in finished {
            let (time, value) = run?;
            if let Some(list) = results.get_mut(&time).and_then(|r| r.last_mut()) {
                list.push(value);
            }
        }
        let doc: serde_json::Map<String, Value> = results
            .iter()
            .map(|(t, v)| (t.to_string(), json!(v)))
            .collect();
        write_atomically(&path, &serde_json::to_vec_pretty(&doc)?)?;
    }
    status.finish_and_clear();
    println!("eviction-model: {} written", path.display());
    Ok(())
}

/// One TCP reply server per idle time, in the order of `plan.times`, each holding its
/// connections until the `invocations` of its copy are all connected (SeBS's server), so that
/// they run on distinct instances. SeBS's `client-port` numbers them from that port on; 0 lets
/// the system pick.
async fn start_servers(
    backend: &dyn ExperimentBackend,
    plan: &EvictionModel,
    reach: Reach,
) -> Result<Vec<Started>> {
    let mut servers = Vec::with_capacity(plan.times.len());
    for j in 0..plan.times.len() {
        let port = match plan.client_port {
            0 => 0,
            base => u16::try_from(j)
                .ok()
                .and_then(|j| base.checked_add(j))
                .context("experiments.eviction-model.client-port: the ports run past 65535")?,
        };
        let options = ClientSideOptions {
            port,
            tcp_barrier: plan.invocations as usize,
            files: None,
        };
        servers.push(client_side::start(backend, ClientSideKind::TcpReply, &options, reach).await?);
    }
    Ok(servers)
}

fn epoch_now() -> f64 {
    sebs_worker::epoch_seconds(std::time::SystemTime::now())
}

async fn invoke_once(
    backend: &dyn ExperimentBackend,
    function: &FunctionHandle,
    payload: &Value,
    region: &Region,
) -> Result<ExecutionResult> {
    let mut got = None;
    backend
        .invoke_batch(
            function,
            Bytes::from(serde_json::to_vec(payload)?),
            1,
            region,
            &mut |r| {
                got = Some(r);
                Ok(())
            },
        )
        .await?;
    got.context("the invocation returned no result")
}

/// One invocation, `time` seconds of idleness after its reply, and the second invocation.
async fn pair(
    backend: &dyn ExperimentBackend,
    function: &FunctionHandle,
    time: u64,
    payload: Value,
    region: &Region,
    invocation: u32,
    repetition: u32,
) -> Result<(u64, Value)> {
    let begin = epoch_now();
    let first = invoke_once(backend, function, &payload, region).await?;
    let end = epoch_now();
    let replied = Instant::now();
    if first.error.is_none() && !first.stats.cold_start {
        tracing::warn!(function = %function.name, "the first invocation was not cold");
    }
    tokio::time::sleep(Duration::from_secs(time).saturating_sub(replied.elapsed())).await;
    let second_begin = epoch_now();
    let second = invoke_once(backend, function, &payload, region).await?;
    let second_end = epoch_now();
    Ok((
        time,
        json!({
            "first": first, "first_times": [begin, end],
            "second": second, "second_times": [second_begin, second_end],
            "invocation": invocation, "repetition": repetition,
        }),
    ))
}

/// The 95% Wilson score interval of `k` successes in `n` trials.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let (z, n, p) = (1.96f64, n as f64, k as f64 / n as f64);
    let center = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / (1.0 + z * z / n);
    (center - half, center + half)
}

fn find_results(dir: &Path) -> Result<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("results_") && n.ends_with(".json"))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some(p) => Ok(p),
        None => bail!(
            "{} has no results_*.json: run `sebs experiment invoke eviction-model` first",
            dir.display()
        ),
    }
}

pub fn process(dir: &Path) -> Result<()> {
    let path = find_results(dir)?;
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)
        .with_context(|| format!("parsing {}", path.display()))?;
    let mut csv = CsvWriter::create(
        &dir.join("result.csv"),
        &[
            "idle_time",
            "repetition",
            "invocation",
            "first_cold",
            "second_cold",
            "evicted",
            "idle_s",
            "first_request_id",
            "second_request_id",
        ],
    )?;
    // idle time -> (evicted, measured, failed)
    let mut counts: BTreeMap<u64, (u64, u64, u64)> = BTreeMap::new();
    for (time, repetitions) in doc.as_object().into_iter().flatten() {
        let time: u64 = time
            .parse()
            .with_context(|| format!("{}: `{time}` is not an idle time", path.display()))?;
        let entry = counts.entry(time).or_default();
        for run in repetitions
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r.as_array().into_iter().flatten())
        {
            let ok =
                |side: &str| run[side]["error"].is_null() && run[side]["stats"]["failure"] == false;
            if !(ok("first") && ok("second")) {
                entry.2 += 1;
                continue;
            }
            let second_cold = run["second"]["stats"]["cold_start"]
                .as_bool()
                .unwrap_or(false);
            let idle = run["second_times"][0].as_f64().unwrap_or(f64::NAN)
                - run["first_times"][1].as_f64().unwrap_or(f64::NAN);
            csv.row(&[
                time.to_string(),
                run["repetition"].to_string(),
                run["invocation"].to_string(),
                python_bool(
                    run["first"]["stats"]["cold_start"]
                        .as_bool()
                        .unwrap_or(false),
                )
                .into(),
                python_bool(second_cold).into(),
                python_bool(second_cold).into(),
                format!("{idle:.3}"),
                run["first"]["request_id"].as_str().unwrap_or("").into(),
                run["second"]["request_id"].as_str().unwrap_or("").into(),
            ])?;
            entry.0 += u64::from(second_cold);
            entry.1 += 1;
        }
    }
    let rows: Vec<Value> = counts
        .iter()
        .map(|(t, (evicted, n, failed))| {
            let (low, high) = wilson(*evicted, *n);
            json!({"idle_time": t, "measured": n, "evicted": evicted, "failed": failed,
                   "fraction": if *n > 0 { *evicted as f64 / *n as f64 } else { f64::NAN },
                   "wilson95": [low, high]})
        })
        .collect();
    write_atomically(
        &dir.join("statistics.json"),
        &serde_json::to_vec_pretty(&json!({"experiment": "eviction-model", "idle_times": rows}))?,
    )?;

    let mut report = ReportWriter::new(dir, "eviction-model");
    report.paragraph("Fraction of second invocations that started cold after the idle time: the instance was evicted while idle.");
    let fraction = |(t, (e, n, _)): (&u64, &(u64, u64, u64))| {
        (
            *t as f64,
            if *n > 0 {
                *e as f64 / *n as f64
            } else {
                f64::NAN
            },
        )
    };
    let band = |pick: fn((f64, f64)) -> f64| {
        counts
            .iter()
            .filter(|(_, (_, n, _))| *n > 0)
            .map(|(t, (e, n, _))| (*t as f64, pick(wilson(*e, *n))))
            .collect()
    };
    report.figure(
        "eviction",
        &Chart {
            title: "instances evicted after an idle time".into(),
            x_label: "idle time [s]".into(),
            y_label: "fraction evicted".into(),
            body: Body::Lines(vec![
                Series {
                    name: "evicted".into(),
                    points: counts.iter().map(fraction).collect(),
                    marks: Marks::LineAndPoints,
                },
                Series::line("95% Wilson low", band(|w| w.0)),
                Series::line("95% Wilson high", band(|w| w.1)),
            ]),
        },
        "Fraction of idle instances evicted, with the 95% Wilson score interval.",
    );
    report.table(sebs_report::html::Table {
        caption: "Evictions per idle time".into(),
        header: [
            "idle time s",
            "measured",
            "evicted",
            "failed",
            "fraction",
            "Wilson 95% low",
            "high",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        rows: counts
            .iter()
            .map(|(t, (e, n, f))| {
                let (low, high) = wilson(*e, *n);
                vec![
                    t.to_string(),
                    n.to_string(),
                    e.to_string(),
                    f.to_string(),
                    fixed(fraction((t, &(*e, *n, *f))).1),
                    fixed(low),
                    fixed(high),
                ]
            })
            .collect(),
    });
    let path = report.finish()?;
    println!("eviction-model: {} and result.csv written", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// statsmodels 0.14: `proportion_confint(k, n, alpha=0.05, method="wilson")`. It takes
    /// z = norm.ppf(0.975) = 1.95996…, this z = 1.96 as SeBS does: they agree to 1e-5.
    #[test]
    fn wilson_interval_matches_statsmodels() {
        let (low, high) = wilson(3, 10);
        assert!((low - 0.10779126740630104).abs() < 1e-5, "{low}");
        assert!((high - 0.6032218525388546).abs() < 1e-5, "{high}");
        let (low, high) = wilson(0, 5);
        assert!(low.abs() < 1e-12, "{low}");
        assert!((high - 0.43448246478317487).abs() < 1e-5, "{high}");
        assert!(wilson(0, 0).0.is_nan());
    }

    #[test]
    fn file_name_is_sebs_name() {
        let plan = EvictionModel {
            invocations: 2,
            function_copy_idx: 0,
            repetitions: 3,
            sleep: 1,
            client_port: 0,
            times: vec![1],
            copies_per_time: 1,
            client_address: None,
        };
        assert_eq!(results_file(&plan), "results_2_3_1.json");
    }
}
