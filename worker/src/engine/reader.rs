//! What the engine needs to know about a reply, read without allocating.

use sebs_common::result::ReplyFields;
use sebs_common::ErrorKind;

use crate::trigger::RawInvocation;

/// One reply, as recorded: outcome, cold or warm, and what the platform reported.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Reading<'a> {
    pub failure: Option<ErrorKind>,
    pub cold: bool,
    /// µs the wrapper measured around the handler (0 when unknown).
    pub benchmark_us: u64,
    pub container_id: &'a str,
    /// What the platform reported: run time, instance start time, peak memory (0 when unknown).
    pub execution_us: u64,
    pub init_us: u64,
    pub memory_kib: u64,
}

/// Turns a raw reply into a [`Reading`]. The generic part (the wrapper JSON) is
/// [`read_wrapper_reply`]; a platform adds what it reports elsewhere (headers, logs).
pub trait ReplyReader: Send + Sync {
    fn read<'a>(&self, raw: &'a RawInvocation) -> Reading<'a>;
}

/// Reads only the wrapper's reply (SEBS-CONTRACT §2): a 200 with `is_cold` is a success.
#[derive(Clone, Copy, Debug, Default)]
pub struct WrapperReader;

impl ReplyReader for WrapperReader {
    fn read<'a>(&self, raw: &'a RawInvocation) -> Reading<'a> {
        read_wrapper_reply(raw)
    }
}

pub fn read_wrapper_reply(raw: &RawInvocation) -> Reading<'_> {
    if let Some(e) = &raw.error {
        return Reading {
            failure: Some(e.kind),
            ..Default::default()
        };
    }
    let fields = ReplyFields::read(&raw.body);
    let mut reading = Reading {
        cold: fields.and_then(|f| f.is_cold).unwrap_or(false),
        benchmark_us: fields.and_then(|f| f.benchmark_us()).unwrap_or(0),
        container_id: fields.and_then(|f| f.container_id).unwrap_or(""),
        ..Default::default()
    };
    reading.failure = match (raw.status, fields) {
        (
            Some(200),
            Some(ReplyFields {
                is_cold: Some(_), ..
            }),
        ) => None,
        (Some(200), _) => Some(ErrorKind::InvalidReply),
        (Some(500), Some(_)) => Some(ErrorKind::FunctionError),
        _ => Some(ErrorKind::HttpStatus),
    };
    reading
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn raw(status: u16, body: &'static str) -> RawInvocation {
        RawInvocation {
            status: Some(status),
            body: Bytes::from_static(body.as_bytes()),
            ..Default::default()
        }
    }

    #[test]
    fn classifies_replies() {
        let r = raw(
            200,
            r#"{"is_cold": true, "begin": 1.0, "end": 1.001, "container_id": "c1"}"#,
        );
        let ok = read_wrapper_reply(&r);
        assert_eq!(
            (ok.failure, ok.cold, ok.benchmark_us, ok.container_id),
            (None, true, 1000, "c1")
        );
        let bad = raw(200, r#"{"begin": 1.0}"#);
        assert_eq!(
            read_wrapper_reply(&bad).failure,
            Some(ErrorKind::InvalidReply)
        );
        let raised = raw(500, r#"{"error": "ValueError: x", "is_cold": false}"#);
        assert_eq!(
            read_wrapper_reply(&raised).failure,
            Some(ErrorKind::FunctionError)
        );
        let gateway = raw(502, "bad gateway");
        assert_eq!(
            read_wrapper_reply(&gateway).failure,
            Some(ErrorKind::HttpStatus)
        );
    }
}
