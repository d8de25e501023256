use antrean_notification::{NotificationConfig, grpc::NotificationGrpc};
use antrean_platform::grpc::{ServeOptions, serve};
use clap::Parser;
use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = NotificationConfig::parse();
    let _telemetry = antrean_platform::telemetry::init("notification");
    let listener = tokio::net::TcpListener::bind(&config.addr).await?;
    tracing::info!(addr = %config.addr, "notification service listening");
    let options = ServeOptions {
        drain_delay: Duration::from_secs(config.drain_seconds),
        ..ServeOptions::default()
    };
    serve(
        listener,
        NotificationGrpc.into_server(),
        options,
        antrean_platform::shutdown_signal(),
    )
    .await
}
