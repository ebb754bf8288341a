//! `sebs merge-bench`: how many results per second a coordinator merges from many workers.
//!
//! A coordinator serves gRPC on 127.0.0.1 in this process, and `--workers` synthetic workers
//! attach to it over the network (real TCP, HTTP/2 and protobuf, through `RemoteFleet`). Each
//! run is a closed job of `--invocations` split over them; instead of invoking a function, each
//! worker answers its assignment with the reports its engine would send: `--batch` records per
//! report with the histogram delta of exactly those invocations, then its shard's end. The
//! coordinator decodes them, counts each once (the ledger), merges the histograms and emits the
//! records as the run's events, which this command counts: the figure is results merged per
//! second, start to finish of the run.
//!
//! The reference, measured in the same process right after: the same reports, encoded as on the
//! wire, decoded and merged (ledger and histogram table) in one thread with no network. The
//! ratio says what the fleet's path (transport, per-worker tasks, the run's inbox and events)
//! costs on top of the merging itself. Workers, coordinator and reference share this machine's
//! cores.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Args;
use sebs_common::config::{Deployment, TriggerKind};
use sebs_platform::TriggerSpec;
use sebs_proto::fleet::{FromWorker, ShardDone, ShardKey, ShardReport, ToWorker, WorkerHello};
use sebs_proto::grpc::{
    self, ClientSecurity, CoordinatorAddress, RemoteFleet, ServerSecurity, Token,
};
use sebs_proto::job::{ClosedLoad, JobSpec, Load, Placement};
use sebs_proto::runs::{RunEvent, Submission};
use sebs_proto::wire::{decode_from_worker, encode_from_worker};
use sebs_proto::{FleetService, Region, RunService, WorkerId};
use sebs_worker::engine::recorder::{Recorder, Sample};
use sebs_worker::engine::records::{Record, RequestId, ShortText, Timing};
use tokio::sync::mpsc;

use super::coordinator::{Coordinator, CoordinatorConfig};
use super::ledger::{HistogramTable, ShardLedger, Verdict};
use super::membership::InMemoryMembership;
use super::state::InMemoryStateStore;

/// `sebs merge-bench`.
#[derive(Debug, Args)]
pub struct MergeBenchArgs {
    /// Synthetic workers attached over gRPC.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub workers: u32,
    /// Invocations (results) per run.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub invocations: u64,
    /// Records per report (a worker's engine reports every 1024 invocations or every second).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub batch: u64,
    /// Runs measured; the median is printed with the range.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rounds: u32,
}

const FUNCTION: &str = "merge-bench";
const REGIONS: u32 = 4;

pub async fn merge_bench(args: MergeBenchArgs) -> Result<bool> {
    let token = Token::new(&format!("{:032x}", rand::random::<u128>()))?;
    // Workers that go away at the end leave at once, unmourned.
    let config = CoordinatorConfig {
        reassign_after: Duration::ZERO,
        ..CoordinatorConfig::default()
    };
    let coordinator = Coordinator::new(
        config,
        Arc::new(InMemoryMembership::default()),
        Arc::new(InMemoryStateStore::default()),
        None,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let security = ServerSecurity {
        tls: None,
        client_ca_pem: None,
        token: Some(token.clone()),
    };
    let server = tokio::spawn(grpc::serve(
        listener,
        security,
        Arc::new(coordinator.clone()),
        Arc::new(coordinator.clone()),
        std::future::pending(),
    ));
    let address = CoordinatorAddress::new(
        &url,
        ClientSecurity {
            plaintext: true,
            token: Some(token),
            ..ClientSecurity::default()
        },
    )?;
    let mut workers = Vec::new();
    for i in 0..args.workers {
        let hello = WorkerHello {
            worker: WorkerId::new(format!("synthetic-{i}"))?,
            region: region_of(i)?,
            capacity: 1,
            deployments: vec![Deployment::Local],
            version: env!("CARGO_PKG_VERSION").to_string(),
            session: u64::from(i) + 1,
        };
        let fleet = RemoteFleet::new(address.clone());
        let batch = args.batch;
        workers.push(tokio::spawn(async move {
            synthetic_worker(&fleet, hello, batch).await
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while (coordinator_members(&coordinator) as u32) < args.workers {
        if Instant::now() > deadline {
            bail!("the synthetic workers did not attach within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut rates = Vec::new();
    let mut shard_sizes = Vec::new();
    for round in 0..args.rounds {
        let (rate, sizes) = measure_run(&coordinator, &args).await?;
        eprintln!("round {}: {rate:.0} results/s", round + 1);
        rates.push(rate);
        shard_sizes = sizes;
    }
    let (reference, bytes_per_result) = reference_rate(&shard_sizes, args.batch)?;
    for w in &workers {
        w.abort();
    }
    server.abort();

    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    println!(
        "merge throughput: {} workers over gRPC on 127.0.0.1, {} invocations per run in reports of {}",
        args.workers, args.invocations, args.batch
    );
    println!(
        "  fleet      {median:>12.0} results/s  (median of {} runs; {:.0} .. {:.0}), {:.0} reports/s",
        rates.len(),
        rates[0],
        rates[rates.len() - 1],
        median / args.batch as f64
    );
    println!("  reference  {reference:>12.0} results/s  (the same reports decoded and merged in one thread, no network)");
    println!("  wire       {bytes_per_result:>12.1} bytes per result, encoded");
    println!("  ratio      {:>12.2}", median / reference);
    Ok(true)
}

/// Worker `i`'s region (shard `i`'s in the reference): four regions, taken in turn.
fn region_of(i: u32) -> Result<Region> {
    Ok(Region::new(format!("region-{}", i % REGIONS))?)
}

fn coordinator_members(c: &Coordinator) -> usize {
    c.0.membership.members().len()
}

/// One run of `args.invocations` through the fleet: results merged per second, and the
/// planned size of each shard.
async fn measure_run(c: &Coordinator, args: &MergeBenchArgs) -> Result<(f64, Vec<u64>)> {
    let job = JobSpec {
        function: FUNCTION.into(),
        trigger: TriggerSpec {
            deployment: Deployment::Local,
            kind: TriggerKind::Http,
            function: FUNCTION.into(),
            url: Some("http://127.0.0.1:9/".into()),
            timeout: Duration::from_secs(1),
            settings: serde_json::Value::Null,
        },
        payload: Bytes::from_static(b"{}"),
        load: Load::Closed(ClosedLoad {
            invocations: args.invocations,
            concurrency: args.workers,
            batches: false,
        }),
        keep_outputs: false,
        placement: Placement::anywhere(),
    };
    let (_, mut events) = c.submit(Submission::Job(Box::new(job))).await?;
    let (mut started, mut sizes, mut records) = (None, Vec::new(), 0u64);
    while let Some(event) = events.recv().await {
        match event {
            RunEvent::Started(s) => {
                started = Some(Instant::now());
                sizes = s.shards.iter().map(|p| p.planned.round() as u64).collect();
            }
            RunEvent::Records(r) => records += r.len() as u64,
            RunEvent::Finished(f) => {
                let elapsed = started.context("no Started event")?.elapsed();
                if !f.complete || records != args.invocations || f.sent != args.invocations {
                    bail!(
                        "the run ended with {records} of {} results (complete: {})",
                        args.invocations,
                        f.complete
                    );
                }
                return Ok((records as f64 / elapsed.as_secs_f64(), sizes));
            }
            RunEvent::Failed(m) => bail!("the run failed: {m}"),
            _ => {}
        }
    }
    bail!("the run's events ended without its end")
}

/// A worker that answers each assignment with its shard's reports, as fast as the stream takes
/// them, and its end.
async fn synthetic_worker(fleet: &RemoteFleet, hello: WorkerHello, batch: u64) -> Result<()> {
    let (to_coordinator, from_worker) = mpsc::channel(256);
    let mut inbox = fleet.attach(hello, from_worker).await?;
    while let Some(message) = inbox.recv().await {
        let ToWorker::Assign(a) = message else {
            continue;
        };
        let sequences = a.work.sequences().context("a closed shard")?;
        let to = to_coordinator.clone();
        tokio::spawn(async move {
            for chunk in chunks(sequences.clone(), batch) {
                let report = FromWorker::Report(Box::new(report(a.key, chunk)));
                if to.send(report).await.is_err() {
                    return;
                }
            }
            let done = ShardDone {
                key: a.key,
                sent: sequences.end - sequences.start,
                error: None,
            };
            let _ = to.send(FromWorker::Done(done)).await;
        });
    }
    Ok(())
}

fn chunks(range: Range<u64>, batch: u64) -> impl Iterator<Item = Range<u64>> {
    range
        .clone()
        .step_by(batch as usize)
        .map(move |start| start..(start + batch).min(range.end))
}

/// A report of `sequences` as an engine makes it: plausible timings, a histogram delta of
/// exactly those invocations.
fn report(key: ShardKey, sequences: Range<u64>) -> ShardReport {
    let mut delta = Recorder::new();
    let records = sequences
        .map(|sequence| {
            // A cheap spread of latencies, 5..~40 ms, varying with the sequence.
            let latency_us = 5_000 + (sequence.wrapping_mul(2_654_435_761) % 35_000);
            delta.record(&Sample {
                client_us: latency_us,
                benchmark_us: latency_us / 2,
                connect_us: None,
                lag_us: None,
                cold: false,
                ok: true,
            });
            Record {
                sequence,
                request_id: RequestId::new(u128::from(key.run.0) << 64, sequence),
                timing: Timing {
                    intended_s: 0.0,
                    client_begin: 1.7e9 + sequence as f64 * 1e-3,
                    latency_us,
                    service_us: latency_us,
                    lag_us: 0,
                    connect_us: 0,
                    first_byte_us: latency_us - 100,
                },
                status: 200,
                failure: None,
                cold: false,
                benchmark_us: latency_us / 2,
                container_id: ShortText::new("0a1b2c3d"),
                execution_us: latency_us / 2 + 300,
                init_us: 0,
                memory_kib: 40_960,
                raw: None,
            }
        })
        .collect();
    ShardReport {
        key,
        records,
        delta,
    }
}

/// Results per second of decoding and merging the same reports in one thread: each shard's
/// reports are encoded first (not timed), then decoded, accepted by its ledger and added to the
/// histogram table (timed). Also the encoded bytes per result.
fn reference_rate(shard_sizes: &[u64], batch: u64) -> Result<(f64, f64)> {
    let mut table = HistogramTable::default();
    let (mut merged, mut elapsed, mut bytes) = (0u64, Duration::ZERO, 0usize);
    for (shard, &size) in shard_sizes.iter().enumerate() {
        let key = ShardKey {
            run: sebs_proto::RunId(1),
            shard: sebs_proto::ShardId(shard as u32),
            attempt: sebs_proto::Attempt(0),
        };
        let region = region_of(shard as u32)?;
        let frames: Vec<Vec<u8>> = chunks(0..size, batch)
            .map(|chunk| {
                let mut bytes = Vec::new();
                encode_from_worker(
                    &FromWorker::Report(Box::new(report(key, chunk))),
                    &mut bytes,
                );
                bytes
            })
            .collect();
        bytes += frames.iter().map(Vec::len).sum::<usize>();
        let mut ledger = ShardLedger::new(Some(0..size));
        let start = Instant::now();
        for bytes in &frames {
            let FromWorker::Report(report) = decode_from_worker(bytes)? else {
                bail!("a frame that is not a report");
            };
            let sequences: Vec<u64> = report.records.iter().map(|r| r.sequence).collect();
            if ledger.accept(report.key.attempt, &sequences) != Verdict::Accepted {
                bail!("the reference refused a report");
            }
            table.add(FUNCTION, &region, &report.delta);
            merged += sequences.len() as u64;
        }
        elapsed += start.elapsed();
    }
    Ok((
        merged as f64 / elapsed.as_secs_f64(),
        bytes as f64 / merged as f64,
    ))
}
