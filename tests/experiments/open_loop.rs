//! The load, trace-replay and region-matrix experiments end to end, and requests refused.

use std::collections::BTreeMap;

use sebs_testkit::picture::{chromium, screenshot, Picture};

use crate::helpers::{check_pngs, number, read_csv, sebs, Experiment};
use crate::{support, TABLEAU_BLUE};

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
                "--plaintext",
            ],
            "opening an experiment session on http://127.0.0.1:1",
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

#[test]
fn an_experiment_whose_every_invocation_fails_says_so() {
    let out = tempfile::tempdir().unwrap();
    let config = out.path().join("config.json");
    std::fs::write(
        &config,
        r#"{"experiments": {"region-matrix": {"benchmark": "901.raise", "repetitions": 2}}}"#,
    )
    .unwrap();
    let cache = support::shared_cache();
    let output = sebs(&[
        "experiment",
        "invoke",
        "region-matrix",
        "--config",
        config.to_str().unwrap(),
        "--output-dir",
        out.path().to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("every invocation failed"), "{stderr}");
    // Bounded: the warm-up batch and three tries per measured invocation, every one recorded.
    let lines = std::fs::read_to_string(out.path().join("region-matrix/results.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(lines, 7, "1 + 3 x 2 batches of one");
}
