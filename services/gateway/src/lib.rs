//! The gateway: antrean's HTTP front door (port 8080).
//!
//! Channels in:
//! - [`webhook`]: the WhatsApp Cloud API webhook: verification handshake, signature check,
//!   durable and deduplicated intake (stored before answering 200); [`signature`]: the
//!   `X-Hub-Signature-256` check.
//! - [`inbox`]: workers that process stored messages in order per sender, and forward
//!   delivery statuses to the notification service.
//! - [`chat`]: the classic chat formats, parsed; [`bot`]: what each one does and answers.
//! - [`api`]: the JSON API under `/api/v1` (handlers only; [`openapi`] describes it).
//! - [`portal`]: the booking portal's pages.
//! - [`staff`]: sign-in and sessions, the console, the dashboard and the public display.
//! - [`verification`]: proof of a web/app contact (a code by WhatsApp and e-mail, then a
//!   contact token), shared by the API and the portal.
//!
//! What they share (no handler module imports another for these):
//! - [`upstream`]: the [`upstream::Backend`] over the gRPC services, with the office list
//!   and the availability answers, marked stale by every write that passes through it.
//! - [`views`]: what a booking, an office, a draw and availability look like to each
//!   channel (JSON objects, the proof of booking); [`proof`]: the proof as PDF and QR.
//! - [`html`]: pages as askama templates (escaped automatically), their assets and headers.
//! - [`error`]: caller-facing errors and the one mapping of gRPC statuses to HTTP.
//! - [`ratelimit`]: token buckets per replica and limits shared through Redis;
//!   [`client`]: the client address behind trusted proxies, and its network.
//! - [`feeds`]: live feeds (queue displays, the dashboard's counters): one poll per office
//!   shared by every viewer, a cap on open streams, all ended on shutdown.
//! - [`sandbox`]: a stand-in for the WhatsApp Cloud API (default target of outbound
//!   messages without credentials; the fake Cloud API of the tests).
//! - [`GatewayConfig`]: settings from the environment.

#![recursion_limit = "256"]

pub mod api;
pub mod bot;
pub mod chat;
pub mod client;
pub mod error;
pub mod feeds;
pub mod html;
pub mod inbox;
pub mod openapi;
pub mod portal;
pub mod ratelimit;
pub mod sandbox;
pub mod signature;
pub mod staff;
pub mod upstream;
pub mod verification;
pub mod views;
pub mod webhook;

use antrean_platform::clock::SharedClock;
use antrean_platform::pii::Pii;
use axum::Router;
use axum::routing::get;
use clap::Parser;
use secrecy::SecretString;
use sqlx::PgPool;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Development values: used only when the environment sets none.
pub const DEV_APP_SECRET: &str = "antrean-dev-app-secret";
pub const DEV_VERIFY_TOKEN: &str = "antrean-dev-verify-token";

#[derive(Debug, Clone, Parser)]
#[command(name = "antrean-gateway", about = "antrean HTTP gateway")]
pub struct GatewayConfig {
    #[arg(long, env = "GATEWAY_ADDR", default_value = "0.0.0.0:8080")]
    pub addr: String,
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = antrean_platform::db::DEFAULT_DATABASE_URL
    )]
    pub database_url: String,
    #[arg(long, env = "GATEWAY_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    #[arg(long, env = "IDENTITY_URL", default_value = "http://127.0.0.1:50051")]
    pub identity_url: String,
    #[arg(long, env = "QUOTA_URL", default_value = "http://127.0.0.1:50052")]
    pub quota_url: String,
    #[arg(long, env = "BOOKING_URL", default_value = "http://127.0.0.1:50053")]
    pub booking_url: String,
    #[arg(
        long,
        env = "NOTIFICATION_URL",
        default_value = "http://127.0.0.1:50054"
    )]
    pub notification_url: String,
    /// The token the Cloud API verification handshake must present.
    #[arg(long, env = "WHATSAPP_VERIFY_TOKEN", default_value = DEV_VERIFY_TOKEN, hide_default_value = true)]
    pub whatsapp_verify_token: SecretString,
    /// The app secret that signs webhooks (`X-Hub-Signature-256`).
    #[arg(long, env = "WHATSAPP_APP_SECRET", default_value = DEV_APP_SECRET, hide_default_value = true)]
    pub whatsapp_app_secret: SecretString,
    /// The phone_number_id of the national information number (menu and status checks for
    /// every office, like the directorate's SIGAP number).
    #[arg(
        long,
        env = "WHATSAPP_INFO_PHONE_NUMBER_ID",
        default_value = "100004299999999"
    )]
    pub whatsapp_info_phone_number_id: String,
    /// Serve the Cloud API sandbox under /sandbox/whatsapp (development and `make chat`).
    #[arg(long, env = "WHATSAPP_SANDBOX", default_value_t = true, action = clap::ArgAction::Set)]
    pub whatsapp_sandbox: bool,
    /// JSON API requests per minute per client address (bursts of a fifth of it).
    #[arg(long, env = "API_RATE_PER_CLIENT", default_value_t = 600)]
    pub api_rate_per_client: u32,
    /// Booking attempts, waitlist joins and draw entries per minute per contact token, shared
    /// by every replica.
    #[arg(long, env = "API_RATE_PER_PHONE", default_value_t = 20)]
    pub api_rate_per_phone: u32,
    /// Look-ups and cancellations by booking code (API and portal) and verification-code
    /// confirmations per minute per client network, shared by every replica.
    #[arg(long, env = "API_RATE_LOOKUPS", default_value_t = 20)]
    pub api_rate_lookups: u32,
    /// Look-ups and cancellations by booking code per hour per phone, shared by every replica.
    #[arg(long, env = "API_RATE_LOOKUPS_PER_PHONE", default_value_t = 30)]
    pub api_rate_lookups_per_phone: u32,
    /// Staff sign-ins per 15 minutes per client network, shared by every replica.
    #[arg(long, env = "API_RATE_SIGNINS", default_value_t = 30)]
    pub api_rate_signins: u32,
    /// Staff sign-ins per 15 minutes per username, shared by every replica.
    #[arg(long, env = "API_RATE_SIGNINS_PER_USER", default_value_t = 10)]
    pub api_rate_signins_per_user: u32,
    /// WhatsApp messages acted on per minute per sender, shared by every replica; more are
    /// stored and marked, not acted on, and the sender is told once.
    #[arg(long, env = "WHATSAPP_RATE_PER_SENDER", default_value_t = 60)]
    pub whatsapp_rate_per_sender: u32,
    /// Redis for the limits shared by every replica (one URL, or cluster nodes separated by
    /// commas).
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Prefix of every Redis key.
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "antrean:")]
    pub redis_key_prefix: String,
    /// Proxies whose `X-Forwarded-For` is believed (CIDRs separated by commas, e.g. the
    /// ingress's pod network); empty: the TCP peer is the client.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
    /// Contact verifications per client network (IPv4 /24, IPv6 /48) per hour, shared by
    /// every replica.
    #[arg(long, env = "API_RATE_VERIFICATIONS", default_value_t = 30)]
    pub api_rate_verifications: u32,
    /// Bookings, waitlist joins and draw entries per client network per hour, shared by every
    /// replica.
    #[arg(long, env = "API_RATE_BOOKINGS", default_value_t = 60)]
    pub api_rate_bookings: u32,
    /// Verification codes per phone per hour, shared by every replica.
    #[arg(long, env = "API_RATE_CODES_PER_PHONE", default_value_t = 5)]
    pub api_rate_codes_per_phone: u32,
    /// Longest time an availability answer of the JSON API is reused for reads of the same
    /// office and range (changes made through this gateway show at once; 0 turns reuse off).
    #[arg(long, env = "AVAILABILITY_MAX_AGE_MS", default_value_t = 1000)]
    pub availability_max_age_ms: u64,
    /// Days after which stored WhatsApp messages (failed ones keep their encrypted words for
    /// diagnosis), rejected webhooks and feedback are erased.
    #[arg(long, env = "RETENTION_DAYS", default_value_t = 90)]
    pub retention_days: u32,
    /// Inbound messages processed at once (different senders; one sender is always in order).
    #[arg(long, env = "GATEWAY_WORKERS", default_value_t = 32)]
    pub workers: i64,
    /// Live streams (queue displays, the dashboard's counters) open at once per replica;
    /// more are answered 503.
    #[arg(long, env = "LIVE_STREAMS_MAX", default_value_t = 1000)]
    pub live_streams_max: usize,
    #[command(flatten)]
    pub pii: antrean_platform::pii::PiiKeys,
    /// Mutual TLS of the gRPC hops (see `antrean_platform::tls`).
    #[command(flatten)]
    pub tls: antrean_platform::tls::TlsArgs,
}

impl GatewayConfig {
    /// Refuses, in production mode, development keys and tokens, plaintext gRPC and the
    /// WhatsApp sandbox (which lists every code sent) on the public port.
    pub fn check_production(&self) -> anyhow::Result<()> {
        let mut s = antrean_platform::production::Startup::from_env()?;
        s.tls(&self.tls);
        self.pii.check(&mut s);
        s.secret(
            "WHATSAPP_APP_SECRET",
            &self.whatsapp_app_secret,
            &[DEV_APP_SECRET],
        );
        s.secret(
            "WHATSAPP_VERIFY_TOKEN",
            &self.whatsapp_verify_token,
            &[DEV_VERIFY_TOKEN],
        );
        s.refuse_if(self.whatsapp_sandbox, "WHATSAPP_SANDBOX", "is on");
        s.finish()
    }

    pub fn for_tests(
        database_url: String,
        identity_url: String,
        quota_url: String,
        booking_url: String,
        notification_url: String,
    ) -> Self {
        let mut c = Self::parse_from(["antrean-gateway"]);
        c.database_url = database_url;
        c.identity_url = identity_url;
        c.quota_url = quota_url;
        c.booking_url = booking_url;
        c.notification_url = notification_url;
        c.whatsapp_sandbox = false;
        c.redis_url = antrean_platform::testing::redis_url();
        c.redis_key_prefix = antrean_platform::testing::redis_prefix();
        c
    }
}

/// What every handler and worker shares.
pub struct App {
    pub config: GatewayConfig,
    pub pool: PgPool,
    pub pii: Pii,
    pub clock: SharedClock,
    /// The gRPC services, the office list and the availability answers.
    pub backend: upstream::Backend,
    pub sandbox: sandbox::Sandbox,
    /// The webhook intake's group commit.
    pub intake: webhook::Intake,
    /// Woken when a webhook stored new work.
    pub wake: tokio::sync::Notify,
    pub limits: ratelimit::Limits,
    /// The limits kept in Redis, shared by every replica.
    pub shared: ratelimit::SharedLimits,
    pub fair: ratelimit::FairLimits,
    pub feeds: feeds::Feeds,
    /// `TRUSTED_PROXIES`, parsed.
    pub trusted: Vec<client::Cidr>,
}

/// Statements storing webhooks at once (each for every webhook waiting when it starts).
const INTAKE_WRITERS: usize = 4;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub async fn build(config: GatewayConfig, clock: SharedClock) -> anyhow::Result<Arc<App>> {
    let pool = antrean_platform::db::connect_and_migrate(
        &config.database_url,
        "gateway",
        config.db_max_connections,
        &MIGRATOR,
    )
    .await?;
    let pii = config.pii.load()?;
    let limits = ratelimit::Limits::new(config.api_rate_per_client);
    let intake = webhook::intake(pool.clone(), INTAKE_WRITERS);
    let trusted = client::parse_trusted(&config.trusted_proxies)
        .map_err(|e| anyhow::anyhow!("TRUSTED_PROXIES: {e}"))?;
    let shared =
        ratelimit::SharedLimits::connect(&config.redis_url, &config.redis_key_prefix).await?;
    let fair = ratelimit::FairLimits::new(&config);
    let feeds = feeds::Feeds::new(config.live_streams_max);
    let tls = config.tls.load()?;
    Ok(Arc::new(App {
        backend: upstream::Backend::connect(&config, tls.as_ref())?,
        config,
        pool,
        pii,
        clock,
        sandbox: sandbox::Sandbox::default(),
        intake,
        wake: tokio::sync::Notify::new(),
        limits,
        shared,
        fair,
        feeds,
        trusted,
    }))
}

pub fn router(app: Arc<App>) -> Router {
    let mut r = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(antrean_platform::metrics::router())
        .merge(webhook::routes())
        .merge(api::routes())
        .merge(portal::routes())
        .merge(staff::routes())
        .merge(html::routes())
        .route_layer(antrean_platform::metrics::HttpMetricsLayer)
        .with_state(app.clone());
    if app.config.whatsapp_sandbox {
        r = r
            .nest("/sandbox/whatsapp", app.sandbox.router())
            .nest("/sandbox/beacon", sandbox::beacon_router());
    }
    r
}

/// Serves HTTP on a bound listener and runs the inbox workers until `shutdown` completes.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    antrean_platform::metrics::install();
    let workers = inbox::spawn(app.clone());
    let feeds = app.clone();
    let service = router(app).into_make_service_with_connect_info::<std::net::SocketAddr>();
    // Live streams never end by themselves: they are ended so the drain can finish.
    let shutdown = async move {
        shutdown.await;
        feeds.feeds.close();
    };
    let result = axum::serve(antrean_platform::nodelay_listener(listener), service)
        .with_graceful_shutdown(shutdown)
        .await;
    workers.abort();
    result
}
