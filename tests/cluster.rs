//! The deployment of `deploy/` end to end: the fleet's images built with this machine's Docker
//! engine (`dockerfiles/fleet-images.sh`, with the binary under test), `deploy/docker-compose.yaml`
//! started with Compose v2 (etcd, a coordinator, three workers in two regions, all on the host's
//! network on free ports of 127.0.0.1), and a benchmark submitted from the host with
//! `sebs benchmark invoke --coordinator`, which must complete across the workers of both regions.

// Test code: a panic with a message is the right way to fail.
#![allow(clippy::unwrap_used)]

// This binary uses only part of what the end-to-end tests share.
#[allow(dead_code)]
#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sebs_testkit::cluster::{compose_command, fleet_images, ComposeProject};
use sebs_testkit::docker::docker_engine;
use sebs_testkit::fleet::{run_bounded, Credentials};
use sebs_testkit::{free_port, wait_until};
use serde_json::Value;
use support::{read_json, repo_root, Run};

/// The images' tag for this test, apart from the user's.
const TAG: &str = "cluster-test";
/// The Compose project: one at a time on a machine. Its coordinator's cache volume is kept
/// between runs (tools environment, packages), as a deployment's would be.
const PROJECT: &str = "sebs-cluster-test";
/// Starting the project: etcd healthy, then the coordinator listening.
const UP_LIMIT: Duration = Duration::from_secs(180);
/// The run, the first one included: the coordinator makes its tools environment and builds the
/// package (pip from the package index) before the workers invoke.
const RUN_LIMIT: Duration = Duration::from_secs(600);
/// The workers attaching after the coordinator listens (they back off up to 10 s).
const ATTACH_LIMIT: Duration = Duration::from_secs(90);
/// Invocations of the run: enough for every worker to get a shard.
const REPETITIONS: usize = 24;

/// The workers of deploy/docker-compose.yaml: service, worker name, region.
const WORKERS: [(&str, &str, &str); 3] = [
    ("worker-us-east-1-a", "us-east-1-a", "us-east-1"),
    ("worker-us-east-1-b", "us-east-1-b", "us-east-1"),
    ("worker-eu-west-1-a", "eu-west-1-a", "eu-west-1"),
];

/// The fleet's secrets as deploy/docker-compose.yaml names them. The files are bind-mounted as
/// they are, so they are readable by the containers' user (uid 10001); their folder stays private.
fn write_secrets(dir: &Path) -> Credentials {
    let credentials = Credentials::generate();
    for (from, to) in [
        (&credentials.ca, "ca.pem"),
        (&credentials.cert, "coordinator.pem"),
        (&credentials.key, "coordinator.key"),
        (&credentials.token_file, "fleet.token"),
    ] {
        let path = dir.join(to);
        std::fs::copy(from, &path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    credentials
}

/// Whether this build's `sebs worker` serves /metrics (engineer observe's `--metrics-listen`).
fn serves_metrics() -> bool {
    let help = Command::new(env!("CARGO_BIN_EXE_sebs"))
        .args(["worker", "--help"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&help.stdout).contains("--metrics-listen")
}

/// `GET path` on 127.0.0.1:port: the status code and the body.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    let status = reply.split_whitespace().nth(1)?.parse().ok()?;
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

#[test]
fn a_compose_fleet_runs_a_benchmark_across_two_regions() {
    if docker_engine().is_none() {
        return;
    }
    let Some(compose) = compose_command() else {
        return;
    };
    let sebs = Path::new(env!("CARGO_BIN_EXE_sebs"));
    fleet_images(sebs, TAG);

    let secrets = tempfile::Builder::new()
        .prefix("sebs-cluster-secrets-")
        .tempdir()
        .unwrap();
    let credentials = write_secrets(secrets.path());
    let coordinator_port = free_port();
    let coordinator_metrics_port = free_port();
    let metrics_ports: Vec<u16> = WORKERS.iter().map(|_| free_port()).collect();
    let env = [
        ("SEBS_TAG", TAG.to_string()),
        ("SEBS_SECRETS", secrets.path().display().to_string()),
        ("SEBS_COORDINATOR_PORT", coordinator_port.to_string()),
        ("SEBS_ETCD_PORT", free_port().to_string()),
        ("SEBS_ETCD_PEER_PORT", free_port().to_string()),
        (
            "SEBS_COORDINATOR_METRICS_PORT",
            coordinator_metrics_port.to_string(),
        ),
        ("SEBS_USE1A_METRICS_PORT", metrics_ports[0].to_string()),
        ("SEBS_USE1B_METRICS_PORT", metrics_ports[1].to_string()),
        ("SEBS_EUW1A_METRICS_PORT", metrics_ports[2].to_string()),
        ("RUST_LOG", "info".to_string()),
    ];
    // etcd starts empty each time; the coordinator's cache is kept.
    let project = ComposeProject::new(
        compose,
        &repo_root().join("deploy/docker-compose.yaml"),
        PROJECT,
        env.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        &["etcd-data"],
    );
    project.up(UP_LIMIT);

    for (service, _, _) in WORKERS {
        wait_until(&format!("{service} attached"), ATTACH_LIMIT, || {
            project
                .logs(Some(service))
                .contains("attached to the coordinator")
        });
    }

    let out_dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(sebs);
    command
        .args(["benchmark", "invoke", "110.dynamic-html", "test"])
        .args([
            "--repetitions",
            &REPETITIONS.to_string(),
            "--concurrency",
            "6",
        ])
        .args(["--regions", "us-east-1,eu-west-1"])
        .arg("--coordinator")
        .arg(format!("https://127.0.0.1:{coordinator_port}"))
        .arg("--ca")
        .arg(&credentials.ca)
        .arg("--token-file")
        .arg(&credentials.token_file)
        .arg("--output-dir")
        .arg(out_dir.path())
        .current_dir(repo_root())
        .env_remove("SEBS_LOG");
    let run = Run {
        output: run_bounded(command, RUN_LIMIT),
        out_dir,
    };
    if !run.output.status.success() {
        panic!(
            "the run failed ({:?}):\n{}\n{}\n== compose logs\n{}",
            run.code(),
            run.stdout(),
            run.stderr(),
            project.logs(None)
        );
    }

    // Every planned invocation came back once, successful, from the regions asked for.
    let results = run.invocations();
    assert_eq!(results.len(), REPETITIONS, "{}", run.stdout());
    for r in &results {
        assert_eq!(r["stats"]["failure"], false, "{r}");
    }
    let regions: BTreeSet<&str> = results
        .iter()
        .map(|r| r["origin"]["region"].as_str().unwrap())
        .collect();
    assert_eq!(
        regions,
        WORKERS.iter().map(|w| w.2).collect(),
        "invocations from both regions"
    );
    let workers: BTreeSet<&str> = results
        .iter()
        .map(|r| r["origin"]["worker"].as_str().unwrap())
        .collect();
    assert_eq!(
        workers,
        WORKERS.iter().map(|w| w.1).collect(),
        "every worker of the compose file invoked"
    );

    let fleet = read_json(&run.out_dir.path().join("fleet.json"));
    assert_eq!(fleet["complete"], Value::Bool(true), "{fleet}");
    assert_eq!(
        fleet["invocations"].as_u64(),
        Some(REPETITIONS as u64),
        "{fleet}"
    );
    for shard in fleet["shards"].as_array().unwrap() {
        let last = shard["history"].as_array().unwrap().last().unwrap();
        assert_eq!(last["state"], "done", "every shard finished: {shard}");
    }
    let matrix = read_json(&run.out_dir.path().join("latency-matrix.json"));
    for region in regions {
        assert!(
            matrix["matrix"][region].is_object(),
            "latency matrix without {region}: {matrix}"
        );
    }

    // The coordinator's and a worker's probes and metrics, where this build serves them.
    if serves_metrics() {
        for (who, port) in [
            ("coordinator", coordinator_metrics_port),
            ("worker eu-west-1-a", metrics_ports[2]),
        ] {
            for path in ["/healthz", "/readyz"] {
                let reply = http_get(port, path);
                assert_eq!(
                    reply.as_ref().map(|r| r.0),
                    Some(200),
                    "{who} {path}: {reply:?}"
                );
            }
            let (status, body) = http_get(port, "/metrics")
                .unwrap_or_else(|| panic!("{who}'s /metrics does not answer"));
            assert_eq!(status, 200, "{who}: {body}");
            assert!(
                body.lines().any(|l| l.starts_with("# TYPE ")),
                "{who}: Prometheus text format expected:\n{body}"
            );
        }
    } else {
        eprintln!("NOTE: this build's `sebs worker` has no --metrics-listen; /metrics not checked");
    }
}
