//! Settings of the identity service, from the environment (see `--help`).
use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(name = "antrean-identity", about = "antrean identity service (gRPC)")]
pub struct IdentityConfig {
    #[arg(long, env = "IDENTITY_ADDR", default_value = "0.0.0.0:50051")]
    pub addr: String,
    /// Address of the Prometheus `/metrics` endpoint.
    #[arg(long, env = "IDENTITY_METRICS_ADDR", default_value = "0.0.0.0:9101")]
    pub metrics_addr: String,
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = antrean_platform::db::DEFAULT_DATABASE_URL
    )]
    pub database_url: String,
    #[arg(long, env = "IDENTITY_DB_MAX_CONNECTIONS", default_value_t = 8)]
    pub db_max_connections: u32,
    #[command(flatten)]
    pub pii: antrean_platform::pii::PiiKeys,
    #[command(flatten)]
    pub actor_key: antrean_platform::actor::ActorKey,
    /// Mutual TLS of the gRPC hops (see `antrean_platform::tls`).
    #[command(flatten)]
    pub tls: antrean_platform::tls::TlsArgs,
    /// No-shows inside the window that block a person.
    #[arg(long, env = "NO_SHOW_LIMIT", default_value_t = 2)]
    pub no_show_limit: u32,
    #[arg(long, env = "NO_SHOW_WINDOW_DAYS", default_value_t = 90)]
    pub no_show_window_days: u32,
    /// How long a blocked person cannot book.
    #[arg(long, env = "NO_SHOW_BLOCK_DAYS", default_value_t = 30)]
    pub no_show_block_days: u32,
    #[arg(long, env = "SHUTDOWN_DRAIN_SECONDS", default_value_t = 0)]
    pub drain_seconds: u64,
    /// Password hashes (Argon2id, about 19 MiB each) computed at once; sign-ins beyond them
    /// wait up to PASSWORD_HASH_WAIT_MS, then are answered RESOURCE_EXHAUSTED.
    #[arg(long, env = "PASSWORD_HASH_CONCURRENCY", default_value_t = 2)]
    pub password_hash_concurrency: usize,
    #[arg(long, env = "PASSWORD_HASH_WAIT_MS", default_value_t = 2000)]
    pub password_hash_wait_ms: u64,
}

/// The no-show rule.
#[derive(Debug, Clone, Copy)]
pub struct PenaltyRule {
    pub limit: u32,
    pub window_days: u32,
    pub block_days: u32,
}

impl IdentityConfig {
    /// Refuses, in production mode, development keys and plaintext gRPC.
    pub fn check_production(&self) -> anyhow::Result<()> {
        let mut s = antrean_platform::production::Startup::from_env()?;
        s.tls(&self.tls);
        self.pii.check(&mut s);
        self.actor_key.check(&mut s);
        s.finish()
    }

    pub fn penalty(&self) -> PenaltyRule {
        PenaltyRule {
            limit: self.no_show_limit.max(1),
            window_days: self.no_show_window_days,
            block_days: self.no_show_block_days,
        }
    }

    pub fn for_tests(database_url: String) -> Self {
        let mut c = Self::parse_from(["antrean-identity"]);
        c.database_url = database_url;
        c
    }
}
