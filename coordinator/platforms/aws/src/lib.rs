//! AWS Lambda: functions deployed from zip packages, invoked through their function URLs or the
//! Lambda API, S3 as the benchmarks' storage, metrics from Lambda's REPORT log lines.
//!
//! The AWS SDK is compiled by this crate only. Every service can be pointed at one endpoint
//! (`deployment.aws.endpoint_url`), which is how the tests run against moto.

pub mod clients;
pub mod config;
pub mod functions;
pub mod invoke;
pub mod logs;
pub mod package;
pub mod report;
mod resources;
pub mod role;
pub mod storage;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::retry::RetryConfig;
use sebs_common::config::{Deployment, TriggerKind};
use sebs_common::Architecture;
use sebs_platform::credentials;
use sebs_platform::{
    BuiltTrigger, DeployedFunction, FunctionSpec, ListedResource, ObjectStorage, Platform,
    ProviderMetrics, Resource, ResourceLog, TriggerFactory, TriggerSpec,
};
use sebs_worker::RawInvocation;
use serde::{Deserialize, Serialize};

use self::clients::Connection;
use self::config::{AwsConfig, CREDENTIAL_FIELDS};
use self::functions::{CodeUpload, Deployed, LambdaSettings};
use self::invoke::{LambdaReplyReader, LibraryTrigger};
use self::package::LambdaLimits;
use self::storage::S3Storage;

/// How long a trigger waits beyond the function's own timeout.
const CLIENT_GRACE: Duration = Duration::from_secs(30);
/// Lambda's smallest memory size.
const MIN_MEMORY_MB: u32 = 128;

#[derive(Debug)]
pub struct AwsPlatform {
    config: AwsConfig,
    lambda: aws_sdk_lambda::Client,
    iam: aws_sdk_iam::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    storage: Arc<S3Storage>,
    log: ResourceLog,
    bucket: String,
    cache_dir: PathBuf,
    architecture: Architecture,
    limits: LambdaLimits,
    /// The execution role's ARN, found or made at the first deployment.
    role: tokio::sync::OnceCell<(String, bool)>,
}

impl AwsPlatform {
    /// Reads `deployment.aws` and the credentials; makes no request to AWS yet.
    pub async fn start(
        section: Option<&serde_json::Value>,
        cache_dir: &Path,
        architecture: Architecture,
    ) -> Result<Self> {
        let config = AwsConfig::from_section(section).map_err(anyhow::Error::msg)?;
        let connection = Connection::new(&config, cache_dir)?;
        let log = ResourceLog::open(cache_dir, &format!("aws-{}", config.region))?;
        let bucket = config
            .bucket
            .clone()
            .unwrap_or_else(|| format!("sebs-benchmarks-{}", log.deployment_id()));
        let storage = Arc::new(S3Storage::new(connection.s3(), &config.region, log.clone()));
        Ok(AwsPlatform {
            lambda: connection.lambda(),
            iam: connection.iam(),
            logs: connection.logs(),
            storage,
            bucket,
            cache_dir: cache_dir.to_path_buf(),
            architecture,
            limits: LambdaLimits::default(),
            role: tokio::sync::OnceCell::new(),
            config,
            log,
        })
    }

    /// Other size limits than Lambda's (tests use tiny ones to take the S3 path).
    pub fn with_limits(mut self, limits: LambdaLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn lambda(&self) -> &aws_sdk_lambda::Client {
        &self.lambda
    }

    pub fn resource_log(&self) -> &ResourceLog {
        &self.log
    }

    /// Deploys and says what was done (created, code or configuration updated, unchanged).
    pub async fn deploy_function(
        &self,
        spec: &FunctionSpec,
    ) -> Result<(DeployedFunction, Deployed)> {
        if spec.memory_mb < MIN_MEMORY_MB {
            bail!(
                "memory: Lambda functions have at least {MIN_MEMORY_MB} MB, {} MB was asked for",
                spec.memory_mb
            );
        }
        let (role_arn, role_is_new) = self
            .role
            .get_or_try_init(|| {
                role::ensure_role(&self.iam, self.config.lambda_role.as_deref(), &self.log)
            })
            .await?
            .clone();
        let zip_dir = self.cache_dir.join("aws").join("code").join(&spec.name);
        let zip_path = zip_dir.join(format!("{}.zip", spec.package_hash));
        let zip = tokio::task::block_in_place(|| {
            package::lambda_zip(&spec.package_dir, spec.language, &zip_path, &self.limits)
        })?;
        remove_other_zips(&zip_dir, &zip_path);
        let settings = LambdaSettings {
            spec,
            architecture: self.architecture,
            role_arn: &role_arn,
            role_is_new,
        };
        let upload = CodeUpload {
            storage: &self.storage,
            bucket: &self.bucket,
            limits: self.limits,
        };
        let (conf, done) = functions::deploy(&self.lambda, &settings, &zip, &upload).await?;
        if done == Deployed::Created {
            self.log.record(Resource::new(
                "function",
                &spec.name,
                conf.function_arn().map(str::to_string),
            ))?;
        }
        let url = functions::ensure_url(&self.lambda, &spec.name).await?;
        tracing::debug!(function = %spec.name, ?done, zip_bytes = zip.size, "deployed");
        Ok((
            DeployedFunction {
                name: spec.name.clone(),
                memory_mb: spec.memory_mb,
                timeout: spec.timeout,
                url,
            },
            done,
        ))
    }

    fn settings(&self, with_cache: bool) -> TriggerSettings {
        TriggerSettings {
            region: self.config.region.clone(),
            endpoint_url: self.config.endpoint_url.clone(),
            credentials_cache: with_cache.then(|| self.cache_dir.clone()),
        }
    }
}

/// Zips of older packages of the same function are not needed again.
fn remove_other_zips(dir: &Path, keep: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path != keep && path.extension().is_some_and(|e| e == "zip") {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

#[async_trait]
impl Platform for AwsPlatform {
    fn deployment(&self) -> Deployment {
        Deployment::Aws
    }

    fn storage(&self) -> Arc<dyn ObjectStorage> {
        self.storage.clone()
    }

    fn benchmarks_bucket(&self) -> &str {
        &self.bucket
    }

    fn python_for(&self, version: &str) -> Result<PathBuf> {
        sebs_platform::runtime::find_python(None, version, "deployment.aws")
    }

    async fn deploy(&self, spec: &FunctionSpec) -> Result<DeployedFunction> {
        Ok(self.deploy_function(spec).await?.0)
    }

    fn trigger_spec(&self, function: &DeployedFunction, kind: TriggerKind) -> Result<TriggerSpec> {
        let (url, settings) = match kind {
            TriggerKind::Http => (Some(function.url.clone()), self.settings(false)),
            TriggerKind::Library => (None, self.settings(true)),
        };
        Ok(TriggerSpec {
            deployment: Deployment::Aws,
            kind,
            function: function.name.clone(),
            url,
            timeout: function.timeout + CLIENT_GRACE,
            settings: serde_json::to_value(settings)?,
        })
    }

    fn provider_metrics(
        &self,
        _function: &DeployedFunction,
        raw: &RawInvocation,
    ) -> ProviderMetrics {
        invoke::provider_metrics(raw)
    }

    async fn enforce_cold_start(&self, function: &DeployedFunction) -> Result<()> {
        functions::enforce_cold_start(&self.lambda, &function.name).await?;
        Ok(())
    }

    async fn shutdown(&self) {}

    async fn resources(&self) -> Result<Vec<ListedResource>> {
        resources::list(self).await
    }

    async fn remove_resource(&self, resource: &Resource) -> Result<()> {
        resources::remove(self, resource).await
    }

    async fn provider_metrics_from_logs(
        &self,
        function: &DeployedFunction,
        request_ids: &[String],
        window: (f64, f64),
    ) -> Result<HashMap<String, ProviderMetrics>> {
        let reports = logs::reports(&self.logs, &function.name, request_ids, window).await?;
        Ok(reports
            .into_iter()
            .map(|(id, report)| (id, report.metrics()))
            .collect())
    }
}

/// The `settings` of an AWS [`TriggerSpec`]: where the function is. No secrets: a worker takes
/// credentials from its environment, or from the credential cache when it shares the
/// coordinator's cache folder.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerSettings {
    region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endpoint_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    credentials_cache: Option<PathBuf>,
}

/// Builds AWS triggers: the worker's HTTP trigger to the function URL (over TLS for `https://`),
/// or `Invoke` through the SDK.
pub fn trigger_factory() -> Arc<dyn TriggerFactory> {
    Arc::new(AwsTriggers)
}

#[derive(Debug)]
struct AwsTriggers;

impl TriggerFactory for AwsTriggers {
    fn deployment(&self) -> Deployment {
        Deployment::Aws
    }

    fn build(&self, spec: &TriggerSpec) -> Result<BuiltTrigger> {
        let settings: TriggerSettings = serde_json::from_value(spec.settings.clone())
            .with_context(|| format!("aws trigger settings of `{}`", spec.function))?;
        let trigger: Arc<dyn sebs_worker::Trigger> = match spec.kind {
            TriggerKind::Http => {
                let url = spec.url.as_deref().with_context(|| {
                    format!("the http trigger of `{}` has no url", spec.function)
                })?;
                Arc::new(sebs_platform::tls::http_trigger(url, spec.timeout)?)
            }
            TriggerKind::Library => {
                let cache = settings
                    .credentials_cache
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("cache"));
                let resolved = credentials::resolve("aws", &CREDENTIAL_FIELDS, None, &cache)?;
                let connection = Connection::with_credentials(
                    &settings.region,
                    settings.endpoint_url,
                    &resolved,
                );
                // No retries: a retried invocation would be measured as one slow one.
                let client = connection.lambda_with(spec.timeout, RetryConfig::disabled());
                Arc::new(LibraryTrigger::new(client, &spec.function))
            }
        };
        Ok(BuiltTrigger {
            trigger,
            reader: Arc::new(LambdaReplyReader),
        })
    }
}

/// `map_err` for SDK calls: "`operation` `subject`: what went wrong".
pub(crate) fn failed<'a, E>(
    operation: &'static str,
    subject: &'a str,
) -> impl FnOnce(SdkError<E, HttpResponse>) -> anyhow::Error + 'a
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    move |e| anyhow::anyhow!("{operation} {subject}: {}", describe(&e))
}

/// An SDK error as one line: the service's code and message, or what failed on the way.
pub(crate) fn describe<E>(e: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => DisplayErrorContext(e).to_string(),
    }
}
