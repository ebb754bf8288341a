//! SeBS's four experiment sections: `experiments.perf-cost`, `network-ping-pong`,
//! `invocation-overhead` and `eviction-model`, with SeBS's field names and defaults.

use serde::Deserialize;

use super::Origin;
use crate::config::ConfigError;

/// One of SeBS's perf-cost run types.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum PerfCostType {
    /// A cold start is forced before every batch; only cold results are kept.
    Cold,
    /// No cold starts are forced; cold results are dropped.
    Warm,
    /// A cold start is forced before every batch; every result is kept.
    Burst,
    /// One invocation at a time, after a warm-up invocation.
    Sequential,
}

impl PerfCostType {
    pub const ALL: [PerfCostType; 4] = [
        PerfCostType::Cold,
        PerfCostType::Warm,
        PerfCostType::Burst,
        PerfCostType::Sequential,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PerfCostType::Cold => "cold",
            PerfCostType::Warm => "warm",
            PerfCostType::Burst => "burst",
            PerfCostType::Sequential => "sequential",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// `experiments.perf-cost`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PerfCostSection {
    pub benchmark: Option<String>,
    pub experiments: Option<Vec<PerfCostType>>,
    pub input_size: Option<String>,
    pub repetitions: Option<u32>,
    pub concurrent_invocations: Option<u32>,
    /// MB; an empty list runs once at the benchmark's own memory.
    pub memory_sizes: Option<Vec<u32>>,
    /// sebs extension: seconds to wait before and after each batch [SeBS: 5].
    pub batch_pause: Option<f64>,
    /// sebs extension: batches after which a type stops even if it has fewer samples than
    /// `repetitions` (SeBS loops forever) [1 + 3 × ⌈repetitions / concurrent-invocations⌉].
    pub max_batches: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PerfCost {
    pub benchmark: String,
    pub types: Vec<PerfCostType>,
    pub input_size: String,
    pub repetitions: u32,
    pub concurrency: u32,
    pub memory_sizes: Vec<u32>,
    pub batch_pause_s: f64,
    pub max_batches: u32,
}

impl PerfCostSection {
    pub fn validate(&self, o: Origin) -> Result<PerfCost, ConfigError> {
        let repetitions = o.positive("experiments.perf-cost.repetitions", self.repetitions, 50)?;
        let concurrency = o.positive(
            "experiments.perf-cost.concurrent-invocations",
            self.concurrent_invocations,
            50,
        )?;
        let types = self
            .experiments
            .clone()
            .unwrap_or_else(|| PerfCostType::ALL.to_vec());
        if types.is_empty() {
            return Err(o.invalid(
                "experiments.perf-cost.experiments",
                "names no run type: expected some of cold, warm, burst, sequential",
            ));
        }
        let memory_sizes = self.memory_sizes.clone().unwrap_or_else(|| vec![128, 256]);
        for &m in &memory_sizes {
            o.memory("experiments.perf-cost.memory-sizes", Some(m))?;
        }
        let batch_pause_s = self.batch_pause.unwrap_or(5.0);
        if !(0.0..=3600.0).contains(&batch_pause_s) {
            return Err(o.invalid(
                "experiments.perf-cost.batch-pause",
                format!("{batch_pause_s} s is outside 0..=3600 s"),
            ));
        }
        let max_batches = o.positive(
            "experiments.perf-cost.max-batches",
            self.max_batches,
            1 + 3 * repetitions.div_ceil(concurrency),
        )?;
        Ok(PerfCost {
            benchmark: self
                .benchmark
                .clone()
                .unwrap_or_else(|| "110.dynamic-html".into()),
            types,
            input_size: o.input_size("experiments.perf-cost.input-size", &self.input_size)?,
            repetitions,
            concurrency,
            memory_sizes,
            batch_pause_s,
            max_batches,
        })
    }
}

/// `experiments.network-ping-pong`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NetworkPingPongSection {
    /// Invocations of 020.network-benchmark, each with its own UDP port.
    pub invocations: Option<u32>,
    /// Round trips per invocation (one more is sent and discarded, as in SeBS).
    pub repetitions: Option<u32>,
    /// Invocations at once.
    pub threads: Option<u32>,
    /// sebs extension: the address functions send to [the client's own].
    pub client_address: Option<String>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NetworkPingPong {
    pub invocations: u32,
    pub repetitions: u32,
    pub threads: u32,
    pub client_address: Option<String>,
}

impl NetworkPingPongSection {
    pub fn validate(&self, o: Origin) -> Result<NetworkPingPong, ConfigError> {
        Ok(NetworkPingPong {
            invocations: o.positive(
                "experiments.network-ping-pong.invocations",
                self.invocations,
                50,
            )?,
            repetitions: o.positive(
                "experiments.network-ping-pong.repetitions",
                self.repetitions,
                1000,
            )?,
            threads: o.positive("experiments.network-ping-pong.threads", self.threads, 1)?,
            client_address: self.client_address.clone(),
        })
    }
}

/// What invocation-overhead varies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OverheadKind {
    /// The event carries `size` bytes (base64 of zeros).
    #[default]
    Payload,
    /// The code package carries `size` bytes of random data.
    Code,
}

impl OverheadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OverheadKind::Payload => "payload",
            OverheadKind::Code => "code",
        }
    }
}

/// `experiments.invocation-overhead`. SeBS's example file spells the code sizes `code_begin`
/// and its code `code_package_begin`: both are accepted.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvocationOverheadSection {
    /// In SeBS's example file but unused by SeBS; accepted and unused here too.
    pub invocations: Option<u32>,
    /// In SeBS's example file but unused by SeBS; accepted and unused here too.
    pub threads: Option<u32>,
    /// Invocations per size and start type.
    pub repetitions: Option<u32>,
    /// Clock synchronization: round trips that must not beat the minimum before 030 stops.
    #[serde(rename = "N")]
    pub n: Option<u32>,
    #[serde(rename = "type")]
    pub kind: Option<OverheadKind>,
    pub payload_begin: Option<u64>,
    pub payload_end: Option<u64>,
    pub payload_points: Option<u32>,
    #[serde(alias = "code_package_begin")]
    pub code_begin: Option<u64>,
    #[serde(alias = "code_package_end")]
    pub code_end: Option<u64>,
    #[serde(alias = "code_package_points")]
    pub code_points: Option<u32>,
    /// sebs extension: the address functions send to [the client's own].
    #[serde(rename = "client-address")]
    pub client_address: Option<String>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct InvocationOverhead {
    pub kind: OverheadKind,
    pub repetitions: u32,
    pub n: u32,
    /// Bytes: evenly spaced from begin to end (numpy's `linspace`, truncated to integers).
    pub sizes: Vec<u64>,
    pub client_address: Option<String>,
}

impl InvocationOverheadSection {
    pub fn validate(&self, o: Origin) -> Result<InvocationOverhead, ConfigError> {
        let kind = self.kind.unwrap_or_default();
        let (begin, end, points, field) = match kind {
            OverheadKind::Payload => (
                self.payload_begin.unwrap_or(1024),
                self.payload_end.unwrap_or(6_251_000),
                self.payload_points.unwrap_or(20),
                "experiments.invocation-overhead.payload_points",
            ),
            OverheadKind::Code => (
                self.code_begin.unwrap_or(1_048_576),
                self.code_end.unwrap_or(261_619_712),
                self.code_points.unwrap_or(20),
                "experiments.invocation-overhead.code_points",
            ),
        };
        if points == 0 {
            return Err(o.invalid(field, "must be at least 1"));
        }
        if begin > end {
            return Err(o.invalid(
                field,
                format!("the sizes run from {begin} down to {end} bytes: expected begin <= end"),
            ));
        }
        Ok(InvocationOverhead {
            kind,
            repetitions: o.positive(
                "experiments.invocation-overhead.repetitions",
                self.repetitions,
                5,
            )?,
            n: o.positive("experiments.invocation-overhead.N", self.n, 20)?,
            sizes: linspace(begin, end, points),
            client_address: self.client_address.clone(),
        })
    }
}

/// `points` values evenly spaced from `begin` to `end` inclusive, truncated to integers as
/// SeBS's `int(numpy.linspace(...))` does.
pub fn linspace(begin: u64, end: u64, points: u32) -> Vec<u64> {
    if points == 1 {
        return vec![begin];
    }
    let step = (end - begin) as f64 / f64::from(points - 1);
    (0..points)
        .map(|i| {
            if i == points - 1 {
                end
            } else {
                (begin as f64 + step * f64::from(i)) as u64
            }
        })
        .collect()
}

/// SeBS's idle times for the eviction model, seconds.
pub const EVICTION_TIMES: [u64; 18] = [
    1, 2, 4, 8, 15, 30, 60, 120, 180, 240, 300, 360, 480, 600, 720, 900, 1080, 1200,
];

/// `experiments.eviction-model`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvictionModelSection {
    /// Invocations of every function copy at once (a barrier makes them overlap).
    pub invocations: Option<u32>,
    /// Which copy of each idle time to use.
    pub function_copy_idx: Option<u32>,
    pub repetitions: Option<u32>,
    /// Only part of the result file's name, as in SeBS.
    pub sleep: Option<u64>,
    /// First TCP port of the reply servers (one per idle time); 0 picks free ports.
    #[serde(rename = "client-port")]
    pub client_port: Option<u16>,
    /// sebs extension: the idle times, seconds [SeBS's list, 1 s to 1200 s].
    pub times: Option<Vec<u64>>,
    /// sebs extension: copies deployed per idle time [1].
    #[serde(rename = "function-copies-per-time")]
    pub function_copies_per_time: Option<u32>,
    /// sebs extension: the address functions connect to [the client's own].
    #[serde(rename = "client-address")]
    pub client_address: Option<String>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EvictionModel {
    pub invocations: u32,
    pub function_copy_idx: u32,
    pub repetitions: u32,
    pub sleep: u64,
    pub client_port: u16,
    pub times: Vec<u64>,
    pub copies_per_time: u32,
    pub client_address: Option<String>,
}

impl EvictionModelSection {
    pub fn validate(&self, o: Origin) -> Result<EvictionModel, ConfigError> {
        let copies_per_time = o.positive(
            "experiments.eviction-model.function-copies-per-time",
            self.function_copies_per_time,
            1,
        )?;
        let function_copy_idx = self.function_copy_idx.unwrap_or(0);
        if function_copy_idx >= copies_per_time {
            return Err(o.invalid(
                "experiments.eviction-model.function_copy_idx",
                format!("{function_copy_idx} is not a copy: expected 0..{copies_per_time}"),
            ));
        }
        let times = self
            .times
            .clone()
            .unwrap_or_else(|| EVICTION_TIMES.to_vec());
        if times.is_empty() || times.iter().any(|&t| t > 24 * 3600) {
            return Err(o.invalid(
                "experiments.eviction-model.times",
                "expected one or more idle times of at most a day (seconds)",
            ));
        }
        Ok(EvictionModel {
            invocations: o.positive(
                "experiments.eviction-model.invocations",
                self.invocations,
                1,
            )?,
            function_copy_idx,
            repetitions: o.positive(
                "experiments.eviction-model.repetitions",
                self.repetitions,
                5,
            )?,
            sleep: self.sleep.unwrap_or(1),
            client_port: self.client_port.unwrap_or(0),
            times,
            copies_per_time,
            client_address: self.client_address.clone(),
        })
    }
}
