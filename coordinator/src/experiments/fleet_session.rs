//! Experiment sessions on a coordinator: `sebs experiment invoke --coordinator` runs the
//! experiment on the client, but the platform belongs to the coordinator. A session holds it (an
//! [`InProcess`] backend, used for its platform half only) from the experiment's first step to
//! its last, so that warm instances survive from one batch to the next and cold starts are
//! forced where the platform is. The experiment's invocations are jobs of the session
//! ([`SessionJob`]), which the fleet's workers run; their results are read with the session's
//! platform, as in one process.
//!
//! The client speaks [`Step`]s as JSON (`ExperimentCall::Step`); [`Opened`] is the reply to
//! `ExperimentCall::Open`. A session ends with [`Step::Close`], when the coordinator stops, or
//! once it has been idle (no step, no job running) for [`IDLE_LIMIT`]: its client is gone, and
//! its platform (a local platform's function instances) is stopped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use async_trait::async_trait;
use sebs_common::ExecutionResult;
use sebs_platform::DeployedFunction;
use sebs_proto::runs::{BenchmarkInvoke, ExperimentCall, SessionId, SessionJob};
use sebs_worker::engine::records::Record;
use sebs_worker::RawInvocation;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::watch;

use super::backend::{DeployRequest, ExperimentBackend, FunctionHandle, Prepared, Region};
use super::in_process::InProcess;
use crate::fleet::hooks::{self, JobHooks};
use crate::fleet::prepare::open_session;

/// One step of an open session, as the client sends it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) enum Step {
    /// The regions of the workers attached now: `{"worker_regions": [...]}`.
    Regions,
    /// Prepares the benchmark's input of `size` and builds its package: a [`Prepared`].
    Prepare { size: String },
    /// Creates or updates one function of what this session prepared (`prepared` names it by
    /// package hash and input size): a `FunctionHandle`. (A package with an added file,
    /// invocation-overhead's code sizes, is not sent over the network.)
    Deploy {
        prepared: Prepared,
        suffix: String,
        memory_mb: Option<u32>,
        region: Option<Region>,
    },
    /// Retires the function's warm instances: `{}`.
    ColdStart { function: FunctionHandle },
    /// Stops the session's platform: `{}`.
    Close,
}

impl Step {
    /// The step's name in messages.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Step::Regions => "regions",
            Step::Prepare { .. } => "prepare",
            Step::Deploy { .. } => "deploy",
            Step::ColdStart { .. } => "cold-start",
            Step::Close => "close",
        }
    }
}

/// The reply to opening a session.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Opened {
    pub session: u64,
    /// `--deployment`'s name.
    pub deployment: String,
    /// Where functions are deployed (one region: the platform's).
    pub deployment_regions: Vec<Region>,
    /// The regions of the workers attached when the session opened.
    pub worker_regions: Vec<Region>,
    pub benchmarks_bucket: String,
    /// The platform as the environment manifest describes it.
    pub describe: Value,
}

/// How long a session may go without a step or a running job before it is closed.
pub const IDLE_LIMIT: Duration = Duration::from_secs(30 * 60);

/// How often idle sessions are looked for.
const IDLE_CHECK: Duration = Duration::from_secs(60);

struct Open {
    backend: InProcess,
    /// What this session prepared: a deployment uses these, never paths a client sends.
    prepared: Mutex<Vec<Prepared>>,
    /// When a step or a job last used it.
    touched: Mutex<Instant>,
    /// Held so the backend's stop flag never fires: a session is stopped by `Close`.
    _stop: watch::Sender<bool>,
}

impl Open {
    fn touch(&self) {
        *self.touched.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// This session's own copy of what a client sends back as `prepared`.
    fn own(&self, prepared: &Prepared) -> Option<Prepared> {
        self.prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .rev()
            .find(|p| p.package_hash == prepared.package_hash && p.size == prepared.size)
            .cloned()
    }

    fn idle_for(&self) -> Duration {
        self.touched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }
}

type Sessions = Mutex<HashMap<SessionId, Arc<Open>>>;

/// The open sessions of a coordinator, which prepares benchmarks from the catalogue it finds
/// with `cache` as its cache.
pub struct ExperimentSessions {
    cache: PathBuf,
    open: Arc<Sessions>,
    /// Whether the task that closes idle sessions runs (started with the first session).
    reaping: AtomicBool,
}

impl std::fmt::Debug for ExperimentSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExperimentSessions")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl ExperimentSessions {
    pub fn new(cache: &Path) -> Self {
        ExperimentSessions {
            cache: cache.to_path_buf(),
            open: Arc::new(Mutex::new(HashMap::new())),
            reaping: AtomicBool::new(false),
        }
    }

    /// The open session `session`, marked as used now.
    fn session(&self, session: SessionId) -> Result<Arc<Open>> {
        let open = self
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&session)
            .cloned()
            .with_context(|| {
                format!("no experiment session {session} is open on this coordinator (closed, idle for {IDLE_LIMIT:?}, or the coordinator restarted)")
            })?;
        open.touch();
        Ok(open)
    }

    /// Opens a session or runs a step of one; `fleet_regions` are the workers' regions now.
    pub async fn call(&self, call: ExperimentCall, fleet_regions: Vec<Region>) -> Result<Value> {
        match call {
            ExperimentCall::Open(invoke) => self.open(*invoke, fleet_regions).await,
            ExperimentCall::Step { session, step } => {
                let step: Step = serde_json::from_value(step)
                    .with_context(|| format!("a step of experiment session {session}"))?;
                self.step(session, step, fleet_regions).await
            }
        }
    }

    async fn open(&self, invoke: BenchmarkInvoke, fleet_regions: Vec<Region>) -> Result<Value> {
        let session = open_session(&invoke, &self.cache).await?;
        let (stop, stopped) = watch::channel(false);
        let backend = InProcess::new(session, stopped);
        // Random, so that a client of a restarted coordinator never reaches another's session.
        let id = SessionId(rand::random::<u64>().max(1));
        let opened = Opened {
            session: id.0,
            deployment: backend.deployment().as_str().to_string(),
            deployment_regions: backend.regions().deployments,
            worker_regions: fleet_regions,
            benchmarks_bucket: backend.benchmarks_bucket(),
            describe: backend.describe(),
        };
        tracing::info!(session = %id, benchmark = %invoke.benchmark, "experiment session opened");
        let open = Open {
            backend,
            prepared: Mutex::new(Vec::new()),
            touched: Mutex::new(Instant::now()),
            _stop: stop,
        };
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, Arc::new(open));
        if !self.reaping.swap(true, Ordering::Relaxed) {
            tokio::spawn(close_idle(Arc::downgrade(&self.open)));
        }
        Ok(serde_json::to_value(opened)?)
    }

    async fn step(&self, session: SessionId, step: Step, fleet: Vec<Region>) -> Result<Value> {
        if let Step::Close = step {
            let open = self
                .open
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&session);
            if let Some(open) = open {
                open.backend.shutdown().await;
                tracing::info!(%session, "experiment session closed");
            }
            return Ok(json!({}));
        }
        let open = self.session(session)?;
        let backend = &open.backend;
        Ok(match step {
            Step::Regions => json!({ "worker_regions": fleet }),
            Step::Prepare { size } => {
                let prepared = backend.prepare(&size, None).await?;
                let reply = serde_json::to_value(&prepared)?;
                open.prepared
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(prepared);
                reply
            }
            Step::Deploy {
                prepared,
                suffix,
                memory_mb,
                region,
            } => {
                let prepared = open.own(&prepared).with_context(|| {
                    format!(
                        "session {session} did not prepare package {} ({} input)",
                        prepared.package_hash, prepared.size
                    )
                })?;
                let request = DeployRequest {
                    suffix,
                    memory_mb,
                    region,
                    extra_file: None,
                };
                serde_json::to_value(backend.deploy(&prepared, &request).await?)?
            }
            Step::ColdStart { function } => {
                backend.enforce_cold_start(&function).await?;
                json!({})
            }
            Step::Close => unreachable!("handled above"),
        })
    }

    /// A job of a session, read with its platform; the session outlives it.
    pub fn job(&self, job: SessionJob) -> Result<hooks::Prepared> {
        let session = self.session(job.session)?;
        let function = session.backend.deployed(&job.job.function)?;
        Ok(hooks::Prepared {
            title: format!("{} (experiment session {})", function.name, job.session),
            metadata: job.metadata,
            job: job.job,
            hooks: Arc::new(SessionHooks { session, function }),
        })
    }
}

/// Closes the sessions that have been idle for [`IDLE_LIMIT`] (a session a step or a job holds
/// is in use), until the sessions are dropped.
async fn close_idle(sessions: Weak<Sessions>) {
    loop {
        tokio::time::sleep(IDLE_CHECK).await;
        let Some(sessions) = sessions.upgrade() else {
            return;
        };
        let idle: Vec<(SessionId, Arc<Open>)> = {
            let mut open = sessions.lock().unwrap_or_else(|e| e.into_inner());
            let ids: Vec<SessionId> = open
                .iter()
                .filter(|(_, o)| Arc::strong_count(o) == 1 && o.idle_for() > IDLE_LIMIT)
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter()
                .filter_map(|id| open.remove(&id).map(|o| (id, o)))
                .collect()
        };
        for (session, open) in idle {
            tracing::warn!(%session, idle = ?open.idle_for(), "closing an idle experiment session: its client is gone");
            open.backend.shutdown().await;
        }
    }
}

/// A session job's hooks: results with the platform's metrics. The session keeps its platform
/// when the job ends; the job counts as a use of it.
struct SessionHooks {
    session: Arc<Open>,
    function: DeployedFunction,
}

#[async_trait]
impl JobHooks for SessionHooks {
    fn execution_result(&self, record: &Record, raw: &RawInvocation) -> ExecutionResult {
        self.session
            .backend
            .execution_result(&self.function, record.request_id.as_str(), raw)
    }

    async fn cleanup(&self) {
        self.session.touch();
    }
}
