//! A real HTTP server on 127.0.0.1 that answers OpenWhisk's REST routes with recorded bodies
//! (`tests/recorded/`), in the order they are queued per route, and keeps every request it saw.
//! A request no queued reply matches gets OpenWhisk's 404 body.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// One request the server saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub authorization: Option<String>,
    pub body: serde_json::Value,
}

#[derive(Debug)]
struct Route {
    method: &'static str,
    target: String,
    replies: VecDeque<(u16, String)>,
}

#[derive(Clone, Debug, Default)]
pub struct RecordedServer {
    routes: Arc<Mutex<Vec<Route>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

pub fn recorded(file: &str) -> String {
    let path = sebs_testkit::repo_root()
        .join("coordinator/platforms/openwhisk/tests/recorded")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

impl RecordedServer {
    /// Queues `file` (from tests/recorded) as the next reply to `method target`.
    pub fn reply(&self, method: &'static str, target: &str, status: u16, file: &str) -> &Self {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let body = recorded(file);
        match routes
            .iter_mut()
            .find(|r| r.method == method && r.target == target)
        {
            Some(route) => route.replies.push_back((status, body)),
            None => routes.push(Route {
                method,
                target: target.to_string(),
                replies: VecDeque::from([(status, body)]),
            }),
        }
        self
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Serves on a free port of 127.0.0.1 until the test's runtime ends.
    pub async fn start(&self) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let server = self.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let server = server.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let server = server.clone();
                        async move { Ok::<_, Infallible>(server.answer(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        address
    }

    async fn answer(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<Full<Bytes>> {
        let method = req.method().to_string();
        let target = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        let authorization = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Seen {
                method: method.clone(),
                target: target.clone(),
                authorization,
                body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
            });
        let next = self
            .routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter_mut()
            .find(|r| r.method == method && r.target == target)
            .and_then(|r| r.replies.pop_front());
        let (status, body) = next.unwrap_or_else(|| (404, recorded("action-not-found.json")));
        let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() =
            http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::IM_A_TEAPOT);
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        response
    }
}
