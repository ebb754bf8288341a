//! A small Azure Resource Manager (ARM) REST client: bearer tokens, JSON bodies, ARM's error
//! shapes, retries of throttled and transient replies, and long-running operations.
//!
//! A long-running PUT, POST or DELETE answers 201 or 202 and says where to follow it: the
//! `Azure-AsyncOperation` header (an operation resource whose `status` becomes `Succeeded`,
//! `Failed` or `Canceled`) or the `Location` header (202 while running, then the result). A
//! resource created with 200/201 may also still be `provisioningState: Creating`; it is read
//! again until it settles. `Retry-After` decides the pause between polls when the service sends
//! it.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;

use crate::credentials::TokenSource;

/// Replies retried before they count as failures.
const TRANSIENT: [u16; 5] = [429, 500, 502, 503, 504];
const MAX_ATTEMPTS: u32 = 4;

/// A failed ARM request: the service's status, error code and message.
#[derive(Debug, thiserror::Error)]
#[error("{method} {path}: HTTP {status} {code}: {message}")]
pub struct ArmError {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub code: String,
    pub message: String,
}

/// A successful reply.
#[derive(Debug)]
pub struct ArmReply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Debug)]
pub struct Arm {
    http: reqwest::Client,
    endpoint: String,
    tokens: TokenSource,
    poll: Duration,
    timeout: Duration,
}

impl Arm {
    pub fn new(
        http: reqwest::Client,
        endpoint: &str,
        tokens: TokenSource,
        poll: Duration,
        timeout: Duration,
    ) -> Self {
        Arm {
            http,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            tokens,
            poll,
            timeout,
        }
    }

    pub fn tokens(&self) -> &TokenSource {
        &self.tokens
    }

    pub fn poll_interval(&self) -> Duration {
        self.poll
    }

    pub fn operation_timeout(&self) -> Duration {
        self.timeout
    }

    /// `/subscriptions/<id>`.
    pub fn subscription_path(&self) -> String {
        format!("/subscriptions/{}", self.tokens.principal().subscription_id)
    }

    /// One request to `path` (below the management endpoint, or a full URL), retried while the
    /// service answers 429 or 5xx. A non-2xx reply is an [`ArmError`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        api_version: &str,
        body: Option<&Value>,
    ) -> Result<ArmReply> {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.endpoint)
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(self.tokens.token().await?);
            if !url.contains("api-version=") {
                request = request.query(&[("api-version", api_version)]);
            }
            request = match body {
                Some(b) => request.json(b),
                // ARM wants a length on bodiless POSTs (listKeys, restart).
                None if method == Method::POST => request.header("content-length", "0"),
                None => request,
            };
            let reply = request
                .send()
                .await
                .with_context(|| format!("{method} {url}"))?;
            let status = reply.status().as_u16();
            let headers = reply.headers().clone();
            let bytes = reply.bytes().await.unwrap_or_default();
            if (200..300).contains(&status) {
                let body = if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes)
                        .with_context(|| format!("{method} {url}: the reply is not JSON"))?
                };
                return Ok(ArmReply {
                    status,
                    headers,
                    body,
                });
            }
            if TRANSIENT.contains(&status) && attempt < MAX_ATTEMPTS {
                let pause = retry_after(&headers).unwrap_or(self.poll * attempt);
                tracing::debug!(%method, %url, status, attempt, "azure throttled or failed; retrying");
                tokio::time::sleep(pause).await;
                continue;
            }
            let (code, message) = error_of(&bytes);
            return Err(ArmError {
                method: method.to_string(),
                path: strip_query(path).to_string(),
                status,
                code,
                message,
            }
            .into());
        }
    }

    /// GET, with 404 as `None`.
    pub async fn get_opt(&self, path: &str, api_version: &str) -> Result<Option<Value>> {
        match self.call(Method::GET, path, api_version, None).await {
            Ok(reply) => Ok(Some(reply.body)),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A request that may start a long-running operation; returns the final resource (for PUT
    /// and PATCH the resource read back, otherwise the operation's result).
    pub async fn call_and_wait(
        &self,
        method: Method,
        path: &str,
        api_version: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let what = format!("{method} {}", strip_query(path));
        let started = Instant::now();
        let first = self.call(method.clone(), path, api_version, body).await?;
        let reads_back = method == Method::PUT || method == Method::PATCH;
        if let Some(operation) = header(&first.headers, "azure-asyncoperation") {
            self.follow_async_operation(&what, &operation, api_version, started, &first.headers)
                .await?;
            return if reads_back {
                Ok(self.call(Method::GET, path, api_version, None).await?.body)
            } else {
                Ok(Value::Null)
            };
        }
        if first.status == 202 {
            if let Some(location) = header(&first.headers, "location") {
                let result = self
                    .follow_location(&what, &location, api_version, started, &first.headers)
                    .await?;
                return if reads_back {
                    Ok(self.call(Method::GET, path, api_version, None).await?.body)
                } else {
                    Ok(result)
                };
            }
        }
        if reads_back {
            return self
                .settle(&what, path, api_version, started, first.body)
                .await;
        }
        Ok(first.body)
    }

    async fn follow_async_operation(
        &self,
        what: &str,
        url: &str,
        api_version: &str,
        started: Instant,
        headers: &HeaderMap,
    ) -> Result<()> {
        let mut pause = retry_after(headers).unwrap_or(self.poll);
        loop {
            self.wait(what, started, pause).await?;
            let reply = self.call(Method::GET, url, api_version, None).await?;
            match reply.body["status"].as_str().unwrap_or("") {
                "Succeeded" => return Ok(()),
                "Failed" | "Canceled" => {
                    let status = reply.body["status"].as_str().unwrap_or_default();
                    let error = &reply.body["error"];
                    anyhow::bail!(
                        "{what}: the operation {}: {} {}",
                        status.to_lowercase(),
                        error["code"].as_str().unwrap_or(""),
                        error["message"].as_str().unwrap_or("")
                    );
                }
                _ => pause = retry_after(&reply.headers).unwrap_or(self.poll),
            }
        }
    }

    async fn follow_location(
        &self,
        what: &str,
        url: &str,
        api_version: &str,
        started: Instant,
        headers: &HeaderMap,
    ) -> Result<Value> {
        let mut pause = retry_after(headers).unwrap_or(self.poll);
        loop {
            self.wait(what, started, pause).await?;
            let reply = self.call(Method::GET, url, api_version, None).await?;
            if reply.status != 202 {
                return Ok(reply.body);
            }
            pause = retry_after(&reply.headers).unwrap_or(self.poll);
        }
    }

    /// Reads a resource again while its `provisioningState` is neither `Succeeded` nor absent.
    async fn settle(
        &self,
        what: &str,
        path: &str,
        api_version: &str,
        started: Instant,
        mut resource: Value,
    ) -> Result<Value> {
        loop {
            match resource["properties"]["provisioningState"].as_str() {
                None | Some("Succeeded") => return Ok(resource),
                Some(state @ ("Failed" | "Canceled")) => {
                    anyhow::bail!("{what}: provisioning {}", state.to_lowercase())
                }
                Some(_) => {
                    self.wait(what, started, self.poll).await?;
                    resource = self.call(Method::GET, path, api_version, None).await?.body;
                }
            }
        }
    }

    async fn wait(&self, what: &str, started: Instant, pause: Duration) -> Result<()> {
        if started.elapsed() + pause > self.timeout {
            anyhow::bail!(
                "{what}: still running after {:.0} s (deployment.azure.operation_timeout)",
                started.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(pause).await;
        Ok(())
    }
}

/// The HTTP status of a failed ARM request, if that is what `e` is.
pub fn status_of(e: &anyhow::Error) -> Option<u16> {
    e.downcast_ref::<ArmError>().map(|a| a.status)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `Retry-After` in seconds, at most a minute.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    header(headers, "retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(60)))
}

fn strip_query(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

/// ARM's `{"error": {"code", "message"}}`, or App Service's `{"Code", "Message"}`.
fn error_of(body: &[u8]) -> (String, String) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(body);
        return (String::new(), text.chars().take(500).collect());
    };
    let error = if value["error"].is_object() {
        &value["error"]
    } else {
        &value
    };
    let field = |lower: &str, upper: &str| {
        error[lower]
            .as_str()
            .or_else(|| error[upper].as_str())
            .unwrap_or("")
            .to_string()
    };
    (field("code", "Code"), field("message", "Message"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_error_shapes() {
        let arm = br#"{"error":{"code":"ResourceGroupNotFound","message":"Resource group 'rg' could not be found."}}"#;
        assert_eq!(
            error_of(arm),
            (
                "ResourceGroupNotFound".into(),
                "Resource group 'rg' could not be found.".into()
            )
        );
        let app_service = br#"{"Code":"Conflict","Message":"Website with given name x already exists.","Target":null}"#;
        assert_eq!(error_of(app_service).0, "Conflict");
        assert_eq!(
            error_of(b"<html>bad gateway</html>").1,
            "<html>bad gateway</html>"
        );
    }
}
