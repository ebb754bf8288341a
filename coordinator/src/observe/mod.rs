//! Observability of `sebs coordinator` and `sebs worker`: Prometheus metrics, liveness and
//! readiness endpoints (`--metrics-listen`), and traces exported over OTLP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! - [`metrics`]: counter, gauge and histogram families and the text exposition format;
//! - [`fleet_metrics`]: the families a coordinator and a worker export, by name;
//! - [`http`]: the endpoints, and the `Lifecycle` readiness follows;
//! - [`traces`]: logging, and spans exported over OTLP (feature `otel`).

pub mod fleet_metrics;
pub mod http;
pub mod metrics;
pub mod traces;

pub use fleet_metrics::{CoordinatorMetrics, WorkerMetrics};
pub use http::Lifecycle;
