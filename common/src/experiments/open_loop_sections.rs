//! Sections of sebs's own experiments, beyond SeBS: `experiments.load` (an open-loop load),
//! `experiments.trace-replay` (the Azure Functions 2019 trace) and `experiments.region-matrix`.

use std::path::PathBuf;

use serde::Deserialize;

use super::Origin;
use crate::config::ConfigError;

/// The synthetic trace shipped with sebs, relative to the project root.
pub const DEFAULT_TRACE: &str = "benchmark-data/traces/azure-functions-synthetic.d01.csv";

/// How open-loop requests arrive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ArrivalProcess {
    /// Evenly spaced at the rate.
    #[default]
    Constant,
    /// A Poisson process at the rate.
    Poisson,
}

/// `experiments.load`: one function under an open-loop load.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LoadSection {
    pub benchmark: Option<String>,
    pub input_size: Option<String>,
    /// MB [the benchmark's].
    pub memory: Option<u32>,
    /// Requests per second, `200`, or stages `100@10s,400@20s,50..500@30s` (as `--rate`).
    pub rate: Option<String>,
    /// A linear ramp `FROM..TO` over `duration` (as `--ramp`).
    pub ramp: Option<String>,
    /// `30s`, `2m`: needed with a plain `rate` or a `ramp`.
    pub duration: Option<String>,
    pub arrival: Option<ArrivalProcess>,
    pub seed: Option<u64>,
    /// Requests in flight at most (one connection each) [32].
    pub tasks: Option<u32>,
    /// Stop after this many requests.
    pub max_invocations: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Load {
    pub benchmark: String,
    pub input_size: String,
    pub memory: Option<u32>,
    /// The rate or ramp as written, for the schedule parser.
    pub schedule: String,
    pub duration: Option<String>,
    pub arrival: ArrivalProcess,
    pub seed: u64,
    pub tasks: u32,
    pub max_invocations: Option<u64>,
}

impl LoadSection {
    pub fn validate(&self, o: Origin) -> Result<Load, ConfigError> {
        let (schedule, duration) = match (&self.rate, &self.ramp) {
            (Some(_), Some(_)) => {
                return Err(o.invalid("experiments.load.ramp", "give `rate` or `ramp`, not both"))
            }
            (None, Some(ramp)) if !ramp.contains("..") || ramp.contains('@') => {
                return Err(o.invalid(
                    "experiments.load.ramp",
                    format!("`{ramp}`: expected FROM..TO, e.g. 10..500"),
                ))
            }
            (Some(spec), None) | (None, Some(spec)) => (spec.clone(), self.duration.clone()),
            (None, None) => (
                "10".into(),
                Some(self.duration.clone().unwrap_or("30s".into())),
            ),
        };
        Ok(Load {
            benchmark: self.benchmark.clone().unwrap_or("110.dynamic-html".into()),
            input_size: o.input_size("experiments.load.input-size", &self.input_size)?,
            memory: o.memory("experiments.load.memory", self.memory)?,
            schedule,
            duration,
            arrival: self.arrival.unwrap_or_default(),
            seed: self.seed.unwrap_or(42),
            tasks: o.positive("experiments.load.tasks", self.tasks, 32)?,
            max_invocations: self.max_invocations,
        })
    }
}

/// `experiments.trace-replay`: functions of an Azure Functions 2019 trace
/// (`invocations_per_function_md.anon.d01.csv`) replayed minute by minute.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TraceReplaySection {
    /// The trace file [the synthetic trace in benchmark-data/traces].
    pub trace: Option<PathBuf>,
    pub benchmark: Option<String>,
    pub input_size: Option<String>,
    pub memory: Option<u32>,
    /// How much faster than real time: 60 replays a trace minute in a second [60].
    pub time_scale: Option<f64>,
    /// First minute replayed, 1..=1440 [1].
    pub start_minute: Option<u32>,
    /// Minutes replayed [to the end of the day].
    pub minutes: Option<u32>,
    /// The busiest this many functions of the window are replayed, each as its own copy [10].
    pub functions: Option<u32>,
    /// Only functions with these triggers (`http`, `timer`, `queue`, …) [all].
    pub triggers: Option<Vec<String>>,
    /// Arrivals within a minute [poisson].
    pub arrival: Option<ArrivalProcess>,
    pub seed: Option<u64>,
    /// Requests in flight at most per function [8].
    pub tasks: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TraceReplay {
    /// As written: relative paths are taken from the project root.
    pub trace: PathBuf,
    pub benchmark: String,
    pub input_size: String,
    pub memory: Option<u32>,
    pub time_scale: f64,
    /// 1-based.
    pub start_minute: u32,
    pub minutes: u32,
    pub functions: u32,
    pub triggers: Option<Vec<String>>,
    pub arrival: ArrivalProcess,
    pub seed: u64,
    pub tasks: u32,
}

/// Minutes in the trace's day.
pub const TRACE_MINUTES: u32 = 1440;

impl TraceReplaySection {
    pub fn validate(&self, o: Origin) -> Result<TraceReplay, ConfigError> {
        let time_scale = self.time_scale.unwrap_or(60.0);
        if !(time_scale.is_finite() && time_scale > 0.0 && time_scale <= 1e6) {
            return Err(o.invalid(
                "experiments.trace-replay.time-scale",
                format!("{time_scale} is not a speed-up: expected a number in (0, 1e6]"),
            ));
        }
        let start_minute = self.start_minute.unwrap_or(1);
        if !(1..=TRACE_MINUTES).contains(&start_minute) {
            return Err(o.invalid(
                "experiments.trace-replay.start-minute",
                format!("{start_minute} is not a minute of the day: expected 1..={TRACE_MINUTES}"),
            ));
        }
        let left = TRACE_MINUTES - start_minute + 1;
        let minutes = self.minutes.unwrap_or(left);
        if minutes == 0 || minutes > left {
            return Err(o.invalid(
                "experiments.trace-replay.minutes",
                format!("{minutes} minutes from minute {start_minute}: expected 1..={left}"),
            ));
        }
        Ok(TraceReplay {
            trace: self
                .trace
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_TRACE)),
            benchmark: self.benchmark.clone().unwrap_or("110.dynamic-html".into()),
            input_size: o.input_size("experiments.trace-replay.input-size", &self.input_size)?,
            memory: o.memory("experiments.trace-replay.memory", self.memory)?,
            time_scale,
            start_minute,
            minutes,
            functions: o.positive("experiments.trace-replay.functions", self.functions, 10)?,
            triggers: self.triggers.clone(),
            arrival: self.arrival.unwrap_or(ArrivalProcess::Poisson),
            seed: self.seed.unwrap_or(42),
            tasks: o.positive("experiments.trace-replay.tasks", self.tasks, 8)?,
        })
    }
}

/// `experiments.region-matrix`: every worker region invokes a function deployed in every
/// deployment region.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RegionMatrixSection {
    pub benchmark: Option<String>,
    pub input_size: Option<String>,
    pub memory: Option<u32>,
    /// Measured (warm) invocations per cell, after one discarded warm-up batch [20].
    pub repetitions: Option<u32>,
    /// Invocations in flight per cell [1].
    pub concurrency: Option<u32>,
    /// Regions the invocations are sent from [every region with a worker].
    pub worker_regions: Option<Vec<String>>,
    /// Regions the function is deployed in [every region of the deployment].
    pub deployment_regions: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RegionMatrix {
    pub benchmark: String,
    pub input_size: String,
    pub memory: Option<u32>,
    pub repetitions: u32,
    pub concurrency: u32,
    pub worker_regions: Option<Vec<String>>,
    pub deployment_regions: Option<Vec<String>>,
}

impl RegionMatrixSection {
    pub fn validate(&self, o: Origin) -> Result<RegionMatrix, ConfigError> {
        for (field, list) in [
            (
                "experiments.region-matrix.worker-regions",
                &self.worker_regions,
            ),
            (
                "experiments.region-matrix.deployment-regions",
                &self.deployment_regions,
            ),
        ] {
            if list.as_ref().is_some_and(|l| l.is_empty()) {
                return Err(o.invalid(
                    field,
                    "is empty: expected one or more regions, or leave it out for all",
                ));
            }
        }
        Ok(RegionMatrix {
            benchmark: self.benchmark.clone().unwrap_or("110.dynamic-html".into()),
            input_size: o.input_size("experiments.region-matrix.input-size", &self.input_size)?,
            memory: o.memory("experiments.region-matrix.memory", self.memory)?,
            repetitions: o.positive(
                "experiments.region-matrix.repetitions",
                self.repetitions,
                20,
            )?,
            concurrency: o.positive(
                "experiments.region-matrix.concurrency",
                self.concurrency,
                1,
            )?,
            worker_regions: self.worker_regions.clone(),
            deployment_regions: self.deployment_regions.clone(),
        })
    }
}
