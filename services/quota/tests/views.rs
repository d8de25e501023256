//! Recently read counters answer reads for a moment; any write through this process, or the
//! moment passing, makes the next read go to Redis again.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]
use antrean_platform::domain::SessionOfDay;
use antrean_platform::testing;
use antrean_quota::counters::{Counters, DayBuild, DayKey, HoldArgs, VIEW_TTL_MS};

#[tokio::test]
async fn reads_are_reused_briefly_and_dropped_on_writes() {
    let prefix = testing::redis_prefix();
    let counters = Counters::connect(&testing::redis_url(), &prefix)
        .await
        .unwrap();
    let day = DayKey {
        office: "BOGOR".into(),
        date: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
    };
    let now = chrono::Utc::now().timestamp_millis();
    let built = DayBuild {
        epoch: 1,
        open: true,
        reason: String::new(),
        note: String::new(),
        special: false,
        capacity: [10, 10],
        confirmed: [0, 0],
        holds: Vec::new(),
        lifetime_ms: 86_400_000,
    };
    assert!(counters.init(&day, &built).await.unwrap());
    assert_eq!(
        counters.read(&day, now).await.unwrap().unwrap().capacity,
        [10, 10]
    );

    // Someone else (another replica) changes Redis: this process answers what it read ...
    let mut redis = redis::Client::open(testing::redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let key = counters.keys(&day)[0].clone();
    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg("cap:PAGI")
        .arg(7)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(
        counters
            .read(&day, now + 100)
            .await
            .unwrap()
            .unwrap()
            .capacity[0],
        10
    );
    // ... until the moment has passed.
    let later = now + VIEW_TTL_MS;
    assert_eq!(
        counters.read(&day, later).await.unwrap().unwrap().capacity[0],
        7
    );

    // A write through this process is seen by the very next read.
    counters
        .hold(
            &day,
            HoldArgs {
                hold_id: "h1".into(),
                session: SessionOfDay::Pagi,
                seats: 3,
                expires_ms: later + 60_000,
            },
            later,
        )
        .await
        .unwrap();
    assert_eq!(
        counters.read(&day, later).await.unwrap().unwrap().used[0],
        3
    );
}
