//! `sebs benchmark invoke` end to end on the local platform, through the real binary.

// Test code: a panic with a message is the right way to fail.
#![allow(clippy::unwrap_used)]

#[path = "support/mod.rs"]
mod support;

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;
use support::{fixture_root, sebs, sebs_in, shared_cache};

fn container(r: &Value) -> String {
    r["output"]["container_id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn is_cold(r: &Value) -> bool {
    r["output"]["is_cold"].as_bool().expect("is_cold")
}

/// Invokes one benchmark three times at size `test`, validates its outputs with input.py's
/// `validate_output`, and checks every field a SeBS user reads.
fn invokes_cleanly(benchmark: &str, language: &str) {
    let run = sebs(&[
        "benchmark",
        "invoke",
        benchmark,
        "test",
        "--language",
        language,
        "--repetitions",
        "3",
        "--validate",
    ]);
    run.assert_success();
    assert!(
        run.stdout()
            .contains("validation: 3 of 3 successful outputs valid"),
        "{}",
        run.stdout()
    );
    let stdout = run.stdout();
    assert!(
        stdout.contains("3 invocations: 3 succeeded (1 cold, 2 warm), 0 failed"),
        "{stdout}"
    );

    let results = run.invocations();
    assert_eq!(results.len(), 3);
    assert!(
        is_cold(&results[0]),
        "first invocation of the instance is cold"
    );
    assert!(
        !is_cold(&results[1]) && !is_cold(&results[2]),
        "later ones are warm"
    );
    let ids: BTreeSet<String> = results.iter().map(container).collect();
    assert_eq!(ids.len(), 1, "one instance served all three: {ids:?}");
    assert_eq!(container(&results[0]).len(), 8, "8-character container id");
    for r in &results {
        assert_eq!(r["stats"]["failure"], false, "{r}");
        assert!(
            r["output"]["result"].get("result").is_some(),
            "result is the handler's return value: {r}"
        );
        let (client, benchmark) = (
            r["times"]["client"].as_u64().unwrap(),
            r["times"]["benchmark"].as_u64().unwrap(),
        );
        assert!(
            benchmark > 0 && client >= benchmark,
            "client {client} µs >= benchmark {benchmark} µs"
        );
        assert!(r["times"]["client_end"].as_f64() > r["times"]["client_begin"].as_f64());
        assert!(
            r["stats"]["memory_used"].as_f64().unwrap() > 1.0,
            "peak memory measured: {r}"
        );
        let billed = r["billing"]["billed_time"].as_u64().unwrap();
        assert_eq!(
            billed,
            r["provider_times"]["execution"]
                .as_u64()
                .unwrap()
                .div_ceil(1000)
        );
        assert_eq!(
            r["output"]["request_id"], r["request_id"],
            "the wrapper saw our request id"
        );
    }
    assert!(
        results[0]["times"]["initialization"].as_u64().unwrap() > 0,
        "cold start has initialization time"
    );
    assert_eq!(results[1]["times"]["initialization"], 0);
    assert_eq!(run.lines().len(), 3, "invocations.jsonl has every result");
    assert_eq!(run.experiments()["complete"], true);
}

#[test]
fn sleep_python() {
    invokes_cleanly("010.sleep", "python");
}

#[test]
fn sleep_nodejs() {
    invokes_cleanly("010.sleep", "nodejs");
}

#[test]
fn dynamic_html_python() {
    invokes_cleanly("110.dynamic-html", "python");
}

#[test]
fn dynamic_html_nodejs() {
    invokes_cleanly("110.dynamic-html", "nodejs");
}

#[test]
fn thumbnailer_python() {
    invokes_cleanly("210.thumbnailer", "python");
}

#[test]
fn compression_python() {
    invokes_cleanly("311.compression", "python");
}

#[test]
fn graph_pagerank_python() {
    invokes_cleanly("501.graph-pagerank", "python");
}

#[test]
fn concurrency_scales_out_to_parallel_instances() {
    // 010.sleep at size test sleeps 1 s. Eight tasks share the 16 invocations (each takes the
    // next one when its last is answered), so how many a task, and thus an instance, serves
    // depends on how fast each instance started: only what concurrency promises is checked.
    let run = sebs(&[
        "benchmark",
        "invoke",
        "010.sleep",
        "test",
        "--repetitions",
        "16",
        "--concurrency",
        "8",
    ]);
    run.assert_success();
    let results = run.invocations();
    assert_eq!(results.len(), 16);
    // The first eight sent (one per task, all before any could be answered) found no idle
    // instance: each started its own.
    let first: BTreeSet<String> = results[..8].iter().map(container).collect();
    assert_eq!(first.len(), 8, "8 instances served in parallel: {first:?}");
    assert!(results[..8].iter().all(is_cold), "the first 8 were cold");
    // The rest reused them: no more instances than calls in flight.
    let ids: BTreeSet<String> = results.iter().map(container).collect();
    assert_eq!(ids, first, "no instance beyond the concurrency");

    let window = |r: &Value| {
        let at = |field: &str| r["output"][field].as_f64().expect(field);
        (at("begin"), at("end"))
    };
    let mut per_container: HashMap<String, Vec<&Value>> = HashMap::new();
    for r in &results {
        per_container.entry(container(r)).or_default().push(r);
    }
    for (id, mut calls) in per_container {
        calls.sort_by(|a, b| window(a).0.total_cmp(&window(b).0));
        let colds: Vec<bool> = calls.iter().map(|r| is_cold(r)).collect();
        assert!(
            colds[0] && colds[1..].iter().all(|c| !c),
            "instance {id}: cold first, warm after: {colds:?}"
        );
        // An instance runs one invocation at a time.
        for pair in calls.windows(2) {
            let (earlier, later) = (window(pair[0]), window(pair[1]));
            assert!(
                earlier.1 <= later.0,
                "instance {id} ran two invocations at once: {earlier:?} and {later:?}"
            );
        }
    }
}

#[test]
fn forced_cold_starts_replace_every_instance() {
    let run = sebs(&[
        "benchmark",
        "invoke",
        "010.sleep",
        "test",
        "--repetitions",
        "8",
        "--concurrency",
        "4",
        "--cold",
    ]);
    run.assert_success();
    let results = run.invocations();
    assert_eq!(results.len(), 8);
    assert!(
        results.iter().all(is_cold),
        "every invocation after a forced cold start is cold"
    );
    let ids: BTreeSet<String> = results.iter().map(container).collect();
    assert_eq!(
        ids.len(),
        8,
        "the second batch ran on new instances: {ids:?}"
    );
    let vars: BTreeSet<String> = results
        .iter()
        .map(|r| r["output"]["cold_start_var"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        vars.len(),
        2,
        "each batch saw a new cold_start variable: {vars:?}"
    );
}

#[test]
fn packages_are_cached_by_content() {
    let cache = tempfile::tempdir().unwrap();
    let package = |extra: &[&str]| {
        let mut args = vec!["benchmark", "package", "010.sleep"];
        args.extend_from_slice(extra);
        let run = sebs_in(&support::repo_root(), cache.path(), &args);
        run.assert_success();
        run.stdout()
    };
    assert!(package(&[]).starts_with("built"));
    assert!(
        package(&[]).starts_with("cached"),
        "unchanged code is not rebuilt"
    );
    assert!(
        package(&["--update-code"]).starts_with("built"),
        "--update-code forces a build"
    );
    assert!(
        package(&["--language", "nodejs"]).starts_with("built"),
        "each language has its own package"
    );
}

#[test]
fn list_shows_the_catalogue() {
    let run = sebs(&["benchmark", "list"]);
    run.assert_success();
    for name in [
        "010.sleep",
        "110.dynamic-html",
        "210.thumbnailer",
        "311.compression",
        "501.graph-pagerank",
    ] {
        assert!(run.stdout().contains(name), "{}", run.stdout());
    }
}

#[test]
fn unknown_benchmark_and_language_are_named() {
    let run = sebs(&["benchmark", "invoke", "999.nothing", "test"]);
    assert_eq!(run.code(), Some(2));
    assert!(
        run.stderr().contains("999.nothing") && run.stderr().contains("110.dynamic-html"),
        "{}",
        run.stderr()
    );

    let run = sebs(&[
        "benchmark",
        "invoke",
        "501.graph-pagerank",
        "test",
        "--language",
        "nodejs",
    ]);
    assert_eq!(run.code(), Some(2));
    assert!(
        run.stderr()
            .contains("`501.graph-pagerank` has no nodejs implementation"),
        "{}",
        run.stderr()
    );

    let run = sebs(&["benchmark", "invoke", "110", "test", "--language", "java"]);
    assert_eq!(run.code(), Some(2), "clap rejects it");
    assert!(run.stderr().contains("java"), "{}", run.stderr());

    let run = sebs(&[
        "benchmark",
        "invoke",
        "110",
        "test",
        "--deployment",
        "knative",
    ]);
    assert_eq!(run.code(), Some(2), "clap rejects it");
    assert!(
        run.stderr().contains("unknown deployment `knative`")
            && run
                .stderr()
                .contains("local, docker, aws, azure, gcp, openwhisk"),
        "{}",
        run.stderr()
    );
}

/// Runs `sebs benchmark invoke 110 test --config FILE <extra>` with `config` as FILE.
fn invoke_with_config(config: &str, extra: &[&str]) -> support::Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, config).unwrap();
    let mut args = vec![
        "benchmark",
        "invoke",
        "110",
        "test",
        "--config",
        path.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    sebs(&args)
}

#[test]
fn malformed_config_names_file_and_field() {
    let run = invoke_with_config(
        r#"{"experiments": {"runtime": {"language": "python", "verison": "3.11"}}}"#,
        &[],
    );
    assert_eq!(run.code(), Some(2));
    let err = run.stderr();
    assert!(
        err.contains("config.json") && err.contains("verison"),
        "{err}"
    );

    let run = invoke_with_config(r#"{"deployment": {"local": {"max_instances": 0}}}"#, &[]);
    assert_eq!(run.code(), Some(2));
    assert!(
        run.stderr().contains("deployment.local.max_instances"),
        "{}",
        run.stderr()
    );
}

#[test]
fn config_file_values_apply_and_command_line_wins() {
    let run = invoke_with_config(
        r#"{"experiments": {"deployment": "local", "runtime": {"language": "nodejs", "version": "20"},
            "repetitions": 2, "memory": 256}}"#,
        &["--memory", "512"],
    );
    run.assert_success();
    let doc = run.experiments();
    assert_eq!(
        (doc["language"].as_str(), doc["memory"].as_u64()),
        (Some("nodejs"), Some(512))
    );
    let results = run.invocations();
    assert_eq!(results.len(), 2, "repetitions from the file");
    assert_eq!(results[0]["billing"]["memory"], 512);
}

// Functions that fail: each failure is recorded with its kind, the run goes on.

fn fixture(args: &[&str]) -> support::Run {
    sebs_in(&fixture_root(), &shared_cache(), args)
}

fn error_kinds(results: &[Value]) -> Vec<String> {
    results
        .iter()
        .map(|r| r["error"]["kind"].as_str().unwrap_or("ok").to_string())
        .collect()
}

#[test]
fn raising_function_is_a_recorded_failure() {
    let run = fixture(&[
        "benchmark",
        "invoke",
        "901.raise",
        "test",
        "--repetitions",
        "2",
    ]);
    assert_eq!(
        run.code(),
        Some(3),
        "every invocation failed: {}",
        run.stderr()
    );
    let results = run.invocations();
    assert_eq!(error_kinds(&results), ["function_error", "function_error"]);
    assert!(results[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("ValueError: this benchmark always fails"));
    assert_eq!(results[0]["stats"]["failure"], true);
    assert!(
        run.stdout().contains("failed with function_error: 2"),
        "{}",
        run.stdout()
    );
}

#[test]
fn timeout_stops_the_instance() {
    let run = fixture(&[
        "benchmark",
        "invoke",
        "902.timeout",
        "test",
        "--repetitions",
        "2",
    ]);
    assert_eq!(run.code(), Some(3));
    let results = run.invocations();
    assert_eq!(error_kinds(&results), ["timeout", "timeout"]);
    let client_ms = results[0]["times"]["client"].as_u64().unwrap() / 1000;
    assert!(
        (1000..10_000).contains(&client_ms),
        "stopped after its 1 s timeout, not the 30 s sleep: {client_ms} ms"
    );
    assert!(
        results.iter().all(is_cold_start_stat),
        "a stopped instance is replaced by a cold one"
    );
}

fn is_cold_start_stat(r: &Value) -> bool {
    r["stats"]["cold_start"].as_bool().unwrap()
}

#[test]
fn crash_is_recorded_and_a_new_instance_takes_over() {
    let run = fixture(&[
        "benchmark",
        "invoke",
        "903.flaky-crash",
        "test",
        "--repetitions",
        "4",
    ]);
    run.assert_success();
    let results = run.invocations();
    assert_eq!(error_kinds(&results), ["ok", "crashed", "ok", "crashed"]);
    let message = results[1]["error"]["message"].as_str().unwrap();
    assert!(message.contains("exit status: 3"), "{message}");
    assert_ne!(
        container(&results[0]),
        container(&results[2]),
        "a new instance after the crash"
    );
    assert!(is_cold(&results[2]));
}

#[test]
fn memory_limit_stops_the_instance() {
    let run = fixture(&["benchmark", "invoke", "904.memory-hog", "test"]);
    assert_eq!(run.code(), Some(3));
    let results = run.invocations();
    assert_eq!(error_kinds(&results), ["memory_limit"]);
    assert!(results[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("over its 64 MB limit"));
}

#[test]
fn unserialisable_result_is_a_function_error() {
    let run = fixture(&["benchmark", "invoke", "906.not-json", "test"]);
    assert_eq!(run.code(), Some(3));
    assert_eq!(error_kinds(&run.invocations()), ["function_error"]);
}

#[test]
fn broken_input_py_names_the_file_and_hook() {
    let run = fixture(&["benchmark", "invoke", "905.broken-input", "test"]);
    assert_eq!(run.code(), Some(2));
    let err = run.stderr();
    assert!(
        err.contains("905.broken-input/input.py") && err.contains("generate_input"),
        "{err}"
    );
    assert!(
        err.contains("input generation is broken on purpose"),
        "{err}"
    );
}

#[test]
fn wrong_output_fails_validation() {
    let run = fixture(&[
        "benchmark",
        "invoke",
        "907.wrong-output",
        "test",
        "--validate",
    ]);
    assert_eq!(run.code(), Some(2), "{}", run.stderr());
    assert!(
        run.stdout()
            .contains("validation: 0 of 1 successful outputs valid"),
        "{}",
        run.stdout()
    );
    assert!(
        run.stderr().contains("expected 42, got 41"),
        "{}",
        run.stderr()
    );
    let validation = &run.experiments()["validation"];
    assert_eq!(validation["checked"], 1);
    assert_eq!(validation["invalid"][0]["message"], "expected 42, got 41");
}

// Open loop: the invocation engine through `--rate`.

#[test]
fn open_loop_writes_records_and_histograms() {
    let run = sebs(&[
        "benchmark",
        "invoke",
        "110",
        "test",
        "--rate",
        "40",
        "--duration",
        "2s",
        "--concurrency",
        "4",
    ]);
    run.assert_success();
    let dir = run.out_dir.path();
    let summary = support::read_json(&dir.join("summary.json"));
    assert_eq!(summary["mode"], "open-loop");
    assert_eq!(
        (
            summary["sent"].as_u64(),
            summary["intended_invocations"].as_u64()
        ),
        (Some(80), Some(80))
    );
    assert_eq!(summary["failures"], serde_json::json!({}), "{summary}");
    assert_eq!(
        summary["cold"].as_u64().unwrap() + summary["warm"].as_u64().unwrap(),
        80
    );
    assert!(summary["latency_ms"]["p99"].as_f64().unwrap() > 0.0);

    let records = std::fs::read_to_string(dir.join("records.csv")).unwrap();
    let lines: Vec<&str> = records.lines().collect();
    assert!(
        lines[0].starts_with("request_id,intended_s,"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 81, "a record per invocation");
    assert!(
        lines[1..].iter().all(|l| l.split(',').nth(9) == Some("1")),
        "all ok"
    );

    let hgrm = std::fs::read_to_string(dir.join("latency.hgrm")).unwrap();
    assert!(
        hgrm.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"),
        "{hgrm}"
    );
    assert!(hgrm.contains("Total count    =           80]"), "{hgrm}");
    let hlog = std::fs::read_to_string(dir.join("latency.hlog")).unwrap();
    assert!(
        hlog.contains("Tag=latency,") && hlog.contains("Tag=lag,"),
        "{hlog}"
    );
    assert!(
        run.stdout().contains("sent 80 of 80 intended"),
        "{}",
        run.stdout()
    );
}

#[test]
fn open_loop_poisson_arrivals_repeat_with_the_seed() {
    let sent = || {
        let run = sebs(&[
            "benchmark",
            "invoke",
            "110",
            "test",
            "--rate",
            "50",
            "--duration",
            "1s",
            "--arrival",
            "poisson",
            "--seed",
            "7",
            "--concurrency",
            "4",
        ]);
        run.assert_success();
        let records = std::fs::read_to_string(run.out_dir.path().join("records.csv")).unwrap();
        let mut intended: Vec<String> = records
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(1).unwrap().to_string())
            .collect();
        intended.sort();
        intended
    };
    let (a, b) = (sent(), sent());
    assert!(
        (20..=90).contains(&a.len()),
        "about 50 arrivals: {}",
        a.len()
    );
    assert_eq!(a, b, "the same seed gives the same intended send times");
}

#[test]
fn open_loop_flags_are_checked_before_anything_runs() {
    for (args, expected) in [
        (vec!["--rate", "abc", "--duration", "1s"], "abc"),
        (vec!["--ramp", "10..100"], "duration"),
        (vec!["--rate", "10", "--duration", "1y"], "1y"),
        (vec!["--duration", "5s"], "need --rate or --ramp"),
        (
            vec!["--rate", "10", "--duration", "1s", "--validate"],
            "--validate",
        ),
    ] {
        let mut all = vec!["benchmark", "invoke", "110", "test"];
        all.extend(args.iter());
        let run = sebs(&all);
        assert_eq!(run.code(), Some(2), "{args:?}: {}", run.stderr());
        assert!(
            run.stderr().contains(expected),
            "{args:?}: {}",
            run.stderr()
        );
    }
}
