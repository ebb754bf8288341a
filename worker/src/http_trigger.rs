//! An HTTP trigger with kept-alive HTTP/1.1 connections.
//!
//! Connections are pooled: a request takes an idle connection or opens a new one (and then
//! reports the connect time as `http_startup`, as SeBS's pycurl-based trigger does), and gives it
//! back when the reply is complete. With C invocations in flight the pool settles at C
//! connections. A caller that keeps one connection per task (the engine) takes its own with
//! [`Trigger::own_connection`] and skips the pool.
//!
//! Plain `http://` goes through the lean client of [`crate::lean_http`]; `https://` through
//! hyper over the securer's TLS stream. Which one is decided when the trigger is made.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use sebs_common::{ErrorKind, InvocationError};
use tokio::net::TcpStream;

use crate::lean_http::{LeanConnection, PlainHttp};
use crate::trigger::{epoch_seconds, InvocationRequest, RawInvocation, Trigger};

type Connection = SendRequest<Full<Bytes>>;

/// A byte stream an HTTP connection runs over (plain TCP, or TLS over it).
pub trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// Secures a new TCP connection to `host`, for `https://` URLs. The worker has no TLS stack of
/// its own: platforms hand one in (see `sebs_platform::tls`).
#[async_trait]
pub trait StreamSecurer: Send + Sync + std::fmt::Debug {
    async fn secure(&self, tcp: TcpStream, host: &str) -> Result<Box<dyn Stream>, String>;
}

#[derive(Debug, thiserror::Error)]
pub enum HttpTriggerError {
    #[error("invalid trigger URL `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },
}

#[derive(Debug)]
pub struct HttpTrigger {
    url: Uri,
    host: String,
    port: u16,
    /// Extra headers sent with every request (e.g. authentication).
    headers: Vec<(HeaderName, HeaderValue)>,
    /// How long to wait for a reply before giving up on the invocation.
    timeout: Duration,
    /// TLS for `https://` URLs.
    securer: Option<Arc<dyn StreamSecurer>>,
    /// Plain `http://`: the lean client's target and its idle connections.
    plain: Option<Arc<PlainHttp>>,
    lean_idle: Mutex<Vec<LeanConnection>>,
    /// `https://`: hyper's idle connections.
    idle: Mutex<Vec<Connection>>,
}

impl HttpTrigger {
    /// `url` must be `http://host:port/path`; see [`HttpTrigger::with_tls`] for `https://`.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, HttpTriggerError> {
        Self::build(url, timeout, None)
    }

    /// Accepts `https://` URLs too, securing each new connection with `securer`. The time to
    /// connect (`http_startup`) then includes the TLS handshake.
    pub fn with_tls(
        url: &str,
        timeout: Duration,
        securer: Arc<dyn StreamSecurer>,
    ) -> Result<Self, HttpTriggerError> {
        Self::build(url, timeout, Some(securer))
    }

    fn build(
        url: &str,
        timeout: Duration,
        securer: Option<Arc<dyn StreamSecurer>>,
    ) -> Result<Self, HttpTriggerError> {
        let invalid = |reason: &str| HttpTriggerError::InvalidUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
        let default_port = match (uri.scheme_str(), &securer) {
            (Some("http"), _) => 80,
            (Some("https"), Some(_)) => 443,
            (Some("https"), None) => {
                return Err(invalid(
                    "https:// needs a TLS securer (HttpTrigger::with_tls)",
                ))
            }
            _ => return Err(invalid("only http:// and https:// URLs are supported")),
        };
        let host = uri.host().ok_or_else(|| invalid("no host"))?.to_string();
        let port = uri.port_u16().unwrap_or(default_port);
        let securer = securer.filter(|_| uri.scheme_str() == Some("https"));
        let mut trigger = HttpTrigger {
            url: uri,
            host,
            port,
            headers: Vec::new(),
            timeout,
            securer,
            plain: None,
            lean_idle: Mutex::new(Vec::new()),
            idle: Mutex::new(Vec::new()),
        };
        trigger.plain = trigger.plain_target();
        Ok(trigger)
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        // The lean client renders its requests' headers once: render them again.
        self.plain = self.plain_target();
        self
    }

    /// The lean client's target for `http://` URLs; `None` for `https://`.
    fn plain_target(&self) -> Option<Arc<PlainHttp>> {
        if self.securer.is_some() {
            return None;
        }
        Some(Arc::new(PlainHttp::new(
            &self.url.to_string(),
            &self.host,
            self.port,
            self.path(),
            &self.authority(),
            &self.headers,
            self.timeout,
        )))
    }

    fn path(&self) -> &str {
        self.url.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    }

    fn authority(&self) -> String {
        self.url
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_else(|| format!("{}:{}", self.host, self.port))
    }

    pub fn url(&self) -> &Uri {
        &self.url
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
        let stream = match self.host.parse::<std::net::IpAddr>() {
            Ok(ip) => TcpStream::connect(SocketAddr::new(ip, self.port)).await,
            Err(_) => TcpStream::connect((self.host.as_str(), self.port)).await,
        }
        .map_err(|e| format!("cannot connect to {}:{}: {e}", self.host, self.port))?;
        stream.set_nodelay(true).ok();
        let stream: Box<dyn Stream> = match &self.securer {
            Some(securer) => securer.secure(stream, &self.host).await?,
            None => Box::new(stream),
        };
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| {
            format!(
                "HTTP handshake with {}:{} failed: {e}",
                self.host, self.port
            )
        })?;
        tokio::spawn(async move {
            // Ends when the connection closes; errors show up on the request that hit them.
            let _ = conn.await;
        });
        Ok(sender)
    }

    fn request(&self, req: InvocationRequest<'_>) -> Request<Full<Bytes>> {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(self.path())
            .header(http::header::HOST, self.authority())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("x-request-id", req.request_id);
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        builder
            .body(Full::new(req.payload.clone()))
            .unwrap_or_else(|_| Request::new(Full::new(req.payload.clone())))
    }
}

#[async_trait]
impl Trigger for HttpTrigger {
    async fn invoke(&self, req: InvocationRequest<'_>) -> RawInvocation {
        match &self.plain {
            Some(plain) => self.invoke_lean(plain, req).await,
            None => self.invoke_hyper(req).await,
        }
    }

    fn own_connection(&self) -> Option<LeanConnection> {
        self.plain.clone().map(LeanConnection::new)
    }
}

impl HttpTrigger {
    async fn invoke_lean(
        &self,
        plain: &Arc<PlainHttp>,
        req: InvocationRequest<'_>,
    ) -> RawInvocation {
        let idle = self
            .lean_idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        let mut conn = idle.unwrap_or_else(|| LeanConnection::new(plain.clone()));
        let raw = conn.invoke_owned(req).await;
        if conn.is_open() {
            self.lean_idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
        }
        raw
    }

    async fn invoke_hyper(&self, req: InvocationRequest<'_>) -> RawInvocation {
        let wall_begin = SystemTime::now();
        let start = Instant::now();
        let mut raw = RawInvocation {
            client_begin: epoch_seconds(wall_begin),
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
