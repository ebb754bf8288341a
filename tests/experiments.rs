//! `sebs experiment invoke|process` end to end on the local platform, through the real binary,
//! with small parameters: each experiment's files are checked for their columns, units and
//! plausible values, and the report is rendered in headless Chromium and its pixels checked.
//!
//! The network experiments run the catalogue's 020.network-benchmark,
//! 030.clock-synchronization and 040.server-reply against the worker's client sides.

// Test code: a panic with a message is how a test fails.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "support/mod.rs"]
mod support;

#[path = "experiments/helpers.rs"]
mod helpers;

/// sebs's own experiments, and bad requests.
#[path = "experiments/open_loop.rs"]
mod open_loop;

use std::collections::BTreeMap;

use helpers::{check_pngs, number, read_csv, Experiment};
use sebs_testkit::picture::{chromium, screenshot, Picture};

/// The first series color of every plot.
pub const TABLEAU_BLUE: [u8; 3] = [31, 119, 180];

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
        // One clock on one machine: the rows joined from the function's and the echo's files
        // are the same round trip, its four timestamps in order (the echo's are rounded to µs).
        let [send, server_rcv, server_send, rcv] =
            ["client_send", "server_rcv", "server_send", "client_rcv"].map(|c| number(row, c));
        assert!(
            send <= server_rcv + 1e-6 && server_rcv <= server_send && server_send <= rcv + 1e-6,
            "one round trip: {row:?}"
        );
    }
    // The echo's files leave out the warm-up round trip, as the function's do.
    let server_files: Vec<_> = std::fs::read_dir(e.dir())
        .unwrap()
        .map(|f| f.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("server-")
        })
        .collect();
    assert_eq!(
        server_files.len(),
        3,
        "one server-<request id>.csv per invocation"
    );
    for file in &server_files {
        let (header, rows) = read_csv(file);
        assert_eq!(header, ["id", "server_rcv", "server_send"]);
        let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str()).collect();
        assert_eq!(ids.len(), 20, "{}", file.display());
        assert_eq!((ids[0], ids[19]), ("1", "20"));
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
