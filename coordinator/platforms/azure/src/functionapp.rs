//! Function apps over Azure Resource Manager: what `az functionapp create` and `az functionapp
//! config appsettings` do, as REST calls.
//!
//! One benchmark function is one function app on a shared Linux Consumption plan; the app holds
//! one function, `handler`, reached at `https://<app>.azurewebsites.net/api/handler` with the
//! app's default function key. App settings carry the runtime, the storage connection, the
//! deployed package's hash (so unchanged code is not uploaded again) and `cold_start`, whose
//! change restarts the app and so retires its warm instances.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use reqwest::Method;
use sebs_common::Language;
use serde_json::{json, Value};

use sebs_platform::{Resource, ResourceLog};

use crate::arm::{status_of, Arm};
use crate::resources::AzureResources;

pub const WEB_API: &str = "2022-03-01";
/// The one function of every app (the folder `handler/` of the package).
pub const FUNCTION: &str = "handler";
/// App setting holding the hash of the deployed package.
pub const HASH_SETTING: &str = "SEBS_PACKAGE_HASH";
/// App setting the wrapper reports back as `cold_start_var`.
pub const COLD_START_SETTING: &str = "cold_start";

/// A function app, as sebs needs it.
#[derive(Clone, Debug)]
pub struct FunctionApp {
    pub name: String,
    /// `<app>.azurewebsites.net`.
    pub host: String,
}

pub fn site_path(arm: &Arm, resources: &AzureResources, app: &str) -> String {
    format!(
        "{}/providers/Microsoft.Web/sites/{app}",
        resources.group_path(arm)
    )
}

/// Azure's name for a runtime: (`FUNCTIONS_WORKER_RUNTIME`, `linuxFxVersion`).
pub fn runtime(language: Language, version: &str) -> (&'static str, String) {
    match language {
        Language::Python => ("python", format!("PYTHON|{version}")),
        Language::Nodejs => ("node", format!("NODE|{version}")),
    }
}

/// Creates the shared Linux Consumption plan unless it exists (recording it); returns its
/// resource id.
pub async fn ensure_plan(
    arm: &Arm,
    resources: &AzureResources,
    log: &ResourceLog,
) -> Result<String> {
    let path = format!(
        "{}/providers/Microsoft.Web/serverfarms/sebs-linux-consumption-{}",
        resources.group_path(arm),
        resources.resources_id
    );
    if arm.get_opt(&path, WEB_API).await?.is_none() {
        tracing::info!(region = %resources.region, "creating azure consumption plan");
        let body = json!({
            "location": resources.region,
            "kind": "functionapp",
            "sku": {"name": "Y1", "tier": "Dynamic"},
            // `reserved` makes it a Linux plan.
            "properties": {"reserved": true}
        });
        arm.call_and_wait(Method::PUT, &path, WEB_API, Some(&body))
            .await
            .context("creating the consumption plan")?;
        let name = path.rsplit('/').next().unwrap_or_default().to_string();
        log.record(Resource::new("plan", &name, Some(path.clone())))?;
    }
    Ok(path)
}

/// The app, when it exists.
pub async fn get(arm: &Arm, resources: &AzureResources, app: &str) -> Result<Option<FunctionApp>> {
    let site = arm
        .get_opt(&site_path(arm, resources, app), WEB_API)
        .await?;
    site.map(|s| read_site(app, &s)).transpose()
}

/// Creates the app on `plan` with `settings`.
pub async fn create(
    arm: &Arm,
    resources: &AzureResources,
    app: &str,
    plan: &str,
    language: Language,
    version: &str,
    settings: &BTreeMap<String, String>,
) -> Result<FunctionApp> {
    let (_, linux_fx) = runtime(language, version);
    let app_settings: Vec<Value> = settings
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    let body = json!({
        "location": resources.region,
        "kind": "functionapp,linux",
        "properties": {
            "serverFarmId": plan,
            "reserved": true,
            "httpsOnly": true,
            "siteConfig": {
                "linuxFxVersion": linux_fx,
                "appSettings": app_settings,
                "minTlsVersion": "1.2",
                "ftpsState": "Disabled"
            }
        }
    });
    tracing::info!(app, runtime = %linux_fx, "creating azure function app");
    let site = arm
        .call_and_wait(
            Method::PUT,
            &site_path(arm, resources, app),
            WEB_API,
            Some(&body),
        )
        .await
        .with_context(|| format!("creating function app {app}"))?;
    read_site(app, &site)
}

fn read_site(app: &str, site: &Value) -> Result<FunctionApp> {
    let host = site["properties"]["defaultHostName"]
        .as_str()
        .with_context(|| format!("function app {app}: Azure returned no defaultHostName"))?;
    Ok(FunctionApp {
        name: app.to_string(),
        host: host.to_string(),
    })
}

/// The app's settings (`config/appsettings/list`).
pub async fn settings(
    arm: &Arm,
    resources: &AzureResources,
    app: &str,
) -> Result<BTreeMap<String, String>> {
    let path = format!("{}/config/appsettings/list", site_path(arm, resources, app));
    let reply = arm
        .call(Method::POST, &path, WEB_API, None)
        .await
        .with_context(|| format!("reading the settings of function app {app}"))?;
    Ok(reply.body["properties"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default())
}

/// Replaces the app's settings with `settings` (the app restarts).
pub async fn put_settings(
    arm: &Arm,
    resources: &AzureResources,
    app: &str,
    settings: &BTreeMap<String, String>,
) -> Result<()> {
    let path = format!("{}/config/appsettings", site_path(arm, resources, app));
    arm.call(
        Method::PUT,
        &path,
        WEB_API,
        Some(&json!({ "properties": settings })),
    )
    .await
    .with_context(|| format!("updating the settings of function app {app}"))?;
    Ok(())
}

/// Tells the platform to read the deployed functions' triggers again.
pub async fn sync_triggers(arm: &Arm, resources: &AzureResources, app: &str) -> Result<()> {
    let path = format!("{}/syncfunctiontriggers", site_path(arm, resources, app));
    arm.call(Method::POST, &path, WEB_API, None)
        .await
        .with_context(|| format!("syncing the triggers of function app {app}"))?;
    Ok(())
}

/// The app's default function key. Right after a deployment the functions host may still be
/// starting and answer with an error; it is asked again until `patience` runs out.
pub async fn function_key(
    arm: &Arm,
    resources: &AzureResources,
    app: &str,
    patience: Duration,
) -> Result<String> {
    let path = format!("{}/host/default/listkeys", site_path(arm, resources, app));
    let started = Instant::now();
    loop {
        let attempt = arm.call(Method::POST, &path, WEB_API, None).await;
        let error = match attempt {
            Ok(reply) => match reply.body["functionKeys"]["default"].as_str() {
                Some(key) => return Ok(key.to_string()),
                None => anyhow::anyhow!("no default function key in the reply"),
            },
            Err(e) => e,
        };
        // 4xx other than "not ready yet" (400, 404, 409) will not change by waiting.
        let waiting_helps = matches!(status_of(&error), None | Some(400 | 404 | 409));
        if !waiting_helps || started.elapsed() + arm.poll_interval() > patience {
            bail!("reading the function key of {app}: {error:#}");
        }
        tracing::debug!(app, "functions host not ready for its keys yet: {error:#}");
        tokio::time::sleep(arm.poll_interval()).await;
    }
}
