//! The standard gRPC server every antrean service runs, and traced client channels.
//!
//! Server stack, outermost first: W3C trace context extraction (one span per RPC, child of
//! the caller's span; the RPC metrics; a kept status's encoded message answered as
//! `grpc-message`, see [`crate::status::encoded_once`]), request timeout, load shedding
//! behind a concurrency limit, then grpc.health.v1, server reflection (v1 and v1alpha) and
//! the service itself.
//!
//! Shutdown: when the shutdown future completes, health turns NOT_SERVING, the server waits
//! `drain_delay` (so load balancers stop sending), then stops accepting and drains in-flight
//! RPCs before [`serve`] returns.
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt;
use std::convert::Infallible;
use std::future::Future;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};
use tower::{Layer, Service};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Tuning of the standard server.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Longest time one RPC may take before it is answered DEADLINE_EXCEEDED.
    pub request_timeout: Duration,
    /// RPCs in flight per connection before new ones are shed with UNAVAILABLE.
    pub concurrency_per_connection: usize,
    /// Time between turning NOT_SERVING and refusing new connections.
    pub drain_delay: Duration,
    /// Mutual TLS: only callers with a certificate from the platform CA connect, and each RPC
    /// is checked against [`ServeOptions::allow`]. Without it (development), plaintext and
    /// every caller trusted; production mode refuses to start so.
    pub tls: Option<crate::tls::Tls>,
    /// Who may call which RPC of the service (with TLS).
    pub allow: &'static AllowList,
    /// A plaintext port serving only grpc.health.v1 (for probes without a certificate).
    pub health_addr: Option<String>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            concurrency_per_connection: 1024,
            drain_delay: Duration::ZERO,
            tls: None,
            allow: &AllowList::NONE,
            health_addr: None,
        }
    }
}

/// The identities allowed to call each RPC of one service: one table per service, read by
/// [`AuthorizeLayer`]. A method not in the table is refused to everyone. Health and
/// reflection are open to every authenticated caller.
#[derive(Debug)]
pub struct AllowList {
    /// The service's full name, e.g. `antrean.v1.QuotaService`.
    pub service: &'static str,
    /// `(method, identities)`, e.g. `("Hold", &["booking"])`.
    pub methods: &'static [(&'static str, &'static [&'static str])],
}

impl AllowList {
    /// Refuses every RPC but health and reflection.
    pub const NONE: AllowList = AllowList {
        service: "",
        methods: &[],
    };

    /// Whether `identity` may call the RPC at `path` (`/package.Service/Method`).
    pub fn allows(&self, path: &str, identity: &str) -> bool {
        if path.starts_with("/grpc.health.v1.") || path.starts_with("/grpc.reflection.") {
            return true;
        }
        let Some(method) = path
            .strip_prefix('/')
            .and_then(|p| p.strip_prefix(self.service))
            .and_then(|p| p.strip_prefix('/'))
        else {
            return false;
        };
        self.methods
            .iter()
            .any(|(m, who)| *m == method && who.contains(&identity))
    }

    /// The identities allowed to call `method`, for documentation and tests.
    pub fn callers(&self, method: &str) -> &'static [&'static str] {
        self.methods
            .iter()
            .find(|(m, _)| *m == method)
            .map_or(&[], |(_, who)| who)
    }
}

/// Checks each RPC's caller (the [`crate::tls::Peer`] of its connection) against the
/// service's [`AllowList`]; a refusal is PERMISSION_DENIED, logged with the caller's identity.
/// A request without a peer came over plaintext (development) and passes.
#[derive(Debug, Clone, Copy)]
pub struct AuthorizeLayer(pub &'static AllowList);

impl<S> Layer<S> for AuthorizeLayer {
    type Service = Authorize<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Authorize {
            inner,
            allow: self.0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Authorize<S> {
    inner: S,
    allow: &'static AllowList,
}

impl<S, B, RB> Service<http::Request<B>> for Authorize<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    RB: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        futures::future::Either<S::Future, std::future::Ready<Result<S::Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if let Some(peer) = req.extensions().get::<crate::tls::Peer>()
            && !self.allow.allows(req.uri().path(), &peer.identity)
        {
            tracing::warn!(
                caller = %peer.identity,
                peer = %peer.addr,
                method = req.uri().path(),
                "RPC refused: the caller is not on its allow-list"
            );
            let status = tonic::Status::permission_denied(format!(
                "{} may not call {}",
                peer.identity,
                req.uri().path()
            ));
            return futures::future::Either::Right(std::future::ready(Ok(status.into_http())));
        }
        futures::future::Either::Left(self.inner.call(req))
    }
}

/// Serves `service` with health, reflection and trace context on an already-bound listener
/// until `shutdown` completes, then drains.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()>
where
    S: Service<http::Request<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Response: axum::response::IntoResponse,
    S::Future: Send + 'static,
{
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<S>().await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(antrean_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(antrean_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let drain_delay = options.drain_delay;
    let health_port = match &options.health_addr {
        Some(addr) if !addr.is_empty() => {
            let listener = TcpListener::bind(addr).await?;
            tracing::info!(addr = %addr, "plaintext health port listening");
            Some(tokio::spawn(
                Server::builder()
                    .add_service(health.clone())
                    .serve_with_incoming(TcpIncoming::from(listener).with_nodelay(Some(true))),
            ))
        }
        _ => None,
    };
    let signal = async move {
        shutdown.await;
        reporter.set_not_serving::<S>().await;
        reporter
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        tracing::info!(service = S::NAME, "health NOT_SERVING; draining");
        tokio::time::sleep(drain_delay).await;
    };
    let router = Server::builder()
        .timeout(options.request_timeout)
        .concurrency_limit_per_connection(options.concurrency_per_connection)
        .load_shed(true)
        .layer(TraceContextLayer)
        .layer(AuthorizeLayer(options.allow))
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(service);
    // Replies are written as several small frames (headers, message, trailers): without
    // TCP_NODELAY, Nagle's algorithm holds the last of them for the peer's delayed ACK,
    // about 40 ms per unary call on an otherwise idle connection (`tls::incoming` sets it too).
    match &options.tls {
        Some(tls) => {
            tracing::info!(service = S::NAME, identity = %tls.identity(), "mutual TLS on");
            router
                .serve_with_incoming_shutdown(
                    crate::tls::incoming(listener, tls.server_config()?),
                    signal,
                )
                .await?
        }
        None => {
            tracing::warn!(
                service = S::NAME,
                "plaintext gRPC: every caller is trusted (development only)"
            );
            router
                .serve_with_incoming_shutdown(
                    TcpIncoming::from(listener).with_nodelay(Some(true)),
                    signal,
                )
                .await?
        }
    }
    if let Some(h) = health_port {
        h.abort();
    }
    tracing::info!(service = S::NAME, "stopped");
    Ok(())
}

/// The `code` label of an RPC the transport failed (no gRPC status at all).
const TRANSPORT: usize = 17;
/// The code of a path no service answers.
const UNIMPLEMENTED: usize = tonic::Code::Unimplemented as usize;

/// The canonical names of the gRPC status codes, for metric labels, and [`TRANSPORT`].
const CODE_NAMES: [&str; 18] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
    "TRANSPORT",
];

/// The index in [`CODE_NAMES`] of a gRPC status code (UNKNOWN for one out of range).
fn code_index(code: i32) -> usize {
    usize::try_from(code)
        .ok()
        .filter(|&i| i < TRANSPORT)
        .unwrap_or(2)
}

/// The two series of one method: registered with the recorder the first time the method is
/// answered (each code the first time it is answered with it), then recorded through their
/// handles, so an RPC does not build and look up two labelled series on every call.
struct MethodMetrics {
    duration: metrics::Histogram,
    requests: [std::sync::OnceLock<metrics::Counter>; CODE_NAMES.len()],
    method: String,
}

impl MethodMetrics {
    /// Every method's, by path; unknown paths share one entry (see [`Self::record`]).
    fn of(method: &str) -> std::sync::Arc<MethodMetrics> {
        use std::collections::HashMap;
        use std::sync::{Arc, OnceLock, RwLock};
        static METHODS: OnceLock<RwLock<HashMap<String, Arc<MethodMetrics>>>> = OnceLock::new();
        let methods = METHODS.get_or_init(Default::default);
        if let Some(m) = methods
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(method)
        {
            return m.clone();
        }
        // Handles taken before the recorder exists would record nowhere.
        crate::metrics::install();
        methods
            .write().unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(method.to_owned())
            .or_insert_with(|| {
                Arc::new(MethodMetrics {
                    duration: metrics::histogram!("rpc_server_duration_seconds", "method" => method.to_owned()),
                    requests: Default::default(),
                    method: method.to_owned(),
                })
            })
            .clone()
    }

    /// Counts one answer of `path` with `code` (an index in [`CODE_NAMES`]) that took
    /// `elapsed`. A path no service answers is one label, whatever callers send: the series
    /// stay bounded by the methods the services have.
    fn record(path: &str, code: usize, elapsed: Duration) {
        let m = Self::of(if code == UNIMPLEMENTED {
            "unknown"
        } else {
            path
        });
        let name = CODE_NAMES.get(code).copied().unwrap_or("UNKNOWN");
        if let Some(counter) = m.requests.get(code) {
            counter
                .get_or_init(|| {
                    metrics::counter!("rpc_server_requests_total", "method" => m.method.clone(), "code" => name)
                })
                .increment(1);
        }
        m.duration.record(elapsed.as_secs_f64());
    }
}

/// Server side of W3C trace context: each RPC runs in a span whose parent is the caller's
/// `traceparent`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceContextLayer;

impl<S> Layer<S> for TraceContextLayer {
    type Service = TraceContextService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TraceContextService { inner }
    }
}

#[derive(Debug, Clone)]
pub struct TraceContextService<S> {
    inner: S,
}

impl<S, B, RB> Service<http::Request<B>> for TraceContextService<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let parent = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&HeaderExtractor(req.headers()))
        });
        let path = req.uri().path();
        let span = tracing::info_span!(
            "rpc",
            otel.name = path.trim_start_matches('/'),
            otel.kind = "server",
            rpc.system = "grpc",
        );
        // Fails only for a span no subscriber records; there is nothing to continue then.
        // Log lines inside the RPC carry its trace id (`telemetry::logs`).
        let _ = span.set_parent(parent);
        let uri = req.uri().clone();
        let started = std::time::Instant::now();
        let call = self.inner.call(req).instrument(span);
        Box::pin(async move {
            let mut answer = call.await;
            // Unary errors are trailers-only responses: grpc-status is in the headers.
            let code = match &mut answer {
                Ok(r) => {
                    let code = r
                        .headers()
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<i32>().ok())
                        .map_or(0, code_index);
                    if code != 0 {
                        crate::status::answer_encoded_message(r.headers_mut());
                    }
                    code
                }
                Err(_) => TRANSPORT,
            };
            MethodMetrics::record(uri.path().trim_start_matches('/'), code, started.elapsed());
            answer
        })
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Client side of W3C trace context: puts the current span's `traceparent` on every call.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracePropagator;

impl Interceptor for TracePropagator {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let cx = tracing::Span::current().context();
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&cx, &mut MetadataInjector(req.metadata_mut()))
        });
        Ok(req)
    }
}

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(k, v);
        }
    }
}

/// The W3C `traceparent` of the current span (empty outside any trace), for work that goes on
/// later from a stored row: an outbox message, a received webhook.
pub fn current_traceparent() -> String {
    let cx = tracing::Span::current().context();
    let mut carrier = std::collections::HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
    carrier.remove("traceparent").unwrap_or_default()
}

/// Makes `span` a child of the span a stored `traceparent` names, so asynchronous work stays
/// in the trace of the user action that caused it. An empty or malformed value leaves `span`
/// a root.
pub fn continue_trace(span: &tracing::Span, traceparent: &str) {
    if traceparent.is_empty() {
        return;
    }
    let carrier =
        std::collections::HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// A client channel that carries trace context. Generated clients wrap it:
/// `QuotaServiceClient::new(grpc::traced_channel(url)?)`.
pub type TracedChannel = InterceptedService<Channel, TracePropagator>;

/// How often a `dns://` target is resolved again.
pub const DNS_REFRESH: Duration = Duration::from_secs(5);

/// A channel to `url`, connected lazily (services may start in any order):
/// - `http://host:port`: one HTTP/2 connection (a local process, a Service's virtual IP);
/// - `dns://host:port`: every address `host` resolves to, re-resolved every [`DNS_REFRESH`],
///   each request going to the less loaded of two (power of two choices). With a Kubernetes
///   headless Service (`dns://quota-pods:50052`) requests spread over all ready pods instead
///   of pinning to the one the connection first reached.
///
/// With `tls`, every connection is mutual TLS (`http://` is then read as `https://`): this
/// process's certificate, the server's checked against the CA for `host`; when the
/// certificate is renewed the connections are made again with the new one.
pub fn traced_channel(url: &str, tls: Option<&crate::tls::Tls>) -> anyhow::Result<TracedChannel> {
    let (scheme, rest) = match (url.split_once("://"), tls) {
        (Some(("dns", rest)), Some(_)) => ("dns", rest),
        (Some(("dns", rest)), None) => ("dns", rest),
        (Some((_, rest)), Some(_)) => ("https", rest),
        (Some((scheme, rest)), None) => (scheme, rest),
        (None, _) => anyhow::bail!("{url}: not a URL (http://host:port or dns://host:port)"),
    };
    let target = rest.trim_end_matches('/').to_owned();
    let host = target
        .rsplit_once(':')
        .map_or(target.as_str(), |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let make = {
        let tls = tls.cloned();
        move |url: String| -> anyhow::Result<Endpoint> {
            let e = endpoint(&url)?;
            Ok(match &tls {
                Some(tls) => e.tls_config(tls.client_config(&host))?,
                None => e,
            })
        }
    };
    let channel = if scheme == "dns" {
        anyhow::ensure!(
            target
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok()),
            "{url}: a dns:// target needs host:port"
        );
        let each = if tls.is_some() { "https" } else { "http" };
        balanced_channel(
            move || {
                let target = target.clone();
                async move {
                    Ok(tokio::net::lookup_host(target)
                        .await?
                        .map(|a| format!("{each}://{a}"))
                        .collect())
                }
            },
            DNS_REFRESH,
            make,
            tls.cloned(),
        )
    } else if tls.is_some() {
        let url = format!("{scheme}://{target}");
        balanced_channel(
            move || {
                let url = url.clone();
                async move { Ok(vec![url]) }
            },
            tls.map_or(DNS_REFRESH, crate::tls::Tls::reload_interval),
            make,
            tls.cloned(),
        )
    } else {
        make(url.to_owned())?.connect_lazy()
    };
    Ok(InterceptedService::new(channel, TracePropagator))
}

fn endpoint(url: &str) -> anyhow::Result<Endpoint> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30)))
}

/// A channel balancing requests over the endpoints (URLs) `resolve` answers, asked again
/// every `refresh`: new ones join, vanished ones leave (their in-flight calls finish). An
/// empty or failed answer keeps the last known set. With `tls`, a renewed certificate makes
/// every endpoint again. Must be called inside a Tokio runtime; the resolving task ends when
/// the channel is dropped.
pub fn balanced_channel<R, F, M>(
    resolve: R,
    refresh: Duration,
    make: M,
    tls: Option<crate::tls::Tls>,
) -> Channel
where
    R: Fn() -> F + Send + 'static,
    F: Future<Output = std::io::Result<Vec<String>>> + Send,
    M: Fn(String) -> anyhow::Result<Endpoint> + Send + 'static,
{
    use tonic::transport::channel::Change;
    let (channel, changes) = Channel::balance_channel::<String>(64);
    tokio::spawn(async move {
        let mut known = std::collections::HashSet::new();
        let mut certificate = None;
        loop {
            let renewed = match &tls {
                Some(tls) => {
                    let (renewed, stamp) = tls.renewed(certificate);
                    certificate = Some(stamp);
                    renewed
                }
                None => false,
            };
            if renewed {
                tracing::info!("TLS certificate renewed: connecting again with it");
                known.clear();
            }
            match resolve().await {
                Ok(urls) if !urls.is_empty() => {
                    let now: std::collections::HashSet<_> = urls.into_iter().collect();
                    for gone in known.difference(&now) {
                        if changes.send(Change::Remove(gone.clone())).await.is_err() {
                            return;
                        }
                    }
                    for new in now.difference(&known) {
                        let e = match make(new.clone()) {
                            Ok(e) => e,
                            Err(e) => {
                                tracing::warn!(url = %new, error = %format!("{e:#}"), "cannot make an endpoint");
                                continue;
                            }
                        };
                        // Inserting a known key replaces its endpoint (a renewal).
                        if changes.send(Change::Insert(new.clone(), e)).await.is_err() {
                            return;
                        }
                    }
                    known = now;
                }
                Ok(_) => {
                    tracing::warn!("no addresses for a balanced channel; keeping the last ones")
                }
                Err(e) => tracing::warn!(error = %e, "resolving a balanced channel failed"),
            }
            tokio::select! {
                () = tokio::time::sleep(refresh) => {}
                () = changes.closed() => return,
            }
        }
    });
    channel
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_spans_continue_the_callers_trace() {
        crate::telemetry::init_for_tests();
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        let mut req = http::Request::new(());
        *req.headers_mut() = headers;
        *req.uri_mut() = "/antrean.v1.Test/Call".parse().unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let s2 = seen.clone();
        let inner = tower::service_fn(move |_req: http::Request<()>| {
            let s2 = s2.clone();
            async move {
                let id = tracing::Span::current()
                    .context()
                    .span()
                    .span_context()
                    .trace_id()
                    .to_string();
                *s2.lock().unwrap() = id;
                Ok::<_, std::convert::Infallible>(http::Response::new(()))
            }
        });
        crate::metrics::install();
        let mut svc = TraceContextLayer.layer(inner);
        futures::executor::block_on(svc.call(req)).unwrap();
        assert_eq!(*seen.lock().unwrap(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let metrics = crate::metrics::render();
        assert!(
            metrics.contains(
                r#"rpc_server_requests_total{method="antrean.v1.Test/Call",code="OK"} 1"#
            ),
            "{metrics}"
        );
        assert!(
            metrics.contains("rpc_server_duration_seconds_bucket"),
            "{metrics}"
        );

        // Later answers of a method count in the same series, or in its series for their code.
        let answering = |code: &'static str| {
            tower::service_fn(move |_req: http::Request<()>| async move {
                let mut r = http::Response::new(());
                if !code.is_empty() {
                    r.headers_mut().insert("grpc-status", code.parse().unwrap());
                }
                Ok::<_, std::convert::Infallible>(r)
            })
        };
        for code in ["", "5", "5"] {
            let mut req = http::Request::new(());
            *req.uri_mut() = "/antrean.v1.Test/Call".parse().unwrap();
            futures::executor::block_on(TraceContextLayer.layer(answering(code)).call(req))
                .unwrap();
        }
        let metrics = crate::metrics::render();
        for series in [
            r#"rpc_server_requests_total{method="antrean.v1.Test/Call",code="OK"} 2"#,
            r#"rpc_server_requests_total{method="antrean.v1.Test/Call",code="NOT_FOUND"} 2"#,
            r#"rpc_server_duration_seconds_count{method="antrean.v1.Test/Call"} 4"#,
        ] {
            assert!(metrics.contains(series), "{series}: {metrics}");
        }

        // Paths no service has are counted under one label.
        let unimplemented = tower::service_fn(|_req: http::Request<()>| async {
            let mut r = http::Response::new(());
            r.headers_mut().insert("grpc-status", "12".parse().unwrap());
            Ok::<_, std::convert::Infallible>(r)
        });
        let mut svc = TraceContextLayer.layer(unimplemented);
        for path in ["/antrean.v1.Test/Nope", "/made.up/Path"] {
            let mut req = http::Request::new(());
            *req.uri_mut() = path.parse().unwrap();
            futures::executor::block_on(svc.call(req)).unwrap();
        }
        let metrics = crate::metrics::render();
        assert!(
            metrics
                .contains(r#"rpc_server_requests_total{method="unknown",code="UNIMPLEMENTED"} 2"#),
            "{metrics}"
        );
        assert!(!metrics.contains("made.up"), "{metrics}");
    }

    #[test]
    fn a_span_continues_the_callers_trace_and_passes_it_on() {
        crate::telemetry::init_for_tests();
        let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "traceparent",
            format!("00-{trace_id}-00f067aa0ba902b7-01")
                .parse()
                .unwrap(),
        );
        let parent = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&HeaderExtractor(&headers))
        });
        let span = tracing::info_span!("rpc");
        span.set_parent(parent).unwrap();
        let _entered = span.enter();
        let req = TracePropagator.call(tonic::Request::new(())).unwrap();
        let out = req.metadata().get("traceparent").unwrap().to_str().unwrap();
        assert!(out.starts_with(&format!("00-{trace_id}-")), "{out}");
        assert_ne!(out, format!("00-{trace_id}-00f067aa0ba902b7-01"));
        assert_eq!(
            span.context().span().span_context().trace_id().to_string(),
            trace_id
        );
    }

    /// A health server on a loopback port that counts the requests it answers.
    async fn counting_server() -> (
        std::net::SocketAddr,
        std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) {
        let (_reporter, health) = tonic_health::server::health_reporter();
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = seen.clone();
        let counted = InterceptedService::new(health, move |req: tonic::Request<()>| {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(req)
        });
        let (listener, addr) = crate::testing::listener().await;
        tokio::spawn(
            Server::builder()
                .add_service(counted)
                .serve_with_incoming(TcpIncoming::from(listener)),
        );
        (addr, seen)
    }

    #[tokio::test]
    async fn a_balanced_channel_spreads_requests_and_follows_the_resolved_addresses() {
        use std::sync::atomic::Ordering::SeqCst;
        use tonic_health::pb::HealthCheckRequest;
        use tonic_health::pb::health_client::HealthClient;
        let (a, seen_a) = counting_server().await;
        let (b, seen_b) = counting_server().await;
        let addrs = std::sync::Arc::new(std::sync::Mutex::new(vec![a, b]));
        let resolved = addrs.clone();
        let channel = balanced_channel(
            move || {
                let now = resolved
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|a| format!("http://{a}"))
                    .collect();
                async move { Ok(now) }
            },
            Duration::from_millis(50),
            |url| endpoint(&url),
            None,
        );
        let mut client = HealthClient::new(channel);
        let check = || HealthCheckRequest {
            service: String::new(),
        };
        for _ in 0..60 {
            client.check(check()).await.unwrap();
        }
        let (n_a, n_b) = (seen_a.load(SeqCst), seen_b.load(SeqCst));
        assert_eq!(n_a + n_b, 60);
        assert!(n_a >= 10 && n_b >= 10, "a: {n_a}, b: {n_b}");

        // b leaves the answer (its pod is gone from the headless Service): calls stop going there.
        addrs.lock().unwrap().retain(|x| *x == a);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before_b = seen_b.load(SeqCst);
        for _ in 0..30 {
            client.check(check()).await.unwrap();
        }
        assert_eq!(seen_b.load(SeqCst), before_b);
    }

    #[tokio::test]
    async fn dns_targets_resolve_names_and_need_a_port() {
        assert!(traced_channel("dns://localhost", None).is_err());
        let (addr, seen) = counting_server().await;
        let mut client = tonic_health::pb::health_client::HealthClient::new(
            traced_channel(&format!("dns://localhost:{}", addr.port()), None).unwrap(),
        );
        // localhost may also resolve to ::1, where nothing listens: the balancer uses the
        // address that answers.
        let mut ok = false;
        for _ in 0..50 {
            if client
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await
                .is_ok()
            {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ok);
        assert!(seen.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    }
}
