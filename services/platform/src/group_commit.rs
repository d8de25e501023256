//! Group commit: writes that arrive together share one statement and its commit.
//!
//! Each submitted item waits until it is durable. Writer tasks take every item waiting (up
//! to a budget, e.g. rows), and write them together ([`Write::together`]); while one
//! writer's statement is out, the next items gather for the next writer. A lone item is
//! written by itself ([`Write::alone`]). If a shared write fails, each of its items is
//! written again alone, so one bad item cannot fail the others; an item whose own write
//! fails gets that error. Used by the webhook intake (a crowd of webhooks shares a WAL
//! flush) and the quota's admissions (a crowd's admitted holds share a transaction).
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// How a kind of item is written, alone or several in one statement.
pub trait Write: Send + Sync + 'static {
    type Item: Send + Sync + 'static;
    type Output: Send + 'static;

    /// How much of a batch's budget the item takes (1 unless rows differ per item).
    fn size(_item: &Self::Item) -> usize {
        1
    }

    /// Writes one item; its answer.
    fn alone(&self, item: &Self::Item) -> impl Future<Output = sqlx::Result<Self::Output>> + Send;

    /// Writes all items at once, all or nothing; one answer per item, in order.
    fn together(
        &self,
        items: &[Self::Item],
    ) -> impl Future<Output = sqlx::Result<Vec<Self::Output>>> + Send;
}

type Job<W> = (
    <W as Write>::Item,
    oneshot::Sender<sqlx::Result<<W as Write>::Output>>,
);

/// Items of one kind on their way to the database.
pub struct GroupCommit<W: Write> {
    jobs: mpsc::Sender<Job<W>>,
}

impl<W: Write> std::fmt::Debug for GroupCommit<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl<W: Write> GroupCommit<W> {
    /// Starts `writers` writer tasks (needs a Tokio runtime), each writing at most `budget`
    /// (in [`Write::size`]) at once, and recording the items of each shared write in the
    /// histogram `batch_metric`. They stop once this is dropped and every item is answered.
    pub fn new(write: W, writers: usize, budget: usize, batch_metric: &'static str) -> Self {
        let (jobs, queue) = mpsc::channel::<Job<W>>(4 * budget.max(1));
        let queue = Arc::new(tokio::sync::Mutex::new(queue));
        let write = Arc::new(write);
        for _ in 0..writers.max(1) {
            tokio::spawn(write_loop(
                write.clone(),
                queue.clone(),
                budget.max(1),
                batch_metric,
            ));
        }
        Self { jobs }
    }

    /// Writes `item` (with whatever else is waiting) and answers once it is durable.
    pub async fn submit(&self, item: W::Item) -> sqlx::Result<W::Output> {
        let (done, written) = oneshot::channel();
        self.jobs
            .send((item, done))
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        written.await.unwrap_or(Err(sqlx::Error::PoolClosed))
    }
}

async fn write_loop<W: Write>(
    write: Arc<W>,
    queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Job<W>>>>,
    budget: usize,
    batch_metric: &'static str,
) {
    let mut jobs: Vec<Job<W>> = Vec::new();
    loop {
        {
            let mut queue = queue.lock().await;
            if queue.recv_many(&mut jobs, 1).await == 0 {
                return;
            }
            let mut size: usize = jobs.iter().map(|j| W::size(&j.0)).sum();
            while size < budget
                && let Ok(job) = queue.try_recv()
            {
                size += W::size(&job.0);
                jobs.push(job);
            }
        }
        // Every statement counts, one item alone too, or the sizes would read larger.
        metrics::histogram!(batch_metric).record(jobs.len() as f64);
        if let [(item, _)] = jobs.as_slice() {
            let written = write.alone(item).await;
            if let Some((_, done)) = jobs.pop() {
                let _ = done.send(written);
            }
            continue;
        }
        let (items, dones): (Vec<W::Item>, Vec<_>) = jobs.drain(..).unzip();
        match write.together(&items).await {
            Ok(outputs) => {
                // One answer per item is the contract; an item left without one hears so
                // rather than being written a second time.
                let mut outputs = outputs.into_iter();
                for done in dones {
                    let _ = done.send(outputs.next().ok_or_else(|| {
                        sqlx::Error::Protocol(format!("{batch_metric}: no answer for an item"))
                    }));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, items = items.len(), batch = batch_metric,
                    "a shared write failed; writing each item alone");
                for (item, done) in items.iter().zip(dones) {
                    let _ = done.send(write.alone(item).await);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Writes numbers into a list; a batch holding 13 fails as a whole, and 13 alone fails.
    #[derive(Default)]
    struct Numbers {
        written: Mutex<Vec<u32>>,
        batches: Mutex<Vec<usize>>,
    }

    impl Write for Arc<Numbers> {
        type Item = u32;
        type Output = u32;

        async fn alone(&self, item: &u32) -> sqlx::Result<u32> {
            if *item == 13 {
                return Err(sqlx::Error::RowNotFound);
            }
            self.written.lock().unwrap().push(*item);
            Ok(item * 10)
        }

        async fn together(&self, items: &[u32]) -> sqlx::Result<Vec<u32>> {
            tokio::task::yield_now().await;
            if items.contains(&13) {
                return Err(sqlx::Error::RowNotFound);
            }
            self.batches.lock().unwrap().push(items.len());
            self.written.lock().unwrap().extend_from_slice(items);
            Ok(items.iter().map(|i| i * 10).collect())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn items_arriving_together_share_writes_and_a_bad_one_fails_alone() {
        let numbers = Arc::new(Numbers::default());
        let commit = Arc::new(GroupCommit::new(numbers.clone(), 2, 16, "test_batch"));
        let answers = futures::future::join_all((0..200u32).map(|i| {
            let commit = commit.clone();
            async move { (i, commit.submit(i).await) }
        }))
        .await;
        for (i, a) in answers {
            match i {
                13 => assert!(a.is_err(), "13 fails"),
                i => assert_eq!(a.unwrap(), i * 10),
            }
        }
        let mut written = numbers.written.lock().unwrap().clone();
        written.sort_unstable();
        assert_eq!(written, (0..200).filter(|i| *i != 13).collect::<Vec<_>>());
        let batches = numbers.batches.lock().unwrap();
        assert!(!batches.is_empty(), "nothing was written together");
        assert!(batches.iter().all(|&n| n <= 16), "{batches:?}");
    }
}
