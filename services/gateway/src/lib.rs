//! The gateway: antrean's HTTP front door (port 8080).
//!
//! - [`router`]: the HTTP routes. `GET /healthz` answers 200 while the process serves; the
//!   WhatsApp webhook, the `/api/v1` JSON API and the pages come with their channels.
//! - [`serve`]: runs the router on a bound listener until the shutdown future completes.
//! - [`sandbox`]: a stand-in for the WhatsApp Cloud API (default target of outbound
//!   messages without credentials; the fake Cloud API of the tests).
//! - [`GatewayConfig`]: settings from the environment.

pub mod sandbox;

use axum::Router;
use axum::routing::get;
use clap::Parser;
use std::future::Future;
use tokio::net::TcpListener;

#[derive(Debug, Clone, Parser)]
#[command(name = "antrean-gateway", about = "antrean HTTP gateway")]
pub struct GatewayConfig {
    #[arg(long, env = "GATEWAY_ADDR", default_value = "0.0.0.0:8080")]
    pub addr: String,
}

pub fn router() -> Router {
    Router::new().route("/healthz", get(|| async { "ok" }))
}

pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router())
        .with_graceful_shutdown(shutdown)
        .await
}
