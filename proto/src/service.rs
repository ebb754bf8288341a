//! The fleet's services as traits with a local and a remote face (STYLE §3).
//!
//! The coordinator implements both; in one process the worker and the client call it directly
//! (no network), in a cluster they call `grpc::RemoteFleet`/`grpc::RemoteRuns`, which implement
//! the same traits over tonic. Streams are tokio channels either way.

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::fleet::{FromWorker, ToWorker, WorkerHello};
use crate::ids::RunId;
use crate::runs::{ExperimentCall, RunEvent, Submission};

/// What workers call: attach and hold one stream each way.
#[async_trait]
pub trait FleetService: Send + Sync {
    /// Joins the fleet with `hello`, sending `from_worker`'s messages; returns the coordinator's.
    /// The link ends when either side's stream ends: a worker that goes away has its unfinished
    /// work handed to another.
    async fn attach(
        &self,
        hello: WorkerHello,
        from_worker: mpsc::Receiver<FromWorker>,
    ) -> Result<mpsc::Receiver<ToWorker>, FleetError>;
}

/// What clients call: submit a run, watch it, stop it.
#[async_trait]
pub trait RunService: Send + Sync {
    /// Starts a run; its events start with `Accepted`.
    async fn submit(
        &self,
        submission: Submission,
    ) -> Result<(RunId, mpsc::Receiver<RunEvent>), FleetError>;

    /// A running run's events: from now on, or, from a coordinator whose store keeps results
    /// (etcd), `Started` and everything accepted so far first, then on.
    async fn watch(&self, run: RunId) -> Result<mpsc::Receiver<RunEvent>, FleetError>;

    /// Stops sending; in-flight invocations finish and the run ends incomplete.
    async fn cancel(&self, run: RunId) -> Result<(), FleetError>;

    /// A step of an experiment whose platform the coordinator holds; returns the step's reply.
    async fn experiment(&self, call: ExperimentCall) -> Result<serde_json::Value, FleetError>;
}

/// Why a call failed. Each kind maps to one gRPC status code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FleetError {
    #[error("refused: {0}")]
    Unauthenticated(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}
