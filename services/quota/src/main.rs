use antrean_platform::grpc::{ServeOptions, serve};
use antrean_quota::{QuotaConfig, grpc::QuotaGrpc};
use clap::Parser;
use std::sync::Arc;
use std::time::Duration;

#[global_allocator]
static ALLOCATOR: antrean_platform::Allocator = antrean_platform::Allocator {};

// One thread: a replica is one core, and more load is more replicas (docs/architecture.md,
// "Runtime").
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    if let Some(done) =
        antrean_platform::db::migrate_command("quota", &antrean_quota::MIGRATOR).await
    {
        return done;
    }
    let config = QuotaConfig::parse();
    config.check_production()?;
    let _telemetry = antrean_platform::telemetry::init("quota");
    let quota = Arc::new(antrean_quota::build(&config, antrean_platform::clock::system()).await?);
    let sweeper = antrean_quota::quota::spawn_sweeper(quota.clone(), config.sweep_seconds);
    let metrics = tokio::net::TcpListener::bind(&config.metrics_addr).await?;
    tokio::spawn(antrean_platform::metrics::serve(
        metrics,
        antrean_platform::shutdown_signal(),
    ));
    let listener = tokio::net::TcpListener::bind(&config.addr).await?;
    tracing::info!(addr = %config.addr, "quota service listening");
    let tokens = config.actor_key.load()?;
    let tls = config.tls.load()?;
    tokens.refresh_disabled_from(
        antrean_proto::v1::identity_service_client::IdentityServiceClient::new(
            antrean_platform::grpc::traced_channel(&config.identity_url, tls.as_ref())?,
        ),
    );
    let options = ServeOptions {
        drain_delay: Duration::from_secs(config.drain_seconds),
        tls,
        allow: &antrean_quota::grpc::ALLOW,
        health_addr: config.tls.health_addr.clone(),
        ..ServeOptions::default()
    };
    serve(
        listener,
        QuotaGrpc::new(quota, tokens).into_server(),
        options,
        antrean_platform::shutdown_signal(),
    )
    .await?;
    sweeper.abort();
    Ok(())
}
