//! The outbox in PostgreSQL: accepting messages (idempotently), claiming due ones for
//! delivery, and recording what happened to them. States only ever move forward.
use crate::templates::{self, TemplateError};
use antrean_platform::clock::SharedClock;
use antrean_platform::pii::Pii;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sqlx::{FromRow, PgPool};
use std::collections::HashMap;
use uuid::Uuid;

/// How long a claimed message belongs to one worker.
pub const LEASE_SECONDS: i64 = 30;

#[derive(Debug, Clone, FromRow)]
pub struct MessageRow {
    pub id: Uuid,
    pub idempotency_key: String,
    pub channel: String,
    pub recipient_enc: Vec<u8>,
    pub sender: String,
    pub template: String,
    pub payload: Value,
    pub state: String,
    pub attempts: i32,
    pub provider_message_id: Option<String>,
    pub last_error: String,
    pub updated_at: DateTime<Utc>,
    /// The trace of the request that accepted the message.
    pub traceparent: String,
}

/// A message to accept.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub idempotency_key: String,
    pub channel: String,
    /// E.164 phone or WhatsApp user id.
    pub recipient: String,
    pub sender: String,
    pub template: String,
    pub params: HashMap<String, String>,
}

/// Order of the delivery states; a status may only raise it (FAILED aside).
pub fn rank(state: &str) -> i32 {
    match state {
        "QUEUED" => 0,
        "SENT" => 1,
        "DELIVERED" => 2,
        "READ" => 3,
        _ => 4,
    }
}

pub struct Outbox {
    pool: PgPool,
    pii: Pii,
    clock: SharedClock,
    pub wake: tokio::sync::Notify,
}

impl Outbox {
    pub fn new(pool: PgPool, pii: Pii, clock: SharedClock) -> Self {
        Self {
            pool,
            pii,
            clock,
            wake: tokio::sync::Notify::new(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn recipient(&self, row: &MessageRow) -> anyhow::Result<String> {
        self.pii.decrypt(&row.recipient_enc)
    }

    /// Stores a message (rendering it now, so a bad template is refused at once). The same
    /// idempotency key answers the first message.
    pub async fn accept(&self, m: NewMessage) -> Result<MessageRow, AcceptError> {
        let rendered = templates::render(&m.template, &m.params)?;
        // E-mail keeps the plain text and a subject; WhatsApp the Cloud API body.
        let payload = if m.channel == "EMAIL" {
            serde_json::json!({"subject": templates::subject(&m.template), "text": rendered.text})
        } else {
            rendered.body
        };
        let now = self.now();
        let params = serde_json::to_value(&m.params).expect("strings");
        // A new message comes back from the insert itself; a repeated key reads the first.
        let inserted: Option<MessageRow> = sqlx::query_as(
            "INSERT INTO outbox (id, idempotency_key, channel, recipient_enc, recipient_key, sender,
                template, params, payload, state, next_attempt_at, created_at, updated_at, traceparent)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'QUEUED', $10, $10, $10, $11)
             ON CONFLICT (idempotency_key) DO NOTHING
             RETURNING *",
        )
        .bind(Uuid::now_v7())
        .bind(&m.idempotency_key)
        .bind(&m.channel)
        .bind(self.pii.encrypt(&m.recipient))
        .bind(hex::encode(self.pii.blind("recipient", &m.recipient)))
        .bind(&m.sender)
        .bind(&m.template)
        .bind(params)
        .bind(payload)
        .bind(now)
        .bind(antrean_platform::grpc::current_traceparent())
        .fetch_optional(&self.pool)
        .await?;
        self.wake.notify_waiters();
        match inserted {
            Some(row) => Ok(row),
            None => Ok(self
                .by_key(&m.idempotency_key)
                .await?
                .ok_or(sqlx::Error::RowNotFound)?),
        }
    }

    pub async fn by_key(&self, key: &str) -> sqlx::Result<Option<MessageRow>> {
        sqlx::query_as("SELECT * FROM outbox WHERE idempotency_key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
    }

    pub async fn by_id(&self, id: Uuid) -> sqlx::Result<Option<MessageRow>> {
        sqlx::query_as("SELECT * FROM outbox WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Claims due messages: at most one per recipient (the oldest still queued), so one
    /// person's messages go out in order.
    pub async fn claim(&self, limit: i64) -> sqlx::Result<Vec<MessageRow>> {
        let now = self.now();
        sqlx::query_as(
            // Each recipient's head (the oldest queued message) comes from one ordered pass
            // over `outbox_recipient`; the due heads are then locked, skipping those another
            // worker holds, and checked again. A correlated NOT EXISTS per candidate did the
            // same, but under a backlog of thousands the planner compared queued rows with
            // each other: over a second per claim, and replies fell to tens per second.
            "UPDATE outbox SET lease_until = $2, attempts = attempts + 1, updated_at = $1
             WHERE id IN (
                SELECT id FROM outbox
                WHERE id IN (
                    SELECT id FROM (
                        SELECT DISTINCT ON (recipient_key) id, next_attempt_at, lease_until
                        FROM outbox WHERE state = 'QUEUED'
                        ORDER BY recipient_key, id
                    ) heads
                    WHERE next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)
                    ORDER BY id LIMIT $3)
                  AND state = 'QUEUED' AND (lease_until IS NULL OR lease_until <= $1)
                FOR UPDATE SKIP LOCKED)
             RETURNING *",
        )
        .bind(now)
        .bind(now + Duration::seconds(LEASE_SECONDS))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// The provider accepted the message.
    pub async fn mark_sent(&self, id: Uuid, provider_id: &str) -> sqlx::Result<()> {
        self.set(id, "SENT", Some(provider_id), "", None).await
    }

    /// Try again at `at`.
    pub async fn retry_at(&self, id: Uuid, at: DateTime<Utc>, error: &str) -> sqlx::Result<()> {
        self.set(id, "QUEUED", None, error, Some(at)).await
    }

    pub async fn mark_failed(&self, id: Uuid, error: &str) -> sqlx::Result<()> {
        self.set(id, "FAILED", None, error, None).await
    }

    async fn set(
        &self,
        id: Uuid,
        state: &str,
        provider_id: Option<&str>,
        error: &str,
        next: Option<DateTime<Utc>>,
    ) -> sqlx::Result<()> {
        // One statement, so one round trip and one commit: the state and its event.
        sqlx::query(
            "WITH moved AS (
                UPDATE outbox SET state = $2, provider_message_id = COALESCE($3, provider_message_id),
                    last_error = $4, next_attempt_at = COALESCE($5, next_attempt_at),
                    lease_until = NULL, updated_at = $6
                WHERE id = $1 AND state = 'QUEUED')
             INSERT INTO delivery_events (message_id, state, detail, at) VALUES ($1, $2, $4, $6)",
        )
        .bind(id)
        .bind(state)
        .bind(provider_id)
        .bind(error)
        .bind(next)
        .bind(self.now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A status webhook: moves the message forward only (statuses arrive out of order).
    pub async fn record_status(
        &self,
        provider_id: &str,
        state: &str,
        error: &str,
    ) -> sqlx::Result<Option<MessageRow>> {
        let now = self.now();
        let Some(row): Option<MessageRow> =
            sqlx::query_as("SELECT * FROM outbox WHERE provider_message_id = $1 FOR UPDATE")
                .bind(provider_id)
                .fetch_optional(&self.pool)
                .await?
        else {
            return Ok(None);
        };
        let forward = if state == "FAILED" {
            rank(&row.state) < rank("READ")
        } else {
            rank(state) > rank(&row.state) && row.state != "FAILED"
        };
        if forward {
            sqlx::query(
                "UPDATE outbox SET state = $2, last_error = $3, updated_at = $4 WHERE id = $1",
            )
            .bind(row.id)
            .bind(state)
            .bind(error)
            .bind(now)
            .execute(&self.pool)
            .await?;
            sqlx::query("INSERT INTO delivery_events (message_id, state, detail, at) VALUES ($1, $2, $3, $4)")
                .bind(row.id)
                .bind(state)
                .bind(error)
                .bind(now)
                .execute(&self.pool)
                .await?;
        }
        self.by_id(row.id).await
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}
