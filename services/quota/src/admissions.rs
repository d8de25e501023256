//! Admitted holds on their way into the ledger. When a crowd is admitted, the script call
//! that admits many holds at once would otherwise be followed by one transaction per hold
//! (an epoch read, the insert and a commit each): on two cores shared with the crowd, the
//! first 150 applicants of a flash crowd waited 100-160 ms for their rows. Admissions that
//! arrive together now share one statement ([`ledger::insert_holds`]: one round trip and one
//! commit, through the platform's [`GroupCommit`]); a lone admission goes straight on. A hold
//! is answered only once its row is committed, and if a shared statement fails each
//! admission of it is recorded again alone, so one cannot fail the others.
use crate::ledger::{self, InsertHold, NewHold};
use antrean_platform::group_commit::{GroupCommit, Write};
use sqlx::PgPool;

/// Admissions recorded by one statement at most.
pub const MAX_BATCH: usize = 128;

/// Records admissions, those waiting together in one statement; each answers as
/// [`ledger::insert_hold`] would.
pub type Recorder = GroupCommit<AdmissionWrites>;

/// A recorder with `writers` statements at once on `pool` (needs a Tokio runtime).
pub fn recorder(pool: PgPool, writers: usize) -> Recorder {
    GroupCommit::new(
        AdmissionWrites(pool),
        writers,
        MAX_BATCH,
        "quota_admissions_batch_holds",
    )
}

/// How admitted holds reach the ledger.
pub struct AdmissionWrites(PgPool);

impl Write for AdmissionWrites {
    type Item = NewHold;
    type Output = InsertHold;

    async fn alone(&self, hold: &NewHold) -> sqlx::Result<InsertHold> {
        ledger::insert_hold(&self.0, hold).await
    }

    async fn together(&self, holds: &[NewHold]) -> sqlx::Result<Vec<InsertHold>> {
        ledger::insert_holds(&self.0, holds).await
    }
}
