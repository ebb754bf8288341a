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
use crate::engine::WrapperReader;
use crate::HttpTrigger;

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
        load,
        tasks,
        flush_every,
    };
    let log = RecordLog::create(&path).unwrap();
    let outcome = run_engine(
        config,
        trigger,
        Arc::new(WrapperReader),
        Bytes::from_static(b"{}"),
        log,
        None,
        stop,
    )
    .await;
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
        load,
        tasks: 2,
        flush_every: Duration::from_millis(100),
    };
    let log = RecordLog::create(&dir.path().join("r.csv")).unwrap();
    let engine = tokio::spawn(run_engine(
        config,
        trigger,
        Arc::new(WrapperReader),
        Bytes::new(),
        log,
        None,
        stop,
    ));
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
