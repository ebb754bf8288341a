//! The etcd membership and state store against a real etcd (`sebs_testkit::etcd`): leases
//! that end, registrations that are missing, batches written in parts or cut short.

use std::sync::Arc;
use std::time::Duration;

use sebs_common::config::Deployment;
use sebs_proto::fleet::WorkerHello;
use sebs_proto::runs::{KeyedRecorder, Origin, RunRecord};
use sebs_proto::{Attempt, Region, RunId, ShardId, WorkerId};
use sebs_worker::engine::recorder::Recorder;
use sebs_worker::engine::records::Record;

use super::etcd::{member_key, EtcdEndpoints, LeasedKey};
use super::membership::{Member, Membership, MembershipError, MembershipEvent};
use super::membership_etcd::{EtcdMembership, Registration};
use super::state::{StateStore, StoredBatch};
use super::state_etcd::EtcdStateStore;

async fn client(etcd: &sebs_testkit::etcd::Etcd) -> etcd_client::Client {
    EtcdEndpoints::parse(&etcd.endpoint, None)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn member(name: &str) -> Member {
    Member {
        worker: WorkerId::new(name).unwrap(),
        region: Region::new("eu").unwrap(),
        capacity: 4,
        deployments: vec![Deployment::Local],
    }
}

fn batch(shard: u32, sequences: std::ops::Range<u64>) -> StoredBatch {
    let origin = Origin {
        region: Region::new("eu").unwrap(),
        worker: WorkerId::new("w").unwrap(),
        shard: ShardId(shard),
        attempt: Attempt(0),
    };
    let records = sequences
        .map(|sequence| RunRecord {
            origin: origin.clone(),
            record: Record {
                sequence,
                status: 200,
                ..Record::default()
            },
            result: None,
        })
        .collect();
    StoredBatch {
        shard: ShardId(shard),
        attempt: Attempt(0),
        at_s: 1.5,
        records: Arc::new(records),
        delta: KeyedRecorder {
            function: "f".into(),
            region: Region::new("eu").unwrap(),
            recorder: Recorder::new(),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_leaves_when_its_lease_ends_and_needs_one_to_join() {
    let Some(etcd) = sebs_testkit::etcd::start() else {
        return;
    };
    let c = client(&etcd).await;
    let membership = EtcdMembership::start(c.clone());
    let mut events = membership.subscribe();

    // Without a registration, no join.
    assert!(matches!(
        membership.join(member("w1")).await,
        Err(MembershipError::Store(m)) if m.contains("no lease in etcd")
    ));

    let m = member("w1");
    let hello = WorkerHello {
        worker: m.worker.clone(),
        region: m.region.clone(),
        capacity: m.capacity,
        deployments: m.deployments.clone(),
        version: "test".into(),
        session: 1,
    };
    let value = serde_json::to_vec(&Registration::of(&hello)).unwrap();
    let mut key = LeasedKey::hold(
        c.clone(),
        member_key(&member("w1").worker),
        value,
        Duration::from_secs(2),
    );
    let lease_id = key.held().await;
    let lease = membership.join(member("w1")).await.unwrap();
    assert_eq!(lease.id, lease_id as u64);
    assert!(matches!(
        events.recv().await.unwrap(),
        MembershipEvent::Joined(m) if m.worker.as_str() == "w1"
    ));
    membership.renew(&lease).await.unwrap();
    // Revoked (as by a worker that shuts down, or a lease that expired): the member leaves.
    let mut c2 = c.clone();
    c2.lease_revoke(lease_id).await.unwrap();
    let left = tokio::time::timeout(Duration::from_secs(20), events.recv())
        .await
        .expect("a leave within 20 s")
        .unwrap();
    assert!(
        matches!(&left, MembershipEvent::Left { worker, reason } if worker.as_str() == "w1" && reason.contains("lease")),
        "{left:?}"
    );
    assert!(membership.members().is_empty());
    assert!(membership.renew(&lease).await.is_err());
    // The holder writes the key again under a new lease; joining again takes that one.
    let again = key.held().await;
    let renewed = loop {
        match membership.join(member("w1")).await {
            Ok(l) => break l,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    assert_ne!(renewed.id, lease.id);
    assert!(again != 0);
    key.release().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_read_back_whole_in_order_and_half_written_ones_are_not() {
    let Some(etcd) = sebs_testkit::etcd::start() else {
        return;
    };
    let c = client(&etcd).await;
    let store = EtcdStateStore::new(c.clone());
    let run = RunId(42);
    store.put_batch(run, 0, &batch(0, 0..3)).await.unwrap();
    // Over a value's limit: written as parts and a head.
    store.put_batch(run, 1, &batch(1, 0..40_000)).await.unwrap();
    store.put_batch(run, 2, &batch(0, 3..5)).await.unwrap();
    // A batch cut short: parts without their head.
    let mut kv = c.kv_client();
    kv.put(
        format!("sebs/batches/{run}/{:020}/000000", 3),
        vec![1, 2, 3],
        None,
    )
    .await
    .unwrap();
    let batches = store.batches(run).await.unwrap();
    let shape: Vec<(u32, usize)> = batches
        .iter()
        .map(|b| (b.shard.0, b.records.len()))
        .collect();
    assert_eq!(shape, [(0, 3), (1, 40_000), (0, 2)]);
    assert_eq!(batches[1].sequences().last(), Some(&39_999));
    assert_eq!(batches[2].at_s, 1.5);
    assert!(store.runs().await.unwrap().is_empty(), "no run was put");
}
