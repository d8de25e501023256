//! A sold-out session refuses a crowd from the quota's memory, without a Redis call each,
//! and gives way as soon as a seat may be free.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]
mod common;

use antrean_platform::domain::SessionOfDay;
use antrean_platform::status;
use antrean_platform::testing::RedisServer;
use antrean_proto::v1 as pb;
use antrean_quota::counters::DayKey;
use antrean_quota::gates::{GATE_REFRESH_MS, GATE_TTL_MS};
use chrono::Duration;
use common::*;
use tonic::Code;

/// Fills PAGI of BOGOR on [`DATE`] (capacity 3) with holds `a0`..`a2`, and has one Hold
/// refused, which reads the gate.
async fn sold_out(q: &TestQuota) {
    q.set_capacity("BOGOR", DATE, pb::Session::Pagi, 3).await;
    let mut c = q.client.clone();
    for i in 0..3 {
        c.hold(hold(&format!("a{i}"), "BOGOR", DATE, pb::Session::Pagi, 1))
            .await
            .unwrap();
    }
    assert_refused(q, "first-refusal").await;
    gate_stands(q).await;
}

/// Whether a gate refuses PAGI of BOGOR on [`DATE`] now.
fn gated(q: &TestQuota) -> bool {
    let day = DayKey {
        office: "BOGOR".into(),
        date: DATE.parse().unwrap(),
    };
    let now = q.quota.now().timestamp_millis();
    q.quota
        .counters()
        .refuses(&day, SessionOfDay::Pagi, "probe", now)
}

/// Waits (up to five seconds) until `ready`, which a task in the background brings about.
async fn eventually(what: &str, ready: impl Fn() -> bool) {
    for _ in 0..500 {
        if ready() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("never: {what}");
}

/// Waits until the gate, read in the background after a refusal, stands for PAGI.
async fn gate_stands(q: &TestQuota) {
    eventually("a gate after a refusal", || gated(q)).await;
}

async fn assert_refused(q: &TestQuota, id: &str) {
    let e = q
        .client
        .clone()
        .hold(hold(id, "BOGOR", DATE, pb::Session::Pagi, 1))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert_eq!(status::reason(&e).as_deref(), Some("SOLD_OUT"));
    assert_eq!(status::metadata(&e)["remaining"], "0");
    assert!(e.message().contains("(sisa 0)"), "{}", e.message());
}

#[tokio::test]
async fn a_sold_out_session_refuses_without_redis_yet_answers_retries_and_other_sessions() {
    antrean_platform::metrics::install();
    let redis = RedisServer::start().await;
    let q = start_with_redis(redis.url()).await;
    sold_out(&q).await;
    assert_eq!(counted("quota_sold_out_gates_total"), 1);
    let before = script_calls(&redis.url()).await;
    for i in 0..50 {
        assert_refused(&q, &format!("crowd-{i}")).await;
    }
    assert_eq!(
        script_calls(&redis.url()).await,
        before,
        "refusals of a sold-out session call no script"
    );
    // A retry of an admitted hold is still answered with that hold.
    let mut c = q.client.clone();
    let again = c
        .hold(hold("a1", "BOGOR", DATE, pb::Session::Pagi, 1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.hold_id, "a1");
    // The other session still has seats.
    c.hold(hold("s0", "BOGOR", DATE, pb::Session::Siang, 1))
        .await
        .unwrap();
    assert!(script_calls(&redis.url()).await > before);
    assert_eq!(q.ledger_seats("BOGOR", DATE, "PAGI").await, 3);
}

#[tokio::test]
async fn a_seat_released_here_is_offered_at_once() {
    let q = start().await;
    sold_out(&q).await;
    assert_refused(&q, "before-release").await;
    let mut c = q.client.clone();
    c.release(pb::ReleaseRequest {
        hold_id: "a0".into(),
    })
    .await
    .unwrap();
    let a = c
        .hold(hold("after-release", "BOGOR", DATE, pb::Session::Pagi, 1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a.remaining, 0);
    assert_refused(&q, "full-again").await;
}

#[tokio::test]
async fn a_capacity_change_here_opens_the_session_at_once() {
    let q = start().await;
    sold_out(&q).await;
    q.set_capacity("BOGOR", DATE, pb::Session::Pagi, 4).await;
    q.client
        .clone()
        .hold(hold("more-room", "BOGOR", DATE, pb::Session::Pagi, 1))
        .await
        .unwrap();
}

/// Sells PAGI out (see [`sold_out`]), then releases `a2` through another replica, which
/// this one's gate does not hear of.
async fn sold_out_then_released_elsewhere(q: &TestQuota) {
    let other = q.replica().await;
    sold_out(q).await;
    other
        .client
        .clone()
        .release(pb::ReleaseRequest {
            hold_id: "a2".into(),
        })
        .await
        .unwrap();
}

/// A new Hold takes the seat released elsewhere, the last one.
async fn assert_freed_seat_taken(q: &TestQuota) {
    let a = q
        .client
        .clone()
        .hold(hold("fresh", "BOGOR", DATE, pb::Session::Pagi, 1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a.remaining, 0);
    assert_eq!(q.ledger_seats("BOGOR", DATE, "PAGI").await, 3);
}

#[tokio::test]
async fn a_seat_released_by_another_replica_is_offered_within_the_gate_ttl() {
    let q = start().await;
    sold_out_then_released_elsewhere(&q).await;
    // This replica's gate was read before that release and stands until its TTL.
    assert_refused(&q, "stale").await;
    q.clock.advance(Duration::milliseconds(GATE_TTL_MS));
    assert_freed_seat_taken(&q).await;
}

#[tokio::test]
async fn a_seat_whose_hold_expired_is_offered() {
    let q = start().await;
    q.set_capacity("BOGOR", DATE, pb::Session::Pagi, 2).await;
    let mut c = q.client.clone();
    let mut short = hold("short", "BOGOR", DATE, pb::Session::Pagi, 1);
    short.ttl_seconds = 60;
    c.hold(short).await.unwrap();
    c.hold(hold("long", "BOGOR", DATE, pb::Session::Pagi, 1))
        .await
        .unwrap();
    assert_refused(&q, "first-refusal").await;
    gate_stands(&q).await;
    assert_refused(&q, "from-the-gate").await;
    q.clock.advance(Duration::seconds(60));
    c.hold(hold("into-expired", "BOGOR", DATE, pb::Session::Pagi, 1))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_crowd_that_outlasts_the_gate_is_refused_from_memory_throughout() {
    antrean_platform::metrics::install();
    let redis = RedisServer::start().await;
    let q = start_with_redis(redis.url()).await;
    sold_out(&q).await;
    // Near the gate's end a refusal reads it again, in the background, while it stands.
    q.clock
        .advance(Duration::milliseconds(GATE_TTL_MS - GATE_REFRESH_MS));
    assert_refused(&q, "near-the-end").await;
    eventually("the gate read again", || {
        counted("quota_sold_out_gates_total") == 2
    })
    .await;
    // Past the first read's TTL the crowd is still refused without a script call.
    let before = script_calls(&redis.url()).await;
    q.clock.advance(Duration::milliseconds(GATE_REFRESH_MS));
    for i in 0..20 {
        assert_refused(&q, &format!("later-{i}")).await;
    }
    assert_eq!(script_calls(&redis.url()).await, before);
    // And the new read lives no longer than its own TTL.
    q.clock.advance(Duration::milliseconds(GATE_TTL_MS));
    assert!(!gated(&q));
}

#[tokio::test]
async fn a_seat_released_by_another_replica_is_offered_once_the_gate_is_read_again() {
    let q = start().await;
    sold_out_then_released_elsewhere(&q).await;
    q.clock
        .advance(Duration::milliseconds(GATE_TTL_MS - GATE_REFRESH_MS));
    // Refused from the gate read before the release, which the gate's new read finds.
    assert_refused(&q, "stale").await;
    eventually("the gate gone", || !gated(&q)).await;
    assert_freed_seat_taken(&q).await;
}
