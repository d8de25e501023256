//! The quota service: offices, their calendar and capacity, and the seat quota every channel
//! draws on.
//!
//! - [`office`]: the offices (seeded in `migrations/`), cached in memory.
//! - [`calendar`]: which dates are open (weekends, holidays, overrides) and the horizon.
//! - [`counters`]: the Redis side. Hold, Commit, Release, Read, Init and Gate are Lua
//!   scripts (`src/lua/`) over keys that share one hash tag per office+date.
//! - [`gates`]: sold-out gates, so a crowd's refusals need no Redis call each.
//! - [`ledger`]: the PostgreSQL side, the authority, and all of quota's SQL: capacity, confirmed
//!   seats, every hold and its [`ledger::HoldState`], the calendar's overrides, release rules.
//! - [`admissions`]: admitted holds recorded in the ledger, those arriving together in one
//!   transaction.
//! - [`quota`]: the domain service tying both together, including the rebuild of missing
//!   counters from the ledger (see `docs/quota.md` for why it never oversells).
//! - [`releases`]: when dates open for booking, and their release-draw windows.
//! - [`error`]: the one mapping of quota errors to gRPC statuses.
//! - [`grpc`]: `antrean.v1.QuotaService` over [`quota::Quota`].
//! - [`config`]: settings from the environment.

pub mod admissions;
pub mod calendar;
pub mod config;
pub mod counters;
pub mod error;
pub mod gates;
pub mod grpc;
pub mod ledger;
pub mod office;
pub mod quota;
pub mod releases;

pub use config::QuotaConfig;
pub use quota::Quota;

/// The migrations of the `quota` schema, seed data included.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connects to PostgreSQL and Redis, runs migrations and builds the service.
pub async fn build(
    config: &QuotaConfig,
    clock: antrean_platform::clock::SharedClock,
) -> anyhow::Result<Quota> {
    let pool = antrean_platform::db::connect_and_migrate(
        &config.database_url,
        "quota",
        config.db_max_connections,
        &MIGRATOR,
    )
    .await?;
    let counters = counters::Counters::connect(&config.redis_url, &config.redis_key_prefix).await?;
    Quota::new(pool, counters, clock, config.rules()).await
}
