use std::path::Path;

use super::*;
use crate::config::{ConfigFile, Overrides};

fn plans(text: &str) -> Result<ExperimentPlans, String> {
    ConfigFile::parse(text, Path::new("cfg.json"))
        .map_err(|e| e.to_string())?
        .validate("cfg.json", &Overrides::default())
        .map(|run| run.experiments)
        .map_err(|e| e.to_string())
}

/// The experiment sections of SeBS's `config/example.json` (its code spells the code sizes
/// `code_package_*`, its example file `code_*`), plus its eviction-model fields.
const SEBS_EXAMPLE: &str = r#"{"experiments": {
    "update_code": false, "update_storage": false, "download_results": false,
    "runtime": {"language": "python", "version": "3.11"},
    "type": "invocation-overhead",
    "perf-cost": {"benchmark": "110.dynamic-html", "experiments": ["cold", "warm", "burst", "sequential"],
                  "input-size": "test", "repetitions": 50, "concurrent-invocations": 50,
                  "memory-sizes": [128, 256]},
    "network-ping-pong": {"invocations": 50, "repetitions": 1000, "threads": 1},
    "invocation-overhead": {"invocations": 1, "repetitions": 5, "N": 20, "threads": 1,
                  "payload_begin": 1024, "payload_end": 6251000, "payload_points": 20,
                  "code_begin": 1048576, "code_end": 261619712, "code_points": 20},
    "eviction-model": {"invocations": 1, "function_copy_idx": 0, "repetitions": 5, "sleep": 1}
}}"#;

#[test]
fn sebs_example_sections_load_with_their_values() {
    let p = plans(SEBS_EXAMPLE).unwrap();
    assert_eq!(p.perf_cost.types, PerfCostType::ALL.to_vec());
    assert_eq!((p.perf_cost.repetitions, p.perf_cost.concurrency), (50, 50));
    assert_eq!(p.perf_cost.memory_sizes, vec![128, 256]);
    assert_eq!(p.network_ping_pong.repetitions, 1000);
    let o = &p.invocation_overhead;
    assert_eq!((o.kind, o.repetitions, o.n), (OverheadKind::Payload, 5, 20));
    // numpy 2.4: [int(p) for p in np.linspace(1024, 6251000, 20)]
    assert_eq!(o.sizes.len(), 20);
    assert_eq!(&o.sizes[..4], &[1024, 329970, 658916, 987862]);
    assert_eq!(o.sizes[10], 3290485);
    assert_eq!(o.sizes[19], 6251000);
    assert_eq!(p.eviction_model.times, EVICTION_TIMES.to_vec());
    assert_eq!(p.eviction_model.sleep, 1);
}

#[test]
fn absent_sections_take_sebs_defaults() {
    let p = plans("{}").unwrap();
    assert_eq!(p.perf_cost.benchmark, "110.dynamic-html");
    assert_eq!(p.perf_cost.input_size, "test");
    assert_eq!((p.perf_cost.repetitions, p.perf_cost.concurrency), (50, 50));
    assert_eq!(p.perf_cost.memory_sizes, vec![128, 256]);
    assert_eq!(p.perf_cost.batch_pause_s, 5.0);
    assert_eq!(p.perf_cost.max_batches, 4, "1 + 3 x ceil(50 / 50)");
    assert_eq!(
        (p.network_ping_pong.invocations, p.network_ping_pong.threads),
        (50, 1)
    );
    assert_eq!(p.load.schedule, "10");
    assert_eq!(p.load.duration.as_deref(), Some("30s"));
    assert_eq!(p.trace_replay.trace, Path::new(DEFAULT_TRACE));
    assert_eq!(
        (p.trace_replay.start_minute, p.trace_replay.minutes),
        (1, 1440)
    );
    assert_eq!(p.region_matrix.repetitions, 20);
}

#[test]
fn code_sizes_take_either_spelling() {
    let p = plans(
        r#"{"experiments": {"invocation-overhead": {"type": "code",
            "code_package_begin": 10, "code_package_end": 20, "code_package_points": 4}}}"#,
    )
    .unwrap();
    // numpy: [int(p) for p in np.linspace(10, 20, 4)]
    assert_eq!(p.invocation_overhead.sizes, vec![10, 13, 16, 20]);
    assert_eq!(p.invocation_overhead.kind, OverheadKind::Code);
}

#[test]
fn errors_name_the_file_and_field() {
    let cases = [
        (
            r#"{"experiments": {"perf-cost": {"repetitons": 5}}}"#,
            "repetitons",
        ),
        (
            r#"{"experiments": {"perf-cost": {"experiments": ["cold", "hot"]}}}"#,
            "experiments.perf-cost.experiments",
        ),
        (
            r#"{"experiments": {"perf-cost": {"memory-sizes": [128, 8]}}}"#,
            "experiments.perf-cost.memory-sizes` 8 MB",
        ),
        (
            r#"{"experiments": {"perf-cost": {"input-size": "huge"}}}"#,
            "`huge` is not an input size",
        ),
        (
            r#"{"experiments": {"network-ping-pong": {"threads": 0}}}"#,
            "experiments.network-ping-pong.threads` must be at least 1",
        ),
        (
            r#"{"experiments": {"invocation-overhead": {"payload_begin": 10, "payload_end": 5}}}"#,
            "expected begin <= end",
        ),
        (
            r#"{"experiments": {"eviction-model": {"function_copy_idx": 1}}}"#,
            "function_copy_idx",
        ),
        (r#"{"experiments": {"load": {"ramp": "10"}}}"#, "FROM..TO"),
        (
            r#"{"experiments": {"trace-replay": {"start-minute": 1400, "minutes": 100}}}"#,
            "experiments.trace-replay.minutes` 100 minutes from minute 1400: expected 1..=41",
        ),
        (
            r#"{"experiments": {"trace-replay": {"time-scale": 0}}}"#,
            "time-scale",
        ),
        (
            r#"{"experiments": {"region-matrix": {"worker-regions": []}}}"#,
            "worker-regions` is empty",
        ),
    ];
    for (text, want) in cases {
        let err = plans(text).unwrap_err();
        assert!(
            err.contains("cfg.json") && err.contains(want),
            "{text}\n  gave: {err}\n  want: {want}"
        );
    }
}

#[test]
fn linspace_includes_both_ends() {
    assert_eq!(linspace(5, 5, 1), vec![5]);
    assert_eq!(linspace(0, 10, 3), vec![0, 5, 10]);
}

#[test]
fn the_example_file_of_every_experiment_loads() {
    let p = plans(include_str!("../../../config/experiments.json")).unwrap();
    assert_eq!(
        p.perf_cost,
        plans("{}").unwrap().perf_cost,
        "it spells out the defaults"
    );
    assert_eq!(p.load.arrival, ArrivalProcess::Poisson);
    assert_eq!(p.eviction_model.times, EVICTION_TIMES.to_vec());
}
