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
    let subscriber = tracing_subscriber::registry().with(antrean_platform::telemetry::otel_layer(
        provider.tracer("test"),
    ));
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let s = start().await;
    let booking_url = {
        // The harness client has no interceptor; a traced channel carries the caller's span.
        let addr = s.booking_url.clone();
        BookingServiceClient::new(traced_channel(&addr, None).unwrap())
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

/// The spans of one trace as (name -> parent name), looked up by span id.
struct Tree(Vec<opentelemetry_sdk::trace::SpanData>);

impl Tree {
    fn find(&self, name: &str) -> &opentelemetry_sdk::trace::SpanData {
        self.0
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no span {name} in {:?}", self.names()))
    }

    fn names(&self) -> Vec<String> {
        self.0.iter().map(|s| s.name.to_string()).collect()
    }

    fn parent_of(&self, name: &str) -> String {
        let parent = self.find(name).parent_span_id;
        self.0
            .iter()
            .find(|s| s.span_context.span_id() == parent)
            .map(|s| s.name.to_string())
            .unwrap_or_else(|| "(root)".to_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whatsapp_booking_is_one_span_tree_from_webhook_to_delivery() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry().with(antrean_platform::telemetry::otel_layer(
        provider.tracer("test"),
    ));
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let w = start_with_whatsapp().await;
    let reply = w
        .say(
            BOGOR_NUMBER,
            "6281234567890",
            "#Budi Santoso#25011987#01122026",
        )
        .await;
    assert!(reply.contains("Kode konfirmasi"), "{reply}");

    // The reply's delivery span ends just after the Cloud API took it.
    let mut tree = Tree(Vec::new());
    for _ in 0..200 {
        let spans = exporter.get_finished_spans().unwrap();
        let Some(webhook) = spans.iter().find(|s| s.name == "POST /webhooks/whatsapp") else {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        };
        let trace_id = webhook.span_context.trace_id();
        tree = Tree(
            spans
                .into_iter()
                .filter(|s| s.span_context.trace_id() == trace_id)
                .collect(),
        );
        let done = |n: &str| tree.0.iter().any(|s| s.name == n);
        if done("notification.deliver") && done("whatsapp.message") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let parent = |name: &str| tree.parent_of(name);
    assert_eq!(parent("POST /webhooks/whatsapp"), "(root)");
    // Stored with the message, picked up by an inbox worker.
    assert_eq!(parent("whatsapp.message"), "POST /webhooks/whatsapp");
    assert_eq!(
        parent("antrean.v1.BookingService/CreateBooking"),
        "whatsapp.message"
    );
    assert_eq!(
        parent("antrean.v1.IdentityService/ResolveApplicants"),
        "antrean.v1.BookingService/CreateBooking"
    );
    assert_eq!(
        parent("antrean.v1.QuotaService/Hold"),
        "antrean.v1.BookingService/CreateBooking"
    );
    assert_eq!(
        parent("antrean.v1.NotificationService/Send"),
        "whatsapp.message"
    );
    // Stored with the outbox row, delivered by a notification worker.
    assert_eq!(
        parent("notification.deliver"),
        "antrean.v1.NotificationService/Send"
    );
    let deliver = tree.find("notification.deliver");
    let send = tree.find("antrean.v1.NotificationService/Send");
    assert!(deliver.start_time >= send.start_time);
}
