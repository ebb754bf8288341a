//! An HTTPS trigger for function URLs: HTTP/1.1 over rustls, kept-alive connections.
//!
//! It measures what the worker's plain `HttpTrigger` measures: `http_startup` is the TCP and TLS
//! set-up of a new connection (0 on a reused one), `first_byte` the time from sending the request
//! to the reply's head. TLS belongs here rather than in the worker so that the worker stays free
//! of a TLS stack; a second cloud that needs it can move it there.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use sebs_common::{ErrorKind, InvocationError};
use sebs_worker::{epoch_seconds, InvocationRequest, RawInvocation, Trigger};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

type Connection = SendRequest<Full<Bytes>>;

#[derive(Debug, thiserror::Error)]
pub enum HttpsTriggerError {
    #[error("invalid function URL `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("TLS set-up: {0}")]
    Tls(String),
}

pub struct HttpsTrigger {
    url: Uri,
    host: String,
    port: u16,
    server_name: ServerName<'static>,
    tls: TlsConnector,
    timeout: Duration,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for HttpsTrigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsTrigger")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpsTrigger {
    /// `url` is `https://host[:port]/path`. Servers are verified against the system's roots,
    /// plus `extra_root` (a DER certificate) when given.
    pub fn new(
        url: &str,
        timeout: Duration,
        extra_root: Option<rustls::pki_types::CertificateDer<'static>>,
    ) -> Result<Self, HttpsTriggerError> {
        let invalid = |reason: &str| HttpsTriggerError::InvalidUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
        if uri.scheme_str() != Some("https") {
            return Err(invalid("expected an https:// URL"));
        }
        let host = uri.host().ok_or_else(|| invalid("no host"))?.to_string();
        let server_name =
            ServerName::try_from(host.clone()).map_err(|e| invalid(&e.to_string()))?;
        let mut roots = rustls::RootCertStore::empty();
        // Unreadable system certificates are skipped; a server none of them signs fails its
        // handshake with a message that says so.
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if let Some(cert) = extra_root {
            roots
                .add(cert)
                .map_err(|e| HttpsTriggerError::Tls(e.to_string()))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| HttpsTriggerError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(HttpsTrigger {
            port: uri.port_u16().unwrap_or(443),
            url: uri,
            host,
            server_name,
            tls: TlsConnector::from(Arc::new(config)),
            timeout,
            idle: Mutex::new(Vec::new()),
        })
    }

    fn take_idle(&self) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(conn) = idle.pop() {
            if !conn.is_closed() {
                return Some(conn);
            }
        }
        None
    }

    fn give_back(&self, conn: Connection) {
        if !conn.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
        }
    }

    async fn connect(&self) -> Result<Connection, String> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("cannot connect to {}:{}: {e}", self.host, self.port))?;
        tcp.set_nodelay(true).ok();
        let tls = self
            .tls
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| format!("TLS handshake with {} failed: {e}", self.host))?;
        let (sender, conn) = http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| format!("HTTP handshake with {} failed: {e}", self.host))?;
        tokio::spawn(async move {
            // Ends when the connection closes; errors show up on the request that hit them.
            let _ = conn.await;
        });
        Ok(sender)
    }

    fn request(&self, req: InvocationRequest<'_>) -> Request<Full<Bytes>> {
        let path = self.url.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(
                http::header::HOST,
                self.url
                    .authority()
                    .map(|a| a.as_str())
                    .unwrap_or(&self.host),
            )
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("x-request-id", req.request_id)
            .body(Full::new(req.payload.clone()))
            .unwrap_or_else(|_| Request::new(Full::new(req.payload.clone())))
    }
}

#[async_trait]
impl Trigger for HttpsTrigger {
    async fn invoke(&self, req: InvocationRequest<'_>) -> RawInvocation {
        let start = Instant::now();
        let mut raw = RawInvocation {
            client_begin: epoch_seconds(SystemTime::now()),
            ..Default::default()
        };
        let outcome = tokio::time::timeout(self.timeout, async {
            let mut conn = match self.take_idle() {
                Some(conn) => conn,
                None => {
                    let conn = self.connect().await.map_err(|m| (ErrorKind::Connect, m))?;
                    raw.http_startup = start.elapsed().as_secs_f64();
                    conn
                }
            };
            conn.ready()
                .await
                .map_err(|e| (ErrorKind::Connect, format!("connection not ready: {e}")))?;
            let sent = Instant::now();
            let response = conn.send_request(self.request(req)).await.map_err(|e| {
                (
                    ErrorKind::Connect,
                    format!("request to {} failed: {e}", self.url),
                )
            })?;
            raw.first_byte = sent.elapsed().as_secs_f64();
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| {
                    (
                        ErrorKind::Connect,
                        format!("reading the reply from {} failed: {e}", self.url),
                    )
                })?
                .to_bytes();
            self.give_back(conn);
            Ok::<_, (ErrorKind, String)>((parts, body))
        })
        .await;
        match outcome {
            Ok(Ok((parts, body))) => {
                raw.status = Some(parts.status.as_u16());
                raw.headers = parts.headers;
                raw.body = body;
            }
            Ok(Err((kind, message))) => raw.error = Some(InvocationError { kind, message }),
            Err(_) => {
                raw.error = Some(InvocationError {
                    kind: ErrorKind::Timeout,
                    message: format!("no reply from {} within {:?}", self.url, self.timeout),
                })
            }
        }
        raw.client_us = start.elapsed().as_micros() as u64;
        raw.client_end = raw.client_begin + start.elapsed().as_secs_f64();
        raw
    }
}
