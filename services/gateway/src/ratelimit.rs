//! Rate limits: [`Limiter`], token buckets per key in this process, and [`SharedLimit`],
//! limits kept in Redis and so shared by every gateway replica.
//!
//! A [`Limiter`] limits each replica on its own (behind N replicas a client gets N times the
//! rate): the cheap first line against floods. What protects seats and messages (contact
//! verifications, bookings and draw entries per network, codes per phone) is a
//! [`SharedLimit`], which N replicas cannot multiply. The quota itself never depends on
//! either.
use std::collections::HashMap;
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
