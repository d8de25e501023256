//! The flash crowd: many concurrent holds on one session never take more than its capacity,
//! also when Redis is flushed in the middle.
mod common;

use antrean_platform::testing::RedisServer;
use antrean_proto::v1 as pb;
use common::*;
use futures::future::join_all;

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
