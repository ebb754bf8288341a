//! Logging, and traces exported over OTLP (gRPC) when the standard environment asks for them:
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) turns the exporter
//! on; `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_EXPORTER_OTLP_TIMEOUT` and the batch processor's `OTEL_BSP_*` are read as the
//! OpenTelemetry SDK reads them. Built without the `otel` feature, the environment is ignored.
//!
//! The spans: `run` (coordinator) → `shard` (one per attempt; the coordinator's, and the
//! worker's as its child, joined across the network by the `traceparent` the assignment
//! carries) → `report` (one per batch of records: sent by the worker, merged or refused by the
//! coordinator).

use tracing::Span;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Keeps the exporter until the process ends; [`Telemetry::shutdown`] sends what is buffered.
#[derive(Debug, Default)]
pub struct Telemetry {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

/// Installs the global subscriber: `fmt` (what the process logs) and, when the environment
/// names an OTLP endpoint, the exporter of spans as `service` (unless `OTEL_SERVICE_NAME` or
/// `OTEL_RESOURCE_ATTRIBUTES` names it). Call within the tokio runtime: the exporter's channel
/// runs on it.
pub fn init(
    filter: EnvFilter,
    fmt: impl Layer<tracing_subscriber::Registry> + Send + Sync,
    service: &str,
) -> Telemetry {
    let registry = tracing_subscriber::registry().with(fmt);
    #[cfg(feature = "otel")]
    {
        match otlp::provider(service) {
            Ok(Some(provider)) => {
                use opentelemetry::trace::TracerProvider as _;
                let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("sebs"));
                registry.with(layer).with(filter).init();
                tracing::debug!("exporting traces over OTLP");
                return Telemetry {
                    provider: Some(provider),
                };
            }
            Ok(None) => {}
            // Logging is not up yet: say it plainly and carry on without traces.
            Err(e) => eprintln!("warning: not exporting traces: {e}"),
        }
    }
    #[cfg(not(feature = "otel"))]
    let _ = service;
    registry.with(filter).init();
    Telemetry::default()
}

impl Telemetry {
    /// Exports the spans still buffered (bounded by the exporter's timeout).
    pub fn shutdown(self) {
        #[cfg(feature = "otel")]
        if let Some(provider) = self.provider {
            if let Err(e) = provider.shutdown() {
                eprintln!("warning: not every span was exported: {e}");
            }
        }
    }
}

/// The W3C `traceparent` of `span`, for another process to continue its trace; `None` when no
/// trace is exported.
pub fn trace_parent(span: &Span) -> Option<String> {
    #[cfg(feature = "otel")]
    {
        use opentelemetry::propagation::TextMapPropagator;
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let context = span.context();
        if !context.span().span_context().is_valid() {
            return None;
        }
        let mut carrier = std::collections::HashMap::new();
        opentelemetry_sdk::propagation::TraceContextPropagator::new()
            .inject_context(&context, &mut carrier);
        carrier.remove("traceparent")
    }
    #[cfg(not(feature = "otel"))]
    {
        let _ = span;
        None
    }
}

/// Makes `span` a child of the remote span `traceparent` names (one that does not parse is
/// ignored: the span starts a trace of its own).
pub fn continue_trace(span: &Span, traceparent: &str) {
    #[cfg(feature = "otel")]
    {
        use opentelemetry::propagation::TextMapPropagator;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let carrier =
            std::collections::HashMap::from([("traceparent".to_string(), traceparent.to_string())]);
        let parent =
            opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&carrier);
        let _ = span.set_parent(parent);
    }
    #[cfg(not(feature = "otel"))]
    let _ = (span, traceparent);
}

#[cfg(feature = "otel")]
mod otlp {
    use opentelemetry_otlp::SpanExporter;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use opentelemetry_sdk::Resource;

    /// The tracer provider the environment asks for, if any.
    pub(super) fn provider(
        service: &str,
    ) -> Result<Option<SdkTracerProvider>, opentelemetry_otlp::ExporterBuildError> {
        let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
        if !set("OTEL_EXPORTER_OTLP_ENDPOINT") && !set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            return Ok(None);
        }
        // The exporter reads the endpoint, headers and timeout from the environment.
        let exporter = SpanExporter::builder().with_tonic().build()?;
        let named = set("OTEL_SERVICE_NAME")
            || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|a| a.contains("service.name="));
        let mut resource = Resource::builder();
        if !named {
            resource = resource.with_service_name(service.to_string());
        }
        Ok(Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource.build())
                .build(),
        ))
    }
}
