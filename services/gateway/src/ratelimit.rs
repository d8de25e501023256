//! Rate limits: [`Limiter`], token buckets per key in this process, and [`SharedLimit`],
//! limits kept in Redis and so shared by every gateway replica.
//!
//! A [`Limiter`] limits each replica on its own (behind N replicas a client gets N times the
//! rate): the cheap first line against floods. What protects seats and messages (contact
//! verifications, bookings and draw entries per network, codes per phone) is a
//! [`SharedLimit`], which N replicas cannot multiply. The quota itself never depends on
//! either.
use crate::App;
use crate::error::ApiError;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Limiter {
    /// Tokens added per second.
    rate: f64,
    /// Bucket size (the burst allowed).
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Limiter {
    /// `per_minute` requests a minute, bursts of `burst`.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(per_minute.max(1)) / 60.0,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::default(),
        }
    }

    /// Takes a token for `key`, or answers how long until one is available.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > 100_000 {
            // Forget full buckets so memory stays bounded.
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, (t, at)| *t + now.duration_since(*at).as_secs_f64() * rate < burst);
        }
        let (tokens, at) = buckets.entry(key.to_owned()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.rate))
        }
    }
}

/// One limit kept in Redis: at most `per_period` at once, refilled evenly over `period`
/// (GCRA, `lua/gcra.lua`). Keys are `{prefix}limit:{name}:{key}`.
#[derive(Clone)]
pub struct SharedLimit {
    name: &'static str,
    interval_ms: u64,
    burst: u32,
}

impl SharedLimit {
    pub fn new(name: &'static str, per_period: u32, period: Duration) -> Self {
        let per_period = per_period.max(1);
        Self {
            name,
            interval_ms: (period.as_millis() as u64 / u64::from(per_period)).max(1),
            burst: per_period,
        }
    }
}

/// The Redis key part of a phone number or a username: a hash, so Redis holds no personal
/// data (its keys are listed by any operator with access).
pub fn hashed(value: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(value.as_bytes());
    hex::encode(digest.get(..16).unwrap_or_default())
}

/// Why a shared limit did not let a request through.
#[derive(Debug)]
pub enum Refused {
    /// Over the limit: wait this long.
    Wait(Duration),
    /// Redis did not answer: refuse rather than let an unlimited flood through.
    Unavailable(redis::RedisError),
}

/// The Redis side of the shared limits.
#[derive(Clone)]
pub struct SharedLimits {
    conn: antrean_platform::redis::RedisConn,
    prefix: String,
    script: std::sync::Arc<redis::Script>,
}

impl SharedLimits {
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        Ok(Self {
            conn: antrean_platform::redis::RedisConn::connect(url).await?,
            prefix: prefix.to_owned(),
            script: std::sync::Arc::new(redis::Script::new(include_str!("lua/gcra.lua"))),
        })
    }

    /// Takes one from `limit` for `key`.
    pub async fn check(&self, limit: &SharedLimit, key: &str) -> Result<(), Refused> {
        let mut inv = self.script.prepare_invoke();
        inv.key(format!("{}limit:{}:{key}", self.prefix, limit.name))
            .arg(limit.interval_ms)
            .arg(limit.burst);
        match self.conn.invoke::<u64>(&inv).await {
            Ok(0) => Ok(()),
            Ok(wait) => Err(Refused::Wait(Duration::from_millis(wait))),
            Err(e) => Err(Refused::Unavailable(e)),
        }
    }

    /// Takes one from each `(limit, key)`, in order; stops at the first refusal. (A refusal
    /// by a later limit keeps what earlier ones took: it only makes the caller slower.)
    pub async fn check_all(&self, checks: &[(&SharedLimit, &str)]) -> Result<(), Refused> {
        for (limit, key) in checks {
            self.check(limit, key).await?;
        }
        Ok(())
    }
}

/// The limits of the JSON API.
#[derive(Debug)]
pub struct Limits {
    /// Every request, per client address.
    pub per_client: Limiter,
}

impl Limits {
    /// Per minute: every request per client.
    pub fn new(per_client: u32) -> Self {
        Self {
            per_client: Limiter::new(per_client, per_client / 5),
        }
    }
}

/// The limits shared by every replica (Redis): what protects seats and messages.
pub struct FairLimits {
    pub verifications: crate::verification::VerificationLimits,
    /// Bookings, waitlist joins and draw entries per client network, and per contact token.
    pub bookings_per_network: SharedLimit,
    pub bookings_per_contact: SharedLimit,
    /// Look-ups and cancellations by booking code per client network and per phone (codes
    /// must not be enumerable from any number of replicas).
    pub lookups_per_network: SharedLimit,
    pub lookups_per_phone: SharedLimit,
    /// Staff sign-ins per client network and per username.
    pub signins_per_network: SharedLimit,
    pub signins_per_user: SharedLimit,
    /// WhatsApp messages acted on per sender, and the one notice of a sender over it.
    pub messages_per_sender: SharedLimit,
    pub flood_notices: SharedLimit,
}

impl FairLimits {
    pub fn new(c: &crate::GatewayConfig) -> Self {
        const MINUTE: u64 = 60;
        const QUARTER: u64 = 900;
        const HOUR: u64 = 3600;
        let limit = |name, n, seconds| SharedLimit::new(name, n, Duration::from_secs(seconds));
        Self {
            verifications: crate::verification::VerificationLimits::new(
                c.api_rate_codes_per_phone,
                c.api_rate_verifications,
            ),
            bookings_per_network: limit("bookings:net", c.api_rate_bookings, HOUR),
            bookings_per_contact: limit("bookings:contact", c.api_rate_per_phone, MINUTE),
            lookups_per_network: limit("lookups:net", c.api_rate_lookups, MINUTE),
            lookups_per_phone: limit("lookups:phone", c.api_rate_lookups_per_phone, HOUR),
            signins_per_network: limit("signins:net", c.api_rate_signins, QUARTER),
            signins_per_user: limit("signins:user", c.api_rate_signins_per_user, QUARTER),
            messages_per_sender: limit("messages:sender", c.whatsapp_rate_per_sender, MINUTE),
            flood_notices: limit("messages:notice", 1, 600),
        }
    }
}

/// The limits on look-ups and cancellations by booking code (API and portal), shared by every
/// replica: per client network, and per phone (its digits, however it is written).
pub async fn lookups(app: &App, ip: IpAddr, phone: &str, en: bool) -> Result<(), ApiError> {
    let network = crate::client::network(ip);
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let digits = hashed(
        antrean_platform::phone::normalize(&digits)
            .as_deref()
            .unwrap_or(&digits),
    );
    app.shared
        .check_all(&[
            (&app.fair.lookups_per_network, &network),
            (&app.fair.lookups_per_phone, &digits),
        ])
        .await
        .map_err(|r| ApiError::refused(en, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_waits() {
        let l = Limiter::new(60, 3);
        for _ in 0..3 {
            assert!(l.check("a").is_ok());
        }
        let wait = l.check("a").unwrap_err();
        assert!(wait <= Duration::from_secs(1) && wait > Duration::from_millis(900));
        assert!(l.check("b").is_ok(), "keys are independent");
    }
}
