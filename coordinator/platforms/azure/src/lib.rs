//! Azure Functions: one function app per benchmark function on a Linux Consumption plan, deployed
//! with Kudu's zip deploy and managed through Azure Resource Manager; Blob storage for the data.
//!
//! What `start` needs and makes: a service principal ([`credentials`]), a resource group and a
//! storage account ([`resources`], created once and remembered in the cache). `deploy` creates
//! the function app ([`functionapp`]) and uploads the package zip ([`package`], [`kudu`]) unless
//! the app already runs this package. Functions are invoked over HTTPS with the app's function
//! key, which the trigger reads through Resource Manager with the worker's own credentials.

pub mod arm;
pub mod blob;
pub mod config;
pub mod credentials;
pub mod functionapp;
mod inventory;
pub mod kudu;
pub mod package;
pub mod resources;
pub mod sas;
mod trigger;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use sebs_common::config::{Deployment, TriggerKind};
use sebs_platform::{
    DeployedFunction, FunctionSpec, ListedResource, ObjectStorage, Platform, ProviderMetrics,
    Resource, ResourceLog, TriggerSpec,
};
use sebs_worker::RawInvocation;

use crate::arm::Arm;
use crate::blob::BlobStorage;
use crate::config::AzureConfig;
use crate::credentials::{ServicePrincipal, TokenSource};
use crate::functionapp::{COLD_START_SETTING, FUNCTION, HASH_SETTING};
use crate::resources::AzureResources;
use crate::sas::AccountKey;

pub use crate::trigger::{trigger_factory, TriggerSettings};

/// Resource Manager's audience, for tokens that also open Kudu.
const MANAGEMENT_SCOPE: &str = "https://management.azure.com/.default";
/// How long a client waits beyond the function's timeout.
const CLIENT_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct AzurePlatform {
    config: AzureConfig,
    resources: AzureResources,
    arm: Arc<Arm>,
    http: reqwest::Client,
    storage: Arc<BlobStorage>,
    bucket: String,
    cache_dir: PathBuf,
    log: ResourceLog,
}

/// The HTTP client of every Resource Manager and Kudu call.
pub fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(300))
        .build()
        .context("building the HTTP client")
}

impl AzurePlatform {
    /// Signs in, and creates the resource group and the storage account unless they exist.
    pub async fn start(section: Option<&serde_json::Value>, cache_dir: &Path) -> Result<Self> {
        let config = AzureConfig::from_section(section).map_err(anyhow::Error::msg)?;
        let principal = ServicePrincipal::resolve(config.credentials.as_ref(), cache_dir)?;
        let http = http_client()?;
        let tokens = TokenSource::new(
            principal,
            &config.endpoints.login,
            MANAGEMENT_SCOPE,
            http.clone(),
        );
        let arm = Arc::new(Arm::new(
            http.clone(),
            &config.endpoints.management,
            tokens,
            config.poll_interval(),
            config.operation_timeout(),
        ));
        let log = ResourceLog::open(cache_dir, &format!("azure-{}", config.region))?;
        let resources = AzureResources::resolve(&config, &log);
        resources.ensure(&arm, &log).await?;
        let key = resources.storage_key(&arm).await?;
        let account =
            AccountKey::new(&resources.storage_account, &key).map_err(anyhow::Error::msg)?;
        let endpoint = config
            .endpoints
            .blob
            .replace("{account}", &resources.storage_account);
        let storage = BlobStorage::new(&endpoint, account).map_err(anyhow::Error::msg)?;
        tracing::debug!(group = %resources.resource_group, account = %resources.storage_account, "azure platform ready");
        Ok(AzurePlatform {
            bucket: format!("sebs-benchmarks-{}", resources.resources_id),
            config,
            resources,
            arm,
            http,
            storage: Arc::new(storage),
            cache_dir: cache_dir.to_path_buf(),
            log,
        })
    }

    /// The function app's name: the function's, made unique across Azure by the resources id.
    pub fn app_name(&self, function: &str) -> String {
        let suffix = format!("-{}", self.resources.resources_id);
        let mut name: String = function.chars().take(60 - suffix.len()).collect();
        name = name.trim_end_matches('-').to_string();
        name + &suffix
    }

    /// The settings a new app starts with: runtime, storage, and no build on the server (the
    /// package carries its dependencies).
    fn initial_settings(&self, spec: &FunctionSpec) -> BTreeMap<String, String> {
        let (worker_runtime, _) = functionapp::runtime(spec.language, &spec.language_version);
        let key = self.storage.account_key();
        let connection = resources::connection_string(
            &key.account,
            &key.key_base64(),
            self.storage.endpoint().as_str(),
        );
        [
            ("FUNCTIONS_EXTENSION_VERSION", "~4".to_string()),
            ("FUNCTIONS_WORKER_RUNTIME", worker_runtime.to_string()),
            ("AzureWebJobsStorage", connection.clone()),
            ("STORAGE_CONNECTION_STRING", connection),
            ("SCM_DO_BUILD_DURING_DEPLOYMENT", "false".to_string()),
            ("ENABLE_ORYX_BUILD", "false".to_string()),
            (COLD_START_SETTING, String::new()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// What identifies deployed code: the package, and the timeout that `host.json` carries.
fn deployed_hash(spec: &FunctionSpec) -> String {
    format!("{}-t{}", spec.package_hash, spec.timeout.as_secs())
}

#[async_trait]
impl Platform for AzurePlatform {
    fn deployment(&self) -> Deployment {
        Deployment::Azure
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
        sebs_platform::runtime::find_python(None, version, "deployment.azure")
    }

    async fn deploy(&self, spec: &FunctionSpec) -> Result<DeployedFunction> {
        if spec.memory_mb != 1536 {
            tracing::warn!(memory = spec.memory_mb, "azure's consumption plan gives every instance 1.5 GB; the memory setting is not applied");
        }
        let app = self.app_name(&spec.name);
        let arm = &self.arm;
        let found = functionapp::get(arm, &self.resources, &app).await?;
        let mut settings = match &found {
            Some(_) => functionapp::settings(arm, &self.resources, &app).await?,
            None => self.initial_settings(spec),
        };
        // The function's own variables (NoSQL table names, ...) are app settings.
        let mut settings_changed = false;
        for (name, value) in &spec.environment {
            if settings.get(name) != Some(value) {
                settings.insert(name.clone(), value.clone());
                settings_changed = true;
            }
        }
        let site = match found {
            Some(site) => site,
            None => {
                let plan = functionapp::ensure_plan(arm, &self.resources, &self.log).await?;
                let site = functionapp::create(
                    arm,
                    &self.resources,
                    &app,
                    &plan,
                    spec.language,
                    &spec.language_version,
                    &settings,
                )
                .await?;
                let path = functionapp::site_path(arm, &self.resources, &app);
                self.log
                    .record(Resource::new("function-app", &app, Some(path)))?;
                site
            }
        };
        let hash = deployed_hash(spec);
        if settings.get(HASH_SETTING) != Some(&hash) {
            let zip = package::app_zip(&spec.package_dir, spec.timeout)?;
            let kudu = self.config.endpoints.kudu.replace("{app}", &app);
            kudu::zip_deploy(&self.http, arm, &kudu, zip).await?;
            settings.insert(HASH_SETTING.to_string(), hash);
            functionapp::put_settings(arm, &self.resources, &app, &settings).await?;
            functionapp::sync_triggers(arm, &self.resources, &app).await?;
            tracing::info!(app, "function deployed");
        } else if settings_changed {
            functionapp::put_settings(arm, &self.resources, &app, &settings).await?;
            tracing::info!(
                app,
                "function app already runs this package; its settings changed"
            );
        } else {
            tracing::info!(app, "function app already runs this package");
        }
        Ok(DeployedFunction {
            name: app,
            memory_mb: spec.memory_mb,
            timeout: spec.timeout.min(package::MAX_TIMEOUT),
            url: format!(
                "{}/api/{FUNCTION}",
                self.config
                    .endpoints
                    .functions
                    .replace("{host}", &site.host)
            ),
        })
    }

    fn trigger_spec(&self, function: &DeployedFunction, kind: TriggerKind) -> Result<TriggerSpec> {
        if kind != TriggerKind::Http {
            bail!("Azure functions have only the `http` trigger here, not `{kind}`");
        }
        let settings = TriggerSettings {
            subscription_id: self.arm.tokens().principal().subscription_id.clone(),
            resource_group: self.resources.resource_group.clone(),
            app: function.name.clone(),
            management_endpoint: self.config.endpoints.management.clone(),
            login_endpoint: self.config.endpoints.login.clone(),
            credentials_cache: Some(self.cache_dir.clone()),
        };
        Ok(TriggerSpec {
            deployment: Deployment::Azure,
            kind,
            function: function.name.clone(),
            url: Some(function.url.clone()),
            timeout: function.timeout + CLIENT_GRACE,
            settings: serde_json::to_value(settings)?,
        })
    }

    fn provider_metrics(
        &self,
        _function: &DeployedFunction,
        _raw: &RawInvocation,
    ) -> ProviderMetrics {
        // Azure's replies carry no execution report; its own timing is in Application Insights,
        // which sebs does not read (see README.md).
        ProviderMetrics::default()
    }

    async fn enforce_cold_start(&self, function: &DeployedFunction) -> Result<()> {
        let mut settings =
            functionapp::settings(&self.arm, &self.resources, &function.name).await?;
        let value = format!("{:08x}", rand::random::<u32>());
        settings.insert(COLD_START_SETTING.to_string(), value);
        // A changed setting restarts the app: its warm instances are gone.
        functionapp::put_settings(&self.arm, &self.resources, &function.name, &settings).await
    }

    async fn shutdown(&self) {}

    async fn resources(&self) -> Result<Vec<ListedResource>> {
        inventory::list(self).await
    }

    async fn remove_resource(&self, resource: &Resource) -> Result<()> {
        inventory::remove(self, resource).await
    }
}
