//! Who is in the fleet. Workers join with a lease and leave when their stream ends (or, with a
//! lease store such as etcd, when their lease expires); runs learn of both from `subscribe`.
//!
//! **Nothing outside `membership` decides who is a member**: the coordinator joins a worker when
//! it attaches and leaves it when its link ends, and reacts only to the events it gets back, so
//! that a store whose leases expire on their own (etcd) slots in behind the same trait.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use sebs_common::config::Deployment;
use sebs_proto::{Region, WorkerId};
use tokio::sync::broadcast;

/// A member of the fleet: a worker, where it is and what it can do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub worker: WorkerId,
    pub region: Region,
    pub capacity: u32,
    pub deployments: Vec<Deployment>,
}

/// Proof of membership, renewed while the member lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub worker: WorkerId,
    /// Distinguishes a worker's membership from a later one under the same name.
    pub id: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MembershipEvent {
    Joined(Member),
    Left { worker: WorkerId, reason: String },
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    #[error("a worker named {0} is already attached; give each worker its own --name")]
    Taken(WorkerId),
    #[error("membership store: {0}")]
    Store(String),
}

#[async_trait]
pub trait Membership: Send + Sync {
    /// Adds a member; refuses a name that is taken.
    async fn join(&self, member: Member) -> Result<Lease, MembershipError>;

    /// Keeps a lease alive. (In memory a lease lives until `leave`.)
    async fn renew(&self, lease: &Lease) -> Result<(), MembershipError>;

    /// Ends a lease; the member's work goes to others.
    async fn leave(&self, lease: &Lease, reason: &str);

    /// The members now, in id order.
    fn members(&self) -> Vec<Member>;

    /// Joins and leaves from now on.
    fn subscribe(&self) -> broadcast::Receiver<MembershipEvent>;
}

/// Membership in this process's memory: workers attached to this coordinator.
#[derive(Debug)]
pub struct InMemoryMembership {
    members: Mutex<BTreeMap<WorkerId, (Member, u64)>>,
    next_lease: Mutex<u64>,
    events: broadcast::Sender<MembershipEvent>,
}

impl Default for InMemoryMembership {
    fn default() -> Self {
        InMemoryMembership {
            members: Mutex::new(BTreeMap::new()),
            next_lease: Mutex::new(1),
            events: broadcast::channel(1024).0,
        }
    }
}

#[async_trait]
impl Membership for InMemoryMembership {
    async fn join(&self, member: Member) -> Result<Lease, MembershipError> {
        let lease = {
            let mut members = self.members.lock().unwrap_or_else(|e| e.into_inner());
            if members.contains_key(&member.worker) {
                return Err(MembershipError::Taken(member.worker));
            }
            let mut next = self.next_lease.lock().unwrap_or_else(|e| e.into_inner());
            let id = *next;
            *next += 1;
            members.insert(member.worker.clone(), (member.clone(), id));
            Lease {
                worker: member.worker.clone(),
                id,
            }
        };
        let _ = self.events.send(MembershipEvent::Joined(member));
        Ok(lease)
    }

    async fn renew(&self, lease: &Lease) -> Result<(), MembershipError> {
        let members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        match members.get(&lease.worker) {
            Some((_, id)) if *id == lease.id => Ok(()),
            _ => Err(MembershipError::Store(format!(
                "the lease of {} has ended",
                lease.worker
            ))),
        }
    }

    async fn leave(&self, lease: &Lease, reason: &str) {
        let removed = {
            let mut members = self.members.lock().unwrap_or_else(|e| e.into_inner());
            match members.get(&lease.worker) {
                Some((_, id)) if *id == lease.id => members.remove(&lease.worker).is_some(),
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
        let members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        members.values().map(|(m, _)| m.clone()).collect()
    }

    fn subscribe(&self) -> broadcast::Receiver<MembershipEvent> {
        self.events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str) -> Member {
        Member {
            worker: WorkerId::new(name).unwrap(),
            region: Region::local(),
            capacity: 4,
            deployments: vec![Deployment::Local],
        }
    }

    #[tokio::test]
    async fn members_join_once_and_leave_with_their_own_lease() {
        let m = InMemoryMembership::default();
        let mut events = m.subscribe();
        let lease = m.join(member("a")).await.unwrap();
        assert!(matches!(
            m.join(member("a")).await,
            Err(MembershipError::Taken(_))
        ));
        assert_eq!(
            events.recv().await.unwrap(),
            MembershipEvent::Joined(member("a"))
        );
        m.renew(&lease).await.unwrap();
        // A stale lease of an earlier membership under the same name changes nothing.
        m.leave(
            &Lease {
                id: 99,
                ..lease.clone()
            },
            "stale",
        )
        .await;
        assert_eq!(m.members().len(), 1);
        m.leave(&lease, "stream ended").await;
        assert!(m.members().is_empty());
        assert!(m.renew(&lease).await.is_err());
        assert!(
            matches!(events.recv().await.unwrap(), MembershipEvent::Left { reason, .. } if reason == "stream ended")
        );
    }
}
