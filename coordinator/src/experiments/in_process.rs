//! [`ExperimentBackend`] with this process's machinery: the platform deploys, the closed loop
//! fires batches, the invocation engine drives open loops, client-side services run as tasks
//! here. On a coordinator, an experiment session (`fleet_session.rs`) holds one for its platform
//! half (prepare, deploy, cold starts) while the fleet's workers invoke.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use bytes::Bytes;
use sebs_common::config::Deployment;
use sebs_common::{ClientSideKind, ExecutionResult, Language};
use sebs_platform::{BuiltTrigger, DeployedFunction, FunctionSpec};
use sebs_worker::client_side::{ClientSide, ClientSideOptions};
use sebs_worker::{run_closed_loop, ClosedLoop, RawInvocation};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use super::backend::{
    DeployRequest, ExperimentBackend, FunctionHandle, OnResult, Prepared, Region, Regions,
};
use super::manifest::program_version;
use crate::commands::Session;
use crate::execution::execution_result;
use crate::inputs::InputSize;
use crate::load::{self, OpenLoopPlan, StatusFn};
use crate::platforms;

/// The region of the local platform.
pub const LOCAL_REGION: &str = "local";

pub struct InProcess {
    session: Session,
    stop: watch::Receiver<bool>,
    /// Per function name: the platform's view (for its metrics) and the live trigger.
    functions: Mutex<HashMap<String, (DeployedFunction, BuiltTrigger)>>,
    succeeded: AtomicBool,
    /// The one region this process reaches: `local`, or the platform's configured `region`.
    region: Region,
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcess")
            .field("benchmark", &self.session.benchmark.name)
            .finish_non_exhaustive()
    }
}

impl InProcess {
    pub fn new(session: Session, stop: watch::Receiver<bool>) -> Self {
        let run = &session.run;
        let region = match run.deployment {
            Deployment::Local => LOCAL_REGION.to_string(),
            other => run
                .platform_section
                .as_ref()
                .and_then(|s| s["region"].as_str())
                .map_or_else(|| other.to_string(), str::to_string),
        };
        InProcess {
            region,
            session,
            stop,
            functions: Mutex::new(HashMap::new()),
            succeeded: AtomicBool::new(false),
        }
    }

    /// The platform's view of a function this backend deployed.
    pub(crate) fn deployed(&self, name: &str) -> Result<DeployedFunction> {
        Ok(self.function(name)?.0)
    }

    /// SeBS's result of one invocation of `deployed`, with the platform's provider metrics.
    pub(crate) fn execution_result(
        &self,
        deployed: &DeployedFunction,
        request_id: &str,
        raw: &RawInvocation,
    ) -> ExecutionResult {
        let metrics = self.session.platform.provider_metrics(deployed, raw);
        execution_result(request_id, raw, &metrics, deployed.memory_mb)
    }

    fn function(&self, name: &str) -> Result<(DeployedFunction, BuiltTrigger)> {
        let functions = self.functions.lock().unwrap_or_else(|e| e.into_inner());
        functions
            .get(name)
            .cloned()
            .with_context(|| format!("function {name} was not deployed by this experiment"))
    }

    fn check_region(&self, region: Option<&Region>, role: &str) -> Result<Region> {
        match region {
            None => Ok(self.region.clone()),
            Some(r) if *r == self.region => Ok(r.clone()),
            Some(r) => bail!(
                "{role} region `{r}` needs the fleet (`--coordinator`); this process has only `{}`",
                self.region
            ),
        }
    }

    /// A copy of the package with `file` added, in the cache. Only the deployed copy of a
    /// package is kept (a sweep of code sizes up to 250 MiB would otherwise fill the disk).
    fn package_with(&self, prepared: &Prepared, name: &str, bytes: &[u8]) -> Result<PathBuf> {
        let packages = self.session.cache.join("experiments").join("packages");
        let stem = format!(
            "{}-{}-",
            prepared.function_name,
            &prepared.package_hash[..12.min(prepared.package_hash.len())]
        );
        let dir = packages.join(format!("{stem}{}", bytes.len()));
        if !dir.join(name).is_file() {
            let staging = packages.join(format!("{stem}partial"));
            let _ = std::fs::remove_dir_all(&staging);
            copy_tree(&prepared.package_dir, &staging)?;
            std::fs::write(staging.join(name), bytes)?;
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::rename(&staging, &dir)
                .with_context(|| format!("creating {}", dir.display()))?;
        }
        Ok(dir)
    }

    /// Removes the other copies of the package `kept` is a copy of (once `kept` is deployed,
    /// no instance runs from them any more).
    fn remove_other_copies(kept: &Path) {
        let (Some(packages), Some(name)) =
            (kept.parent(), kept.file_name().and_then(|n| n.to_str()))
        else {
            return;
        };
        let stem = &name[..name.rfind('-').map_or(0, |i| i + 1)];
        for entry in std::fs::read_dir(packages).into_iter().flatten().flatten() {
            let path = entry.path();
            if path != kept
                && entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(stem))
            {
                let _ = std::fs::remove_dir_all(&path);
            }
        }
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

fn input_size(size: &str) -> Result<InputSize> {
    Ok(match size {
        "test" => InputSize::Test,
        "small" => InputSize::Small,
        "large" => InputSize::Large,
        other => bail!("`{other}` is not an input size: expected test, small or large"),
    })
}

#[async_trait]
impl ExperimentBackend for InProcess {
    fn deployment(&self) -> Deployment {
        self.session.platform.deployment()
    }

    fn regions(&self) -> Regions {
        Regions {
            workers: vec![self.region.clone()],
            deployments: vec![self.region.clone()],
        }
    }

    fn client_address(&self) -> IpAddr {
        match self.deployment() {
            Deployment::Local => IpAddr::V4(Ipv4Addr::LOCALHOST),
            // Functions in the cloud reach this machine, if at all, on a public address.
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }

    async fn prepare(&self, size: &str, client_url: Option<&str>) -> Result<Prepared> {
        let inputs = self.session.input_preparer()?;
        let input = self
            .session
            .prepare_input(&inputs, input_size(size)?, client_url)
            .await?;
        let package = self.session.build_package().await?;
        let config = &self.session.benchmark.config;
        Ok(Prepared {
            benchmark: self.session.benchmark.name.clone(),
            size: size.to_string(),
            event: input.event,
            package_dir: package.dir,
            package_hash: package.meta.hash,
            memory_mb: self.session.run.memory.unwrap_or(config.memory),
            timeout_s: self.session.run.timeout.unwrap_or(config.timeout),
            function_name: self.session.function_name(),
            environment: input.environment,
        })
    }

    async fn deploy(&self, prepared: &Prepared, request: &DeployRequest) -> Result<FunctionHandle> {
        let region = self.check_region(request.region.as_ref(), "deployment")?;
        let name = format!("{}{}", prepared.function_name, request.suffix);
        let (package_dir, package_hash) = match &request.extra_file {
            None => (prepared.package_dir.clone(), prepared.package_hash.clone()),
            Some((file, bytes)) => (
                self.package_with(prepared, file, bytes)?,
                format!("{}+{file}:{}", prepared.package_hash, bytes.len()),
            ),
        };
        let spec = FunctionSpec {
            name,
            language: self.session.run.language,
            language_version: self.session.run.language_version.clone(),
            package_dir,
            package_hash,
            memory_mb: request.memory_mb.unwrap_or(prepared.memory_mb),
            timeout: Duration::from_secs(u64::from(prepared.timeout_s)),
            environment: prepared.environment.clone(),
        };
        let platform = &self.session.platform;
        let deployed = platform.deploy(&spec).await?;
        if request.extra_file.is_some() {
            Self::remove_other_copies(&spec.package_dir);
        }
        let trigger = platform.trigger_spec(&deployed, self.session.run.trigger)?;
        let built = platforms::trigger_factories().build(&trigger)?;
        self.functions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(deployed.name.clone(), (deployed.clone(), built));
        Ok(FunctionHandle {
            name: deployed.name,
            memory_mb: deployed.memory_mb,
            region,
            trigger,
        })
    }

    async fn enforce_cold_start(&self, function: &FunctionHandle) -> Result<()> {
        let (deployed, _) = self.function(&function.name)?;
        self.session.platform.enforce_cold_start(&deployed).await
    }

    async fn invoke_batch(
        &self,
        function: &FunctionHandle,
        payload: Bytes,
        n: u32,
        from: &Region,
        on_result: OnResult<'_>,
    ) -> Result<()> {
        self.check_region(Some(from), "worker")?;
        let (deployed, built) = self.function(&function.name)?;
        let plan = ClosedLoop {
            invocations: u64::from(n),
            concurrency: n,
            batches: false,
        };
        let (tx, mut rx) = mpsc::channel(n.max(1) as usize);
        let driver = tokio::spawn(run_closed_loop(
            plan,
            built.trigger,
            payload,
            None,
            tx,
            self.stop.clone(),
        ));
        while let Some(done) = rx.recv().await {
            let result = self.execution_result(&deployed, &done.request_id, &done.raw);
            if result.error.is_none() {
                self.succeeded.store(true, Ordering::Relaxed);
            }
            on_result(result)?;
        }
        driver.await?.map_err(anyhow::Error::msg)?;
        Ok(())
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
        let (_, built) = self.function(&function.name)?;
        let outcome = load::record(
            plan,
            built.trigger,
            built.reader,
            payload,
            out_dir,
            metadata,
            self.stop.clone(),
            status,
        )
        .await?;
        if outcome.any_succeeded {
            self.succeeded.store(true, Ordering::Relaxed);
        }
        Ok(outcome.summary)
    }

    async fn start_client_side(
        &self,
        kind: ClientSideKind,
        options: &ClientSideOptions,
    ) -> Result<ClientSide> {
        let ip = self.client_address();
        ClientSide::start(kind, ip, options)
            .await
            .with_context(|| format!("starting the {} client side on {ip}", kind.as_str()))
    }

    async fn fetch_outputs(&self, bucket: &str, prefix: &str, into: &Path) -> Result<Vec<PathBuf>> {
        let storage = self.session.platform.storage();
        std::fs::create_dir_all(into).with_context(|| format!("creating {}", into.display()))?;
        let mut files = Vec::new();
        for key in storage.list(bucket, prefix).await? {
            let name = key.rsplit('/').next().unwrap_or(&key);
            let to = into.join(name);
            storage.download(bucket, &key, &to).await?;
            files.push(to);
        }
        Ok(files)
    }

    fn benchmarks_bucket(&self) -> String {
        self.session.platform.benchmarks_bucket().to_string()
    }

    fn stop_requested(&self) -> bool {
        *self.stop.borrow()
    }

    fn any_succeeded(&self) -> bool {
        self.succeeded.load(Ordering::Relaxed)
    }

    fn describe(&self) -> Value {
        let run = &self.session.run;
        let runtime = match run.language {
            Language::Python => self
                .session
                .platform
                .python_for(&run.language_version)
                .ok()
                .and_then(|python| program_version(&python)),
            Language::Nodejs => program_version(Path::new("node")),
        };
        json!({
            "runtime": runtime,
            "deployment": run.deployment.as_str(),
            "regions": [self.region],
            "trigger": run.trigger.as_str(),
            "language": run.language.as_str(),
            "language_version": run.language_version,
            "architecture": run.architecture,
            "settings": run.platform_section,
            "benchmark": self.session.benchmark.name,
        })
    }

    async fn shutdown(&self) {
        self.session.platform.shutdown().await;
    }
}
