//! The fleet end to end: a coordinator and workers as real `sebs` processes on 127.0.0.1 (regions
//! are labels here), `benchmark invoke --coordinator` against the local platform the coordinator
//! runs.

// Test code: a panic with a message is the right way to fail.
#![allow(clippy::unwrap_used)]

// This binary uses only part of what the end-to-end tests share.
#[allow(dead_code)]
#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sebs_testkit::fleet::{
    assert_each_invocation_once, assert_reassigned_away, run_bounded, wait_for_line, Fleet,
    FleetOptions,
};
use sebs_testkit::proxy::Proxy;
use sebs_testkit::wait_until;
use serde_json::Value;
use support::{read_json, repo_root, shared_cache, Run};

/// The longest a fleet run may take here (builds included); it fails the test beyond.
const RUN_LIMIT: Duration = Duration::from_secs(600);

fn fleet(tls: bool, workers: &[(&str, &str)]) -> Fleet {
    let options = FleetOptions {
        tls,
        ..FleetOptions::default()
    };
    fleet_with(&options, workers)
}

fn fleet_with(options: &FleetOptions, workers: &[(&str, &str)]) -> Fleet {
    let mut fleet = Fleet::start_with(
        Path::new(env!("CARGO_BIN_EXE_sebs")),
        &repo_root(),
        &shared_cache(),
        options,
        |_| {},
    );
    for (name, region) in workers {
        fleet.add_worker(name, region);
    }
    fleet
}

/// `sebs benchmark invoke <args>` through `fleet`, into a fresh output folder.
fn invoke_command(fleet: &Fleet, token_file: &Path, args: &[&str], out_dir: &Path) -> Command {
    fleet.invoke_command(token_file, args, out_dir)
}

fn invoke(fleet: &Fleet, args: &[&str]) -> Run {
    let out_dir = tempfile::tempdir().unwrap();
    let command = invoke_command(fleet, &fleet.credentials.token_file, args, out_dir.path());
    let output = run_bounded(command, RUN_LIMIT);
    Run { output, out_dir }
}

/// `invoke` with `during` run meanwhile (once the client has started; it gets the client's
/// output folder).
fn invoke_while(fleet: &mut Fleet, args: &[&str], during: impl FnOnce(&mut Fleet, &Path)) -> Run {
    let out_dir = tempfile::tempdir().unwrap();
    let command = invoke_command(fleet, &fleet.credentials.token_file, args, out_dir.path());
    let client = std::thread::spawn(move || run_bounded(command, RUN_LIMIT));
    during(fleet, out_dir.path());
    let output = client.join().unwrap();
    Run { output, out_dir }
}

fn region_of(r: &Value) -> String {
    r["origin"]["region"].as_str().unwrap().to_string()
}

fn count_by<'a>(values: impl Iterator<Item = String> + 'a) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for v in values {
        *counts.entry(v).or_insert(0) += 1;
    }
    counts
}

#[test]
fn a_fleet_splits_runs_by_region_and_merges_them() {
    let fleet = fleet(
        true,
        &[("east-1", "us-east"), ("west-1", "us-west"), ("eu-1", "eu")],
    );

    // Closed loop, every worker by capacity: 12 invocations, 4 per region.
    let run = invoke(
        &fleet,
        &[
            "110.dynamic-html",
            "test",
            "--repetitions",
            "12",
            "--concurrency",
            "6",
        ],
    );
    run.assert_success();
    let results = run.invocations();
    assert_eq!(
        results.len(),
        12,
        "exactly the planned invocations\n{}",
        fleet.logs()
    );
    assert_eq!(run.lines().len(), 12, "invocations.jsonl holds each once");
    assert_each_invocation_once(&results);
    let by_region = count_by(results.iter().map(region_of));
    assert_eq!(
        by_region,
        BTreeMap::from([
            ("eu".into(), 4),
            ("us-east".into(), 4),
            ("us-west".into(), 4)
        ])
    );
    assert!(
        results.iter().all(|r| r["stats"]["failure"] == false),
        "{results:?}"
    );
    let matrix = read_json(&run.out_dir.path().join("latency-matrix.json"));
    let experiments = run.experiments();
    let function = experiments["_invocations"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap();
    for region in ["eu", "us-east", "us-west"] {
        let cell = &matrix["matrix"][region][function];
        assert_eq!(cell["invocations"], 4, "{matrix}");
        let cold = cell["cold"]["count"].as_u64().unwrap_or(0);
        let warm = cell["warm"]["count"].as_u64().unwrap_or(0);
        assert_eq!(cold + warm, 4, "{matrix}");
    }
    let fleet_json = read_json(&run.out_dir.path().join("fleet.json"));
    let workers = fleet_json["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 3, "{fleet_json}");
    for w in workers {
        assert!(w["clock_samples"].as_u64().unwrap() >= 1, "{w}");
        // One machine, one clock: the estimate is within its own round trip of zero.
        let (offset, round_trip) = (
            w["clock_offset_s"].as_f64().unwrap(),
            w["round_trip_s"].as_f64().unwrap(),
        );
        assert!(offset.abs() <= round_trip / 2.0 + 0.01, "{w}");
    }
    assert!(
        run.stdout().contains("12 invocations: 12 succeeded"),
        "{}",
        run.stdout()
    );
    // The coordinator kept a copy of the same files under the run's id (written as it hears
    // the run's events, so it may finish a moment after the client).
    let copy = fleet
        .results_dir()
        .join(fleet_json["run"].as_str().unwrap());
    wait_until("the coordinator's copy", Duration::from_secs(30), || {
        copy.join("fleet.json").exists()
    });
    let lines = std::fs::read_to_string(copy.join("invocations.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 12, "the copy holds every invocation");

    // Weighted regions: us-east three times eu, us-west none.
    let run = invoke(
        &fleet,
        &[
            "110",
            "test",
            "--repetitions",
            "8",
            "--concurrency",
            "4",
            "--regions",
            "us-east=3,eu=1",
        ],
    );
    run.assert_success();
    let results = run.invocations();
    assert_eq!(results.len(), 8);
    assert_each_invocation_once(&results);
    let by_region = count_by(results.iter().map(region_of));
    assert_eq!(
        by_region,
        BTreeMap::from([("eu".into(), 2), ("us-east".into(), 6)])
    );

    // Open loop: the workers' shares of one schedule add up to it, 25 ms apart, none twice.
    let run = invoke(
        &fleet,
        &[
            "110",
            "test",
            "--rate",
            "40",
            "--duration",
            "2s",
            "--concurrency",
            "6",
        ],
    );
    run.assert_success();
    let records = std::fs::read_to_string(run.out_dir.path().join("records.csv")).unwrap();
    let mut lines = records.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert!(
        header.ends_with(&["region", "worker", "shard", "attempt", "sequence"]),
        "{header:?}"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 80, "{records}");
    let mut intended_us: Vec<u64> = rows
        .iter()
        .map(|r| (r[1].parse::<f64>().unwrap() * 1e6).round() as u64)
        .collect();
    intended_us.sort();
    let expected: Vec<u64> = (0..80).map(|n| n * 25_000).collect();
    assert_eq!(
        intended_us, expected,
        "one global schedule, each arrival sent once"
    );
    let regions = count_by(rows.iter().map(|r| r[header.len() - 5].to_string()));
    assert_eq!(
        regions.values().copied().collect::<Vec<_>>(),
        [27, 27, 26],
        "{regions:?}"
    );
    let summary = read_json(&run.out_dir.path().join("summary.json"));
    assert_eq!(
        (summary["sent"].as_u64(), summary["complete"].as_bool()),
        (Some(80), Some(true))
    );
    let hlog = std::fs::read_to_string(run.out_dir.path().join("latency.hlog")).unwrap();
    assert!(hlog.contains("Tag=latency,"), "{hlog}");
}

#[test]
fn a_worker_or_client_without_the_token_is_refused() {
    let fleet = fleet(false, &[]);
    let wrong = fleet.worker_command("intruder", "eu", &fleet.credentials.wrong_token_file);
    let out = run_bounded(wrong, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("refused this worker") && stderr.contains("wrong fleet token"),
        "{stderr}"
    );

    // A token file that holds no token is refused before anything is sent.
    let none = fleet.worker_command("anonymous", "eu", Path::new("/dev/null"));
    let out = run_bounded(none, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("token"), "{stderr}");

    let out_dir = tempfile::tempdir().unwrap();
    let client = invoke_command(
        &fleet,
        &fleet.credentials.wrong_token_file,
        &["110", "test"],
        out_dir.path(),
    );
    let out = run_bounded(client, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("wrong fleet token"), "{stderr}");
    assert!(
        !fleet.coordinator().log().contains("worker joined"),
        "nobody got in:\n{}",
        fleet.logs()
    );
}

#[test]
fn killing_a_worker_mid_run_loses_no_invocation() {
    // The victim's shard waits a second for it to come back, then goes to another worker.
    let options = FleetOptions {
        coordinator_args: vec!["--reassign-after".into(), "1".into()],
        ..FleetOptions::default()
    };
    let mut fleet = fleet_with(&options, &[("a", "r1"), ("b", "r2"), ("victim", "r3")]);
    // 010.sleep sleeps 1 s: each worker runs 2 tasks of 2 invocations, about 2 s.
    let args = [
        "010.sleep",
        "test",
        "--repetitions",
        "12",
        "--concurrency",
        "6",
    ];
    let run = invoke_while(&mut fleet, &args, |fleet, _| {
        // Mid-run: the victim has its shard, and its first invocations are in flight.
        wait_for_line(fleet.worker("victim"), "shard started", RUN_LIMIT);
        fleet.kill_worker("victim");
    });
    run.assert_success_with(&fleet.logs());
    let results = run.invocations();
    assert_eq!(
        results.len(),
        12,
        "exactly the planned invocations\n{}",
        fleet.logs()
    );
    assert_each_invocation_once(&results);
    assert_eq!(run.experiments()["complete"], true);
    assert_reassigned_away(&results, "victim", &fleet.logs());
    assert!(
        results.iter().all(|r| r["stats"]["failure"] == false),
        "{results:?}"
    );
    let fleet_json = read_json(&run.out_dir.path().join("fleet.json"));
    let history = fleet_json["shards"].to_string();
    assert!(
        history.contains("reassigned") && history.contains("victim"),
        "{fleet_json}"
    );
    assert!(
        run.stderr().contains("worker victim left"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_worker_cut_off_mid_run_delivers_after_the_partition_heals() {
    // The far worker reaches the coordinator through a relay the test cuts; its shard waits a
    // minute for it, far longer than the partition.
    let options = FleetOptions {
        coordinator_args: vec!["--reassign-after".into(), "60".into()],
        ..FleetOptions::default()
    };
    let mut fleet = fleet_with(&options, &[("near", "r1")]);
    let coordinator: std::net::SocketAddr =
        fleet.url().trim_start_matches("http://").parse().unwrap();
    let relay = Proxy::start("127.0.0.1:0", coordinator);
    let via = format!("http://{}", relay.addr());
    fleet.add_worker_via("far", "r2", &via, &[]);
    // 010.sleep sleeps 1 s: each worker runs 2 tasks of 6 invocations, a cold start and 5 s.
    // The cut comes once the far worker's first results have arrived, and lasts 4 s, so that
    // further ones end while it is cut off.
    let args = [
        "010.sleep",
        "test",
        "--repetitions",
        "24",
        "--concurrency",
        "4",
    ];
    let (mut cut_at, mut healed_at) = (0.0, 0.0);
    let run = invoke_while(&mut fleet, &args, |_, out_dir| {
        let results = out_dir.join("invocations.jsonl");
        wait_until("the far worker's first results", RUN_LIMIT, || {
            std::fs::read_to_string(&results).is_ok_and(|t| t.contains(r#""worker":"far""#))
        });
        cut_at = epoch_s();
        relay.cut();
        std::thread::sleep(Duration::from_secs(4));
        healed_at = epoch_s();
        relay.heal();
    });
    run.assert_success_with(&fleet.logs());
    let results = run.invocations();
    assert_eq!(results.len(), 24, "every invocation\n{}", fleet.logs());
    assert_each_invocation_once(&results);
    assert_eq!(run.experiments()["complete"], true);
    assert!(
        results.iter().all(|r| r["origin"]["attempt"] == 0),
        "nothing was handed to another attempt\n{}",
        fleet.logs()
    );
    let by_worker = count_by(
        results
            .iter()
            .map(|r| r["origin"]["worker"].as_str().unwrap().to_string()),
    );
    assert_eq!(
        by_worker,
        BTreeMap::from([("far".into(), 12), ("near".into(), 12)])
    );
    // What the far worker finished while it was cut off can only have arrived after the heal.
    let during_cut = results
        .iter()
        .filter(|r| r["origin"]["worker"] == "far")
        .filter(|r| {
            let end = r["times"]["client_end"].as_f64().unwrap();
            end > cut_at && end < healed_at
        })
        .count();
    assert!(
        during_cut >= 1,
        "the far worker kept invoking while cut off\n{}",
        fleet.logs()
    );
    assert!(relay.refused() >= 1, "it tried to attach during the cut");
    assert!(
        fleet
            .worker("far")
            .log()
            .contains("attached to the coordinator again"),
        "{}",
        fleet.logs()
    );
    assert!(
        fleet.coordinator().log().contains("worker attached again"),
        "{}",
        fleet.logs()
    );
    let fleet_json = read_json(&run.out_dir.path().join("fleet.json"));
    assert!(
        !fleet_json["shards"].to_string().contains("reassigned"),
        "{fleet_json}"
    );
}

fn epoch_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}
