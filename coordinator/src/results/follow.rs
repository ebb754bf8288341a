//! Following a run from the client's side: its events become the result files (the same ones
//! whether the run went through the in-process fleet or a coordinator across the network) and
//! the printed summary.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use sebs_proto::runs::{RunEvent, RunFinished, RunStarted};
use tokio::sync::mpsc;

use super::fleet_files::FleetFiles;
use super::load_files::LoadFiles;
use super::summary::RunSummary;
use super::{write_atomically, ResultWriter};
use crate::load::StatusFn;

/// What a started run writes: whole results (SeBS's files) or records (the engine's).
enum Output {
    Kept {
        writer: ResultWriter,
        summary: RunSummary,
    },
    Records(LoadFiles),
}

/// Writes the files of the run whose `events` these are into `dir`, prints its summary and
/// returns whether any invocation succeeded. `echo_status`: log the coordinator's preparation
/// steps (a remote coordinator's; the in-process one logs them itself).
pub async fn follow(
    events: mpsc::Receiver<RunEvent>,
    dir: &Path,
    echo_status: bool,
) -> Result<bool> {
    follow_with(events, dir, echo_status, None).await
}

/// [`follow`], with an open loop's interval status handed to `status` instead of logged.
pub async fn follow_with(
    mut events: mpsc::Receiver<RunEvent>,
    dir: &Path,
    echo_status: bool,
    mut status: Option<StatusFn>,
) -> Result<bool> {
    let mut started: Option<(std::sync::Arc<RunStarted>, Output)> = None;
    let mut fleet = FleetFiles::default();
    while let Some(event) = events.recv().await {
        match event {
            RunEvent::Accepted(run) => tracing::debug!(%run, "run accepted"),
            RunEvent::Status(step) => {
                if echo_status {
                    tracing::info!("coordinator: {step}");
                }
            }
            RunEvent::Started(s) => {
                let output = if s.keep_outputs {
                    Output::Kept {
                        writer: ResultWriter::create(dir, &s.function, s.metadata.clone())?,
                        summary: RunSummary::default(),
                    }
                } else {
                    Output::Records(
                        LoadFiles::create(dir, s.started_at)?.with_status(status.take()),
                    )
                };
                tracing::debug!(run = %s.run, shards = s.shards.len(), "run started");
                started = Some((s, output));
            }
            RunEvent::Records(batch) => match &mut started {
                Some((_, Output::Kept { writer, summary })) => {
                    for r in batch.iter().filter_map(|r| r.result.as_ref()) {
                        summary.add(r);
                        writer.record(r)?;
                    }
                }
                Some((_, Output::Records(files))) => files.records(&batch)?,
                None => bail!("the coordinator sent records before the run started"),
            },
            RunEvent::Interval(i) => {
                if let Some((_, Output::Records(files))) = &mut started {
                    files.interval(&i);
                }
            }
            RunEvent::Shard(change) => {
                if !change.reason.is_empty() {
                    tracing::warn!(shard = %change.shard, attempt = %change.attempt, worker = %change.worker, "shard {}: {}", change.state.as_str(), change.reason);
                }
                fleet.shard(&change);
            }
            RunEvent::Finished(finished) => {
                let Some((s, output)) = started else {
                    bail!("the coordinator finished a run it never started");
                };
                let matrix = fleet.finish(dir, &s, &finished)?;
                return finish(output, &s, &finished, matrix, dir);
            }
            RunEvent::Failed(message) => {
                if let Some((_, Output::Kept { mut writer, .. })) = started {
                    // Whatever was measured stays, marked incomplete.
                    let _ = writer.finish(false);
                }
                bail!("{message}");
            }
        }
    }
    Err(LostRun.into())
}

/// The run's events ended before it finished: the coordinator went away (it may come back and
/// be watched again).
#[derive(Debug, thiserror::Error)]
#[error("lost the run before it finished (the coordinator went away)")]
pub struct LostRun;

fn finish(
    output: Output,
    started: &RunStarted,
    finished: &RunFinished,
    matrix: Option<String>,
    dir: &Path,
) -> Result<bool> {
    let succeeded = match output {
        Output::Records(files) => {
            let ok = files.finish(started, finished)?;
            if let Some(m) = &matrix {
                print!("{m}");
            }
            ok
        }
        Output::Kept {
            mut writer,
            summary,
        } => {
            if let Some(v) = &finished.validation {
                writer.annotate("validation", v.clone());
            }
            let path: PathBuf = writer.finish(finished.complete)?;
            let report = summary.report();
            write_atomically(
                &dir.join("summary.json"),
                &serde_json::to_vec_pretty(&report)?,
            )?;
            print!("{}", summary.render(&started.title));
            if let Some(v) = &finished.validation {
                println!(
                    "  validation: {}",
                    v["verdict"].as_str().unwrap_or_default()
                );
            }
            if let Some(m) = &matrix {
                print!("{m}");
            }
            println!("  results: {}", path.display());
            if let Some(invalid) = finished
                .validation
                .as_ref()
                .and_then(|v| v["invalid"].as_array())
                .filter(|i| !i.is_empty())
            {
                if finished.error.is_none() {
                    bail!(
                        "{} output(s) failed validation, first: {}",
                        invalid.len(),
                        invalid[0]["message"].as_str().unwrap_or_default()
                    );
                }
            }
            report.invocations > report.failures
        }
    };
    if let Some(e) = &finished.error {
        bail!("the run stopped early: {e}");
    }
    Ok(succeeded)
}
