//! Google Cloud Functions (2nd gen): functions built from a source zip by Cloud Functions and run
//! as Cloud Run services, deployed through the Cloud Functions v2 REST API; Cloud Storage for
//! the data.
//!
//! `start` reads the service account ([`credentials`]) and signs in. `deploy` uploads the
//! package ([`package`]) and creates or patches the function ([`functions`]) unless it already
//! runs this package (a label holds the package hash), then lets everyone invoke it, as SeBS
//! does. A cold start is forced by changing the `cold_start` environment variable: the new
//! revision starts new instances.

pub mod config;
pub mod credentials;
pub mod functions;
pub mod package;
pub mod storage;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use sebs_common::config::{Deployment, TriggerKind};
use sebs_platform::{
    BuiltTrigger, DeployedFunction, FunctionSpec, ListedResource, ObjectStorage, Platform,
    ProviderMetrics, Resource, ResourceLog, TriggerFactory, TriggerSpec,
};
use sebs_worker::engine::WrapperReader;
use sebs_worker::RawInvocation;
use serde_json::{json, Value};

use crate::config::GcpConfig;
use crate::credentials::ServiceAccount;
use crate::functions::CloudFunctions;
use crate::storage::GcsStorage;

/// The label that holds (a prefix of) the deployed package's hash.
const HASH_LABEL: &str = "sebs-package-hash";
/// The environment variable the wrapper reports back as `cold_start_var`.
const COLD_START_VARIABLE: &str = "cold_start";
/// The longest timeout of an HTTP function, seconds.
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
/// How long a client waits beyond the function's timeout.
const CLIENT_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct GcpPlatform {
    config: GcpConfig,
    api: CloudFunctions,
    storage: Arc<GcsStorage>,
    bucket: String,
    log: ResourceLog,
}

impl GcpPlatform {
    /// Reads the service account, signs in, and creates the benchmarks' bucket unless it exists.
    pub async fn start(section: Option<&serde_json::Value>, cache_dir: &Path) -> Result<Self> {
        let config = GcpConfig::from_section(section).map_err(anyhow::Error::msg)?;
        let account = ServiceAccount::resolve(
            config.credentials.as_deref(),
            config.project_name.as_deref(),
            cache_dir,
        )?;
        let tokens = account.tokens().await?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .timeout(Duration::from_secs(300))
            .build()
            .context("building the HTTP client")?;
        let storage = GcsStorage::with_service_account(
            &config.endpoints.storage,
            &account.project,
            &config.region,
            account.key_json(),
        )
        .await
        .map_err(anyhow::Error::msg)?;
        // Project ids are unique across Google Cloud, so this bucket name is too.
        let bucket: String = format!("sebs-benchmarks-{}", account.project)
            .chars()
            .take(63)
            .collect();
        let bucket = bucket.trim_end_matches('-').to_string();
        let log = ResourceLog::open(cache_dir, &format!("gcp-{}", config.region))?;
        if !storage.bucket_exists(&bucket).await? {
            storage.create_bucket(&bucket).await?;
            log.record(Resource::new("bucket", &bucket, None))?;
        }
        tracing::debug!(project = %account.project, region = %config.region, account = %account.email, "gcp platform ready");
        Ok(GcpPlatform {
            api: CloudFunctions {
                http,
                functions_endpoint: config.endpoints.functions.clone(),
                run_endpoint: config.endpoints.run.clone(),
                tokens,
                project: account.project.clone(),
                region: config.region.clone(),
                poll: config.poll_interval(),
                timeout: config.operation_timeout(),
            },
            storage: Arc::new(storage),
            bucket,
            config,
            log,
        })
    }

    /// The function's resource, as Cloud Functions takes it.
    fn function_body(
        &self,
        spec: &FunctionSpec,
        source: Option<&Value>,
        environment: &BTreeMap<String, String>,
    ) -> Value {
        let mut body = json!({
            "name": self.api.function_name(&spec.name),
            "environment": "GEN_2",
            "labels": {HASH_LABEL: hash_label(&spec.package_hash)},
            "buildConfig": {
                "runtime": package::runtime_id(spec.language, &spec.language_version),
                "entryPoint": "handler"
            },
            "serviceConfig": {
                "availableMemory": format!("{}Mi", spec.memory_mb),
                "timeoutSeconds": spec.timeout.min(MAX_TIMEOUT).as_secs(),
                "environmentVariables": environment,
                "ingressSettings": "ALLOW_ALL",
                "allTrafficOnLatestRevision": true
            }
        });
        if let Some(source) = source {
            body["buildConfig"]["source"] = json!({ "storageSource": source });
        }
        body
    }
}

/// Label values are at most 63 lowercase characters.
fn hash_label(hash: &str) -> String {
    hash.to_ascii_lowercase().chars().take(63).collect()
}

/// A function's environment variables.
fn environment(function: &Value) -> BTreeMap<String, String> {
    function["serviceConfig"]["environmentVariables"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Function ids: a lowercase letter, then up to 62 lowercase letters, digits and hyphens, not
/// ending in a hyphen.
fn check_function_id(name: &str) -> Result<()> {
    let ok = name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        bail!("`{name}` cannot name a Cloud Function (a lowercase letter, then at most 62 lowercase letters, digits or hyphens)");
    }
    Ok(())
}

#[async_trait]
impl Platform for GcpPlatform {
    fn deployment(&self) -> Deployment {
        Deployment::Gcp
    }

    fn storage(&self) -> Arc<dyn ObjectStorage> {
        self.storage.clone()
    }

    fn benchmarks_bucket(&self) -> &str {
        &self.bucket
    }

    fn python_for(&self, version: &str) -> Result<PathBuf> {
        // Dependencies are installed here, by the interpreter of the function's version, so
        // that their wheels match the cloud's runtime.
        sebs_platform::runtime::find_python(None, version, "deployment.gcp")
    }

    async fn deploy(&self, spec: &FunctionSpec) -> Result<DeployedFunction> {
        check_function_id(&spec.name)?;
        let api = &self.api;
        let existing = api.get(&spec.name).await?;
        let mut env = existing.as_ref().map(environment).unwrap_or_default();
        env.entry(COLD_START_VARIABLE.to_string()).or_default();
        // The function's own variables (NoSQL table names, ...).
        env.extend(spec.environment.clone());
        let env_changed = existing.as_ref().is_some_and(|f| environment(f) != env);
        let upload = || async {
            let zip = package::source_zip(&spec.package_dir, spec.language)?;
            api.upload_source(zip).await
        };
        match &existing {
            None => {
                tracing::info!(function = %spec.name, "creating cloud function");
                let source = upload().await?;
                api.create(&spec.name, &self.function_body(spec, Some(&source), &env))
                    .await?;
                self.log.record(Resource::new(
                    "function",
                    &spec.name,
                    Some(self.api.function_name(&spec.name)),
                ))?;
            }
            Some(function) if function["labels"][HASH_LABEL] != hash_label(&spec.package_hash) => {
                tracing::info!(function = %spec.name, "updating the cloud function's code");
                let source = upload().await?;
                let mask = "buildConfig.source,buildConfig.runtime,buildConfig.entryPoint,labels,\
                            serviceConfig.availableMemory,serviceConfig.timeoutSeconds,\
                            serviceConfig.environmentVariables";
                api.patch(
                    &spec.name,
                    &self.function_body(spec, Some(&source), &env),
                    mask,
                )
                .await?;
            }
            Some(function) => {
                let memory = format!("{}Mi", spec.memory_mb);
                let timeout = spec.timeout.min(MAX_TIMEOUT).as_secs();
                let config = &function["serviceConfig"];
                if config["availableMemory"] != memory.as_str()
                    || config["timeoutSeconds"] != timeout
                    || env_changed
                {
                    tracing::info!(function = %spec.name, memory = %memory, timeout, "updating the cloud function's configuration");
                    let mut mask =
                        "serviceConfig.availableMemory,serviceConfig.timeoutSeconds".to_string();
                    if env_changed {
                        mask.push_str(",serviceConfig.environmentVariables");
                    }
                    api.patch(&spec.name, &self.function_body(spec, None, &env), &mask)
                        .await?;
                } else {
                    tracing::info!(function = %spec.name, "cloud function already runs this package");
                }
            }
        }
        let function = api.get(&spec.name).await?.with_context(|| {
            format!("function {} is gone right after its deployment", spec.name)
        })?;
        let config = &function["serviceConfig"];
        let url = config["uri"].as_str().with_context(|| {
            format!(
                "function {} has no URL (state {})",
                spec.name, function["state"]
            )
        })?;
        if self.config.allow_unauthenticated {
            let service = config["service"]
                .as_str()
                .with_context(|| format!("function {} names no Cloud Run service", spec.name))?;
            api.allow_public(service).await?;
        }
        Ok(DeployedFunction {
            name: spec.name.clone(),
            memory_mb: spec.memory_mb,
            timeout: spec.timeout.min(MAX_TIMEOUT),
            url: url.to_string(),
        })
    }

    fn trigger_spec(&self, function: &DeployedFunction, kind: TriggerKind) -> Result<TriggerSpec> {
        if kind != TriggerKind::Http {
            bail!("2nd-gen Cloud Functions have only the `http` trigger, not `{kind}`");
        }
        Ok(TriggerSpec {
            deployment: Deployment::Gcp,
            kind,
            function: function.name.clone(),
            url: Some(function.url.clone()),
            timeout: function.timeout + CLIENT_GRACE,
            settings: Value::Null,
        })
    }

    fn provider_metrics(
        &self,
        _function: &DeployedFunction,
        _raw: &RawInvocation,
    ) -> ProviderMetrics {
        // The reply carries no execution report; Cloud Logging has one, which sebs does not
        // read (see README.md).
        ProviderMetrics::default()
    }

    async fn enforce_cold_start(&self, function: &DeployedFunction) -> Result<()> {
        let current = self
            .api
            .get(&function.name)
            .await?
            .with_context(|| format!("function {} does not exist", function.name))?;
        let mut env = environment(&current);
        env.insert(
            COLD_START_VARIABLE.to_string(),
            format!("{:08x}", rand::random::<u32>()),
        );
        let body = json!({
            "name": self.api.function_name(&function.name),
            "serviceConfig": {"environmentVariables": env}
        });
        // A new revision: the old one's warm instances no longer get requests.
        self.api
            .patch(&function.name, &body, "serviceConfig.environmentVariables")
            .await
    }

    async fn shutdown(&self) {}

    async fn resources(&self) -> Result<Vec<ListedResource>> {
        // Functions before the bucket; newest first within a kind.
        let mut recorded = self.log.list()?;
        recorded.reverse();
        recorded.sort_by_key(|r| r.kind != "function");
        let mut listed = Vec::with_capacity(recorded.len());
        for resource in recorded {
            let exists = match resource.kind.as_str() {
                "function" => self.api.get(&resource.name).await?.is_some(),
                "bucket" => self.storage.bucket_exists(&resource.name).await?,
                other => bail!("the resource record has an unknown Google Cloud kind `{other}`"),
            };
            listed.push(ListedResource { resource, exists });
        }
        Ok(listed)
    }

    async fn remove_resource(&self, resource: &Resource) -> Result<()> {
        match resource.kind.as_str() {
            "function" => self.api.delete(&resource.name).await?,
            "bucket" => self.storage.delete_bucket(&resource.name).await?,
            other => bail!("sebs does not know how to remove a {other} on Google Cloud"),
        }
        self.log.forget(&resource.kind, &resource.name)?;
        tracing::info!(kind = %resource.kind, name = %resource.name, "removed");
        Ok(())
    }
}

/// Builds Google Cloud's triggers: plain HTTP to the function's URL.
pub fn trigger_factory() -> Arc<dyn TriggerFactory> {
    Arc::new(GcpTriggers)
}

#[derive(Debug)]
struct GcpTriggers;

impl TriggerFactory for GcpTriggers {
    fn deployment(&self) -> Deployment {
        Deployment::Gcp
    }

    fn build(&self, spec: &TriggerSpec) -> Result<BuiltTrigger> {
        let url = spec
            .url
            .as_deref()
            .filter(|_| spec.kind == TriggerKind::Http)
            .with_context(|| {
                format!(
                    "gcp trigger of `{}`: expected an http trigger with a url",
                    spec.function
                )
            })?;
        Ok(BuiltTrigger {
            trigger: Arc::new(sebs_platform::tls::http_trigger(url, spec.timeout)?),
            reader: Arc::new(WrapperReader),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_ids_follow_cloud_functions_rules() {
        assert!(check_function_id("sebs-110-dynamic-html-python-3-11").is_ok());
        for bad in ["110-x", "Upper", "a-", &"a".repeat(64)] {
            assert!(check_function_id(bad).is_err(), "{bad}");
        }
    }
}
