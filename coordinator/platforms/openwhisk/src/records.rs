//! The JSON records of OpenWhisk's REST API that sebs reads and writes: actions (what
//! `PUT`/`GET /api/v1/namespaces/{ns}/actions/{name}` exchange) and activations (what a blocking
//! invoke and `GET .../activations/{id}` return).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One `{"key": ..., "value": ...}` of an action's or activation's annotations or parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    pub value: Value,
}

pub fn lookup<'a>(pairs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    pairs.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
}

/// How an action runs: sebs deploys every function as a Docker image (`blackbox`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exec {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// ms.
    pub timeout: u64,
    /// MB.
    pub memory: u32,
    /// Concurrent activations one container serves; sebs asks for 1, as a FaaS sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
}

/// What sebs sends to create or update an action.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActionBody {
    pub exec: Exec,
    pub limits: Limits,
    pub annotations: Vec<KeyValue>,
    pub parameters: Vec<KeyValue>,
}

/// An action as OpenWhisk stores it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ActionRecord {
    pub namespace: String,
    pub name: String,
    pub version: String,
    pub exec: Exec,
    #[serde(default)]
    pub annotations: Vec<KeyValue>,
    #[serde(default)]
    pub parameters: Vec<KeyValue>,
    pub limits: Limits,
}

/// One activation (invocation) record.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activation {
    pub activation_id: String,
    /// ms the action ran (including its initialization on a cold start).
    #[serde(default)]
    pub duration: Option<u64>,
    #[serde(default)]
    pub annotations: Vec<KeyValue>,
    pub response: ActivationResponse,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ActivationResponse {
    /// `success`, `application error`, `action developer error`, `whisk internal error`.
    pub status: String,
    pub success: bool,
    #[serde(default)]
    pub result: Value,
}

impl Activation {
    /// ms spent initializing a new container (`initTime`); absent on a warm activation.
    pub fn init_time_ms(&self) -> Option<u64> {
        lookup(&self.annotations, "initTime").and_then(Value::as_u64)
    }

    /// ms the activation waited in OpenWhisk before it ran (`waitTime`).
    pub fn wait_time_ms(&self) -> Option<u64> {
        lookup(&self.annotations, "waitTime").and_then(Value::as_u64)
    }

    /// The memory limit it ran with, MB.
    pub fn memory_mb(&self) -> Option<u64> {
        lookup(&self.annotations, "limits").and_then(|l| l["memory"].as_u64())
    }

    /// Whether OpenWhisk stopped it at its time limit.
    pub fn timed_out(&self) -> bool {
        lookup(&self.annotations, "timeout").and_then(Value::as_bool) == Some(true)
    }
}
