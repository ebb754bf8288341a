//! A fleet across three "regions" made of network namespaces on this machine, each with its own
//! network delay (0, 20 and 50 ms; `sebs_testkit::netns`): a coordinator on the host, one
//! worker inside each namespace, and the latencies per region in `latency-matrix.json` show
//! each region's delay. Needs root (skipped without, failed under `SEBS_TEST_REQUIRE=all`).

// Test code: a panic with a message is the right way to fail.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "support/mod.rs"]
mod support;

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sebs_testkit::fleet::{run_bounded, Fleet, FleetOptions};
use sebs_testkit::netns::Regions;
use serde_json::Value;
use support::{read_json, repo_root, shared_cache, Run};

/// The longest the run may take here (builds included); it fails the test beyond.
const RUN_LIMIT: Duration = Duration::from_secs(600);
/// Each region's one-way delay, in ms.
const DELAYS_MS: [u64; 3] = [0, 20, 50];

#[test]
fn per_region_latencies_show_each_regions_network_delay() {
    let Some(mut regions) = Regions::create(DELAYS_MS.len()) else {
        return;
    };
    // The coordinator and the platform's gateway listen on the host's end of the first
    // region's veth; every namespace reaches that address through its own veth.
    let host = regions.host_ip(0);
    let gateway = {
        let probe = TcpListener::bind((host, 0)).unwrap();
        probe.local_addr().unwrap()
    };
    for (i, &ms) in DELAYS_MS.iter().enumerate() {
        if ms > 0 {
            let kind = regions.add_delay(i, Duration::from_millis(ms), gateway);
            eprintln!("region {i}: {ms} ms by {kind:?}");
        }
    }
    let options = FleetOptions {
        tls: true,
        listen: format!("{host}:0"),
        cert_hosts: vec![host.to_string()],
        coordinator_args: Vec::new(),
    };
    let mut fleet = Fleet::start_with(
        Path::new(env!("CARGO_BIN_EXE_sebs")),
        &repo_root(),
        &shared_cache(),
        &options,
        |_| {},
    );
    let url = fleet.url().to_string();
    for (i, ms) in DELAYS_MS.iter().enumerate() {
        fleet.add_worker_via(
            &format!("w{i}"),
            &region_name(*ms),
            &url,
            &regions.prefix(i),
        );
    }
    let out_dir = tempfile::tempdir().unwrap();
    let config = out_dir.path().join("config.json");
    let section = serde_json::json!({
        "deployment": {"name": "local", "local": {"gateway_address": gateway.to_string()}}
    });
    std::fs::write(&config, section.to_string()).unwrap();
    let output = run_bounded(invoke_command(&fleet, &config, out_dir.path()), RUN_LIMIT);
    let run = Run { output, out_dir };
    run.assert_success_with(&fleet.logs());

    let results = run.invocations();
    assert_eq!(results.len(), 30, "{}", fleet.logs());
    let matrix = read_json(&run.out_dir.path().join("latency-matrix.json"));
    let function = matrix["functions"][0].as_str().unwrap().to_string();
    let mut fastest = Vec::new();
    for &ms in &DELAYS_MS {
        let region = region_name(ms);
        let cell = &matrix["matrix"][&region][&function];
        assert_eq!(cell["invocations"], 10, "{matrix}");
        let p50 = cell["warm"]["p50"].as_f64().unwrap();
        // Every invocation waits the region's delay at least once: its request crosses it.
        let times = client_ms(&results, &region);
        let min = times.iter().copied().fold(f64::INFINITY, f64::min);
        eprintln!("{region}: warm p50 {p50:.1} ms, fastest {min:.1} ms");
        assert!(
            min >= ms as f64,
            "{region}: an invocation took {min} ms, under the {ms} ms delay\n{matrix}"
        );
        assert!(p50 >= ms as f64, "{region}: warm p50 {p50} ms\n{matrix}");
        fastest.push(min);
    }
    // The region without a delay is not held up by the others' (its fastest invocation beats
    // the 50 ms region's, which cannot be under 50 ms).
    assert!(fastest[0] < fastest[2], "{fastest:?}\n{matrix}");
}

fn region_name(delay_ms: u64) -> String {
    format!("delay-{delay_ms}ms")
}

/// `benchmark invoke` of 30 warm-ish invocations, 10 per worker, through `fleet`.
fn invoke_command(fleet: &Fleet, config: &Path, out_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sebs"));
    command
        .args(["benchmark", "invoke", "110.dynamic-html", "test"])
        .args(["--repetitions", "30", "--concurrency", "3", "--config"])
        .arg(config)
        .args(fleet.client_args(&fleet.credentials.token_file))
        .arg("--output-dir")
        .arg(out_dir)
        .current_dir(repo_root())
        .env("SEBS_ROOT", repo_root())
        .env_remove("SEBS_LOG");
    command
}

/// The client times (ms) of `region`'s invocations.
fn client_ms(results: &[Value], region: &str) -> Vec<f64> {
    results
        .iter()
        .filter(|r| r["origin"]["region"] == region)
        .map(|r| r["times"]["client"].as_f64().unwrap() / 1000.0)
        .collect()
}
