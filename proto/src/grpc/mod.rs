//! The remote faces of the fleet's services: tonic servers that put a [`FleetService`] and a
//! [`RunService`] on the network, and clients that implement the same traits over a channel.
//! One module per service hides its generated code.

mod fleet_service;
mod runs_service;
pub mod security;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Code, Status, Streaming};

pub use fleet_service::RemoteFleet;
pub use runs_service::RemoteRuns;
pub use security::{
    ClientSecurity, CoordinatorAddress, KeyPair, SecurityError, ServerSecurity, Token,
};

use crate::convert::ConvertError;
use crate::service::{FleetError, FleetService, RunService};

/// Serves both services on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    security: ServerSecurity,
    fleet: Arc<dyn FleetService>,
    runs: Arc<dyn RunService>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), SecurityError> {
    let address = listener
        .local_addr()
        .map_err(|e| SecurityError::Refused(format!("listener: {e}")))?;
    security.check(address)?;
    let mut builder = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)));
    if let Some(tls) = security.tls_config() {
        builder = builder
            .tls_config(tls)
            .map_err(|e| SecurityError::Tls(security::error_chain(&e)))?;
    }
    let router = builder
        .add_service(fleet_service::server(fleet, security.interceptor()))
        .add_service(runs_service::server(runs, security.interceptor()));
    router
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
        .map_err(|e| SecurityError::Refused(security::error_chain(&e)))
}

/// How a forwarded stream ended.
#[derive(Debug)]
pub(crate) enum StreamEnd {
    /// The other side closed it.
    Closed,
    /// The connection failed (the other side is gone).
    Lost(FleetError),
    /// A message did not hold what its type promises.
    Bad(ConvertError),
}

/// Forwards a gRPC stream into a channel, converting each message, until the stream ends, fails
/// or brings a bad message, or nobody reads the channel. `last` says what, if anything, to send
/// after the end.
pub(crate) fn forward<P, T>(
    mut inbound: Streaming<P>,
    queue: usize,
    convert: fn(P) -> Result<T, ConvertError>,
    last: impl FnOnce(StreamEnd) -> Option<T> + Send + 'static,
) -> mpsc::Receiver<T>
where
    P: Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = mpsc::channel(queue);
    tokio::spawn(async move {
        let end = loop {
            match inbound.message().await {
                Ok(Some(m)) => match convert(m) {
                    Ok(m) => {
                        if tx.send(m).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => break StreamEnd::Bad(e),
                },
                Ok(None) => break StreamEnd::Closed,
                Err(status) => break StreamEnd::Lost(from_status(status)),
            }
        };
        if let Some(m) = last(end) {
            let _ = tx.send(m).await;
        }
    });
    rx
}

pub(crate) fn to_status(e: FleetError) -> Status {
    match e {
        FleetError::Unauthenticated(m) => Status::unauthenticated(m),
        FleetError::InvalidArgument(m) => Status::invalid_argument(m),
        FleetError::NotFound(m) => Status::not_found(m),
        FleetError::Unavailable(m) => Status::unavailable(m),
        FleetError::Internal(m) => Status::internal(m),
    }
}

/// A failed call as the caller's error, with what the transport said underneath.
///
/// A status with a source was made on this side from a transport error (the server's statuses
/// carry none); tonic gives a connection reset mid-call `Unknown`. Either way the peer could not
/// be reached: `Unavailable`, which callers retry (a client following a run while its
/// coordinator restarts).
pub(crate) fn from_status(s: Status) -> FleetError {
    let local = std::error::Error::source(&s).is_some();
    let message = match std::error::Error::source(&s) {
        Some(source)
            if s.message().is_empty()
                || s.code() == Code::Unknown
                || s.code() == Code::Unavailable =>
        {
            format!("{}: {}", s.message(), security::error_chain(source))
        }
        _ => s.message().to_string(),
    };
    match s.code() {
        Code::Unauthenticated | Code::PermissionDenied => FleetError::Unauthenticated(message),
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            FleetError::InvalidArgument(message)
        }
        Code::NotFound => FleetError::NotFound(message),
        Code::Unavailable | Code::Cancelled | Code::DeadlineExceeded | Code::Aborted => {
            FleetError::Unavailable(message)
        }
        Code::Unknown if local => FleetError::Unavailable(message),
        _ => FleetError::Internal(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transport_error_is_unavailable_and_a_servers_unknown_is_internal() {
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset");
        let local = Status::from_error(Box::new(reset));
        assert_eq!(local.code(), Code::Unknown);
        match from_status(local) {
            FleetError::Unavailable(m) => assert!(m.contains("connection reset"), "{m}"),
            other => panic!("a reset connection is unavailable, got {other:?}"),
        }
        assert_eq!(
            from_status(Status::unknown("the server failed")),
            FleetError::Internal("the server failed".into())
        );
        assert_eq!(
            from_status(Status::unavailable("draining")),
            FleetError::Unavailable("draining".into())
        );
    }
}
