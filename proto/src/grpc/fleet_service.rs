//! The `Fleet` service (workers attach) over gRPC.

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::codegen::InterceptedService;
use tonic::{Request, Response, Status, Streaming};

use super::security::{CheckToken, CoordinatorAddress, SecurityError, MAX_MESSAGE};
use super::{forward, from_status, to_status, StreamEnd};
use crate::convert::fleet::{
    from_worker_from_pb, from_worker_to_pb, hello_from_pb, hello_to_pb, to_worker_from_pb,
    to_worker_to_pb,
};
use crate::fleet::{FromWorker, ToWorker, WorkerHello};
use crate::generated::sebs::fleet::v1::fleet_client::FleetClient;
use crate::generated::sebs::fleet::v1::fleet_server::{Fleet, FleetServer};
use crate::generated::sebs::fleet::v1::{worker_message, CoordinatorMessage, WorkerMessage};
use crate::service::{FleetError, FleetService};

/// How many messages may wait in each direction of a worker's stream.
const QUEUE: usize = 256;

pub(super) struct Server {
    service: Arc<dyn FleetService>,
}

pub(super) fn server(
    service: Arc<dyn FleetService>,
    interceptor: CheckToken,
) -> InterceptedService<FleetServer<Server>, CheckToken> {
    let server = FleetServer::new(Server { service })
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    InterceptedService::new(server, interceptor)
}

#[async_trait]
impl Fleet for Server {
    type AttachStream = Pin<Box<dyn Stream<Item = Result<CoordinatorMessage, Status>> + Send>>;

    async fn attach(
        &self,
        request: Request<Streaming<WorkerMessage>>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        let mut inbound = request.into_inner();
        let hello = match inbound.message().await?.and_then(|m| m.kind) {
            Some(worker_message::Kind::Hello(h)) => {
                hello_from_pb(h).map_err(|e| Status::invalid_argument(e.to_string()))?
            }
            _ => {
                return Err(Status::invalid_argument(
                    "expected a hello as the worker's first message",
                ))
            }
        };
        let worker = hello.worker.clone();
        let rx = forward(inbound, QUEUE, from_worker_from_pb, move |end| {
            match end {
                StreamEnd::Bad(e) => {
                    tracing::warn!(%worker, error = %e, "dropping the worker: it sent a bad message")
                }
                StreamEnd::Lost(e) => tracing::debug!(%worker, error = %e, "worker stream failed"),
                StreamEnd::Closed => {}
            }
            None
        });
        let outbound = self.service.attach(hello, rx).await.map_err(to_status)?;
        let stream = ReceiverStream::new(outbound).map(|m| Ok(to_worker_to_pb(&m)));
        Ok(Response::new(Box::pin(stream)))
    }
}

/// A [`FleetService`] at a coordinator across the network.
#[derive(Clone, Debug)]
pub struct RemoteFleet {
    address: CoordinatorAddress,
}

impl RemoteFleet {
    pub fn new(address: CoordinatorAddress) -> Self {
        RemoteFleet { address }
    }
}

#[async_trait]
impl FleetService for RemoteFleet {
    async fn attach(
        &self,
        hello: WorkerHello,
        from_worker: mpsc::Receiver<FromWorker>,
    ) -> Result<mpsc::Receiver<ToWorker>, FleetError> {
        let channel = self
            .address
            .channel()
            .map_err(|e: SecurityError| FleetError::InvalidArgument(e.to_string()))?;
        let mut client = FleetClient::with_interceptor(channel, self.address.authorize())
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        let first = WorkerMessage {
            kind: Some(worker_message::Kind::Hello(hello_to_pb(&hello))),
        };
        let outbound = tokio_stream::once(first)
            .chain(ReceiverStream::new(from_worker).map(|m| from_worker_to_pb(&m)));
        let inbound = client
            .attach(outbound)
            .await
            .map_err(from_status)?
            .into_inner();
        Ok(forward(inbound, QUEUE, to_worker_from_pb, |end| {
            match end {
                StreamEnd::Bad(e) => {
                    tracing::warn!(error = %e, "the coordinator sent a bad message; detaching")
                }
                StreamEnd::Lost(e) => tracing::warn!(error = %e, "lost the coordinator"),
                StreamEnd::Closed => {}
            }
            None
        }))
    }
}
