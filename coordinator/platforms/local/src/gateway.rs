//! The local platform's HTTP front end, as a FaaS gateway: `POST /functions/<name>` runs the
//! event on an instance of that function and returns the wrapper's reply, with what the platform
//! measured in `x-sebs-*` headers (the local counterpart of AWS's REPORT log line).
//!
//! Being plain HTTP, the same endpoint serves triggers in this process and workers elsewhere.
//! Every platform that runs its own instances behind such a gateway (local processes, Docker
//! containers) shares it, with the trigger factory and reply reader below.
//! `POST /nosql/<operation>` serves the platform's NoSQL tables to function instances
//! (`nosql_api`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{bail, Result};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sebs_common::config::{Deployment, TriggerKind};
use sebs_common::ErrorKind;
use sebs_platform::{BuiltTrigger, DeployedFunction, ProviderMetrics, TriggerFactory, TriggerSpec};
use sebs_worker::engine::{read_wrapper_reply, Reading, ReplyReader};
use sebs_worker::{HttpTrigger, RawInvocation};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::nosql::MemoryTables;
use super::nosql_api;
use super::pool::{FunctionPool, Sandbox};

pub const INSTANCE_HEADER: &str = "x-sebs-instance";
pub const INIT_HEADER: &str = "x-sebs-init-us";
pub const EXECUTION_HEADER: &str = "x-sebs-execution-us";
pub const MEMORY_HEADER: &str = "x-sebs-memory-kib";
pub const ERROR_KIND_HEADER: &str = "x-sebs-error-kind";

/// The deployed functions by name, each a pool of instances in sandboxes of type `S`.
pub type Functions<S> = Arc<RwLock<HashMap<String, Arc<FunctionPool<S>>>>>;

/// What the gateway reported about one invocation in its `x-sebs-*` headers (0 where absent).
/// Read without allocating, so that the engine's hot loop can use it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Report {
    pub execution_us: u64,
    pub init_us: u64,
    pub memory_kib: u64,
    /// Set when the platform itself failed the invocation (timeout, crash, memory limit).
    pub error_kind: Option<ErrorKind>,
}

impl Report {
    pub fn read(headers: &http::HeaderMap) -> Self {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let number = |name: &str| {
            header(name)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Report {
            execution_us: number(EXECUTION_HEADER),
            init_us: number(INIT_HEADER),
            memory_kib: number(MEMORY_HEADER),
            error_kind: header(ERROR_KIND_HEADER).and_then(ErrorKind::parse),
        }
    }
}

/// What the gateway reported about an invocation, as the platform's provider metrics.
pub fn provider_metrics(raw: &RawInvocation) -> ProviderMetrics {
    let report = Report::read(&raw.headers);
    let error = report.error_kind.map(|kind| {
        let message = serde_json::from_slice::<serde_json::Value>(&raw.body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_default();
        (kind, message)
    });
    ProviderMetrics {
        execution_us: report.execution_us,
        initialization_us: report.init_us,
        memory_used_mb: report.memory_kib as f64 / 1024.0,
        // Billed like AWS Lambda: the run rounded up to the next millisecond.
        billed_ms: report.execution_us.div_ceil(1000),
        error,
    }
}

/// How long a trigger waits beyond the function's own timeout before giving up on the gateway.
const CLIENT_GRACE: Duration = Duration::from_secs(30);

/// The one trigger of a gateway platform: HTTP to the function's gateway url.
pub fn trigger_spec(
    deployment: Deployment,
    function: &DeployedFunction,
    kind: TriggerKind,
) -> Result<TriggerSpec> {
    if kind != TriggerKind::Http {
        bail!("the {deployment} platform has only the `http` trigger, not `{kind}`");
    }
    Ok(TriggerSpec {
        deployment,
        kind,
        function: function.name.clone(),
        url: Some(function.url.clone()),
        timeout: function.timeout + CLIENT_GRACE,
        settings: serde_json::Value::Null,
    })
}

/// Builds triggers of a gateway platform: HTTP to the gateway, replies read with its headers.
pub fn trigger_factory(deployment: Deployment) -> Arc<dyn TriggerFactory> {
    Arc::new(GatewayTriggers(deployment))
}

#[derive(Debug)]
struct GatewayTriggers(Deployment);

impl TriggerFactory for GatewayTriggers {
    fn deployment(&self) -> Deployment {
        self.0
    }

    fn build(&self, spec: &TriggerSpec) -> Result<BuiltTrigger> {
        let Some(url) = spec
            .url
            .as_deref()
            .filter(|_| spec.kind == TriggerKind::Http)
        else {
            bail!(
                "{} trigger of `{}`: expected an http trigger with a url",
                self.0,
                spec.function
            );
        };
        Ok(BuiltTrigger {
            trigger: Arc::new(HttpTrigger::new(url, spec.timeout)?),
            reader: Arc::new(GatewayReplyReader),
        })
    }
}

/// Reads the wrapper's reply and the gateway's `x-sebs-*` headers, for triggers of other
/// platforms that report what their platform measured the gateway's way.
pub fn reply_reader() -> Arc<dyn ReplyReader> {
    Arc::new(GatewayReplyReader)
}

/// Reads the wrapper's reply and the gateway's `x-sebs-*` headers.
#[derive(Debug)]
struct GatewayReplyReader;

impl ReplyReader for GatewayReplyReader {
    fn read<'a>(&self, raw: &'a RawInvocation) -> Reading<'a> {
        let mut reading = read_wrapper_reply(raw);
        let report = Report::read(&raw.headers);
        reading.execution_us = report.execution_us;
        reading.init_us = report.init_us;
        reading.memory_kib = report.memory_kib;
        if report.error_kind.is_some() {
            reading.failure = report.error_kind;
        }
        // A new instance was started for this request: cold, even if it then failed.
        reading.cold |= reading.init_us > 0;
        reading
    }
}

/// Accepts connections until `shutdown` turns true.
pub async fn serve<S: Sandbox>(
    listener: TcpListener,
    functions: Functions<S>,
    tables: Arc<MemoryTables>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let (stream, _) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "gateway accept failed");
                continue;
            }
        };
        stream.set_nodelay(true).ok();
        let (functions, tables) = (functions.clone(), tables.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, functions.clone(), tables.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

pub fn url(addr: SocketAddr, function: &str) -> String {
    format!("http://{addr}/functions/{function}")
}

async fn handle<S: Sandbox>(
    req: Request<Incoming>,
    functions: Functions<S>,
    tables: Arc<MemoryTables>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if let Some(operation) = req.uri().path().strip_prefix("/nosql/") {
        let operation = operation.to_string();
        return Ok(nosql_reply(req, &tables, &operation).await);
    }
    let name = req
        .uri()
        .path()
        .strip_prefix("/functions/")
        .map(str::to_string);
    let pool = name
        .as_ref()
        .and_then(|n| functions.read().ok()?.get(n).cloned());
    let Some(pool) = pool else {
        let message = format!("no function at {}", req.uri().path());
        return Ok(error_reply(
            StatusCode::NOT_FOUND,
            ErrorKind::HttpStatus,
            &message,
            None,
        ));
    };
    if req.method() != http::Method::POST {
        return Ok(error_reply(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::HttpStatus,
            "use POST",
            None,
        ));
    }
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(sebs_worker::new_request_id);
    let event = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Ok(error_reply(
                StatusCode::BAD_REQUEST,
                ErrorKind::HttpStatus,
                &e.to_string(),
                None,
            ))
        }
    };
    let served = pool.invoke(event, &request_id).await;
    let mut response = match served.result {
        Ok(reply) => {
            let mut r = Response::new(Full::new(reply.body));
            *r.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY);
            let h = r.headers_mut();
            h.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            h.insert(EXECUTION_HEADER, reply.execution_us.into());
            h.insert(MEMORY_HEADER, reply.peak_kib.into());
            r
        }
        Err(failure) => {
            let status = match failure.kind {
                ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
                _ => StatusCode::BAD_GATEWAY,
            };
            let mut r = error_reply(status, failure.kind, &failure.message, Some(&request_id));
            r.headers_mut()
                .insert(EXECUTION_HEADER, failure.execution_us.into());
            r
        }
    };
    let h = response.headers_mut();
    h.insert(INSTANCE_HEADER, served.instance_id.into());
    h.insert(INIT_HEADER, served.init_us.into());
    Ok(response)
}

async fn nosql_reply(
    req: Request<Incoming>,
    tables: &MemoryTables,
    operation: &str,
) -> Response<Full<Bytes>> {
    let (status, reply) = if req.method() != http::Method::POST {
        let e = serde_json::json!({"error": "use POST"});
        (StatusCode::METHOD_NOT_ALLOWED, e)
    } else {
        match req.into_body().collect().await {
            Ok(body) => nosql_api::handle(tables, operation, &body.to_bytes()).await,
            Err(e) => (
                StatusCode::BAD_REQUEST,
                serde_json::json!({"error": e.to_string()}),
            ),
        }
    };
    let mut r = Response::new(Full::new(Bytes::from(reply.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn error_reply(
    status: StatusCode,
    kind: ErrorKind,
    message: &str,
    request_id: Option<&str>,
) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "error": {"kind": kind.as_str(), "message": message},
        "request_id": request_id,
    });
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    h.insert(
        ERROR_KIND_HEADER,
        http::HeaderValue::from_static(kind.as_str()),
    );
    r
}
