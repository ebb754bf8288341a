//! Membership through etcd leases. Each worker registers itself under `sebs/members/<name>`
//! with its own lease, kept alive while it runs (`etcd::LeasedKey`); the coordinator watches
//! the prefix. A worker is a member while it is both registered under a live lease and
//! attached to this coordinator:
//!
//! - `join` (at attach) reads the worker's registration from etcd and refuses a worker that has
//!   none, or one whose region differs from its hello;
//! - the worker leaves when its stream ends (`leave`), or when its key is deleted because its
//!   lease expired (the process was killed or stopped, or it was cut off from etcd) or was
//!   revoked (it shut down), even while its stream still looks open;
//! - `renew` (on each clock sample) fails once the lease the worker joined with is gone, so
//!   the coordinator drops its link and the worker attaches again under its new lease.
//!
//! A lost watch is started again from a fresh read of the prefix; whatever changed meanwhile
//! becomes `Left` events.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{Client, EventType, GetOptions, WatchOptions};
use sebs_proto::fleet::WorkerHello;
use sebs_proto::WorkerId;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::etcd::{member_key, MEMBERS};
use super::membership::{Lease, Member, Membership, MembershipError, MembershipEvent};

/// What a worker writes under its key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub region: String,
    pub capacity: u32,
    pub deployments: Vec<String>,
    pub version: String,
}

impl Registration {
    /// What the worker that says `hello` registers.
    pub fn of(hello: &WorkerHello) -> Self {
        Registration {
            region: hello.region.to_string(),
            capacity: hello.capacity,
            deployments: hello
                .deployments
                .iter()
                .map(|d| d.as_str().to_string())
                .collect(),
            version: hello.version.clone(),
        }
    }
}

#[derive(Default)]
struct Table {
    /// Leases of the registrations in etcd, as last seen.
    registered: BTreeMap<WorkerId, i64>,
    /// Members: attached here, with the lease they joined under.
    attached: BTreeMap<WorkerId, (Member, i64)>,
}

pub struct EtcdMembership {
    client: Client,
    table: Mutex<Table>,
    events: broadcast::Sender<MembershipEvent>,
}

impl std::fmt::Debug for EtcdMembership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdMembership").finish_non_exhaustive()
    }
}

impl EtcdMembership {
    /// Reads the registrations and watches them from then on.
    pub fn start(client: Client) -> Arc<Self> {
        let membership = Arc::new(EtcdMembership {
            client: client.clone(),
            table: Mutex::new(Table::default()),
            events: broadcast::channel(1024).0,
        });
        tokio::spawn(watch_members(client, Arc::downgrade(&membership)));
        membership
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The registrations now are `leases`: members whose lease is gone leave.
    fn resync(&self, leases: BTreeMap<WorkerId, i64>) {
        let gone: Vec<WorkerId> = {
            let mut table = self.table();
            table.registered = leases;
            let registered = table.registered.clone();
            let gone: Vec<WorkerId> = table
                .attached
                .iter()
                .filter(|(w, (_, lease))| registered.get(*w) != Some(lease))
                .map(|(w, _)| w.clone())
                .collect();
            for w in &gone {
                table.attached.remove(w);
            }
            gone
        };
        for worker in gone {
            self.left(worker);
        }
    }

    /// `worker`'s key was deleted while it held `lease`.
    fn deleted(&self, worker: WorkerId, lease: i64) {
        let member = {
            let mut table = self.table();
            if table.registered.get(&worker) == Some(&lease) {
                table.registered.remove(&worker);
            }
            let joined_under = table.attached.get(&worker).map(|(_, l)| *l);
            // (A delete without the old value says nothing of its lease: it ends whatever is.)
            (joined_under.is_some() && (lease == 0 || joined_under == Some(lease)))
                .then(|| table.attached.remove(&worker))
                .flatten()
        };
        if member.is_some() {
            self.left(worker);
        }
    }

    fn left(&self, worker: WorkerId) {
        tracing::warn!(%worker, "worker left: its lease in etcd ended");
        let _ = self.events.send(MembershipEvent::Left {
            worker,
            reason: "its lease in etcd ended".to_string(),
        });
    }
}

#[async_trait]
impl Membership for EtcdMembership {
    async fn join(&self, member: Member) -> Result<Lease, MembershipError> {
        let key = member_key(&member.worker);
        let mut client = self.client.clone();
        let reply = client
            .get(key.as_str(), None)
            .await
            .map_err(|e| MembershipError::Store(format!("etcd: {e}")))?;
        let Some(kv) = reply.kvs().first() else {
            return Err(MembershipError::Store(format!(
                "worker {} has no lease in etcd ({key}); start it with the coordinator's --etcd",
                member.worker
            )));
        };
        let registration: Registration = serde_json::from_slice(kv.value())
            .map_err(|e| MembershipError::Store(format!("etcd {key}: {e}")))?;
        if registration.region != member.region.as_str() {
            return Err(MembershipError::Store(format!(
                "worker {} says region {} but registered region {} in etcd",
                member.worker, member.region, registration.region
            )));
        }
        let lease = kv.lease();
        {
            let mut table = self.table();
            if table.attached.contains_key(&member.worker) {
                return Err(MembershipError::Taken(member.worker));
            }
            table.registered.insert(member.worker.clone(), lease);
            table
                .attached
                .insert(member.worker.clone(), (member.clone(), lease));
        }
        let worker = member.worker.clone();
        let _ = self.events.send(MembershipEvent::Joined(member));
        Ok(Lease {
            worker,
            id: lease as u64,
        })
    }

    async fn renew(&self, lease: &Lease) -> Result<(), MembershipError> {
        let table = self.table();
        let joined = table.attached.get(&lease.worker).map(|(_, l)| *l as u64);
        let registered = table.registered.get(&lease.worker).map(|l| *l as u64);
        if joined == Some(lease.id) && registered == Some(lease.id) {
            Ok(())
        } else {
            Err(MembershipError::Store(format!(
                "the lease of {} in etcd has ended",
                lease.worker
            )))
        }
    }

    async fn leave(&self, lease: &Lease, reason: &str) {
        let removed = {
            let mut table = self.table();
            match table.attached.get(&lease.worker) {
                Some((_, id)) if *id as u64 == lease.id => {
                    table.attached.remove(&lease.worker).is_some()
                }
                _ => false,
            }
        };
        if removed {
            let _ = self.events.send(MembershipEvent::Left {
                worker: lease.worker.clone(),
                reason: reason.to_string(),
            });
        }
    }

    fn members(&self) -> Vec<Member> {
        self.table()
            .attached
            .values()
            .map(|(m, _)| m.clone())
            .collect()
    }

    fn subscribe(&self) -> broadcast::Receiver<MembershipEvent> {
        self.events.subscribe()
    }
}

/// The worker a member key names.
fn worker_of(key: &[u8]) -> Option<WorkerId> {
    let key = std::str::from_utf8(key).ok()?;
    WorkerId::new(key.strip_prefix(MEMBERS)?).ok()
}

/// Reads the prefix, then follows it; after any failure, reads it again and follows on.
async fn watch_members(mut client: Client, membership: Weak<EtcdMembership>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match follow(&mut client, &membership).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "lost the watch on {MEMBERS} in etcd; reading it again in {backoff:?}")
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// One read and watch of the prefix; `Ok` when the membership is gone.
async fn follow(
    client: &mut Client,
    membership: &Weak<EtcdMembership>,
) -> Result<(), etcd_client::Error> {
    let reply = client
        .get(MEMBERS, Some(GetOptions::new().with_prefix()))
        .await?;
    let revision = reply.header().map_or(0, |h| h.revision());
    let leases = reply
        .kvs()
        .iter()
        .filter_map(|kv| Some((worker_of(kv.key())?, kv.lease())))
        .collect();
    match membership.upgrade() {
        Some(m) => m.resync(leases),
        None => return Ok(()),
    }
    let options = WatchOptions::new()
        .with_prefix()
        .with_prev_key()
        .with_start_revision(revision + 1);
    let mut stream = client.watch(MEMBERS, Some(options)).await?;
    while let Some(reply) = stream.message().await? {
        let Some(m) = membership.upgrade() else {
            return Ok(());
        };
        if reply.canceled() {
            return Err(etcd_client::Error::WatchError(format!(
                "the watch was cancelled: {}",
                reply.cancel_reason()
            )));
        }
        for event in reply.events() {
            let Some(kv) = event.kv() else { continue };
            let Some(worker) = worker_of(kv.key()) else {
                continue;
            };
            match event.event_type() {
                EventType::Put => {
                    m.table().registered.insert(worker, kv.lease());
                }
                EventType::Delete => {
                    let lease = event.prev_kv().map_or(0, |p| p.lease());
                    m.deleted(worker, lease);
                }
            }
        }
    }
    Err(etcd_client::Error::WatchError("the watch ended".into()))
}
