//! Redis lost (flushed, restarted, unreachable): counters come back from the ledger, holds
//! survive, nothing half-written.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]
mod common;

use antrean_platform::testing::RedisServer;
use antrean_proto::v1 as pb;
use common::*;
use tonic::Code;

const DATE: &str = "2026-12-02";

#[tokio::test]
async fn a_restarted_redis_is_rebuilt_from_the_ledger_with_live_holds() {
    let mut redis = RedisServer::start().await;
    let q = start_with_redis(redis.url()).await;
    let mut c = q.client.clone();
    c.hold(hold("keep", "SURABAYA", DATE, pb::Session::Pagi, 4))
        .await
        .unwrap();
    c.hold(hold("done", "SURABAYA", DATE, pb::Session::Pagi, 2))
        .await
        .unwrap();
    c.commit(pb::CommitRequest {
        hold_id: "done".into(),
    })
    .await
    .unwrap();
    redis.restart().await;
    // Counters rebuilt: 75 - 4 held - 2 confirmed.
    assert_eq!(q.remaining("SURABAYA", DATE, pb::Session::Pagi).await, 69);
    // The hold made before the restart still commits, and a retry still answers the same.
    let again = c
        .hold(hold("keep", "SURABAYA", DATE, pb::Session::Pagi, 4))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.remaining, 71);
    c.commit(pb::CommitRequest {
        hold_id: "keep".into(),
    })
    .await
    .unwrap();
    redis.restart().await;
    c.release(pb::ReleaseRequest {
        hold_id: "done".into(),
    })
    .await
    .unwrap();
    assert_eq!(q.remaining("SURABAYA", DATE, pb::Session::Pagi).await, 71);
}

#[tokio::test]
async fn redis_unreachable_answers_unavailable_and_writes_nothing() {
    let mut redis = RedisServer::start().await;
    let q = start_with_redis(redis.url()).await;
    redis.stop();
    let e = q
        .client
        .clone()
        .hold(hold("down", "BOGOR", DATE, pb::Session::Pagi, 1))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert!(e.message().contains("tidak tersedia"));
    assert_eq!(q.ledger_seats("BOGOR", DATE, "PAGI").await, 0);
    redis.restart().await;
    q.client
        .clone()
        .hold(hold("down", "BOGOR", DATE, pb::Session::Pagi, 1))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_hold_released_through_another_replica_is_not_committed_by_the_one_that_admitted_it() {
    let mut redis = RedisServer::start().await;
    let q = start_with_redis(redis.url()).await;
    let other = q.replica().await;
    let (mut here, mut there) = (q.client.clone(), other.client.clone());
    let released = |e: tonic::Status| {
        assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
        assert_eq!(
            antrean_platform::status::reason(&e).as_deref(),
            Some("HOLD_RELEASED")
        );
    };
    for (id, lose_redis) in [("gone", false), ("gone-then-lost", true)] {
        here.hold(hold(id, "SURABAYA", DATE, pb::Session::Pagi, 2))
            .await
            .unwrap();
        there
            .release(pb::ReleaseRequest { hold_id: id.into() })
            .await
            .unwrap();
        if lose_redis {
            // Rebuilt from the ledger, the counters no longer know the hold at all.
            redis.restart().await;
        }
        released(
            here.commit(pb::CommitRequest { hold_id: id.into() })
                .await
                .unwrap_err(),
        );
        assert_eq!(q.remaining("SURABAYA", DATE, pb::Session::Pagi).await, 75);
        assert_eq!(q.ledger_seats("SURABAYA", DATE, "PAGI").await, 0);
    }
    // A hold the other replica admitted commits here from the ledger's row.
    there
        .hold(hold("elsewhere", "SURABAYA", DATE, pb::Session::Pagi, 3))
        .await
        .unwrap();
    here.commit(pb::CommitRequest {
        hold_id: "elsewhere".into(),
    })
    .await
    .unwrap();
    assert_eq!(q.ledger_seats("SURABAYA", DATE, "PAGI").await, 3);
    assert_eq!(q.remaining("SURABAYA", DATE, pb::Session::Pagi).await, 72);
}
