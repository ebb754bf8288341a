//! `sebs experiment invoke|process` end to end on the local platform, through the real binary,
//! with small parameters: each experiment's files are checked for their columns, units and
//! plausible values, and the report is rendered in headless Chromium and its pixels checked.
//!
//! The network experiments run the fixture stand-ins of 020/030/040 in
//! tests/fixtures/benchmarks/990.experiments until the catalogue has them.

// Test code: a panic with a message is how a test fails.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "support/mod.rs"]
mod support;

#[path = "experiments/helpers.rs"]
mod helpers;

use std::collections::BTreeMap;

use helpers::{check_pngs, number, read_csv, sebs, Experiment};
use sebs_testkit::picture::{chromium, screenshot, Picture};

const TABLEAU_BLUE: [u8; 3] = [31, 119, 180];

#[test]
fn perf_cost_keeps_what_each_type_keeps_and_writes_sebs_columns() {
    let e = Experiment::invoke(
        "perf-cost",
        r#"{"experiments": {"perf-cost": {"benchmark": "110.dynamic-html", "repetitions": 3,
            "concurrent-invocations": 2, "memory-sizes": [128, 256], "batch-pause": 0}}}"#,
    );
    e.check_manifest();
    for memory in [128, 256] {
        for kind in ["cold", "warm", "burst", "sequential"] {
            let doc = e.json(&format!("{kind}_results_{memory}.json"));
            let stats = &doc["statistics"];
            assert!(
                stats["samples_generated"].as_u64().unwrap() >= 3,
                "{kind} {memory}: {stats}"
            );
            assert_eq!(doc["memory"], memory);
            assert_eq!(doc["complete"], true);
            let invocations = doc["_invocations"]
                .as_object()
                .unwrap()
                .values()
                .next()
                .unwrap();
            for r in invocations.as_object().unwrap().values() {
                let cold = r["stats"]["cold_start"].as_bool().unwrap();
                match kind {
                    "cold" | "burst" => assert!(cold, "{kind}: forced cold starts"),
                    _ => assert!(!cold, "{kind}: cold results are dropped"),
                }
                assert_eq!(r["billing"]["memory"], memory);
            }
            // Every invocation is in the .jsonl, the discarded first batch too.
            let lines =
                std::fs::read_to_string(e.file(&format!("{kind}_results_{memory}.jsonl"))).unwrap();
            assert!(lines.lines().count() as u64 > stats["samples_generated"].as_u64().unwrap());
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
    assert!(rows.len() >= 24, "3+ samples of 8 runs: {}", rows.len());
    for row in &rows {
        let (memory, kind, cold) = (
            number(row, "memory"),
            row["type"].as_str(),
            row["is_cold"].as_str(),
        );
        assert!(memory == 128.0 || memory == 256.0);
        assert_eq!(
            cold,
            if matches!(kind, "cold" | "burst") {
                "True"
            } else {
                "False"
            },
            "{row:?}"
        );
        // exec_time, client_time and provider_time are µs; connection_time is s; mem_used MB.
        let (exec, client, provider) = (
            number(row, "exec_time"),
            number(row, "client_time"),
            number(row, "provider_time"),
        );
        assert!(exec >= 10.0 && exec < client, "{row:?}");
        assert!(
            client > 100.0 && client < 60e6,
            "client time in µs: {row:?}"
        );
        assert!(provider >= exec && provider <= client, "{row:?}");
        assert!(
            (0.0..1.0).contains(&number(row, "connection_time")),
            "seconds: {row:?}"
        );
        let mem = number(row, "mem_used");
        assert!(mem > 1.0 && mem <= memory, "MB: {row:?}");
    }
    let stats = e.json("statistics.json");
    let sets = stats["sets"].as_array().unwrap();
    let client = |kind: &str, cold: bool| {
        sets.iter()
            .find(|s| {
                s["memory"] == 128
                    && s["type"] == kind
                    && s["is_cold"] == cold
                    && s["metric"] == "client_time_ms"
            })
            .map(|s| s["statistics"].clone())
            .unwrap()
    };
    let (cold, warm) = (client("cold", true), client("warm", false));
    assert!(
        cold["median"].as_f64() > warm["median"].as_f64(),
        "a cold start costs: {cold} vs {warm}"
    );
    assert_eq!(warm["intervals"][0]["method"], "student-t");
    assert!(warm["intervals"][0]["low"].as_f64() <= warm["mean"].as_f64());
    check_pngs(
        &e.dir(),
        &[
            "client-time-cold",
            "client-time-warm",
            "client-time-cdf-cold",
            "client-time-cdf-warm",
        ],
    );

    // The report opens in a browser and its plots are drawn there.
    let Some(chromium) = chromium() else { return };
    let shot = e.out.path().join("report.png");
    screenshot(&chromium, &e.file("report.html"), &shot, 1000, 4000);
    let picture = Picture::load(&shot);
    let blue = picture.count_near(TABLEAU_BLUE, 12);
    assert!(
        blue > 2_000,
        "the plots' blue series rendered: {blue} pixels"
    );
    // Boxes of cold runs are filled in the cold type's light blue, burst's in light green.
    assert!(
        picture.count_near([177, 207, 229], 6) > 2_000,
        "box fills rendered"
    );
}

#[test]
fn network_ping_pong_measures_round_trips() {
    let e = Experiment::invoke(
        "network-ping-pong",
        r#"{"experiments": {"network-ping-pong": {"invocations": 3, "repetitions": 20, "threads": 2}}}"#,
    );
    e.check_manifest();
    e.process();
    let (header, rows) = read_csv(&e.file("result.csv"));
    assert_eq!(
        header,
        [
            "request_id",
            "id",
            "client_send",
            "client_rcv",
            "server_rcv",
            "server_send",
            "rtt"
        ]
    );
    assert_eq!(rows.len(), 60, "20 round trips of each of 3 invocations");
    let invocations: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r["request_id"].as_str()).collect();
    assert_eq!(invocations.len(), 3);
    for row in &rows {
        let rtt = number(row, "rtt");
        assert!(
            rtt > 0.0 && rtt < 0.5,
            "rtt in seconds on loopback: {row:?}"
        );
        assert!(number(row, "server_send") >= number(row, "server_rcv"));
        assert!(number(row, "client_rcv") > number(row, "client_send"));
    }
    let stats = e.json("statistics.json");
    let q = &stats["rtt_ms_quantiles"];
    let values: Vec<f64> = ["p50", "p75", "p95", "p99", "p99_9"]
        .iter()
        .map(|k| q[*k].as_f64().unwrap())
        .collect();
    assert!(
        values.windows(2).all(|w| w[0] <= w[1]),
        "percentiles ascend: {q}"
    );
    assert!(stats["rtt_ms"]["count"] == 60 && stats["rtt_ms"]["cv"].as_f64().unwrap() >= 0.0);
    check_pngs(&e.dir(), &["rtt-histogram", "rtt-cdf"]);
}

#[test]
fn invocation_overhead_corrects_times_by_the_clock_drift() {
    let e = Experiment::invoke(
        "invocation-overhead",
        r#"{"experiments": {"invocation-overhead": {"repetitions": 2, "N": 3,
            "payload_begin": 1024, "payload_end": 262144, "payload_points": 2}}}"#,
    );
    let code = Experiment::invoke(
        "invocation-overhead",
        r#"{"experiments": {"invocation-overhead": {"type": "code", "repetitions": 1, "N": 3,
            "code_begin": 1000, "code_end": 300000, "code_points": 2}}}"#,
    );
    e.check_manifest();
    e.process();
    let dir = e.dir().join("payload");
    let (header, rows) = read_csv(&dir.join("result.csv"));
    assert_eq!(
        header,
        [
            "size",
            "repetition",
            "is_cold",
            "connection_time",
            "start_timestamp",
            "finish_timestamp",
            "request_id"
        ]
    );
    assert_eq!(rows.len(), 8, "2 sizes x 2 repetitions, warm then cold");
    let colds: Vec<&str> = rows.iter().map(|r| r["is_cold"].as_str()).collect();
    assert_eq!(colds, ["0", "0", "0", "0", "1", "1", "1", "1"]);
    let (header, processed) = read_csv(&dir.join("result-processed.csv"));
    assert_eq!(
        header,
        [
            "payload_size",
            "repetition",
            "is_cold",
            "connection_time",
            "start_timestamp",
            "finish_timestamp",
            "request_id",
            "clock_drift_mean",
            "clock_drift_std",
            "invocation_time"
        ]
    );
    let mut times: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for row in &processed {
        // One clock on one machine: the measured drift is close to nothing.
        assert!(
            number(row, "clock_drift_mean").abs() < 0.01,
            "drift in seconds: {row:?}"
        );
        let t = number(row, "invocation_time");
        assert!(t > 0.0 && t < 30.0, "invocation time in seconds: {row:?}");
        times.entry(row["is_cold"].as_str()).or_default().push(t);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (cold, warm) = (
        median(times.get_mut("1").unwrap()),
        median(times.get_mut("0").unwrap()),
    );
    assert!(
        cold > warm,
        "starting an instance takes longer: cold {cold} s, warm {warm} s"
    );
    check_pngs(e.dir().as_path(), &["invocation-time-payload"]);

    // The code variant deployed packages with the random bytes in them.
    let (_, rows) = read_csv(&code.dir().join("code").join("result.csv"));
    assert_eq!(rows.len(), 4);
    let sizes: Vec<&str> = rows.iter().map(|r| r["size"].as_str()).collect();
    assert_eq!(sizes, ["1000", "300000", "1000", "300000"]);
    let packages = support::shared_cache().join("experiments/packages");
    let found = std::fs::read_dir(&packages)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::metadata(e.path().join("randomdata.bin")).ok())
        .any(|m| m.len() == 300_000);
    assert!(
        found,
        "a package with 300000 random bytes in {}",
        packages.display()
    );
}

#[test]
fn eviction_model_sees_idle_instances_evicted() {
    let e = Experiment::invoke(
        "eviction-model",
        r#"{"experiments": {"eviction-model": {"invocations": 2, "repetitions": 1, "times": [1, 6]}},
            "deployment": {"local": {"idle_timeout": 3}}}"#,
    );
    e.check_manifest();
    let raw = e.json("results_2_1_1.json");
    assert_eq!(
        raw["1"][0].as_array().unwrap().len(),
        2,
        "SeBS's layout: time -> repetition -> invocations"
    );
    e.process();
    let (header, rows) = read_csv(&e.file("result.csv"));
    assert_eq!(
        header[..6],
        [
            "idle_time",
            "repetition",
            "invocation",
            "first_cold",
            "second_cold",
            "evicted"
        ]
    );
    assert_eq!(rows.len(), 4);
    for row in &rows {
        assert_eq!(row["first_cold"], "True", "each copy starts cold: {row:?}");
        let idle = number(row, "idle_s");
        let expected = number(row, "idle_time");
        assert!(
            idle >= expected && idle < expected + 5.0,
            "idle seconds: {row:?}"
        );
        // The platform keeps idle instances 3 s: 1 s of idleness keeps it, 6 s evicts it.
        let evicted = if expected < 3.0 { "False" } else { "True" };
        assert_eq!(row["evicted"], evicted, "{row:?}");
    }
    check_pngs(&e.dir(), &["eviction"]);
}

#[test]
fn load_follows_its_schedule() {
    let e = Experiment::invoke(
        "load",
        r#"{"experiments": {"load": {"benchmark": "110.dynamic-html", "rate": "10@1s,30@1s", "tasks": 4}}}"#,
    );
    e.check_manifest();
    let summary = e.json("summary.json");
    assert_eq!(
        summary["sent"], 40,
        "constant arrivals send exactly the schedule: {summary}"
    );
    e.process();
    let (header, rows) = read_csv(&e.file("records.csv"));
    assert_eq!(
        header[..4],
        ["request_id", "intended_s", "client_begin", "latency_us"]
    );
    assert_eq!(rows.len(), 40);
    let stats = e.json("statistics.json");
    assert_eq!(
        stats["merged"]["latency_ms"]["count"], 40,
        "from the merged interval histograms"
    );
    let p = &stats["merged"]["latency_ms"];
    assert!(p["p50"].as_f64() <= p["p99"].as_f64() && p["p99"].as_f64() <= p["max"].as_f64());
    check_pngs(
        &e.dir(),
        &[
            "rate",
            "latency-over-time",
            "lag",
            "cold-starts",
            "latency-cdf",
        ],
    );
}

#[test]
fn trace_replay_sends_the_trace_counts() {
    let e = Experiment::invoke(
        "trace-replay",
        r#"{"experiments": {"trace-replay": {"benchmark": "110.dynamic-html", "start-minute": 181,
            "minutes": 2, "time-scale": 60, "functions": 2, "arrival": "constant", "tasks": 4}}}"#,
    );
    e.check_manifest();
    let (header, schedule) = read_csv(&e.file("schedule.csv"));
    assert_eq!(
        header,
        [
            "function",
            "hash_function",
            "trigger",
            "minute",
            "invocations"
        ]
    );
    assert_eq!(schedule.len(), 4, "2 functions x 2 minutes");
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for row in &schedule {
        assert!(row["minute"] == "181" || row["minute"] == "182");
        *expected.entry(row["function"].clone()).or_default() += number(row, "invocations") as u64;
    }
    let dirs: Vec<_> = std::fs::read_dir(e.file("functions"))
        .unwrap()
        .map(|d| d.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 2);
    for dir in dirs {
        let summary = support::read_json(&dir.join("summary.json"));
        let k = dir.file_name().unwrap().to_str().unwrap()[..2]
            .trim_start_matches('0')
            .to_string();
        let k = if k.is_empty() { "0".to_string() } else { k };
        assert_eq!(
            summary["sent"].as_u64(),
            expected.get(&k).copied(),
            "function {k} sends its trace counts"
        );
    }
    e.process();
    check_pngs(&e.dir(), &["trace", "rate", "latency-cdf"]);
}

#[test]
fn region_matrix_measures_the_local_cell() {
    let e = Experiment::invoke(
        "region-matrix",
        r#"{"experiments": {"region-matrix": {"benchmark": "110.dynamic-html", "repetitions": 5}}}"#,
    );
    e.check_manifest();
    let matrix = e.json("matrix.json");
    let cells = matrix["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 1);
    assert_eq!(
        (
            cells[0]["worker_region"].as_str(),
            cells[0]["deployment_region"].as_str()
        ),
        (Some("local"), Some("local"))
    );
    assert_eq!(cells[0]["measured"], 5);
    assert_eq!(cells[0]["client_time_ms"]["count"], 5);
    e.process();
    check_pngs(&e.dir(), &["heatmap-p50", "heatmap-p99", "client-time-cdf"]);
    // One cell sits mid-scale: its color fills most of the heatmap.
    let heatmap = Picture::load(&e.file("heatmap-p50.png"));
    assert!(
        heatmap.count_near([33, 145, 140], 3) > 100_000,
        "the cell is drawn"
    );

    let Some(chromium) = chromium() else { return };
    let shot = e.out.path().join("report.png");
    screenshot(&chromium, &e.file("report.html"), &shot, 1000, 2500);
    let picture = Picture::load(&shot);
    assert!(
        picture.count_near([33, 145, 140], 6) > 50_000,
        "the heatmap rendered in the browser"
    );
    assert!(
        picture.count_near(TABLEAU_BLUE, 12) > 300,
        "the CDF rendered in the browser"
    );
}

#[test]
fn bad_requests_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.json");
    let out = dir.path().to_str().unwrap();
    let cache = support::shared_cache();
    let cases: [(&str, &[&str], &str); 4] = [
        (
            r#"{"experiments": {"perf-cost": {"repetitons": 5}}}"#,
            &["experiment", "invoke", "perf-cost"],
            "repetitons",
        ),
        (
            r#"{"experiments": {"region-matrix": {"worker-regions": ["us-east-1"]}}}"#,
            &["experiment", "invoke", "region-matrix"],
            "region `us-east-1` is not available here",
        ),
        (
            "{}",
            &[
                "experiment",
                "invoke",
                "load",
                "--coordinator",
                "http://127.0.0.1:1",
            ],
            "--coordinator",
        ),
        (
            "{}",
            &["experiment", "process", "load"],
            "run `sebs experiment invoke load",
        ),
    ];
    for (text, args, reason) in cases {
        std::fs::write(&config, text).unwrap();
        let mut all: Vec<&str> = args.to_vec();
        if args[1] == "invoke" {
            all.extend([
                "--config",
                config.to_str().unwrap(),
                "--cache",
                cache.to_str().unwrap(),
            ]);
        }
        all.extend(["--output-dir", out]);
        let output = sebs(&all);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(reason),
            "{args:?}: expected `{reason}` in:\n{stderr}"
        );
    }
}
