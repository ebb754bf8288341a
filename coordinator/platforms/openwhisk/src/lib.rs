//! The OpenWhisk platform, as SeBS deploys to it: every function is a Docker image (the run
//! image plus the package, whose wrapper speaks OpenWhisk's action protocol), created as a
//! `blackbox` web action over OpenWhisk's REST API, invoked through its web-action URL (`http`)
//! or a blocking REST invoke (`library`). Storage is an S3-compatible store (Minio in SeBS),
//! whose address and keys reach functions as the action's default parameters. A cold start is
//! forced by updating the action (a new `cold_start` parameter), which retires its containers.

pub mod api;
pub mod config;
mod image;
pub mod records;
pub mod s3;
mod sigv4;
pub mod trigger;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use bollard::query_parameters::RemoveImageOptionsBuilder;
use bollard::Docker;
use sebs_common::config::{Deployment, TriggerKind};
use sebs_platform::credentials::{self, Credentials};
use sebs_platform::{
    DependencyInstaller, DeployedFunction, FunctionSpec, ListedResource, ObjectStorage, Platform,
    ProviderMetrics, Resource, ResourceLog, TriggerSpec,
};
use sebs_platform_local::gateway;
use sebs_worker::RawInvocation;
use serde_json::{json, Value};

use self::api::ApiClient;
use self::config::{OpenWhiskConfig, WskProps, CREDENTIAL_FIELDS};
use self::records::{lookup, ActionBody, ActionRecord, Exec, KeyValue, Limits};
use self::s3::S3Storage;
pub use self::trigger::trigger_factory;
use self::trigger::LibrarySettings;

/// The annotation that records which package an action runs.
const PACKAGE_ANNOTATION: &str = "sebs-package-hash";
/// How long a client waits beyond the action's own time limit.
const CLIENT_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug)]
pub struct OpenWhiskPlatform {
    config: OpenWhiskConfig,
    api_host: String,
    api: ApiClient,
    docker: Docker,
    storage: Arc<S3Storage>,
    /// The storage settings functions receive as default parameters.
    storage_parameters: Vec<KeyValue>,
    /// Each deployed action as last sent, to update it for forced cold starts.
    actions: Mutex<HashMap<String, ActionBody>>,
    /// What this cache created on this OpenWhisk: actions, images, buckets.
    resources: ResourceLog,
    cache_dir: PathBuf,
}

/// The resource record's scope: one per OpenWhisk installation.
fn scope(api_host: &str) -> String {
    let host: String = api_host
        .trim_start_matches("http://")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("openwhisk-{}", host.trim_matches('-'))
}

/// The namespace's `UUID:KEY`: the resolved credentials' `auth`, else `OPENWHISK_AUTH`, else the
/// `AUTH` of `~/.wskprops`.
pub(crate) fn namespace_auth(resolved: Option<&Credentials>, props: &WskProps) -> Option<String> {
    resolved
        .and_then(|c| c.get("auth"))
        .map(|s| s.expose().to_string())
        .or_else(|| {
            std::env::var("OPENWHISK_AUTH")
                .ok()
                .filter(|a| !a.is_empty())
        })
        .or_else(|| props.auth.clone())
}

impl OpenWhiskPlatform {
    /// Reads `deployment.openwhisk` and the credentials, and connects to the Docker engine that
    /// builds function images; makes no request to OpenWhisk yet.
    pub async fn start(section: Option<&Value>, cache_dir: &Path) -> Result<Self> {
        let config = OpenWhiskConfig::from_section(section).map_err(anyhow::Error::msg)?;
        let props = WskProps::load();
        let Some(api_host) = config.api_host.clone().or_else(|| props.api_host.clone()) else {
            bail!(
                "deployment.openwhisk.api_host is not set and ~/.wskprops has no APIHOST: where \
                 is OpenWhisk? (OpenWhisk standalone listens on http://127.0.0.1:3233)"
            );
        };
        let resolved = credentials::resolve(
            "openwhisk",
            &CREDENTIAL_FIELDS,
            config.credentials.as_ref(),
            cache_dir,
        )?;
        let Some(auth) = namespace_auth(Some(&resolved), &props) else {
            bail!(
                "no OpenWhisk credentials: set OPENWHISK_AUTH, deployment.openwhisk.credentials.auth \
                 or AUTH in ~/.wskprops"
            );
        };
        let api = ApiClient::new(&api_host, Some(&auth), &config.namespace)
            .map_err(|e| anyhow::anyhow!("deployment.openwhisk.api_host: {e}"))?;
        let s3 = &config.storage;
        let secret = |name: &str| {
            resolved
                .get(name)
                .map(|s| s.expose().to_string())
                .unwrap_or_default()
        };
        let (access_key, secret_key) = (secret("storage_access_key"), secret("storage_secret_key"));
        let resources = ResourceLog::open(cache_dir, &scope(&api_host))?;
        let storage = S3Storage::new(&s3.endpoint, &access_key, &secret_key, &s3.region)
            .map_err(|e| anyhow::anyhow!("deployment.openwhisk.storage.endpoint: {e}"))?
            .recording_buckets(resources.clone());
        let function_endpoint = s3.function_endpoint.clone().unwrap_or(s3.endpoint.clone());
        let storage_parameters = [
            ("SEBS_S3_ENDPOINT", function_endpoint),
            ("SEBS_S3_ACCESS_KEY", access_key),
            ("SEBS_S3_SECRET_KEY", secret_key),
            ("SEBS_S3_REGION", s3.region.clone()),
        ]
        .into_iter()
        .map(|(k, v)| KeyValue {
            key: k.into(),
            value: Value::String(v),
        })
        .collect();
        let docker = sebs_platform_docker::connect(config.docker_host.as_deref()).await?;
        Ok(OpenWhiskPlatform {
            config,
            api_host,
            api,
            docker,
            storage: Arc::new(storage),
            storage_parameters,
            actions: Mutex::default(),
            resources,
            cache_dir: cache_dir.to_path_buf(),
        })
    }

    fn action_body(&self, spec: &FunctionSpec, image: String, generation: u64) -> ActionBody {
        let mut parameters = self.storage_parameters.clone();
        parameters.push(KeyValue {
            key: "cold_start".into(),
            value: Value::String(generation.to_string()),
        });
        if !spec.environment.is_empty() {
            // The wrapper sets these as environment variables of the process.
            parameters.push(KeyValue {
                key: "SEBS_ENVIRONMENT".into(),
                value: json!(spec.environment),
            });
        }
        let annotation = |key: &str, value: Value| KeyValue {
            key: key.into(),
            value,
        };
        ActionBody {
            exec: Exec {
                kind: "blackbox".into(),
                image: Some(image),
            },
            limits: Limits {
                timeout: spec.timeout.as_millis() as u64,
                memory: spec.memory_mb,
                concurrency: Some(1),
            },
            annotations: vec![
                annotation("web-export", json!(true)),
                annotation("raw-http", json!(false)),
                // Parameters are the storage settings: a web request may not override them.
                annotation("final", json!(true)),
                annotation(PACKAGE_ANNOTATION, json!(spec.package_hash)),
            ],
            parameters,
        }
    }

    fn deployed(&self, record: &ActionRecord, spec: &FunctionSpec) -> DeployedFunction {
        DeployedFunction {
            name: spec.name.clone(),
            memory_mb: spec.memory_mb,
            timeout: spec.timeout,
            url: format!(
                "{}/api/v1/web/{}/default/{}.json",
                self.api_host.trim_end_matches('/'),
                record.namespace,
                spec.name
            ),
        }
    }
}

/// Whether a stored action already runs this package with these limits.
fn is_current(record: &ActionRecord, wanted: &ActionBody) -> bool {
    lookup(&record.annotations, PACKAGE_ANNOTATION)
        == lookup(&wanted.annotations, PACKAGE_ANNOTATION)
        && record.exec.image == wanted.exec.image
        && record.limits.memory == wanted.limits.memory
        && record.limits.timeout == wanted.limits.timeout
}

#[async_trait]
impl Platform for OpenWhiskPlatform {
    fn deployment(&self) -> Deployment {
        Deployment::Openwhisk
    }

    fn storage(&self) -> Arc<dyn ObjectStorage> {
        self.storage.clone()
    }

    fn benchmarks_bucket(&self) -> &str {
        &self.config.storage.bucket
    }

    fn python_for(&self, version: &str) -> Result<PathBuf> {
        bail!(
            "the openwhisk platform runs Python {version} in its run image and installs \
             dependencies in its build image, not with an interpreter of this machine"
        )
    }

    /// Function images are built on the run images, so dependencies come from their build
    /// images, as on the Docker platform.
    fn dependency_installer(&self) -> Option<Arc<dyn DependencyInstaller>> {
        Some(sebs_platform_docker::dependency_installer(
            self.docker.clone(),
            &self.config.run_image,
            None,
        ))
    }

    async fn deploy(&self, spec: &FunctionSpec) -> Result<DeployedFunction> {
        let run_image = self
            .config
            .run_image
            .replace("{language}", spec.language.as_str())
            .replace("{version}", &spec.language_version);
        let image = image::image_name(
            self.config.docker_registry.as_deref(),
            &spec.name,
            &spec.package_hash,
        );
        let built = image::ensure(
            &self.docker,
            &image,
            &run_image,
            &spec.package_dir,
            self.config.docker_registry.is_some(),
        )
        .await?;
        if built {
            self.resources
                .record(Resource::new("image", &image, None))?;
        }
        let existing = self.api.get_action(&spec.name).await?;
        let generation = existing
            .as_ref()
            .and_then(|r| lookup(&r.parameters, "cold_start"))
            .and_then(Value::as_str)
            .and_then(|g| g.parse().ok())
            .unwrap_or(0);
        let body = self.action_body(spec, image.clone(), generation);
        let record = match existing.filter(|r| is_current(r, &body)) {
            Some(current) => current,
            None => {
                let record = self.api.put_action(&spec.name, &body).await?;
                let id = format!("/{}/{}", record.namespace, record.name);
                self.resources
                    .record(Resource::new("action", &spec.name, Some(id)))?;
                record
            }
        };
        tracing::debug!(action = %record.name, version = %record.version, %image, built, "action ready");
        self.actions
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .insert(spec.name.clone(), body);
        Ok(self.deployed(&record, spec))
    }

    fn trigger_spec(&self, function: &DeployedFunction, kind: TriggerKind) -> Result<TriggerSpec> {
        let settings = match kind {
            TriggerKind::Http => Value::Null,
            TriggerKind::Library => serde_json::to_value(LibrarySettings {
                api_host: self.api_host.clone(),
                namespace: self.config.namespace.clone(),
                credentials_cache: Some(self.cache_dir.clone()),
            })?,
        };
        Ok(TriggerSpec {
            deployment: Deployment::Openwhisk,
            kind,
            function: function.name.clone(),
            url: (kind == TriggerKind::Http).then(|| function.url.clone()),
            timeout: function.timeout + CLIENT_GRACE,
            settings,
        })
    }

    fn provider_metrics(
        &self,
        _function: &DeployedFunction,
        raw: &RawInvocation,
    ) -> ProviderMetrics {
        gateway::provider_metrics(raw)
    }

    /// Updates the action with a new `cold_start` parameter: OpenWhisk retires the containers
    /// of the old version, and the wrapper reports the new value as `cold_start_var`.
    async fn enforce_cold_start(&self, function: &DeployedFunction) -> Result<()> {
        let body = {
            let mut actions = self
                .actions
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?;
            let body = actions
                .get_mut(&function.name)
                .with_context(|| format!("action {} is not deployed", function.name))?;
            for p in body.parameters.iter_mut().filter(|p| p.key == "cold_start") {
                let next = p
                    .value
                    .as_str()
                    .and_then(|g| g.parse::<u64>().ok())
                    .unwrap_or(0)
                    + 1;
                p.value = Value::String(next.to_string());
            }
            body.clone()
        };
        self.api.put_action(&function.name, &body).await?;
        Ok(())
    }

    async fn shutdown(&self) {}

    /// The actions, function images and buckets this cache created, in an order they can be
    /// removed in (an action before the image it runs), each checked against OpenWhisk, the
    /// engine and the store.
    async fn resources(&self) -> Result<Vec<ListedResource>> {
        let mut listed = Vec::new();
        for kind in ["action", "image", "bucket"] {
            for resource in self
                .resources
                .list()?
                .into_iter()
                .filter(|r| r.kind == kind)
            {
                let exists = match kind {
                    "action" => self.api.get_action(&resource.name).await?.is_some(),
                    "image" => self.docker.inspect_image(&resource.name).await.is_ok(),
                    _ => self.storage.bucket_exists(&resource.name).await?,
                };
                listed.push(ListedResource { resource, exists });
            }
        }
        Ok(listed)
    }

    async fn remove_resource(&self, resource: &Resource) -> Result<()> {
        match resource.kind.as_str() {
            "action" => self.api.delete_action(&resource.name).await?,
            "image" => {
                let options = RemoveImageOptionsBuilder::default().force(true).build();
                if let Err(e) = self
                    .docker
                    .remove_image(&resource.name, Some(options), None)
                    .await
                {
                    if self.docker.inspect_image(&resource.name).await.is_ok() {
                        return Err(e).with_context(|| format!("removing image {}", resource.name));
                    }
                }
            }
            "bucket" => self.storage.delete_bucket(&resource.name).await?,
            other => bail!(
                "the openwhisk platform created no {other} `{}`",
                resource.name
            ),
        }
        self.resources.forget(&resource.kind, &resource.name)?;
        Ok(())
    }
}
