//! `sebs benchmark invoke --deployment docker` end to end, through the real binary and a real
//! Docker engine: functions run in containers of the images of `dockerfiles/`.

// Test code: a panic with a message is the right way to fail.
#![allow(clippy::unwrap_used)]

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::{fixture_root, sebs, sebs_in, shared_cache, Run};

/// `sebs benchmark invoke BENCHMARK test --deployment docker OPTIONS...`, or `None` (skip)
/// without a Docker engine.
fn invoke_on_docker(benchmark: &str, options: &[&str]) -> Option<Run> {
    sebs_testkit::docker::docker_engine()?;
    let mut args = vec![
        "benchmark",
        "invoke",
        benchmark,
        "test",
        "--deployment",
        "docker",
    ];
    args.extend(options);
    Some(sebs(&args))
}

fn containers(results: &[Value]) -> BTreeSet<String> {
    results
        .iter()
        .map(|r| r["output"]["container_id"].as_str().unwrap().to_string())
        .collect()
}

/// What every successful docker invocation reports: the wrapper's reply, the container's memory
/// peak under its limit, and the platform's execution time around the benchmark's.
fn check_measured(r: &Value, memory_mb: f64) {
    assert_eq!(r["stats"]["failure"], false, "{r}");
    let used = r["stats"]["memory_used"].as_f64().unwrap();
    assert!(
        used > 1.0 && used <= memory_mb,
        "the container's peak memory is measured and under its {memory_mb} MB limit: {used}"
    );
    let (execution, benchmark) = (
        r["provider_times"]["execution"].as_u64().unwrap(),
        r["times"]["benchmark"].as_u64().unwrap(),
    );
    assert!(
        benchmark > 0 && execution >= benchmark,
        "execution {execution} µs >= benchmark {benchmark} µs"
    );
    assert_eq!(r["output"]["request_id"], r["request_id"]);
}

#[test]
fn dynamic_html_python_runs_warm_in_one_container() {
    let Some(run) = invoke_on_docker("110.dynamic-html", &["--repetitions", "3", "--validate"])
    else {
        return;
    };
    run.assert_success();
    let stdout = run.stdout();
    assert!(stdout.contains("on docker, size test"), "{stdout}");
    assert!(
        stdout.contains("3 invocations: 3 succeeded (1 cold, 2 warm), 0 failed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("validation: 3 of 3 successful outputs valid"),
        "{stdout}"
    );
    let results = run.invocations();
    assert_eq!(run.lines().len(), 3, "invocations.jsonl has every result");
    assert_eq!(containers(&results).len(), 1, "one container served all");
    for r in &results {
        check_measured(r, 128.0);
    }
    let cold = &results[0];
    assert_eq!(cold["output"]["is_cold"], true);
    let init = cold["provider_times"]["initialization"].as_u64().unwrap();
    assert!(init > 0, "starting the container is initialization: {cold}");
    assert_eq!(cold["times"]["initialization"].as_u64(), Some(init));
    assert_eq!(results[1]["output"]["is_cold"], false);
    assert_eq!(results[1]["provider_times"]["initialization"], 0);
    assert!(
        cold["output"]["result"]["result"]
            .as_str()
            .unwrap()
            .contains("Welcome testname!"),
        "the page was rendered: {cold}"
    );
}

#[test]
fn forced_cold_starts_replace_containers_and_concurrency_scales_out() {
    let Some(run) = invoke_on_docker(
        "110.dynamic-html",
        &["--repetitions", "4", "--concurrency", "2", "--cold"],
    ) else {
        return;
    };
    run.assert_success();
    let results = run.invocations();
    assert_eq!(results.len(), 4);
    assert!(
        results.iter().all(|r| r["output"]["is_cold"] == true),
        "every batch starts on new containers"
    );
    assert_eq!(
        containers(&results).len(),
        4,
        "2 batches x 2 concurrent invocations, each on a container of its own"
    );
    let generations: BTreeSet<String> = results
        .iter()
        .map(|r| r["output"]["cold_start_var"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        generations.len(),
        2,
        "each batch's containers see a new cold_start: {generations:?}"
    );
    for r in &results {
        check_measured(r, 128.0);
    }
}

#[test]
fn thumbnailer_reads_and_writes_the_mounted_storage() {
    let Some(run) = invoke_on_docker("210.thumbnailer", &["--repetitions", "2", "--validate"])
    else {
        return;
    };
    run.assert_success();
    assert!(
        run.stdout()
            .contains("validation: 2 of 2 successful outputs valid"),
        "{}",
        run.stdout()
    );
    let results = run.invocations();
    for r in &results {
        check_measured(r, 256.0);
        let key = r["output"]["result"]["result"]["key"].as_str().unwrap();
        let stored = shared_cache()
            .join("docker-storage/sebs-benchmarks-docker")
            .join(key);
        assert!(
            stored.is_file(),
            "the container's upload is in the storage: {}",
            stored.display()
        );
    }
    let measurement = &results[1]["output"]["result"]["measurement"];
    assert!(
        measurement["download_time"].as_f64().unwrap() > 0.0,
        "{measurement}"
    );
}

#[test]
fn dynamic_html_nodejs_runs_in_its_image() {
    let Some(run) = invoke_on_docker(
        "110.dynamic-html",
        &[
            "--language",
            "nodejs",
            "--language-version",
            "18",
            "--repetitions",
            "2",
            "--validate",
        ],
    ) else {
        return;
    };
    run.assert_success();
    let results = run.invocations();
    assert_eq!(results[0]["output"]["is_cold"], true);
    assert_eq!(results[1]["output"]["is_cold"], false);
    for r in &results {
        check_measured(r, 128.0);
    }
}

#[test]
fn a_runtime_without_an_image_is_refused_with_how_to_build_it() {
    let Some(run) = invoke_on_docker("110.dynamic-html", &["--language-version", "3.9"]) else {
        return;
    };
    assert_eq!(run.code(), Some(2));
    let err = run.stderr();
    assert!(
        err.contains("no image sebs/run:python-3.9") && err.contains("dockerfiles/images.sh"),
        "{err}"
    );
}

#[test]
fn a_container_over_its_memory_is_killed_by_the_kernel() {
    if sebs_testkit::docker::docker_engine().is_none() {
        return;
    }
    let run = sebs_in(
        &fixture_root(),
        &shared_cache(),
        &[
            "benchmark",
            "invoke",
            "904.memory-hog",
            "test",
            "--deployment",
            "docker",
        ],
    );
    assert_eq!(run.code(), Some(3), "{}", run.stderr());
    let results = run.invocations();
    assert_eq!(
        results[0]["error"]["kind"], "memory_limit",
        "{}",
        results[0]
    );
    assert!(results[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("exceeding its memory limit"));
}

#[test]
fn crud_api_reaches_the_gateways_nosql_tables_from_its_container() {
    let Some(run) = invoke_on_docker("130.crud-api", &["--repetitions", "2", "--validate"]) else {
        return;
    };
    run.assert_success();
    assert!(
        run.stdout()
            .contains("validation: 2 of 2 successful outputs valid"),
        "{}",
        run.stdout()
    );
    for r in &run.invocations() {
        check_measured(r, 128.0);
    }
}
