//! What Lambda reports about an invocation: the `REPORT` line of its log, and the error payload
//! of an invocation that failed outside the wrapper. Pure parsing, tested on recorded bodies.

use base64::Engine;
use sebs_common::ErrorKind;
use sebs_platform::ProviderMetrics;
use serde_json::Value;

/// One `REPORT RequestId: ...` line, which Lambda writes after every invocation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub request_id: String,
    /// `Duration`, ms (two decimals).
    pub duration_ms: f64,
    /// `Billed Duration`, ms.
    pub billed_ms: u64,
    /// `Memory Size`, MB: the configured memory.
    pub memory_size_mb: u32,
    /// `Max Memory Used`, MB.
    pub max_memory_used_mb: u32,
    /// `Init Duration`, ms: present only on a cold start.
    pub init_ms: Option<f64>,
    /// `Restore Duration`, ms (SnapStart).
    pub restore_ms: Option<f64>,
    /// `Status` (`timeout`, `error`), only when the invocation failed.
    pub status: Option<String>,
    /// `Error Type` (`Runtime.OutOfMemory`, ...), with `Status: error`.
    pub error_type: Option<String>,
}

impl Report {
    /// Parses one REPORT line; `None` when it is not one.
    pub fn parse_line(line: &str) -> Option<Report> {
        let rest = line.trim().strip_prefix("REPORT ")?;
        let mut report = Report::default();
        let mut saw_duration = false;
        for field in rest.split('\t').map(str::trim).filter(|f| !f.is_empty()) {
            let (key, value) = field.split_once(':')?;
            let value = value.trim();
            let number = || {
                value
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<f64>().ok())
            };
            match key.trim() {
                "RequestId" => report.request_id = value.to_string(),
                "Duration" => {
                    report.duration_ms = number()?;
                    saw_duration = true;
                }
                "Billed Duration" => report.billed_ms = number()?.ceil() as u64,
                "Memory Size" => report.memory_size_mb = number()? as u32,
                "Max Memory Used" => report.max_memory_used_mb = number()? as u32,
                "Init Duration" => report.init_ms = number(),
                "Restore Duration" => report.restore_ms = number(),
                "Status" => report.status = Some(value.to_string()),
                "Error Type" => report.error_type = Some(value.to_string()),
                // Billed Restore Duration, and whatever Lambda adds next.
                _ => {}
            }
        }
        (saw_duration && !report.request_id.is_empty()).then_some(report)
    }

    /// The last REPORT line of a log excerpt (of `request_id`, when given).
    pub fn find(log: &str, request_id: Option<&str>) -> Option<Report> {
        log.lines()
            .rev()
            .filter_map(Report::parse_line)
            .find(|r| request_id.is_none_or(|id| r.request_id == id))
    }

    /// The REPORT line in the base64 log tail of an invocation with `LogType=Tail`.
    pub fn from_log_tail(base64_tail: &str) -> Option<Report> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(base64_tail.trim())
            .ok()?;
        Report::find(&String::from_utf8_lossy(&bytes), None)
    }

    /// The report as sebs's provider metrics (µs, MB, billed ms).
    pub fn metrics(&self) -> ProviderMetrics {
        let init_ms = self.init_ms.or(self.restore_ms).unwrap_or(0.0);
        ProviderMetrics {
            execution_us: (self.duration_ms * 1000.0).round() as u64,
            initialization_us: (init_ms * 1000.0).round() as u64,
            memory_used_mb: f64::from(self.max_memory_used_mb),
            billed_ms: self.billed_ms,
            error: None,
        }
    }
}

/// Classifies an invocation that Lambda itself reports as failed (`X-Amz-Function-Error`): the
/// wrapper never raises, so this is a timeout, the memory limit, a crash of the runtime, or a
/// package the runtime could not load.
pub fn classify_function_error(payload: &[u8], report: Option<&Report>) -> (ErrorKind, String) {
    let value: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    let error_type = value["errorType"].as_str().unwrap_or("");
    let message = value["errorMessage"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(payload).into_owned());
    let status = report.and_then(|r| r.status.as_deref());
    let reported_type = report.and_then(|r| r.error_type.as_deref());
    let out_of_memory =
        report.is_some_and(|r| r.memory_size_mb > 0 && r.max_memory_used_mb >= r.memory_size_mb);
    let kind = if status == Some("timeout")
        || error_type == "Sandbox.Timedout"
        || message.contains("Task timed out after")
    {
        ErrorKind::Timeout
    } else if error_type == "Runtime.OutOfMemory"
        || reported_type == Some("Runtime.OutOfMemory")
        || (message.contains("signal: killed") && out_of_memory)
    {
        ErrorKind::MemoryLimit
    } else if error_type == "Runtime.ExitError" {
        ErrorKind::Crashed
    } else if error_type.starts_with("Runtime.") {
        ErrorKind::Platform
    } else {
        ErrorKind::FunctionError
    };
    let text = if error_type.is_empty() {
        message
    } else {
        format!("{error_type}: {message}")
    };
    (kind, sebs_common::result::truncate(&text, 500))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded from CloudWatch Logs and `LogType=Tail` invocations (request ids changed).
    const COLD: &str = "REPORT RequestId: 3f1b6c0e-5d7a-4c8e-9b2f-0a1d2e3f4a5b\tDuration: 102.25 ms\tBilled Duration: 103 ms\tMemory Size: 128 MB\tMax Memory Used: 70 MB\tInit Duration: 234.56 ms\t\n";
    const WARM_XRAY: &str = "REPORT RequestId: 8c2d7e1f-2a3b-4c5d-8e9f-0a1b2c3d4e5f\tDuration: 1.92 ms\tBilled Duration: 2 ms\tMemory Size: 256 MB\tMax Memory Used: 83 MB\t\nXRAY TraceId: 1-6650a1b2-0c1d2e3f4a5b6c7d8e9f0a1b\tSegmentId: 4a5b6c7d8e9f0a1b\tSampled: true\t\n";
    const TIMEOUT: &str = "REPORT RequestId: 0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 36 MB\tInit Duration: 114.21 ms\tStatus: timeout\n";
    const OOM: &str = "REPORT RequestId: 5e4d3c2b-1a0f-4e9d-8c7b-6a5f4e3d2c1b\tDuration: 1532.61 ms\tBilled Duration: 1533 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB\tStatus: error\tError Type: Runtime.OutOfMemory\n";

    #[test]
    fn cold_report_gives_every_metric() {
        let r = Report::parse_line(COLD).unwrap();
        assert_eq!(r.request_id, "3f1b6c0e-5d7a-4c8e-9b2f-0a1d2e3f4a5b");
        assert_eq!(r.billed_ms, 103);
        assert_eq!((r.memory_size_mb, r.max_memory_used_mb), (128, 70));
        let m = r.metrics();
        assert_eq!(m.execution_us, 102_250);
        assert_eq!(m.initialization_us, 234_560);
        assert_eq!(m.memory_used_mb, 70.0);
        assert_eq!(m.billed_ms, 103);
    }

    #[test]
    fn a_warm_report_has_no_init_and_xray_lines_are_skipped() {
        let r = Report::find(WARM_XRAY, None).unwrap();
        assert_eq!(r.init_ms, None);
        assert_eq!(r.metrics().initialization_us, 0);
        assert_eq!(r.metrics().execution_us, 1_920);
        assert!(Report::find(WARM_XRAY, Some("another-id")).is_none());
    }

    #[test]
    fn a_whole_log_tail_decodes_to_its_report() {
        // The base64 `LogResult` of a python3.11 invocation, as Invoke returned it.
        let log = "START RequestId: 3f1b6c0e-5d7a-4c8e-9b2f-0a1d2e3f4a5b Version: $LATEST\n\
                   END RequestId: 3f1b6c0e-5d7a-4c8e-9b2f-0a1d2e3f4a5b\n"
            .to_string()
            + COLD;
        let tail = base64::engine::general_purpose::STANDARD.encode(log);
        let r = Report::from_log_tail(&tail).unwrap();
        assert_eq!(r.duration_ms, 102.25);
        assert!(Report::from_log_tail("not base64!").is_none());
        assert!(Report::parse_line("START RequestId: x Version: $LATEST").is_none());
        assert!(Report::parse_line("REPORT RequestId: x\tDuration: many ms").is_none());
    }

    #[test]
    fn failures_are_classified_from_payload_and_report() {
        let timeout = Report::parse_line(TIMEOUT).unwrap();
        assert_eq!(timeout.status.as_deref(), Some("timeout"));
        let payload = br#"{"errorMessage":"2024-05-01T12:00:03.123Z 0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a Task timed out after 3.00 seconds"}"#;
        assert_eq!(
            classify_function_error(payload, Some(&timeout)).0,
            ErrorKind::Timeout
        );
        let payload = br#"{"errorType":"Sandbox.Timedout","errorMessage":"RequestId: 0d9e8f7a Error: Task timed out after 3.00 seconds"}"#;
        assert_eq!(classify_function_error(payload, None).0, ErrorKind::Timeout);

        let oom = Report::parse_line(OOM).unwrap();
        let payload = br#"{"errorType":"Runtime.ExitError","errorMessage":"RequestId: 5e4d3c2b Error: Runtime exited with error: signal: killed"}"#;
        let (kind, message) = classify_function_error(payload, Some(&oom));
        assert_eq!(kind, ErrorKind::MemoryLimit);
        assert!(message.starts_with("Runtime.ExitError: "), "{message}");
        // The same exit without memory pressure is a crash.
        assert_eq!(classify_function_error(payload, None).0, ErrorKind::Crashed);

        let payload = br#"{"errorMessage": "Unable to import module 'handler': No module named 'handler'", "errorType": "Runtime.ImportModuleError", "requestId": "", "stackTrace": []}"#;
        let (kind, message) = classify_function_error(payload, None);
        assert_eq!(kind, ErrorKind::Platform);
        assert!(message.contains("No module named 'handler'"));

        let payload = br#"{"errorMessage": "division by zero", "errorType": "ZeroDivisionError", "requestId": "1", "stackTrace": ["  File \"/var/task/handler.py\", line 3, in handler\n"]}"#;
        let (kind, message) = classify_function_error(payload, None);
        assert_eq!(kind, ErrorKind::FunctionError);
        assert_eq!(message, "ZeroDivisionError: division by zero");
    }
}
