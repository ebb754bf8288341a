//! The Cloud Functions v2 REST API (2nd-gen functions, which run as Cloud Run services), and
//! the Cloud Run IAM policy that decides who may invoke them.
//!
//! Source code goes up through `functions:generateUploadUrl` (a signed URL that takes a `PUT` of
//! the zip without further authentication). Creating, updating and deleting a function starts a
//! long-running operation (`projects/*/locations/*/operations/*`), polled until `done`; a failed
//! build or roll-out comes back as the operation's `error`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use reqwest::Method;
use serde_json::{json, Value};

use crate::credentials::Tokens;

/// Replies retried before they count as failures.
const TRANSIENT: [u16; 4] = [429, 500, 502, 503];
const MAX_ATTEMPTS: u32 = 4;

/// A failed Google API request, with Google's canonical status (`NOT_FOUND`, ...).
#[derive(Debug, thiserror::Error)]
#[error("{method} {path}: HTTP {code} {status}: {message}")]
pub struct GoogleError {
    pub method: String,
    pub path: String,
    pub code: u16,
    pub status: String,
    pub message: String,
}

pub fn code_of(e: &anyhow::Error) -> Option<u16> {
    e.downcast_ref::<GoogleError>().map(|g| g.code)
}

#[derive(Debug)]
pub struct CloudFunctions {
    pub http: reqwest::Client,
    pub functions_endpoint: String,
    pub run_endpoint: String,
    pub tokens: Tokens,
    pub project: String,
    pub region: String,
    pub poll: Duration,
    pub timeout: Duration,
}

impl CloudFunctions {
    /// `projects/<p>/locations/<r>`.
    pub fn parent(&self) -> String {
        format!("projects/{}/locations/{}", self.project, self.region)
    }

    /// `projects/<p>/locations/<r>/functions/<name>`.
    pub fn function_name(&self, name: &str) -> String {
        format!("{}/functions/{name}", self.parent())
    }

    /// One authenticated JSON request, retried on 429 and 5xx.
    pub async fn call(&self, method: Method, url: &str, body: Option<&Value>) -> Result<Value> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .http
                .request(method.clone(), url)
                .header("authorization", self.tokens.authorization().await?);
            if let Some(body) = body {
                request = request.json(body);
            }
            let reply = request
                .send()
                .await
                .with_context(|| format!("{method} {url}"))?;
            let code = reply.status().as_u16();
            let bytes = reply.bytes().await.unwrap_or_default();
            if (200..300).contains(&code) {
                if bytes.is_empty() {
                    return Ok(Value::Null);
                }
                return serde_json::from_slice(&bytes)
                    .with_context(|| format!("{method} {url}: the reply is not JSON"));
            }
            if TRANSIENT.contains(&code) && attempt < MAX_ATTEMPTS {
                tracing::debug!(%method, url, code, attempt, "google api throttled or failed; retrying");
                tokio::time::sleep(self.poll * attempt).await;
                continue;
            }
            let error: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(GoogleError {
                method: method.to_string(),
                path: url.split('?').next().unwrap_or(url).to_string(),
                code,
                status: error["error"]["status"].as_str().unwrap_or("").to_string(),
                message: error["error"]["message"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(500).collect()),
            }
            .into());
        }
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/v2/{path}",
            self.functions_endpoint.trim_end_matches('/')
        )
    }

    /// The function, or `None` when it does not exist.
    pub async fn get(&self, name: &str) -> Result<Option<Value>> {
        match self
            .call(Method::GET, &self.url(&self.function_name(name)), None)
            .await
        {
            Ok(function) => Ok(Some(function)),
            Err(e) if code_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Uploads a source zip; returns the `storageSource` to build the function from.
    pub async fn upload_source(&self, zip: Vec<u8>) -> Result<Value> {
        let url = self.url(&format!("{}/functions:generateUploadUrl", self.parent()));
        let reply = self
            .call(Method::POST, &url, Some(&json!({"environment": "GEN_2"})))
            .await
            .context("asking Cloud Functions for an upload URL")?;
        let upload_url = reply["uploadUrl"]
            .as_str()
            .context("generateUploadUrl returned no uploadUrl")?;
        let size = zip.len();
        // The signed URL is the authorization; an Authorization header would be refused.
        let put = self
            .http
            .put(upload_url)
            .header("content-type", "application/zip")
            .body(zip)
            .send()
            .await
            .context("uploading the function's source")?;
        if !put.status().is_success() {
            let code = put.status().as_u16();
            let body = put.text().await.unwrap_or_default();
            bail!(
                "uploading the function's source was refused (HTTP {code}): {}",
                body.chars().take(500).collect::<String>()
            );
        }
        tracing::debug!(bytes = size, "function source uploaded");
        Ok(reply["storageSource"].clone())
    }

    /// Creates the function and waits until it is deployed.
    pub async fn create(&self, name: &str, function: &Value) -> Result<()> {
        let url = format!(
            "{}?functionId={name}",
            self.url(&format!("{}/functions", self.parent()))
        );
        let operation = self
            .call(Method::POST, &url, Some(function))
            .await
            .with_context(|| format!("creating function {name}"))?;
        self.wait(&format!("creating function {name}"), operation)
            .await
    }

    /// Changes the fields of `mask` (comma-separated paths) and waits for the new revision.
    pub async fn patch(&self, name: &str, function: &Value, mask: &str) -> Result<()> {
        let url = format!("{}?updateMask={mask}", self.url(&self.function_name(name)));
        let operation = self
            .call(Method::PATCH, &url, Some(function))
            .await
            .with_context(|| format!("updating function {name}"))?;
        self.wait(&format!("updating function {name}"), operation)
            .await
    }

    /// Deletes the function (nothing to do when it is gone).
    pub async fn delete(&self, name: &str) -> Result<()> {
        let operation = match self
            .call(Method::DELETE, &self.url(&self.function_name(name)), None)
            .await
        {
            Ok(operation) => operation,
            Err(e) if code_of(&e) == Some(404) => return Ok(()),
            Err(e) => return Err(e.context(format!("deleting function {name}"))),
        };
        self.wait(&format!("deleting function {name}"), operation)
            .await
    }

    /// Polls a long-running operation until it is done; its `error` becomes ours.
    async fn wait(&self, what: &str, mut operation: Value) -> Result<()> {
        let started = Instant::now();
        let name = operation["name"]
            .as_str()
            .with_context(|| format!("{what}: the reply is not an operation"))?
            .to_string();
        while operation["done"] != true {
            if started.elapsed() + self.poll > self.timeout {
                bail!(
                    "{what}: still running after {:.0} s (deployment.gcp.operation_timeout); \
                     operation {name}",
                    started.elapsed().as_secs_f64()
                );
            }
            tokio::time::sleep(self.poll).await;
            operation = self.call(Method::GET, &self.url(&name), None).await?;
        }
        if let Some(error) = operation.get("error") {
            bail!(
                "{what} failed (code {}): {}",
                error["code"],
                error["message"].as_str().unwrap_or("")
            );
        }
        Ok(())
    }

    /// Lets everyone invoke `service` (`projects/*/locations/*/services/*`): adds `allUsers` to
    /// `roles/run.invoker` unless the policy has it, keeping the policy's other bindings.
    pub async fn allow_public(&self, service: &str) -> Result<()> {
        let base = format!("{}/v2/{service}", self.run_endpoint.trim_end_matches('/'));
        let mut policy = self
            .call(Method::GET, &format!("{base}:getIamPolicy"), None)
            .await
            .with_context(|| format!("reading the IAM policy of {service}"))?;
        if policy.is_null() {
            policy = json!({});
        }
        let bindings = policy["bindings"].as_array().cloned().unwrap_or_default();
        let public = bindings.iter().any(|b| {
            b["role"] == "roles/run.invoker"
                && b["members"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|x| x == "allUsers"))
        });
        if public {
            return Ok(());
        }
        let mut bindings = bindings;
        match bindings
            .iter_mut()
            .find(|b| b["role"] == "roles/run.invoker")
        {
            Some(binding) => match binding["members"].as_array_mut() {
                Some(members) => members.push(json!("allUsers")),
                None => binding["members"] = json!(["allUsers"]),
            },
            None => bindings.push(json!({"role": "roles/run.invoker", "members": ["allUsers"]})),
        }
        policy["bindings"] = Value::Array(bindings);
        self.call(
            Method::POST,
            &format!("{base}:setIamPolicy"),
            Some(&json!({ "policy": policy })),
        )
        .await
        .with_context(|| {
            format!(
                "letting everyone invoke {service} (an organization policy may forbid `allUsers`; \
                 set deployment.gcp.allow_unauthenticated to false to skip this)"
            )
        })?;
        Ok(())
    }
}
