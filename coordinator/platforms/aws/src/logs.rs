//! REPORT lines from CloudWatch Logs: the provider metrics of invocations whose replies carry
//! no log (function URLs), read after the run as SeBS's `benchmark process` does.

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;

use crate::report::Report;

/// Lambda's log group of a function.
pub fn log_group(function: &str) -> String {
    format!("/aws/lambda/{function}")
}

/// The REPORT lines of `request_ids` (Lambda's ids) logged between `window` (epoch seconds,
/// widened by a minute on each side for clock skew), by request id. A function that has not
/// logged yet gives an empty map.
pub async fn reports(
    logs: &aws_sdk_cloudwatchlogs::Client,
    function: &str,
    request_ids: &[String],
    window: (f64, f64),
) -> Result<HashMap<String, Report>> {
    let wanted: HashSet<&str> = request_ids.iter().map(String::as_str).collect();
    let group = log_group(function);
    let mut found = HashMap::new();
    let mut pages = logs
        .filter_log_events()
        .log_group_name(&group)
        .filter_pattern("REPORT")
        .start_time(((window.0 - 60.0) * 1000.0) as i64)
        .end_time(((window.1 + 60.0) * 1000.0) as i64)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) if e.code() == Some("ResourceNotFoundException") => return Ok(found),
            Err(e) => anyhow::bail!("FilterLogEvents {group}: {}", crate::describe(&e)),
        };
        for event in page.events() {
            let Some(report) = event.message().and_then(Report::parse_line) else {
                continue;
            };
            if wanted.contains(report.request_id.as_str()) {
                found.insert(report.request_id.clone(), report);
            }
        }
        if found.len() == wanted.len() {
            break;
        }
    }
    Ok(found)
}

/// Deletes the function's log group; one already gone (or never made) is not an error.
pub async fn delete_log_group(logs: &aws_sdk_cloudwatchlogs::Client, function: &str) -> Result<()> {
    let group = log_group(function);
    match logs.delete_log_group().log_group_name(&group).send().await {
        Err(e) if e.code() != Some("ResourceNotFoundException") => {
            anyhow::bail!("DeleteLogGroup {group}: {}", crate::describe(&e))
        }
        _ => Ok(()),
    }
}
