//! How `sebs coordinator` stops at SIGTERM (or Ctrl-C), in this order:
//!
//! 1. readiness turns 503 (`/readyz`), so that load balancers and orchestrators turn away first;
//! 2. new submissions are refused (`Unavailable`: "shutting down; submit to another");
//! 3. runs going on may finish, for up to `--drain-timeout`; those still going then (or at once,
//!    at a second signal) are cancelled: their shards are stopped, what the workers had in flight
//!    is reported, and each run ends as incomplete with everything measured so far;
//! 4. the copies of result files under `--results-dir` are written to their end, and clients
//!    watching a run get its last event;
//! 5. workers are detached: each stream is ended from this side, the worker attaches again to
//!    whichever coordinator its address leads to (its membership ends here);
//! 6. the gRPC server stops (gracefully, for up to a few seconds) and the process exits 0.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sebs_proto::RunService;
use tokio::task::JoinHandle;

use super::coordinator::Coordinator;
use crate::observe::Lifecycle;

/// How long cancelled runs may take to report what was in flight and end.
const CANCEL_BOUND: Duration = Duration::from_secs(15);
/// How long the server may take to finish its streams once workers are detached.
pub const SERVER_BOUND: Duration = Duration::from_secs(5);
/// How long the copies of result files may take to be written once every run ended.
const COPIES_BOUND: Duration = Duration::from_secs(30);

/// Steps 1 to 5; the caller stops the server (step 6). `again` completes at a second signal.
pub async fn drain(
    coordinator: &Coordinator,
    lifecycle: &Lifecycle,
    copies: &Copies,
    drain_timeout: Duration,
    again: impl std::future::Future<Output = ()>,
) {
    lifecycle.draining();
    coordinator.drain();
    let going_on = coordinator.runs_going_on();
    tracing::info!(runs = going_on.len(), timeout = ?drain_timeout, "shutting down: no new runs; letting the runs going on finish");
    tokio::select! {
        () = runs_ended(coordinator, Instant::now() + drain_timeout) => {}
        () = again => tracing::warn!("a second signal: not waiting for the runs"),
    }
    let left = coordinator.runs_going_on();
    if !left.is_empty() {
        tracing::warn!(
            runs = left.len(),
            "cancelling the runs still going on; their results so far are kept"
        );
        for run in left {
            let _ = coordinator.cancel(run).await;
        }
        runs_ended(coordinator, Instant::now() + CANCEL_BOUND).await;
        let stuck = coordinator.runs_going_on();
        if !stuck.is_empty() {
            tracing::error!(runs = ?stuck.iter().map(|r| r.to_string()).collect::<Vec<_>>(), "runs did not end after being cancelled; their result files may be incomplete");
        }
    }
    for copy in copies.take() {
        if tokio::time::timeout(COPIES_BOUND, copy).await.is_err() {
            tracing::error!("a run's copy of its result files was not written in time");
        }
    }
    coordinator.detach_workers();
}

/// The tasks writing runs' copies under `--results-dir`, to wait for at shutdown.
#[derive(Clone, Debug, Default)]
pub struct Copies(Arc<Mutex<Vec<JoinHandle<()>>>>);

impl Copies {
    pub fn add(&self, task: JoinHandle<()>) {
        let mut tasks = self.0.lock().unwrap_or_else(|e| e.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    fn take(&self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Completes when no run is going on, or at `deadline`.
async fn runs_ended(coordinator: &Coordinator, deadline: Instant) {
    while !coordinator.runs_going_on().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
