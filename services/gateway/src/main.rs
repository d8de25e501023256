use antrean_gateway::GatewayConfig;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = GatewayConfig::parse();
    let _telemetry = antrean_platform::telemetry::init("gateway");
    let listener = tokio::net::TcpListener::bind(&config.addr).await?;
    tracing::info!(addr = %config.addr, "gateway listening");
    antrean_gateway::serve(listener, antrean_platform::shutdown_signal()).await?;
    Ok(())
}
