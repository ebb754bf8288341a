//! What a worker and the coordinator say to each other over the worker's one stream.

use std::time::Duration;

use bytes::Bytes;
use sebs_common::config::Deployment;
use sebs_platform::TriggerSpec;
use sebs_worker::engine::recorder::Recorder;
use sebs_worker::engine::records::Record;
use sebs_worker::engine::seqset::SeqSet;

use crate::ids::{Attempt, Region, RunId, ShardId, WorkerId};
use crate::job::ShardWork;

/// A worker introduces itself.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerHello {
    pub worker: WorkerId,
    pub region: Region,
    /// The most invocations it runs in flight at once.
    pub capacity: u32,
    /// Platforms it can build triggers for.
    pub deployments: Vec<Deployment>,
    /// The sebs version it runs.
    pub version: String,
    /// Random per worker process: the same name and session attaching again is this worker
    /// coming back (after a partition), not a second worker.
    pub session: u64,
}

/// One attempt at one shard of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ShardKey {
    pub run: RunId,
    pub shard: ShardId,
    pub attempt: Attempt,
}

/// Run a shard.
#[derive(Clone, Debug)]
pub struct Assignment {
    pub key: ShardKey,
    pub function: String,
    pub trigger: TriggerSpec,
    pub payload: Bytes,
    pub keep_outputs: bool,
    pub work: ShardWork,
    /// Sequence numbers earlier attempts already delivered: not to be sent again.
    pub skip: SeqSet,
    /// When the schedule starts, in epoch seconds on the worker's clock; `None`: at once.
    pub start_at: Option<f64>,
    /// How often the worker reports.
    pub flush_every: Duration,
    /// The W3C `traceparent` of the coordinator's span of this attempt, so that the worker's
    /// spans join its trace; `None` when the coordinator exports no traces.
    pub trace_parent: Option<String>,
}

/// NTP-style round trip, started by the coordinator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ping {
    pub id: u64,
    /// Coordinator clock, epoch seconds.
    pub sent_at: f64,
}

/// The worker's answer to a [`Ping`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pong {
    pub id: u64,
    pub ping_sent_at: f64,
    /// Worker clock, epoch seconds.
    pub received_at: f64,
    pub sent_at: f64,
}

impl Pong {
    /// Answers `ping`, received and answered at `now` (worker clock).
    pub fn answer(ping: Ping, received_at: f64, sent_at: f64) -> Pong {
        Pong {
            id: ping.id,
            ping_sent_at: ping.sent_at,
            received_at,
            sent_at,
        }
    }
}

/// Coordinator to worker.
#[derive(Clone, Debug)]
pub enum ToWorker {
    Assign(Box<Assignment>),
    /// Stop sending for this shard attempt; invocations in flight finish and are reported.
    Stop(ShardKey),
    Ping(Ping),
    /// The coordinator has received this many of the worker's messages on this stream (Pongs
    /// excluded); the worker may forget them.
    Ack(u64),
}

/// Records and the histogram delta of exactly those invocations: accepted or refused whole.
#[derive(Debug)]
pub struct ShardReport {
    pub key: ShardKey,
    pub records: Vec<Record>,
    pub delta: Recorder,
}

/// A shard attempt ended: it sent everything, was stopped, or failed (`error`).
#[derive(Clone, Debug, PartialEq)]
pub struct ShardDone {
    pub key: ShardKey,
    pub sent: u64,
    pub error: Option<String>,
}

/// Worker to coordinator.
#[derive(Debug)]
pub enum FromWorker {
    Report(Box<ShardReport>),
    Progress {
        key: ShardKey,
        sent: u64,
        intended: u64,
    },
    Done(ShardDone),
    Pong(Pong),
    /// The worker detaches on purpose: its shards go to others at once.
    Bye,
}

impl FromWorker {
    /// Whether the coordinator acknowledges it (everything but the clock's Pongs).
    pub fn is_acknowledged(&self) -> bool {
        !matches!(self, FromWorker::Pong(_))
    }
}
