//! The deployment of `deploy/` for tests: the fleet's images ([`fleet_images`]) and a Docker
//! Compose project started from a compose file and torn down on drop ([`ComposeProject`]).
//!
//! [`cluster_tools_python`] is the interpreter of the venv with Helm's SDK and the Kubernetes
//! schemas that `deploy/validate.py` runs in.
//!
//! [`compose_command`] finds Compose v2, as the Docker CLI plugin (`docker compose`) or as the
//! standalone `docker-compose` binary it also ships as; `.ci/setup.d/70-cluster.sh` installs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::fleet::run_bounded;
use crate::{require, skip};

/// The Python of `.ci/setup.d/70-cluster.sh`'s venv (`$SEBS_CLUSTER_TOOLS`, default
/// `~/.cache/sebs-cluster-tools`), or `None` (skip the test) when it is not there.
#[must_use]
pub fn cluster_tools_python() -> Option<PathBuf> {
    let venv = std::env::var_os("SEBS_CLUSTER_TOOLS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/sebs-cluster-tools"))
        })?;
    require(
        &venv.join("bin/python3").display().to_string(),
        "bash .ci/setup.d/70-cluster.sh makes the venv with helm-python-sdk and kubernetes-validate",
    )
}

/// How long `dockerfiles/fleet-images.sh` may take: from an engine with only the base and build
/// images, about 70 s on two quiet cores; seconds from the layer cache.
const IMAGES_LIMIT: Duration = Duration::from_secs(900);

/// Builds `sebs/coordinator:TAG`, `sebs/worker:TAG` and `sebs/etcd:bookworm` with `binary`
/// (`dockerfiles/fleet-images.sh`), one test process at a time. Call [`crate::docker::docker_engine`]
/// first. Panics with the script's output when it fails.
pub fn fleet_images(binary: &Path, tag: &str) {
    let root = crate::repo_root();
    let lock =
        std::fs::File::create(std::env::temp_dir().join("sebs-test-fleet-images.lock")).unwrap();
    lock.lock().unwrap();
    let mut command = Command::new("bash");
    command
        .arg(root.join("dockerfiles/fleet-images.sh"))
        .arg("--binary")
        .arg(binary)
        .args(["--tag", tag]);
    let output = run_bounded(command, IMAGES_LIMIT);
    assert!(
        output.status.success(),
        "dockerfiles/fleet-images.sh failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// How long `down` may take: each container's stop grace period is bounded by this.
const DOWN_LIMIT: Duration = Duration::from_secs(120);

/// The program and leading arguments that run Compose v2, or `None` (skip the test) when
/// neither the plugin nor the standalone binary answers with version 2 or later.
#[must_use]
pub fn compose_command() -> Option<Vec<String>> {
    let candidates: [&[&str]; 2] = [&["docker", "compose"], &["docker-compose"]];
    for candidate in candidates {
        let version = Command::new(candidate[0])
            .args(&candidate[1..])
            .args(["version", "--short"])
            .output();
        if let Ok(output) = version {
            let text = String::from_utf8_lossy(&output.stdout);
            let major = text.trim().trim_start_matches('v').split('.').next();
            if output.status.success() && major.and_then(|m| m.parse::<u32>().ok()) >= Some(2) {
                return Some(candidate.iter().map(|s| s.to_string()).collect());
            }
        }
    }
    skip("Docker Compose v2 is not installed (`docker compose` or `docker-compose`; `bash .ci/run` installs it)");
    None
}

/// A started Compose project; dropping it runs `down` (containers and networks go; named volumes
/// are kept, but for the project's `fresh_volumes`).
#[derive(Debug)]
pub struct ComposeProject {
    compose: Vec<String>,
    file: PathBuf,
    name: String,
    env: Vec<(String, String)>,
    fresh_volumes: Vec<String>,
}

impl ComposeProject {
    /// A project `name` of `file` with `env` as the file's variables, whose named volumes
    /// `fresh_volumes` (without the project's prefix) start empty. Nothing runs yet; `down` is
    /// run first, so that what a killed test left behind goes.
    pub fn new(
        compose: Vec<String>,
        file: &Path,
        name: &str,
        env: Vec<(String, String)>,
        fresh_volumes: &[&str],
    ) -> Self {
        let project = ComposeProject {
            compose,
            file: file.to_path_buf(),
            name: name.to_string(),
            env,
            fresh_volumes: fresh_volumes
                .iter()
                .map(|v| format!("{name}_{v}"))
                .collect(),
        };
        project.down();
        project
    }

    /// `compose ARGS...` in this project, bounded by `timeout`.
    pub fn run(&self, args: &[&str], timeout: Duration) -> Output {
        let mut command = Command::new(&self.compose[0]);
        command
            .args(&self.compose[1..])
            .arg("--project-name")
            .arg(&self.name)
            .arg("--file")
            .arg(&self.file)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        run_bounded(command, timeout)
    }

    /// `up --detach --wait`: returns once every service runs (and is healthy, where it has a
    /// health check), or panics with the services' logs.
    pub fn up(&self, timeout: Duration) {
        let wait = timeout.as_secs().to_string();
        let output = self.run(
            &["up", "--detach", "--wait", "--wait-timeout", &wait],
            timeout + Duration::from_secs(30),
        );
        assert!(
            output.status.success(),
            "compose up failed ({}):\n{}{}\n== logs\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.logs(None)
        );
    }

    /// The logs of one service, or of all.
    pub fn logs(&self, service: Option<&str>) -> String {
        let mut args = vec!["logs", "--no-color"];
        args.extend(service);
        let output = self.run(&args, Duration::from_secs(60));
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }

    fn down(&self) {
        let _ = self.run(&["down", "--remove-orphans", "--timeout", "30"], DOWN_LIMIT);
        for volume in &self.fresh_volumes {
            let _ = Command::new("docker")
                .args(["volume", "rm", "--force", volume])
                .output();
        }
    }
}

impl Drop for ComposeProject {
    fn drop(&mut self) {
        self.down();
    }
}
