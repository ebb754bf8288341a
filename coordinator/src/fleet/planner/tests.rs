//! Post-conditions of the planner on random loads, placements and fleets (README.md's objective).

use std::time::Duration;

use proptest::prelude::*;
use sebs_worker::engine::schedule::{share_schedule, task_schedule, Arrival, RateProfile};

use super::*;

fn fleet(spec: &[(u8, u32)]) -> Vec<WorkerSlot> {
    spec.iter()
        .enumerate()
        .map(|(i, &(region, capacity))| WorkerSlot {
            worker: WorkerId::new(format!("w{i}")).unwrap(),
            region: Region::new(format!("r{region}")).unwrap(),
            capacity,
        })
        .collect()
}

fn regions(workers: &[WorkerSlot]) -> Vec<Region> {
    let mut r: Vec<Region> = workers.iter().map(|w| w.region.clone()).collect();
    r.sort();
    r.dedup();
    r
}

/// Random placements over the fleet's regions (or none: anywhere).
fn placement_for(workers: &[WorkerSlot], weights: &[u8]) -> Placement {
    let chosen: Vec<(Region, f64)> = regions(workers)
        .into_iter()
        .zip(weights)
        .filter(|(_, &w)| w > 0)
        .map(|(r, &w)| (r, f64::from(w)))
        .collect();
    Placement::new(chosen).unwrap()
}

fn closed_invocations(p: &Plan) -> u64 {
    p.shards
        .iter()
        .map(|s| match s.work {
            ShardWork::Closed { invocations, .. } => invocations,
            ShardWork::Open { .. } => 0,
        })
        .sum()
}

/// Each worker's exact fraction, as the planner should aim for.
fn expected_fractions(placement: &Placement, workers: &[WorkerSlot]) -> Vec<f64> {
    fractions(placement, workers).unwrap()
}

fn fleet_strategy() -> impl Strategy<Value = Vec<(u8, u32)>> {
    proptest::collection::vec((0u8..3, 1u32..64), 1..7)
}

proptest! {
    #[test]
    fn closed_plans_send_exactly_the_invocations_within_capacity(
        spec in fleet_strategy(),
        weights in proptest::collection::vec(0u8..4, 3),
        invocations in 1u64..5000,
        concurrency in 1u32..64,
        batches in any::<bool>(),
    ) {
        let workers = fleet(&spec);
        let placement = placement_for(&workers, &weights);
        let load = Load::Closed(ClosedLoad { invocations, concurrency, batches });
        let plan = match plan(&load, &placement, &workers) {
            Ok(p) => p,
            Err(PlanError::OverCapacity { asked, capacity, .. }) => {
                prop_assert!(asked > capacity);
                return Ok(());
            }
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        };
        prop_assert_eq!(closed_invocations(&plan), invocations);
        let c = u64::from(concurrency).min(invocations);
        for wave in 0..plan.waves {
            let in_wave: Vec<&PlannedShard> = plan.shards.iter().filter(|s| s.wave == wave).collect();
            let tasks: u64 = in_wave.iter().map(|s| u64::from(s.work.tasks())).sum();
            prop_assert!(tasks <= c, "wave {} runs {} tasks, more than the concurrency {}", wave, tasks, c);
            for w in &workers {
                let on: u64 = in_wave.iter().filter(|s| s.worker == w.worker).map(|s| u64::from(s.work.tasks())).sum();
                prop_assert!(on <= u64::from(w.capacity), "{} over its capacity", w.worker);
            }
            if batches {
                let sent: u64 = in_wave.iter().map(|s| s.work.planned() as u64).sum();
                prop_assert_eq!(sent, c.min(invocations - u64::from(wave) * c), "wave {} size", wave);
            }
        }
        let f = expected_fractions(&placement, &workers);
        for s in &plan.shards {
            let i = workers.iter().position(|w| w.worker == s.worker).unwrap();
            prop_assert!(f[i] > 0.0, "{} is outside the placement", s.worker);
        }
    }

    #[test]
    fn uncapped_closed_plans_follow_the_weights(
        spec in proptest::collection::vec((0u8..3, 1u32..4), 1..6),
        weights in proptest::collection::vec(1u8..4, 3),
        invocations in 100u64..5000,
        concurrency in 1u32..40,
    ) {
        // Capacities scaled so that none binds; the split then follows the fractions.
        let spec: Vec<(u8, u32)> = spec.iter().map(|&(r, c)| (r, c * 1000)).collect();
        let workers = fleet(&spec);
        let placement = placement_for(&workers, &weights);
        let load = Load::Closed(ClosedLoad { invocations, concurrency, batches: false });
        let plan = plan(&load, &placement, &workers).unwrap();
        let f = expected_fractions(&placement, &workers);
        let c = u64::from(concurrency).min(invocations) as f64;
        for (i, w) in workers.iter().enumerate() {
            let tasks: u64 = plan.shards.iter().filter(|s| s.worker == w.worker).map(|s| u64::from(s.work.tasks())).sum();
            prop_assert!((tasks as f64 - c * f[i]).abs() < 1.0 + 1e-9, "{}: {} tasks for a quota of {}", w.worker, tasks, c * f[i]);
        }
    }

    #[test]
    fn open_plans_partition_the_arrivals_by_weight(
        spec in fleet_strategy(),
        weights in proptest::collection::vec(0u8..4, 3),
        tasks in 1u32..32,
    ) {
        let workers = fleet(&spec);
        let placement = placement_for(&workers, &weights);
        let load = Load::Open(OpenLoad {
            profile: RateProfile::constant(100.0, Duration::from_secs(10)).unwrap(),
            arrival: Arrival::Constant,
            max_count: None,
            tasks,
        });
        let plan = match plan(&load, &placement, &workers) {
            Ok(p) => p,
            Err(PlanError::OverCapacity { .. }) => return Ok(()),
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        };
        let f = expected_fractions(&placement, &workers);
        let mut owner = vec![None; PERIOD as usize];
        for s in &plan.shards {
            let ShardWork::Open { share, tasks, .. } = &s.work else { unreachable!() };
            prop_assert!(*tasks >= 1);
            let i = workers.iter().position(|w| w.worker == s.worker).unwrap();
            let owned: Vec<u32> = if share.is_whole() { (0..PERIOD).collect() } else { share.residues().to_vec() };
            prop_assert!((owned.len() as f64 - f64::from(PERIOD) * f[i]).abs() < 1.0 + 1e-6);
            for r in owned {
                prop_assert!(owner[r as usize].is_none(), "residue {} given twice", r);
                owner[r as usize] = Some(i);
            }
        }
        prop_assert!(owner.iter().all(Option::is_some), "every arrival has a worker");
        // Evenness: at every prefix of the residues each worker is within 2 of its share.
        let mut count = vec![0f64; workers.len()];
        for (n, o) in owner.iter().enumerate() {
            count[o.unwrap()] += 1.0;
            for (i, &c) in count.iter().enumerate() {
                let exact = (n + 1) as f64 * f[i];
                prop_assert!((c - exact).abs() < 2.0, "worker {} has {} of {} at residue {}", i, c, exact, n);
            }
        }
    }

    #[test]
    fn the_shards_union_is_the_global_schedule(
        spec in proptest::collection::vec((0u8..3, 6u32..12), 1..5),
        rate in 50.0f64..400.0,
        tasks in 1u32..6,
        cap in proptest::option::of(10u64..300),
    ) {
        let workers = fleet(&spec);
        let profile = RateProfile::ramp(rate / 4.0, rate, Duration::from_secs(2)).unwrap();
        let load = Load::Open(OpenLoad { profile: profile.clone(), arrival: Arrival::Constant, max_count: cap, tasks });
        let plan = plan(&load, &Placement::anywhere(), &workers).unwrap();
        let mut fleet_times = Vec::new();
        for s in &plan.shards {
            let ShardWork::Open { share, tasks, .. } = &s.work else { unreachable!() };
            let t = *tasks as usize;
            for k in 0..t {
                fleet_times.extend(share_schedule(&profile, Arrival::Constant, share, k, t, cap));
            }
        }
        fleet_times.sort();
        let alone: Vec<Duration> = task_schedule(&profile, Arrival::Constant, 0, 1, cap).collect();
        prop_assert_eq!(fleet_times, alone);
    }

    #[test]
    fn plans_do_not_depend_on_the_order_workers_come_in(
        spec in fleet_strategy(),
        invocations in 1u64..500,
        seed in any::<u64>(),
    ) {
        let workers = fleet(&spec);
        let mut shuffled = workers.clone();
        // A deterministic shuffle from the seed.
        let n = shuffled.len();
        for i in 0..n {
            let j = ((seed.rotate_left(i as u32 * 7) ^ i as u64) % n as u64) as usize;
            shuffled.swap(i, j);
        }
        let load = Load::Closed(ClosedLoad { invocations, concurrency: 8, batches: false });
        let a = plan(&load, &Placement::anywhere(), &workers);
        let b = plan(&load, &Placement::anywhere(), &shuffled);
        prop_assert_eq!(a, b);
    }
}

#[test]
fn a_region_without_workers_is_named() {
    let workers = fleet(&[(0, 4)]);
    let placement = Placement::parse("r0=1,r9=2").unwrap();
    let load = Load::Closed(ClosedLoad {
        invocations: 10,
        concurrency: 2,
        batches: false,
    });
    let e = plan(&load, &placement, &workers).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no worker is attached in region(s) r9; attached regions: r0"
    );
    assert_eq!(
        plan(&load, &Placement::anywhere(), &[]),
        Err(PlanError::NoWorkers)
    );
}

#[test]
fn concurrency_one_stays_sequential_on_one_worker() {
    let workers = fleet(&[(0, 4), (1, 4)]);
    let load = Load::Closed(ClosedLoad {
        invocations: 5,
        concurrency: 1,
        batches: false,
    });
    let p = plan(&load, &Placement::anywhere(), &workers).unwrap();
    assert_eq!(p.shards.len(), 1);
    assert_eq!(
        p.shards[0].work,
        ShardWork::Closed {
            invocations: 5,
            tasks: 1
        }
    );
}

#[test]
fn batches_become_waves() {
    let workers = fleet(&[(0, 8), (1, 8)]);
    let load = Load::Closed(ClosedLoad {
        invocations: 10,
        concurrency: 4,
        batches: true,
    });
    let p = plan(&load, &Placement::anywhere(), &workers).unwrap();
    assert_eq!(p.waves, 3);
    let sizes: Vec<(u32, u64)> = p
        .shards
        .iter()
        .map(|s| (s.wave, s.work.planned() as u64))
        .collect();
    assert_eq!(sizes, [(0, 2), (0, 2), (1, 2), (1, 2), (2, 1), (2, 1)]);
}

#[test]
fn reassignment_prefers_the_region_then_spare_capacity() {
    let workers = fleet(&[(0, 4), (0, 8), (1, 100)]);
    let busy = |w: &WorkerId| if w.as_str() == "w1" { 6 } else { 0 };
    let r0 = Region::new("r0").unwrap();
    let picked = reassign(&r0, &workers, busy, &[]).unwrap();
    assert_eq!(
        picked.worker.as_str(),
        "w0",
        "4 spare beats 2 spare in the same region"
    );
    let only_other = reassign(
        &r0,
        &workers,
        busy,
        &[workers[0].worker.clone(), workers[1].worker.clone()],
    )
    .unwrap();
    assert_eq!(
        only_other.worker.as_str(),
        "w2",
        "another region when the region has none left"
    );
    assert!(reassign(&r0, &workers[..1], busy, &[workers[0].worker.clone()]).is_none());
}
