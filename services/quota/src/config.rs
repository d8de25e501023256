//! Settings of the quota service, from the environment (see `--help`).
use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(name = "antrean-quota", about = "antrean quota service (gRPC)")]
pub struct QuotaConfig {
    /// Address the gRPC server listens on.
    #[arg(long, env = "QUOTA_ADDR", default_value = "0.0.0.0:50052")]
    pub addr: String,
    /// Address of the Prometheus `/metrics` endpoint.
    #[arg(long, env = "QUOTA_METRICS_ADDR", default_value = "0.0.0.0:9102")]
    pub metrics_addr: String,
    /// PostgreSQL; the database and the `quota` schema are created when missing.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = antrean_platform::db::DEFAULT_DATABASE_URL
    )]
    pub database_url: String,
    #[arg(long, env = "QUOTA_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// The identity service: which staff accounts are disabled (their actor tokens refused).
    #[arg(long, env = "IDENTITY_URL", default_value = "http://127.0.0.1:50051")]
    pub identity_url: String,
    /// Redis holding the slot counters.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Prefix of every Redis key (several deployments or tests can share one Redis).
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "antrean:")]
    pub redis_key_prefix: String,
    /// First bookable date, in days after the office's local today.
    #[arg(long, env = "BOOKING_MIN_LEAD_DAYS", default_value_t = 1)]
    pub min_lead_days: u32,
    /// Last bookable date, in days after the office's local today.
    #[arg(long, env = "BOOKING_HORIZON_DAYS", default_value_t = 30)]
    pub horizon_days: u32,
    /// After a release draw's window closes, how long the date still takes only the draw's
    /// admissions (the draw runs then; first come first served starts after it).
    #[arg(long, env = "DRAW_SETTLE_SECONDS", default_value_t = 90)]
    pub draw_settle_seconds: u32,
    /// How often expired holds are marked in the ledger, in seconds.
    #[arg(long, env = "QUOTA_SWEEP_SECONDS", default_value_t = 30)]
    pub sweep_seconds: u64,
    /// Seconds between health turning NOT_SERVING and the end of accepting connections.
    #[arg(long, env = "SHUTDOWN_DRAIN_SECONDS", default_value_t = 0)]
    pub drain_seconds: u64,
    #[command(flatten)]
    pub actor_key: antrean_platform::actor::ActorKey,
    /// Mutual TLS of the gRPC hops (see `antrean_platform::tls`).
    #[command(flatten)]
    pub tls: antrean_platform::tls::TlsArgs,
}

/// The booking rules the quota enforces.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub min_lead_days: u32,
    pub horizon_days: u32,
    /// After a draw window: only draw admissions for this long.
    pub draw_settle_seconds: u32,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            min_lead_days: 1,
            horizon_days: 30,
            draw_settle_seconds: 90,
        }
    }
}

impl QuotaConfig {
    /// Refuses, in production mode, development keys and plaintext gRPC.
    pub fn check_production(&self) -> anyhow::Result<()> {
        let mut s = antrean_platform::production::Startup::from_env()?;
        s.tls(&self.tls);
        self.actor_key.check(&mut s);
        s.finish()
    }

    pub fn rules(&self) -> Rules {
        Rules {
            min_lead_days: self.min_lead_days,
            horizon_days: self.horizon_days,
            draw_settle_seconds: self.draw_settle_seconds,
        }
    }

    /// Defaults with the given database and Redis, for tests.
    pub fn for_tests(database_url: String, redis_url: String, prefix: String) -> Self {
        let mut c = Self::parse_from(["antrean-quota"]);
        c.database_url = database_url;
        c.redis_url = redis_url;
        c.redis_key_prefix = prefix;
        c
    }
}
