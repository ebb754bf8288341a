//! The file server of 120.uploader: `GET` (and `HEAD`) of the files under one folder.

use std::convert::Infallible;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::{now, record, FileRequest, SharedLog};

pub(super) async fn serve(
    listener: TcpListener,
    root: PathBuf,
    log: SharedLog,
    mut stop: watch::Receiver<bool>,
) {
    let root = Arc::new(root);
    loop {
        let (stream, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!(error = %e, "http client side: accept failed");
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let (root, log) = (root.clone(), log.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| answer(req, root.clone(), log.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    req: Request<Incoming>,
    root: Arc<PathBuf>,
    log: SharedLog,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let received = now();
    let path = req.uri().path().to_string();
    let (status, body) = if req.method() != Method::GET && req.method() != Method::HEAD {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            Bytes::from_static(b"use GET\n"),
        )
    } else {
        match resolve(&root, &path) {
            None => (StatusCode::NOT_FOUND, Bytes::from_static(b"no such file\n")),
            Some(file) => match tokio::fs::read(&file).await {
                Ok(data) => (StatusCode::OK, Bytes::from(data)),
                Err(_) => (StatusCode::NOT_FOUND, Bytes::from_static(b"no such file\n")),
            },
        }
    };
    let bytes = body.len() as u64;
    record(&log, |l| {
        l.requests.push(FileRequest {
            path,
            status: status.as_u16(),
            bytes,
            received,
        })
    });
    let length = body.len();
    let body = if req.method() == Method::HEAD {
        Bytes::new()
    } else {
        body
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_LENGTH, length.into());
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/octet-stream"),
    );
    Ok(response)
}

/// The file a URL path names under `root`, if it is a plain relative path to a file there.
fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let relative = Path::new(url_path.trim_start_matches('/'));
    if relative.as_os_str().is_empty()
        || !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
    {
        return None;
    }
    let file = root.join(relative);
    file.is_file().then_some(file)
}
