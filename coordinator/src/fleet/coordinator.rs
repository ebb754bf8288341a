//! The coordinator: workers attach to it, clients submit runs to it, and it drives each run
//! (`run.rs`) over the workers it has. It implements both services of `sebs-proto`, so the same
//! code serves a worker and a client in this process or across the network.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sebs_proto::fleet::{FromWorker, Ping, ToWorker, WorkerHello};
use sebs_proto::runs::{ExperimentCall, RunEvent, Submission, WorkerClock};
use sebs_proto::{FleetError, FleetService, Region, RunId, RunService, WorkerId};
use tokio::sync::{broadcast, mpsc, watch};

use super::clock::{ClockEstimate, ClockSample};
use super::hooks::Preparer;
use super::links::{Claim, Links};
use super::membership::{Lease, Member, Membership, MembershipError, MembershipEvent};
use super::run;
use super::state::{RunState, RunStatus, StateStore};
use crate::observe::CoordinatorMetrics;

/// How many events may wait for a slow watcher before the run waits for it.
const EVENT_QUEUE: usize = 1024;
/// How many worker messages may wait for a run.
const INBOX: usize = 1024;
/// Messages waiting to go to one worker.
const TO_WORKER: usize = 256;
/// A worker's messages the coordinator takes before it acknowledges them, at most.
const ACK_EVERY: u64 = 64;

/// Timings of the coordinator; the defaults suit real fleets and tests alike.
#[derive(Clone, Debug)]
pub struct CoordinatorConfig {
    /// How often workers report, and how often runs tick.
    pub flush_every: Duration,
    /// How far ahead of dispatch an open loop's schedule starts, so that every worker has its
    /// assignment before the first arrival is due.
    pub start_lead: Duration,
    /// How long a run waits for workers (to plan, or to take over a shard) before it fails.
    pub worker_wait: Duration,
    /// How often each worker's clock is sampled.
    pub ping_every: Duration,
    /// How long a worker whose stream broke keeps its shards, waiting for it to attach again,
    /// before they go to others. Zero: at once.
    pub reassign_after: Duration,
    /// Where the coordinator counts what it does (`--metrics-listen` shows it).
    pub metrics: Arc<CoordinatorMetrics>,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            flush_every: Duration::from_secs(1),
            start_lead: Duration::from_millis(250),
            worker_wait: Duration::from_secs(60),
            ping_every: Duration::from_secs(2),
            reassign_after: Duration::from_secs(15),
            metrics: Arc::default(),
        }
    }
}

/// What a run's driver gets from workers and the coordinator.
#[derive(Debug)]
pub(super) enum RunInput {
    /// A report, the progress or the end of one of the run's shards.
    Worker(FromWorker),
    Member(MemberChange),
    Cancel,
    /// A watcher that came after the run started: it is sent the run's results so far (when
    /// the store keeps them), then follows.
    Watch(mpsc::Sender<RunEvent>),
}

/// A change of the fleet, as runs hear of it.
#[derive(Clone, Debug)]
pub(super) enum MemberChange {
    Joined,
    Left {
        worker: WorkerId,
        reason: String,
    },
    /// Events were missed: compare what runs where with who is a member now.
    Resync,
}

struct RunHandle {
    inbox: mpsc::Sender<RunInput>,
    events: Events,
}

pub(super) struct Inner {
    pub(super) config: CoordinatorConfig,
    pub(super) membership: Arc<dyn Membership>,
    pub(super) store: Arc<dyn StateStore>,
    preparer: Option<Arc<dyn Preparer>>,
    links: Links,
    /// Kept after a worker leaves: its runs' results cite its offset.
    clocks: Mutex<HashMap<WorkerId, (Region, ClockEstimate)>>,
    runs: Mutex<HashMap<RunId, RunHandle>>,
    /// Shutting down: no new runs.
    draining: AtomicBool,
    /// Turns true at shutdown: every worker's stream is ended from this side.
    detached: watch::Sender<bool>,
}

/// A handle on the coordinator; clones share it.
#[derive(Clone)]
pub struct Coordinator(pub(super) Arc<Inner>);

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator").finish_non_exhaustive()
    }
}

impl Coordinator {
    /// A coordinator over `membership` and `store`; `preparer` runs `benchmark invoke`
    /// submissions (without one, only bare jobs are accepted).
    pub fn new(
        config: CoordinatorConfig,
        membership: Arc<dyn Membership>,
        store: Arc<dyn StateStore>,
        preparer: Option<Arc<dyn Preparer>>,
    ) -> Self {
        let coordinator = Coordinator(Arc::new(Inner {
            config,
            membership,
            store,
            preparer,
            links: Links::default(),
            clocks: Mutex::new(HashMap::new()),
            runs: Mutex::new(HashMap::new()),
            draining: AtomicBool::new(false),
            detached: watch::channel(false).0,
        }));
        let events = coordinator.0.membership.subscribe();
        tokio::spawn(forward_membership(Arc::downgrade(&coordinator.0), events));
        coordinator
    }

    pub(super) fn preparer(&self) -> Option<Arc<dyn Preparer>> {
        self.0.preparer.clone()
    }

    /// Sends `message` to `worker`; false when it is not (or no longer) linked. A stop order
    /// for a worker whose stream broke waits for it to come back (`links`).
    pub(super) async fn send_to(&self, worker: &WorkerId, message: ToWorker) -> bool {
        self.0.links.send(worker, message).await
    }

    /// Whether `worker` has a live stream: only those get new shards.
    pub(super) fn is_linked(&self, worker: &WorkerId) -> bool {
        self.0.links.is_linked(worker)
    }

    /// Coordinator clock minus `worker`'s, as best known.
    pub(super) fn offset_of(&self, worker: &WorkerId) -> f64 {
        lock(&self.0.clocks)
            .get(worker)
            .map_or(0.0, |(_, c)| c.offset_s())
    }

    pub(super) fn clocks_of(&self, workers: &[WorkerId]) -> Vec<WorkerClock> {
        let clocks = lock(&self.0.clocks);
        workers
            .iter()
            .filter_map(|w| {
                let (region, c) = clocks.get(w)?;
                let best = c.best();
                Some(WorkerClock {
                    worker: w.clone(),
                    region: region.clone(),
                    offset_s: c.offset_s(),
                    round_trip_s: best.map_or(0.0, |b| b.round_trip_s),
                    samples: c.samples(),
                })
            })
            .collect()
    }

    /// Routes a worker's message to its run; messages of runs that ended are dropped.
    async fn route(&self, run: RunId, input: RunInput) {
        let inbox = lock(&self.0.runs).get(&run).map(|h| h.inbox.clone());
        match inbox {
            Some(inbox) => {
                let _ = inbox.send(input).await;
            }
            None => tracing::debug!(%run, "a message for a run that is over"),
        }
    }

    /// Holds one worker's stream: routes what it says, acknowledges it, samples its clock. When
    /// the stream ends, the worker leaves the fleet if it said goodbye, else after the grace
    /// period unless it attaches again (`links`).
    async fn serve_link(
        self,
        hello: WorkerHello,
        lease: Lease,
        generation: u64,
        mut from_worker: mpsc::Receiver<FromWorker>,
        to_worker: mpsc::Sender<ToWorker>,
    ) {
        let worker = hello.worker.clone();
        let pinger = tokio::spawn(ping(to_worker.clone(), self.0.config.ping_every));
        let (mut received, mut acked) = (0u64, 0u64);
        let mut ended = None;
        let mut detached = self.0.detached.subscribe();
        loop {
            let message = tokio::select! {
                message = from_worker.recv() => match message {
                    Some(message) => message,
                    None => break,
                },
                Ok(_) = detached.wait_for(|d| *d) => {
                    ended = Some("the coordinator is shutting down");
                    break;
                }
            };
            let run = match &message {
                FromWorker::Report(r) => r.key.run,
                FromWorker::Progress { key, .. } => key.run,
                FromWorker::Done(d) => d.key.run,
                FromWorker::Pong(p) => {
                    let sample = ClockSample::from_round_trip(
                        p.ping_sent_at,
                        p.received_at,
                        p.sent_at,
                        now_s(),
                    );
                    if let Some((_, clock)) = lock(&self.0.clocks).get_mut(&worker) {
                        clock.add(sample);
                    }
                    // A live worker keeps its lease; one whose lease ended must attach again.
                    if let Err(e) = self.0.membership.renew(&lease).await {
                        tracing::warn!(%worker, error = %e, "dropping the worker");
                        ended = Some("its lease ended");
                        break;
                    }
                    continue;
                }
                FromWorker::Bye => {
                    ended = Some("it detached");
                    break;
                }
            };
            self.route(run, RunInput::Worker(message)).await;
            received += 1;
            // Acknowledged in batches: when nothing more waits, or every ACK_EVERY messages.
            // A full stream skips one; the next covers it.
            if (from_worker.is_empty() || received - acked >= ACK_EVERY)
                && to_worker.try_send(ToWorker::Ack(received)).is_ok()
            {
                acked = received;
            }
        }
        pinger.abort();
        drop(to_worker);
        let grace = self.0.config.reassign_after;
        let reason = match ended {
            Some(reason) => reason.to_string(),
            None if grace.is_zero() => "its stream ended".to_string(),
            None => {
                if self.0.links.detach(&worker, &lease, generation) {
                    tracing::warn!(%worker, region = %hello.region, "lost a worker's stream; its shards wait {grace:?} for it to attach again");
                    tokio::spawn(self.clone().expire(
                        worker,
                        hello.region.clone(),
                        lease,
                        generation,
                    ));
                }
                return;
            }
        };
        if self.0.links.drop_link(&worker, &lease, generation, false) {
            tracing::info!(%worker, region = %hello.region, "worker left: {reason}");
            self.0
                .config
                .metrics
                .workers
                .add(&[hello.region.as_str()], -1.0);
            self.0.membership.leave(&lease, &reason).await;
        }
    }

    /// Ends the membership of a worker whose stream broke, once the grace period is over and
    /// it has not attached again.
    async fn expire(self, worker: WorkerId, region: Region, lease: Lease, generation: u64) {
        let grace = self.0.config.reassign_after;
        tokio::time::sleep(grace).await;
        if self.0.links.drop_link(&worker, &lease, generation, true) {
            let reason = format!("its stream broke and it did not attach again within {grace:?}");
            tracing::info!(%worker, "worker left: {reason}");
            self.0.config.metrics.workers.add(&[region.as_str()], -1.0);
            self.0.membership.leave(&lease, &reason).await;
        }
    }
}

/// Samples a worker's clock: a few pings at once, then one every `every`.
async fn ping(to_worker: mpsc::Sender<ToWorker>, every: Duration) {
    let mut id = 0u64;
    loop {
        id += 1;
        let ping = Ping {
            id,
            sent_at: now_s(),
        };
        if to_worker.send(ToWorker::Ping(ping)).await.is_err() {
            return;
        }
        let pause = if id < 5 {
            Duration::from_millis(100)
        } else {
            every
        };
        tokio::time::sleep(pause).await;
    }
}

/// Tells every run of joins and leaves (a lagging subscriber re-reads who is left).
async fn forward_membership(
    inner: std::sync::Weak<Inner>,
    mut events: broadcast::Receiver<MembershipEvent>,
) {
    loop {
        let change = match events.recv().await {
            Ok(MembershipEvent::Joined(_)) => MemberChange::Joined,
            Ok(MembershipEvent::Left { worker, reason }) => MemberChange::Left { worker, reason },
            Err(broadcast::error::RecvError::Lagged(_)) => MemberChange::Resync,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(inner) = inner.upgrade() else { return };
        tell_runs(&inner, change).await;
    }
}

/// Tells every run of a change of the fleet.
async fn tell_runs(inner: &Inner, change: MemberChange) {
    let inboxes: Vec<mpsc::Sender<RunInput>> = lock(&inner.runs)
        .values()
        .map(|h| h.inbox.clone())
        .collect();
    for inbox in inboxes {
        let _ = inbox.send(RunInput::Member(change.clone())).await;
    }
}

#[async_trait]
impl FleetService for Coordinator {
    async fn attach(
        &self,
        hello: WorkerHello,
        from_worker: mpsc::Receiver<FromWorker>,
    ) -> Result<mpsc::Receiver<ToWorker>, FleetError> {
        let member = Member {
            worker: hello.worker.clone(),
            region: hello.region.clone(),
            capacity: hello.capacity,
            deployments: hello.deployments.clone(),
        };
        let (to_worker, rx) = mpsc::channel(TO_WORKER);
        match self.0.links.claim(&hello, &to_worker)? {
            Claim::Resumed {
                lease,
                generation,
                held,
            } => {
                tracing::info!(worker = %hello.worker, region = %hello.region, held = held.len(), "worker attached again: it keeps its shards");
                for message in held {
                    let _ = to_worker.send(message).await;
                }
                tokio::spawn(self.clone().serve_link(
                    hello,
                    lease,
                    generation,
                    from_worker,
                    to_worker,
                ));
                // Shards that waited for a linked worker may go to it again.
                tell_runs(&self.0, MemberChange::Joined).await;
                return Ok(rx);
            }
            Claim::Replaces(old) => {
                self.0
                    .membership
                    .leave(&old, "it started again under the same name")
                    .await;
            }
            Claim::New => {}
        }
        let lease = match self.0.membership.join(member).await {
            Ok(lease) => lease,
            Err(e) => {
                self.0.links.abandon(&hello.worker);
                // A store's refusal may pass (a lease being replaced): the worker tries again.
                return Err(match e {
                    MembershipError::Taken(_) => FleetError::InvalidArgument(e.to_string()),
                    MembershipError::Store(_) => FleetError::Unavailable(e.to_string()),
                });
            }
        };
        self.0.links.joined(&hello.worker, lease.clone());
        lock(&self.0.clocks)
            .entry(hello.worker.clone())
            .or_insert_with(|| (hello.region.clone(), ClockEstimate::default()))
            .0 = hello.region.clone();
        tracing::info!(worker = %hello.worker, region = %hello.region, capacity = hello.capacity, version = %hello.version, "worker joined");
        self.0
            .config
            .metrics
            .workers
            .add(&[hello.region.as_str()], 1.0);
        tokio::spawn(
            self.clone()
                .serve_link(hello, lease, 0, from_worker, to_worker),
        );
        Ok(rx)
    }
}

/// Sends a run's events to each of its watchers; a watcher that went away is dropped.
#[derive(Clone, Default)]
pub(super) struct Events {
    watchers: Arc<Mutex<Vec<mpsc::Sender<RunEvent>>>>,
}

impl Events {
    pub(super) fn add(&self, watcher: mpsc::Sender<RunEvent>) {
        lock(&self.watchers).push(watcher);
    }

    pub(super) async fn send(&self, event: RunEvent) {
        let watchers: Vec<mpsc::Sender<RunEvent>> = lock(&self.watchers).clone();
        let mut any_gone = false;
        for w in &watchers {
            any_gone |= w.send(event.clone()).await.is_err();
        }
        if any_gone {
            lock(&self.watchers).retain(|w| !w.is_closed());
        }
    }
}

#[async_trait]
impl RunService for Coordinator {
    async fn submit(
        &self,
        submission: Submission,
    ) -> Result<(RunId, mpsc::Receiver<RunEvent>), FleetError> {
        if self.0.draining.load(Ordering::SeqCst) {
            return Err(FleetError::Unavailable(
                "this coordinator is shutting down; submit to another".into(),
            ));
        }
        let needs_preparer = matches!(
            submission,
            Submission::Benchmark(_) | Submission::SessionJob(_)
        );
        if needs_preparer && self.0.preparer.is_none() {
            return Err(FleetError::InvalidArgument(
                "this coordinator runs jobs only; it cannot prepare benchmarks".into(),
            ));
        }
        let run = RunId::random();
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        let _ = tx.send(RunEvent::Accepted(run)).await;
        let (inputs, events) = self.register(run);
        events.add(tx);
        let state = RunState {
            run,
            status: RunStatus::Preparing,
            submission: Some(submission.clone()),
            job: None,
            started_at: now_s(),
            open_start: None,
        };
        if let Err(e) = self.0.store.put_run(&state).await {
            tracing::warn!(%run, error = %e, "cannot store the run");
        }
        let coordinator = self.clone();
        tokio::spawn(async move {
            run::drive(coordinator.clone(), run, submission, inputs, events).await;
            coordinator.unregister(run);
        });
        Ok((run, rx))
    }

    async fn watch(&self, run: RunId) -> Result<mpsc::Receiver<RunEvent>, FleetError> {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        let handle = lock(&self.0.runs)
            .get(&run)
            .map(|h| (h.inbox.clone(), h.events.clone()));
        if let Some((inbox, events)) = handle {
            if self.0.store.keeps_results() {
                // The driver sends what the run accepted so far, then adds the watcher.
                let _ = inbox.send(RunInput::Watch(tx)).await;
            } else {
                events.add(tx);
            }
            return Ok(rx);
        }
        let stored = self.0.store.run(run).await.ok().flatten();
        Err(FleetError::NotFound(match stored.map(|s| s.status) {
            Some(RunStatus::Finished { complete }) => format!("run {run} has finished (complete: {complete}); its results are where it was watched from"),
            Some(RunStatus::Failed(why)) => format!("run {run} failed: {why}"),
            _ => format!("no run {run} is going on"),
        }))
    }

    async fn cancel(&self, run: RunId) -> Result<(), FleetError> {
        let inbox = lock(&self.0.runs).get(&run).map(|h| h.inbox.clone());
        match inbox {
            Some(inbox) => {
                let _ = inbox.send(RunInput::Cancel).await;
                Ok(())
            }
            None => Err(FleetError::NotFound(format!("no run {run} is going on"))),
        }
    }

    async fn experiment(&self, call: ExperimentCall) -> Result<serde_json::Value, FleetError> {
        let preparer = self.0.preparer.clone().ok_or_else(|| {
            FleetError::InvalidArgument(
                "this coordinator runs jobs only; it holds no platform for experiments".into(),
            )
        })?;
        let mut regions: Vec<Region> = self
            .0
            .membership
            .members()
            .into_iter()
            .map(|m| m.region)
            .collect();
        regions.sort();
        regions.dedup();
        preparer
            .experiment(call, regions)
            .await
            .map_err(|e| FleetError::Internal(format!("{e:#}")))
    }
}

/// Shutting down (`shutdown.rs` says in which order).
impl Coordinator {
    /// Refuses new runs from now on.
    pub fn drain(&self) {
        self.0.draining.store(true, Ordering::SeqCst);
    }

    /// The runs going on.
    pub fn runs_going_on(&self) -> Vec<RunId> {
        lock(&self.0.runs).keys().copied().collect()
    }

    /// Ends every worker's stream: each stops what it still runs for this coordinator and
    /// attaches again (to whichever coordinator its address leads to next).
    pub fn detach_workers(&self) {
        tracing::info!("detaching the workers");
        let _ = self.0.detached.send(true);
    }
}

impl Coordinator {
    /// A new run's inbox and events, reachable by its id until its driver ends.
    pub(super) fn register(&self, run: RunId) -> (mpsc::Receiver<RunInput>, Events) {
        let events = Events::default();
        let (inbox, inputs) = mpsc::channel(INBOX);
        lock(&self.0.runs).insert(
            run,
            RunHandle {
                inbox,
                events: events.clone(),
            },
        );
        (inputs, events)
    }

    /// Forgets a run whose driver ended.
    pub(super) fn unregister(&self, run: RunId) {
        lock(&self.0.runs).remove(&run);
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Epoch seconds now.
pub(super) fn now_s() -> f64 {
    sebs_worker::epoch_seconds(SystemTime::now())
}
