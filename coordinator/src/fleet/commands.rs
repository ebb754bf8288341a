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
use super::etcd;
use super::membership::{InMemoryMembership, Membership};
use super::membership_etcd::{EtcdMembership, Registration};
use super::prepare::{cache_dir, BenchmarkPreparer, SideFiles};
use super::shutdown::{self, Copies};
use super::state::{InMemoryStateStore, StateStore};
use super::state_etcd::EtcdStateStore;
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
    let scheme = if security.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let (membership, store, office) = fleet_stores(&args, &format!("{scheme}://{address}")).await?;
    let config = CoordinatorConfig {
        reassign_after: Duration::from_secs_f64(args.reassign_after),
        metrics,
        ..CoordinatorConfig::default()
    };
    let coordinator = Coordinator::new(
        config,
        membership,
        store,
        Some(Arc::new(BenchmarkPreparer::new(cache.clone(), side_files))),
    );
    // Runs a coordinator before this one left unfinished (with --etcd), before anyone can ask.
    let resumed = coordinator.resume_runs().await;
    let copies = Copies::default();
    let runs: Arc<dyn RunService> = match &args.results_dir {
        Some(dir) => {
            for run in resumed {
                match coordinator.watch(run).await {
                    Ok(events) => copies.add(keep_copy(run, events, dir.join(run.to_string()))),
                    Err(e) => tracing::warn!(%run, error = %e, "no copy of a resumed run"),
                }
            }
            Arc::new(KeepCopies {
                inner: coordinator.clone(),
                dir: dir.clone(),
                copies: copies.clone(),
            })
        }
        None => Arc::new(coordinator.clone()),
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
        _ = office_lost(office.as_ref()) => bail!(
            "lost the coordinator's lease in etcd ({}): another coordinator may take over; stopping",
            etcd::COORDINATOR
        ),
    }
    if let Some(office) = office {
        office.release().await;
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

type Stores = (
    Arc<dyn Membership>,
    Arc<dyn StateStore>,
    Option<etcd::LeasedKey>,
);

/// Membership and run state in memory, or (with `--etcd`) in etcd once this coordinator holds
/// the office there.
async fn fleet_stores(args: &CoordinatorArgs, url: &str) -> Result<Stores> {
    let Some(endpoints) = args.etcd.endpoints()? else {
        return Ok((
            Arc::new(InMemoryMembership::default()),
            Arc::new(InMemoryStateStore::default()),
            None,
        ));
    };
    let client = endpoints.connect().await?;
    let office = etcd::take_office(&client, &format!("{} {url}", default_name())).await?;
    Ok((
        EtcdMembership::start(client.clone()),
        Arc::new(EtcdStateStore::new(client)),
        Some(office),
    ))
}

/// Completes when the coordinator's office in etcd is lost; never without one.
async fn office_lost(office: Option<&etcd::LeasedKey>) {
    let Some(office) = office else {
        return std::future::pending().await;
    };
    let mut lease = office.watch();
    let _ = lease.wait_for(|l| *l == 0).await;
}

/// Writes `run`'s events into `dir` as a client would.
fn keep_copy(
    run: RunId,
    events: mpsc::Receiver<RunEvent>,
    dir: std::path::PathBuf,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = follow(events, &dir, false).await {
            tracing::warn!(%run, error = %format!("{e:#}"), "the run's copy in {} is incomplete", dir.display());
        }
    })
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
        self.copies
            .add(keep_copy(run, copy, self.dir.join(run.to_string())));
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
    // With --etcd the worker registers itself under its own lease before it attaches; the
    // lease is kept alive (and taken again if it is lost) in the background.
    let registration = match args.etcd.endpoints()? {
        Some(endpoints) => Some(register(&endpoints, &hello).await?),
        None => None,
    };
    let agent = WorkerAgent::new(hello, factories, spool).with_metrics(metrics);
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        terminated().await;
        lifecycle.draining();
        tracing::info!("stopping: finishing the invocations in flight");
        let _ = stop_tx.send(true);
    });
    // The agent attaches again by itself when its stream breaks; it returns when stopped.
    let outcome = agent.run(&fleet, stop).await;
    // Last in the drain: the lease goes, and with it the membership.
    release(registration).await;
    match outcome {
        Ok(()) => Ok(true),
        Err(FleetError::Unauthenticated(m) | FleetError::InvalidArgument(m)) => bail!(
            "the coordinator at {} refused this worker: {m}",
            args.coordinator
        ),
        Err(e) => bail!("worker {worker}: {e}"),
    }
}

/// Writes the worker's registration into etcd under a lease it keeps alive.
async fn register(endpoints: &etcd::EtcdEndpoints, hello: &WorkerHello) -> Result<etcd::LeasedKey> {
    let client = endpoints.connect().await?;
    let value = serde_json::to_vec(&Registration::of(hello))?;
    let mut key = etcd::LeasedKey::hold(
        client,
        etcd::member_key(&hello.worker),
        value,
        etcd::LEASE_TTL,
    );
    let lease = key.held().await;
    tracing::info!(worker = %hello.worker, lease, "registered in etcd");
    Ok(key)
}

/// Revokes the worker's lease in etcd, if it has one: it leaves the fleet at once.
async fn release(registration: Option<etcd::LeasedKey>) {
    if let Some(r) = registration {
        r.release().await;
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
