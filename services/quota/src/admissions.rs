//! Admitted holds on their way into the ledger. When a crowd is admitted, the script call
//! that admits many holds at once would otherwise be followed by one transaction per hold
//! (an epoch read, the insert and a commit each): on two cores shared with the crowd, the
//! first 150 applicants of a flash crowd waited 100-160 ms for their rows. Admissions that
//! arrive together now share one transaction ([`ledger::insert_holds`]); a lone admission
//! goes straight on. A hold is answered only once its row is committed, and if a shared
//! transaction fails each admission of it is recorded again alone, so one cannot fail the
//! others.
use crate::ledger::{self, InsertHold, NewHold};
use antrean_platform::domain::SessionOfDay;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// An admitted hold, owned, with the epoch of the counters that admitted it.
#[derive(Debug, Clone)]
pub struct Admission {
    pub hold_id: String,
    pub office_code: String,
    pub date: NaiveDate,
    pub session: SessionOfDay,
    pub seats: u32,
    pub expires_at: DateTime<Utc>,
    pub remaining_after: u32,
    pub admitted_capacity: u32,
    pub epoch: i64,
}

impl Admission {
    fn row(&self) -> NewHold<'_> {
        NewHold {
            hold_id: &self.hold_id,
            office_code: &self.office_code,
            date: self.date,
            session: self.session,
            seats: self.seats,
            expires_at: self.expires_at,
            remaining_after: self.remaining_after,
            admitted_capacity: self.admitted_capacity,
        }
    }
}

type Job = (Admission, oneshot::Sender<sqlx::Result<InsertHold>>);

/// Records admissions, those waiting together in one transaction.
#[derive(Debug)]
pub struct Recorder {
    jobs: mpsc::Sender<Job>,
}

impl Recorder {
    /// Admissions recorded by one transaction at most.
    pub const MAX_BATCH: usize = 128;

    /// Starts `writers` writer tasks on `pool` (needs a Tokio runtime); they stop once the
    /// recorder is dropped and every admission in it is answered.
    pub fn new(pool: PgPool, writers: usize) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>(4 * Self::MAX_BATCH);
        let queue = Arc::new(tokio::sync::Mutex::new(queue));
        for _ in 0..writers.max(1) {
            tokio::spawn(record_loop(pool.clone(), queue.clone()));
        }
        Self { jobs }
    }

    /// Records one admission; answers as [`ledger::insert_hold`] would.
    pub async fn record(&self, admission: Admission) -> sqlx::Result<InsertHold> {
        let (done, recorded) = oneshot::channel();
        self.jobs
            .send((admission, done))
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        recorded.await.unwrap_or(Err(sqlx::Error::PoolClosed))
    }
}

async fn record_loop(pool: PgPool, queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>) {
    let mut jobs: Vec<Job> = Vec::new();
    loop {
        {
            let mut queue = queue.lock().await;
            if queue.recv_many(&mut jobs, Recorder::MAX_BATCH).await == 0 {
                return;
            }
        }
        if let [(a, _)] = jobs.as_slice() {
            let recorded = ledger::insert_hold(&pool, &a.row(), a.epoch).await;
            if let Some((_, done)) = jobs.pop() {
                let _ = done.send(recorded);
            }
            continue;
        }
        let rows: Vec<(NewHold<'_>, i64)> = jobs.iter().map(|(a, _)| (a.row(), a.epoch)).collect();
        let shared = ledger::insert_holds(&pool, &rows).await;
        drop(rows);
        metrics::histogram!("quota_admissions_batch_holds").record(jobs.len() as f64);
        match shared {
            Ok(outcomes) => {
                for ((_, done), o) in jobs.drain(..).zip(outcomes) {
                    let _ = done.send(Ok(o));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, holds = jobs.len(),
                    "a shared admissions transaction failed; recording each hold alone");
                for (a, done) in jobs.drain(..) {
                    let _ = done.send(ledger::insert_hold(&pool, &a.row(), a.epoch).await);
                }
            }
        }
    }
}
