//! What every antrean service shares, so that no service can forget it.
//!
//! - [`telemetry`]: JSON logs, the OpenTelemetry tracer and the W3C propagator; one guard.
//! - [`grpc`]: the standard server (health, reflection, trace context, timeouts, load
//!   shedding, graceful shutdown) and traced client channels.
//! - [`metrics`]: Prometheus metrics and the `/metrics` endpoint.
//! - [`db`]: creates the database and the service's own schema, runs its migrations.
//! - [`phone`]: Indonesian mobile numbers, normalised to E.164.
//! - [`production`]: what `ANTREAN_ENV=production` refuses at start.
//! - [`pii`]: personal data at rest: XChaCha20-Poly1305 and HMAC-SHA256 blind indexes.
//! - [`redis`]: one Redis or a Redis Cluster behind one handle.
//! - [`clock`]: injected time, so expiry and lateness are tested without sleeping.
//! - [`status`]: building `tonic::Status` with google.rpc error details.
//! - [`draw`]: the release draw's verifiable order.
//! - [`domain`]: words every service uses: [`domain::SessionOfDay`], dates, time zones.
//! - [`tls`]: mutual TLS between the processes; a caller's identity from its certificate.
//! - [`actor`]: staff authorisation: the signed actor token every staff RPC carries.
//! - [`audit`]: the staff audit trail written with each change.
//! - [`group_commit`]: writes that arrive together share one statement and its commit.
//! - [`testing`]: fresh databases and Redis key prefixes for integration tests.

pub mod actor;
pub mod audit;
pub mod clock;
pub mod db;
pub mod domain;
pub mod draw;
pub mod group_commit;
pub mod grpc;
pub mod metrics;
pub mod phone;
pub mod pii;
pub mod production;
pub mod progress;
pub mod redis;
pub mod requirements;
pub mod status;
pub mod telemetry;
pub mod testing;
pub mod tls;

/// The memory allocator of every antrean binary (`#[global_allocator]` in each `main.rs`):
/// a request allocates and frees many small buffers (HTTP/2 frames, protobuf messages,
/// spans), which mimalloc's thread-local free lists serve faster than glibc's malloc.
/// Built without transparent huge pages (`no_thp`): with them every region mimalloc touches
/// becomes resident 2 MiB at a time, about twice the idle memory of a service.
pub type Allocator = mimalloc::MiMalloc;

/// An HTTP listener whose connections set TCP_NODELAY: a response written in more than one
/// piece would otherwise wait for the client's delayed ACK (about 40 ms) under Nagle's
/// algorithm. axum, like tonic's `serve_with_incoming`, leaves the option to the caller.
pub fn nodelay_listener(
    listener: tokio::net::TcpListener,
) -> axum::serve::TapIo<tokio::net::TcpListener, fn(&mut tokio::net::TcpStream)> {
    use axum::serve::ListenerExt;
    fn set(tcp: &mut tokio::net::TcpStream) {
        let _ = tcp.set_nodelay(true);
    }
    listener.tap_io(set as fn(&mut tokio::net::TcpStream))
}

/// Waits for SIGTERM (Kubernetes) or Ctrl-C (a terminal).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}
