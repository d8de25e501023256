//! Prometheus metrics: one recorder per process, rendered on `GET /metrics`.
//!
//! Series every gRPC service has (recorded by [`crate::grpc`]'s server layer):
//! `rpc_server_requests_total{method, code}` and `rpc_server_duration_seconds{method}`.
//! Services add their own (holds, bookings by state, deliveries, Redis and PostgreSQL errors).
use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::sync::OnceLock;
use tokio::net::TcpListener;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder (once per process) and answers its handle.
#[allow(
    clippy::expect_used,
    reason = "startup: constant buckets, and this is the process's only recorder"
)]
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("duration_seconds".into()),
                &[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
                ],
            )
            .expect("valid buckets")
            .install_recorder()
            .expect("one metrics recorder per process")
    })
}

/// The current metrics in the Prometheus text format.
pub fn render() -> String {
    install().render()
}

/// A router answering `GET /metrics`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/metrics", get(|| async { render() }))
}

/// Serves `/metrics` on its own listener (gRPC services) until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    install();
    axum::serve(crate::nodelay_listener(listener), router::<()>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Counts an error of a dependency (`redis`, `postgres`, a service name).
pub fn dependency_error(dependency: &'static str) {
    metrics::counter!("dependency_errors_total", "dependency" => dependency).increment(1);
}
