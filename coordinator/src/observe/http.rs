//! The observability endpoints of `sebs coordinator` and `sebs worker` (`--metrics-listen`):
//! `GET /metrics` (Prometheus text format), `GET /healthz` (liveness) and `GET /readyz`
//! (readiness). Plain HTTP/1.1: scrapers and kubelets speak it, and nothing here is secret.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The content type of the text exposition format.
const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Where a process is in its life, as readiness reports it. Shared by the command that owns the
/// process and the endpoints.
#[derive(Debug, Default)]
pub struct Lifecycle {
    serving: AtomicBool,
    draining: AtomicBool,
}

impl Lifecycle {
    /// It serves (the coordinator listens).
    pub fn serving(&self) {
        self.serving.store(true, Ordering::SeqCst);
    }

    /// It is shutting down: readiness fails from now on, so that load balancers and the fleet's
    /// clients turn away first.
    pub fn draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    fn is_serving(&self) -> bool {
        self.serving.load(Ordering::SeqCst)
    }
}

/// What the endpoints show of one process.
pub trait Probe: Send + Sync + 'static {
    /// Appends every metric family in the text format.
    fn render(&self, out: &mut String);
    /// `Err(why)` while the process should get no traffic.
    fn ready(&self) -> Result<(), String>;
}

/// A coordinator is ready once it listens (its stores connected first), until it drains.
#[derive(Debug)]
pub struct CoordinatorProbe {
    pub metrics: Arc<super::CoordinatorMetrics>,
    pub lifecycle: Arc<Lifecycle>,
}

impl Probe for CoordinatorProbe {
    fn render(&self, out: &mut String) {
        self.metrics.render(out);
    }

    fn ready(&self) -> Result<(), String> {
        if self.lifecycle.is_draining() {
            Err("shutting down".into())
        } else if !self.lifecycle.is_serving() {
            Err("not listening yet".into())
        } else {
            Ok(())
        }
    }
}

/// A worker is ready while it is attached to a coordinator, until it drains.
#[derive(Debug)]
pub struct WorkerProbe {
    pub metrics: Arc<super::WorkerMetrics>,
    pub lifecycle: Arc<Lifecycle>,
}

impl Probe for WorkerProbe {
    fn render(&self, out: &mut String) {
        self.metrics.render(out);
    }

    fn ready(&self) -> Result<(), String> {
        if self.lifecycle.is_draining() {
            Err("shutting down".into())
        } else if !self.metrics.is_attached() {
            Err("not attached to a coordinator".into())
        } else {
            Ok(())
        }
    }
}

/// Binds `addr` (`--metrics-listen`), says where on stdout (port 0 picks one) and serves the
/// endpoints in the background for the rest of the process's life.
pub async fn start(addr: SocketAddr, probe: Arc<dyn Probe>) -> Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("--metrics-listen: cannot bind {addr}"))?;
    let bound = listener.local_addr()?;
    // The line tests and scripts read the address from.
    println!("sebs metrics endpoint at http://{bound}");
    tracing::info!(address = %bound, "serving /metrics, /healthz and /readyz");
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics endpoint: cannot accept a connection");
                    continue;
                }
            };
            let probe = probe.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let probe = probe.clone();
                    async move { Ok::<_, Infallible>(answer(&req, probe.as_ref())) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(bound)
}

fn answer(req: &Request<Incoming>, probe: &dyn Probe) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET\n".into(),
        );
    }
    match req.uri().path() {
        "/metrics" => {
            let mut text = String::with_capacity(8192);
            probe.render(&mut text);
            reply(StatusCode::OK, METRICS_TYPE, text)
        }
        "/healthz" => reply(StatusCode::OK, "text/plain", "ok\n".into()),
        "/readyz" => match probe.ready() {
            Ok(()) => reply(StatusCode::OK, "text/plain", "ready\n".into()),
            Err(why) => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("not ready: {why}\n"),
            ),
        },
        other => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            format!("no {other} here: try /metrics, /healthz or /readyz\n"),
        ),
    }
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}
