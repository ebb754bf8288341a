//! The invocation engine: `tasks` concurrent tasks, each holding its own connection through the
//! trigger, drive a closed or open load and record every invocation.
//!
//! Like wrk2, an open load gives each task its share of one global arrival schedule. A task
//! waits until its next intended time, sends, and measures latency from the intended time, so a
//! stalled endpoint that delays later sends shows up in their latency (coordinated omission is
//! corrected) and in the schedule lag the engine records for itself.
//!
//! The hot loop allocates nothing of its own per request: histograms are per task, records go to
//! a per-task buffer, request ids to a fixed buffer. (hyper still allocates per request inside
//! the trigger.) Tasks hand their histogram deltas to the aggregator on a timer, never per request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::reader::ReplyReader;
use super::recorder::{Recorder, Sample};
use super::records::{RecordLog, RequestIds, Timing};
use super::schedule::{task_schedule, Arrival, RateProfile};
use super::timer::PreciseTimer;
use crate::trigger::{epoch_seconds, InvocationRequest, Trigger};

/// What load to drive.
#[derive(Clone, Debug)]
pub enum Load {
    /// Each task sends its next request as soon as its previous reply arrived.
    Closed { invocations: u64 },
    /// Requests at intended times from a rate profile.
    Open {
        profile: RateProfile,
        arrival: Arrival,
        max_count: Option<u64>,
    },
}

#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub load: Load,
    /// Concurrent tasks (connections), the most requests in flight at once.
    pub tasks: usize,
    /// How often tasks hand their histogram deltas to the aggregator.
    pub flush_every: Duration,
}

/// Called by the aggregator once per `flush_every` with what arrived since the last call.
pub trait IntervalSink: Send {
    fn interval(&mut self, progress: &Progress, delta: &Recorder);
}

/// Where the run stands at one tick.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    /// Seconds since the run started, at the start and end of this interval.
    pub from_s: f64,
    pub to_s: f64,
    /// Requests sent so far.
    pub sent: u64,
    /// Requests the schedule intended by now (closed loops: equal to `sent`).
    pub intended: u64,
}

impl Progress {
    /// How far the engine is behind its schedule, as a fraction of what was intended.
    pub fn behind(&self) -> f64 {
        if self.intended == 0 {
            0.0
        } else {
            1.0 - self.sent as f64 / self.intended as f64
        }
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct EngineOutcome {
    pub total: Recorder,
    pub sent: u64,
    pub elapsed: Duration,
    /// Epoch seconds when the run started.
    pub started_at: f64,
    /// The largest fraction behind schedule seen at any tick.
    pub worst_behind: f64,
}

/// Warn when this far behind schedule (InVitro's threshold).
pub const BEHIND_WARNING: f64 = 0.10;

struct Shared {
    trigger: Arc<dyn Trigger>,
    reader: Arc<dyn ReplyReader>,
    payload: Bytes,
    records: RecordLog,
    sent: AtomicU64,
    next_closed: AtomicU64,
    start: Instant,
    run_id: u32,
    /// Emptied recorders, handed back by the aggregator so tasks reuse their histograms.
    spare: Mutex<Vec<Recorder>>,
    /// Open loads wait for their intended send times on this timer (slot = task).
    timer: Option<PreciseTimer>,
}

/// Runs the load to its end, or until `stop` turns true.
pub async fn run_engine(
    config: EngineConfig,
    trigger: Arc<dyn Trigger>,
    reader: Arc<dyn ReplyReader>,
    payload: Bytes,
    records: RecordLog,
    mut sink: Option<&mut dyn IntervalSink>,
    stop: watch::Receiver<bool>,
) -> EngineOutcome {
    let tasks = config.tasks.max(1);
    let started_at = epoch_seconds(SystemTime::now());
    let shared = Arc::new(Shared {
        trigger,
        reader,
        payload,
        records,
        sent: AtomicU64::new(0),
        next_closed: AtomicU64::new(0),
        start: Instant::now(),
        run_id: rand::random(),
        spare: Mutex::new(Vec::new()),
        timer: match &config.load {
            Load::Open { .. } => match PreciseTimer::start(tasks) {
                Ok(timer) => Some(timer),
                Err(e) => {
                    tracing::warn!(error = %e, "no timer thread; open-loop sends fall back to tokio's millisecond timer");
                    None
                }
            },
            Load::Closed { .. } => None,
        },
    });
    let (tx, mut rx) = mpsc::channel::<Recorder>(tasks * 4);
    let mut set = JoinSet::new();
    for task in 0..tasks {
        let (shared, load, tx, stop) = (
            shared.clone(),
            config.load.clone(),
            tx.clone(),
            stop.clone(),
        );
        let flush_every = config.flush_every;
        set.spawn(async move { drive(task, tasks, load, shared, tx, stop, flush_every).await });
    }
    drop(tx);

    let mut total = Recorder::new();
    let mut delta = Recorder::new();
    let mut tick = tokio::time::interval(config.flush_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let (mut last_s, mut worst_behind, mut warned_at) = (0.0, 0.0f64, f64::NEG_INFINITY);
    let mut report = |delta: &mut Recorder,
                      total: &mut Recorder,
                      sink: &mut Option<&mut dyn IntervalSink>| {
        let now_s = shared.start.elapsed().as_secs_f64();
        let sent = shared.sent.load(Ordering::Relaxed);
        let progress = Progress {
            from_s: last_s,
            to_s: now_s,
            sent,
            intended: intended_by(&config.load, now_s, sent),
        };
        if let Some(sink) = sink.as_deref_mut() {
            sink.interval(&progress, delta);
        }
        let behind = progress.behind();
        worst_behind = worst_behind.max(behind);
        if behind > BEHIND_WARNING && now_s - warned_at >= 10.0 {
            tracing::warn!(
                sent = progress.sent,
                intended = progress.intended,
                "the engine is {:.0}% behind its schedule: the endpoint or this machine cannot keep up; latencies stay corrected",
                behind * 100.0
            );
            warned_at = now_s;
        }
        total.merge(delta);
        delta.reset();
        last_s = now_s;
    };
    loop {
        tokio::select! {
            got = rx.recv() => match got {
                Some(mut d) => {
                    delta.merge(&d);
                    d.reset();
                    shared.spare.lock().unwrap_or_else(|e| e.into_inner()).push(d);
                }
                None => break,
            },
            _ = tick.tick() => report(&mut delta, &mut total, &mut sink),
        }
    }
    while set.join_next().await.is_some() {}
    report(&mut delta, &mut total, &mut sink);
    EngineOutcome {
        total,
        sent: shared.sent.load(Ordering::Relaxed),
        elapsed: shared.start.elapsed(),
        started_at,
        worst_behind,
    }
}

/// Arrivals the schedule intended by `now_s` (open loads), or what was sent (closed loads).
fn intended_by(load: &Load, now_s: f64, sent: u64) -> u64 {
    match load {
        Load::Closed { .. } => sent,
        Load::Open {
            profile, max_count, ..
        } => {
            let t = Duration::from_secs_f64(now_s.min(profile.duration().as_secs_f64()));
            let expected = profile.cumulative(t).ceil() as u64;
            max_count.map_or(expected, |cap| expected.min(cap))
        }
    }
}

/// Completes when `stop` turns true; never, if its sender is gone (nobody can stop the run).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// One task: its share of the load, its own recorder and record buffer.
async fn drive(
    task: usize,
    tasks: usize,
    load: Load,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Recorder>,
    stop: watch::Receiver<bool>,
    flush_every: Duration,
) {
    let mut recorder = Recorder::new();
    let mut records = shared.records.buffer();
    let mut ids = RequestIds::new(shared.run_id, task as u32);
    let mut last_flush = Instant::now();
    let mut schedule = match &load {
        Load::Open {
            profile,
            arrival,
            max_count,
        } => Some(task_schedule(profile, *arrival, task, tasks, *max_count)),
        Load::Closed { .. } => None,
    };
    loop {
        if *stop.borrow() {
            break;
        }
        // The intended send time: from the schedule, or now for closed loads.
        let due = match (&mut schedule, &load) {
            (Some(s), _) => match s.next() {
                Some(offset) => shared.start + offset,
                None => break,
            },
            (None, Load::Closed { invocations }) => {
                if shared.next_closed.fetch_add(1, Ordering::Relaxed) >= *invocations {
                    break;
                }
                Instant::now()
            }
            (None, Load::Open { .. }) => break,
        };
        if due > Instant::now() {
            let mut stop = stop.clone();
            let wait = async {
                match &shared.timer {
                    Some(timer) => timer.sleep_until(task, due).await,
                    None => tokio::time::sleep_until(due.into()).await,
                }
            };
            tokio::select! {
                _ = wait => {}
                _ = stopped(&mut stop) => break,
            }
        }
        let sent = Instant::now();
        // Counted when sent, so that progress against the schedule is not late by a reply.
        shared.sent.fetch_add(1, Ordering::Relaxed);
        let request_id = ids.next_id();
        let raw = shared
            .trigger
            .invoke(InvocationRequest {
                request_id,
                payload: &shared.payload,
            })
            .await;
        let done = Instant::now();
        let reading = shared.reader.read(&raw);
        let timing = Timing {
            intended_s: due.saturating_duration_since(shared.start).as_secs_f64(),
            client_begin: raw.client_begin,
            latency_us: done.saturating_duration_since(due).as_micros() as u64,
            service_us: done.saturating_duration_since(sent).as_micros() as u64,
            lag_us: sent.saturating_duration_since(due).as_micros() as u64,
            connect_us: (raw.http_startup * 1e6) as u64,
            first_byte_us: (raw.first_byte * 1e6) as u64,
        };
        recorder.record(&Sample {
            client_us: timing.latency_us,
            benchmark_us: reading.benchmark_us,
            connect_us: (raw.http_startup > 0.0).then_some(timing.connect_us),
            lag_us: schedule.is_some().then_some(timing.lag_us),
            cold: reading.cold,
            ok: reading.failure.is_none(),
        });
        if let Some(kind) = reading.failure {
            recorder.record_failure(kind);
        }
        if let Err(e) = records.write(request_id, &timing, raw.status.unwrap_or(0), &reading) {
            tracing::error!(error = %e, "cannot write invocation records; stopping this task");
            break;
        }
        if last_flush.elapsed() >= flush_every {
            let spare = shared.spare.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let full = std::mem::replace(&mut recorder, spare.unwrap_or_default());
            if tx.send(full).await.is_err() {
                break;
            }
            last_flush = Instant::now();
        }
    }
    let _ = tx.send(recorder).await;
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
