//! The engine against a real HTTP endpoint on 127.0.0.1 that can stall.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::*;
use crate::engine::recorder::Metric;
use crate::engine::records::{CsvFile, Record};
use crate::engine::WrapperReader;
use crate::HttpTrigger;
use async_trait::async_trait;

const REPLY: &str =
    r#"{"is_cold": false, "begin": 1.0, "end": 1.0002, "container_id": "test0001", "result": {}}"#;

/// Serves wrapper-like replies; the `stall_at`-th request (0-based) waits `stall` first.
async fn endpoint(stall_at: u64, stall: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_req| {
                    let n = seen.fetch_add(1, Ordering::SeqCst);
                    async move {
                        if n == stall_at {
                            tokio::time::sleep(stall).await;
                        }
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                            REPLY.as_bytes(),
                        ))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://{addr}/")
}

/// An open load of evenly spaced arrivals at `rate` per second.
fn constant_load(rate: f64, duration: Duration) -> Load {
    let profile = RateProfile::constant(rate, duration).unwrap();
    Load::Open {
        profile,
        arrival: Arrival::Constant,
        max_count: None,
        share: Share::whole(),
    }
}

struct Run {
    outcome: EngineOutcome,
    records: Vec<Vec<String>>,
    _dir: tempfile::TempDir,
}

async fn run(url: &str, load: Load, tasks: usize, flush_every: Duration) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.csv");
    let trigger = Arc::new(HttpTrigger::new(url, Duration::from_secs(10)).unwrap());
    let (_stop_tx, stop) = watch::channel(false);
    let config = EngineConfig {
        flush_every,
        ..EngineConfig::new(load, tasks)
    };
    let mut log = CsvFile::create(&path).unwrap();
    let outcome = run_engine(
        config,
        trigger,
        Arc::new(WrapperReader),
        Bytes::from_static(b"{}"),
        &mut log,
        stop,
    )
    .await;
    drop(log);
    let text = std::fs::read_to_string(&path).unwrap();
    let records = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    Run {
        outcome,
        records,
        _dir: dir,
    }
}

fn column(r: &Run, name: &str) -> Vec<u64> {
    let index = super::super::records::HEADER
        .trim_end()
        .split(',')
        .position(|c| c == name)
        .unwrap();
    r.records
        .iter()
        .map(|rec| rec[index].parse::<f64>().unwrap() as u64)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_load_sends_exactly_its_invocations() {
    let url = endpoint(u64::MAX, Duration::ZERO).await;
    let r = run(
        &url,
        Load::Closed { invocations: 500 },
        4,
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(r.outcome.sent, 500);
    assert_eq!(r.outcome.total.count(), 500);
    assert_eq!(r.outcome.total.failures().count(), 0);
    assert_eq!(r.records.len(), 500, "every invocation has a record");
    let connected = column(&r, "connect_us")
        .iter()
        .filter(|&&us| us > 0)
        .count();
    assert_eq!(
        connected, 4,
        "each task's first invocation opens its connection and measures it"
    );
    let benchmark = r
        .outcome
        .total
        .histogram(Metric::Benchmark, Some(false), Some(true));
    assert_eq!(benchmark.len(), 500);
    assert!(
        (190..=210).contains(&benchmark.value_at_quantile(0.5)),
        "200 µs from the wrapper's begin/end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_load_sends_its_schedule() {
    let url = endpoint(u64::MAX, Duration::ZERO).await;
    let load = constant_load(400.0, Duration::from_millis(500));
    let r = run(&url, load, 4, Duration::from_millis(100)).await;
    assert_eq!(r.outcome.sent, 200);
    // intended_s is in seconds with µs digits; compare in µs.
    let mut intended_us: Vec<u64> = r
        .records
        .iter()
        .map(|rec| (rec[1].parse::<f64>().unwrap() * 1e6).round() as u64)
        .collect();
    intended_us.sort();
    let expected: Vec<u64> = (0..200).map(|n| n * 2500).collect();
    assert_eq!(
        intended_us, expected,
        "every request at its intended time, 2.5 ms apart"
    );
    assert!(
        column(&r, "connect_us").iter().all(|&us| us == 0),
        "an open loop opens its connections before its schedule starts"
    );
}

/// An open load's tasks take arrivals from one queue: while one task waits 300 ms for a reply,
/// the others send the arrivals behind it on time (with a fixed share per task, as wrk2 deals
/// them, that task's next arrivals would go out up to 300 ms late).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reply_holds_up_only_its_own_task() {
    let url = endpoint(20, Duration::from_millis(300)).await;
    let load = constant_load(200.0, Duration::from_secs(1));
    let r = run(&url, load, 4, Duration::from_millis(100)).await;
    assert_eq!(r.outcome.sent, 200);
    let service = column(&r, "service_us");
    assert!(
        service.iter().any(|&us| us >= 290_000),
        "one reply took 300 ms"
    );
    let late: Vec<u64> = column(&r, "lag_us")
        .into_iter()
        .filter(|&us| us >= 150_000)
        .collect();
    assert!(
        late.is_empty(),
        "no arrival waited for the slow reply: {late:?}"
    );
}

/// Coordinated omission: one 300 ms stall delays every request scheduled behind it. Measured
/// from the intended send time, they all show it; measured from the actual send, only one does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_the_latency_of_every_request_behind_it() {
    let url = endpoint(100, Duration::from_millis(300)).await;
    let load = constant_load(1000.0, Duration::from_secs(1));
    // One task: one connection, as a client that waits for each reply.
    let r = run(&url, load, 1, Duration::from_millis(50)).await;
    assert_eq!(r.outcome.sent, 1000);
    let latency = column(&r, "latency_us");
    let service = column(&r, "service_us");
    let slow_latency = latency.iter().filter(|&&us| us >= 100_000).count();
    let slow_service = service.iter().filter(|&&us| us >= 100_000).count();
    assert!(
        slow_latency >= 150,
        "requests intended during the stall waited: {slow_latency}"
    );
    assert!(
        slow_service <= 5,
        "only the stalled request itself was slow to serve: {slow_service}"
    );
    assert!(*latency.iter().max().unwrap() >= 290_000);
    let lag = r.outcome.total.histogram(Metric::Lag, None, None);
    assert!(
        lag.value_at_quantile(0.9) >= 50_000,
        "the engine records how late it sent"
    );
    let client = r.outcome.total.histogram(Metric::Client, None, None);
    assert!(
        client.value_at_quantile(0.9) >= 50_000,
        "histograms hold the corrected latency"
    );
    assert!(
        r.outcome.worst_behind > BEHIND_WARNING,
        "the stall put the engine behind: {}",
        r.outcome.worst_behind
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_an_open_load_early() {
    let url = endpoint(u64::MAX, Duration::ZERO).await;
    let load = constant_load(100.0, Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();
    let trigger = Arc::new(HttpTrigger::new(&url, Duration::from_secs(10)).unwrap());
    let (stop_tx, stop) = watch::channel(false);
    let config = EngineConfig {
        flush_every: Duration::from_millis(100),
        ..EngineConfig::new(load, 2)
    };
    let mut log = CsvFile::create(&dir.path().join("r.csv")).unwrap();
    let engine = tokio::spawn(async move {
        run_engine(
            config,
            trigger,
            Arc::new(WrapperReader),
            Bytes::new(),
            &mut log,
            stop,
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_tx.send(true).unwrap();
    let outcome = engine.await.unwrap();
    assert!(
        outcome.sent > 0 && outcome.sent < 6000,
        "stopped early: {}",
        outcome.sent
    );
    assert_eq!(
        outcome.total.count(),
        outcome.sent,
        "every sent request was recorded"
    );
}

/// Keeps every flush: the records and the count of the delta that came with them.
#[derive(Default)]
struct Keep {
    flushes: Vec<(Vec<Record>, u64)>,
    ticks: u64,
}

#[async_trait]
impl EngineSink for Keep {
    async fn flush(&mut self, records: &mut Vec<Record>, delta: &mut Recorder) {
        self.flushes.push((std::mem::take(records), delta.count()));
    }

    async fn tick(&mut self, _progress: &Progress, _interval: &Recorder) {
        self.ticks += 1;
    }
}

async fn keep(url: &str, config: EngineConfig) -> (EngineOutcome, Keep) {
    let trigger = Arc::new(HttpTrigger::new(url, Duration::from_secs(10)).unwrap());
    let (_stop_tx, stop) = watch::channel(false);
    let mut sink = Keep::default();
    let outcome = run_engine(
        config,
        trigger,
        Arc::new(WrapperReader),
        Bytes::from_static(b"{}"),
        &mut sink,
        stop,
    )
    .await;
    (outcome, sink)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_flush_carries_the_histograms_of_exactly_its_records() {
    let url = endpoint(u64::MAX, Duration::ZERO).await;
    let config = EngineConfig {
        flush_every: Duration::from_millis(20),
        ..EngineConfig::new(Load::Closed { invocations: 3000 }, 3)
    };
    let (outcome, sink) = keep(&url, config).await;
    assert!(sink.flushes.len() >= 3, "several flushes");
    for (records, count) in &sink.flushes {
        assert_eq!(
            records.len() as u64,
            *count,
            "a delta covers exactly its records"
        );
        assert!(records.len() <= BATCH_RECORDS);
    }
    let mut sequences: Vec<u64> = sink
        .flushes
        .iter()
        .flat_map(|(r, _)| r.iter().map(|r| r.sequence))
        .collect();
    sequences.sort();
    assert_eq!(sequences, (0..3000).collect::<Vec<_>>());
    assert_eq!(outcome.total.count(), 3000);
    assert!(sink.ticks >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipped_sequences_are_not_sent_and_replies_are_kept_on_request() {
    let url = endpoint(u64::MAX, Duration::ZERO).await;
    let config = EngineConfig {
        skip: SeqSet::from_ranges([0..5, 10..12]),
        keep_raw: true,
        id_prefix: 0xabcd << 96,
        ..EngineConfig::new(Load::Closed { invocations: 20 }, 2)
    };
    let (outcome, sink) = keep(&url, config).await;
    assert_eq!(outcome.sent, 13);
    let mut records: Vec<Record> = sink.flushes.into_iter().flat_map(|(r, _)| r).collect();
    records.sort_by_key(|r| r.sequence);
    let sequences: Vec<u64> = records.iter().map(|r| r.sequence).collect();
    assert_eq!(sequences, [5, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17, 18, 19]);
    let first = &records[0];
    assert_eq!(
        first.request_id.as_str(),
        "0000abcd000000000000000000000005"
    );
    let body = &first.raw.as_ref().unwrap().body;
    assert_eq!(body.as_ref(), REPLY.as_bytes(), "the whole reply is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_of_one_schedule_send_it_together() {
    let url = endpoint(u64::MAX, Duration::ZERO).await;
    let profile = RateProfile::constant(500.0, Duration::from_millis(200)).unwrap();
    let start = std::time::Instant::now() + Duration::from_millis(50);
    let mut intended = Vec::new();
    for share in [
        Share::new(3, vec![0, 2], 0).unwrap(),
        Share::new(3, vec![1], 1).unwrap(),
    ] {
        let load = Load::Open {
            profile: profile.clone(),
            arrival: Arrival::Constant,
            max_count: None,
            share,
        };
        let config = EngineConfig {
            start: Some(start),
            ..EngineConfig::new(load, 2)
        };
        let (_, sink) = keep(&url, config).await;
        intended.extend(
            sink.flushes
                .iter()
                .flat_map(|(r, _)| r.iter().map(|r| (r.timing.intended_s * 1e6).round() as u64)),
        );
    }
    intended.sort();
    let expected: Vec<u64> = (0..100).map(|n| n * 2000).collect();
    assert_eq!(
        intended, expected,
        "the shares' union is the global schedule"
    );
}

#[test]
fn tasks_hand_over_at_staggered_times() {
    let every = Duration::from_secs(1);
    let tasks = 4;
    let flushes: Vec<Flushes> = (0..tasks)
        .map(|task| Flushes::staggered(every, task, tasks))
        .collect();
    let records: Vec<usize> = flushes.iter().map(|f| f.records).collect();
    assert_eq!(records, [64, 128, 192, BATCH_RECORDS]);
    for pair in flushes.windows(2) {
        let gap = pair[1].next.duration_since(pair[0].next);
        assert!(
            gap >= Duration::from_millis(200),
            "a quarter interval apart: {gap:?}"
        );
    }
    // After its first hand-over every task waits a whole batch or interval.
    let mut first = flushes[0];
    let now = Instant::now();
    assert!(first.due(64, now));
    first.done(now);
    assert!(!first.due(BATCH_RECORDS - 1, now + every / 2));
    assert!(first.due(BATCH_RECORDS, now));
    assert!(first.due(0, now + every));
    // One task hands over on the interval, as before.
    assert_eq!(Flushes::staggered(every, 0, 1).records, BATCH_RECORDS);
}

#[test]
fn a_small_closed_load_puts_one_invocation_on_each_task() {
    // A SeBS batch: N at concurrency N, each on a task (and an instance) of its own.
    assert_eq!(claim_size(2, 2), 1);
    assert_eq!(claim_size(16, 8), 1);
    assert_eq!(claim_size(0, 4), 1);
    // Large loads claim several at once, never more than CLAIM.
    assert_eq!(claim_size(1_000_000, 64), CLAIM);
    assert_eq!(claim_size(64 * 16 * 3, 64), 3);
}
