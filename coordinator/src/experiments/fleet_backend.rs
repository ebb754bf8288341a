//! [`ExperimentBackend`] through a fleet: the experiment runs here and writes its files here,
//! the coordinator holds the platform in an experiment session (`fleet_session.rs`) and the
//! fleet's workers invoke.
//!
//! - preparing, deploying and forcing cold starts are steps of the session, so cold starts are
//!   forced by the coordinator that owns the platform, between batches as in one process;
//! - a batch of N is a job of the session: a closed load of N at concurrency N, whole replies
//!   kept, placed on the worker region it is sent from (the planner spreads it over that
//!   region's workers); its `ExecutionResult`s come back as they are accepted, each with the
//!   `origin` it was fired from;
//! - an open loop is a job of the session with the open load, placed by `--regions` (default:
//!   every worker, by capacity); its events are followed into the same files as `benchmark
//!   invoke --rate` writes (records.csv, latency.hlog, the .hgrm files, summary.json, and the
//!   fleet's latency-matrix.json and fleet.json).
//!
//! The worker regions an experiment sees are `--regions`' (in order) or those of the workers
//! attached when it starts (sorted); experiments that send from one region (perf-cost) take the
//! first. Client-side services and fetching outputs are not offered: the experiments that need
//! them are refused before anything starts (`mod.rs`).

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use bytes::Bytes;
use sebs_common::config::Deployment;
use sebs_common::ClientSideKind;
use sebs_proto::job::{ClosedLoad, JobSpec, Load, OpenLoad, Placement};
use sebs_proto::runs::{BenchmarkInvoke, ExperimentCall, RunEvent, SessionId, SessionJob};
use sebs_proto::{RunId, RunService};
use sebs_worker::client_side::{ClientSide, ClientSideOptions};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use super::backend::{
    DeployRequest, ExperimentBackend, FunctionHandle, OnResult, Prepared, Region, Regions,
};
use super::fleet_session::{Opened, Step};
use crate::load::{OpenLoopPlan, StatusFn};
use crate::results::follow::follow_with;

/// How long an experiment waits for the first worker to attach.
const WORKER_WAIT: Duration = Duration::from_secs(60);

pub struct FleetBackend {
    runs: Arc<dyn RunService>,
    coordinator: String,
    session: SessionId,
    opened: Opened,
    deployment: Deployment,
    /// The worker regions the experiment sees.
    workers: Vec<Region>,
    /// Where open loops are placed.
    placement: Placement,
    stop: watch::Receiver<bool>,
    succeeded: AtomicBool,
}

impl std::fmt::Debug for FleetBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetBackend")
            .field("coordinator", &self.coordinator)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl FleetBackend {
    /// Opens a session for `invoke`'s benchmark on the coordinator at `coordinator` (`runs`),
    /// and waits (up to a minute) until a worker is attached when `placement` names no regions.
    pub async fn open(
        runs: Arc<dyn RunService>,
        coordinator: &str,
        invoke: BenchmarkInvoke,
        placement: Placement,
        stop: watch::Receiver<bool>,
    ) -> Result<Self> {
        let reply = runs
            .experiment(ExperimentCall::Open(Box::new(invoke)))
            .await
            .with_context(|| format!("opening an experiment session on {coordinator}"))?;
        let opened: Opened = serde_json::from_value(reply)
            .context("the coordinator's reply to opening a session")?;
        let deployment = opened
            .deployment
            .parse()
            .map_err(|e: String| anyhow::anyhow!("the coordinator's deployment: {e}"))?;
        let mut backend = FleetBackend {
            runs,
            coordinator: coordinator.to_string(),
            session: SessionId(opened.session),
            workers: opened.worker_regions.clone(),
            opened,
            deployment,
            placement,
            stop,
            succeeded: AtomicBool::new(false),
        };
        if backend.placement.is_anywhere() {
            backend.workers = backend.wait_for_workers().await?;
        } else {
            backend.workers = backend
                .placement
                .regions()
                .iter()
                .map(|(r, _)| r.to_string())
                .collect();
        }
        tracing::info!(session = %backend.session, regions = ?backend.workers, "experiment session open");
        Ok(backend)
    }

    async fn wait_for_workers(&self) -> Result<Vec<Region>> {
        let deadline = Instant::now() + WORKER_WAIT;
        let mut regions = self.opened.worker_regions.clone();
        let mut told = false;
        while regions.is_empty() {
            if Instant::now() >= deadline {
                bail!(
                    "no worker attached to {} within {WORKER_WAIT:?}; start `sebs worker --coordinator {}` in each region",
                    self.coordinator, self.coordinator
                );
            }
            if !told {
                eprintln!("waiting for workers to attach to {}", self.coordinator);
                told = true;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            #[derive(serde::Deserialize)]
            struct Fleet {
                worker_regions: Vec<Region>,
            }
            regions = self.step::<Fleet>(Step::Regions).await?.worker_regions;
        }
        Ok(regions)
    }

    async fn step<T: DeserializeOwned>(&self, step: Step) -> Result<T> {
        let what = step.name();
        let reply = self
            .runs
            .experiment(ExperimentCall::Step {
                session: self.session,
                step: serde_json::to_value(step)?,
            })
            .await
            .map_err(|e| anyhow::anyhow!("coordinator {}: {e}", self.coordinator))?;
        serde_json::from_value(reply).with_context(|| format!("the coordinator's reply to {what}"))
    }

    /// Submits a job of the session; cancels it when the user stops the experiment.
    async fn submit(
        &self,
        job: JobSpec,
        metadata: Value,
    ) -> Result<(RunId, mpsc::Receiver<RunEvent>, CancelOnStop)> {
        let submission = sebs_proto::runs::Submission::SessionJob(Box::new(SessionJob {
            session: self.session,
            job,
            metadata,
        }));
        let (run, events) = self
            .runs
            .submit(submission)
            .await
            .map_err(|e| anyhow::anyhow!("coordinator {}: {e}", self.coordinator))?;
        let cancel = CancelOnStop::spawn(self.runs.clone(), run, self.stop.clone());
        Ok((run, events, cancel))
    }
}

/// Cancels a run when the stop flag is raised; dropped (aborted) when the run is over.
struct CancelOnStop(tokio::task::JoinHandle<()>);

impl CancelOnStop {
    fn spawn(runs: Arc<dyn RunService>, run: RunId, mut stop: watch::Receiver<bool>) -> Self {
        CancelOnStop(tokio::spawn(async move {
            if stop.wait_for(|s| *s).await.is_ok() {
                if let Err(e) = runs.cancel(run).await {
                    tracing::warn!(%run, error = %e, "cannot cancel the run");
                }
            }
        }))
    }
}

impl Drop for CancelOnStop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[async_trait]
impl ExperimentBackend for FleetBackend {
    fn deployment(&self) -> Deployment {
        self.deployment
    }

    fn regions(&self) -> Regions {
        Regions {
            workers: self.workers.clone(),
            deployments: self.opened.deployment_regions.clone(),
        }
    }

    fn client_address(&self) -> IpAddr {
        // Functions reach the workers' hosts, if anything; none of them is this one.
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }

    async fn prepare(&self, size: &str, client_url: Option<&str>) -> Result<Prepared> {
        if let Some(url) = client_url {
            bail!("a client side ({url}) runs beside the invoker, which through a fleet is a worker elsewhere; run without --coordinator");
        }
        self.step(Step::Prepare {
            size: size.to_string(),
        })
        .await
    }

    async fn deploy(&self, prepared: &Prepared, request: &DeployRequest) -> Result<FunctionHandle> {
        if let Some((file, _)) = &request.extra_file {
            bail!("a code package with an added file ({file}) is built in this process only; run without --coordinator");
        }
        self.step(Step::Deploy {
            prepared: prepared.clone(),
            suffix: request.suffix.clone(),
            memory_mb: request.memory_mb,
            region: request.region.clone(),
        })
        .await
    }

    async fn enforce_cold_start(&self, function: &FunctionHandle) -> Result<()> {
        self.step::<Value>(Step::ColdStart {
            function: function.clone(),
        })
        .await
        .map(drop)
    }

    async fn invoke_batch(
        &self,
        function: &FunctionHandle,
        payload: Bytes,
        n: u32,
        from: &Region,
        on_result: OnResult<'_>,
    ) -> Result<()> {
        let region = sebs_proto::Region::new(from.as_str())?;
        let job = JobSpec {
            function: function.name.clone(),
            trigger: function.trigger.clone(),
            payload,
            load: Load::Closed(ClosedLoad {
                invocations: u64::from(n),
                concurrency: n,
                batches: false,
            }),
            keep_outputs: true,
            placement: Placement::new(vec![(region, 1.0)])?,
        };
        let (run, mut events, _cancel) = self.submit(job, json!({})).await?;
        while let Some(event) = events.recv().await {
            match event {
                RunEvent::Records(batch) => {
                    for result in batch.iter().filter_map(|r| r.result.clone()) {
                        if result.error.is_none() {
                            self.succeeded.store(true, Ordering::Relaxed);
                        }
                        if let Err(e) = on_result(result) {
                            let _ = self.runs.cancel(run).await;
                            return Err(e);
                        }
                    }
                }
                RunEvent::Status(step) => tracing::info!("coordinator: {step}"),
                RunEvent::Finished(finished) => {
                    return match &finished.error {
                        Some(e) => bail!("a batch of {n} from {from} stopped early: {e}"),
                        None => Ok(()),
                    };
                }
                RunEvent::Failed(message) => bail!("a batch of {n} from {from}: {message}"),
                RunEvent::Accepted(_)
                | RunEvent::Started(_)
                | RunEvent::Interval(_)
                | RunEvent::Shard(_) => {}
            }
        }
        bail!("lost the batch's run before it finished (the coordinator went away)")
    }

    async fn open_loop(
        &self,
        function: &FunctionHandle,
        plan: &OpenLoopPlan,
        payload: Bytes,
        out_dir: &Path,
        metadata: Value,
        status: Option<StatusFn>,
    ) -> Result<Value> {
        let tasks = u32::try_from(plan.tasks).context("tasks: too many")?;
        let job = JobSpec {
            function: function.name.clone(),
            trigger: function.trigger.clone(),
            payload,
            load: Load::Open(OpenLoad {
                profile: plan.profile.clone(),
                arrival: plan.arrival,
                max_count: plan.max_count,
                tasks,
            }),
            keep_outputs: false,
            placement: self.placement.clone(),
        };
        let (_, events, _cancel) = self.submit(job, metadata).await?;
        if follow_with(events, out_dir, true, status).await? {
            self.succeeded.store(true, Ordering::Relaxed);
        }
        let path = out_dir.join("summary.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?)
    }

    async fn start_client_side(
        &self,
        _kind: ClientSideKind,
        _options: &ClientSideOptions,
    ) -> Result<ClientSide> {
        bail!("client-side services run beside the invoker, which through a fleet is a worker elsewhere; run without --coordinator")
    }

    async fn fetch_outputs(
        &self,
        _bucket: &str,
        _prefix: &str,
        _into: &Path,
    ) -> Result<Vec<PathBuf>> {
        bail!("the functions' outputs are in the coordinator's storage; run without --coordinator to download them")
    }

    fn benchmarks_bucket(&self) -> String {
        self.opened.benchmarks_bucket.clone()
    }

    fn stop_requested(&self) -> bool {
        *self.stop.borrow()
    }

    fn any_succeeded(&self) -> bool {
        self.succeeded.load(Ordering::Relaxed)
    }

    fn describe(&self) -> Value {
        let mut describe = self.opened.describe.clone();
        describe["fleet"] = json!({
            "coordinator": self.coordinator,
            "session": self.session.0,
            "worker_regions": self.workers,
            "placement": self.placement.to_string(),
        });
        describe
    }

    async fn shutdown(&self) {
        if let Err(e) = self.step::<Value>(Step::Close).await {
            tracing::warn!(session = %self.session, error = %format!("{e:#}"), "cannot close the experiment session");
        }
    }
}
