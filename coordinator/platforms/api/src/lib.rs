//! What every FaaS platform offers sebs, as traits: deployment ([`Platform`]) and object storage
//! ([`ObjectStorage`]). Each platform is a crate of its own under `coordinator/platforms/<name>/`,
//! so that the heavy cloud SDKs are compiled only by the crate that needs them.
//!
//! To add a platform:
//! 1. make a crate `coordinator/platforms/<name>/` (`sebs-platform-<name>`) with its `config.rs`
//!    (a `deny_unknown_fields` struct parsed from `deployment.<name>` of the config file), its
//!    storage (an [`ObjectStorage`]) and its deployment code;
//! 2. put its function wrappers in `benchmarks/wrappers/<name>/<language>/` (the package builder
//!    picks them up by the platform name; see docs/local-protocol.md for what a wrapper does);
//! 3. implement [`Platform`] for it: `deploy` creates or updates the function from a built
//!    package, `trigger_spec` says how to invoke it, `provider_metrics` reads what the platform
//!    reports about an invocation, `enforce_cold_start` retires warm instances; and a
//!    [`TriggerFactory`] that builds its triggers from a [`TriggerSpec`] without starting the
//!    platform (workers use it), exposed as a plain constructor of the crate; `nosql` returns its
//!    [`NoSqlStorage`] (its `nosql` wrappers find a table's name in `NOSQL_STORAGE_TABLE_<table>`,
//!    which `FunctionSpec::environment` carries);
//! 4. add its line to the registry in the coordinator's `platforms.rs` (`create` and
//!    `trigger_factories`);
//! 5. if it needs credentials, describe them as [`credentials::CredentialField`]s and take them
//!    from [`credentials::resolve`] (environment, config file, cache; never logged);
//! 6. record what it creates on the platform in a [`ResourceLog`] and answer
//!    [`Platform::resources`] and [`Platform::remove_resource`] (`sebs resources list|remove`);
//! 7. run [`testing::storage_suite`] against its storage on a real server, and give it an
//!    end-to-end test.

pub mod archive;
pub mod credentials;
pub mod nosql;
pub mod resources;
pub mod runtime;
pub mod section;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;
pub mod trigger;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use async_trait::async_trait;
use sebs_common::config::{Deployment, TriggerKind};
use sebs_common::Language;
use sebs_worker::RawInvocation;

pub use crate::nosql::{Item, NoSqlError, NoSqlStorage, TableSpec};
pub use crate::resources::{ListedResource, Resource, ResourceLog, ResourceLogError};
pub use crate::storage::{check_key, DownloadFile, ObjectStorage, StorageError};
pub use crate::trigger::{BuiltTrigger, TriggerFactories, TriggerFactory, TriggerSpec};

/// A function to create or update from a built package.
#[derive(Clone, Debug)]
pub struct FunctionSpec {
    pub name: String,
    pub language: Language,
    pub language_version: String,
    pub package_dir: PathBuf,
    pub package_hash: String,
    pub memory_mb: u32,
    pub timeout: Duration,
    /// Environment variables the function gets (e.g. `NOSQL_STORAGE_TABLE_<table>`).
    pub environment: BTreeMap<String, String>,
}

/// A function the platform runs.
#[derive(Clone, Debug)]
pub struct DeployedFunction {
    pub name: String,
    pub memory_mb: u32,
    pub timeout: Duration,
    /// Where its HTTP trigger listens.
    pub url: String,
}

/// What the platform itself reports about one invocation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProviderMetrics {
    /// µs the platform measured the function run.
    pub execution_us: u64,
    /// µs spent starting an instance for this invocation (0 when warm).
    pub initialization_us: u64,
    /// Peak memory of the invocation, MB.
    pub memory_used_mb: f64,
    /// Billed duration, ms.
    pub billed_ms: u64,
    /// Failure the platform itself reported (timeout, crash, memory limit), with its message.
    pub error: Option<(sebs_common::ErrorKind, String)>,
}

#[async_trait]
pub trait Platform: Send + Sync + std::fmt::Debug {
    fn deployment(&self) -> Deployment;

    /// The storage benchmarks read inputs from and write outputs to.
    fn storage(&self) -> Arc<dyn ObjectStorage>;

    /// The NoSQL tables of benchmarks with the `nosql` module; `None` when the platform has
    /// none yet.
    fn nosql(&self) -> Option<Arc<dyn NoSqlStorage>> {
        None
    }

    /// The one bucket all benchmarks share.
    fn benchmarks_bucket(&self) -> &str;

    /// The Python interpreter of the function runtime (it installs Python dependencies).
    fn python_for(&self, version: &str) -> Result<PathBuf>;

    /// Creates the function, or updates it if it exists.
    async fn deploy(&self, spec: &FunctionSpec) -> Result<DeployedFunction>;

    /// How to invoke a deployed function, as data a worker turns into a trigger with this
    /// platform's [`TriggerFactory`]. An error names the kind when the platform has no such
    /// trigger.
    fn trigger_spec(&self, function: &DeployedFunction, kind: TriggerKind) -> Result<TriggerSpec>;

    /// Reads what the platform reported about an invocation.
    fn provider_metrics(&self, function: &DeployedFunction, raw: &RawInvocation)
        -> ProviderMetrics;

    /// Retires every warm instance of the function: its next invocations start cold.
    async fn enforce_cold_start(&self, function: &DeployedFunction) -> Result<()>;

    /// Stops whatever the platform runs in this process.
    async fn shutdown(&self);

    /// Metrics the platform logs after the fact (AWS's REPORT lines in CloudWatch Logs), for
    /// invocations whose replies did not carry them (HTTP triggers): by the platform's request
    /// id (the wrapper reply's `request_id`), for invocations between `window` (epoch seconds).
    /// Logs arrive with a delay; ids not found yet are missing from the map. The default, for
    /// platforms whose replies say everything, is an empty map.
    async fn provider_metrics_from_logs(
        &self,
        _function: &DeployedFunction,
        _request_ids: &[String],
        _window: (f64, f64),
    ) -> Result<HashMap<String, ProviderMetrics>> {
        Ok(HashMap::new())
    }

    /// What sebs created on this platform (functions, buckets, APIs, roles, ...), as recorded in
    /// its [`ResourceLog`] when it created them, each confirmed against the platform
    /// (`exists`). Listed in an order they can be removed in: what depends on another resource
    /// comes before it. Platforms that create nothing lasting keep the default, an empty list.
    async fn resources(&self) -> Result<Vec<ListedResource>> {
        Ok(Vec::new())
    }

    /// Deletes one resource that [`Platform::resources`] listed (nothing to do when it is
    /// already gone) and forgets it.
    async fn remove_resource(&self, resource: &Resource) -> Result<()> {
        bail!(
            "{} created no {} `{}` that it could remove",
            self.deployment(),
            resource.kind,
            resource.name
        )
    }

    /// Where the package builder installs a function's dependencies: `None` (the default) on
    /// this machine, with [`Platform::python_for`] and `npm`; or in the platform's own build
    /// environment, so that compiled dependencies match the runtime that loads them.
    fn dependency_installer(&self) -> Option<Arc<dyn DependencyInstaller>> {
        None
    }
}

/// Installs a package's dependencies in a platform's build environment (a build image).
/// Called by the package builder from blocking code.
pub trait DependencyInstaller: Send + Sync + std::fmt::Debug {
    /// Names the environment that builds `language` `version` (an image and its id), or fails
    /// saying how to provide it. It is part of the package hash: a new environment rebuilds.
    fn environment(&self, language: Language, version: &str) -> Result<String>;

    /// Installs the dependencies `dependency_file` lists (`requirements.txt*`, `package.json*`,
    /// a file inside `package_dir`) into `package_dir`, as the local layout has them
    /// (`.python_packages/`, `node_modules/`). Returns the build's output, for its log.
    fn install(
        &self,
        package_dir: &Path,
        language: Language,
        version: &str,
        dependency_file: &Path,
    ) -> Result<String>;
}
