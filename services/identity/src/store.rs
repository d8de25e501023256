//! The `identity` schema: contacts, applicants, no-shows and blocks.
use crate::config::PenaltyRule;
use crate::nik::Nik;
use crate::person::name_key;
use antrean_platform::pii::Pii;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
    pii: Pii,
}

/// A validated applicant, ready to store.
#[derive(Debug, Clone)]
pub struct ApplicantData {
    pub nik: Option<Nik>,
    pub name: String,
    pub birth_date: NaiveDate,
}

#[derive(Debug, Clone)]
pub struct StoredApplicant {
    pub id: Uuid,
    pub person_key: String,
    pub name: String,
    pub birth_date: NaiveDate,
    pub nik_masked: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StoredContact {
    pub id: Uuid,
    pub phone: Option<String>,
    pub phone_masked: String,
    pub email: Option<String>,
    pub whatsapp_user_id: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PenaltyState {
    pub recent_no_shows: u32,
    pub blocked_until: Option<DateTime<Utc>>,
}

impl Store {
    pub fn new(pool: PgPool, pii: Pii) -> Self {
        Self { pool, pii }
    }

    /// Deletes applicants and contacts (the retention job's people); answers how many went.
    /// No-show records and blocks stay: they name only the pseudonymous person key.
    pub async fn forget(&self, applicants: &[Uuid], contacts: &[Uuid]) -> sqlx::Result<(u32, u32)> {
        let mut tx = self.pool.begin().await?;
        let a = sqlx::query!("DELETE FROM applicants WHERE id = ANY($1)", applicants)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query!(
            "DELETE FROM verifications WHERE contact_id = ANY($1)",
            contacts
        )
        .execute(&mut *tx)
        .await?;
        let c = sqlx::query!("DELETE FROM contacts WHERE id = ANY($1)", contacts)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok((
            u32::try_from(a).unwrap_or(u32::MAX),
            u32::try_from(c).unwrap_or(u32::MAX),
        ))
    }

    /// The person key: the NIK when known, else name + birth date. Opaque (a keyed hash).
    pub fn person_key(&self, a: &ApplicantData) -> String {
        match &a.nik {
            Some(nik) => format!("nik:{}", hex::encode(self.pii.blind("nik", nik.as_str()))),
            None => format!(
                "nb:{}",
                hex::encode(
                    self.pii
                        .blind("person", &format!("{}|{}", name_key(&a.name), a.birth_date))
                )
            ),
        }
    }

    /// Creates or updates the contact of an E.164 phone.
    pub async fn upsert_contact(
        &self,
        phone: &str,
        email: Option<&str>,
        whatsapp_user_id: Option<&str>,
    ) -> sqlx::Result<Uuid> {
        sqlx::query_scalar!("INSERT INTO contacts (id, phone_hash, phone_enc, phone_masked, email_enc, whatsapp_user_id)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (phone_hash) DO UPDATE SET
                email_enc = COALESCE(EXCLUDED.email_enc, contacts.email_enc),
                whatsapp_user_id = COALESCE(EXCLUDED.whatsapp_user_id, contacts.whatsapp_user_id),
                updated_at = now()
             RETURNING id", Uuid::now_v7(), self.pii.blind("phone", phone), self.pii.encrypt(phone), antrean_platform::phone::mask(phone), email.map(|e| self.pii.encrypt(e)), whatsapp_user_id)
        .fetch_one(&self.pool)
        .await
    }

    pub async fn find_contact(&self, phone: &str) -> sqlx::Result<Option<Uuid>> {
        sqlx::query_scalar!(
            "SELECT id FROM contacts WHERE phone_hash = $1",
            self.pii.blind("phone", phone)
        )
        .fetch_optional(&self.pool)
        .await
    }

    /// A contact with phone and e-mail decrypted.
    pub async fn get_contact(&self, id: Uuid) -> anyhow::Result<Option<StoredContact>> {
        let Some(r) = sqlx::query!("SELECT phone_enc, phone_masked, email_enc, whatsapp_user_id FROM contacts WHERE id = $1", id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let email: Option<Vec<u8>> = r.email_enc;
        Ok(Some(StoredContact {
            id,
            phone: Some(self.pii.decrypt(&r.phone_enc)?),
            phone_masked: r.phone_masked,
            email: email.map(|e| self.pii.decrypt(&e)).transpose()?,
            whatsapp_user_id: r.whatsapp_user_id,
        }))
    }

    /// Stores (or finds and renames) an applicant, and answers it with the end of any block on
    /// the person at `now`, in one statement. Without NIK, the contact phone is part of who
    /// they are.
    pub async fn upsert_applicant(
        &self,
        a: &ApplicantData,
        contact_phone: &str,
        now: DateTime<Utc>,
    ) -> sqlx::Result<(StoredApplicant, Option<DateTime<Utc>>)> {
        let identity = match &a.nik {
            Some(nik) => self.pii.blind("nik", nik.as_str()),
            None => self.pii.blind(
                "classic",
                &format!("{}|{}|{}", name_key(&a.name), a.birth_date, contact_phone),
            ),
        };
        let person_key = self.person_key(a);
        let stored = sqlx::query!(
            r#"WITH stored AS (
                INSERT INTO applicants (id, identity_hash, person_key, nik_enc, nik_masked, name,
                                        birth_date)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                ON CONFLICT (identity_hash) DO UPDATE SET name = EXCLUDED.name
                RETURNING id)
             SELECT id, (SELECT max(blocked_until) FROM blocks
                         WHERE person_key = $3 AND blocked_until > $8) AS blocked_until
               FROM stored"#,
            Uuid::now_v7(),
            identity,
            &person_key,
            a.nik.as_ref().map(|n| self.pii.encrypt(n.as_str())),
            a.nik.as_ref().map(Nik::masked),
            &a.name,
            a.birth_date,
            now
        )
        .fetch_one(&self.pool)
        .await?;
        let blocked_until = stored.blocked_until;
        let stored = StoredApplicant {
            id: stored.id,
            person_key,
            name: a.name.clone(),
            birth_date: a.birth_date,
            nik_masked: a.nik.as_ref().map(Nik::masked),
        };
        Ok((stored, blocked_until))
    }

    pub async fn get_applicant(&self, id: Uuid) -> sqlx::Result<Option<StoredApplicant>> {
        let r = sqlx::query!(
            "SELECT id, person_key, name, birth_date, nik_masked FROM applicants WHERE id = $1",
            id
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.map(|r| StoredApplicant {
            id: r.id,
            person_key: r.person_key,
            name: r.name,
            birth_date: r.birth_date,
            nik_masked: r.nik_masked,
        }))
    }

    /// The penalty of a person now.
    pub async fn penalty(
        &self,
        person_key: &str,
        now: DateTime<Utc>,
        today: NaiveDate,
        rule: PenaltyRule,
    ) -> sqlx::Result<PenaltyState> {
        let since = today - Duration::days(i64::from(rule.window_days));
        let state = sqlx::query!(
            r#"SELECT (SELECT count(*) FROM no_shows WHERE person_key = $1 AND date > $2)
                        AS "recent!",
                    (SELECT max(blocked_until) FROM blocks
                     WHERE person_key = $1 AND blocked_until > $3) AS blocked_until"#,
            person_key,
            since,
            now
        )
        .fetch_one(&self.pool)
        .await?;
        let (recent, blocked_until) = (state.recent, state.blocked_until);
        Ok(PenaltyState {
            recent_no_shows: recent as u32,
            blocked_until,
        })
    }

    /// Records a no-show (once per booking) and blocks the person when the rule says so.
    pub async fn record_no_show(
        &self,
        person_key: &str,
        booking_id: &str,
        date: NaiveDate,
        now: DateTime<Utc>,
        today: NaiveDate,
        rule: PenaltyRule,
    ) -> sqlx::Result<PenaltyState> {
        let inserted = sqlx::query!(
            "INSERT INTO no_shows (person_key, booking_id, date, recorded_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            person_key,
            booking_id,
            date,
            now
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        let state = self.penalty(person_key, now, today, rule).await?;
        if inserted == 1 && state.recent_no_shows >= rule.limit {
            let until = now + Duration::days(i64::from(rule.block_days));
            sqlx::query!(
                "INSERT INTO blocks (person_key, blocked_until, reason, updated_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (person_key) DO UPDATE SET
                    blocked_until = GREATEST(blocks.blocked_until, EXCLUDED.blocked_until),
                    reason = EXCLUDED.reason, updated_at = EXCLUDED.updated_at",
                person_key,
                until,
                format!(
                    "{} kali tidak hadir dalam {} hari",
                    state.recent_no_shows, rule.window_days
                ),
                now
            )
            .execute(&self.pool)
            .await?;
            return self.penalty(person_key, now, today, rule).await;
        }
        Ok(state)
    }
}
