//! The flash crowd: many concurrent holds on one session never take more than its capacity,
//! also when Redis is flushed in the middle.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]
mod common;

use antrean_platform::domain::SessionOfDay;
use antrean_platform::testing::{self, RedisServer};
use antrean_proto::v1 as pb;
use antrean_quota::counters::{Counters, DayBuild, DayKey, HoldArgs, HoldOutcome};
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

fn day_build(capacity: [u32; 2]) -> DayBuild {
    DayBuild {
        epoch: 1,
        open: true,
        reason: String::new(),
        note: String::new(),
        special: false,
        capacity,
        confirmed: [0, 0],
        holds: Vec::new(),
        lifetime_ms: 86_400_000,
    }
}

fn args(id: &str, session: SessionOfDay, seats: u32) -> HoldArgs {
    HoldArgs {
        hold_id: id.into(),
        session,
        seats,
        expires_ms: chrono::Utc::now().timestamp_millis() + 600_000,
    }
}

fn day(office: &str) -> DayKey {
    DayKey {
        office: office.into(),
        date: DATE.parse().unwrap(),
    }
}

#[tokio::test]
async fn one_script_call_decides_a_batch_in_order_each_as_if_alone() {
    let counters = Counters::connect(&testing::redis_url(), &testing::redis_prefix())
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let (bogor, missing) = (day("BOGOR"), day("NOWHERE"));
    assert!(counters.init(&bogor, &day_build([3, 10])).await.unwrap());
    let batch = [
        args("a", SessionOfDay::Pagi, 2),
        args("a", SessionOfDay::Pagi, 2),
        args("b", SessionOfDay::Pagi, 2),
        args("c", SessionOfDay::Pagi, 1),
        args("d", SessionOfDay::Siang, 4),
    ];
    let outcomes = counters.hold_all(&bogor, &batch, now).await.unwrap();
    let admitted = |remaining, capacity| HoldOutcome::Admitted {
        remaining,
        epoch: 1,
        capacity,
    };
    assert_eq!(outcomes[0], admitted(1, 3));
    assert!(
        matches!(&outcomes[1], HoldOutcome::Exists { record, epoch: 1 }
            if record.seats == 2 && record.remaining_after == 1 && record.state == antrean_quota::ledger::HoldState::Held),
        "{:?}",
        outcomes[1]
    );
    assert_eq!(outcomes[2], HoldOutcome::Full { remaining: 1 });
    assert_eq!(outcomes[3], admitted(0, 3));
    assert_eq!(outcomes[4], admitted(6, 10));
    assert_eq!(outcomes.len(), 5);
    let seen = counters.read(&bogor, now).await.unwrap().unwrap();
    assert_eq!(seen.used, [3, 4]);

    assert_eq!(
        counters.hold_all(&missing, &batch, now).await.unwrap(),
        vec![HoldOutcome::Missing; 5]
    );
}

#[tokio::test]
async fn seats_of_expired_holds_are_free_for_the_same_call() {
    let counters = Counters::connect(&testing::redis_url(), &testing::redis_prefix())
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let bogor = day("BOGOR");
    assert!(counters.init(&bogor, &day_build([3, 10])).await.unwrap());
    let soon = |id: &str, session, seats| HoldArgs {
        expires_ms: now + 1_000,
        ..args(id, session, seats)
    };
    let first = [
        soon("a", SessionOfDay::Pagi, 2),
        soon("b", SessionOfDay::Siang, 4),
    ];
    let taken = counters.hold_all(&bogor, &first, now).await.unwrap();
    assert!(
        matches!(taken[0], HoldOutcome::Admitted { remaining: 1, .. }),
        "{taken:?}"
    );
    assert!(
        matches!(taken[1], HoldOutcome::Admitted { remaining: 6, .. }),
        "{taken:?}"
    );
    // Past their expiry, the call that reclaims them admits into the seats they held.
    let later = [
        args("c", SessionOfDay::Pagi, 3),
        args("d", SessionOfDay::Siang, 10),
    ];
    let again = counters
        .hold_all(&bogor, &later, now + 2_000)
        .await
        .unwrap();
    assert!(
        matches!(again[0], HoldOutcome::Admitted { remaining: 0, .. }),
        "{again:?}"
    );
    assert!(
        matches!(again[1], HoldOutcome::Admitted { remaining: 0, .. }),
        "{again:?}"
    );
    let seen = counters.read(&bogor, now + 2_000).await.unwrap().unwrap();
    assert_eq!(seen.used, [3, 10]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn holds_asked_at_once_share_script_calls_and_each_gets_its_own_answer() {
    // A Redis of its own, so its command statistics count this test's calls only.
    let redis = RedisServer::start().await;
    let counters = Counters::connect(&redis.url(), "batch:").await.unwrap();
    let offices = ["BOGOR", "DEPOK", "BEKASI"];
    for o in offices {
        assert!(counters.init(&day(o), &day_build([50, 0])).await.unwrap());
    }
    let now = chrono::Utc::now().timestamp_millis();
    let tasks = (0..600).map(|i| {
        let counters = counters.clone();
        tokio::spawn(async move {
            let office = offices[i % 3];
            let outcome = counters
                .hold(
                    &day(office),
                    args(&format!("h{i}"), SessionOfDay::Pagi, 1),
                    now,
                )
                .await
                .unwrap();
            (office, outcome)
        })
    });
    let answers: Vec<_> = join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    for o in offices {
        let mut left: Vec<u32> = answers
            .iter()
            .filter(|(office, _)| *office == o)
            .filter_map(|(_, a)| match a {
                HoldOutcome::Admitted { remaining, .. } => Some(*remaining),
                HoldOutcome::Full { remaining } => {
                    assert_eq!(*remaining, 0);
                    None
                }
                other => panic!("{other:?}"),
            })
            .collect();
        left.sort_unstable();
        // Exactly the capacity, each seat told apart by what it left.
        assert_eq!(left, (0..50).collect::<Vec<_>>(), "{o}");
        let seen = counters.read(&day(o), now).await.unwrap().unwrap();
        assert_eq!(seen.used[0], 50, "{o}");
    }
    let calls = script_calls(&redis.url()).await;
    // Three inits, three reads, and far fewer hold calls than holds.
    assert!(calls < 300, "{calls} script calls for 600 holds");
}
