//! OpenWhisk's REST API (`/api/v1`), the calls sebs makes: get, create or update an action,
//! invoke it blocking, read an activation. Plain HTTP/1.1 with the namespace's basic-auth
//! credentials, one connection per call (control-plane calls are few).

use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::{Method, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;

use crate::records::{ActionBody, ActionRecord, Activation};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// OpenWhisk answered with an error (`{"error": ..., "code": ...}`).
    #[error("OpenWhisk refused {what} with {status}: {message}{}", code.as_ref().map(|c| format!(" (code {c})")).unwrap_or_default())]
    Refused {
        what: String,
        status: u16,
        message: String,
        code: Option<String>,
    },
    #[error("cannot reach OpenWhisk at {host} for {what}: {detail}")]
    Unreachable {
        host: String,
        what: String,
        detail: String,
    },
    #[error("OpenWhisk's reply to {what} is not what its API documents: {detail}")]
    InvalidReply { what: String, detail: String },
}

/// A blocking invocation's outcome.
#[derive(Debug)]
pub enum Invoked {
    /// The activation finished within OpenWhisk's blocking window (its record, success or not).
    Done(Box<Activation>),
    /// Still running when the blocking window (60 s) ended: `202` with the activation id.
    Accepted(String),
}

#[derive(Clone, Debug)]
pub struct ApiClient {
    host: String,
    port: u16,
    authorization: Option<String>,
    namespace: String,
    timeout: Duration,
}

impl ApiClient {
    /// `api_host` is `http://HOST[:PORT]`; `auth` is `UUID:KEY`.
    pub fn new(api_host: &str, auth: Option<&str>, namespace: &str) -> Result<Self, String> {
        let uri: Uri = api_host
            .parse()
            .map_err(|e| format!("`{api_host}` is not an address: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("`{api_host}` is not an http:// address"));
        }
        let host = uri.host().ok_or(format!("`{api_host}` names no host"))?;
        Ok(ApiClient {
            host: host.to_string(),
            port: uri.port_u16().unwrap_or(80),
            authorization: auth.map(|a| {
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(a)
                )
            }),
            namespace: namespace.to_string(),
            timeout: Duration::from_secs(90),
        })
    }

    /// The action, or `None` when it does not exist.
    pub async fn get_action(&self, name: &str) -> Result<Option<ActionRecord>, ApiError> {
        let what = format!("getting action {name}");
        let (status, body) = self
            .call(Method::GET, &self.action_path(name, ""), None, &what)
            .await?;
        match status {
            StatusCode::OK => parse(&body, &what).map(Some),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(refused(status, &body, what)),
        }
    }

    /// Creates the action, or replaces it (`overwrite=true`): its warm containers are retired.
    pub async fn put_action(
        &self,
        name: &str,
        action: &ActionBody,
    ) -> Result<ActionRecord, ApiError> {
        let what = format!("creating or updating action {name}");
        let body = serde_json::to_vec(action).map_err(|e| ApiError::InvalidReply {
            what: what.clone(),
            detail: e.to_string(),
        })?;
        let path = self.action_path(name, "?overwrite=true");
        let (status, reply) = self.call(Method::PUT, &path, Some(body), &what).await?;
        match status {
            StatusCode::OK => parse(&reply, &what),
            _ => Err(refused(status, &reply, what)),
        }
    }

    /// Deletes the action; one already gone is not an error.
    pub async fn delete_action(&self, name: &str) -> Result<(), ApiError> {
        let what = format!("deleting action {name}");
        let path = self.action_path(name, "");
        let (status, body) = self.call(Method::DELETE, &path, None, &what).await?;
        match status {
            StatusCode::OK | StatusCode::NOT_FOUND => Ok(()),
            _ => Err(refused(status, &body, what)),
        }
    }

    /// Invokes the action and waits for its activation (`blocking=true`).
    pub async fn invoke_blocking(&self, name: &str, params: &Bytes) -> Result<Invoked, ApiError> {
        let what = format!("invoking action {name}");
        let path = self.action_path(name, "?blocking=true&result=false");
        let (status, body) = self
            .call(Method::POST, &path, Some(params.to_vec()), &what)
            .await?;
        if status == StatusCode::ACCEPTED {
            let accepted: serde_json::Value = parse(&body, &what)?;
            return match accepted["activationId"].as_str() {
                Some(id) => Ok(Invoked::Accepted(id.to_string())),
                None => Err(ApiError::InvalidReply {
                    what,
                    detail: "202 without an activationId".into(),
                }),
            };
        }
        // A failed action still has an activation record: 502 for an application error, 500
        // for a developer error or a platform failure.
        match serde_json::from_slice::<Activation>(&body) {
            Ok(activation) => Ok(Invoked::Done(Box::new(activation))),
            Err(_) if status.is_success() => Err(ApiError::InvalidReply {
                what,
                detail: format!("not an activation record: {}", preview(&body)),
            }),
            Err(_) => Err(refused(status, &body, what)),
        }
    }

    /// An activation's record, or `None` while OpenWhisk has not stored it yet.
    pub async fn get_activation(&self, id: &str) -> Result<Option<Activation>, ApiError> {
        let what = format!("getting activation {id}");
        let path = format!("/api/v1/namespaces/{}/activations/{id}", self.namespace);
        let (status, body) = self.call(Method::GET, &path, None, &what).await?;
        match status {
            StatusCode::OK => parse(&body, &what).map(Some),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(refused(status, &body, what)),
        }
    }

    fn action_path(&self, name: &str, query: &str) -> String {
        format!(
            "/api/v1/namespaces/{}/actions/{name}{query}",
            self.namespace
        )
    }

    /// One request on a new connection; any status is returned, transport failures are errors.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        what: &str,
    ) -> Result<(StatusCode, Bytes), ApiError> {
        let unreachable = |detail: String| ApiError::Unreachable {
            host: format!("{}:{}", self.host, self.port),
            what: what.to_string(),
            detail,
        };
        let exchange = async {
            let stream = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| e.to_string())?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let mut request = http::Request::builder()
                .method(method)
                .uri(path)
                .header(http::header::HOST, format!("{}:{}", self.host, self.port))
                .header(http::header::ACCEPT, "application/json");
            if let Some(auth) = &self.authorization {
                request = request.header(http::header::AUTHORIZATION, auth);
            }
            if body.is_some() {
                request = request.header(http::header::CONTENT_TYPE, "application/json");
            }
            let request = request
                .body(Full::new(Bytes::from(body.unwrap_or_default())))
                .map_err(|e| e.to_string())?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>((status, bytes))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result.map_err(unreachable),
            Err(_) => Err(unreachable(format!("no reply within {:?}", self.timeout))),
        }
    }
}

fn parse<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::InvalidReply {
        what: what.to_string(),
        detail: format!("{e}: {}", preview(body)),
    })
}

/// OpenWhisk's error body is `{"error": "...", "code": "..."}`; anything else is quoted.
fn refused(status: StatusCode, body: &[u8], what: String) -> ApiError {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    ApiError::Refused {
        what,
        status: status.as_u16(),
        message: json["error"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| preview(body)),
        code: json["code"]
            .as_str()
            .map(str::to_string)
            .or_else(|| json["code"].as_u64().map(|c| c.to_string())),
    }
}

fn preview(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.into_owned(),
    }
}
