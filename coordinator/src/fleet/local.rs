//! The single-process fleet: a coordinator and one worker in this process, linked by channels.
//! `sebs benchmark invoke` without `--coordinator` runs here, through exactly the code a fleet
//! runs.

use std::sync::Arc;

use anyhow::{Context, Result};
use sebs_proto::fleet::WorkerHello;
use sebs_proto::{FleetError, Region, RunService, WorkerId};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::coordinator::{Coordinator, CoordinatorConfig};
use super::hooks::Preparer;
use super::membership::{InMemoryMembership, Membership, MembershipEvent};
use super::state::InMemoryStateStore;
use super::worker::{WorkerAgent, WorkerExit};
use crate::platforms;

#[derive(Debug)]
pub struct LocalFleet {
    coordinator: Coordinator,
    worker: JoinHandle<Result<WorkerExit, FleetError>>,
    shutdown: watch::Sender<bool>,
}

impl LocalFleet {
    /// A coordinator with `preparer` and one worker of unbounded capacity in region `local`,
    /// attached when this returns.
    pub async fn start(preparer: Arc<dyn Preparer>) -> Result<Self> {
        let membership = Arc::new(InMemoryMembership::default());
        let mut joined = membership.subscribe();
        let coordinator = Coordinator::new(
            CoordinatorConfig::default(),
            membership,
            Arc::new(InMemoryStateStore::default()),
            Some(preparer),
        );
        let factories = platforms::trigger_factories();
        let hello = WorkerHello {
            worker: WorkerId::new("local")?,
            region: Region::local(),
            capacity: u32::MAX,
            deployments: factories.deployments(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        };
        let agent = WorkerAgent::new(hello, factories);
        let (shutdown, stop) = watch::channel(false);
        let fleet = coordinator.clone();
        let worker = tokio::spawn(async move { agent.run(&fleet, stop).await });
        loop {
            match joined
                .recv()
                .await
                .context("the in-process worker did not attach")?
            {
                MembershipEvent::Joined(_) => break,
                MembershipEvent::Left { .. } => continue,
            }
        }
        Ok(LocalFleet {
            coordinator,
            worker,
            shutdown,
        })
    }

    pub fn runs(&self) -> Arc<dyn RunService> {
        Arc::new(self.coordinator.clone())
    }

    /// Stops the worker (it reports what is in flight first).
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        match self.worker.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "the in-process worker failed"),
            Err(e) => tracing::warn!(error = %e, "the in-process worker panicked"),
        }
    }
}
