//! What every antrean service shares, so that no service can forget it.
//!
//! - [`telemetry`]: JSON logs, the OpenTelemetry tracer and the W3C propagator; one guard.
//! - [`grpc`]: the standard server (health, reflection, trace context, timeouts, load
//!   shedding, graceful shutdown) and traced client channels.
//! - [`metrics`]: Prometheus metrics and the `/metrics` endpoint.
//! - [`db`]: creates the database and the service's own schema, runs its migrations.
//! - [`phone`]: Indonesian mobile numbers, normalised to E.164.
//! - [`pii`]: personal data at rest: XChaCha20-Poly1305 and HMAC-SHA256 blind indexes.
//! - [`clock`]: injected time, so expiry and lateness are tested without sleeping.
//! - [`status`]: building `tonic::Status` with google.rpc error details.
//! - [`domain`]: words every service uses: [`domain::SessionOfDay`], dates, time zones.
//! - [`testing`]: fresh databases and Redis key prefixes for integration tests.

pub mod actor;
pub mod audit;
pub mod clock;
pub mod db;
pub mod domain;
pub mod grpc;
pub mod metrics;
pub mod phone;
pub mod pii;
pub mod status;
pub mod telemetry;
pub mod testing;

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
