//! The flash crowd: many concurrent holds on one session never take more than its capacity,
//! also when Redis is flushed in the middle.
mod common;

use antrean_platform::testing::RedisServer;
use antrean_proto::v1 as pb;
use common::*;
use futures::future::join_all;
use tonic::Code;

const DATE: &str = "2026-12-01";

/// 500 holds of 1-3 seats at once on a capacity of 150. Answers which seat counts were
/// admitted and which refused.
async fn crowd(q: &TestQuota, tag: &str, mid: Option<&mut RedisServer>) -> (u32, Vec<u32>) {
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

async fn check_exactly_capacity(q: &TestQuota, admitted: u32, refused: &[u32]) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_concurrent_holds_take_exactly_the_capacity() {
    let q = start().await;
    q.set_capacity("BOGOR", DATE, pb::Session::Pagi, 150).await;
    let (admitted, refused) = crowd(&q, "crowd", None).await;
    check_exactly_capacity(&q, admitted, &refused).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_flush_in_the_middle_of_the_crowd_oversells_nothing() {
    let mut redis = RedisServer::start().await;
    let q = start_with_redis(redis.url()).await;
    q.set_capacity("BOGOR", DATE, pb::Session::Pagi, 150).await;
    let (admitted, refused) = crowd(&q, "flush", Some(&mut redis)).await;
    check_exactly_capacity(&q, admitted, &refused).await;
    // The flush really happened mid-crowd: the counters were rebuilt from the ledger.
    assert!(q.epoch("BOGOR", DATE).await >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_replays_of_one_hold_take_its_seats_once() {
    let q = start().await;
    let before = q.remaining("BOGOR", DATE, pb::Session::Siang).await;
    let tasks = (0..40).map(|_| {
        let mut c = q.client.clone();
        tokio::spawn(async move {
            c.hold(hold("same-id", "BOGOR", DATE, pb::Session::Siang, 3))
                .await
                .unwrap()
                .into_inner()
        })
    });
    let answers: Vec<pb::HoldResponse> = join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    assert_eq!(answers[0].remaining, before - 3);
    assert_eq!(
        q.remaining("BOGOR", DATE, pb::Session::Siang).await,
        before - 3
    );
    assert_eq!(q.ledger_seats("BOGOR", DATE, "SIANG").await, 3);
}
