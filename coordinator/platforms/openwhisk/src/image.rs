//! Function images for OpenWhisk: SeBS deploys every OpenWhisk function as a Docker image, here
//! the run image of its language version plus the package (`dockerfiles/openwhisk-function.Dockerfile`),
//! built on a Docker engine and pushed to a registry when one is configured.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use bollard::query_parameters::{BuildImageOptionsBuilder, PushImageOptionsBuilder};
use bollard::Docker;
use bytes::Bytes;
use futures_util::StreamExt;

const DOCKERFILE: &str = include_str!("../../../../dockerfiles/openwhisk-function.Dockerfile");

/// The image name of a function's package: `[REGISTRY/]sebs-openwhisk/FUNCTION:HASH16`.
pub fn image_name(registry: Option<&str>, function: &str, package_hash: &str) -> String {
    let tag: String = package_hash.chars().take(16).collect();
    match registry {
        Some(r) => format!(
            "{}/sebs-openwhisk/{function}:{tag}",
            r.trim_end_matches('/')
        ),
        None => format!("sebs-openwhisk/{function}:{tag}"),
    }
}

/// Builds `image` from `run_image` and the package, unless the engine has it already; pushes
/// it when `push` is set. Returns whether it was built.
pub async fn ensure(
    docker: &Docker,
    image: &str,
    run_image: &str,
    package_dir: &Path,
    push: bool,
) -> Result<bool> {
    if docker.inspect_image(image).await.is_ok() {
        return Ok(false);
    }
    if docker.inspect_image(run_image).await.is_err() {
        bail!(
            "the Docker engine has no run image {run_image}; build it with `dockerfiles/images.sh` \
             (see dockerfiles/README.md)"
        );
    }
    let context = build_context(package_dir)?;
    let options = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(image)
        .rm(true)
        .forcerm(true)
        .networkmode("none")
        .buildargs(&HashMap::from([("RUN_IMAGE", run_image)]))
        .build();
    let mut build = docker.build_image(options, None, Some(bollard::body_full(context)));
    let mut log = String::new();
    while let Some(step) = build.next().await {
        let info = step.with_context(|| format!("building {image}"))?;
        if let Some(error) = info.error_detail.and_then(|e| e.message) {
            bail!("building {image} failed: {error}\n{log}");
        }
        if let Some(line) = info.stream {
            log.push_str(&line);
        }
    }
    tracing::debug!(image, "function image built");
    if push {
        let (repository, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
        let options = PushImageOptionsBuilder::default().tag(tag).build();
        let mut pushing = docker.push_image(repository, Some(options), None);
        while let Some(step) = pushing.next().await {
            let info = step.with_context(|| format!("pushing {image}"))?;
            if let Some(error) = info.error_detail.and_then(|e| e.message) {
                bail!("pushing {image} failed: {error}");
            }
        }
    }
    Ok(true)
}

/// A tar of the Dockerfile and the package under `function/`.
fn build_context(package_dir: &Path) -> Result<Bytes> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(true);
    let mut header = tar::Header::new_gnu();
    header.set_size(DOCKERFILE.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "Dockerfile", DOCKERFILE.as_bytes())?;
    tar.append_dir_all("function", package_dir)
        .with_context(|| format!("packing {}", package_dir.display()))?;
    Ok(Bytes::from(tar.into_inner()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_carry_the_registry_and_the_package_hash() {
        assert_eq!(
            image_name(None, "sebs-110", "0123456789abcdef0123"),
            "sebs-openwhisk/sebs-110:0123456789abcdef"
        );
        assert_eq!(
            image_name(Some("127.0.0.1:5000/"), "f", "ab"),
            "127.0.0.1:5000/sebs-openwhisk/f:ab"
        );
    }
}
