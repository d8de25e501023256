//! Spans leave the process over OTLP/gRPC when an endpoint is configured, to a real OTLP
//! receiver on a loopback port; with none configured nothing is exported and nothing fails.
use antrean_platform::telemetry::tracer_provider;
use antrean_platform::testing;
use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use std::sync::{Arc, Mutex};
use tokio_stream::wrappers::TcpListenerStream;

/// An OTLP trace receiver that keeps what it is sent.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<ExportTraceServiceRequest>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl Receiver {
    /// (service.name, span name) of every span received.
    fn spans(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for req in self.0.lock().unwrap().iter() {
            for rs in &req.resource_spans {
                let service = rs
                    .resource
                    .iter()
                    .flat_map(|r| &r.attributes)
                    .find(|kv| kv.key == "service.name")
                    .and_then(|kv| kv.value.as_ref()?.value.as_ref())
                    .map(|v| match v {
                        Value::StringValue(s) => s.clone(),
                        other => format!("{other:?}"),
                    })
                    .unwrap_or_default();
                for ss in &rs.scope_spans {
                    for span in &ss.spans {
                        out.push((service.clone(), span.name.clone()));
                    }
                }
            }
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_otlp_collector_named_by_the_endpoint() {
    let receiver = Receiver::default();
    let (listener, addr) = testing::listener().await;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let provider = tracer_provider("quota", Some(&format!("http://{addr}")));
    provider
        .tracer("antrean")
        .in_span("antrean.v1.QuotaService/Hold", |_| {});
    // The batch goes out on flush (and at the latest when the service stops).
    let flushed = tokio::task::spawn_blocking(move || {
        let r = provider.force_flush();
        let _ = provider.shutdown();
        r
    })
    .await
    .unwrap();
    flushed.expect("the collector took the batch");
    assert_eq!(
        receiver.spans(),
        vec![(
            "quota".to_owned(),
            "antrean.v1.QuotaService/Hold".to_owned()
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_endpoint_nothing_is_exported_and_nothing_fails() {
    for endpoint in [None, Some(""), Some("  ")] {
        let provider = tracer_provider("booking", endpoint);
        provider.tracer("antrean").in_span("work", |_| {});
        provider.force_flush().expect("nothing to flush, no error");
        provider.shutdown().expect("clean shutdown");
    }
}
