//! The outbox in PostgreSQL: accepting messages (idempotently), claiming due ones for
//! delivery, and recording what happened to them. States only ever move forward.
use crate::templates::{self, TemplateError};
use antrean_platform::clock::SharedClock;
use antrean_platform::group_commit::{GroupCommit, Write};
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
    pub recipient_key: String,
    pub sender: String,
    pub template: String,
    pub params: Value,
    pub payload: Value,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub lease_until: Option<DateTime<Utc>>,
    pub provider_message_id: Option<String>,
    pub last_error: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The trace of the request that accepted the message.
    pub traceparent: String,
    /// E-mail only: the attached file's name and content, until sent.
    pub attachment_name: Option<String>,
    pub attachment: Option<Vec<u8>>,
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
    /// E-mail only: a PDF to attach (file name, content).
    pub attachment: Option<(String, Vec<u8>)>,
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
    /// Messages accepted together share one insert and its commit.
    accepts: GroupCommit<Accepts>,
    pub wake: tokio::sync::Notify,
}

/// What happened to one delivery attempt, to be recorded with its event.
#[derive(Debug, Clone)]
pub struct Mark {
    pub id: Uuid,
    /// SENT, QUEUED (a retry at `next`) or FAILED.
    pub state: &'static str,
    pub provider_id: Option<String>,
    pub error: String,
    pub next: Option<DateTime<Utc>>,
}

impl Mark {
    /// The provider accepted the message.
    pub fn sent(id: Uuid, provider_id: &str) -> Self {
        Self {
            id,
            state: "SENT",
            provider_id: Some(provider_id.to_owned()),
            error: String::new(),
            next: None,
        }
    }

    /// Try again at `at`.
    pub fn retry_at(id: Uuid, at: DateTime<Utc>, error: &str) -> Self {
        Self {
            id,
            state: "QUEUED",
            provider_id: None,
            error: error.to_owned(),
            next: Some(at),
        }
    }

    pub fn failed(id: Uuid, error: &str) -> Self {
        Self {
            id,
            state: "FAILED",
            provider_id: None,
            error: error.to_owned(),
            next: None,
        }
    }
}

impl Outbox {
    /// Needs a Tokio runtime: the writers of accepted messages start here.
    pub fn new(pool: PgPool, pii: Pii, clock: SharedClock) -> Self {
        Self {
            accepts: GroupCommit::new(
                Accepts(pool.clone()),
                2,
                128,
                "notification_accept_batch_messages",
            ),
            pool,
            pii,
            clock,
            wake: tokio::sync::Notify::new(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// When the oldest message still waiting to be delivered was queued.
    pub async fn oldest_queued(&self) -> sqlx::Result<Option<DateTime<Utc>>> {
        sqlx::query_scalar!("SELECT min(created_at) FROM outbox WHERE state = 'QUEUED'")
            .fetch_one(&self.pool)
            .await
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
        let row = NewRow {
            id: Uuid::now_v7(),
            recipient_enc: self.pii.encrypt(&m.recipient),
            recipient_key: hex::encode(self.pii.blind("recipient", &m.recipient)),
            params: Value::Object(
                m.params
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            ),
            payload,
            at: self.now(),
            traceparent: antrean_platform::grpc::current_traceparent(),
            message: m,
        };
        let key = row.message.idempotency_key.clone();
        // A new message comes back from the insert itself; a repeated key reads the first.
        let inserted = self.accepts.submit(row).await?;
        self.wake.notify_waiters();
        match inserted {
            Some(row) => Ok(row),
            None => Ok(self.by_key(&key).await?.ok_or(sqlx::Error::RowNotFound)?),
        }
    }

    pub async fn by_key(&self, key: &str) -> sqlx::Result<Option<MessageRow>> {
        sqlx::query_as!(
            MessageRow,
            "SELECT * FROM outbox WHERE idempotency_key = $1",
            key
        )
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn by_id(&self, id: Uuid) -> sqlx::Result<Option<MessageRow>> {
        sqlx::query_as!(MessageRow, "SELECT * FROM outbox WHERE id = $1", id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Claims due messages: at most one per recipient (the oldest still queued), so one
    /// person's messages go out in order.
    pub async fn claim(&self, limit: i64) -> sqlx::Result<Vec<MessageRow>> {
        let now = self.now();
        // A walk over the due messages in the order they fell due, one probe of
        // `outbox_due_walk` per step (the recursive CTE keeps it a walk whatever the planner
        // makes of the table), keeping a message only if no lease holds it and it is its
        // recipient's head (the oldest queued, one probe of `outbox_recipient`): a head that
        // is leased or waiting for a retry holds the recipient back. It stops at the first
        // `limit` heads, so with thousands of replies queued a claim costs what it costs
        // with ten; taking every recipient's head in one pass over the queue cost 1.2 ms per
        // claim under a crowd and grew with the queue.
        let heads: Vec<Uuid> = sqlx::query_scalar!(
            r#"WITH RECURSIVE walk AS (
                (SELECT id, next_attempt_at, recipient_key, lease_until FROM outbox
                 WHERE state = 'QUEUED' AND next_attempt_at <= $1
                 ORDER BY next_attempt_at, id LIMIT 1)
                UNION ALL
                SELECT n.* FROM walk w CROSS JOIN LATERAL (
                    SELECT id, next_attempt_at, recipient_key, lease_until FROM outbox
                    WHERE state = 'QUEUED' AND next_attempt_at <= $1
                      AND (next_attempt_at, id) > (w.next_attempt_at, w.id)
                    ORDER BY next_attempt_at, id LIMIT 1) n
             )
             SELECT w.id FROM walk w
             WHERE (w.lease_until IS NULL OR w.lease_until <= $1)
               AND w.id = (SELECT p.id FROM outbox p
                           WHERE p.recipient_key = w.recipient_key AND p.state = 'QUEUED'
                           ORDER BY p.id LIMIT 1)
             LIMIT $2"#,
            now,
            limit
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .flatten()
        .collect();
        if heads.is_empty() {
            return Ok(Vec::new());
        }
        // The lease: a head another worker leased meanwhile fails the condition, which
        // PostgreSQL checks again on the row's latest version, and is left to that worker.
        sqlx::query_as!(
            MessageRow,
            "UPDATE outbox AS m SET lease_until = $2, attempts = m.attempts + 1, updated_at = $1
             FROM UNNEST($3::uuid[]) AS h(id)
             WHERE m.id = h.id AND m.state = 'QUEUED'
               AND (m.lease_until IS NULL OR m.lease_until <= $1)
             RETURNING m.*",
            now,
            now + Duration::seconds(LEASE_SECONDS),
            &heads
        )
        .fetch_all(&self.pool)
        .await
    }

    /// Records what became of delivery attempts, each with its event, in one statement (one
    /// round trip and one commit). A message that is no longer QUEUED keeps its state; the
    /// event is recorded all the same.
    pub async fn record(&self, marks: &[Mark]) -> sqlx::Result<()> {
        if marks.is_empty() {
            return Ok(());
        }
        sqlx::query!(
            "WITH o AS (
                SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[],
                    $5::timestamptz[]) AS o(id, state, provider_id, error, next)),
             moved AS (
                UPDATE outbox AS m SET state = o.state,
                    -- Once sent (or given up), the message's personal data goes: its
                    -- parameters and rendered body (names, codes) and its recipient.
                    params = CASE WHEN o.state = 'QUEUED' THEN m.params ELSE '{}' END,
                    payload = CASE WHEN o.state = 'QUEUED' THEN m.payload ELSE '{}' END,
                    recipient_enc = CASE WHEN o.state = 'QUEUED' THEN m.recipient_enc
                        ELSE ''::bytea END,
                    attachment = CASE WHEN o.state = 'QUEUED' THEN m.attachment END,
                    provider_message_id = COALESCE(o.provider_id, m.provider_message_id),
                    last_error = o.error, next_attempt_at = COALESCE(o.next, m.next_attempt_at),
                    lease_until = NULL, updated_at = $6
                FROM o WHERE m.id = o.id AND m.state = 'QUEUED')
             INSERT INTO delivery_events (message_id, state, detail, at)
             SELECT id, state, error, $6 FROM o",
            &marks.iter().map(|m| m.id).collect::<Vec<_>>(),
            marks.iter().map(|m| m.state).collect::<Vec<_>>() as _,
            marks
                .iter()
                .map(|m| m.provider_id.as_deref())
                .collect::<Vec<_>>() as _,
            marks.iter().map(|m| m.error.as_str()).collect::<Vec<_>>() as _,
            marks.iter().map(|m| m.next).collect::<Vec<_>>() as _,
            self.now()
        )
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
        let Some(row): Option<MessageRow> = sqlx::query_as!(
            MessageRow,
            "SELECT * FROM outbox WHERE provider_message_id = $1 FOR UPDATE",
            provider_id
        )
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
            sqlx::query!(
                "UPDATE outbox SET state = $2, last_error = $3, updated_at = $4 WHERE id = $1",
                row.id,
                state,
                error,
                now
            )
            .execute(&self.pool)
            .await?;
            sqlx::query!(
                "INSERT INTO delivery_events (message_id, state, detail, at) VALUES ($1, $2, $3, $4)",
                row.id,
                state,
                error,
                now
            )
            .execute(&self.pool)
            .await?;
        }
        self.by_id(row.id).await
    }
}

/// A rendered message with what its row needs.
#[derive(Debug, Clone)]
struct NewRow {
    message: NewMessage,
    id: Uuid,
    recipient_enc: Vec<u8>,
    recipient_key: String,
    params: Value,
    payload: Value,
    at: DateTime<Utc>,
    /// The trace of the request that sent it.
    traceparent: String,
}

/// Inserts accepted messages; each answers its new row, or `None` when its idempotency key
/// was taken (by an earlier message, or earlier in the same batch).
struct Accepts(PgPool);

impl Write for Accepts {
    type Item = NewRow;
    type Output = Option<MessageRow>;

    async fn alone(&self, row: &NewRow) -> sqlx::Result<Option<MessageRow>> {
        Ok(self
            .together(std::slice::from_ref(row))
            .await?
            .pop()
            .flatten())
    }

    async fn together(&self, rows: &[NewRow]) -> sqlx::Result<Vec<Option<MessageRow>>> {
        let inserted: Vec<MessageRow> = sqlx::query_as!(
            MessageRow,
            "INSERT INTO outbox (id, idempotency_key, channel, recipient_enc, recipient_key, sender,
                template, params, payload, state, next_attempt_at, created_at, updated_at, traceparent,
                attachment_name, attachment)
             SELECT id, key, channel, recipient_enc, recipient_key, sender, template, params,
                payload, 'QUEUED', at, at, at, traceparent, attachment_name, attachment
             FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::text[],
                $7::text[], $8::jsonb[], $9::jsonb[], $10::timestamptz[], $11::text[], $12::text[],
                $13::bytea[])
                AS r(id, key, channel, recipient_enc, recipient_key, sender, template, params,
                     payload, at, traceparent, attachment_name, attachment)
             ON CONFLICT (idempotency_key) DO NOTHING
             RETURNING *",
            &rows.iter().map(|r| r.id).collect::<Vec<_>>(),
            rows.iter()
                .map(|r| r.message.idempotency_key.as_str())
                .collect::<Vec<_>>() as _,
            rows.iter()
                .map(|r| r.message.channel.as_str())
                .collect::<Vec<_>>() as _,
            rows.iter()
                .map(|r| r.recipient_enc.as_slice())
                .collect::<Vec<_>>() as _,
            rows.iter()
                .map(|r| r.recipient_key.as_str())
                .collect::<Vec<_>>() as _,
            rows.iter()
                .map(|r| r.message.sender.as_str())
                .collect::<Vec<_>>() as _,
            rows.iter()
                .map(|r| r.message.template.as_str())
                .collect::<Vec<_>>() as _,
            rows.iter().map(|r| &r.params).collect::<Vec<_>>() as _,
            rows.iter().map(|r| &r.payload).collect::<Vec<_>>() as _,
            &rows.iter().map(|r| r.at).collect::<Vec<_>>(),
            rows.iter()
                .map(|r| r.traceparent.as_str())
                .collect::<Vec<_>>() as _,
            rows.iter()
                .map(|r| r.message.attachment.as_ref().map(|(n, _)| n.as_str()))
                .collect::<Vec<_>>() as _,
            rows.iter()
                .map(|r| r.message.attachment.as_ref().map(|(_, c)| c.as_slice()))
                .collect::<Vec<_>>() as _
        )
        .fetch_all(&self.0)
        .await?;
        let mut by_id: HashMap<Uuid, MessageRow> =
            inserted.into_iter().map(|m| (m.id, m)).collect();
        Ok(rows.iter().map(|r| by_id.remove(&r.id)).collect())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}
