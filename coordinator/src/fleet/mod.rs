//! The fleet: one experiment driven by a coordinator across many workers, results merged as
//! they arrive; by default all of it in this process.
//!
//! - [`coordinator`]: `Coordinator`, which implements both services of `sebs-proto` (workers
//!   attach, clients submit and watch), and [`run`], the driver of one run;
//! - [`planner`]: from a load, a placement and workers to shards (pure);
//! - [`ledger`]: counting each invocation once, and the merged histograms (pure);
//! - [`membership`], [`state`]: who is in the fleet and the runs' state, as traits with
//!   in-memory implementations; [`etcd`], [`membership_etcd`], [`state_etcd`]: the same in
//!   etcd (`--etcd`), and [`resume`]: a restarted coordinator taking up its runs;
//! - [`clock`]: workers' clock offsets from round trips (pure);
//! - [`worker`]: the worker agent, which runs shards through the invocation engine, and
//!   [`spool`], where its messages wait while it cannot reach the coordinator; [`links`], the
//!   coordinator's side of a broken stream (the grace period);
//! - [`hooks`], [`prepare`]: what a run needs from its job's owner, and the benchmark preparer
//!   that deploys on the coordinator;
//! - [`local`], [`client`], [`commands`], [`cli`]: the in-process fleet, `benchmark invoke`'s
//!   client side, `sebs coordinator` and `sebs worker`;
//! - [`merge_bench`]: `sebs merge-bench`, the coordinator's merge throughput.
//! - [`shutdown`]: the order in which `sebs coordinator` stops.

pub mod cli;
pub mod client;
pub mod clock;
pub mod commands;
pub mod coordinator;
pub mod hooks;
pub mod ledger;
mod links;
pub mod local;
pub mod membership;
pub mod merge_bench;
pub mod planner;
pub mod prepare;
mod resume;
mod run;
pub mod shutdown;
pub mod spool;
pub mod state;
// etcd: membership through leases, run state that survives the coordinator.
pub mod etcd;
#[cfg(test)]
mod etcd_tests;
pub mod membership_etcd;
pub mod state_etcd;
#[cfg(test)]
mod tests;
pub mod worker;
