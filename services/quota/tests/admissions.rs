//! The ledger: admissions recorded together (one statement answers each hold as if recorded
//! alone) and the final say of a commit.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]
use antrean_platform::domain::SessionOfDay;
use antrean_platform::testing;
use antrean_quota::admissions;
use antrean_quota::ledger::{self, InsertHold, NewHold};
use chrono::{NaiveDate, Utc};
use sqlx::PgPool;

async fn ledger_pool() -> PgPool {
    antrean_platform::db::connect_and_migrate(
        &testing::fresh_database_url(),
        "quota",
        4,
        &antrean_quota::MIGRATOR,
    )
    .await
    .unwrap()
}

/// BOGOR's day `date` at `epoch`.
async fn day_at(pool: &PgPool, date: NaiveDate, epoch: i64) {
    sqlx::query("INSERT INTO quota_days (office_code, date, epoch) VALUES ('BOGOR', $1, $2)")
        .bind(date)
        .bind(epoch)
        .execute(pool)
        .await
        .unwrap();
}

/// One seat of BOGOR's `date`, admitted by counters of `epoch`.
fn new_hold(id: &str, date: NaiveDate, epoch: i64) -> NewHold {
    NewHold {
        hold_id: id.into(),
        office_code: "BOGOR".into(),
        date,
        session: SessionOfDay::Pagi,
        seats: 1,
        expires_at: Utc::now() + chrono::Duration::minutes(10),
        remaining_after: 3,
        admitted_capacity: 10,
        epoch,
    }
}

#[tokio::test]
async fn one_statement_answers_each_admission_as_if_alone() {
    let pool = ledger_pool().await;
    let (tuesday, wednesday): (NaiveDate, NaiveDate) =
        ("2026-12-01".parse().unwrap(), "2026-12-02".parse().unwrap());
    day_at(&pool, tuesday, 2).await;
    day_at(&pool, wednesday, 5).await;
    // Already in the ledger before the batch.
    assert!(matches!(
        ledger::insert_hold(&pool, &new_hold("old", tuesday, 2))
            .await
            .unwrap(),
        InsertHold::Inserted
    ));
    let batch = [
        new_hold("a", tuesday, 2),
        new_hold("stale", tuesday, 1),
        new_hold("old", tuesday, 2),
        new_hold("b", wednesday, 5),
        new_hold("a", tuesday, 2),
    ];
    let outcomes = ledger::insert_holds(&pool, &batch).await.unwrap();
    assert_eq!(outcomes.len(), 5);
    assert!(matches!(outcomes[0], InsertHold::Inserted), "{outcomes:?}");
    assert!(
        matches!(outcomes[1], InsertHold::EpochMismatch { ledger_epoch: 2 }),
        "{outcomes:?}"
    );
    assert!(
        matches!(&outcomes[2], InsertHold::Conflict(row) if row.hold_id == "old"),
        "{outcomes:?}"
    );
    assert!(matches!(outcomes[3], InsertHold::Inserted), "{outcomes:?}");
    // The same id twice: the second finds the first's row.
    assert!(
        matches!(&outcomes[4], InsertHold::Conflict(row) if row.hold_id == "a"),
        "{outcomes:?}"
    );
    let ids: Vec<String> = sqlx::query_scalar("SELECT hold_id FROM holds ORDER BY hold_id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(ids, ["a", "b", "old"]);
}

/// A rebuild that holds the day row commits a new epoch while admissions wait for the row:
/// they see the new epoch and stay out of the ledger (the rebuilt counters never saw them).
#[tokio::test]
async fn admissions_waiting_on_a_rebuild_see_its_new_epoch() {
    let pool = ledger_pool().await;
    let tuesday: NaiveDate = "2026-12-01".parse().unwrap();
    day_at(&pool, tuesday, 2).await;
    let mut rebuild = pool.begin().await.unwrap();
    sqlx::query(
        "SELECT epoch FROM quota_days WHERE office_code = 'BOGOR' AND date = $1 FOR UPDATE",
    )
    .bind(tuesday)
    .execute(&mut *rebuild)
    .await
    .unwrap();
    let p = pool.clone();
    let waiting = tokio::spawn(async move {
        ledger::insert_holds(&p, &[new_hold("a", tuesday, 2), new_hold("b", tuesday, 2)]).await
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        !waiting.is_finished(),
        "the admissions waited for the day row"
    );
    sqlx::query("UPDATE quota_days SET epoch = 3 WHERE office_code = 'BOGOR' AND date = $1")
        .bind(tuesday)
        .execute(&mut *rebuild)
        .await
        .unwrap();
    rebuild.commit().await.unwrap();
    let outcomes = waiting.await.unwrap().unwrap();
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, InsertHold::EpochMismatch { ledger_epoch: 3 })),
        "{outcomes:?}"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM holds")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admissions_arriving_together_share_transactions_and_each_gets_its_answer() {
    antrean_platform::metrics::install();
    let pool = ledger_pool().await;
    let tuesday: NaiveDate = "2026-12-01".parse().unwrap();
    day_at(&pool, tuesday, 3).await;
    let recorder = std::sync::Arc::new(admissions::recorder(pool.clone(), 2));
    let answers = futures::future::join_all((0..200).map(|i| {
        let recorder = recorder.clone();
        async move {
            recorder
                .submit(NewHold {
                    hold_id: format!("h{i}"),
                    session: SessionOfDay::Siang,
                    seats: 2,
                    remaining_after: 0,
                    admitted_capacity: 400,
                    // Every tenth was admitted by counters the ledger no longer knows.
                    ..new_hold("", tuesday, if i % 10 == 0 { 2 } else { 3 })
                })
                .await
                .unwrap()
        }
    }))
    .await;
    let inserted = answers
        .iter()
        .filter(|a| matches!(a, InsertHold::Inserted))
        .count();
    let stale = answers
        .iter()
        .filter(|a| matches!(a, InsertHold::EpochMismatch { ledger_epoch: 3 }))
        .count();
    assert_eq!((inserted, stale), (180, 20));
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM holds WHERE session = 'SIANG'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 180);
    // Fewer transactions than admissions: the batch sizes' histogram counted some batches.
    let text = antrean_platform::metrics::render();
    let batches: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("quota_admissions_batch_holds_count "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let batched: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("quota_admissions_batch_holds_sum "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(batches >= 1.0 && batched > batches, "{text}");
}

/// The state of hold `id` in the ledger.
async fn state(pool: &PgPool, id: &str) -> String {
    sqlx::query_scalar("SELECT state FROM holds WHERE hold_id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The ledger has the final say on a commit, whatever the counters admitted: a hold is
/// committed only while it is held and live, and only into seats that are left.
#[tokio::test]
async fn the_ledger_commits_a_live_hold_only_into_seats_left() {
    use ledger::CommitHold;
    let pool = ledger_pool().await;
    let tuesday = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    day_at(&pool, tuesday, 2).await;
    sqlx::query(
        "INSERT INTO session_quota (office_code, date, session, capacity)
         VALUES ('BOGOR', $1, 'PAGI', 2)",
    )
    .bind(tuesday)
    .execute(&pool)
    .await
    .unwrap();
    let mut rows = std::collections::HashMap::new();
    for id in ["a", "b", "c", "gone", "late"] {
        // Admitted at this capacity, so no capacity cut lets it through.
        let admitted = NewHold {
            admitted_capacity: 2,
            ..new_hold(id, tuesday, 2)
        };
        ledger::insert_hold(&pool, &admitted).await.unwrap();
        let row = ledger::get_hold(&mut pool.acquire().await.unwrap(), id)
            .await
            .unwrap()
            .unwrap();
        rows.insert(id, row);
    }
    let confirmed = || async {
        sqlx::query_scalar::<_, i32>("SELECT confirmed FROM session_quota")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let now = Utc::now();
    for id in ["a", "b"] {
        match ledger::commit_hold(&pool, &rows[id], now).await.unwrap() {
            CommitHold::Committed { hold, capacity } => {
                assert_eq!(
                    (hold.hold_id.as_str(), hold.state.as_str()),
                    (id, "COMMITTED")
                );
                assert_eq!(capacity, 2);
            }
            other => panic!("{id}: {other:?}"),
        }
    }
    // No seat is left for the third: it is released, and nothing more is confirmed.
    let third = ledger::commit_hold(&pool, &rows["c"], now).await.unwrap();
    assert!(matches!(third, CommitHold::CapacityExceeded), "{third:?}");
    assert_eq!(state(&pool, "c").await, "RELEASED");
    assert_eq!(confirmed().await, 2);
    // Committing again, from the row read while it was held, answers the commit.
    let again = ledger::commit_hold(&pool, &rows["a"], now).await.unwrap();
    assert!(
        matches!(&again, CommitHold::Committed { hold, capacity: 2 } if hold.state == antrean_quota::ledger::HoldState::Committed),
        "{again:?}"
    );
    assert_eq!(confirmed().await, 2);
    // A hold released after it was read, and one past its expiry, are not committed; the
    // second is marked expired.
    sqlx::query("UPDATE holds SET state = 'RELEASED' WHERE hold_id = 'gone'")
        .execute(&pool)
        .await
        .unwrap();
    let gone = ledger::commit_hold(&pool, &rows["gone"], now)
        .await
        .unwrap();
    assert!(matches!(gone, CommitHold::Released), "{gone:?}");
    let later = rows["late"].expires_at + chrono::Duration::seconds(1);
    let late = ledger::commit_hold(&pool, &rows["late"], later)
        .await
        .unwrap();
    assert!(matches!(late, CommitHold::Expired), "{late:?}");
    assert_eq!(state(&pool, "late").await, "EXPIRED");
    assert_eq!(confirmed().await, 2);
}
