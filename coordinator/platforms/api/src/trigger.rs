//! How to reach a deployed function, as data.
//!
//! The coordinator deploys functions; workers invoke them, possibly in other processes and
//! regions. A [`TriggerSpec`] is what crosses that boundary: serializable, free of secrets (each
//! worker takes credentials from its own environment), and turned back into a live trigger by
//! the platform's [`TriggerFactory`] wherever the invocations are fired. The single-process
//! default takes the same path, so there is one way to build a trigger.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use sebs_common::config::{Deployment, TriggerKind};
use sebs_worker::engine::ReplyReader;
use sebs_worker::Trigger;
use serde::{Deserialize, Serialize};

/// Everything a worker needs to invoke one deployed function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TriggerSpec {
    pub deployment: Deployment,
    pub kind: TriggerKind,
    /// The function's name on its platform.
    pub function: String,
    /// The HTTP endpoint, for HTTP triggers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// How long the client waits for one reply (the function's timeout plus a grace).
    #[serde(with = "seconds")]
    pub timeout: Duration,
    /// The platform's own settings (region, endpoint override, API version, ...), which only its
    /// factory reads. Never secrets.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub settings: serde_json::Value,
}

/// A live trigger and the reader of its replies.
#[derive(Clone)]
pub struct BuiltTrigger {
    pub trigger: Arc<dyn Trigger>,
    pub reader: Arc<dyn ReplyReader>,
}

impl std::fmt::Debug for BuiltTrigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltTrigger")
            .field("trigger", &self.trigger)
            .finish_non_exhaustive()
    }
}

/// Builds triggers of one platform from their specs. Made without starting the platform (a
/// worker deploys nothing), so each platform crate exposes a plain constructor for it.
pub trait TriggerFactory: Send + Sync + std::fmt::Debug {
    fn deployment(&self) -> Deployment;
    fn build(&self, spec: &TriggerSpec) -> Result<BuiltTrigger>;
}

/// The factories of every platform this build has, by deployment.
#[derive(Clone, Debug, Default)]
pub struct TriggerFactories(Vec<Arc<dyn TriggerFactory>>);

impl TriggerFactories {
    pub fn new(factories: Vec<Arc<dyn TriggerFactory>>) -> Self {
        TriggerFactories(factories)
    }

    /// The platforms these factories build triggers for.
    pub fn deployments(&self) -> Vec<Deployment> {
        self.0.iter().map(|f| f.deployment()).collect()
    }

    pub fn build(&self, spec: &TriggerSpec) -> Result<BuiltTrigger> {
        match self.0.iter().find(|f| f.deployment() == spec.deployment) {
            Some(factory) => factory.build(spec),
            None => bail!(
                "this build cannot invoke functions on `{}` (no trigger factory for it)",
                spec.deployment
            ),
        }
    }
}

mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_round_trips_through_json() {
        let spec = TriggerSpec {
            deployment: Deployment::Local,
            kind: TriggerKind::Http,
            function: "sebs-110-dynamic-html-python-3-11".into(),
            url: Some("http://127.0.0.1:4000/functions/f".into()),
            timeout: Duration::from_millis(40_500),
            settings: serde_json::Value::Null,
        };
        let text = serde_json::to_string(&spec).unwrap_or_default();
        assert!(text.contains(r#""deployment":"local""#), "{text}");
        assert!(text.contains(r#""timeout":40.5"#), "{text}");
        let back: TriggerSpec = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, spec);
    }

    #[test]
    fn a_deployment_without_a_factory_is_an_error_naming_it() {
        let spec = TriggerSpec {
            deployment: Deployment::Aws,
            kind: TriggerKind::Library,
            function: "f".into(),
            url: None,
            timeout: Duration::from_secs(1),
            settings: serde_json::Value::Null,
        };
        let err = TriggerFactories::default().build(&spec).err();
        assert!(err.is_some_and(|e| e.to_string().contains("`aws`")));
    }
}
