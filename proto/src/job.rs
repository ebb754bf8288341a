//! The job model: what every experiment hands the fleet, and the shards it runs as.
//!
//! A [`JobSpec`] is one function (its [`TriggerSpec`]), one payload, one [`Load`], whether
//! whole replies are kept, and a [`Placement`] over regions. The coordinator's planner splits
//! it into shards, one [`ShardWork`] per worker (per wave, for batches); each shard's
//! invocations are numbered, and a result counts once per (shard, sequence number).

use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use sebs_platform::TriggerSpec;
use sebs_worker::engine::runner::Load as EngineLoad;
use sebs_worker::engine::schedule::{Arrival, RateProfile};
use sebs_worker::engine::share::Share;

use crate::ids::{IdError, Region};

/// One function invoked under one load from a placement.
#[derive(Clone, Debug)]
pub struct JobSpec {
    /// The name results are filed under (experiments.json's function key).
    pub function: String,
    pub trigger: TriggerSpec,
    /// The JSON event sent with every invocation.
    pub payload: Bytes,
    pub load: Load,
    /// Keep every whole reply (SeBS's experiments.json holds each one); else only records.
    pub keep_outputs: bool,
    pub placement: Placement,
}

/// How hard to invoke.
#[derive(Clone, Debug, PartialEq)]
pub enum Load {
    Closed(ClosedLoad),
    Open(OpenLoad),
}

/// A fixed number of invocations with at most `concurrency` in flight (over the whole fleet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClosedLoad {
    pub invocations: u64,
    pub concurrency: u32,
    /// Send in lockstep batches of `concurrency`, forcing a cold start before each.
    pub batches: bool,
}

/// Requests at the times a rate profile intends.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenLoad {
    pub profile: RateProfile,
    pub arrival: Arrival,
    /// Caps the total number of requests.
    pub max_count: Option<u64>,
    /// The most requests in flight at once, over the whole fleet.
    pub tasks: u32,
}

impl OpenLoad {
    /// Requests the schedule intends in total.
    pub fn intended(&self) -> f64 {
        let expected = self.profile.expected_count();
        self.max_count
            .map_or(expected, |cap| expected.min(cap as f64))
    }
}

impl Load {
    /// Invocations the load intends in total (expected, for Poisson arrivals).
    pub fn planned(&self) -> f64 {
        match self {
            Load::Closed(c) => c.invocations as f64,
            Load::Open(o) => o.intended(),
        }
    }
}

/// Which regions fire the invocations, with relative weights. Empty: every attached worker,
/// weighted by its capacity.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Placement {
    regions: Vec<(Region, f64)>,
}

impl Placement {
    /// Regions with positive, finite weights, each named once.
    pub fn new(regions: Vec<(Region, f64)>) -> Result<Self, PlacementError> {
        for (i, (region, weight)) in regions.iter().enumerate() {
            if !(weight.is_finite() && *weight > 0.0) {
                return Err(PlacementError::Weight(region.clone(), weight.to_string()));
            }
            if regions[..i].iter().any(|(r, _)| r == region) {
                return Err(PlacementError::Twice(region.clone()));
            }
        }
        Ok(Placement { regions })
    }

    /// Every attached worker, by capacity.
    pub fn anywhere() -> Self {
        Placement::default()
    }

    /// `REGION[=WEIGHT],...`, e.g. `us-east-1=2,eu-west-1` (a missing weight is 1).
    pub fn parse(text: &str) -> Result<Self, PlacementError> {
        let mut regions = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = match part.split_once('=') {
                Some((name, weight)) => {
                    let w = weight
                        .trim()
                        .parse::<f64>()
                        .map_err(|_| PlacementError::Syntax(part.to_string()))?;
                    (name.trim(), w)
                }
                None => (part, 1.0),
            };
            regions.push((Region::new(name)?, weight));
        }
        if regions.is_empty() {
            return Err(PlacementError::Syntax(text.to_string()));
        }
        Placement::new(regions)
    }

    pub fn regions(&self) -> &[(Region, f64)] {
        &self.regions
    }

    pub fn is_anywhere(&self) -> bool {
        self.regions.is_empty()
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.regions.is_empty() {
            return f.write_str("every worker, by capacity");
        }
        for (i, (region, weight)) in self.regions.iter().enumerate() {
            write!(f, "{}{region}={weight}", if i > 0 { "," } else { "" })?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PlacementError {
    #[error("placement `{0}`: expected REGION[=WEIGHT],..., e.g. us-east-1=2,eu-west-1")]
    Syntax(String),
    #[error("placement: region {0} has weight {1}; expected a positive number")]
    Weight(Region, String),
    #[error("placement: region {0} is named twice")]
    Twice(Region),
    #[error("placement: {0}")]
    Region(#[from] IdError),
}

/// What one shard of a job sends.
#[derive(Clone, Debug, PartialEq)]
pub enum ShardWork {
    /// Invocations 0..invocations with `tasks` in flight.
    Closed { invocations: u64, tasks: u32 },
    /// The `share` of an open load's arrivals with `tasks` in flight; `max_count` is the job's
    /// global cap.
    Open {
        profile: RateProfile,
        arrival: Arrival,
        max_count: Option<u64>,
        share: Share,
        tasks: u32,
    },
}

impl ShardWork {
    pub fn tasks(&self) -> u32 {
        match self {
            ShardWork::Closed { tasks, .. } | ShardWork::Open { tasks, .. } => *tasks,
        }
    }

    /// Invocations the shard is meant to send (expected, for open loads).
    pub fn planned(&self) -> f64 {
        match self {
            ShardWork::Closed { invocations, .. } => *invocations as f64,
            ShardWork::Open {
                profile,
                max_count,
                share,
                ..
            } => {
                let expected = profile.expected_count() * share.fraction();
                max_count.map_or(expected, |cap| expected.min(share.owned_below(cap) as f64))
            }
        }
    }

    /// The sequence numbers a closed shard sends, all known in advance; `None` for open shards,
    /// whose count the schedule decides.
    pub fn sequences(&self) -> Option<Range<u64>> {
        match self {
            ShardWork::Closed { invocations, .. } => Some(0..*invocations),
            ShardWork::Open { .. } => None,
        }
    }

    /// The engine's load for this shard.
    pub fn engine_load(&self) -> EngineLoad {
        match self {
            ShardWork::Closed { invocations, .. } => EngineLoad::Closed {
                invocations: *invocations,
            },
            ShardWork::Open {
                profile,
                arrival,
                max_count,
                share,
                ..
            } => EngineLoad::Open {
                profile: profile.clone(),
                arrival: *arrival,
                max_count: *max_count,
                share: share.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements_parse_and_name_bad_parts() {
        let p = Placement::parse("us-east-1=2, eu-west-1").unwrap();
        assert_eq!(p.regions().len(), 2);
        assert_eq!(p.regions()[1].1, 1.0);
        assert_eq!(p.to_string(), "us-east-1=2,eu-west-1=1");
        assert!(Placement::parse("a=0")
            .unwrap_err()
            .to_string()
            .contains("positive"));
        assert!(Placement::parse("a,a")
            .unwrap_err()
            .to_string()
            .contains("twice"));
        assert!(Placement::parse("a=x")
            .unwrap_err()
            .to_string()
            .contains("a=x"));
        assert!(Placement::parse("Bad")
            .unwrap_err()
            .to_string()
            .contains("Bad"));
        assert!(Placement::parse("").is_err());
    }
}
