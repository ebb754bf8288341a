//! Invoking a function and reading what came back.
//!
//! Both triggers produce the same [`RawInvocation`]: the wrapper's JSON as the body and the
//! status it chose, plus Lambda's own response headers. The SDK ("library") trigger calls
//! `Invoke` with `LogType=Tail` and unwraps the `{statusCode, body}` the wrapper returns; the
//! base64 log tail (`x-amz-log-result`, holding the REPORT line) and the function error marker
//! (`x-amz-function-error`) are kept as the headers that the raw Invoke API sends. A function URL
//! replies with the wrapper's JSON and status directly, and Lambda's 502 on a runtime failure.

use std::time::{Instant, SystemTime};

use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvocationType, LogType};
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use sebs_common::{ErrorKind, InvocationError};
use sebs_platform::ProviderMetrics;
use sebs_worker::engine::{read_wrapper_reply, Reading, ReplyReader};
use sebs_worker::{epoch_seconds, InvocationRequest, RawInvocation, Trigger};
use serde_json::Value;

use crate::report::{classify_function_error, Report};

/// The base64 tail of the function's log (`LogType=Tail`).
pub const LOG_RESULT: &str = "x-amz-log-result";
/// `Unhandled` when the invocation failed outside the wrapper's own error handling.
pub const FUNCTION_ERROR: &str = "x-amz-function-error";
/// Lambda's request id of the invocation.
pub const REQUEST_ID: &str = "x-amzn-requestid";

/// The HTTP status a runtime failure gets, as a function URL gives it.
const RUNTIME_FAILURE_STATUS: u16 = 502;

/// Invokes through the Lambda API (SeBS's "library" trigger).
#[derive(Debug)]
pub struct LibraryTrigger {
    client: aws_sdk_lambda::Client,
    function: String,
}

impl LibraryTrigger {
    pub fn new(client: aws_sdk_lambda::Client, function: &str) -> Self {
        LibraryTrigger {
            client,
            function: function.to_string(),
        }
    }
}

#[async_trait]
impl Trigger for LibraryTrigger {
    async fn invoke(&self, req: InvocationRequest<'_>) -> RawInvocation {
        let start = Instant::now();
        let mut raw = RawInvocation {
            client_begin: epoch_seconds(SystemTime::now()),
            ..Default::default()
        };
        let outcome = self
            .client
            .invoke()
            .function_name(&self.function)
            .invocation_type(InvocationType::RequestResponse)
            .log_type(LogType::Tail)
            .payload(Blob::new(req.payload.to_vec()))
            .send()
            .await;
        raw.client_us = start.elapsed().as_micros() as u64;
        raw.client_end = raw.client_begin + start.elapsed().as_secs_f64();
        match outcome {
            Ok(out) => {
                let payload = out.payload().map(|b| b.as_ref()).unwrap_or_default();
                let reply = unwrap_invoke(out.function_error(), out.log_result(), payload);
                raw.status = Some(reply.status);
                raw.headers = reply.headers;
                raw.body = reply.body;
            }
            Err(e) => {
                let kind = if e.raw_response().is_some() {
                    ErrorKind::HttpStatus
                } else if matches!(e, aws_sdk_lambda::error::SdkError::TimeoutError(_)) {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::Connect
                };
                raw.status = e.raw_response().map(|r| r.status().as_u16());
                raw.error = Some(InvocationError {
                    kind,
                    message: format!("Invoke {}: {}", self.function, crate::describe(&e)),
                });
            }
        }
        raw
    }
}

/// The parts of an Invoke response a [`RawInvocation`] keeps.
#[derive(Debug, PartialEq)]
pub struct InvokeReply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Turns Invoke's answer into what a function URL would have given: the wrapper's status and
/// JSON body, or 502 with Lambda's error payload when the runtime failed.
pub fn unwrap_invoke(
    function_error: Option<&str>,
    log_result: Option<&str>,
    payload: &[u8],
) -> InvokeReply {
    let mut headers = HeaderMap::new();
    for (name, value) in [(LOG_RESULT, log_result), (FUNCTION_ERROR, function_error)] {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(name, v);
        }
    }
    if function_error.is_some() {
        return InvokeReply {
            status: RUNTIME_FAILURE_STATUS,
            headers,
            body: Bytes::copy_from_slice(payload),
        };
    }
    let envelope: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    let status = envelope["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok());
    match (status, envelope["body"].as_str()) {
        (Some(status), Some(body)) => {
            let body = if envelope["isBase64Encoded"].as_bool() == Some(true) {
                base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .map(Bytes::from)
                    .unwrap_or_else(|_| Bytes::copy_from_slice(body.as_bytes()))
            } else {
                Bytes::copy_from_slice(body.as_bytes())
            };
            InvokeReply {
                status,
                headers,
                body,
            }
        }
        // Not the wrapper's envelope: passed on as it is, and read as an invalid reply.
        _ => InvokeReply {
            status: 200,
            headers,
            body: Bytes::copy_from_slice(payload),
        },
    }
}

/// What Lambda reported about one invocation: the REPORT line of the log tail (library
/// trigger), and the kind of a runtime failure. Function URL replies carry no log: their
/// metrics come from CloudWatch Logs afterwards (`logs.rs`).
pub fn provider_metrics(raw: &RawInvocation) -> ProviderMetrics {
    let report = header(raw, LOG_RESULT).and_then(Report::from_log_tail);
    let mut metrics = report.as_ref().map(Report::metrics).unwrap_or_default();
    if raw.error.is_none() && header(raw, FUNCTION_ERROR).is_some() {
        metrics.error = Some(classify_function_error(&raw.body, report.as_ref()));
    } else if raw.status == Some(RUNTIME_FAILURE_STATUS) && raw.error.is_none() {
        // A function URL's 502: the runtime failed, and the reply does not say how.
        if !looks_like_wrapper_reply(&raw.body) {
            metrics.error = Some((
                ErrorKind::Platform,
                format!(
                    "the function URL answered 502: {}",
                    sebs_common::result::truncate(&String::from_utf8_lossy(&raw.body), 300)
                ),
            ));
        }
    }
    metrics
}

fn looks_like_wrapper_reply(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|v| v.get("is_cold").is_some())
}

fn header<'a>(raw: &'a RawInvocation, name: &str) -> Option<&'a str> {
    raw.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The engine's reader of Lambda replies: the wrapper's JSON plus the REPORT line.
#[derive(Clone, Copy, Debug, Default)]
pub struct LambdaReplyReader;

impl ReplyReader for LambdaReplyReader {
    fn read<'a>(&self, raw: &'a RawInvocation) -> Reading<'a> {
        let mut reading = read_wrapper_reply(raw);
        let metrics = provider_metrics(raw);
        reading.execution_us = metrics.execution_us;
        reading.init_us = metrics.initialization_us;
        reading.memory_kib = (metrics.memory_used_mb * 1024.0) as u64;
        if let Some((kind, _)) = metrics.error {
            reading.failure = Some(kind);
        }
        reading.cold |= reading.init_us > 0;
        reading
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wrapper reply as the python3.11 handler returned it through Invoke (recorded).
    const OK_PAYLOAD: &str = r#"{"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{\"begin\": 1716200000.123456, \"end\": 1716200000.125789, \"results_time\": 0, \"is_cold\": true, \"result\": {\"result\": \"<html>...</html>\", \"measurement\": {\"compute_time\": 1620}}, \"request_id\": \"3f1b6c0e-5d7a-4c8e-9b2f-0a1d2e3f4a5b\", \"cold_start_var\": \"\", \"container_id\": \"9a8b7c6d\"}"}"#;
    const TAIL: &str = "START RequestId: 3f1b6c0e-5d7a-4c8e-9b2f-0a1d2e3f4a5b Version: $LATEST\nEND RequestId: 3f1b6c0e-5d7a-4c8e-9b2f-0a1d2e3f4a5b\nREPORT RequestId: 3f1b6c0e-5d7a-4c8e-9b2f-0a1d2e3f4a5b\tDuration: 3.71 ms\tBilled Duration: 4 ms\tMemory Size: 128 MB\tMax Memory Used: 41 MB\tInit Duration: 151.09 ms\t\n";

    fn tail() -> String {
        base64::engine::general_purpose::STANDARD.encode(TAIL)
    }

    fn raw_of(reply: InvokeReply) -> RawInvocation {
        RawInvocation {
            status: Some(reply.status),
            headers: reply.headers,
            body: reply.body,
            client_us: 250_000,
            ..Default::default()
        }
    }

    #[test]
    fn a_successful_invoke_becomes_the_wrapper_reply_with_its_report() {
        let reply = unwrap_invoke(None, Some(&tail()), OK_PAYLOAD.as_bytes());
        assert_eq!(reply.status, 200);
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["container_id"], "9a8b7c6d");
        let raw = raw_of(reply);
        let m = provider_metrics(&raw);
        assert_eq!(
            (m.execution_us, m.initialization_us, m.billed_ms),
            (3_710, 151_090, 4)
        );
        assert_eq!(m.memory_used_mb, 41.0);
        assert!(m.error.is_none());
        let reading = LambdaReplyReader.read(&raw);
        assert_eq!(reading.failure, None);
        assert!(reading.cold);
        assert_eq!(reading.benchmark_us, 2_333);
        assert_eq!(reading.memory_kib, 41 * 1024);
    }

    #[test]
    fn the_wrappers_error_reply_keeps_its_status() {
        let payload = r#"{"statusCode": 500, "headers": {"Content-Type": "application/json"}, "body": "{\"error\": \"ValueError: size must be positive\", \"traceback\": \"Traceback ...\", \"request_id\": \"r\", \"is_cold\": false, \"container_id\": \"9a8b7c6d\"}"}"#;
        let raw = raw_of(unwrap_invoke(None, Some(&tail()), payload.as_bytes()));
        assert_eq!(raw.status, Some(500));
        assert!(provider_metrics(&raw).error.is_none());
        assert_eq!(
            LambdaReplyReader.read(&raw).failure,
            Some(ErrorKind::FunctionError)
        );
    }

    #[test]
    fn a_runtime_failure_is_classified() {
        let timeout_tail = base64::engine::general_purpose::STANDARD.encode(
            "END RequestId: 0d9e\nREPORT RequestId: 0d9e\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 36 MB\tStatus: timeout\n",
        );
        let payload = br#"{"errorType":"Sandbox.Timedout","errorMessage":"RequestId: 0d9e Error: Task timed out after 3.00 seconds"}"#;
        let raw = raw_of(unwrap_invoke(
            Some("Unhandled"),
            Some(&timeout_tail),
            payload,
        ));
        assert_eq!(raw.status, Some(502));
        let m = provider_metrics(&raw);
        assert_eq!(m.execution_us, 3_000_000);
        let (kind, message) = m.error.unwrap();
        assert_eq!(kind, ErrorKind::Timeout);
        assert!(message.contains("Task timed out"), "{message}");
        assert_eq!(
            LambdaReplyReader.read(&raw).failure,
            Some(ErrorKind::Timeout)
        );
    }

    #[test]
    fn function_url_replies_pass_through() {
        // A function URL gives the wrapper's body directly; a runtime crash is a bare 502.
        let raw = RawInvocation {
            status: Some(502),
            body: Bytes::from_static(b"Internal Server Error"),
            ..Default::default()
        };
        assert_eq!(provider_metrics(&raw).error.unwrap().0, ErrorKind::Platform);
        let not_wrapper = unwrap_invoke(None, None, br#"{"hello": 1}"#);
        assert_eq!(not_wrapper.status, 200);
        assert_eq!(
            LambdaReplyReader.read(&raw_of(not_wrapper)).failure,
            Some(ErrorKind::InvalidReply)
        );
        let b64 = unwrap_invoke(
            None,
            None,
            br#"{"statusCode": 200, "isBase64Encoded": true, "body": "eyJpc19jb2xkIjogZmFsc2V9"}"#,
        );
        assert_eq!(&b64.body[..], br#"{"is_cold": false}"#);
    }
}
