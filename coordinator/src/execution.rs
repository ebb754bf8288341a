//! Turns what the client saw and what the platform reported into SeBS's `ExecutionResult`.

use sebs_common::result::{Billing, ProviderTimes, Stats, Times, WrapperReply};
use sebs_common::{ErrorKind, ExecutionResult, InvocationError};
use sebs_worker::RawInvocation;
use serde_json::Value;

use crate::platforms::ProviderMetrics;

pub fn execution_result(
    request_id: &str,
    raw: &RawInvocation,
    metrics: &ProviderMetrics,
    memory_mb: u32,
) -> ExecutionResult {
    let output = if raw.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&raw.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&raw.body).into_owned()))
    };
    let mut result = ExecutionResult {
        request_id: request_id.to_string(),
        times: Times {
            client: raw.client_us,
            client_begin: raw.client_begin,
            client_end: raw.client_end,
            initialization: metrics.initialization_us,
            http_startup: raw.http_startup,
            http_first_byte_return: raw.first_byte,
            ..Default::default()
        },
        provider_times: ProviderTimes {
            execution: metrics.execution_us,
            initialization: metrics.initialization_us,
        },
        stats: Stats {
            memory_used: metrics.memory_used_mb,
            // A new instance was started for this request: cold, even if it then failed.
            cold_start: metrics.initialization_us > 0,
            failure: false,
        },
        billing: Billing::new(memory_mb, metrics.billed_ms),
        ..Default::default()
    };
    let error = classify(raw, metrics, &output);
    match error {
        None => {
            // classify() already checked that the reply parses.
            if let Ok(reply) = WrapperReply::parse(&output) {
                result.times.benchmark = reply.benchmark_us();
                result.stats.cold_start = reply.is_cold;
                result.container_id = reply.container_id;
            }
        }
        Some(e) => {
            // An error reply of the wrapper still says which instance ran and whether it was cold.
            if let Some(cold) = output.get("is_cold").and_then(Value::as_bool) {
                result.stats.cold_start = cold;
            }
            result.container_id = output
                .get("container_id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string);
            result.stats.failure = true;
            result.error = Some(e);
        }
    }
    result.output = output;
    result
}

fn classify(
    raw: &RawInvocation,
    metrics: &ProviderMetrics,
    output: &Value,
) -> Option<InvocationError> {
    if let Some(e) = &raw.error {
        return Some(e.clone());
    }
    if let Some((kind, message)) = &metrics.error {
        return Some(InvocationError {
            kind: *kind,
            message: message.clone(),
        });
    }
    let status = raw.status.unwrap_or(0);
    if status != 200 {
        if let Some(message) = output.get("error").and_then(Value::as_str) {
            return Some(InvocationError {
                kind: ErrorKind::FunctionError,
                message: message.to_string(),
            });
        }
        return Some(InvocationError {
            kind: ErrorKind::HttpStatus,
            message: format!(
                "HTTP {status}: {}",
                sebs_common::result::truncate(&output.to_string(), 300)
            ),
        });
    }
    WrapperReply::parse(output)
        .err()
        .map(|message| InvocationError {
            kind: ErrorKind::InvalidReply,
            message,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn raw(status: u16, body: &str) -> RawInvocation {
        RawInvocation {
            client_us: 1500,
            status: Some(status),
            body: Bytes::from(body.to_string()),
            ..Default::default()
        }
    }

    #[test]
    fn success_takes_times_from_the_wrapper() {
        let body = r#"{"begin": 1.0, "end": 1.25, "is_cold": true, "container_id": "abcd1234", "result": {"result": 1}}"#;
        let metrics = ProviderMetrics {
            execution_us: 260_000,
            initialization_us: 90_000,
            memory_used_mb: 20.5,
            billed_ms: 260,
            error: None,
        };
        let r = execution_result("r1", &raw(200, body), &metrics, 256);
        assert!(!r.stats.failure && r.stats.cold_start);
        assert_eq!(r.times.benchmark, 250_000);
        assert_eq!(r.times.initialization, 90_000);
        assert_eq!(r.provider_times.execution, 260_000);
        assert_eq!(r.billing.billed_time, 260);
        assert_eq!(r.container_id.as_deref(), Some("abcd1234"));
        assert_eq!(r.output["result"]["result"], 1);
    }

    #[test]
    fn failures_are_classified() {
        let m = ProviderMetrics::default();
        let r = execution_result(
            "r1",
            &raw(
                500,
                r#"{"error": "ValueError: boom", "is_cold": false, "container_id": "x"}"#,
            ),
            &m,
            128,
        );
        assert_eq!(r.error.as_ref().unwrap().kind, ErrorKind::FunctionError);
        assert!(r.stats.failure && r.error.unwrap().message.contains("boom"));
        let r = execution_result("r1", &raw(200, "not json"), &m, 128);
        assert_eq!(r.error.unwrap().kind, ErrorKind::InvalidReply);
        let r = execution_result("r1", &raw(200, r#"{"begin": 1, "end": 2}"#), &m, 128);
        assert!(r.error.unwrap().message.contains("is_cold"));
        let timeout = ProviderMetrics {
            error: Some((ErrorKind::Timeout, "too slow".into())),
            ..Default::default()
        };
        let r = execution_result(
            "r1",
            &raw(504, r#"{"error": {"kind": "timeout"}}"#),
            &timeout,
            128,
        );
        assert_eq!(r.error.unwrap().kind, ErrorKind::Timeout);
    }
}
