//! Admitted holds on their way into the ledger. When a crowd is admitted, the script call
//! that admits many holds at once would otherwise be followed by one transaction per hold
//! (an epoch read, the insert and a commit each): on two cores shared with the crowd, the
//! first 150 applicants of a flash crowd waited 100-160 ms for their rows. Admissions that
//! arrive together now share one transaction ([`ledger::insert_holds`]); a lone admission
//! goes straight on. A hold is answered only once its row is committed, and if a shared
//! transaction fails each admission of it is recorded again alone, so one cannot fail the
//! others.
use crate::ledger::{self, InsertHold, NewHold};
use sqlx::PgPool;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

type Job = (NewHold, oneshot::Sender<sqlx::Result<InsertHold>>);

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
    pub async fn record(&self, hold: NewHold) -> sqlx::Result<InsertHold> {
        let (done, recorded) = oneshot::channel();
        self.jobs
            .send((hold, done))
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
        if let [(hold, _)] = jobs.as_slice() {
            let recorded = ledger::insert_hold(&pool, hold).await;
            if let Some((_, done)) = jobs.pop() {
                let _ = done.send(recorded);
            }
            continue;
        }
        let (holds, dones): (Vec<NewHold>, Vec<_>) = jobs.drain(..).unzip();
        metrics::histogram!("quota_admissions_batch_holds").record(holds.len() as f64);
        match ledger::insert_holds(&pool, &holds).await {
            Ok(outcomes) => {
                for (done, o) in dones.into_iter().zip(outcomes) {
                    let _ = done.send(Ok(o));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, holds = holds.len(),
                    "a shared admissions transaction failed; recording each hold alone");
                for (hold, done) in holds.iter().zip(dones) {
                    let _ = done.send(ledger::insert_hold(&pool, hold).await);
                }
            }
        }
    }
}
