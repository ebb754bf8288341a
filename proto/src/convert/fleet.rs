//! Worker ⇄ coordinator messages on the wire.

use std::time::Duration;

use super::job::{
    seqset_from_pb, seqset_to_pb, trigger_from_pb, trigger_to_pb, work_from_pb, work_to_pb,
};
use super::records::{delta_from_pb, delta_to_pb, record_from_pb, record_to_pb};
use super::{parse, required, ConvertError};
use crate::fleet::{
    Assignment, FromWorker, Ping, Pong, ShardDone, ShardKey, ShardReport, ToWorker, WorkerHello,
};
use crate::generated::sebs::fleet::v1 as pb;
use crate::ids::{Attempt, RunId, ShardId, WorkerId};

fn key(run_id: u64, shard_id: u32, attempt: u32) -> ShardKey {
    ShardKey {
        run: RunId(run_id),
        shard: ShardId(shard_id),
        attempt: Attempt(attempt),
    }
}

pub(crate) fn hello_to_pb(h: &WorkerHello) -> pb::Hello {
    pb::Hello {
        worker_id: h.worker.to_string(),
        region: h.region.to_string(),
        capacity: h.capacity,
        deployments: h
            .deployments
            .iter()
            .map(|d| d.as_str().to_string())
            .collect(),
        version: h.version.clone(),
        session: h.session,
    }
}

pub(crate) fn hello_from_pb(h: pb::Hello) -> Result<WorkerHello, ConvertError> {
    Ok(WorkerHello {
        worker: WorkerId::new(h.worker_id)
            .map_err(|e| ConvertError::new("hello.worker_id", e.to_string()))?,
        region: parse(&h.region, "hello.region")?,
        capacity: h.capacity,
        deployments: h
            .deployments
            .iter()
            .map(|d| parse(d, "hello.deployments"))
            .collect::<Result<_, _>>()?,
        version: h.version,
        session: h.session,
    })
}

pub(crate) fn to_worker_to_pb(m: &ToWorker) -> pb::CoordinatorMessage {
    use pb::coordinator_message::Kind;
    let kind = match m {
        ToWorker::Assign(a) => Kind::Assign(pb::Assignment {
            run_id: a.key.run.0,
            shard_id: a.key.shard.0,
            attempt: a.key.attempt.0,
            function: a.function.clone(),
            trigger: Some(trigger_to_pb(&a.trigger)),
            payload: a.payload.to_vec(),
            keep_outputs: a.keep_outputs,
            work: Some(work_to_pb(&a.work)),
            skip: seqset_to_pb(&a.skip),
            start_at: a.start_at,
            flush_every_ms: u32::try_from(a.flush_every.as_millis()).unwrap_or(u32::MAX),
            trace_parent: a.trace_parent.clone().unwrap_or_default(),
        }),
        ToWorker::Stop(k) => Kind::Stop(pb::StopShard {
            run_id: k.run.0,
            shard_id: k.shard.0,
            attempt: k.attempt.0,
        }),
        ToWorker::Ping(p) => Kind::Ping(pb::Ping {
            id: p.id,
            sent_at: p.sent_at,
        }),
        ToWorker::Ack(received) => Kind::Ack(pb::Ack {
            received: *received,
        }),
    };
    pb::CoordinatorMessage { kind: Some(kind) }
}

pub(crate) fn to_worker_from_pb(m: pb::CoordinatorMessage) -> Result<ToWorker, ConvertError> {
    use pb::coordinator_message::Kind;
    Ok(match required(m.kind, "coordinator_message.kind")? {
        Kind::Assign(a) => ToWorker::Assign(Box::new(Assignment {
            key: key(a.run_id, a.shard_id, a.attempt),
            function: a.function,
            trigger: trigger_from_pb(required(a.trigger, "assign.trigger")?)?,
            payload: a.payload.into(),
            keep_outputs: a.keep_outputs,
            work: work_from_pb(a.work)?,
            skip: seqset_from_pb(a.skip),
            start_at: a.start_at,
            flush_every: Duration::from_millis(u64::from(a.flush_every_ms.max(1))),
            trace_parent: Some(a.trace_parent).filter(|t| !t.is_empty()),
        })),
        Kind::Stop(s) => ToWorker::Stop(key(s.run_id, s.shard_id, s.attempt)),
        Kind::Ping(p) => ToWorker::Ping(Ping {
            id: p.id,
            sent_at: p.sent_at,
        }),
        Kind::Ack(a) => ToWorker::Ack(a.received),
    })
}

pub(crate) fn from_worker_to_pb(m: &FromWorker) -> pb::WorkerMessage {
    use pb::worker_message::Kind;
    let kind = match m {
        FromWorker::Report(r) => Kind::Report(pb::ShardReport {
            run_id: r.key.run.0,
            shard_id: r.key.shard.0,
            attempt: r.key.attempt.0,
            records: r.records.iter().map(record_to_pb).collect(),
            delta: Some(delta_to_pb(&r.delta)),
        }),
        FromWorker::Progress {
            key,
            sent,
            intended,
        } => Kind::Progress(pb::ShardProgress {
            run_id: key.run.0,
            shard_id: key.shard.0,
            attempt: key.attempt.0,
            sent: *sent,
            intended: *intended,
        }),
        FromWorker::Done(d) => Kind::Done(pb::ShardDone {
            run_id: d.key.run.0,
            shard_id: d.key.shard.0,
            attempt: d.key.attempt.0,
            sent: d.sent,
            error: d.error.clone().unwrap_or_default(),
        }),
        FromWorker::Pong(p) => Kind::Pong(pb::Pong {
            id: p.id,
            ping_sent_at: p.ping_sent_at,
            received_at: p.received_at,
            sent_at: p.sent_at,
        }),
        FromWorker::Bye => Kind::Bye(pb::Bye {}),
    };
    pb::WorkerMessage { kind: Some(kind) }
}

/// A worker's message after its Hello; a second Hello is an error.
pub(crate) fn from_worker_from_pb(m: pb::WorkerMessage) -> Result<FromWorker, ConvertError> {
    use pb::worker_message::Kind;
    Ok(match required(m.kind, "worker_message.kind")? {
        Kind::Hello(_) => return Err(ConvertError::new("worker_message", "a second hello")),
        Kind::Report(r) => FromWorker::Report(Box::new(ShardReport {
            key: key(r.run_id, r.shard_id, r.attempt),
            records: r
                .records
                .into_iter()
                .map(record_from_pb)
                .collect::<Result<_, _>>()?,
            delta: delta_from_pb(required(r.delta, "report.delta")?)?,
        })),
        Kind::Progress(p) => FromWorker::Progress {
            key: key(p.run_id, p.shard_id, p.attempt),
            sent: p.sent,
            intended: p.intended,
        },
        Kind::Done(d) => FromWorker::Done(ShardDone {
            key: key(d.run_id, d.shard_id, d.attempt),
            sent: d.sent,
            error: (!d.error.is_empty()).then_some(d.error),
        }),
        Kind::Pong(p) => FromWorker::Pong(Pong {
            id: p.id,
            ping_sent_at: p.ping_sent_at,
            received_at: p.received_at,
            sent_at: p.sent_at,
        }),
        Kind::Bye(_) => FromWorker::Bye,
    })
}
