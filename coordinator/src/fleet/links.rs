//! The coordinator's links to its workers, and what a link that breaks leaves behind.
//!
//! A worker's stream can break while the worker lives on (a network partition): its membership,
//! and so its shards, are then kept for the grace period (`reassign_after`) with the link
//! *detached*. The same worker process (same name and session) attaching again within it takes
//! its link back and goes on delivering its shards' reports; nobody else hears of it. Once the
//! grace is over the link is dropped and the worker leaves the fleet, so its shards go to others.
//! While detached, a worker gets no new shards (runs plan only over linked workers), and stop
//! orders for it are held until it is back.

use std::collections::HashMap;
use std::sync::Mutex;

use sebs_proto::fleet::{ToWorker, WorkerHello};
use sebs_proto::{FleetError, WorkerId};
use tokio::sync::mpsc;

use super::coordinator::lock;
use super::membership::Lease;

/// Stop orders held for one detached worker, at most: fewer than a stream's queue holds, so that
/// they are all queued on its new stream before anyone reads it.
const HELD: usize = 128;

struct Link {
    lease: Lease,
    session: u64,
    /// Counts the streams this link has had, so that a stream's end acts on its own only.
    generation: u64,
    /// `None` while detached.
    to_worker: Option<mpsc::Sender<ToWorker>>,
    held: Vec<ToWorker>,
}

/// What an attaching worker is to the fleet.
pub(super) enum Claim {
    /// A worker that is not in the fleet: it joins (`Links::joined` once it has its lease).
    New,
    /// A worker whose stream broke came back: its lease and its held stop orders.
    Resumed {
        lease: Lease,
        generation: u64,
        held: Vec<ToWorker>,
    },
    /// A new process under the name of a detached worker (it restarted): the old one's lease
    /// must end before the new one joins.
    Replaces(Lease),
}

#[derive(Default)]
pub(super) struct Links {
    map: Mutex<HashMap<WorkerId, Link>>,
}

impl Links {
    /// Decides what `hello` is; a worker whose name is taken by a linked worker is refused.
    pub(super) fn claim(
        &self,
        hello: &WorkerHello,
        to_worker: &mpsc::Sender<ToWorker>,
    ) -> Result<Claim, FleetError> {
        let mut map = lock(&self.map);
        let claim = match map.get_mut(&hello.worker) {
            // The same process opens a new stream only once it lost the old one, even if this
            // side has not noticed yet (a silent partition): the new stream takes over.
            Some(link) if link.session == hello.session && link.lease.id != 0 => {
                link.generation += 1;
                link.to_worker = Some(to_worker.clone());
                return Ok(Claim::Resumed {
                    lease: link.lease.clone(),
                    generation: link.generation,
                    held: std::mem::take(&mut link.held),
                });
            }
            Some(link) if link.to_worker.is_none() => Claim::Replaces(link.lease.clone()),
            Some(_) => {
                return Err(FleetError::InvalidArgument(format!(
                    "a worker named {} is already attached; give each worker its own --name",
                    hello.worker
                )))
            }
            None => Claim::New,
        };
        // Linked before it is a member, so that a run that hears of it can reach it.
        map.insert(
            hello.worker.clone(),
            Link {
                lease: Lease {
                    worker: hello.worker.clone(),
                    id: 0,
                },
                session: hello.session,
                generation: 0,
                to_worker: Some(to_worker.clone()),
                held: Vec::new(),
            },
        );
        Ok(claim)
    }

    /// The worker claimed with `New` or `Replaces` joined with `lease`.
    pub(super) fn joined(&self, worker: &WorkerId, lease: Lease) {
        if let Some(link) = lock(&self.map).get_mut(worker) {
            link.lease = lease;
        }
    }

    /// The worker could not join: forget it.
    pub(super) fn abandon(&self, worker: &WorkerId) {
        lock(&self.map).remove(worker);
    }

    /// Whether `worker` has a live stream (detached workers get no new shards).
    pub(super) fn is_linked(&self, worker: &WorkerId) -> bool {
        lock(&self.map)
            .get(worker)
            .is_some_and(|l| l.to_worker.is_some())
    }

    /// Sends `message` to `worker`. While it is detached a stop order is held for it (and
    /// counts as sent); anything else is not sent. False: not sent.
    pub(super) async fn send(&self, worker: &WorkerId, message: ToWorker) -> bool {
        let sender = {
            let mut map = lock(&self.map);
            let Some(link) = map.get_mut(worker) else {
                return false;
            };
            match &link.to_worker {
                Some(to_worker) => to_worker.clone(),
                None if matches!(message, ToWorker::Stop(_)) && link.held.len() < HELD => {
                    link.held.push(message);
                    return true;
                }
                None => return false,
            }
        };
        sender.send(message).await.is_ok()
    }

    /// The stream of `generation` ended: the link is detached, if it still is that stream's.
    pub(super) fn detach(&self, worker: &WorkerId, lease: &Lease, generation: u64) -> bool {
        let mut map = lock(&self.map);
        match map.get_mut(worker) {
            Some(link) if link.lease == *lease && link.generation == generation => {
                link.to_worker = None;
                true
            }
            _ => false,
        }
    }

    /// Drops the link of `lease` if it is still the stream of `generation` (`detached`: or
    /// that stream's detached remains). True: it was dropped, and the lease should end.
    pub(super) fn drop_link(
        &self,
        worker: &WorkerId,
        lease: &Lease,
        generation: u64,
        detached: bool,
    ) -> bool {
        let mut map = lock(&self.map);
        let current = map.get(worker).is_some_and(|l| {
            l.lease == *lease && l.generation == generation && l.to_worker.is_none() == detached
        });
        if current {
            map.remove(worker);
        }
        current
    }
}
