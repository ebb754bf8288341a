//! What every trigger (HTTP, SDK, the local platform's) promises.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use http::HeaderMap;
use sebs_common::InvocationError;

use crate::lean_http::LeanConnection;

/// One request to a function. Borrowed, so that a hot loop can format the id into a stack
/// buffer and reuse one payload without allocating.
#[derive(Clone, Copy, Debug)]
pub struct InvocationRequest<'a> {
    pub request_id: &'a str,
    /// The JSON event.
    pub payload: &'a Bytes,
}

/// What the client saw of one invocation, before any platform-specific interpretation.
#[derive(Clone, Debug, Default)]
pub struct RawInvocation {
    /// Epoch seconds when the request started.
    pub client_begin: f64,
    /// Epoch seconds when the whole reply had arrived (or the request failed).
    pub client_end: f64,
    /// µs from start to the whole reply.
    pub client_us: u64,
    /// Seconds spent connecting; 0 when a kept-alive connection was reused.
    pub http_startup: f64,
    /// Seconds from sending the request to the first byte of the reply.
    pub first_byte: f64,
    /// HTTP status, when a reply arrived.
    pub status: Option<u16>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Set when no reply arrived at all (connect failure, client timeout, broken connection).
    pub error: Option<InvocationError>,
}

/// A way to invoke one deployed function. Implementations never panic on a failed invocation:
/// the failure is recorded in the returned `RawInvocation`.
#[async_trait]
pub trait Trigger: Send + Sync + std::fmt::Debug {
    async fn invoke(&self, request: InvocationRequest<'_>) -> RawInvocation;

    /// A connection that one caller (an engine task) keeps and uses alone, invoking the same
    /// function as [`Trigger::invoke`] without sharing a pool. `None` (the default): this
    /// trigger has none; callers use `invoke`.
    fn own_connection(&self) -> Option<LeanConnection> {
        None
    }
}

/// Seconds from `start` to `now`, negative when `start` is still ahead.
pub(crate) fn signed_elapsed(start: Instant, now: Instant) -> f64 {
    now.saturating_duration_since(start).as_secs_f64()
        - start.saturating_duration_since(now).as_secs_f64()
}

pub fn epoch_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A random request id: 32 hex characters, like a uuid4 without dashes.
pub fn new_request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}
