//! The notification service: every message to applicants, through a durable outbox.
//!
//! - [`templates`]: every text, in Bahasa Indonesia, in one place.
//! - [`outbox`]: the `notification` schema: accept (idempotently), claim, record outcomes.
//! - [`whatsapp`]: the Cloud API client and how its answers are classified.
//! - [`email`]: e-mail over SMTP.
//! - [`worker`]: delivery workers: per-recipient order, per-number rate, retries.
//! - [`grpc`]: the gRPC service `antrean.v1.NotificationService`.
//! - [`NotificationConfig`]: settings from the environment.

pub mod email;
pub mod grpc;
pub mod outbox;
pub mod templates;
pub mod whatsapp;
pub mod worker;

use clap::Parser;
use secrecy::SecretString;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "antrean-notification",
    about = "antrean notification service (gRPC)"
)]
pub struct NotificationConfig {
    #[arg(long, env = "NOTIFICATION_ADDR", default_value = "0.0.0.0:50054")]
    pub addr: String,
    /// Address of the Prometheus `/metrics` endpoint.
    #[arg(
        long,
        env = "NOTIFICATION_METRICS_ADDR",
        default_value = "0.0.0.0:9104"
    )]
    pub metrics_addr: String,
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = antrean_platform::db::DEFAULT_DATABASE_URL
    )]
    pub database_url: String,
    #[arg(long, env = "NOTIFICATION_DB_MAX_CONNECTIONS", default_value_t = 8)]
    pub db_max_connections: u32,
    /// Cloud API base. Empty: the sandbox on the gateway when no access token is set,
    /// otherwise https://graph.facebook.com.
    #[arg(long, env = "WHATSAPP_API_BASE", default_value = "")]
    pub whatsapp_api_base: String,
    #[arg(long, env = "WHATSAPP_API_VERSION", default_value = "v23.0")]
    pub whatsapp_api_version: String,
    #[arg(
        long,
        env = "WHATSAPP_ACCESS_TOKEN",
        default_value = "",
        hide_default_value = true
    )]
    pub whatsapp_access_token: SecretString,
    /// Messages per second per sending number (the Cloud API allows 80 by default).
    #[arg(long, env = "WHATSAPP_MAX_MPS", default_value_t = 60)]
    pub whatsapp_max_mps: u32,
    /// Where the sandbox is when no access token is set.
    #[arg(
        long,
        env = "WHATSAPP_SANDBOX_URL",
        default_value = "http://127.0.0.1:8080/sandbox/whatsapp"
    )]
    pub whatsapp_sandbox_url: String,
    /// Delivery attempts before a message is FAILED.
    #[arg(long, env = "NOTIFICATION_MAX_ATTEMPTS", default_value_t = 8)]
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt up to five minutes.
    #[arg(long, env = "NOTIFICATION_RETRY_BASE_MS", default_value_t = 1000)]
    pub retry_base_ms: u64,
    /// Seconds one Cloud API call may take.
    #[arg(long, env = "WHATSAPP_TIMEOUT_SECONDS", default_value_t = 10)]
    pub whatsapp_timeout_seconds: u64,
    /// SMTP server for e-mail (`smtp://`, `smtps://`, `?tls=required` for STARTTLS).
    #[arg(long, env = "SMTP_URL", default_value = "smtp://127.0.0.1:1025")]
    pub smtp_url: String,
    #[arg(
        long,
        env = "SMTP_FROM",
        default_value = "Antrean Paspor <no-reply@antrean.imigrasi.go.id>"
    )]
    pub smtp_from: String,
    #[command(flatten)]
    pub pii: antrean_platform::pii::PiiKeys,
    #[arg(long, env = "SHUTDOWN_DRAIN_SECONDS", default_value_t = 0)]
    pub drain_seconds: u64,
    /// Mutual TLS of the gRPC hops (see `antrean_platform::tls`).
    #[command(flatten)]
    pub tls: antrean_platform::tls::TlsArgs,
}

impl NotificationConfig {
    /// Refuses, in production mode, development keys, plaintext gRPC and delivery to the
    /// WhatsApp sandbox (no access token, or an API base that is the sandbox).
    pub fn check_production(&self) -> anyhow::Result<()> {
        let mut s = antrean_platform::production::Startup::from_env()?;
        s.tls(&self.tls);
        self.pii.check(&mut s);
        s.secret("WHATSAPP_ACCESS_TOKEN", &self.whatsapp_access_token, &[]);
        s.refuse_if(
            self.whatsapp_api_base.contains("/sandbox/"),
            "WHATSAPP_API_BASE",
            "points at the development sandbox",
        );
        s.finish()
    }

    /// The Cloud API base actually used.
    pub fn api_base(&self) -> String {
        use secrecy::ExposeSecret;
        if !self.whatsapp_api_base.is_empty() {
            self.whatsapp_api_base.trim_end_matches('/').to_owned()
        } else if self.whatsapp_access_token.expose_secret().is_empty() {
            self.whatsapp_sandbox_url.trim_end_matches('/').to_owned()
        } else {
            "https://graph.facebook.com".to_owned()
        }
    }

    pub fn for_tests(database_url: String, api_base: String) -> Self {
        let mut c = Self::parse_from(["antrean-notification"]);
        c.database_url = database_url;
        c.whatsapp_api_base = api_base;
        c.whatsapp_access_token = SecretString::from("test-token");
        c.retry_base_ms = 20;
        c.whatsapp_timeout_seconds = 1;
        c
    }
}

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The running service: the outbox and its workers.
pub struct Notification {
    pub outbox: std::sync::Arc<outbox::Outbox>,
    pub worker: std::sync::Arc<worker::Worker>,
}

/// Connects, migrates and builds the outbox and the workers (not yet started).
pub async fn build(
    config: &NotificationConfig,
    clock: antrean_platform::clock::SharedClock,
) -> anyhow::Result<Notification> {
    let pool = antrean_platform::db::connect_and_migrate(
        &config.database_url,
        "notification",
        config.db_max_connections,
        &MIGRATOR,
    )
    .await?;
    let pii = config.pii.load()?;
    let outbox = std::sync::Arc::new(outbox::Outbox::new(pool, pii, clock));
    let client = whatsapp::CloudApi::new(config)?;
    let mailer = email::Mailer::new(&config.smtp_url, &config.smtp_from)?;
    let worker = std::sync::Arc::new(worker::Worker::new(outbox.clone(), client, mailer, config));
    Ok(Notification { outbox, worker })
}
