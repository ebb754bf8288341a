//! The embedded local platform: functions run as python3/node processes on this machine.
//!
//! It fixes what SeBS's local mode gets wrong: the handler itself is timed, cold starts are real
//! (a new process, detected by the wrapper), concurrent calls scale out to more instances, cold
//! starts can be enforced, memory is limited and its peak measured per invocation.

pub mod config;
pub mod connection;
pub mod gateway;
mod instance;
mod memory;
pub mod nosql;
mod nosql_api;
pub mod pool;
pub mod storage;
pub mod table;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use sebs_common::config::{Deployment, TriggerKind};
use sebs_common::Language;
use sebs_worker::RawInvocation;

use self::config::LocalConfig;
use self::instance::{Instance, InstanceSpec};
use self::storage::DirStorage;
use self::table::FunctionTable;
use sebs_platform::runtime::{check_version, find_python};
use sebs_platform::{
    DeployedFunction, FunctionSpec, ListedResource, NoSqlStorage, ObjectStorage, Platform,
    ProviderMetrics, Resource, TriggerFactory, TriggerSpec,
};

#[derive(Debug)]
pub struct LocalPlatform {
    config: LocalConfig,
    storage: Arc<DirStorage>,
    functions: FunctionTable<Instance>,
    runtime_dir: tempfile::TempDir,
}

impl LocalPlatform {
    /// Starts the gateway and the idle-instance reaper.
    pub async fn start(section: Option<&serde_json::Value>, cache_dir: &Path) -> Result<Self> {
        let config = LocalConfig::from_section(section).map_err(anyhow::Error::msg)?;
        let storage_dir = config
            .storage_dir
            .clone()
            .unwrap_or_else(|| cache_dir.join("local-storage"));
        std::fs::create_dir_all(&storage_dir)
            .with_context(|| format!("creating {}", storage_dir.display()))?;
        let storage_dir = storage_dir.canonicalize()?;
        let runtime_dir = tempfile::Builder::new().prefix("sebs-local-").tempdir()?;
        let functions = FunctionTable::start(
            &config.gateway_address,
            "deployment.local.gateway_address",
            config.idle_timeout(),
        )
        .await?;
        tracing::debug!(address = %functions.address(), storage = %storage_dir.display(), "local platform started");
        Ok(LocalPlatform {
            config,
            storage: Arc::new(DirStorage::new(storage_dir)),
            functions,
            runtime_dir,
        })
    }

    fn node(&self) -> PathBuf {
        self.config
            .node
            .clone()
            .unwrap_or_else(|| PathBuf::from("node"))
    }
}

#[async_trait]
impl Platform for LocalPlatform {
    fn deployment(&self) -> Deployment {
        Deployment::Local
    }

    fn storage(&self) -> Arc<dyn ObjectStorage> {
        self.storage.clone()
    }

    fn nosql(&self) -> Option<Arc<dyn NoSqlStorage>> {
        Some(self.functions.tables())
    }

    fn benchmarks_bucket(&self) -> &str {
        &self.config.bucket
    }

    fn python_for(&self, version: &str) -> Result<PathBuf> {
        find_python(self.config.python.as_deref(), version, "deployment.local")
    }

    async fn deploy(&self, spec: &FunctionSpec) -> Result<DeployedFunction> {
        let (program, server) = match spec.language {
            Language::Python => (self.python_for(&spec.language_version)?, "server.py"),
            Language::Nodejs => {
                let node = self.node();
                check_version(
                    &node,
                    Language::Nodejs,
                    &spec.language_version,
                    "deployment.local",
                )?;
                (node, "server.js")
            }
        };
        let instance_spec = InstanceSpec {
            function: spec.name.clone(),
            program,
            server,
            package_dir: spec.package_dir.clone(),
            storage_root: self.storage.root().to_path_buf(),
            runtime_dir: self.runtime_dir.path().join(&spec.name),
            memory_mb: spec.memory_mb,
            timeout: spec.timeout,
            startup_timeout: self.config.startup_timeout(),
            enforce_memory_limit: self.config.enforce_memory_limit,
            environment: self.functions.environment(spec),
        };
        tracing::debug!(function = %spec.name, package = %spec.package_hash, "deploying");
        self.functions
            .deploy(spec, instance_spec, self.config.max_instances)
    }

    fn trigger_spec(&self, function: &DeployedFunction, kind: TriggerKind) -> Result<TriggerSpec> {
        gateway::trigger_spec(Deployment::Local, function, kind)
    }

    fn provider_metrics(
        &self,
        _function: &DeployedFunction,
        raw: &RawInvocation,
    ) -> ProviderMetrics {
        gateway::provider_metrics(raw)
    }

    async fn enforce_cold_start(&self, function: &DeployedFunction) -> Result<()> {
        self.functions.enforce_cold_start(&function.name)
    }

    /// The buckets of the local storage: each is a folder sebs made under its storage root.
    /// Functions live only as long as the process, so they are never listed.
    async fn resources(&self) -> Result<Vec<ListedResource>> {
        self.storage.buckets()
    }

    async fn remove_resource(&self, resource: &Resource) -> Result<()> {
        if resource.kind != "bucket" {
            bail!(
                "the local platform has no {} `{}`",
                resource.kind,
                resource.name
            );
        }
        self.storage.remove_bucket(&resource.name)
    }

    async fn shutdown(&self) {
        self.functions.shutdown();
    }
}

/// Builds the local platform's triggers: HTTP to the gateway, replies read with its headers.
pub fn trigger_factory() -> Arc<dyn TriggerFactory> {
    gateway::trigger_factory(Deployment::Local)
}
