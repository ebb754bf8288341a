//! The Docker platform: SeBS's local mode done right, with every function instance a container
//! on a Docker engine on this machine.
//!
//! Functions run in run images (`sebs/run:<language>-<version>`, built from Dockerfiles in
//! `dockerfiles/` on a base image made with debootstrap, never pulled) with the package mounted
//! read-only. The platform keeps the local platform's gateway and pool: a request takes an idle
//! container of the function (warm) or starts a new one (cold, timed from creation to listening
//! as `initialization`), up to `max_containers` at once; forcing a cold start replaces every
//! container. Containers have the function's memory as their limit, the kernel's peak of it is
//! reported per invocation, and dependencies are installed in the build image of the same
//! Debian release. Storage is the local platform's directory storage, mounted into containers.

mod build;
pub mod config;
mod container;
mod images;
mod memory;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use bollard::models::ContainerSummary;
use bollard::query_parameters::ListContainersOptionsBuilder;
use bollard::Docker;
use sebs_common::config::{Deployment, TriggerKind};
use sebs_platform::{
    DependencyInstaller, DeployedFunction, FunctionSpec, ListedResource, NoSqlStorage,
    ObjectStorage, Platform, ProviderMetrics, Resource, TriggerFactory, TriggerSpec,
};
use sebs_platform_local::gateway;
use sebs_platform_local::storage::DirStorage;
use sebs_platform_local::table::FunctionTable;
use sebs_worker::RawInvocation;

use self::build::BuildImageInstaller;
use self::config::DockerConfig;
use self::container::{Container, ContainerSpec, FUNCTION_LABEL, SESSION_LABEL};
use self::images::Images;

#[derive(Debug)]
pub struct DockerPlatform {
    config: DockerConfig,
    docker: Docker,
    images: Images,
    storage: Arc<DirStorage>,
    functions: FunctionTable<Container>,
    /// Labels this process's containers, so that shutdown removes exactly them.
    session: String,
}

impl DockerPlatform {
    /// Connects to the engine, then starts the gateway and the idle-container reaper.
    pub async fn start(section: Option<&serde_json::Value>, cache_dir: &Path) -> Result<Self> {
        let config = DockerConfig::from_section(section).map_err(anyhow::Error::msg)?;
        let docker = connect(config.docker_host.as_deref()).await?;
        let storage_dir = config
            .storage_dir
            .clone()
            .unwrap_or_else(|| cache_dir.join("docker-storage"));
        std::fs::create_dir_all(&storage_dir)
            .with_context(|| format!("creating {}", storage_dir.display()))?;
        let storage_dir = storage_dir.canonicalize()?;
        let functions = FunctionTable::start(
            &config.gateway_address,
            "deployment.docker.gateway_address",
            config.idle_timeout(),
        )
        .await?;
        let session = format!("s{}-{:06x}", std::process::id(), rand::random::<u32>() >> 8);
        tracing::debug!(address = %functions.address(), %session, storage = %storage_dir.display(), "docker platform started");
        Ok(DockerPlatform {
            images: Images {
                docker: docker.clone(),
                run_template: config.run_image.clone(),
                build_override: config.build_image.clone(),
            },
            config,
            docker,
            storage: Arc::new(DirStorage::new(storage_dir)),
            functions,
            session,
        })
    }

    /// Containers (running or not) that carry `label` (`key` or `key=value`).
    async fn containers_labelled(&self, label: String) -> Result<Vec<ContainerSummary>> {
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&HashMap::from([("label", vec![label])]))
            .build();
        self.docker
            .list_containers(Some(options))
            .await
            .context("listing containers")
    }

    /// Removes every container this process started, running or not, and waits until the
    /// engine has none left (removals begun by dropped containers included), for up to 30 s.
    async fn remove_containers(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let label = format!("{SESSION_LABEL}={}", self.session);
            let ids: Vec<String> = match self.containers_labelled(label).await {
                Ok(containers) => containers.into_iter().filter_map(|c| c.id).collect(),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list the session's containers");
                    return;
                }
            };
            if ids.is_empty() {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                tracing::warn!(left = ids.len(), session = %self.session, "containers still present after shutdown");
                return;
            }
            let removals = ids.iter().map(|id| container::remove(&self.docker, id));
            futures_util::future::join_all(removals).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Function containers of sessions whose process is gone (a sebs that was killed).
    async fn leftover_containers(&self) -> Result<Vec<ListedResource>> {
        let mut listed = Vec::new();
        for c in self.containers_labelled(FUNCTION_LABEL.to_string()).await? {
            let labels = c.labels.unwrap_or_default();
            let session = labels.get(SESSION_LABEL).map(String::as_str).unwrap_or("");
            if session_alive(session) {
                continue;
            }
            let name = c
                .names
                .and_then(|n| n.first().map(|n| n.trim_start_matches('/').to_string()))
                .unwrap_or_default();
            listed.push(ListedResource {
                resource: Resource {
                    kind: "container".into(),
                    name,
                    id: c.id,
                    created: c.created.unwrap_or(0) as f64,
                },
                exists: true,
            });
        }
        Ok(listed)
    }
}

/// Whether the process that made a session (`s<pid>-<random>`) still runs. (A reused pid keeps a
/// leftover unlisted until that process ends too.)
fn session_alive(session: &str) -> bool {
    session
        .strip_prefix('s')
        .and_then(|s| s.split('-').next())
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
}

/// Connects to `host` (else `DOCKER_HOST`, else the local socket) and agrees on an API version,
/// so that engines older than bollard (Debian's 20.10 speaks 1.41) work.
pub async fn connect(host: Option<&str>) -> Result<Docker> {
    let docker = match host {
        Some(h) => Docker::connect_with_host(h),
        None => Docker::connect_with_defaults(),
    }
    .context("connecting to the Docker engine")?;
    let docker = docker.negotiate_version().await.with_context(|| {
        format!(
            "the Docker engine at {} does not answer: is dockerd running? (`bash dockerfiles/engine.sh` \
             starts one; set deployment.docker.docker_host or DOCKER_HOST for another engine)",
            host.map(str::to_string)
                .or_else(|| std::env::var("DOCKER_HOST").ok())
                .unwrap_or_else(|| "unix:///var/run/docker.sock".into())
        )
    })?;
    Ok(docker)
}

#[async_trait]
impl Platform for DockerPlatform {
    fn deployment(&self) -> Deployment {
        Deployment::Docker
    }

    fn storage(&self) -> Arc<dyn ObjectStorage> {
        self.storage.clone()
    }

    /// The gateway's in-memory tables, as on the local platform.
    fn nosql(&self) -> Option<Arc<dyn NoSqlStorage>> {
        Some(self.functions.tables())
    }

    fn benchmarks_bucket(&self) -> &str {
        &self.config.bucket
    }

    fn python_for(&self, version: &str) -> Result<PathBuf> {
        bail!(
            "the docker platform runs Python {version} in its run image and installs \
             dependencies in its build image, not with an interpreter of this machine"
        )
    }

    async fn deploy(&self, spec: &FunctionSpec) -> Result<DeployedFunction> {
        let image = self
            .images
            .run_image(spec.language, &spec.language_version)
            .await?;
        let container_spec = ContainerSpec {
            docker: self.docker.clone(),
            function: spec.name.clone(),
            image: image.id,
            package_dir: spec.package_dir.canonicalize()?,
            storage_root: self.storage.root().to_path_buf(),
            memory_mb: spec.memory_mb,
            cpus: self.config.cpus,
            timeout: spec.timeout,
            startup_timeout: self.config.startup_timeout(),
            session: self.session.clone(),
            // Containers share the host's network: the gateway's address is theirs too.
            environment: self.functions.environment(spec),
        };
        tracing::debug!(function = %spec.name, image = %image.name, package = %spec.package_hash, "deploying");
        self.functions
            .deploy(spec, container_spec, self.config.max_containers)
    }

    fn trigger_spec(&self, function: &DeployedFunction, kind: TriggerKind) -> Result<TriggerSpec> {
        gateway::trigger_spec(Deployment::Docker, function, kind)
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

    async fn shutdown(&self) {
        self.functions.shutdown();
        self.remove_containers().await;
    }

    /// The buckets of the mounted storage, and containers of functions that no running sebs
    /// owns any more (left by a sebs that was killed before it could remove them).
    async fn resources(&self) -> Result<Vec<ListedResource>> {
        let mut listed = self.leftover_containers().await?;
        listed.extend(self.storage.buckets()?);
        Ok(listed)
    }

    async fn remove_resource(&self, resource: &Resource) -> Result<()> {
        match resource.kind.as_str() {
            "bucket" => self.storage.remove_bucket(&resource.name),
            "container" => {
                container::remove(&self.docker, &resource.name).await;
                Ok(())
            }
            other => bail!("the docker platform has no {other} `{}`", resource.name),
        }
    }

    fn dependency_installer(&self) -> Option<Arc<dyn DependencyInstaller>> {
        Some(dependency_installer(
            self.docker.clone(),
            &self.config.run_image,
            self.config.build_image.clone(),
        ))
    }
}

/// Installs dependencies in the build image that goes with each run image (`run_image` with
/// `{language}` and `{version}`; `build_image` overrides the run image's label), for every
/// platform whose functions run in these images.
pub fn dependency_installer(
    docker: Docker,
    run_image: &str,
    build_image: Option<String>,
) -> Arc<dyn DependencyInstaller> {
    Arc::new(BuildImageInstaller {
        images: Images {
            docker: docker.clone(),
            run_template: run_image.to_string(),
            build_override: build_image,
        },
        docker,
        session: format!("s{}", std::process::id()),
    })
}

/// Builds the Docker platform's triggers: HTTP to its gateway, as on the local platform.
pub fn trigger_factory() -> Arc<dyn TriggerFactory> {
    gateway::trigger_factory(Deployment::Docker)
}
