//! Closed-loop load: a fixed number of invocations with at most `concurrency` in flight.
//!
//! Two shapes, as SeBS uses them:
//! - free-running: `concurrency` tasks each invoke, wait for the reply, and invoke again, until
//!   the invocations are used up;
//! - batches: groups of `concurrency` invocations sent together, the next group only after the
//!   whole previous one replied, with a hook before each group (where cold starts are forced).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::trigger::{new_request_id, InvocationRequest, RawInvocation, Trigger};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClosedLoop {
    pub invocations: u64,
    pub concurrency: u32,
    /// Send in lockstep batches of `concurrency`, calling the hook before each.
    pub batches: bool,
}

/// Runs before each batch; an error ends the loop (nothing already measured is lost).
#[async_trait]
pub trait BatchHook: Send + Sync {
    async fn before_batch(&self, batch: u64) -> Result<(), String>;
}

/// One finished invocation, in the order replies arrived.
#[derive(Debug)]
pub struct Completed {
    /// 0-based position in the plan.
    pub seq: u64,
    /// Batch number (0 when not batching).
    pub batch: u64,
    pub request_id: String,
    pub raw: RawInvocation,
}

/// Drives `trigger` per `plan`, sending every reply to `sink` as it arrives. Returns how many
/// invocations were fired; fewer than planned when `stop` turned true or the hook failed.
pub async fn run_closed_loop(
    plan: ClosedLoop,
    trigger: Arc<dyn Trigger>,
    payload: Bytes,
    hook: Option<Arc<dyn BatchHook>>,
    sink: mpsc::Sender<Completed>,
    stop: watch::Receiver<bool>,
) -> Result<u64, String> {
    let concurrency = u64::from(plan.concurrency.max(1));
    if !plan.batches {
        let next = Arc::new(AtomicU64::new(0));
        let mut tasks = JoinSet::new();
        for _ in 0..concurrency.min(plan.invocations) {
            let (next, trigger, payload, sink, stop) = (
                next.clone(),
                trigger.clone(),
                payload.clone(),
                sink.clone(),
                stop.clone(),
            );
            tasks.spawn(async move {
                loop {
                    if *stop.borrow() {
                        break;
                    }
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    if seq >= plan.invocations {
                        break;
                    }
                    let (request_id, raw) = fire(trigger.as_ref(), &payload).await;
                    if sink
                        .send(Completed {
                            seq,
                            batch: 0,
                            request_id,
                            raw,
                        })
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        return Ok(next.load(Ordering::Relaxed).min(plan.invocations));
    }

    let mut fired = 0;
    let mut batch = 0;
    while fired < plan.invocations && !*stop.borrow() {
        if let Some(hook) = &hook {
            hook.before_batch(batch).await?;
        }
        let size = concurrency.min(plan.invocations - fired);
        let mut tasks = JoinSet::new();
        for seq in fired..fired + size {
            let (trigger, payload, sink) = (trigger.clone(), payload.clone(), sink.clone());
            tasks.spawn(async move {
                let (request_id, raw) = fire(trigger.as_ref(), &payload).await;
                let _ = sink
                    .send(Completed {
                        seq,
                        batch,
                        request_id,
                        raw,
                    })
                    .await;
            });
        }
        while tasks.join_next().await.is_some() {}
        fired += size;
        batch += 1;
    }
    Ok(fired)
}

/// Invokes once with a fresh request id; returns the id and what the trigger saw.
async fn fire(trigger: &dyn Trigger, payload: &Bytes) -> (String, RawInvocation) {
    let request_id = new_request_id();
    let raw = trigger
        .invoke(InvocationRequest {
            request_id: &request_id,
            payload,
        })
        .await;
    (request_id, raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;
    use std::sync::Mutex;
    use std::time::Duration;

    /// Counts how many invocations are in flight at once.
    #[derive(Debug, Default)]
    struct Probe {
        in_flight: AtomicU32,
        peak: AtomicU32,
        calls: AtomicU64,
    }

    #[async_trait]
    impl Trigger for Probe {
        async fn invoke(&self, _request: InvocationRequest<'_>) -> RawInvocation {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            RawInvocation::default()
        }
    }

    struct Recorder(Mutex<Vec<u64>>);

    #[async_trait]
    impl BatchHook for Recorder {
        async fn before_batch(&self, batch: u64) -> Result<(), String> {
            self.0.lock().unwrap().push(batch);
            Ok(())
        }
    }

    async fn collect(
        plan: ClosedLoop,
        probe: Arc<Probe>,
        hook: Option<Arc<dyn BatchHook>>,
    ) -> (u64, Vec<Completed>) {
        let (tx, mut rx) = mpsc::channel(16);
        let (_stop_tx, stop) = watch::channel(false);
        let run = tokio::spawn(run_closed_loop(
            plan,
            probe,
            Bytes::from_static(b"{}"),
            hook,
            tx,
            stop,
        ));
        let mut got = Vec::new();
        while let Some(c) = rx.recv().await {
            got.push(c);
        }
        (run.await.unwrap().unwrap(), got)
    }

    #[tokio::test]
    async fn free_running_keeps_concurrency_and_count() {
        let probe = Arc::new(Probe::default());
        let plan = ClosedLoop {
            invocations: 23,
            concurrency: 4,
            batches: false,
        };
        let (fired, got) = collect(plan, probe.clone(), None).await;
        assert_eq!(fired, 23);
        assert_eq!(got.len(), 23);
        let mut seqs: Vec<u64> = got.iter().map(|c| c.seq).collect();
        seqs.sort();
        assert_eq!(seqs, (0..23).collect::<Vec<_>>());
        assert_eq!(probe.peak.load(Ordering::SeqCst), 4);
        let ids: std::collections::HashSet<_> = got.iter().map(|c| c.request_id.clone()).collect();
        assert_eq!(ids.len(), 23, "request ids are unique");
    }

    #[tokio::test]
    async fn batches_call_the_hook_and_never_overlap() {
        let probe = Arc::new(Probe::default());
        let recorder = Arc::new(Recorder(Mutex::new(Vec::new())));
        let plan = ClosedLoop {
            invocations: 10,
            concurrency: 4,
            batches: true,
        };
        let (fired, got) = collect(plan, probe.clone(), Some(recorder.clone())).await;
        assert_eq!(fired, 10);
        assert_eq!(*recorder.0.lock().unwrap(), vec![0, 1, 2]);
        let per_batch = |b| got.iter().filter(|c| c.batch == b).count();
        assert_eq!((per_batch(0), per_batch(1), per_batch(2)), (4, 4, 2));
        assert_eq!(probe.peak.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn stop_ends_the_loop_early() {
        let probe = Arc::new(Probe::default());
        let (tx, mut rx) = mpsc::channel(1);
        let (stop_tx, stop) = watch::channel(false);
        let plan = ClosedLoop {
            invocations: 1_000,
            concurrency: 2,
            batches: false,
        };
        let run = tokio::spawn(run_closed_loop(
            plan,
            probe.clone(),
            Bytes::new(),
            None,
            tx,
            stop,
        ));
        for _ in 0..5 {
            rx.recv().await.unwrap();
        }
        stop_tx.send(true).unwrap();
        while rx.recv().await.is_some() {}
        let fired = run.await.unwrap().unwrap();
        assert!((5..1_000).contains(&fired), "fired {fired}");
    }
}
