//! The registry of platforms: which crate serves which `--deployment`.
//!
//! The traits are in `sebs-platform` (coordinator/platforms/api); each platform is a crate of its
//! own under coordinator/platforms/<name>/. Adding a platform adds an arm to `create` and its
//! factory to `trigger_factories`.

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use sebs_common::config::{Deployment, RunConfig};
pub use sebs_platform::{
    DeployedFunction, FunctionSpec, Platform, ProviderMetrics, TriggerFactories,
};

/// Makes the platform a run asked for.
pub async fn create(run: &RunConfig, cache_dir: &Path) -> Result<Arc<dyn Platform>> {
    match run.deployment {
        Deployment::Local => Ok(Arc::new(
            sebs_platform_local::LocalPlatform::start(run.platform_section.as_ref(), cache_dir)
                .await?,
        )),
        Deployment::Aws => Ok(Arc::new(
            sebs_platform_aws::AwsPlatform::start(
                run.platform_section.as_ref(),
                cache_dir,
                run.architecture,
            )
            .await?,
        )),
        Deployment::Azure => Ok(Arc::new(
            sebs_platform_azure::AzurePlatform::start(run.platform_section.as_ref(), cache_dir)
                .await?,
        )),
        Deployment::Gcp => Ok(Arc::new(
            sebs_platform_gcp::GcpPlatform::start(run.platform_section.as_ref(), cache_dir).await?,
        )),
        Deployment::Docker => Ok(Arc::new(
            sebs_platform_docker::DockerPlatform::start(run.platform_section.as_ref(), cache_dir)
                .await?,
        )),
        Deployment::Openwhisk => Ok(Arc::new(
            sebs_platform_openwhisk::OpenWhiskPlatform::start(
                run.platform_section.as_ref(),
                cache_dir,
            )
            .await?,
        )),
    }
}

/// The trigger factories of every platform in this build: how workers invoke functions.
pub fn trigger_factories() -> TriggerFactories {
    TriggerFactories::new(vec![
        sebs_platform_local::trigger_factory(),
        sebs_platform_aws::trigger_factory(),
        sebs_platform_azure::trigger_factory(),
        sebs_platform_gcp::trigger_factory(),
        sebs_platform_docker::trigger_factory(),
        sebs_platform_openwhisk::trigger_factory(),
    ])
}
