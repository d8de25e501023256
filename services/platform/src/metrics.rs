//! Prometheus metrics: one recorder per process, rendered on `GET /metrics`.
//!
//! Series every gRPC service has (recorded by [`crate::grpc`]'s server layer):
//! `rpc_server_requests_total{method, code}` and `rpc_server_duration_seconds{method}`.
//! Services add their own (holds, bookings by state, deliveries, Redis and PostgreSQL errors).
//! Every process with a database pool also has `db_pool_connections{pool, state}` and
//! `db_pool_max_connections{pool}`, read from its pools when scraped. docs/slo.md lists the
//! series the alerts and dashboards use.
use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::sync::{Mutex, OnceLock};
use tokio::net::TcpListener;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's database pools by schema, read at each scrape.
static POOLS: Mutex<Vec<(String, sqlx::PgPool)>> = Mutex::new(Vec::new());

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
            // Waits measured in queues (an inbox message until answered, an outbox message
            // until delivered): seconds to an hour.
            .set_buckets_for_metric(
                Matcher::Suffix("delay_seconds".into()),
                &[
                    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
                ],
            )
            .expect("valid buckets")
            .install_recorder()
            .expect("one metrics recorder per process")
    })
}

/// The current metrics in the Prometheus text format.
pub fn render() -> String {
    let handle = install();
    sample_pools();
    handle.render()
}

/// Reports `pool`'s connections at every scrape, as `pool="<schema>"` (the newest pool of a
/// schema replaces an older one).
pub fn watch_pool(schema: &str, pool: sqlx::PgPool) {
    let mut pools = POOLS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    pools.retain(|(s, _)| s != schema);
    pools.push((schema.to_owned(), pool));
    drop(pools);
    register_dependency("postgres");
}

/// Starts `dependency_errors_total{dependency}` at 0, so its rate is known (and alerts can
/// read it) before the first error.
pub fn register_dependency(dependency: &'static str) {
    // Services connect before they serve `/metrics`: the recorder must exist already.
    install();
    metrics::counter!("dependency_errors_total", "dependency" => dependency).increment(0);
}

fn sample_pools() {
    let pools = POOLS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (schema, pool) in pools.iter() {
        let size = pool.size();
        let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX).min(size);
        metrics::gauge!("db_pool_connections", "pool" => schema.clone(), "state" => "busy")
            .set(f64::from(size - idle));
        metrics::gauge!("db_pool_connections", "pool" => schema.clone(), "state" => "idle")
            .set(f64::from(idle));
        metrics::gauge!("db_pool_max_connections", "pool" => schema.clone())
            .set(f64::from(pool.options().get_max_connections()));
    }
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

/// Axum middleware (a `route_layer`, so the route is known) recording
/// `http_server_requests_total{route, code}` and `http_server_duration_seconds{route}`, the
/// route being the matched path pattern (`/api/v1/bookings/{code}`), never the raw path.
pub async fn observe_http(
    route: Option<axum::extract::MatchedPath>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = route.map_or_else(|| "unmatched".to_owned(), |r| r.as_str().to_owned());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    metrics::histogram!("http_server_duration_seconds", "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("http_server_requests_total", "route" => route, "code" => response.status().as_str().to_owned())
        .increment(1);
    response
}

/// Counts an error of a dependency (`redis`, `postgres`, a service name).
pub fn dependency_error(dependency: &'static str) {
    metrics::counter!("dependency_errors_total", "dependency" => dependency).increment(1);
}
