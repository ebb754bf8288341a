//! OpenWhisk's triggers: the web action's URL over HTTP (`http`), or a blocking invoke over the
//! REST API (`library`), which returns the activation record with what OpenWhisk measured.
//!
//! The library trigger presents an activation the way the local gateway presents an invocation:
//! the action's result as the body, and OpenWhisk's `duration` and `initTime` in the `x-sebs-*`
//! headers, so that one reply reader and one provider-metrics reader serve both.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use sebs_common::config::{Deployment, TriggerKind};
use sebs_common::{ErrorKind, InvocationError};
use sebs_platform::credentials;
use sebs_platform::{BuiltTrigger, TriggerFactory, TriggerSpec};
use sebs_platform_local::gateway::{self, ERROR_KIND_HEADER, EXECUTION_HEADER, INIT_HEADER};
use sebs_worker::{epoch_seconds, InvocationRequest, RawInvocation, Trigger};
use serde::{Deserialize, Serialize};

use crate::api::{ApiClient, Invoked};
use crate::config::{WskProps, CREDENTIAL_FIELDS};
use crate::namespace_auth;
use crate::records::Activation;

/// The header OpenWhisk names an activation with.
pub const ACTIVATION_HEADER: &str = "x-openwhisk-activation-id";

/// What a library trigger needs besides credentials, which each worker reads from its own
/// environment (`OPENWHISK_AUTH`, else `~/.wskprops`), or from the credential cache when it
/// shares the coordinator's cache folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LibrarySettings {
    pub api_host: String,
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_cache: Option<PathBuf>,
}

pub fn trigger_factory() -> Arc<dyn TriggerFactory> {
    Arc::new(OpenWhiskTriggers)
}

#[derive(Debug)]
struct OpenWhiskTriggers;

impl TriggerFactory for OpenWhiskTriggers {
    fn deployment(&self) -> Deployment {
        Deployment::Openwhisk
    }

    fn build(&self, spec: &TriggerSpec) -> Result<BuiltTrigger> {
        match spec.kind {
            TriggerKind::Http => gateway::trigger_factory(Deployment::Openwhisk).build(spec),
            TriggerKind::Library => {
                let settings: LibrarySettings = serde_json::from_value(spec.settings.clone())
                    .context("the settings of an OpenWhisk library trigger")?;
                let cached = settings.credentials_cache.as_deref().and_then(|cache| {
                    credentials::resolve("openwhisk", &CREDENTIAL_FIELDS, None, cache).ok()
                });
                let auth = namespace_auth(cached.as_ref(), &WskProps::load());
                if auth.is_none() {
                    bail!(
                        "an OpenWhisk library trigger needs the namespace's credentials: set \
                         OPENWHISK_AUTH or AUTH in ~/.wskprops"
                    );
                }
                let client =
                    ApiClient::new(&settings.api_host, auth.as_deref(), &settings.namespace)
                        .map_err(anyhow::Error::msg)?;
                Ok(BuiltTrigger {
                    trigger: Arc::new(LibraryTrigger {
                        client,
                        action: spec.function.clone(),
                        timeout: spec.timeout,
                    }),
                    reader: gateway::reply_reader(),
                })
            }
        }
    }
}

/// Blocking invocations through the REST API.
#[derive(Debug)]
pub struct LibraryTrigger {
    pub client: ApiClient,
    pub action: String,
    pub timeout: Duration,
}

#[async_trait]
impl Trigger for LibraryTrigger {
    async fn invoke(&self, request: InvocationRequest<'_>) -> RawInvocation {
        let begin = SystemTime::now();
        let started = Instant::now();
        let outcome = tokio::time::timeout(self.timeout, self.activation(request.payload)).await;
        let mut raw = RawInvocation {
            client_begin: epoch_seconds(begin),
            client_us: started.elapsed().as_micros() as u64,
            client_end: epoch_seconds(SystemTime::now()),
            ..Default::default()
        };
        match outcome {
            Ok(Ok(activation)) => present(&activation, &mut raw),
            Ok(Err(e)) => {
                raw.error = Some(InvocationError {
                    kind: ErrorKind::Platform,
                    message: format!("{e:#}"),
                })
            }
            Err(_) => {
                raw.error = Some(InvocationError {
                    kind: ErrorKind::Timeout,
                    message: format!("no activation record within {:?}", self.timeout),
                })
            }
        }
        raw
    }
}

impl LibraryTrigger {
    /// Invokes, and when OpenWhisk's blocking window ends first, polls for the activation.
    async fn activation(&self, payload: &Bytes) -> Result<Activation> {
        match self.client.invoke_blocking(&self.action, payload).await? {
            Invoked::Done(activation) => Ok(*activation),
            Invoked::Accepted(id) => loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if let Some(activation) = self.client.get_activation(&id).await? {
                    return Ok(activation);
                }
            },
        }
    }
}

/// An activation as the gateway presents an invocation: the result as the body, OpenWhisk's
/// measurements and failure kind in `x-sebs-*` headers.
pub fn present(activation: &Activation, raw: &mut RawInvocation) {
    let mut headers = HeaderMap::new();
    let ms_as_us = |ms: u64| HeaderValue::from(ms.saturating_mul(1000));
    headers.insert(EXECUTION_HEADER, ms_as_us(activation.duration.unwrap_or(0)));
    headers.insert(
        INIT_HEADER,
        ms_as_us(activation.init_time_ms().unwrap_or(0)),
    );
    if let Ok(id) = HeaderValue::from_str(&activation.activation_id) {
        headers.insert(ACTIVATION_HEADER, id);
    }
    let status = if activation.response.success {
        200
    } else {
        let kind = if activation.timed_out() {
            ErrorKind::Timeout
        } else if activation.response.status == "application error" {
            ErrorKind::FunctionError
        } else {
            ErrorKind::Platform
        };
        headers.insert(ERROR_KIND_HEADER, HeaderValue::from_static(kind.as_str()));
        502
    };
    raw.status = Some(status);
    raw.headers = headers;
    raw.body = Bytes::from(serde_json::to_vec(&activation.response.result).unwrap_or_default());
}
