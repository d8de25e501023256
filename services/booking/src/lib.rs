//! The booking service: a booking's whole life.
//!
//! - [`bookings`]: the state machine (create, confirm, cancel, check in, sweep), on the
//!   `booking` schema, calling identity and quota.
//! - [`draws`]: the release draw: entries in a date's first minutes, a verifiable order.
//! - [`queue`]: the queue at the counters: tickets, calling fairly between the appointment
//!   and priority lanes, walk-ins, the priority capacity's roll-over.
//! - [`waitlist`]: waitlists of full sessions, offered in line order as seats come free.
//! - [`reconfirm`]: the optional H-1 reconfirmation, and cancelling what was not reconfirmed.
//! - [`reschedule`]: moving a confirmed booking to another date or session, once.
//! - [`relocate`]: a closed date's bookings moved to the office's next dates with room.
//! - [`progress`]: each applicant's progress after the counter, and the pickup lane.
//! - [`stats`]: the dashboard's figures, counted in people from the ledger.
//! - [`code`]: booking codes (Crockford base32 with a check symbol) and confirmation codes.
//! - [`status`]: a booking's status and the one rule of how it may change.
//! - [`schedule`]: scheduled times spread evenly over a session.
//! - [`retention`]: personal data erased some time after the appointment, statistics kept.
//! - [`error`]: the one mapping of booking errors to gRPC statuses.
//! - [`grpc`]: the gRPC service `antrean.v1.BookingService`.
//! - [`config`]: settings from the environment.

pub mod bookings;
pub mod code;
pub mod config;
pub mod draws;
pub mod error;
pub mod grpc;
pub mod progress;
pub mod queue;
pub mod reconfirm;
pub mod relocate;
pub mod reschedule;
pub mod retention;
pub mod schedule;
pub mod stats;
pub mod status;
pub mod waitlist;

pub use bookings::Bookings;
pub use config::BookingConfig;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connects, migrates and builds the service (identity and quota are connected lazily).
pub async fn build(
    config: &BookingConfig,
    clock: antrean_platform::clock::SharedClock,
) -> anyhow::Result<Bookings> {
    use antrean_platform::grpc::traced_channel;
    use antrean_proto::v1::identity_service_client::IdentityServiceClient;
    use antrean_proto::v1::notification_service_client::NotificationServiceClient;
    use antrean_proto::v1::quota_service_client::QuotaServiceClient;
    let pool = antrean_platform::db::connect_and_migrate(
        &config.database_url,
        "booking",
        config.db_max_connections,
        &MIGRATOR,
    )
    .await?;
    let tls = config.tls.load()?;
    let tls = tls.as_ref();
    let identity = IdentityServiceClient::new(traced_channel(&config.identity_url, tls)?);
    let tokens = config.actor_key.load()?;
    tokens.refresh_disabled_from(identity.clone());
    Ok(Bookings::new(
        pool,
        bookings::Clients {
            identity,
            quota: QuotaServiceClient::new(traced_channel(&config.quota_url, tls)?),
            notification: NotificationServiceClient::new(traced_channel(
                &config.notification_url,
                tls,
            )?),
        },
        clock,
        config.clone(),
        tokens,
        config.pii.load()?,
    ))
}
