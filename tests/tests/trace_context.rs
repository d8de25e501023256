//! One user action is one trace: the caller's traceparent continues through booking into
//! identity and quota.
use antrean_platform::grpc::traced_channel;
use antrean_proto::v1 as pb;
use antrean_proto::v1::booking_service_client::BookingServiceClient;
use antrean_tests::*;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_is_one_trace_across_services() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let s = start().await;
    let booking_url = {
        // The harness client has no interceptor; a traced channel carries the caller's span.
        let addr = s.booking_url.clone();
        BookingServiceClient::new(traced_channel(&addr).unwrap())
    };
    let root = tracing::info_span!("user action");
    let trace_id = root.context().span().span_context().trace_id();
    let mut client = booking_url;
    client
        .create_booking(create(
            "trace-1",
            "BOGOR",
            "2026-12-01",
            pb::Session::Pagi,
            "081234567890",
            vec![applicant("", "Budi Santoso", "1987-01-25")],
        ))
        .instrument(root)
        .await
        .unwrap();
    let _ = provider.force_flush();
    let spans = exporter.get_finished_spans().unwrap();
    let in_trace: Vec<String> = spans
        .iter()
        .filter(|s| s.span_context.trace_id() == trace_id)
        .map(|s| s.name.to_string())
        .collect();
    for rpc in [
        "antrean.v1.BookingService/CreateBooking",
        "antrean.v1.IdentityService/ResolveApplicants",
        "antrean.v1.QuotaService/GetOffice",
        "antrean.v1.QuotaService/Hold",
    ] {
        assert!(
            in_trace.iter().any(|n| n == rpc),
            "{rpc} not in {in_trace:?}"
        );
    }
}
