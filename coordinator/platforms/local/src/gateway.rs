//! The local platform's HTTP front end, as a FaaS gateway: `POST /functions/<name>` runs the
//! event on an instance of that function and returns the wrapper's reply, with what the platform
//! measured in `x-sebs-*` headers (the local counterpart of AWS's REPORT log line).
//!
//! Being plain HTTP, the same endpoint serves triggers in this process and workers elsewhere.
//! `POST /nosql/<operation>` serves the platform's NoSQL tables to function instances
//! (`nosql_api`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sebs_common::ErrorKind;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::nosql::MemoryTables;
use super::nosql_api;
use super::pool::FunctionPool;

pub const INSTANCE_HEADER: &str = "x-sebs-instance";
pub const INIT_HEADER: &str = "x-sebs-init-us";
pub const EXECUTION_HEADER: &str = "x-sebs-execution-us";
pub const MEMORY_HEADER: &str = "x-sebs-memory-kib";
pub const ERROR_KIND_HEADER: &str = "x-sebs-error-kind";

pub type Functions = Arc<RwLock<HashMap<String, Arc<FunctionPool>>>>;

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

/// Accepts connections until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    functions: Functions,
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

async fn handle(
    req: Request<Incoming>,
    functions: Functions,
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
