//! `deploy/` validated offline by `deploy/validate.py`: `helm lint --strict` and `helm template`
//! of the chart (Helm's own Go SDK, through helm-python-sdk) in several variants, every rendered
//! object and every plain manifest checked against the Kubernetes 1.32 schemas in strict mode and
//! against what a fleet needs, values the chart must refuse, the plain manifests being the chart's
//! rendering, `kubectl kustomize`, and `docker compose config` of the compose file.

// Test code: a panic with a message is the right way to fail.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use sebs_testkit::cluster::{cluster_tools_python, compose_command};
use sebs_testkit::fleet::run_bounded;
use sebs_testkit::require;

/// The Kubernetes release the manifests are checked against.
const KUBERNETES: &str = "1.32.0";

#[test]
fn the_chart_the_manifests_and_the_compose_file_are_valid() {
    let Some(python) = cluster_tools_python() else {
        return;
    };
    if require("kubectl", "apt-get install kubernetes-client").is_none()
        || compose_command().is_none()
    {
        return;
    }
    let root = sebs_testkit::repo_root();
    let mut command = Command::new(python);
    command
        .arg(root.join("deploy/validate.py"))
        .args(["--kube-version", KUBERNETES]);
    let output = run_bounded(command, Duration::from_secs(300));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "deploy/validate.py failed ({}):\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // Every step ran: none was skipped for want of a tool.
    for step in [
        "chart (defaults)",
        "wrong values refused",
        "kubectl kustomize",
        "docker-compose.yaml: valid",
    ] {
        assert!(stdout.contains(step), "no `{step}` in:\n{stdout}");
    }
}
