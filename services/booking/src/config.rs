//! Settings of the booking service, from the environment (see `--help`).
use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(name = "antrean-booking", about = "antrean booking service (gRPC)")]
pub struct BookingConfig {
    #[arg(long, env = "BOOKING_ADDR", default_value = "0.0.0.0:50053")]
    pub addr: String,
    /// Address of the Prometheus `/metrics` endpoint.
    #[arg(long, env = "BOOKING_METRICS_ADDR", default_value = "0.0.0.0:9103")]
    pub metrics_addr: String,
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = antrean_platform::db::DEFAULT_DATABASE_URL
    )]
    pub database_url: String,
    #[arg(long, env = "BOOKING_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    #[arg(long, env = "IDENTITY_URL", default_value = "http://127.0.0.1:50051")]
    pub identity_url: String,
    #[arg(long, env = "QUOTA_URL", default_value = "http://127.0.0.1:50052")]
    pub quota_url: String,
    #[arg(
        long,
        env = "NOTIFICATION_URL",
        default_value = "http://127.0.0.1:50054"
    )]
    pub notification_url: String,
    /// Office-local hour of the day before the appointment when the H-1 reminder goes out.
    #[arg(long, env = "BOOKING_REMINDER_HOUR", default_value_t = 9)]
    pub reminder_hour: u32,
    /// How long a HELD booking waits for its confirmation code.
    #[arg(long, env = "BOOKING_HOLD_TTL_SECONDS", default_value_t = 900)]
    pub hold_ttl_seconds: u32,
    /// A booking may move to another date (once) until this many days before its date, in
    /// the office's calendar: 1 is up to the day before.
    #[arg(long, env = "BOOKING_RESCHEDULE_DAYS_BEFORE", default_value_t = 1)]
    pub reschedule_days_before: u32,
    /// When offices without their own hand ready passports over, office-local HH:MM-HH:MM.
    #[arg(long, env = "BOOKING_PICKUP_HOURS", default_value = "13:00-15:00", value_parser = parse_hours)]
    pub pickup_hours: (chrono::NaiveTime, chrono::NaiveTime),
    /// Days after a passport is ready before an uncollected one gets a reminder.
    #[arg(long, env = "BOOKING_PICKUP_REMINDER_DAYS", default_value_t = 7)]
    pub pickup_reminder_days: u32,
    /// Wrong confirmation codes after which the hold is cancelled.
    #[arg(long, env = "BOOKING_MAX_CODE_ATTEMPTS", default_value_t = 5)]
    pub max_code_attempts: u32,
    /// People one contact phone may have in active bookings.
    #[arg(long, env = "BOOKING_MAX_PEOPLE_PER_PHONE", default_value_t = 5)]
    pub max_people_per_phone: u32,
    /// Queue numbers given the same scheduled time.
    #[arg(long, env = "BOOKING_SCHEDULE_BATCH", default_value_t = 15)]
    pub schedule_batch: u32,
    /// Minutes before the scheduled time an applicant should arrive.
    #[arg(long, env = "BOOKING_ARRIVE_EARLY_MINUTES", default_value_t = 30)]
    pub arrive_early_minutes: u32,
    /// How often the sweeper expires holds and marks no-shows, in seconds.
    /// Calling fairness: one call in this many goes to the priority (walk-in) lane while both
    /// lanes wait.
    #[arg(long, env = "BOOKING_PRIORITY_EVERY", default_value_t = 3)]
    pub priority_every: u8,
    #[arg(long, env = "BOOKING_SWEEP_SECONDS", default_value_t = 30)]
    pub sweep_seconds: u64,
    /// Days after the appointment date when a booking's personal data is erased (names,
    /// phones, codes, the applicants and contacts in identity); its statistics stay.
    #[arg(long, env = "RETENTION_DAYS", default_value_t = 90)]
    pub retention_days: u32,
    #[arg(long, env = "SHUTDOWN_DRAIN_SECONDS", default_value_t = 0)]
    pub drain_seconds: u64,
    #[command(flatten)]
    pub actor_key: antrean_platform::actor::ActorKey,
    /// Mutual TLS of the gRPC hops (see `antrean_platform::tls`).
    #[command(flatten)]
    pub tls: antrean_platform::tls::TlsArgs,
    /// Encrypts the requests kept on waitlists.
    #[command(flatten)]
    pub pii: antrean_platform::pii::PiiKeys,
    /// The public randomness beacon of release draws (drand's HTTP API:
    /// `GET {url}/public/{round}` answers `{"round", "randomness"}`). The default is the
    /// local stand-in the gateway serves; production names a real beacon, e.g. drand's
    /// quicknet (`https://api.drand.sh/52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971`).
    #[arg(
        long,
        env = "DRAW_BEACON_URL",
        default_value = "http://127.0.0.1:8080/sandbox/beacon"
    )]
    pub draw_beacon_url: String,
    /// The beacon's first round's time (Unix seconds; quicknet's by default).
    #[arg(long, env = "DRAW_BEACON_GENESIS", default_value_t = 1_692_803_367)]
    pub draw_beacon_genesis: i64,
    /// Seconds between beacon rounds.
    #[arg(long, env = "DRAW_BEACON_PERIOD_SECONDS", default_value_t = 3)]
    pub draw_beacon_period_seconds: i64,
    /// After a draw window closes, entries received inside it may still be on their way (a
    /// webhook waiting in the gateway's queue): the list is frozen once none has come for
    /// five seconds, and at the latest this long after the close.
    #[arg(long, env = "DRAW_ENTRY_GRACE_SECONDS", default_value_t = 30)]
    pub draw_entry_grace_seconds: u32,
    /// How long a waitlist offer (a held booking) waits for its confirmation code.
    #[arg(long, env = "BOOKING_WAITLIST_OFFER_MINUTES", default_value_t = 30)]
    pub waitlist_offer_minutes: u32,
}

impl BookingConfig {
    /// Refuses, in production mode, development keys, plaintext gRPC and the gateway's
    /// beacon stand-in (whoever runs it would choose the draw's randomness).
    pub fn check_production(&self) -> anyhow::Result<()> {
        let mut s = antrean_platform::production::Startup::from_env()?;
        s.tls(&self.tls);
        self.pii.check(&mut s);
        self.actor_key.check(&mut s);
        s.refuse_if(
            self.draw_beacon_url.contains("/sandbox/"),
            "DRAW_BEACON_URL",
            "points at the development stand-in",
        );
        s.finish()
    }

    /// The default pickup hours.
    pub fn pickup_hours(&self) -> (chrono::NaiveTime, chrono::NaiveTime) {
        self.pickup_hours
    }

    pub fn for_tests(database_url: String, identity_url: String, quota_url: String) -> Self {
        let mut c = Self::parse_from(["antrean-booking"]);
        // No notification service unless a test starts one: reminders then wait and retry.
        c.notification_url = "http://127.0.0.1:9".into();
        c.database_url = database_url;
        c.identity_url = identity_url;
        c.quota_url = quota_url;
        c
    }
}

/// `HH:MM-HH:MM`, opening before closing.
fn parse_hours(s: &str) -> Result<(chrono::NaiveTime, chrono::NaiveTime), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("{s}: expected HH:MM-HH:MM"))?;
    let parse = |t: &str| {
        antrean_platform::domain::parse_hhmm(t.trim()).ok_or_else(|| format!("{t}: not HH:MM"))
    };
    let (a, b) = (parse(a)?, parse(b)?);
    if a >= b {
        return Err(format!("{s}: opening must be before closing"));
    }
    Ok((a, b))
}
