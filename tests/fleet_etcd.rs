//! The fleet over a real etcd (Debian `etcd-server`, on free ports of 127.0.0.1): workers
//! registered under leases, a coordinator killed with SIGKILL and started again that resumes
//! its run, and a worker whose lease ends while its stream stays open.

// Test code: a panic with a message is the right way to fail.
#![allow(clippy::unwrap_used)]

// This binary uses only part of what the end-to-end tests share.
#[allow(dead_code)]
#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sebs_testkit::etcd::{self, Etcd};
use sebs_testkit::fleet::{
    assert_each_invocation_once, assert_reassigned_away, run_bounded, wait_for_line, Fleet,
};
use sebs_testkit::wait_until;
use serde_json::Value;
use support::{read_json, repo_root, shared_cache, Run};

/// The longest a fleet run may take here (builds included); it fails the test beyond.
const RUN_LIMIT: Duration = Duration::from_secs(600);

/// A fleet whose coordinator and workers all use `etcd`.
fn fleet(etcd: &Etcd, workers: &[(&str, &str)]) -> Fleet {
    let mut fleet = Fleet::start_with_env(
        Path::new(env!("CARGO_BIN_EXE_sebs")),
        &repo_root(),
        &shared_cache(),
        false,
        &[("SEBS_ETCD", etcd.endpoint.as_str())],
    );
    for (name, region) in workers {
        fleet.add_worker(name, region);
    }
    fleet
}

/// `benchmark invoke` through `fleet`, started on a thread: the test acts on the fleet
/// meanwhile and joins it for the finished run.
fn invoke_in_background(fleet: &Fleet, args: &[&str]) -> (std::thread::JoinHandle<Run>, String) {
    let out_dir = tempfile::tempdir().unwrap();
    let command: Command =
        fleet.invoke_command(&fleet.credentials.token_file, args, out_dir.path());
    let dir = out_dir.path().display().to_string();
    let client = std::thread::spawn(move || {
        let output = run_bounded(command, RUN_LIMIT);
        Run { output, out_dir }
    });
    (client, dir)
}

fn assert_complete(run: &Run, planned: usize, fleet: &Fleet) -> Vec<Value> {
    assert!(
        run.output.status.success(),
        "{}\n{}\n{}",
        run.stdout(),
        run.stderr(),
        fleet.logs()
    );
    let results = run.invocations();
    assert_eq!(
        results.len(),
        planned,
        "exactly the planned invocations\n{}",
        fleet.logs()
    );
    assert_eq!(
        run.lines().len(),
        planned,
        "invocations.jsonl holds each once"
    );
    assert_each_invocation_once(&results);
    assert_eq!(run.experiments()["complete"], true);
    assert!(
        results.iter().all(|r| r["stats"]["failure"] == false),
        "{results:?}"
    );
    results
}

/// The most lines `file` has in any run's copy on the coordinator (`--results-dir`), which it
/// writes as results are accepted.
fn lines_in_copies(fleet: &Fleet, file: &str) -> usize {
    std::fs::read_dir(fleet.results_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|d| std::fs::read_to_string(d.path().join(file)).ok())
        .map(|text| text.lines().count())
        .max()
        .unwrap_or(0)
}

/// What `worker` registered in etcd, if it is registered.
fn registration(etcd: &Etcd, worker: &str) -> Option<Value> {
    etcd.keys(&format!("sebs/members/{worker}"))
        .into_iter()
        .find(|(k, _)| k == &format!("sebs/members/{worker}"))
        .map(|(_, v)| serde_json::from_str(&v).unwrap())
}

#[test]
fn a_fleet_with_etcd_membership_runs_a_benchmark() {
    let Some(etcd) = etcd::start() else { return };
    let fleet = fleet(&etcd, &[("east-1", "us-east"), ("eu-1", "eu")]);
    // Each worker registered itself, with its region, under a lease.
    for (worker, region) in [("east-1", "us-east"), ("eu-1", "eu")] {
        let r = registration(&etcd, worker).unwrap_or_else(|| {
            panic!(
                "{worker} is not in etcd: {:?}\n{}",
                etcd.keys("sebs/"),
                fleet.logs()
            )
        });
        assert_eq!(r["region"], region, "{r}");
        assert!(r["capacity"].as_u64().unwrap() >= 1, "{r}");
    }
    let holder = etcd.keys("sebs/coordinator");
    assert_eq!(
        holder.len(),
        1,
        "the coordinator holds its office: {holder:?}"
    );
    // A second coordinator on the same etcd waits for the office instead of serving.
    let mut second = Command::new(env!("CARGO_BIN_EXE_sebs"));
    second
        .args([
            "coordinator",
            "--listen",
            "127.0.0.1:0",
            "--plaintext",
            "--token-file",
        ])
        .arg(&fleet.credentials.token_file)
        .current_dir(repo_root())
        .env("SEBS_ETCD", &etcd.endpoint)
        .env_remove("SEBS_LOG");
    let second = sebs_testkit::Server::start("second-coordinator", second);
    wait_for_line(&second, "another coordinator holds", RUN_LIMIT);
    assert!(!second.log().contains("listening on"), "{}", second.log());
    drop(second);

    let (client, _) = invoke_in_background(
        &fleet,
        &[
            "110.dynamic-html",
            "test",
            "--repetitions",
            "8",
            "--concurrency",
            "4",
        ],
    );
    let run = client.join().unwrap();
    let results = assert_complete(&run, 8, &fleet);
    let regions: std::collections::BTreeSet<&str> = results
        .iter()
        .map(|r| r["origin"]["region"].as_str().unwrap())
        .collect();
    assert_eq!(regions, ["eu", "us-east"].into_iter().collect());

    // The run is stored as finished; its shards and results were dropped with its end.
    let id = read_json(&run.out_dir.path().join("fleet.json"))["run"]
        .as_str()
        .unwrap()
        .to_string();
    wait_until(
        "the run stored as finished",
        Duration::from_secs(30),
        || {
            etcd.keys(&format!("sebs/run/{id}")).len() == 1
                && etcd.keys(&format!("sebs/batches/{id}/")).is_empty()
        },
    );
    assert!(etcd.keys(&format!("sebs/shards/{id}/")).is_empty());
}

#[test]
fn a_coordinator_killed_mid_run_resumes_it_and_counts_each_invocation_once() {
    let Some(etcd) = etcd::start() else { return };
    let mut fleet = fleet(&etcd, &[("a", "r1"), ("b", "r2"), ("c", "r3")]);
    // 010.sleep sleeps 1 s: each worker runs one task of 4 invocations in a row, about 4 s.
    let (client, _) = invoke_in_background(
        &fleet,
        &[
            "010.sleep",
            "test",
            "--repetitions",
            "12",
            "--concurrency",
            "3",
        ],
    );
    // Mid-run: some results are accepted (the coordinator's copy has them, so they were
    // stored and sent to the client), others not yet.
    let accepted = || lines_in_copies(&fleet, "invocations.jsonl");
    wait_until("some results accepted", RUN_LIMIT, || accepted() >= 2);
    assert!(
        accepted() < 12,
        "the run ended before the kill\n{}",
        fleet.logs()
    );
    fleet.restart_coordinator();

    let run = client.join().unwrap();
    let results = assert_complete(&run, 12, &fleet);
    let resumed: Vec<&Value> = results
        .iter()
        .filter(|r| r["origin"]["attempt"].as_u64() > Some(0))
        .collect();
    assert!(
        !resumed.is_empty(),
        "what was not done ran again as new attempts\n{}",
        fleet.logs()
    );
    let log = fleet.coordinator().log();
    assert!(log.contains("resuming the run"), "{}", fleet.logs());
    assert!(
        run.stderr().contains("following the run again"),
        "{}",
        run.stderr()
    );
    let summary = read_json(&run.out_dir.path().join("summary.json"));
    assert_eq!(summary["invocations"], 12, "{summary}");
    // The history lists the attempts before and after the restart.
    let fleet_json = read_json(&run.out_dir.path().join("fleet.json"));
    let history = fleet_json["shards"].to_string();
    assert!(
        history.contains("the coordinator restarted"),
        "{fleet_json}"
    );
    // The coordinator's own copy, written anew after the restart, agrees.
    let id = fleet_json["run"].as_str().unwrap();
    let copy = fleet.results_dir().join(id);
    wait_until("the coordinator's copy", Duration::from_secs(30), || {
        copy.join("fleet.json").exists()
    });
    let lines = std::fs::read_to_string(copy.join("invocations.jsonl")).unwrap();
    assert_eq!(
        lines.lines().count(),
        12,
        "the copy holds every invocation once"
    );
}

#[test]
fn an_open_loop_resumed_after_its_coordinator_was_killed_sends_each_arrival_once() {
    let Some(etcd) = etcd::start() else { return };
    let mut fleet = fleet(&etcd, &[("a", "r1"), ("b", "r2")]);
    // 10 arrivals a second for 6 s: 60, dealt out to both workers from one schedule.
    let (client, _) = invoke_in_background(
        &fleet,
        &[
            "110",
            "test",
            "--rate",
            "10",
            "--duration",
            "6s",
            "--concurrency",
            "4",
        ],
    );
    // (records.csv has a header line.)
    let recorded = || lines_in_copies(&fleet, "records.csv").saturating_sub(1);
    wait_until("some arrivals recorded", RUN_LIMIT, || recorded() >= 5);
    assert!(
        recorded() < 60,
        "the run ended before the kill\n{}",
        fleet.logs()
    );
    fleet.restart_coordinator();

    let run = client.join().unwrap();
    assert!(
        run.output.status.success(),
        "{}\n{}\n{}",
        run.stdout(),
        run.stderr(),
        fleet.logs()
    );
    let records = std::fs::read_to_string(run.out_dir.path().join("records.csv")).unwrap();
    let mut lines = records.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (shard, sequence, attempt) = (column("shard"), column("sequence"), column("attempt"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let keys: std::collections::BTreeSet<(&str, &str)> =
        rows.iter().map(|r| (r[shard], r[sequence])).collect();
    assert_eq!(rows.len(), 60, "every arrival once\n{}", fleet.logs());
    assert_eq!(keys.len(), 60, "no (shard, sequence) twice");
    assert!(
        rows.iter().any(|r| r[attempt] != "0"),
        "arrivals after the restart"
    );
    let summary = read_json(&run.out_dir.path().join("summary.json"));
    assert_eq!(
        (summary["sent"].as_u64(), summary["complete"].as_bool()),
        (Some(60), Some(true)),
        "{summary}"
    );
    // The histograms cover exactly the recorded invocations.
    let matrix = read_json(&run.out_dir.path().join("latency-matrix.json"));
    let total: u64 = ["r1", "r2"]
        .iter()
        .flat_map(|r| matrix["matrix"][r].as_object().unwrap().values())
        .map(|cell| cell["invocations"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 60, "{matrix}");
}

#[test]
fn a_worker_whose_lease_ends_has_its_work_reassigned() {
    let Some(etcd) = etcd::start() else { return };
    let fleet = fleet(&etcd, &[("a", "r1"), ("b", "r2"), ("victim", "r3")]);
    // 010.sleep sleeps 1 s: each worker runs 2 tasks of 2 invocations, about 2 s.
    let (client, _) = invoke_in_background(
        &fleet,
        &[
            "010.sleep",
            "test",
            "--repetitions",
            "12",
            "--concurrency",
            "6",
        ],
    );
    wait_for_line(fleet.worker("victim"), "shard started", RUN_LIMIT);
    // Stopped, the victim keeps its stream open but sends no keep-alive: only its lease
    // ending in etcd tells the coordinator it is gone.
    signal(fleet.worker("victim").pid(), "STOP");
    let run = client.join().unwrap();
    signal(fleet.worker("victim").pid(), "CONT");
    let results = assert_complete(&run, 12, &fleet);
    assert_reassigned_away(&results, "victim", &fleet.logs());
    assert!(
        run.stderr()
            .contains("worker victim left (its lease in etcd ended)"),
        "{}\n{}",
        run.stderr(),
        fleet.logs()
    );
    // Running again, the victim finds its lease gone, registers under a new one and attaches
    // again.
    wait_until(
        "the victim registered again",
        Duration::from_secs(60),
        || {
            let log = fleet.worker("victim").log();
            log.matches("holding the key in etcd").count() >= 2
                && log.matches("attached to the coordinator").count() >= 2
        },
    );
    assert!(registration(&etcd, "victim").is_some());
}

/// `kill -SIGNAL pid`.
fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid}");
}

#[test]
fn without_etcd_a_client_whose_coordinator_restarts_says_the_run_is_lost() {
    let mut fleet = Fleet::start(
        Path::new(env!("CARGO_BIN_EXE_sebs")),
        &repo_root(),
        &shared_cache(),
        false,
    );
    fleet.add_worker("a", "r1");
    let (client, _) = invoke_in_background(
        &fleet,
        &[
            "010.sleep",
            "test",
            "--repetitions",
            "6",
            "--concurrency",
            "1",
        ],
    );
    wait_until("some results accepted", RUN_LIMIT, || {
        lines_in_copies(&fleet, "invocations.jsonl") >= 1
    });
    fleet.restart_coordinator();
    let run = client.join().unwrap();
    assert_eq!(run.code(), Some(2), "{}\n{}", run.stderr(), fleet.logs());
    assert!(
        run.stderr().contains("lost run") && run.stderr().contains("is going on"),
        "{}",
        run.stderr()
    );
    // What arrived before the coordinator went away stays in the output folder.
    assert!(!run.lines().is_empty(), "{}", run.stderr());
}
