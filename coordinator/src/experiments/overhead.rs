//! SeBS's invocation-overhead experiment (SEBS-CONTRACT §5): how long an invocation takes to
//! reach the function as its payload or its code package grows, warm and cold, measured with
//! 030.clock-synchronization so that the function's clock can be corrected to the client's.
//!
//! For each start type (warm first, after one warm-up invocation; then cold) and each size,
//! `repetitions` invocations of the right start type are recorded (one of the wrong type is
//! retried, at most [`MAX_ATTEMPTS`] times; SeBS retries forever). The payload variant sends
//! `size` zero bytes in base64 as `data`; the code variant deploys the package with
//! `randomdata.bin` of `size` random bytes (seeded) added.
//!
//! Files in `invocation-overhead/<payload|code>/`: `result.csv` with SeBS's columns `size,
//! repetition, is_cold, connection_time, start_timestamp, finish_timestamp, request_id`
//! (is_cold 1/0; connection_time s; start by this host's clock and finish, the function's
//! arrival timestamp, by the function's, both epoch seconds), one `server-<request id>.csv` per
//! invocation, the function's `results-<request id>.<8 hex>.csv`, and every invocation in
//! `invocations.jsonl` / `experiments.json`.

use std::path::Path;

use anyhow::{Context, Result};
use base64::Engine as _;
use rand::{RngCore, SeedableRng};
use sebs_common::experiments::{InvocationOverhead, OverheadKind};
use serde_json::{json, Value};

use super::backend::{DeployRequest, ExperimentBackend, FunctionHandle, Prepared};
use super::client_side::Reach;
use super::csv::CsvWriter;
use super::udp::{exchange, output_location, prepare_with_echo, with_repetitions};
use crate::progress;
use crate::results::ResultWriter;

/// SeBS's columns of the raw `result.csv`.
pub const COLUMNS: [&str; 7] = [
    "size",
    "repetition",
    "is_cold",
    "connection_time",
    "start_timestamp",
    "finish_timestamp",
    "request_id",
];

/// Invocations tried for one sample before it is given up.
pub const MAX_ATTEMPTS: u32 = 10;

/// SeBS seeds the code package's random bytes with this.
const CODE_SEED: u64 = 1410;

pub async fn run(
    backend: &dyn ExperimentBackend,
    plan: &InvocationOverhead,
    out: &Path,
) -> Result<()> {
    let dir = out.join(plan.kind.as_str());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let reach = Reach::new(
        plan.client_address.as_deref(),
        "experiments.invocation-overhead.client-address",
    )?;
    let (echo, prepared) = prepare_with_echo(backend, reach).await?;
    let (bucket, prefix) = output_location(backend, &prepared.event)?;
    let mut function = backend.deploy(&prepared, &DeployRequest::default()).await?;
    let region = backend.regions().workers.remove(0);
    // `N`: round trips in a row that must not beat the fastest before 030 stops.
    let event = with_repetitions(&prepared.event, plan.n);
    let metadata = json!({"experiment": "invocation-overhead", "type": plan.kind.as_str(),
        "benchmark": prepared.benchmark, "sizes": plan.sizes, "repetitions": plan.repetitions, "N": plan.n});
    let mut writer = ResultWriter::create(&dir, &function.name, metadata)?;
    let mut csv = CsvWriter::create(&dir.join("result.csv"), &COLUMNS)?;
    let bar = progress::bar(
        2 * plan.sizes.len() as u64 * u64::from(plan.repetitions),
        format!("invocation-overhead {}", plan.kind.as_str()),
    );
    let mut given_up = 0;
    for cold in [false, true] {
        if !cold {
            let warm_up = exchange(backend, &echo, &function, &event, &region, &dir).await?;
            writer.log(&warm_up)?;
        }
        for &size in &plan.sizes {
            if backend.stop_requested() {
                break;
            }
            let event = match plan.kind {
                OverheadKind::Payload => with_payload(&event, size),
                OverheadKind::Code => {
                    function = with_code(backend, &prepared, size).await?;
                    event.clone()
                }
            };
            for repetition in 0..plan.repetitions {
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    if cold {
                        backend.enforce_cold_start(&function).await?;
                    }
                    let r = exchange(backend, &echo, &function, &event, &region, &dir).await?;
                    writer.record(&r)?;
                    let arrived = r.output["result"]["result"]["timestamp"].as_f64();
                    match (&r.error, arrived) {
                        (None, Some(finish)) if r.stats.cold_start == cold => {
                            csv.row(&[
                                size.to_string(),
                                repetition.to_string(),
                                u8::from(cold).to_string(),
                                r.times.http_startup.to_string(),
                                format!("{:.6}", r.times.client_begin),
                                format!("{finish:.6}"),
                                r.request_id.clone(),
                            ])?;
                            break;
                        }
                        (Some(e), _) => tracing::warn!(size, kind = e.kind.as_str(), "invocation failed: {}", e.message),
                        (None, None) => tracing::warn!(size, "the reply has no result.timestamp (is this 030.clock-synchronization?)"),
                        (None, Some(_)) => tracing::debug!(size, wanted_cold = cold, "wrong start type; retrying"),
                    }
                    if attempts >= MAX_ATTEMPTS {
                        tracing::warn!(
                            size,
                            repetition,
                            cold,
                            "no usable invocation after {MAX_ATTEMPTS} attempts; sample skipped"
                        );
                        given_up += 1;
                        break;
                    }
                }
                bar.inc(1);
            }
        }
    }
    bar.finish_and_clear();
    writer.finish(given_up == 0 && !backend.stop_requested())?;
    let files = backend.fetch_outputs(&bucket, &prefix, &dir).await?;
    println!(
        "invocation-overhead ({}): {} sizes, {} result files from the function in {}{}",
        plan.kind.as_str(),
        plan.sizes.len(),
        files.len(),
        dir.display(),
        if given_up > 0 {
            format!("; {given_up} samples given up")
        } else {
            String::new()
        }
    );
    Ok(())
}

/// The event with `size` zero bytes, base64, as `data` (SeBS's payload).
fn with_payload(event: &Value, size: u64) -> Value {
    let mut event = event.clone();
    let zeros = vec![0u8; size as usize];
    event["data"] = Value::String(base64::engine::general_purpose::STANDARD.encode(zeros));
    event
}

/// Deploys the function with `size` random bytes added to its package.
async fn with_code(
    backend: &dyn ExperimentBackend,
    prepared: &Prepared,
    size: u64,
) -> Result<FunctionHandle> {
    let mut bytes = vec![0u8; size as usize];
    rand::rngs::StdRng::seed_from_u64(CODE_SEED).fill_bytes(&mut bytes);
    backend
        .deploy(
            prepared,
            &DeployRequest {
                extra_file: Some(("randomdata.bin".into(), bytes)),
                ..Default::default()
            },
        )
        .await
}
