use antrean_identity::IdentityConfig;
use antrean_platform::grpc::{ServeOptions, serve};
use clap::Parser;
use std::time::Duration;

#[global_allocator]
static ALLOCATOR: antrean_platform::Allocator = antrean_platform::Allocator {};

// One thread: a replica is one core, and more load is more replicas (docs/architecture.md,
// "Runtime").
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("create-admin") {
        return antrean_identity::create_admin(args.get(1..).unwrap_or_default()).await;
    }
    if let Some(done) =
        antrean_platform::db::migrate_command("identity", &antrean_identity::MIGRATOR).await
    {
        return done;
    }
    let config = IdentityConfig::parse();
    config.check_production()?;
    let _telemetry = antrean_platform::telemetry::init("identity");
    let service = antrean_identity::build(&config, antrean_platform::clock::system()).await?;
    let metrics = tokio::net::TcpListener::bind(&config.metrics_addr).await?;
    tokio::spawn(antrean_platform::metrics::serve(
        metrics,
        antrean_platform::shutdown_signal(),
    ));
    let listener = tokio::net::TcpListener::bind(&config.addr).await?;
    tracing::info!(addr = %config.addr, "identity service listening");
    let options = ServeOptions {
        drain_delay: Duration::from_secs(config.drain_seconds),
        tls: config.tls.load()?,
        allow: &antrean_identity::grpc::ALLOW,
        health_addr: config.tls.health_addr.clone(),
        ..ServeOptions::default()
    };
    serve(
        listener,
        service.into_server(),
        options,
        antrean_platform::shutdown_signal(),
    )
    .await
}
