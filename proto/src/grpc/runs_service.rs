//! The `Runs` service (clients submit and watch) over gRPC.

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::codegen::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Response, Status, Streaming};

use super::security::{Authorize, CheckToken, CoordinatorAddress, MAX_MESSAGE};
use super::{forward, from_status, to_status, StreamEnd};
use crate::convert::runs::{
    event_from_pb, event_to_pb, experiment_call_from_pb, experiment_call_to_pb, submission_from_pb,
    submission_to_pb,
};
use crate::generated::sebs::runs::v1::runs_client::RunsClient;
use crate::generated::sebs::runs::v1::runs_server::{Runs, RunsServer};
use crate::generated::sebs::runs::v1::{
    CancelReply, CancelRequest, ExperimentCall as PbExperimentCall, ExperimentReply,
    RunEvent as PbEvent, Submission as PbSubmission, WatchRequest,
};
use crate::ids::RunId;
use crate::runs::{ExperimentCall, RunEvent, Submission};
use crate::service::{FleetError, RunService};

pub(super) struct Server {
    service: Arc<dyn RunService>,
}

pub(super) fn server(
    service: Arc<dyn RunService>,
    interceptor: CheckToken,
) -> InterceptedService<RunsServer<Server>, CheckToken> {
    let server = RunsServer::new(Server { service })
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    InterceptedService::new(server, interceptor)
}

type EventStream = Pin<Box<dyn Stream<Item = Result<PbEvent, Status>> + Send>>;

fn stream(events: mpsc::Receiver<RunEvent>) -> EventStream {
    Box::pin(ReceiverStream::new(events).map(|e| Ok(event_to_pb(&e))))
}

#[async_trait]
impl Runs for Server {
    type SubmitStream = EventStream;
    type WatchStream = EventStream;

    async fn submit(
        &self,
        request: Request<PbSubmission>,
    ) -> Result<Response<EventStream>, Status> {
        let submission = submission_from_pb(request.into_inner())
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let (_, events) = self.service.submit(submission).await.map_err(to_status)?;
        Ok(Response::new(stream(events)))
    }

    async fn watch(&self, request: Request<WatchRequest>) -> Result<Response<EventStream>, Status> {
        let run = RunId(request.into_inner().run_id);
        let events = self.service.watch(run).await.map_err(to_status)?;
        Ok(Response::new(stream(events)))
    }

    async fn cancel(
        &self,
        request: Request<CancelRequest>,
    ) -> Result<Response<CancelReply>, Status> {
        let run = RunId(request.into_inner().run_id);
        self.service.cancel(run).await.map_err(to_status)?;
        Ok(Response::new(CancelReply {}))
    }

    async fn experiment(
        &self,
        request: Request<PbExperimentCall>,
    ) -> Result<Response<ExperimentReply>, Status> {
        let call = experiment_call_from_pb(request.into_inner())
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let reply = self.service.experiment(call).await.map_err(to_status)?;
        Ok(Response::new(ExperimentReply {
            reply_json: reply.to_string(),
        }))
    }
}

/// A [`RunService`] at a coordinator across the network.
#[derive(Clone, Debug)]
pub struct RemoteRuns {
    address: CoordinatorAddress,
}

impl RemoteRuns {
    pub fn new(address: CoordinatorAddress) -> Self {
        RemoteRuns { address }
    }

    fn client(&self) -> Result<RunsClient<InterceptedService<Channel, Authorize>>, FleetError> {
        let channel = self
            .address
            .channel()
            .map_err(|e| FleetError::InvalidArgument(e.to_string()))?;
        Ok(
            RunsClient::with_interceptor(channel, self.address.authorize())
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
        )
    }
}

/// A server stream of events as a channel. A stream that is lost (the coordinator went away)
/// just ends, so that a follower can tell it from a failed run and watch the run again; a bad
/// event ends it with `Failed`.
fn pump(inbound: Streaming<PbEvent>) -> mpsc::Receiver<RunEvent> {
    forward(inbound, 256, event_from_pb, |end| match end {
        StreamEnd::Closed => None,
        StreamEnd::Lost(e) => {
            tracing::warn!(error = %e, "lost the coordinator");
            None
        }
        StreamEnd::Bad(e) => Some(RunEvent::Failed(format!(
            "the coordinator sent a bad event: {e}"
        ))),
    })
}

#[async_trait]
impl RunService for RemoteRuns {
    async fn submit(
        &self,
        submission: Submission,
    ) -> Result<(RunId, mpsc::Receiver<RunEvent>), FleetError> {
        let mut client = self.client()?;
        let inbound = client
            .submit(submission_to_pb(&submission))
            .await
            .map_err(from_status)?
            .into_inner();
        let mut events = pump(inbound);
        match events.recv().await {
            Some(RunEvent::Accepted(run)) => Ok((run, events)),
            Some(RunEvent::Failed(message)) => Err(FleetError::Unavailable(message)),
            Some(other) => Err(FleetError::Internal(format!(
                "expected the run's id first, got {other:?}"
            ))),
            None => Err(FleetError::Unavailable(
                "the coordinator closed the run's stream".into(),
            )),
        }
    }

    async fn watch(&self, run: RunId) -> Result<mpsc::Receiver<RunEvent>, FleetError> {
        let mut client = self.client()?;
        let inbound = client
            .watch(WatchRequest { run_id: run.0 })
            .await
            .map_err(from_status)?
            .into_inner();
        Ok(pump(inbound))
    }

    async fn cancel(&self, run: RunId) -> Result<(), FleetError> {
        let mut client = self.client()?;
        client
            .cancel(CancelRequest { run_id: run.0 })
            .await
            .map_err(from_status)?;
        Ok(())
    }

    async fn experiment(&self, call: ExperimentCall) -> Result<serde_json::Value, FleetError> {
        let mut client = self.client()?;
        let reply = client
            .experiment(experiment_call_to_pb(&call))
            .await
            .map_err(from_status)?
            .into_inner();
        serde_json::from_str(&reply.reply_json).map_err(|e| {
            FleetError::Internal(format!("the coordinator sent a bad experiment reply: {e}"))
        })
    }
}
