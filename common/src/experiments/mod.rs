//! The experiment sections of the configuration file: SeBS's (`experiments.perf-cost`,
//! `network-ping-pong`, `invocation-overhead`, `eviction-model`) and sebs's own (`load`,
//! `trace-replay`, `region-matrix`).
//!
//! Every section is optional and every field has a default (SeBS's, where SeBS has the
//! experiment); unknown fields are errors. Each `*Section` is the file as written, and its
//! `validate` turns it into the plan of the same name without `Section`: defaults applied,
//! values checked, errors naming the field. Rate schedules (`load.rate`) stay strings here: the
//! worker's schedule parser checks them, naming the same field.

mod open_loop_sections;
mod sebs_sections;

pub use open_loop_sections::{
    ArrivalProcess, Load, LoadSection, RegionMatrix, RegionMatrixSection, TraceReplay,
    TraceReplaySection, DEFAULT_TRACE,
};
pub use sebs_sections::{
    linspace, EvictionModel, EvictionModelSection, InvocationOverhead, InvocationOverheadSection,
    NetworkPingPong, NetworkPingPongSection, OverheadKind, PerfCost, PerfCostSection, PerfCostType,
    EVICTION_TIMES,
};

use crate::config::ConfigError;

/// The input sizes SeBS defines.
pub const INPUT_SIZES: [&str; 3] = ["test", "small", "large"];

/// Every experiment's plan, validated (sections missing from the file take their defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct ExperimentPlans {
    pub perf_cost: PerfCost,
    pub network_ping_pong: NetworkPingPong,
    pub invocation_overhead: InvocationOverhead,
    pub eviction_model: EvictionModel,
    pub load: Load,
    pub trace_replay: TraceReplay,
    pub region_matrix: RegionMatrix,
}

/// The sections as written in `experiments`.
#[derive(Clone, Debug, Default)]
pub struct ExperimentSections<'a> {
    pub perf_cost: Option<&'a PerfCostSection>,
    pub network_ping_pong: Option<&'a NetworkPingPongSection>,
    pub invocation_overhead: Option<&'a InvocationOverheadSection>,
    pub eviction_model: Option<&'a EvictionModelSection>,
    pub load: Option<&'a LoadSection>,
    pub trace_replay: Option<&'a TraceReplaySection>,
    pub region_matrix: Option<&'a RegionMatrixSection>,
}

impl ExperimentSections<'_> {
    pub fn validate(&self, origin: &str) -> Result<ExperimentPlans, ConfigError> {
        let o = Origin(origin);
        Ok(ExperimentPlans {
            perf_cost: self.perf_cost.cloned().unwrap_or_default().validate(o)?,
            network_ping_pong: self
                .network_ping_pong
                .cloned()
                .unwrap_or_default()
                .validate(o)?,
            invocation_overhead: self
                .invocation_overhead
                .cloned()
                .unwrap_or_default()
                .validate(o)?,
            eviction_model: self
                .eviction_model
                .cloned()
                .unwrap_or_default()
                .validate(o)?,
            load: self.load.cloned().unwrap_or_default().validate(o)?,
            trace_replay: self.trace_replay.cloned().unwrap_or_default().validate(o)?,
            region_matrix: self
                .region_matrix
                .cloned()
                .unwrap_or_default()
                .validate(o)?,
        })
    }
}

/// What a section's `validate` needs to name a field in an error: where the values came from.
#[derive(Clone, Copy, Debug)]
pub struct Origin<'a>(pub &'a str);

impl Origin<'_> {
    pub(crate) fn invalid(self, field: &'static str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            origin: self.0.to_string(),
            field,
            message: message.into(),
        }
    }

    /// `value`, else `default`; 0 is an error.
    pub(crate) fn positive(
        self,
        field: &'static str,
        value: Option<u32>,
        default: u32,
    ) -> Result<u32, ConfigError> {
        match value.unwrap_or(default) {
            0 => Err(self.invalid(field, "must be at least 1")),
            v => Ok(v),
        }
    }

    /// `value`, else `test`; only SeBS's sizes are accepted.
    pub(crate) fn input_size(
        self,
        field: &'static str,
        value: &Option<String>,
    ) -> Result<String, ConfigError> {
        let size = value.clone().unwrap_or_else(|| "test".into());
        if INPUT_SIZES.contains(&size.as_str()) {
            Ok(size)
        } else {
            Err(self.invalid(
                field,
                format!("`{size}` is not an input size: expected test, small or large"),
            ))
        }
    }

    /// `value` if it is a function memory size.
    pub(crate) fn memory(
        self,
        field: &'static str,
        value: Option<u32>,
    ) -> Result<Option<u32>, ConfigError> {
        match value {
            Some(m) if !(32..=crate::config::MAX_MEMORY_MB).contains(&m) => Err(self.invalid(
                field,
                format!("{m} MB is outside 32..={} MB", crate::config::MAX_MEMORY_MB),
            )),
            other => Ok(other),
        }
    }
}

#[cfg(test)]
mod tests;
