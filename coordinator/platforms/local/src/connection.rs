//! The kept-alive HTTP/1.1 connection a platform holds to one instance's wrapper, over which it
//! sends one event at a time (`POST /` of docs/local-protocol.md). Every sandbox that runs the
//! local wrapper (a process, a container) talks to it through this.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

#[derive(Debug)]
pub struct WrapperConnection(SendRequest<Full<Bytes>>);

/// Why an event got no reply.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// The request could not be made (a request id that is no header value).
    #[error("invalid request: {0}")]
    Request(String),
    /// The connection broke: the wrapper is gone.
    #[error("{0}")]
    Broken(#[from] hyper::Error),
}

impl WrapperConnection {
    /// Connects to the wrapper listening on 127.0.0.1:`port`.
    pub async fn open(port: u16) -> Result<Self, String> {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("refuses connections on port {port}: {e}"))?;
        stream.set_nodelay(true).ok();
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake on port {port} failed: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(WrapperConnection(sender))
    }

    /// Sends one event; returns the reply's status and whole body.
    pub async fn post(
        &mut self,
        event: Bytes,
        request_id: &str,
    ) -> Result<(u16, Bytes), PostError> {
        let request = hyper::Request::post("/")
            .header(http::header::HOST, "127.0.0.1")
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("x-request-id", request_id)
            .body(Full::new(event))
            .map_err(|e| PostError::Request(e.to_string()))?;
        self.0.ready().await?;
        let response = self.0.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}
