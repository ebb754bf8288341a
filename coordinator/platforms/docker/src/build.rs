//! Installing a package's dependencies in the build image of the function's Debian release
//! (`sebs/build:<suite>`), so that compiled wheels and native modules match the run image.
//!
//! The package folder is mounted at `/package` of a one-off container on the host's network
//! (pip and npm reach their indexes as this machine does: the proxy and index variables below are
//! passed through, and `PIP_FIND_LINKS` is mounted where it is). The container runs as the
//! calling user, so the installed files belong to whoever runs sebs.

use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, WaitContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;
use sebs_common::Language;
use sebs_platform::runtime::{NPM_INSTALL, PIP_INSTALL};
use sebs_platform::DependencyInstaller;

use crate::container::{current_user, remove};
use crate::images::Images;

/// What pip and npm need to reach their indexes as they do on this machine.
const PASSED_THROUGH: [&str; 13] = [
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST",
    "PIP_DEFAULT_TIMEOUT",
    "PIP_FIND_LINKS",
    "npm_config_registry",
    "NPM_CONFIG_REGISTRY",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
];

const PACKAGE_MOUNT: &str = "/package";

#[derive(Debug)]
pub struct BuildImageInstaller {
    pub docker: Docker,
    pub images: Images,
    pub session: String,
}

impl DependencyInstaller for BuildImageInstaller {
    fn environment(&self, language: Language, version: &str) -> Result<String> {
        let handle = tokio::runtime::Handle::current();
        let build = handle.block_on(self.images.build_image(language, version))?;
        Ok(format!("{}@{}", build.name, build.id))
    }

    fn install(
        &self,
        package_dir: &Path,
        language: Language,
        version: &str,
        dependency_file: &Path,
    ) -> Result<String> {
        let handle = tokio::runtime::Handle::current();
        let image = handle.block_on(self.images.build_image(language, version))?;
        let relative = dependency_file
            .strip_prefix(package_dir)
            .with_context(|| {
                format!(
                    "{} is not inside the package {}",
                    dependency_file.display(),
                    package_dir.display()
                )
            })?
            .to_string_lossy()
            .into_owned();
        let command: Vec<String> = match language {
            Language::Python => {
                let target = format!("{PACKAGE_MOUNT}/.python_packages");
                let requirements = format!("{PACKAGE_MOUNT}/{relative}");
                let options = ["--no-warn-script-location", "--target", &target];
                std::iter::once("python3")
                    .chain(PIP_INSTALL)
                    .chain(options)
                    .chain(["--requirement", &requirements])
                    .map(String::from)
                    .collect()
            }
            Language::Nodejs => {
                let manifest = package_dir.join("package.json");
                std::fs::copy(dependency_file, &manifest)
                    .with_context(|| format!("copying {}", dependency_file.display()))?;
                std::iter::once("npm")
                    .chain(NPM_INSTALL)
                    .map(String::from)
                    .collect()
            }
        };
        handle.block_on(self.run(&image.name, package_dir, command))
    }
}

impl BuildImageInstaller {
    /// Runs `command` in a one-off build container; returns its output, or fails with it.
    async fn run(&self, image: &str, package_dir: &Path, command: Vec<String>) -> Result<String> {
        let started = Instant::now();
        let name = format!("sebs-build-{}-{}", self.session, rand::random::<u32>());
        let mut binds = vec![format!("{}:{PACKAGE_MOUNT}", package_dir.display())];
        let mut env = Vec::new();
        for var in PASSED_THROUGH {
            if let Ok(value) = std::env::var(var) {
                if var == "PIP_FIND_LINKS" && Path::new(&value).is_dir() {
                    binds.push(format!("{value}:{value}:ro"));
                }
                env.push(format!("{var}={value}"));
            }
        }
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(command.clone()),
            env: Some(env),
            working_dir: Some(PACKAGE_MOUNT.into()),
            user: current_user(),
            host_config: Some(HostConfig {
                network_mode: Some("host".into()),
                binds: Some(binds),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        self.docker
            .create_container(Some(options), body)
            .await
            .with_context(|| format!("creating build container from {image}"))?;
        let outcome = self.wait(&name).await;
        let output = self.output(&name).await;
        remove(&self.docker, &name).await;
        let code = outcome?;
        tracing::debug!(image, ?command, code, took = ?started.elapsed(), "dependencies installed");
        if code != 0 {
            let tail: Vec<&str> = output.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "`{}` in {image} exited with {code}:\n{}",
                command.join(" "),
                tail.join("\n")
            );
        }
        Ok(format!(
            "$ docker run {image} {}\n{output}\n",
            command.join(" ")
        ))
    }

    async fn wait(&self, name: &str) -> Result<i64> {
        self.docker
            .start_container(name, None)
            .await
            .with_context(|| format!("starting build container {name}"))?;
        let status = self
            .docker
            .wait_container(name, None::<WaitContainerOptions>)
            .next()
            .await
            .ok_or_else(|| anyhow!("build container {name} vanished"))?;
        match status {
            Ok(s) => Ok(s.status_code),
            // bollard reports a non-zero exit as an error carrying the code.
            Err(bollard::errors::Error::DockerContainerWaitError { code, .. }) => Ok(code),
            Err(e) => Err(e).with_context(|| format!("waiting for build container {name}")),
        }
    }

    async fn output(&self, name: &str) -> String {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .build();
        let mut logs = self.docker.logs(name, Some(options));
        let mut text = String::new();
        while let Some(Ok(chunk)) = logs.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        text
    }
}
