//! The shard planner: from a job's load and placement and the attached workers to shards.
//! Its objective and method are in README.md beside this file.
//!
//! **The planner does no I/O**: plain functions over plain data, tested by properties.

mod apportion;
#[cfg(test)]
mod tests;

use sebs_proto::job::{ClosedLoad, Load, OpenLoad, Placement, ShardWork};
use sebs_proto::{Region, ShardId, WorkerId};
use sebs_worker::engine::share::Share;

use self::apportion::{apportion, apportion_capped, interleave};

/// Residues the global arrival numbers are dealt out by: lcm(1..10), so that up to ten equal
/// workers split the schedule exactly.
pub const PERIOD: u32 = 2520;

/// A worker as the planner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerSlot {
    pub worker: WorkerId,
    pub region: Region,
    /// The most invocations it may have in flight.
    pub capacity: u32,
}

/// One shard of the plan.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedShard {
    pub shard: ShardId,
    pub worker: WorkerId,
    pub region: Region,
    /// Batches run wave after wave; everything else is wave 0.
    pub wave: u32,
    pub work: ShardWork,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub shards: Vec<PlannedShard>,
    pub waves: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("no worker is attached that can invoke this function")]
    NoWorkers,
    #[error("no worker is attached in region(s) {missing}; attached regions: {attached}")]
    MissingRegions { missing: String, attached: String },
    #[error("{what} {asked} exceeds the capacity of the workers placed ({capacity}); lower it, or attach more workers")]
    OverCapacity {
        what: &'static str,
        asked: u64,
        capacity: u64,
    },
    #[error("the load sends nothing: expected at least one invocation")]
    Nothing,
}

/// Splits `load` over `workers` per `placement` (see README.md). Workers are taken in
/// (region, id) order, whatever order they come in.
pub fn plan(load: &Load, placement: &Placement, workers: &[WorkerSlot]) -> Result<Plan, PlanError> {
    let mut workers = workers.to_vec();
    workers.sort_by(|a, b| (&a.region, &a.worker).cmp(&(&b.region, &b.worker)));
    let fractions = fractions(placement, &workers)?;
    let caps: Vec<u64> = workers.iter().map(|w| u64::from(w.capacity)).collect();
    let mut shards = Vec::new();
    let mut push = |i: usize, wave: u32, work: ShardWork| {
        let w: &WorkerSlot = &workers[i];
        shards.push(PlannedShard {
            shard: ShardId(shards.len() as u32),
            worker: w.worker.clone(),
            region: w.region.clone(),
            wave,
            work,
        });
    };
    let waves = match load {
        Load::Closed(closed) => plan_closed(closed, &fractions, &caps, &mut push)?,
        Load::Open(open) => {
            plan_open(open, &fractions, &caps, &mut push)?;
            1
        }
    };
    Ok(Plan { shards, waves })
}

/// Each worker's fraction of the load: its region's weight share times its capacity share in
/// the region; 0 for workers outside the placement.
fn fractions(placement: &Placement, workers: &[WorkerSlot]) -> Result<Vec<f64>, PlanError> {
    if workers.is_empty() {
        return Err(PlanError::NoWorkers);
    }
    let capacity_in = |region: &Region| -> f64 {
        workers
            .iter()
            .filter(|w| &w.region == region)
            .map(|w| f64::from(w.capacity))
            .sum()
    };
    if placement.is_anywhere() {
        let total: f64 = workers.iter().map(|w| f64::from(w.capacity)).sum();
        if total <= 0.0 {
            return Err(PlanError::NoWorkers);
        }
        return Ok(workers
            .iter()
            .map(|w| f64::from(w.capacity) / total)
            .collect());
    }
    let missing: Vec<String> = placement
        .regions()
        .iter()
        .filter(|(r, _)| capacity_in(r) <= 0.0)
        .map(|(r, _)| r.to_string())
        .collect();
    if !missing.is_empty() {
        let mut attached: Vec<String> = workers.iter().map(|w| w.region.to_string()).collect();
        attached.dedup();
        return Err(PlanError::MissingRegions {
            missing: missing.join(", "),
            attached: if attached.is_empty() {
                "none".into()
            } else {
                attached.join(", ")
            },
        });
    }
    let total_weight: f64 = placement.regions().iter().map(|(_, w)| w).sum();
    Ok(workers
        .iter()
        .map(|w| {
            placement
                .regions()
                .iter()
                .find(|(r, _)| r == &w.region)
                .map_or(0.0, |(r, weight)| {
                    weight / total_weight * f64::from(w.capacity) / capacity_in(r)
                })
        })
        .collect())
}

fn over_capacity(what: &'static str, asked: u64, fractions: &[f64], caps: &[u64]) -> PlanError {
    let capacity = caps
        .iter()
        .zip(fractions)
        .filter(|(_, f)| **f > 0.0)
        .map(|(c, _)| *c)
        .sum();
    PlanError::OverCapacity {
        what,
        asked,
        capacity,
    }
}

/// Closed loads: concurrency first, invocations by concurrency; batches as waves.
fn plan_closed(
    load: &ClosedLoad,
    fractions: &[f64],
    caps: &[u64],
    push: &mut impl FnMut(usize, u32, ShardWork),
) -> Result<u32, PlanError> {
    let n = load.invocations;
    if n == 0 {
        return Err(PlanError::Nothing);
    }
    let concurrency = u64::from(load.concurrency.max(1)).min(n);
    let tasks = apportion_capped(concurrency, fractions, caps)
        .ok_or_else(|| over_capacity("concurrency", concurrency, fractions, caps))?;
    let by_tasks: Vec<f64> = tasks.iter().map(|&t| t as f64).collect();
    if !load.batches {
        for (i, invocations) in apportion(n, &by_tasks).into_iter().enumerate() {
            if invocations > 0 {
                let tasks = tasks[i].min(invocations) as u32;
                push(i, 0, ShardWork::Closed { invocations, tasks });
            }
        }
        return Ok(1);
    }
    let waves = n.div_ceil(concurrency);
    for wave in 0..waves {
        let size = concurrency.min(n - wave * concurrency);
        for (i, invocations) in apportion(size, &by_tasks).into_iter().enumerate() {
            if invocations > 0 {
                let work = ShardWork::Closed {
                    invocations,
                    tasks: invocations as u32,
                };
                push(i, wave as u32, work);
            }
        }
    }
    Ok(waves as u32)
}

/// Open loads: residues of the global arrivals by fraction, interleaved; tasks like the rate.
fn plan_open(
    load: &OpenLoad,
    fractions: &[f64],
    caps: &[u64],
    push: &mut impl FnMut(usize, u32, ShardWork),
) -> Result<(), PlanError> {
    if load.intended() < 1.0 {
        return Err(PlanError::Nothing);
    }
    let counts = apportion(u64::from(PERIOD), fractions);
    let owners = interleave(&counts);
    let active: Vec<f64> = counts
        .iter()
        .zip(fractions)
        .map(|(&c, &f)| if c > 0 { f } else { 0.0 })
        .collect();
    let wanted = u64::from(load.tasks.max(1));
    let tasks = apportion_capped(wanted, &active, caps)
        .ok_or_else(|| over_capacity("tasks", wanted, &active, caps))?;
    let mut stream = 0;
    for (i, &count) in counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let share = if count == u64::from(PERIOD) {
            Share::whole()
        } else {
            let residues = (0..PERIOD).filter(|&n| owners[n as usize] == i).collect();
            // Residues are increasing, below PERIOD and not empty: the share is valid.
            Share::new(PERIOD, residues, stream).unwrap_or_default()
        };
        stream += 1;
        push(
            i,
            0,
            ShardWork::Open {
                profile: load.profile.clone(),
                arrival: load.arrival,
                max_count: load.max_count,
                share,
                tasks: tasks[i].clamp(1, caps[i].max(1)) as u32,
            },
        );
    }
    Ok(())
}

/// Where a shard of `region` goes when its worker is gone: a worker of the same region if one
/// is left, else any; the one with the most spare capacity (`busy` says how many tasks each
/// already runs), then the lowest id. `exclude` lists workers the shard already failed on.
pub fn reassign<'a>(
    region: &Region,
    workers: &'a [WorkerSlot],
    busy: impl Fn(&WorkerId) -> u64,
    exclude: &[WorkerId],
) -> Option<&'a WorkerSlot> {
    let spare = |w: &WorkerSlot| u64::from(w.capacity).saturating_sub(busy(&w.worker));
    workers
        .iter()
        .filter(|w| !exclude.contains(&w.worker))
        .min_by(|a, b| {
            (&a.region != region)
                .cmp(&(&b.region != region))
                .then(spare(b).cmp(&spare(a)))
                .then(a.worker.cmp(&b.worker))
        })
}
