use antrean_gateway::GatewayConfig;
use clap::Parser;

#[global_allocator]
static ALLOCATOR: antrean_platform::Allocator = antrean_platform::Allocator {};

// One thread: a replica is one core, and more load is more replicas (docs/architecture.md,
// "Runtime").
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    if let Some(done) =
        antrean_platform::db::migrate_command("gateway", &antrean_gateway::MIGRATOR).await
    {
        return done;
    }
    let config = GatewayConfig::parse();
    config.check_production()?;
    let _telemetry = antrean_platform::telemetry::init("gateway");
    let addr = config.addr.clone();
    let app = antrean_gateway::build(config, antrean_platform::clock::system()).await?;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!(%addr, "gateway listening");
    antrean_gateway::serve(app, listener, antrean_platform::shutdown_signal()).await?;
    Ok(())
}
