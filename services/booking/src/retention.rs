//! Retention: the personal data of bookings whose appointment is more than `RETENTION_DAYS`
//! past is erased, in batches, by the sweeper (hourly, and sweep after sweep while batches
//! come back full). What goes: applicants' names and person keys,
//! the masked phone, confirmation and booking codes, the contact, ticket names, the kept
//! requests of waitlist and draw entries, and (through identity's `ForgetPeople`) the
//! applicants and contacts no later booking still uses. What stays: each booking's office,
//! date, session, channel, status and history, so every statistic is unchanged.
//!
//! Identity is asked first: if that fails nothing is erased and the batch is tried again at
//! the next sweep; if the ledger's update fails after it, the same batch is erased next time
//! (forgetting is idempotent).
use crate::bookings::Bookings;
use crate::error::Result;
use antrean_proto::v1 as pb;
use uuid::Uuid;

/// Bookings erased per transaction.
pub(crate) const BATCH: i64 = 500;

/// How often the sweeper looks for personal data past retention (once a batch comes back
/// short of full).
pub(crate) const EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

impl Bookings {
    /// One batch of erasures; answers how many bookings were erased.
    pub async fn erase_expired(&self, retention_days: u32) -> Result<usize> {
        let cutoff = self.now().date_naive() - chrono::Days::new(u64::from(retention_days));
        let batch: Vec<(Uuid, Uuid)> = sqlx::query!(
            "SELECT id, contact_id FROM bookings
             WHERE erased_at IS NULL AND date < $1
               AND status NOT IN ('HELD', 'CONFIRMED', 'CHECKED_IN')
             ORDER BY date LIMIT $2",
            cutoff,
            BATCH
        )
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(|b| (b.id, b.contact_id))
        .collect();
        let ids: Vec<Uuid> = batch.iter().map(|b| b.0).collect();
        // People no booking outside this batch (a later one, or one not yet erased) uses.
        let applicants: Vec<Uuid> = sqlx::query_scalar!("SELECT DISTINCT ba.applicant_id FROM booking_applicants ba
             WHERE ba.booking_id = ANY($1)
               AND NOT EXISTS (SELECT 1 FROM booking_applicants o JOIN bookings b ON b.id = o.booking_id
                   WHERE o.applicant_id = ba.applicant_id AND b.erased_at IS NULL
                     AND NOT (b.id = ANY($1)))", &ids)
        .fetch_all(self.pool())
        .await?;
        let contacts: Vec<Uuid> = sqlx::query_scalar!(
            "SELECT DISTINCT b.contact_id FROM bookings b
             WHERE b.id = ANY($1)
               AND NOT EXISTS (SELECT 1 FROM bookings o WHERE o.contact_id = b.contact_id
                   AND o.erased_at IS NULL AND NOT (o.id = ANY($1)))",
            &ids
        )
        .fetch_all(self.pool())
        .await?;
        if !applicants.is_empty() || !contacts.is_empty() {
            self.identity
                .clone()
                .forget_people(pb::ForgetPeopleRequest {
                    applicant_ids: applicants.iter().map(Uuid::to_string).collect(),
                    contact_ids: contacts.iter().map(Uuid::to_string).collect(),
                })
                .await?;
        }
        let now = self.now();
        let mut tx = self.pool().begin().await?;
        sqlx::query!(
            "UPDATE booking_applicants SET name = '', person_key = '', birth_date = NULL
             WHERE booking_id = ANY($1)",
            &ids
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE tickets SET name = '' WHERE date < $1 AND name <> ''",
            cutoff
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE bookings SET contact_phone_masked = '', confirmation_code = '',
                booking_code = NULL, contact_id = $2, erased_at = $3
             WHERE id = ANY($1)",
            &ids,
            Uuid::nil(),
            now
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE waitlist_entries SET request_enc = ''::bytea, contact_key = 'erased:' || id
             WHERE date < $1 AND state NOT IN ('WAITING', 'OFFERED') AND request_enc <> ''::bytea",
            cutoff
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE draw_entries SET request_enc = ''::bytea, contact_key = 'erased:' || id
             WHERE date < $1 AND request_enc <> ''::bytea",
            cutoff
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE draw_entry_people SET person_key = 'erased:' || gen_random_uuid()
             WHERE date < $1 AND person_key NOT LIKE 'erased:%'",
            cutoff
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if !ids.is_empty() {
            tracing::info!(
                bookings = ids.len(),
                applicants = applicants.len(),
                contacts = contacts.len(),
                "personal data past retention erased"
            );
        }
        Ok(ids.len())
    }
}
