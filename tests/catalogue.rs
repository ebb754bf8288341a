//! The whole catalogue end to end: `sebs benchmark regression` through the real binary, every
//! benchmark in every language deployed on the local platform, invoked and its output validated.
//!
//! The first run on a machine builds every package (torch, sharp, igraph, squiggle) and
//! generates every input; they are cached under `$SEBS_CATALOGUE_CACHE` (CI: `~/.cache`), so
//! later runs only deploy, invoke and validate.

// Test code: a panic with a message is how a test fails.
#![allow(clippy::unwrap_used)]

// Part of `support` serves the other end-to-end tests.
#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The cache the catalogue tests share across runs: heavy packages and data stay built.
fn catalogue_cache() -> PathBuf {
    std::env::var_os("SEBS_CATALOGUE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| support::shared_cache().join("catalogue"))
}

fn regression(root: &Path, cache: &Path, extra: &[&str]) -> support::Run {
    let mut args = vec!["benchmark", "regression", "test", "--deployment", "local"];
    args.extend_from_slice(extra);
    support::sebs_in(root, cache, &args)
}

/// Every (benchmark, language) pair of the catalogue, as `benchmark list` shows them.
fn catalogue_pairs() -> Vec<(String, String)> {
    let root = support::repo_root().join("benchmarks");
    let mut pairs = Vec::new();
    for group in std::fs::read_dir(&root).unwrap().flatten() {
        for bench in std::fs::read_dir(group.path()).unwrap().flatten() {
            let Ok(text) = std::fs::read_to_string(bench.path().join("config.json")) else {
                continue;
            };
            let config: Value = serde_json::from_str(&text).unwrap();
            for language in config["languages"].as_array().unwrap() {
                let language = language.as_str().unwrap();
                if bench.path().join(language).is_dir() {
                    let name = bench.file_name().to_string_lossy().into_owned();
                    pairs.push((name, language.to_string()));
                }
            }
        }
    }
    pairs.sort();
    pairs
}

#[test]
fn regression_passes_with_every_output_validated() {
    let hint = "Debian: apt-get install ffmpeg gcc binutils";
    for program in ["ffmpeg", "ffprobe", "gcc", "readelf", "nm", "npm"] {
        if sebs_testkit::require(program, hint).is_none() {
            return;
        }
    }
    let run = regression(
        &support::repo_root(),
        &catalogue_cache(),
        &["--parallelism", "2"],
    );
    run.assert_success();
    let out = &run.out_dir;
    let report = support::read_json(&out.path().join("regression.json"));
    let mut ran: Vec<(String, String)> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["benchmark"].as_str().unwrap().to_string(),
                r["language"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    ran.sort();
    let pairs = catalogue_pairs();
    assert_eq!(ran, pairs, "every benchmark in every language it has");
    assert!(pairs.len() >= 21, "the whole catalogue: {pairs:?}");
    assert_eq!(report["failed"], 0, "{report:#}");
    for result in report["results"].as_array().unwrap() {
        let dir = PathBuf::from(result["output_dir"].as_str().unwrap());
        let experiments = support::read_json(&dir.join("experiments.json"));
        let validation = &experiments["validation"];
        assert!(
            validation["checked"].as_u64().unwrap() >= 1
                && validation["invalid"].as_array().unwrap().is_empty(),
            "{}: {validation}",
            dir.display()
        );
    }
    // The client sides' records and the functions' stored CSVs are in the output folders.
    let ping = out.path().join("020.network-benchmark/python");
    let server_csvs = std::fs::read_dir(ping.join("client-side")).unwrap().count();
    assert_eq!(server_csvs, 1, "one server-<request id>.csv");
    let stored = ping.join("outputs/020.network-benchmark-0-output");
    let csv = std::fs::read_dir(&stored)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(csv).unwrap();
    assert!(
        text.lines().next() == Some("id,client_send,client_rcv") && text.lines().count() == 11,
        "{text}"
    );
}

#[test]
fn regression_reports_each_failure_with_its_cause() {
    let root = support::fixture_root();
    let run = regression(
        &root,
        &support::shared_cache(),
        &[
            "--benchmark",
            "901",
            "--benchmark",
            "907",
            "--language",
            "python",
        ],
    );
    assert_eq!(run.code(), Some(2), "{}", run.stderr());
    let out = &run.out_dir;
    let report = support::read_json(&out.path().join("regression.json"));
    assert_eq!(
        (report["pairs"].as_u64(), report["failed"].as_u64()),
        (Some(2), Some(2)),
        "{report:#}"
    );
    let cause = |name: &str| {
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["benchmark"].as_str().unwrap().starts_with(name))
            .map(|r| r["cause"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert!(cause("901").contains("function_error"), "{}", cause("901"));
    assert!(cause("907").contains("validation"), "{}", cause("907"));
    let stdout = run.stdout();
    assert!(
        stdout.contains("FAIL 901.raise python") && stdout.contains("0 passed, 2 failed"),
        "{stdout}"
    );
}

#[test]
fn list_shows_what_each_benchmark_needs() {
    let run = support::sebs(&["benchmark", "list"]);
    run.assert_success();
    let stdout = run.stdout();
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} is not listed:\n{stdout}"))
            .to_string()
    };
    assert!(line("020.network-benchmark").contains("client side udp-echo"));
    assert!(line("040.server-reply").contains("client side tcp-reply"));
    assert!(line("120.uploader").contains("python,nodejs"));
    assert!(line("130.crud-api").contains("nosql"));
    assert!(line("220.video-processing").contains("programs ffmpeg"));
    assert!(stdout.contains("nodejs: sharp"), "{stdout}");
    assert!(stdout.contains("python: squiggle"), "{stdout}");
}
