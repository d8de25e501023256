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
use std::collections::HashMap;
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

/// A tower layer for an axum router's `route_layer` (so the route is known) recording
/// `http_server_requests_total{route, code}` and `http_server_duration_seconds{route}`, the
/// route being the matched path pattern (`/api/v1/bookings/{code}`), never the raw path.
///
/// A plain layer reading the route from the request's extensions, with the metric handles
/// kept per thread once registered (as the gRPC layer keeps its methods'): a request costs
/// one lookup by route and two atomic updates, not a registry lookup with its labels built
/// again.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpMetricsLayer;

impl<S> tower::Layer<S> for HttpMetricsLayer {
    type Service = HttpMetrics<S>;
    fn layer(&self, inner: S) -> Self::Service {
        HttpMetrics { inner }
    }
}

#[derive(Debug, Clone)]
pub struct HttpMetrics<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for HttpMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = axum::response::Response>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send + 'static>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let route = req
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .cloned();
        let started = std::time::Instant::now();
        let call = self.inner.call(req);
        Box::pin(async move {
            let answer = call.await;
            if let Ok(r) = &answer {
                record_http(
                    route.as_ref().map_or("unmatched", |r| r.as_str()),
                    r.status().as_u16(),
                    started.elapsed(),
                );
            }
            answer
        })
    }
}

/// One route's metric handles.
struct RouteHandles {
    duration: metrics::Histogram,
    by_code: HashMap<u16, metrics::Counter>,
}

thread_local! {
    static HTTP_HANDLES: std::cell::RefCell<HashMap<String, RouteHandles>> =
        std::cell::RefCell::new(HashMap::new());
}

fn record_http(route: &str, code: u16, took: std::time::Duration) {
    HTTP_HANDLES.with_borrow_mut(|routes| {
        let handles = match routes.get_mut(route) {
            Some(h) => h,
            None => {
                // A handle taken before the recorder exists would record nothing, ever.
                install();
                routes.entry(route.to_owned()).or_insert_with(|| RouteHandles {
                    duration: metrics::histogram!("http_server_duration_seconds", "route" => route.to_owned()),
                    by_code: HashMap::new(),
                })
            }
        };
        handles.duration.record(took.as_secs_f64());
        handles
            .by_code
            .entry(code)
            .or_insert_with(|| {
                metrics::counter!("http_server_requests_total", "route" => route.to_owned(), "code" => code.to_string())
            })
            .increment(1);
    });
}

/// Counts an error of a dependency (`redis`, `postgres`, a service name).
pub fn dependency_error(dependency: &'static str) {
    metrics::counter!("dependency_errors_total", "dependency" => dependency).increment(1);
}
