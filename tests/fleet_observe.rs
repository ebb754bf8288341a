//! Observing a fleet from outside, with real `sebs` processes on 127.0.0.1: `/metrics` counts
//! exactly the run's invocations on the coordinator and the worker, `/healthz` and `/readyz`
//! follow each process's life, and SIGTERM stops a coordinator in order, its results complete.

// Test code: a panic with a message is the right way to fail.
#![allow(clippy::unwrap_used)]

// This binary uses only part of what the end-to-end tests share.
#[allow(dead_code)]
#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sebs_testkit::fleet::{run_bounded, wait_for_line, Fleet, FleetOptions};
use sebs_testkit::observe::{get, metrics_address, Scrape};
use sebs_testkit::{free_port, wait_until, Server};
use support::{read_json, repo_root, shared_cache, Run};

/// The longest a fleet run may take here (builds included); it fails the test beyond.
const RUN_LIMIT: Duration = Duration::from_secs(600);
/// How long a metric may take to show what has happened (runs tick once a second).
const SETTLE: Duration = Duration::from_secs(30);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sebs"))
}

/// A worker of `fleet` that serves its endpoints; started, attached, with their address.
fn observed_worker(fleet: &Fleet, name: &str, region: &str) -> (Server, String) {
    let mut command = fleet.worker_command(name, region, &fleet.credentials.token_file);
    command.args(["--metrics-listen", "127.0.0.1:0"]);
    let worker = Server::start(&format!("sebs-worker-{name}"), command);
    let address = metrics_address(&worker);
    wait_for_line(&worker, "attached to the coordinator", RUN_LIMIT);
    (worker, address)
}

fn invoke_command(fleet: &Fleet, args: &[&str], out_dir: &Path) -> Command {
    fleet.invoke_command(&fleet.credentials.token_file, args, out_dir)
}

fn status(addr: &str, path: &str) -> Option<u16> {
    get(addr, path).map(|(status, _)| status)
}

#[test]
fn metrics_count_a_runs_invocations_on_the_coordinator_and_its_workers() {
    let fleet = Fleet::start_with(
        bin(),
        &repo_root(),
        &shared_cache(),
        &FleetOptions::default(),
        |c| {
            c.args(["--metrics-listen", "127.0.0.1:0"]);
        },
    );
    let coordinator = metrics_address(fleet.coordinator());
    assert_eq!(get(&coordinator, "/healthz"), Some((200, "ok\n".into())));
    assert_eq!(status(&coordinator, "/readyz"), Some(200));
    assert_eq!(status(&coordinator, "/nothing"), Some(404));
    let (_east, east) = observed_worker(&fleet, "east-1", "us-east");
    let (_eu, eu) = observed_worker(&fleet, "eu-1", "eu");
    for worker in [&east, &eu] {
        assert_eq!(status(worker, "/healthz"), Some(200));
        assert_eq!(status(worker, "/readyz"), Some(200), "attached, so ready");
    }
    let before = Scrape::of(&coordinator);
    assert_eq!(before.sum("sebs_coordinator_workers", &[]), 2.0);
    assert_eq!(
        before.sum("sebs_coordinator_workers", &["region=\"eu\""]),
        1.0
    );
    assert_eq!(
        before.types["sebs_coordinator_invocations_total"],
        "counter"
    );
    assert_eq!(
        before.types["sebs_coordinator_schedule_lag_seconds"],
        "histogram"
    );

    // An open loop (it has a schedule, so lag) of 16 invocations, 8 from each region.
    let out_dir = tempfile::tempdir().unwrap();
    let args = [
        "110.dynamic-html",
        "test",
        "--repetitions",
        "16",
        "--rate",
        "16",
        "--duration",
        "1s",
    ];
    let output = run_bounded(invoke_command(&fleet, &args, out_dir.path()), RUN_LIMIT);
    let run = Run { output, out_dir };
    run.assert_success();
    // An open loop writes records.csv, one line per invocation.
    let records = std::fs::read_to_string(run.out_dir.path().join("records.csv")).unwrap();
    let mut lines = records.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let is_cold = header.iter().position(|c| *c == "is_cold").unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 16);
    let cold = rows.iter().filter(|r| r[is_cold] == "1").count() as f64;

    // The run's end reaches the gauges at its last tick.
    wait_until("the run to end in the metrics", SETTLE, || {
        let s = Scrape::of(&coordinator);
        s.sum("sebs_coordinator_runs_ended_total", &[]) == 1.0
            && s.sum("sebs_coordinator_runs", &[]) == 0.0
    });
    let c = Scrape::of(&coordinator);
    let logs = fleet.logs();
    let invocations = "sebs_coordinator_invocations_total";
    assert_eq!(c.sum(invocations, &[]), 16.0, "{c:#?}\n{logs}");
    assert_eq!(c.sum(invocations, &["outcome=\"ok\""]), 16.0);
    assert_eq!(c.sum(invocations, &["start=\"cold\""]), cold);
    assert_eq!(c.sum(invocations, &["region=\"us-east\""]), 8.0);
    assert_eq!(c.sum(invocations, &["region=\"eu\""]), 8.0);
    assert_eq!(c.sum("sebs_coordinator_failures_total", &[]), 0.0);
    assert_eq!(
        c.sum(
            "sebs_coordinator_runs_ended_total",
            &["outcome=\"complete\""]
        ),
        1.0
    );
    assert_eq!(c.sum("sebs_coordinator_active_shards", &[]), 0.0);
    assert_eq!(
        c.sum("sebs_coordinator_reports_total", &["result=\"duplicate\""]),
        0.0
    );
    assert!(c.sum("sebs_coordinator_reports_total", &["result=\"merged\""]) >= 2.0);
    // Every open-loop send has its lag: the histogram holds each invocation once.
    let lag = "sebs_coordinator_schedule_lag_seconds";
    assert_eq!(c.sum(&format!("{lag}_count"), &[]), 16.0);
    assert_eq!(c.sum(&format!("{lag}_bucket"), &["le=\"+Inf\""]), 16.0);

    // Each worker counted what it sent: together, what the coordinator merged.
    let mut sent = 0.0;
    for (worker, region) in [(&east, "us-east"), (&eu, "eu")] {
        let w = Scrape::of(worker);
        let mine = w.sum(
            "sebs_worker_invocations_total",
            &[&format!("region=\"{region}\"")],
        );
        assert_eq!(mine, 8.0, "{w:#?}");
        assert_eq!(w.sum("sebs_worker_attached", &[]), 1.0);
        assert_eq!(w.sum("sebs_worker_active_shards", &[]), 0.0);
        assert_eq!(w.sum("sebs_worker_schedule_lag_seconds_count", &[]), 8.0);
        assert!(w.sum("sebs_worker_reports_total", &[]) >= 1.0);
        sent += w.sum("sebs_worker_invocations_total", &[]);
    }
    assert_eq!(sent, c.sum(invocations, &[]));
}

#[test]
fn a_worker_is_ready_only_while_attached() {
    // Nothing listens at this coordinator's address: the worker keeps trying.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let token = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token.path(), "0f1e2d3c4b5a69788796a5b4c3d2e1f0").unwrap();
    let mut command = Command::new(bin());
    command
        .args(["worker", "--plaintext", "--metrics-listen", "127.0.0.1:0"])
        .arg("--token-file")
        .arg(token.path())
        // Deployments set these from the environment.
        .env("SEBS_COORDINATOR", &dead)
        .env("SEBS_REGION", "lab-1")
        .env("SEBS_WORKER_NAME", "lonely")
        .env_remove("SEBS_LOG")
        .current_dir(repo_root());
    let mut worker = Server::start("sebs-worker-lonely", command);
    let address = metrics_address(&worker);
    assert_eq!(status(&address, "/healthz"), Some(200));
    let (code, body) = get(&address, "/readyz").unwrap();
    assert_eq!(
        (code, body.as_str()),
        (503, "not ready: not attached to a coordinator\n")
    );
    wait_for_line(&worker, "cannot attach to the coordinator", RUN_LIMIT);
    let w = Scrape::of(&address);
    assert_eq!(w.sum("sebs_worker_attached", &[]), 0.0);
    assert_eq!(w.sum("sebs_build_info", &["role=\"worker\""]), 1.0);
    // It stops at SIGTERM though it never attached.
    let exit = worker.terminate(SETTLE);
    assert!(exit.success(), "{exit}\n{}", worker.log());
}

#[test]
fn sigterm_drains_the_coordinator_and_keeps_complete_result_files() {
    // Runs going on get 3 s to finish, then are cancelled.
    let mut fleet = Fleet::start_with(
        bin(),
        &repo_root(),
        &shared_cache(),
        &FleetOptions::default(),
        |c| {
            c.args(["--metrics-listen", "127.0.0.1:0", "--drain-timeout", "3"]);
        },
    );
    fleet.add_worker("w1", "r1");
    let coordinator = metrics_address(fleet.coordinator());
    // 010.sleep sleeps 1 s: 200 invocations two at a time would take 100 s.
    let out_dir = tempfile::tempdir().unwrap();
    let args = [
        "010.sleep",
        "test",
        "--repetitions",
        "200",
        "--concurrency",
        "2",
    ];
    let command = invoke_command(&fleet, &args, out_dir.path());
    let client = std::thread::spawn(move || run_bounded(command, RUN_LIMIT));
    // Mid-run: some invocations were merged.
    wait_until("invocations to be merged", RUN_LIMIT, || {
        Scrape::of(&coordinator).sum("sebs_coordinator_invocations_total", &[]) >= 2.0
    });
    let pid = fleet.coordinator().pid().to_string();
    let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(kill.success());
    // Readiness fails first, while the run drains (the process lives on for at least 3 s).
    wait_until("readiness to fail", SETTLE, || {
        status(&coordinator, "/readyz") == Some(503)
    });
    assert_eq!(
        status(&coordinator, "/healthz"),
        Some(200),
        "alive while draining"
    );
    let exit = fleet.coordinator_mut().wait_exit(RUN_LIMIT);
    assert!(exit.success(), "{exit}\n{}", fleet.logs());
    let log = fleet.coordinator().log();
    for step in [
        "shutting down: no new runs",
        "cancelling the runs still going on",
        "detaching the worker",
        "coordinator stopped",
    ] {
        assert!(log.contains(step), "no {step:?} in\n{log}");
    }

    // The client got the run's end: incomplete, with everything measured so far.
    let output = client.join().unwrap();
    let run = Run { output, out_dir };
    let fleet_json = read_json(&run.out_dir.path().join("fleet.json"));
    assert_eq!(fleet_json["complete"], false, "{}", run.stderr());
    let counted = fleet_json["invocations"].as_u64().unwrap();
    assert!((2..200).contains(&counted), "{counted} invocations");
    assert_eq!(run.invocations().len() as u64, counted);

    // The coordinator's copy under --results-dir was written to its end, the same run.
    let copies: Vec<_> = std::fs::read_dir(fleet.results_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    let copy = read_json(&copies[0].join("fleet.json"));
    assert_eq!(copy["invocations"], fleet_json["invocations"]);
    assert_eq!(copy["complete"], false);
    let lines = std::fs::read_to_string(copies[0].join("invocations.jsonl")).unwrap();
    assert_eq!(
        lines.lines().count() as u64,
        counted,
        "a line per invocation"
    );
    let copied = read_json(&copies[0].join("experiments.json"));
    let by_id = copied["_invocations"].as_object().unwrap().values().next();
    assert_eq!(by_id.unwrap().as_object().unwrap().len() as u64, counted);

    // The worker was detached, not killed: it tries to attach again.
    wait_for_line(fleet.worker("w1"), "lost the coordinator", SETTLE);
}
