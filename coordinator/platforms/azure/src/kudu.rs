//! Zip deployment through Kudu, the function app's deployment service (the SCM site).
//!
//! `POST /api/zipdeploy?isAsync=true` with the zip answers 202 and a `Location` to poll
//! (`/api/deployments/latest`); the deployment's `status` is 0 pending, 1 building, 2 deploying,
//! 3 failed or 4 succeeded, and `complete` says it ended. A failed deployment's log entries
//! (`log_url`) say why. Kudu takes the same Entra ID token as Resource Manager.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::arm::Arm;

const FAILED: i64 = 3;
const SUCCEEDED: i64 = 4;

/// Deploys `zip` to the app whose Kudu site is `kudu` (`https://<app>.scm.azurewebsites.net`)
/// and waits until the deployment ends.
pub async fn zip_deploy(http: &reqwest::Client, arm: &Arm, kudu: &str, zip: Vec<u8>) -> Result<()> {
    let kudu = kudu.trim_end_matches('/');
    let url = format!("{kudu}/api/zipdeploy?isAsync=true");
    let size = zip.len();
    let reply = http
        .post(&url)
        .bearer_auth(arm.tokens().token().await?)
        .header("content-type", "application/zip")
        .body(zip)
        .send()
        .await
        .with_context(|| format!("uploading the package to {url}"))?;
    let status = reply.status().as_u16();
    if !matches!(status, 200 | 202) {
        let body = reply.text().await.unwrap_or_default();
        bail!(
            "zip deploy to {kudu} refused (HTTP {status}): {}",
            body.chars().take(500).collect::<String>()
        );
    }
    tracing::info!(
        kudu,
        bytes = size,
        "package uploaded; waiting for the deployment"
    );
    let poll = reply
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| format!("{kudu}/api/deployments/latest"));
    let started = Instant::now();
    loop {
        if started.elapsed() > arm.operation_timeout() {
            bail!(
                "the deployment to {kudu} did not finish within {:.0} s (deployment.azure.operation_timeout)",
                arm.operation_timeout().as_secs_f64()
            );
        }
        tokio::time::sleep(arm.poll_interval()).await;
        let reply = http
            .get(&poll)
            .bearer_auth(arm.tokens().token().await?)
            .send()
            .await
            .with_context(|| format!("reading the deployment status at {poll}"))?;
        // 202: accepted but not started.
        if reply.status().as_u16() == 202 {
            continue;
        }
        if !reply.status().is_success() {
            bail!(
                "reading the deployment status at {poll}: HTTP {}",
                reply.status().as_u16()
            );
        }
        let deployment: Value = reply
            .json()
            .await
            .with_context(|| format!("the deployment status at {poll} is not JSON"))?;
        match (
            deployment["status"].as_i64(),
            deployment["complete"].as_bool(),
        ) {
            (Some(SUCCEEDED), Some(true)) => return Ok(()),
            (Some(FAILED), _) => {
                let log = failure_log(http, arm, &deployment).await;
                bail!(
                    "the deployment to {kudu} failed: {}{log}",
                    deployment["status_text"].as_str().unwrap_or("")
                );
            }
            _ => {}
        }
    }
}

/// The messages of a failed deployment's log, as ` (message; message)`, or nothing.
async fn failure_log(http: &reqwest::Client, arm: &Arm, deployment: &Value) -> String {
    let Some(url) = deployment["log_url"].as_str() else {
        return String::new();
    };
    let Ok(token) = arm.tokens().token().await else {
        return String::new();
    };
    let entries: Vec<Value> = match http.get(url).bearer_auth(token).send().await {
        Ok(reply) => reply.json().await.unwrap_or_default(),
        Err(_) => return String::new(),
    };
    let messages: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    if messages.is_empty() {
        String::new()
    } else {
        format!(" ({})", messages.join("; "))
    }
}
