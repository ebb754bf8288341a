//! `sebs coordinator` and `sebs worker`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use sebs_proto::fleet::WorkerHello;
use sebs_proto::grpc::{self, RemoteFleet};
use sebs_proto::runs::{ExperimentCall, RunEvent, Submission};
use sebs_proto::{FleetError, Region, RunId, RunService, WorkerId};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::cli::{CoordinatorArgs, ObserveArgs, WorkerArgs};
use super::coordinator::{Coordinator, CoordinatorConfig};
use super::membership::InMemoryMembership;
use super::prepare::{cache_dir, BenchmarkPreparer, SideFiles};
use super::shutdown::{self, Copies};
use super::state::InMemoryStateStore;
use super::worker::{SpoolConfig, WorkerAgent};
use crate::observe::http::{self as endpoints, CoordinatorProbe, Probe, WorkerProbe};
use crate::observe::{CoordinatorMetrics, Lifecycle, WorkerMetrics};
use crate::platforms;
use crate::results::follow::follow;

/// Serves workers and clients until Ctrl-C or SIGTERM, then shuts down in order
/// (`shutdown.rs`).
pub async fn coordinator(args: CoordinatorArgs) -> Result<bool> {
    let security = args.security()?;
    security.check(args.listen)?;
    let metrics = Arc::new(CoordinatorMetrics::default());
    let lifecycle = Arc::new(Lifecycle::default());
    let probe = CoordinatorProbe {
        metrics: metrics.clone(),
        lifecycle: lifecycle.clone(),
    };
    serve_endpoints(&args.observe, Arc::new(probe)).await?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("--listen: cannot bind {}", args.listen))?;
    let address = listener.local_addr()?;
    let cache = cache_dir(&args.cache)?;
    // What the coordinator's side of a benchmark writes (client-side records, downloaded
    // outputs) stays here, beside the run's copy when there is one.
    let side_files = SideFiles::PerRun(match &args.results_dir {
        Some(dir) => dir.clone(),
        None => cache.join("runs"),
    });
    let config = CoordinatorConfig {
        reassign_after: Duration::from_secs_f64(args.reassign_after),
        ..CoordinatorConfig::default()
    };
    let coordinator = Coordinator::new(
        CoordinatorConfig { metrics, ..config },
        Arc::new(InMemoryMembership::default()),
        Arc::new(InMemoryStateStore::default()),
        Some(Arc::new(BenchmarkPreparer::new(cache.clone(), side_files))),
    );
    let copies = Copies::default();
    let runs: Arc<dyn RunService> = match &args.results_dir {
        Some(dir) => Arc::new(KeepCopies {
            inner: coordinator.clone(),
            dir: dir.clone(),
            copies: copies.clone(),
        }),
        None => Arc::new(coordinator.clone()),
    };
    let scheme = if security.tls.is_some() {
        "https"
    } else {
        "http"
    };
    // The line tests and scripts read the address from (port 0 picks one).
    println!("sebs coordinator listening on {scheme}://{address}");
    tracing::info!(%address, tls = security.tls.is_some(), mutual_tls = security.client_ca_pem.is_some(), token = security.token.is_some(), "coordinator ready");
    let (stop_serving, serving_stopped) = tokio::sync::oneshot::channel::<()>();
    let mut served = tokio::spawn(grpc::serve(
        listener,
        security,
        Arc::new(coordinator.clone()),
        runs,
        async {
            let _ = serving_stopped.await;
        },
    ));
    // Ready: the listener is bound and whatever the coordinator depends on (its membership and
    // state stores) was set up above.
    lifecycle.serving();
    tokio::select! {
        result = &mut served => {
            result.context("the gRPC server panicked")??;
            return Ok(true);
        }
        _ = terminated() => tracing::info!("stopping the coordinator"),
    }
    let drain_timeout = Duration::from_secs(args.drain_timeout);
    shutdown::drain(
        &coordinator,
        &lifecycle,
        &copies,
        drain_timeout,
        terminated(),
    )
    .await;
    let _ = stop_serving.send(());
    match tokio::time::timeout(shutdown::SERVER_BOUND, served).await {
        Ok(result) => result.context("the gRPC server panicked")??,
        Err(_) => tracing::warn!("the gRPC server did not stop in time; leaving anyway"),
    }
    tracing::info!("coordinator stopped");
    Ok(true)
}

/// Starts the observability endpoints when `--metrics-listen` asks for them.
async fn serve_endpoints(args: &ObserveArgs, probe: Arc<dyn Probe>) -> Result<()> {
    if let Some(addr) = args.metrics_listen {
        endpoints::start(addr, probe).await?;
    }
    Ok(())
}

/// Completes at Ctrl-C or SIGTERM.
async fn terminated() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match &mut term {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

/// The coordinator's runs, each also written to `dir/<run id>/` as a client would write it.
struct KeepCopies {
    inner: Coordinator,
    dir: std::path::PathBuf,
    copies: Copies,
}

#[async_trait]
impl RunService for KeepCopies {
    async fn submit(
        &self,
        submission: Submission,
    ) -> Result<(RunId, mpsc::Receiver<RunEvent>), FleetError> {
        let (run, mut events) = self.inner.submit(submission).await?;
        let (to_client, client) = mpsc::channel(1024);
        let (to_copy, copy) = mpsc::channel(1024);
        let dir = self.dir.join(run.to_string());
        self.copies.add(tokio::spawn(async move {
            if let Err(e) = follow(copy, &dir, false).await {
                tracing::warn!(%run, error = %format!("{e:#}"), "the run's copy in {} is incomplete", dir.display());
            }
        }));
        tokio::spawn(async move {
            let mut client_gone = false;
            while let Some(event) = events.recv().await {
                if !client_gone && to_client.send(event.clone()).await.is_err() {
                    client_gone = true;
                }
                let _ = to_copy.send(event).await;
            }
        });
        Ok((run, client))
    }

    async fn watch(&self, run: RunId) -> Result<mpsc::Receiver<RunEvent>, FleetError> {
        self.inner.watch(run).await
    }

    async fn cancel(&self, run: RunId) -> Result<(), FleetError> {
        self.inner.cancel(run).await
    }

    async fn experiment(&self, call: ExperimentCall) -> Result<serde_json::Value, FleetError> {
        self.inner.experiment(call).await
    }
}

/// Attaches to the coordinator and serves it until Ctrl-C or SIGTERM, attaching again when
/// the coordinator goes away. A coordinator that refuses the worker ends it.
pub async fn worker(args: WorkerArgs) -> Result<bool> {
    let region = Region::new(&args.region).map_err(|e| anyhow::anyhow!("--region: {e}"))?;
    let name = match &args.name {
        Some(name) => name.clone(),
        None => default_name(),
    };
    let worker = WorkerId::new(name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    let address = args.security.address(&args.coordinator)?;
    let fleet = RemoteFleet::new(address);
    let factories = platforms::trigger_factories();
    let hello = WorkerHello {
        worker: worker.clone(),
        region,
        capacity: args.capacity.max(1),
        deployments: factories.deployments(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        session: 0,
    };
    let defaults = SpoolConfig::default();
    let spool = SpoolConfig {
        dir: args.spool.clone().unwrap_or(defaults.dir),
        memory: (args.spool_memory as usize) << 20,
    };
    let metrics = Arc::new(WorkerMetrics::default());
    let lifecycle = Arc::new(Lifecycle::default());
    let probe = WorkerProbe {
        metrics: metrics.clone(),
        lifecycle: lifecycle.clone(),
    };
    serve_endpoints(&args.observe, Arc::new(probe)).await?;
    let agent = WorkerAgent::new(hello, factories, spool).with_metrics(metrics);
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        terminated().await;
        lifecycle.draining();
        tracing::info!("stopping: finishing the invocations in flight");
        let _ = stop_tx.send(true);
    });
    // The agent attaches again by itself when its stream breaks; it returns when stopped.
    match agent.run(&fleet, stop).await {
        Ok(()) => Ok(true),
        Err(FleetError::Unauthenticated(m) | FleetError::InvalidArgument(m)) => bail!(
            "the coordinator at {} refused this worker: {m}",
            args.coordinator
        ),
        Err(e) => bail!("worker {worker}: {e}"),
    }
}

/// `<host>-<pid>`.
fn default_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    format!(
        "{}-{}",
        if host.is_empty() { "worker" } else { host },
        std::process::id()
    )
}
