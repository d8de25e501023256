use antrean_notification::{NotificationConfig, grpc::NotificationGrpc};
use antrean_platform::grpc::{ServeOptions, serve};
use clap::Parser;
use std::time::Duration;

#[global_allocator]
static ALLOCATOR: antrean_platform::Allocator = antrean_platform::Allocator {};

// One thread: a replica is one core, and more load is more replicas (docs/architecture.md,
// "Runtime").
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    if let Some(done) =
        antrean_platform::db::migrate_command("notification", &antrean_notification::MIGRATOR).await
    {
        return done;
    }
    let config = NotificationConfig::parse();
    config.check_production()?;
    let _telemetry = antrean_platform::telemetry::init("notification");
    let n = antrean_notification::build(&config, antrean_platform::clock::system()).await?;
    tracing::info!(api = %config.api_base(), "WhatsApp Cloud API");
    let worker = n.worker.clone();
    let workers = worker.clone().spawn();
    let metrics = tokio::net::TcpListener::bind(&config.metrics_addr).await?;
    tokio::spawn(antrean_platform::metrics::serve(
        metrics,
        antrean_platform::shutdown_signal(),
    ));
    let listener = tokio::net::TcpListener::bind(&config.addr).await?;
    tracing::info!(addr = %config.addr, "notification service listening");
    let options = ServeOptions {
        drain_delay: Duration::from_secs(config.drain_seconds),
        tls: config.tls.load()?,
        allow: &antrean_notification::grpc::ALLOW,
        health_addr: config.tls.health_addr.clone(),
        ..ServeOptions::default()
    };
    serve(
        listener,
        NotificationGrpc::new(n.outbox).into_server(),
        options,
        antrean_platform::shutdown_signal(),
    )
    .await?;
    // What the round under way sent is recorded before the process ends.
    worker.stop();
    if tokio::time::timeout(Duration::from_secs(15), workers)
        .await
        .is_err()
    {
        tracing::warn!(
            "a delivery round did not finish in 15 s; its messages go out again once their lease ends"
        );
    }
    Ok(())
}
