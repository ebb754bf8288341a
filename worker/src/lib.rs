//! The worker side of sebs: fires a function's triggers and records every invocation.
//!
//! A [`Trigger`] turns one request into one [`RawInvocation`] (timings, status, body, error);
//! [`closed_loop`] drives a trigger with a fixed number of invocations at a fixed concurrency,
//! in SeBS's batches when cold starts are forced between them. Turning a raw invocation into a
//! SeBS `ExecutionResult` is the caller's business: only it knows the platform.

pub mod client_side;
pub mod closed_loop;
mod digits;
pub mod engine;
pub mod http_trigger;
pub mod lean_http;
pub mod trigger;

pub use closed_loop::{run_closed_loop, BatchHook, ClosedLoop, Completed};
pub use http_trigger::{HttpTrigger, Stream, StreamSecurer};
pub use lean_http::LeanConnection;
pub use trigger::{epoch_seconds, new_request_id, InvocationRequest, RawInvocation, Trigger};
