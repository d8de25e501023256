//! The identity service: who books, and with which contact.
//!
//! - [`nik`], [`person`]: validation of NIK, names and birth dates (Indonesian phone numbers:
//!   `antrean_platform::phone`).
//! - `antrean_platform::pii`: encryption at rest and keyed-hash lookups for NIK, phone, e-mail.
//! - [`store`]: the `identity` schema (contacts, applicants, no-shows, blocks).
//! - [`grpc`]: the gRPC service `antrean.v1.IdentityService`.
//! - [`config`]: settings from the environment.

pub mod config;
pub mod grpc;
pub mod nik;
pub mod person;
pub mod store;

pub use config::IdentityConfig;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connects, migrates and builds the gRPC service.
pub async fn build(
    config: &IdentityConfig,
    clock: antrean_platform::clock::SharedClock,
) -> anyhow::Result<grpc::IdentityGrpc> {
    let pool = antrean_platform::db::connect_and_migrate(
        &config.database_url,
        "identity",
        config.db_max_connections,
        &MIGRATOR,
    )
    .await?;
    let pii = config.pii.load()?;
    Ok(grpc::IdentityGrpc::new(
        store::Store::new(pool, pii),
        clock,
        config.penalty(),
    ))
}
