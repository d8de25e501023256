//! Proof that a web or app user controls a phone: a 6-digit code, then a contact token.
//!
//! WhatsApp senders are proven by Meta's signature on the webhook; everyone else proves the
//! contact before any seat is held. [`Verifications::start`] stores a keyed hash of a fresh
//! code (the caller delivers the code: WhatsApp authentication template, e-mail);
//! [`Verifications::confirm`] checks it, five wrong codes end the verification, and a right
//! one answers a random 256-bit contact token, stored only as its SHA-256. The token is the
//! bearer credential of the booking calls: [`Verifications::contact_of_token`] answers its
//! contact while it lives (30 minutes).
use antrean_platform::pii::Pii;
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// How long a code works.
pub const CODE_MINUTES: i64 = 10;
/// How long a contact token works.
pub const TOKEN_MINUTES: i64 = 30;
/// Wrong codes that end a verification.
pub const MAX_WRONG: i32 = 5;

#[derive(Debug, Clone)]
pub struct Verifications {
    pool: PgPool,
    pii: Pii,
}

/// A started verification; `code` goes to the phone (and e-mail), never to the client.
#[derive(Debug, Clone)]
pub struct Started {
    pub id: Uuid,
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmError {
    NotFound,
    Expired,
    /// Too many wrong codes: this verification is over.
    Ended,
    WrongCode {
        attempts_left: u32,
    },
}

#[derive(Debug, Clone)]
pub struct Proof {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub contact_id: Uuid,
    pub phone_masked: String,
}

/// The contact a token proves.
#[derive(Debug, Clone)]
pub struct ProvenContact {
    pub contact_id: Uuid,
    pub phone: String,
    pub phone_masked: String,
    /// The contact's e-mail, if it has one (proven with the same code, or given before).
    pub email: Option<String>,
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

impl Verifications {
    pub fn new(pool: PgPool, pii: Pii) -> Self {
        Self { pool, pii }
    }

    fn code_hash(&self, id: Uuid, code: &str) -> Vec<u8> {
        self.pii.blind("verification", &format!("{id}|{code}"))
    }

    /// Stores a new code for `contact_id` (and the e-mail to attach once proven).
    pub async fn start(
        &self,
        contact_id: Uuid,
        email: Option<&str>,
        now: DateTime<Utc>,
    ) -> sqlx::Result<Started> {
        // Verifications older than a day serve nothing (their codes and tokens lapsed): each
        // new one erases a few, with any e-mail they kept, so the table stays small.
        sqlx::query!(
            "DELETE FROM verifications WHERE id IN (
                SELECT id FROM verifications WHERE created_at < $1 LIMIT 100)",
            now - Duration::days(1)
        )
        .execute(&self.pool)
        .await?;
        let id = Uuid::now_v7();
        let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
        let expires_at = now + Duration::minutes(CODE_MINUTES);
        sqlx::query!(
            "INSERT INTO verifications (id, contact_id, email_enc, code_hash, code_expires_at,
                created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            id,
            contact_id,
            email.map(|e| self.pii.encrypt(e)),
            self.code_hash(id, &code),
            expires_at,
            now
        )
        .execute(&self.pool)
        .await?;
        Ok(Started {
            id,
            code,
            expires_at,
        })
    }

    /// Checks `code`; a right one answers a fresh contact token (again after a repeat, which
    /// replaces the earlier token).
    pub async fn confirm(
        &self,
        id: Uuid,
        code: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Result<Proof, ConfirmError>> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = sqlx::query!(
            "SELECT v.contact_id, v.email_enc, v.code_hash, v.wrong_attempts, v.state,
                    v.code_expires_at, v.token_expires_at, c.phone_masked
             FROM verifications v JOIN contacts c ON c.id = v.contact_id
             WHERE v.id = $1 FOR UPDATE OF v",
            id
        )
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(Err(ConfirmError::NotFound));
        };
        let state: &str = &row.state;
        let code_expires: DateTime<Utc> = row.code_expires_at;
        let token_expires: Option<DateTime<Utc>> = row.token_expires_at;
        match state {
            "ENDED" => return Ok(Err(ConfirmError::Ended)),
            // A confirmed verification takes its code again while its token would live.
            "CONFIRMED" if token_expires.is_none_or(|t| t <= now) => {
                return Ok(Err(ConfirmError::Expired));
            }
            "PENDING" if code_expires <= now => return Ok(Err(ConfirmError::Expired)),
            _ => {}
        }
        let stored: Vec<u8> = row.code_hash;
        // Both sides are keyed hashes of equal length; comparing them leaks nothing usable.
        if stored != self.code_hash(id, code) {
            let wrong: i32 = row.wrong_attempts + 1;
            let ended = wrong >= MAX_WRONG;
            sqlx::query!(
                "UPDATE verifications SET wrong_attempts = $2,
                    state = CASE WHEN $3 THEN 'ENDED' ELSE state END,
                    token_hash = CASE WHEN $3 THEN NULL ELSE token_hash END
                 WHERE id = $1",
                id,
                wrong,
                ended
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(Err(if ended {
                ConfirmError::Ended
            } else {
                ConfirmError::WrongCode {
                    attempts_left: (MAX_WRONG - wrong) as u32,
                }
            }));
        }
        let contact_id: Uuid = row.contact_id;
        let email: Option<Vec<u8>> = row.email_enc;
        let token = hex::encode(rand::rng().random::<[u8; 32]>());
        let expires_at = if state == "CONFIRMED" {
            token_expires.unwrap_or(now)
        } else {
            now + Duration::minutes(TOKEN_MINUTES)
        };
        sqlx::query!(
            "UPDATE verifications SET state = 'CONFIRMED', token_hash = $2, token_expires_at = $3
             WHERE id = $1",
            id,
            token_hash(&token),
            expires_at
        )
        .execute(&mut *tx)
        .await?;
        if let Some(email) = email {
            // The code went to this address too: it is now the contact's e-mail.
            sqlx::query!(
                "UPDATE contacts SET email_enc = $2, updated_at = now() WHERE id = $1",
                contact_id,
                email
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Ok(Proof {
            token,
            expires_at,
            contact_id,
            phone_masked: row.phone_masked,
        }))
    }

    /// The contact a live token proves, or `None`.
    pub async fn contact_of_token(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<ProvenContact>> {
        // Tokens are 64 hex digits; anything else is not looked up.
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let Some(row) = sqlx::query!(
            "SELECT c.id, c.phone_enc, c.phone_masked, c.email_enc
             FROM verifications v JOIN contacts c ON c.id = v.contact_id
             WHERE v.token_hash = $1 AND v.state = 'CONFIRMED' AND v.token_expires_at > $2",
            token_hash(&token.to_ascii_lowercase()),
            now
        )
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let email: Option<Vec<u8>> = row.email_enc;
        Ok(Some(ProvenContact {
            contact_id: row.id,
            phone: self.pii.decrypt(&row.phone_enc)?,
            phone_masked: row.phone_masked,
            email: email.map(|e| self.pii.decrypt(&e)).transpose()?,
        }))
    }
}
