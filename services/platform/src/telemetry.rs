//! Telemetry starts here, once per process: JSON logs (plain text with `LOG_FORMAT=text`),
//! an OpenTelemetry tracer behind `tracing`, and the W3C trace-context propagator used by
//! [`crate::grpc`] to carry `traceparent` across every RPC. Spans go to an OTLP collector
//! over gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; without it nothing is exported.
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Keeps the tracer provider alive; flushes spans when dropped at the end of `main`.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// The tracer provider of `service`: spans are batched to the OTLP/gRPC collector at
/// `otlp_endpoint` (for example `http://otel-collector:4317`), or kept in-process only when
/// there is none. A collector that cannot be reached never fails the service: the exporter
/// retries in the background and drops what it cannot send. Needs a Tokio runtime.
pub fn tracer_provider(service: &'static str, otlp_endpoint: Option<&str>) -> SdkTracerProvider {
    let mut builder = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service).build());
    if let Some(endpoint) = otlp_endpoint.map(str::trim).filter(|e| !e.is_empty()) {
        match opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
        {
            Ok(exporter) => builder = builder.with_batch_exporter(exporter),
            // Logging is not up yet: say it on stderr and run without export.
            Err(e) => eprintln!("OTEL_EXPORTER_OTLP_ENDPOINT={endpoint} is not usable: {e}"),
        }
    }
    builder.build()
}

/// Starts logging and tracing for `service`. `RUST_LOG` filters (default `info`);
/// `OTEL_EXPORTER_OTLP_ENDPOINT` turns on span export. Call inside the Tokio runtime.
pub fn init(service: &'static str) -> TelemetryGuard {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok();
    let provider = tracer_provider(service, endpoint.as_deref());
    opentelemetry::global::set_tracer_provider(provider.clone());
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer(service));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let text = std::env::var("LOG_FORMAT").is_ok_and(|v| v == "text");
    let fmt = if text {
        tracing_subscriber::fmt::layer().boxed()
    } else {
        // The current span's fields (trace_id, the RPC name) go with every line.
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .boxed()
    };
    // `RUST_LOG` filters logs only; the tracer takes every span at INFO and above (ours),
    // not the DEBUG/TRACE spans of hyper, h2 and tower.
    let _ = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otel.with_filter(LevelFilter::INFO))
        .try_init();
    TelemetryGuard { provider }
}

/// For tests: the same tracer and propagator, logs to the test writer. Safe to call often.
pub fn init_for_tests() {
    static ONCE: std::sync::OnceLock<SdkTracerProvider> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let provider = SdkTracerProvider::builder().build();
        let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
        let _ = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_test_writer()
                    .with_filter(filter),
            )
            .with(otel)
            .try_init();
        provider
    });
}
