//! `sebs experiment invoke --coordinator` end to end: a coordinator and workers as real `sebs`
//! processes on 127.0.0.1 (regions are labels), the coordinator holding the local platform in
//! an experiment session, the experiment on the client writing its files. Each experiment's
//! files are checked for their columns, units, plausible values and for covering each region;
//! experiments that cannot go through a fleet are refused with their reason.

// Test code: a panic with a message is how a test fails.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "support/mod.rs"]
mod support;

#[allow(dead_code)]
#[path = "experiments/helpers.rs"]
mod helpers;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use helpers::{check_pngs, number, read_csv, sebs, Experiment};
use sebs_testkit::fleet::Fleet;
use serde_json::Value;
use support::{experiments_root, shared_cache};

/// The longest an experiment may take here (package builds included); it fails beyond.
const LIMIT: Duration = Duration::from_secs(600);

/// A coordinator over TLS with `workers` (name, region) attached.
fn fleet(workers: &[(&str, &str)]) -> Fleet {
    let mut fleet = Fleet::start(
        Path::new(env!("CARGO_BIN_EXE_sebs")),
        &experiments_root(),
        &shared_cache(),
        true,
    );
    for (name, region) in workers {
        fleet.add_worker(name, region);
    }
    fleet
}

/// `experiment invoke NAME` through `fleet` (its URL, CA and token) with `extra` arguments.
fn through(fleet: &Fleet, name: &'static str, config: &str, extra: &[&str]) -> Experiment {
    let mut args = fleet.client_args(&fleet.credentials.token_file);
    args.extend(extra.iter().map(|s| s.to_string()));
    Experiment::invoke_with(name, config, &args, Some(LIMIT))
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn perf_cost_through_a_fleet_sends_from_one_region_with_cold_starts_forced_between_batches() {
    let fleet = fleet(&[("east-a", "us-east-1"), ("west-a", "eu-west-1")]);
    let e = through(
        &fleet,
        "perf-cost",
        r#"{"experiments": {"perf-cost": {"benchmark": "110.dynamic-html", "repetitions": 2,
            "concurrent-invocations": 2, "memory-sizes": [128], "experiments": ["cold", "warm"],
            "batch-pause": 0}}}"#,
        &[],
    );
    let env = e.check_manifest();
    assert_eq!(
        strings(&env["platform"]["fleet"]["worker_regions"]),
        ["eu-west-1", "us-east-1"],
        "{env}"
    );
    for kind in ["cold", "warm"] {
        let doc = e.json(&format!("{kind}_results_128.json"));
        let stats = &doc["statistics"];
        assert!(
            stats["samples_generated"].as_u64().unwrap() >= 2,
            "{kind}: {stats}"
        );
        assert_eq!(doc["complete"], true, "{kind}");
        let kept = doc["_invocations"].as_object().unwrap().values().next();
        for r in kept.unwrap().as_object().unwrap().values() {
            assert_eq!(
                r["stats"]["cold_start"].as_bool().unwrap(),
                kind == "cold",
                "{kind}: the coordinator forced a cold start before each cold batch: {r}"
            );
            assert_eq!(r["billing"]["memory"], 128);
        }
        // Every invocation, the discarded first batch too, was sent by a worker of the first
        // region (sorted): perf-cost measures from one place.
        let all = lines(&e.file(&format!("{kind}_results_128.jsonl")));
        assert!(all.len() as u64 > stats["samples_generated"].as_u64().unwrap());
        for r in &all {
            assert_eq!(r["origin"]["region"], "eu-west-1", "{r}");
            assert_eq!(r["origin"]["worker"], "west-a", "{r}");
        }
    }

    e.process();
    let (header, rows) = read_csv(&e.file("result.csv"));
    assert_eq!(
        header,
        [
            "memory",
            "type",
            "is_cold",
            "exec_time",
            "connection_time",
            "client_time",
            "provider_time",
            "mem_used"
        ]
    );
    assert!(rows.len() >= 4, "2+ samples of 2 types: {}", rows.len());
    for row in &rows {
        let expected = if row["type"] == "cold" {
            "True"
        } else {
            "False"
        };
        assert_eq!(row["is_cold"], expected, "{row:?}");
        // exec_time, client_time and provider_time in µs, connection_time in s, mem_used MB.
        let (exec, client) = (number(row, "exec_time"), number(row, "client_time"));
        assert!(exec >= 10.0 && exec < client, "{row:?}");
        assert!(client > 100.0 && client < 60e6, "µs: {row:?}");
        assert!(
            (0.0..1.0).contains(&number(row, "connection_time")),
            "{row:?}"
        );
        let mem = number(row, "mem_used");
        assert!(mem > 1.0 && mem <= 128.0, "MB: {row:?}");
    }

    // --regions picks the region (and its order) the experiment sees.
    let e = through(
        &fleet,
        "perf-cost",
        r#"{"experiments": {"perf-cost": {"benchmark": "110.dynamic-html", "repetitions": 1,
            "concurrent-invocations": 1, "memory-sizes": [128], "experiments": ["warm"],
            "batch-pause": 0}}}"#,
        &["--regions", "us-east-1"],
    );
    assert_eq!(
        strings(&e.json("environment.json")["platform"]["fleet"]["worker_regions"]),
        ["us-east-1"]
    );
    for r in lines(&e.file("warm_results_128.jsonl")) {
        assert_eq!(r["origin"]["worker"], "east-a", "{r}");
    }
    assert!(
        fleet
            .coordinator()
            .log()
            .contains("experiment session closed"),
        "the session's platform is released:\n{}",
        fleet.logs()
    );
}

#[test]
fn open_loops_through_a_fleet_are_sent_by_every_region_into_the_same_files() {
    let fleet = fleet(&[("east-a", "us-east-1"), ("west-a", "eu-west-1")]);
    let e = through(
        &fleet,
        "load",
        r#"{"experiments": {"load": {"benchmark": "110.dynamic-html", "rate": "8",
            "duration": "3s", "tasks": 4}}}"#,
        &[],
    );
    e.check_manifest();
    let summary = e.json("summary.json");
    assert_eq!(summary["mode"], "open-loop", "{summary}");
    assert_eq!(
        summary["sent"], 24,
        "the workers send the one constant schedule together: {summary}"
    );
    assert_eq!(summary["run"]["experiment"], "load", "{summary}");
    let latency = &summary["latency_ms"];
    assert!(
        latency["p50"].as_f64().unwrap() > 0.0
            && latency["p50"].as_f64() <= latency["p99"].as_f64()
            && latency["max"].as_f64().unwrap() < 60_000.0,
        "ms: {summary}"
    );

    let (header, rows) = read_csv(&e.file("records.csv"));
    assert_eq!(
        header[..4],
        ["request_id", "intended_s", "client_begin", "latency_us"]
    );
    assert_eq!(
        header[header.len() - 5..],
        ["region", "worker", "shard", "attempt", "sequence"]
    );
    assert_eq!(rows.len(), 24);
    let regions: BTreeSet<&str> = rows.iter().map(|r| r["region"].as_str()).collect();
    assert_eq!(
        regions,
        BTreeSet::from(["eu-west-1", "us-east-1"]),
        "both regions sent"
    );
    for row in &rows {
        let us = number(row, "latency_us");
        assert!(us > 100.0 && us < 60e6, "µs: {row:?}");
    }
    // The fleet's files: the latency per region, merged from the workers' histograms.
    let matrix = e.json("latency-matrix.json");
    assert_eq!(matrix["unit"], "ms");
    assert_eq!(strings(&matrix["regions"]), ["eu-west-1", "us-east-1"]);
    let mut invocations = 0;
    for region in ["eu-west-1", "us-east-1"] {
        let cells = matrix["matrix"][region].as_object().unwrap();
        let cell = cells.values().next().unwrap();
        let n = cell["invocations"].as_u64().unwrap();
        assert!(n > 0, "{region}: {matrix}");
        invocations += n;
    }
    assert_eq!(invocations, 24, "{matrix}");
    assert_eq!(e.json("fleet.json")["complete"], true);

    e.process();
    let stats = e.json("statistics.json");
    assert_eq!(
        stats["merged"]["latency_ms"]["count"], 24,
        "from the merged interval histograms: {stats}"
    );
    check_pngs(&e.dir(), &["rate", "latency-over-time", "latency-cdf"]);

    // trace-replay: two functions replayed at once, each a job of the same session.
    let e = through(
        &fleet,
        "trace-replay",
        r#"{"experiments": {"trace-replay": {"benchmark": "110.dynamic-html", "start-minute": 181,
            "minutes": 2, "time-scale": 60, "functions": 2, "arrival": "constant", "tasks": 4}}}"#,
        &[],
    );
    let (_, schedule) = read_csv(&e.file("schedule.csv"));
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for row in &schedule {
        *expected.entry(row["function"].clone()).or_default() += number(row, "invocations") as u64;
    }
    let mut dirs: Vec<_> = std::fs::read_dir(e.file("functions"))
        .unwrap()
        .map(|d| d.unwrap().path())
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), 2);
    for (k, dir) in dirs.iter().enumerate() {
        let summary = support::read_json(&dir.join("summary.json"));
        assert_eq!(
            summary["sent"].as_u64(),
            expected.get(&k.to_string()).copied(),
            "function {k} sends its trace counts: {summary}"
        );
        let matrix = support::read_json(&dir.join("latency-matrix.json"));
        assert_eq!(
            strings(&matrix["functions"]).len(),
            1,
            "one deployed copy per trace function: {matrix}"
        );
    }
    e.process();
    check_pngs(&e.dir(), &["trace", "rate", "latency-cdf"]);
}

#[test]
fn region_matrix_through_a_fleet_has_a_row_per_worker_region() {
    let fleet = fleet(&[
        ("east-a", "us-east-1"),
        ("east-b", "us-east-1"),
        ("west-a", "eu-west-1"),
    ]);
    let e = through(
        &fleet,
        "region-matrix",
        r#"{"experiments": {"region-matrix": {"benchmark": "110.dynamic-html",
            "repetitions": 4, "concurrency": 2}}}"#,
        &[],
    );
    e.check_manifest();
    let doc = e.json("matrix.json");
    assert_eq!(strings(&doc["workers"]), ["eu-west-1", "us-east-1"]);
    assert_eq!(strings(&doc["deployments"]), ["local"]);
    let cells = doc["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2, "{doc}");
    for cell in cells {
        assert!(cell["measured"].as_u64().unwrap() >= 4, "{cell}");
        let p = &cell["client_time_ms"];
        assert!(p["p50"].as_f64().unwrap() > 0.0 && p["p50"].as_f64() <= p["max"].as_f64());
        let senders = strings(&cell["workers"]);
        match cell["worker_region"].as_str().unwrap() {
            "eu-west-1" => assert_eq!(senders, ["west-a"]),
            // A batch of 2 from us-east-1 is spread over both of its workers.
            "us-east-1" => assert_eq!(senders, ["east-a", "east-b"]),
            other => panic!("a cell from {other}"),
        }
    }
    for line in lines(&e.file("results.jsonl")) {
        assert_eq!(
            line["result"]["origin"]["region"], line["worker_region"],
            "sent from the cell's region: {line}"
        );
    }

    e.process();
    let (header, rows) = read_csv(&e.file("matrix.csv"));
    assert_eq!(
        header,
        [
            "worker_region",
            "deployment_region",
            "count",
            "mean_ms",
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "p99_9_ms",
            "max_ms"
        ]
    );
    let regions: Vec<&str> = rows.iter().map(|r| r["worker_region"].as_str()).collect();
    assert_eq!(regions, ["eu-west-1", "us-east-1"]);
    for row in &rows {
        assert_eq!(row["deployment_region"], "local");
        assert!(number(row, "count") >= 4.0, "{row:?}");
        let (p50, p99, max) = (
            number(row, "p50_ms"),
            number(row, "p99_ms"),
            number(row, "max_ms"),
        );
        assert!(
            p50 > 0.0 && p50 <= p99 && p99 <= max && max < 60_000.0,
            "ms: {row:?}"
        );
    }
    let report = std::fs::read_to_string(e.file("report.html")).unwrap();
    assert!(report.contains("eu-west-1") && report.contains("us-east-1"));
    check_pngs(&e.dir(), &["heatmap-p50", "heatmap-p99", "client-time-cdf"]);
}

#[test]
fn experiments_that_need_a_client_side_beside_the_invoker_are_refused() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    for (name, why) in [
        ("network-ping-pong", "UDP round trips"),
        ("invocation-overhead", "clock drift"),
        ("eviction-model", "TCP connections"),
    ] {
        // Refused before any connection: nothing listens at this address.
        let output = sebs(&[
            "experiment",
            "invoke",
            name,
            "--coordinator",
            "http://127.0.0.1:1",
            "--plaintext",
            "--output-dir",
            dir,
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("{name} cannot run through a fleet"))
                && stderr.contains(why)
                && stderr.contains("without --coordinator"),
            "{name}: {stderr}"
        );
        assert!(
            !out.path().join(name).exists(),
            "{name}: nothing was started"
        );
    }
}
