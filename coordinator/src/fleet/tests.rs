//! The coordinator with scripted workers in this process: what it accepts, refuses and hands
//! over, seen from the run's events.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sebs_common::config::{Deployment, TriggerKind};
use sebs_platform::TriggerSpec;
use sebs_proto::fleet::{FromWorker, ShardDone, ShardKey, ShardReport, ToWorker, WorkerHello};
use sebs_proto::job::{ClosedLoad, JobSpec, Load, Placement};
use sebs_proto::runs::{RunEvent, RunFinished, Submission};
use sebs_proto::FleetService;
use sebs_proto::{Region, RunService, WorkerId};
use sebs_worker::engine::recorder::{Recorder, Sample};
use sebs_worker::engine::records::{Record, RequestId};
use tokio::sync::mpsc;

use super::coordinator::{Coordinator, CoordinatorConfig};
use super::membership::InMemoryMembership;
use super::state::InMemoryStateStore;

fn coordinator() -> Coordinator {
    let config = CoordinatorConfig {
        flush_every: Duration::from_millis(50),
        worker_wait: Duration::from_secs(10),
        ..CoordinatorConfig::default()
    };
    Coordinator::new(
        config,
        Arc::new(InMemoryMembership::default()),
        Arc::new(InMemoryStateStore::default()),
        None,
    )
}

fn job(invocations: u64) -> JobSpec {
    JobSpec {
        function: "f".into(),
        trigger: TriggerSpec {
            deployment: Deployment::Local,
            kind: TriggerKind::Http,
            function: "f".into(),
            url: Some("http://127.0.0.1:9/".into()),
            timeout: Duration::from_secs(1),
            settings: serde_json::Value::Null,
        },
        payload: Bytes::from_static(b"{}"),
        load: Load::Closed(ClosedLoad {
            invocations,
            concurrency: 1,
            batches: false,
        }),
        keep_outputs: false,
        placement: Placement::anywhere(),
    }
}

/// A worker whose every message the test writes.
struct Scripted {
    to_coordinator: mpsc::Sender<FromWorker>,
    from_coordinator: mpsc::Receiver<ToWorker>,
}

async fn attach(c: &Coordinator, name: &str) -> Scripted {
    let (to_coordinator, rx) = mpsc::channel(64);
    let hello = WorkerHello {
        worker: WorkerId::new(name).unwrap(),
        region: Region::new(name).unwrap(),
        capacity: 4,
        deployments: vec![Deployment::Local],
        version: "test".into(),
    };
    let from_coordinator = c.attach(hello, rx).await.unwrap();
    Scripted {
        to_coordinator,
        from_coordinator,
    }
}

impl Scripted {
    /// The next assignment (pings are answered by nobody: the clock stays unsampled).
    async fn assignment(&mut self) -> sebs_proto::fleet::Assignment {
        loop {
            match self.from_coordinator.recv().await.expect("a message") {
                ToWorker::Assign(a) => return *a,
                ToWorker::Ping(_) | ToWorker::Stop(_) => continue,
            }
        }
    }

    async fn report(&self, key: ShardKey, sequences: std::ops::Range<u64>) {
        let mut delta = Recorder::new();
        let records: Vec<Record> = sequences
            .map(|s| {
                delta.record(&Sample {
                    client_us: 1000 + s,
                    ok: true,
                    ..Sample::default()
                });
                Record {
                    sequence: s,
                    request_id: RequestId::new(7 << 96, s),
                    ..Record::default()
                }
            })
            .collect();
        let report = ShardReport {
            key,
            records,
            delta,
        };
        self.to_coordinator
            .send(FromWorker::Report(Box::new(report)))
            .await
            .unwrap();
    }

    async fn done(&self, key: ShardKey, sent: u64) {
        let done = ShardDone {
            key,
            sent,
            error: None,
        };
        self.to_coordinator
            .send(FromWorker::Done(done))
            .await
            .unwrap();
    }
}

async fn finished(mut events: mpsc::Receiver<RunEvent>) -> (Arc<RunFinished>, u64) {
    let mut records = 0;
    while let Some(e) = events.recv().await {
        match e {
            RunEvent::Records(r) => records += r.len() as u64,
            RunEvent::Finished(f) => return (f, records),
            RunEvent::Failed(m) => panic!("the run failed: {m}"),
            _ => {}
        }
    }
    panic!("no Finished event")
}

#[tokio::test]
async fn duplicate_and_stale_reports_are_refused_whole() {
    let c = coordinator();
    let mut w = attach(&c, "w1").await;
    let (_, events) = c.submit(Submission::Job(Box::new(job(4)))).await.unwrap();
    let a = w.assignment().await;
    assert_eq!(a.key.attempt.0, 0);
    w.report(a.key, 0..2).await;
    w.report(a.key, 1..3).await; // overlaps what was accepted: refused whole
    let stale = ShardKey {
        attempt: a.key.attempt.next(),
        ..a.key
    };
    w.report(stale, 2..4).await; // not the current attempt: refused
    w.report(a.key, 2..4).await;
    w.done(a.key, 4).await;
    let (f, records) = finished(events).await;
    assert!(f.complete, "{f:?}");
    assert_eq!((f.sent, records, f.duplicates), (4, 4, 1));
    let total: u64 = f.totals.iter().map(|k| k.recorder.count()).sum();
    assert_eq!(total, 4, "the histograms hold each invocation once");
}

#[tokio::test]
async fn a_departed_workers_shard_is_finished_by_another_attempt() {
    let c = coordinator();
    let mut first = attach(&c, "first").await;
    let (_, events) = c.submit(Submission::Job(Box::new(job(5)))).await.unwrap();
    let a = first.assignment().await;
    first.report(a.key, 0..2).await;
    // The worker goes away with invocations 2..5 undone.
    let mut second = attach(&c, "second").await;
    drop(first);
    let b = second.assignment().await;
    assert_eq!(b.key.shard, a.key.shard);
    assert_eq!(b.key.attempt.0, 1, "a new attempt");
    assert_eq!(
        b.skip.ranges(),
        std::slice::from_ref(&(0..2)),
        "what is done is skipped"
    );
    second.report(b.key, 2..5).await;
    second.done(b.key, 3).await;
    let (f, records) = finished(events).await;
    assert!(f.complete, "{f:?}");
    assert_eq!((f.sent, records), (5, 5));
    let regions: Vec<&str> = f.totals.iter().map(|k| k.region.as_str()).collect();
    assert_eq!(
        regions,
        ["first", "second"],
        "each invocation filed under where it ran"
    );
}

#[tokio::test]
async fn a_shard_that_ends_short_is_run_again_for_what_is_missing() {
    let c = coordinator();
    let mut w = attach(&c, "w1").await;
    let (_, events) = c.submit(Submission::Job(Box::new(job(3)))).await.unwrap();
    let a = w.assignment().await;
    w.report(a.key, 0..1).await;
    w.done(a.key, 1).await; // says it is done, but 1..3 never arrived
    let b = w.assignment().await;
    assert_eq!((b.key.attempt.0, b.skip.len()), (1, 1));
    w.report(b.key, 1..3).await;
    w.done(b.key, 2).await;
    let (f, _) = finished(events).await;
    assert!(f.complete && f.sent == 3, "{f:?}");
}
