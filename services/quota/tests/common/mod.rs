#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]
#![allow(dead_code)]
//! Starts a quota service on port 0 against a fresh database, with a manual clock.
use antrean_platform::clock::ManualClock;
use antrean_platform::grpc::{ServeOptions, serve};
use antrean_platform::testing;
use antrean_proto::v1 as pb;
use antrean_proto::v1::quota_service_client::QuotaServiceClient;
use antrean_quota::{Quota, QuotaConfig, grpc::QuotaGrpc};
use chrono::{DateTime, Utc};
use futures::future::join_all;
use std::sync::Arc;
use tonic::Code;
use tonic::transport::Channel;

pub struct TestQuota {
    pub quota: Arc<Quota>,
    pub client: QuotaServiceClient<Channel>,
    pub clock: Arc<ManualClock>,
    pub config: QuotaConfig,
}

/// Monday 30 November 2026, 10:00 WIB: bookable from Tuesday 1 December to 30 December.
pub fn monday_morning() -> DateTime<Utc> {
    "2026-11-30T03:00:00Z".parse().unwrap()
}

pub async fn start() -> TestQuota {
    start_with_redis(testing::redis_url()).await
}

pub async fn start_with_redis(redis_url: String) -> TestQuota {
    antrean_platform::telemetry::init_for_tests();
    let config = QuotaConfig::for_tests(
        testing::fresh_database_url(),
        redis_url,
        testing::redis_prefix(),
    );
    serve_quota(config, ManualClock::new(monday_morning())).await
}

/// A quota service on `config` and `clock`: another replica when both are an existing one's.
pub async fn serve_quota(config: QuotaConfig, clock: Arc<ManualClock>) -> TestQuota {
    let quota = Arc::new(antrean_quota::build(&config, clock.clone()).await.unwrap());
    let (listener, addr) = testing::listener().await;
    let svc = QuotaGrpc::new(quota.clone(), antrean_platform::actor::Tokens::dev()).into_server();
    tokio::spawn(serve(
        listener,
        svc,
        ServeOptions::default(),
        std::future::pending(),
    ));
    let client = QuotaServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    TestQuota {
        quota,
        client,
        clock,
        config,
    }
}

pub fn hold(
    id: &str,
    office: &str,
    date: &str,
    session: pb::Session,
    seats: u32,
) -> pb::HoldRequest {
    pb::HoldRequest {
        hold_id: id.into(),
        office_code: office.into(),
        date: date.into(),
        session: session as i32,
        seats,
        ttl_seconds: 900,
        draw_admission: false,
    }
}

impl TestQuota {
    /// A second replica: the same database, Redis keys and clock.
    pub async fn replica(&self) -> TestQuota {
        serve_quota(self.config.clone(), self.clock.clone()).await
    }

    pub async fn remaining(&self, office: &str, date: &str, session: pb::Session) -> u32 {
        let days = self
            .client
            .clone()
            .get_availability(pb::GetAvailabilityRequest {
                office_code: office.into(),
                from: date.into(),
                to: date.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .days;
        days[0]
            .sessions
            .iter()
            .find(|s| s.session == session as i32)
            .map(|s| s.remaining)
            .unwrap()
    }

    pub async fn set_capacity(&self, office: &str, date: &str, session: pb::Session, cap: u32) {
        self.client
            .clone()
            .set_capacity(antrean_platform::actor::as_dev_admin(
                pb::SetCapacityRequest {
                    office_code: office.into(),
                    date: date.into(),
                    session: session as i32,
                    capacity: cap,
                },
            ))
            .await
            .unwrap();
    }

    /// Seats the ledger records as held or committed for a session.
    pub async fn ledger_seats(&self, office: &str, date: &str, session: &str) -> i64 {
        let pool = sqlx::PgPool::connect(&self.config.database_url)
            .await
            .unwrap();
        sqlx::query_scalar(
            "SELECT COALESCE(SUM(seats), 0)::bigint FROM quota.holds
             WHERE office_code = $1 AND date = $2::date AND session = $3
               AND state IN ('HELD', 'COMMITTED')",
        )
        .bind(office)
        .bind(date)
        .bind(session)
        .fetch_one(&pool)
        .await
        .unwrap()
    }

    /// How many times the day's counters were built from the ledger.
    pub async fn epoch(&self, office: &str, date: &str) -> i64 {
        let pool = sqlx::PgPool::connect(&self.config.database_url)
            .await
            .unwrap();
        sqlx::query_scalar(
            "SELECT epoch FROM quota.quota_days WHERE office_code = $1 AND date = $2::date",
        )
        .bind(office)
        .bind(date)
        .fetch_one(&pool)
        .await
        .unwrap()
    }
}

pub const DATE: &str = "2026-12-01";

/// 500 holds of 1-3 seats at once on a capacity of 150. Answers which seat counts were
/// admitted and which refused.
pub async fn crowd(
    q: &TestQuota,
    tag: &str,
    mid: Option<&mut antrean_platform::testing::RedisServer>,
) -> (u32, Vec<u32>) {
    let mut tasks = Vec::new();
    for i in 0..500u32 {
        let mut c = q.client.clone();
        let seats = 1 + i % 3;
        let req = hold(
            &format!("{tag}-{i}"),
            "BOGOR",
            DATE,
            pb::Session::Pagi,
            seats,
        );
        tasks.push(tokio::spawn(async move { (seats, c.hold(req).await) }));
    }
    if let Some(redis) = mid {
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        let client = redis::Client::open(redis.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    }
    let mut admitted = 0;
    let mut refused = Vec::new();
    for r in join_all(tasks).await {
        let (seats, answer) = r.unwrap();
        match answer {
            Ok(_) => admitted += seats,
            Err(s) => {
                assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
                refused.push(seats);
            }
        }
    }
    (admitted, refused)
}

pub async fn check_exactly_capacity(q: &TestQuota, admitted: u32, refused: &[u32]) {
    assert!(admitted <= 150, "oversold: {admitted} seats held");
    let remaining = q.remaining("BOGOR", DATE, pb::Session::Pagi).await;
    assert_eq!(remaining, 150 - admitted, "counters disagree with answers");
    assert_eq!(
        q.ledger_seats("BOGOR", DATE, "PAGI").await,
        i64::from(admitted)
    );
    // Remaining only shrinks, so every refusal asked for more than what is left; a refused
    // single seat therefore means the session is exactly full.
    assert!(refused.iter().all(|&s| s > remaining));
    assert!(refused.contains(&1));
    assert_eq!(admitted, 150);
}

/// How many scripts a Redis has run (`EVALSHA` and `EVAL`) since it started.
pub async fn script_calls(redis_url: &str) -> usize {
    let mut conn = redis::Client::open(redis_url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    ["evalsha", "eval"]
        .iter()
        .filter_map(|c| {
            let line = stats
                .lines()
                .find(|l| l.starts_with(&format!("cmdstat_{c}:")))?;
            line.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum()
}

/// The value of a counter without labels in the Prometheus text, 0 before its first count.
pub fn counted(name: &str) -> u64 {
    antrean_platform::metrics::render()
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}
