//! The result of one invocation, in SeBS's `ExecutionResult` shape (SEBS-CONTRACT §3).
//!
//! Units are part of the format: `times.client`, `times.benchmark`, `times.initialization` and
//! `provider_times.*` are microseconds; `times.http_startup` and `times.http_first_byte_return`
//! are seconds; `client_begin`/`client_end` are epoch seconds; `billing.billed_time` is
//! milliseconds; memory is MB.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why an invocation failed. `Copy` so that hot loops can count failures without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The trigger could not reach the function's endpoint.
    Connect,
    /// The function ran past its timeout and was stopped.
    Timeout,
    /// The function raised; the wrapper replied with an error.
    FunctionError,
    /// The function's process died during the invocation.
    Crashed,
    /// The function exceeded its memory limit and was stopped.
    MemoryLimit,
    /// The reply was not the wrapper JSON (not JSON, or no `is_cold`).
    InvalidReply,
    /// The platform answered with an HTTP error of its own.
    HttpStatus,
    /// The platform failed to provide an instance (e.g. the runtime would not start).
    Platform,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::FunctionError,
        ErrorKind::Crashed,
        ErrorKind::MemoryLimit,
        ErrorKind::InvalidReply,
        ErrorKind::HttpStatus,
        ErrorKind::Platform,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::FunctionError => "function_error",
            ErrorKind::Crashed => "crashed",
            ErrorKind::MemoryLimit => "memory_limit",
            ErrorKind::InvalidReply => "invalid_reply",
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::Platform => "platform",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvocationError {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Times {
    /// µs between sending the request and receiving the whole reply, as the client saw it.
    pub client: u64,
    /// Epoch seconds when the client started the request.
    pub client_begin: f64,
    /// Epoch seconds when the client had the whole reply.
    pub client_end: f64,
    /// µs the wrapper measured around the handler (`end - begin`).
    pub benchmark: u64,
    /// µs the platform spent starting the instance (0 on warm invocations).
    pub initialization: u64,
    /// Seconds spent opening the connection (0 when a kept-alive connection was reused).
    pub http_startup: f64,
    /// Seconds from sending the request to the first byte of the reply.
    pub http_first_byte_return: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderTimes {
    /// µs the platform reports the function ran.
    pub execution: u64,
    /// µs the platform reports for starting the instance.
    pub initialization: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Peak memory of the invocation, MB.
    pub memory_used: f64,
    pub cold_start: bool,
    pub failure: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Billing {
    /// Configured memory, MB.
    pub memory: u32,
    /// Billed duration, ms.
    pub billed_time: u64,
    /// `billed_time / 1000 * memory / 1024`.
    pub gb_seconds: f64,
}

impl Billing {
    pub fn new(memory_mb: u32, billed_ms: u64) -> Self {
        Billing {
            memory: memory_mb,
            billed_time: billed_ms,
            gb_seconds: billed_ms as f64 / 1000.0 * f64::from(memory_mb) / 1024.0,
        }
    }
}

/// One invocation as recorded in `experiments.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecutionResult {
    /// The wrapper's JSON reply (SEBS-CONTRACT §2), or the error reply.
    pub output: Value,
    pub request_id: String,
    pub times: Times,
    pub provider_times: ProviderTimes,
    pub stats: Stats,
    pub billing: Billing,
    /// Why the invocation failed (sebs extension; absent on success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<InvocationError>,
    /// The instance that served the invocation, from the wrapper (`container_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    /// Where the invocation was fired from (sebs extension: the fleet's region, worker, shard,
    /// attempt and sequence number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// Which worker of the fleet fired an invocation. A result counts once per (shard, sequence);
/// `attempt` says how many times the shard had been handed to another worker before.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub region: String,
    pub worker: String,
    pub shard: u32,
    pub attempt: u32,
    pub sequence: u64,
}

/// What the wrapper's reply tells about an invocation.
#[derive(Clone, Debug, PartialEq)]
pub struct WrapperReply {
    pub is_cold: bool,
    pub begin: f64,
    pub end: f64,
    pub container_id: Option<String>,
    pub request_id: Option<String>,
}

impl WrapperReply {
    /// Reads the fields of a successful reply. A reply without `is_cold` is a failure
    /// (SEBS-CONTRACT §2); `begin`/`end` may be numbers or SeBS's `"%s.%f"` strings.
    pub fn parse(output: &Value) -> Result<Self, String> {
        let obj = output.as_object().ok_or_else(|| {
            format!(
                "reply is not a JSON object: {}",
                truncate(&output.to_string(), 200)
            )
        })?;
        let is_cold = obj
            .get("is_cold")
            .and_then(Value::as_bool)
            .ok_or_else(|| "reply has no boolean `is_cold`".to_string())?;
        let time = |name: &str| -> Result<f64, String> {
            match obj.get(name) {
                Some(Value::Number(n)) => n
                    .as_f64()
                    .ok_or_else(|| format!("`{name}` is not a number")),
                Some(Value::String(s)) => s
                    .parse()
                    .map_err(|_| format!("`{name}` is not a timestamp: {s:?}")),
                _ => Err(format!("reply has no `{name}` timestamp")),
            }
        };
        let (begin, end) = (time("begin")?, time("end")?);
        if end < begin {
            return Err(format!("reply has `end` ({end}) before `begin` ({begin})"));
        }
        let text = |name: &str| obj.get(name).and_then(Value::as_str).map(str::to_string);
        Ok(WrapperReply {
            is_cold,
            begin,
            end,
            container_id: text("container_id"),
            request_id: text("request_id"),
        })
    }

    /// µs the wrapper measured around the handler.
    pub fn benchmark_us(&self) -> u64 {
        ((self.end - self.begin) * 1e6).round().max(0.0) as u64
    }
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_numbers_and_sebs_strings() {
        let r = WrapperReply::parse(
            &json!({"is_cold": true, "begin": 10.5, "end": 10.75, "container_id": "abcd1234"}),
        )
        .unwrap();
        assert_eq!(r.benchmark_us(), 250_000);
        assert_eq!(r.container_id.as_deref(), Some("abcd1234"));
        let r =
            WrapperReply::parse(&json!({"is_cold": false, "begin": "1.000001", "end": "1.000002"}))
                .unwrap();
        assert_eq!(r.benchmark_us(), 1);
    }

    #[test]
    fn reply_without_is_cold_is_a_failure() {
        let err = WrapperReply::parse(&json!({"begin": 1.0, "end": 2.0})).unwrap_err();
        assert!(err.contains("is_cold"));
        assert!(WrapperReply::parse(&json!([1, 2])).is_err());
        assert!(WrapperReply::parse(&json!({"is_cold": true, "begin": 2.0, "end": 1.0})).is_err());
    }

    #[test]
    fn billing_in_gb_seconds() {
        let b = Billing::new(2048, 1500);
        assert!((b.gb_seconds - 3.0).abs() < 1e-12);
    }

    #[test]
    fn error_kinds_round_trip() {
        for k in ErrorKind::ALL {
            assert_eq!(ErrorKind::parse(k.as_str()), Some(k));
        }
    }
}

/// The few fields of a wrapper reply the invocation engine records, read without allocating
/// (string fields borrow from the reply).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReplyFields<'a> {
    pub is_cold: Option<bool>,
    pub begin: Option<f64>,
    pub end: Option<f64>,
    pub container_id: Option<&'a str>,
}

impl<'a> ReplyFields<'a> {
    /// Reads the fields of a reply body; unknown fields are skipped, `begin`/`end` may be numbers
    /// or SeBS's `"%s.%f"` strings. `None` when the body is not a JSON object.
    pub fn read(body: &'a [u8]) -> Option<Self> {
        #[derive(Deserialize)]
        struct Raw<'a> {
            is_cold: Option<bool>,
            #[serde(default, borrow)]
            begin: Option<Stamp<'a>>,
            #[serde(default, borrow)]
            end: Option<Stamp<'a>>,
            #[serde(default, borrow)]
            container_id: Option<&'a str>,
        }
        let stamp = |s: Option<Stamp<'_>>| match s {
            Some(Stamp::Number(n)) => Some(n),
            Some(Stamp::Text(t)) => t.parse().ok(),
            None => None,
        };
        let raw: Raw<'a> = serde_json::from_slice(body).ok()?;
        Some(ReplyFields {
            is_cold: raw.is_cold,
            begin: stamp(raw.begin),
            end: stamp(raw.end),
            container_id: raw.container_id,
        })
    }

    /// µs between `begin` and `end`, when both are there and in order.
    pub fn benchmark_us(&self) -> Option<u64> {
        match (self.begin, self.end) {
            (Some(b), Some(e)) if e >= b => Some(((e - b) * 1e6).round() as u64),
            _ => None,
        }
    }
}

/// A wrapper's `begin` or `end`: a number, or SeBS's `"%s.%f"` text. Read straight from the
/// JSON: serde's `untagged` would first copy each value into a buffer to try both forms.
enum Stamp<'a> {
    Number(f64),
    Text(&'a str),
}

impl<'de: 'a, 'a> Deserialize<'de> for Stamp<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Stamp<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number or a string of one")
            }

            fn visit_f64<E>(self, v: f64) -> Result<Stamp<'de>, E> {
                Ok(Stamp::Number(v))
            }

            fn visit_u64<E>(self, v: u64) -> Result<Stamp<'de>, E> {
                Ok(Stamp::Number(v as f64))
            }

            fn visit_i64<E>(self, v: i64) -> Result<Stamp<'de>, E> {
                Ok(Stamp::Number(v as f64))
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Stamp<'de>, E> {
                Ok(Stamp::Text(v))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod reply_fields_tests {
    use super::*;

    #[test]
    fn reads_numbers_strings_and_skips_the_rest() {
        let body = br#"{"result": {"result": [1, 2, {"x": "y"}]}, "is_cold": true, "begin": 1.5, "end": "1.75", "container_id": "abcd1234"}"#;
        let f = ReplyFields::read(body).unwrap();
        assert_eq!(f.is_cold, Some(true));
        assert_eq!(f.benchmark_us(), Some(250_000));
        assert_eq!(f.container_id, Some("abcd1234"));
        assert_eq!(ReplyFields::read(b"not json"), None);
        let missing = ReplyFields::read(br#"{"error": "boom"}"#).unwrap();
        assert_eq!((missing.is_cold, missing.benchmark_us()), (None, None));
    }
}
