//! The HTTP trigger of an Azure function, built by workers from a [`TriggerSpec`].
//!
//! The spec holds no secret: the function key is read through Resource Manager with the
//! worker's own service principal (the environment, else the credentials cache the spec names),
//! once, before the trigger's first invocation. That read is not part of any measured time: the
//! inner HTTP trigger starts its clock only after it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use http::{HeaderName, HeaderValue};
use sebs_common::config::{Deployment, TriggerKind};
use sebs_common::{ErrorKind, InvocationError};
use sebs_platform::{BuiltTrigger, TriggerFactory, TriggerSpec};
use sebs_worker::engine::WrapperReader;
use sebs_worker::{epoch_seconds, HttpTrigger, InvocationRequest, RawInvocation, Trigger};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::arm::Arm;
use crate::credentials::{ServicePrincipal, TokenSource};
use crate::resources::AzureResources;
use crate::{functionapp, http_client, MANAGEMENT_SCOPE};

/// What a worker needs to find the function key; `TriggerSpec::settings` of Azure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSettings {
    pub subscription_id: String,
    pub resource_group: String,
    pub app: String,
    pub management_endpoint: String,
    pub login_endpoint: String,
    /// The cache folder whose credentials the worker may use when its environment has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_cache: Option<PathBuf>,
}

/// Builds Azure's triggers.
pub fn trigger_factory() -> Arc<dyn TriggerFactory> {
    Arc::new(AzureTriggers)
}

#[derive(Debug)]
struct AzureTriggers;

impl TriggerFactory for AzureTriggers {
    fn deployment(&self) -> Deployment {
        Deployment::Azure
    }

    fn build(&self, spec: &TriggerSpec) -> Result<BuiltTrigger> {
        let url = spec
            .url
            .clone()
            .filter(|_| spec.kind == TriggerKind::Http)
            .with_context(|| {
                format!(
                    "azure trigger of `{}`: expected an http trigger with a url",
                    spec.function
                )
            })?;
        let settings: TriggerSettings = serde_json::from_value(spec.settings.clone())
            .with_context(|| format!("azure trigger settings of `{}`", spec.function))?;
        Ok(BuiltTrigger {
            trigger: Arc::new(KeyedTrigger {
                url,
                timeout: spec.timeout,
                settings,
                inner: OnceCell::new(),
            }),
            reader: Arc::new(WrapperReader),
        })
    }
}

/// An HTTP trigger that sends the app's function key in `x-functions-key`.
#[derive(Debug)]
struct KeyedTrigger {
    url: String,
    timeout: Duration,
    settings: TriggerSettings,
    inner: OnceCell<HttpTrigger>,
}

impl KeyedTrigger {
    async fn connect(&self) -> Result<HttpTrigger> {
        let s = &self.settings;
        let cache = s
            .credentials_cache
            .clone()
            .unwrap_or_else(|| PathBuf::from("cache"));
        let mut principal = ServicePrincipal::resolve(None, &cache)
            .context("the worker needs Azure credentials to read the function key")?;
        principal.subscription_id.clone_from(&s.subscription_id);
        let http = http_client()?;
        let tokens = TokenSource::new(principal, &s.login_endpoint, MANAGEMENT_SCOPE, http.clone());
        let arm = Arm::new(
            http,
            &s.management_endpoint,
            tokens,
            Duration::from_secs(2),
            Duration::from_secs(120),
        );
        let resources = AzureResources {
            resources_id: String::new(),
            region: String::new(),
            resource_group: s.resource_group.clone(),
            storage_account: String::new(),
        };
        let key =
            functionapp::function_key(&arm, &resources, &s.app, arm.operation_timeout()).await?;
        let mut value =
            HeaderValue::from_str(&key).context("the function key is not a header value")?;
        value.set_sensitive(true);
        Ok(sebs_platform::tls::http_trigger(&self.url, self.timeout)?
            .with_header(HeaderName::from_static("x-functions-key"), value))
    }
}

#[async_trait]
impl Trigger for KeyedTrigger {
    async fn invoke(&self, request: InvocationRequest<'_>) -> RawInvocation {
        match self.inner.get_or_try_init(|| self.connect()).await {
            Ok(trigger) => trigger.invoke(request).await,
            Err(e) => {
                let now = epoch_seconds(std::time::SystemTime::now());
                RawInvocation {
                    client_begin: now,
                    client_end: now,
                    error: Some(InvocationError {
                        kind: ErrorKind::Platform,
                        message: format!("{e:#}"),
                    }),
                    ..Default::default()
                }
            }
        }
    }
}
