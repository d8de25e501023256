//! Workers over the stored webhooks.
//!
//! Messages: each round claims, per sender, the oldest pending message (so one person's
//! messages run one at a time and in order), under a lease, and hands them to [`crate::bot`].
//! Every effect of a message is idempotent by its id (the booking's idempotency key and the
//! reply's outbox key derive from it), so a message retried after a crash or an unavailable
//! service still takes effect once and is answered once.
//!
//! Statuses: forwarded to the notification service, which only ever moves a message's
//! delivery state forward.
use crate::App;
use crate::bot::{self, Incoming};
use antrean_proto::v1 as pb;
use chrono::Duration;
use serde_json::Value;
use sqlx::FromRow;
use std::sync::Arc;
use tracing::Instrument;

const LEASE_SECONDS: i64 = 60;
const MAX_ATTEMPTS: i32 = 12;
/// How long a delivery status for a message the notification service does not know is kept
/// for another try.
const UNKNOWN_STATUS_SECONDS: i64 = 60;

#[derive(Debug, FromRow)]
struct Claimed {
    wamid: String,
    phone_number_id: String,
    sender_key: String,
    sender_enc: Vec<u8>,
    content_enc: Vec<u8>,
    attempts: i32,
    traceparent: String,
    /// When the webhook carrying it was stored: what a release draw's window counts.
    received_at: chrono::DateTime<chrono::Utc>,
}

pub fn spawn(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut erased_at: Option<std::time::Instant> = None;
        let mut measured_at: Option<std::time::Instant> = None;
        loop {
            if measured_at.is_none_or(|t| t.elapsed() >= MEASURE_EVERY) {
                measured_at = Some(std::time::Instant::now());
                if let Err(e) = measure_backlog(&app).await {
                    tracing::warn!(error = %e, "measuring the inbox backlog failed");
                }
            }
            if erased_at.is_none_or(|t| t.elapsed() >= ERASE_EVERY) {
                erased_at = Some(std::time::Instant::now());
                if let Err(e) = erase_old(&app).await {
                    tracing::warn!(error = %e, "erasing old messages failed; tried again later");
                }
            }
            match round(&app).await {
                Ok(0) => {
                    let wake = app.wake.notified();
                    let _ = tokio::time::timeout(std::time::Duration::from_millis(250), wake).await;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "inbox round failed");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    })
}

/// How often the age of the oldest pending message is measured.
const MEASURE_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Sets `whatsapp_inbox_oldest_pending_seconds`: how long the oldest message not yet
/// answered has waited (0 when none waits), so a stuck inbox shows even though it answers
/// nothing. One probe of `inbound_pending_by_time`.
async fn measure_backlog(app: &App) -> anyhow::Result<()> {
    let oldest = sqlx::query_scalar!(
        "SELECT received_at FROM inbound_messages WHERE state = 'PENDING'
         ORDER BY sent_at, received_at, wamid LIMIT 1"
    )
    .fetch_optional(&app.pool)
    .await?;
    let age = oldest.map_or(0.0, |at| {
        antrean_platform::clock::seconds_since(app.clock.now(), at)
    });
    metrics::gauge!("whatsapp_inbox_oldest_pending_seconds").set(age);
    Ok(())
}

/// How often old messages are looked for.
const ERASE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Erases what is older than the retention period: handled and failed messages, status
/// updates, rejected webhooks, feedback and conversations. Answers how many rows went.
pub async fn erase_old(app: &App) -> anyhow::Result<u64> {
    let cutoff = app.clock.now() - Duration::days(i64::from(app.config.retention_days));
    let pool = &app.pool;
    let results = [
        sqlx::query!(
            "DELETE FROM inbound_messages WHERE received_at < $1 AND state <> 'PENDING'",
            cutoff
        )
        .execute(pool)
        .await?,
        sqlx::query!(
            "DELETE FROM status_updates WHERE received_at < $1 AND state = 'DONE'",
            cutoff
        )
        .execute(pool)
        .await?,
        sqlx::query!(
            "DELETE FROM rejected_webhooks WHERE received_at < $1",
            cutoff
        )
        .execute(pool)
        .await?,
        sqlx::query!("DELETE FROM feedback WHERE received_at < $1", cutoff)
            .execute(pool)
            .await?,
        sqlx::query!("DELETE FROM conversations WHERE expires_at < $1", cutoff)
            .execute(pool)
            .await?,
    ];
    Ok(results.iter().map(|r| r.rows_affected()).sum())
}

/// One round over messages and statuses; answers how many it handled.
pub async fn round(app: &App) -> anyhow::Result<usize> {
    let statuses = forward_statuses(app).await?;
    let now = app.clock.now();
    // A walk over the pending messages in the order they were written, one index probe of
    // `inbound_pending_by_time` per step (the recursive CTE keeps it a walk whatever the
    // planner thinks of a table autovacuum has not analysed yet), keeping a message only if
    // it is due and its sender's head: the sender's oldest pending message, one probe of
    // `inbound_pending`. A head that is leased or waiting for a retry holds its sender back.
    // The walk stops at the first due heads, so it costs about a millisecond with 10 or
    // 40,000 pending; taking every sender's head first and sorting them cost 87 ms with
    // 40,000 pending, and a correlated NOT EXISTS could be planned as every pending row
    // against every other.
    let heads: Vec<String> = sqlx::query_scalar!(
        r#"WITH RECURSIVE walk AS (
            (SELECT sent_at, received_at, wamid, sender_key, next_attempt_at, lease_until
             FROM inbound_messages WHERE state = 'PENDING'
             ORDER BY sent_at, received_at, wamid LIMIT 1)
            UNION ALL
            SELECT n.* FROM walk w CROSS JOIN LATERAL (
                SELECT sent_at, received_at, wamid, sender_key, next_attempt_at, lease_until
                FROM inbound_messages
                WHERE state = 'PENDING'
                  AND (sent_at, received_at, wamid) > (w.sent_at, w.received_at, w.wamid)
                ORDER BY sent_at, received_at, wamid LIMIT 1) n
         )
         SELECT w.wamid AS "wamid!" FROM walk w
         WHERE w.next_attempt_at <= $1 AND (w.lease_until IS NULL OR w.lease_until <= $1)
           AND w.wamid = (SELECT p.wamid FROM inbound_messages p
                          WHERE p.sender_key = w.sender_key AND p.state = 'PENDING'
                          ORDER BY p.sent_at, p.received_at, p.wamid LIMIT 1)
         LIMIT $2"#,
        now,
        app.config.workers
    )
    .fetch_all(&app.pool)
    .await?;
    if heads.is_empty() {
        return Ok(statuses);
    }
    // The lease: a head another worker or replica leased meanwhile fails the re-checked
    // condition (PostgreSQL evaluates it again on the row's latest version) and is skipped.
    // Locking the heads with FOR UPDATE SKIP LOCKED inside the walk's statement instead took
    // seconds per claim under a crowd of webhooks. The heads are joined by primary key: with
    // `wamid = ANY(..) AND state = 'PENDING'` PostgreSQL also scanned the whole partial index
    // of pending messages (dead entries included) to AND it with the key lookups, 2.5-7 ms
    // per claim under a crowd instead of 0.2.
    let claimed: Vec<Claimed> = sqlx::query_as!(Claimed, "UPDATE inbound_messages AS m SET lease_until = $2, attempts = m.attempts + 1
         FROM UNNEST($3::text[]) AS h(wamid)
         WHERE m.wamid = h.wamid AND m.state = 'PENDING'
           AND (m.lease_until IS NULL OR m.lease_until <= $1)
         RETURNING m.received_at, m.wamid, m.phone_number_id, m.sender_key, m.sender_enc, m.content_enc,
                   m.attempts, m.traceparent", now, now + Duration::seconds(LEASE_SECONDS), &heads)
    .fetch_all(&app.pool)
    .await?;
    let n = claimed.len();
    let outcomes = futures::future::join_all(claimed.into_iter().map(|c| {
        // Processing continues the trace of the webhook that brought the message.
        let span = tracing::info_span!(
            "message",
            otel.name = "whatsapp.message",
            attempt = c.attempts
        );
        antrean_platform::grpc::continue_trace(&span, &c.traceparent);
        process(app, c).instrument(span)
    }))
    .await;
    // The next claim waits for the whole round anyway, so the round's messages are marked
    // in one statement.
    finish_all(&app.pool, &outcomes).await;
    Ok(n + statuses)
}

/// What became of one claimed message: its new state, the error, and for a retry when.
struct Outcome {
    wamid: String,
    state: &'static str,
    error: String,
    next: Option<chrono::DateTime<chrono::Utc>>,
}

async fn process(app: &App, c: Claimed) -> Outcome {
    let outcome = |state, error: &str, next| Outcome {
        wamid: c.wamid.clone(),
        state,
        error: error.to_owned(),
        next,
    };
    let incoming = match decode(app, &c) {
        Ok(i) => i,
        Err(e) => return outcome("FAILED", &e.to_string(), None),
    };
    match bot::handle(app, &incoming).await {
        Ok(()) => {
            // From the webhook that brought it to its answer (the reply is in the outbox).
            metrics::histogram!("whatsapp_reply_delay_seconds").record(
                antrean_platform::clock::seconds_since(app.clock.now(), c.received_at),
            );
            outcome("DONE", "", None)
        }
        Err(status) if c.attempts < MAX_ATTEMPTS => {
            let delay = Duration::seconds((1i64 << c.attempts.clamp(1, 8)).min(120));
            tracing::warn!(wamid = %c.wamid, error = %status.message(), "message will be retried");
            outcome("PENDING", status.message(), Some(app.clock.now() + delay))
        }
        Err(status) => {
            tracing::error!(wamid = %c.wamid, error = %status.message(), "message failed");
            outcome("FAILED", status.message(), None)
        }
    }
}

/// Records the outcomes of a round in one statement; if that fails, each alone.
async fn finish_all(pool: &sqlx::PgPool, outcomes: &[Outcome]) {
    match outcomes {
        [] => return,
        [o] => return finish(pool, &o.wamid, o.state, &o.error, o.next).await,
        _ => {}
    }
    let r = sqlx::query!(
        "UPDATE inbound_messages AS m SET state = o.state, last_error = o.error,
            lease_until = NULL, next_attempt_at = COALESCE(o.next, m.next_attempt_at),
            sender_enc = CASE WHEN o.state = 'DONE' THEN ''::bytea ELSE m.sender_enc END,
            content_enc = CASE WHEN o.state = 'DONE' THEN ''::bytea ELSE m.content_enc END
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[])
              AS o(wamid, state, error, next)
         WHERE m.wamid = o.wamid",
        outcomes
            .iter()
            .map(|o| o.wamid.as_str())
            .collect::<Vec<_>>() as _,
        outcomes.iter().map(|o| o.state).collect::<Vec<_>>() as _,
        outcomes
            .iter()
            .map(|o| o.error.as_str())
            .collect::<Vec<_>>() as _,
        outcomes.iter().map(|o| o.next).collect::<Vec<_>>() as _
    )
    .execute(pool)
    .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, messages = outcomes.len(),
            "a round's message states not recorded together; recording each alone");
        for o in outcomes {
            finish(pool, &o.wamid, o.state, &o.error, o.next).await;
        }
    }
}

fn decode(app: &App, c: &Claimed) -> anyhow::Result<Incoming> {
    let sender: Value = serde_json::from_str(&app.pii.decrypt(&c.sender_enc)?)?;
    let content: Value = serde_json::from_str(&app.pii.decrypt(&c.content_enc)?)?;
    Ok(Incoming {
        wamid: c.wamid.clone(),
        phone_number_id: c.phone_number_id.clone(),
        sender_key: c.sender_key.clone(),
        phone: sender
            .pointer("/phone")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
        user_id: sender
            .pointer("/user_id")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
        text: content
            .pointer("/text")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
        reply_id: content
            .pointer("/reply_id")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
        received_at: c.received_at,
    })
}

async fn finish(
    pool: &sqlx::PgPool,
    wamid: &str,
    state: &str,
    error: &str,
    next: Option<chrono::DateTime<chrono::Utc>>,
) {
    let r = sqlx::query!(
        "UPDATE inbound_messages SET state = $2, last_error = $3, lease_until = NULL,
            next_attempt_at = COALESCE($4, next_attempt_at),
            -- Once handled, the sender's number and words go (the row stays, for replays).
            sender_enc = CASE WHEN $2 = 'DONE' THEN ''::bytea ELSE sender_enc END,
            content_enc = CASE WHEN $2 = 'DONE' THEN ''::bytea ELSE content_enc END
         WHERE wamid = $1",
        wamid,
        state,
        error,
        next
    )
    .execute(pool)
    .await;
    if let Err(e) = r {
        // The lease runs out and the message is processed again (idempotently).
        tracing::warn!(error = %e, wamid, "message state not recorded");
    }
}

async fn forward_statuses(app: &App) -> anyhow::Result<usize> {
    let mut tx = app.pool.begin().await?;
    let rows = sqlx::query!(
        "SELECT id, wamid, status, error, received_at FROM status_updates
         WHERE state = 'PENDING' ORDER BY id LIMIT 200 FOR UPDATE SKIP LOCKED"
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut done = Vec::new();
    for r in &rows {
        let state = match r.status.as_str() {
            "sent" => pb::DeliveryState::Sent,
            "delivered" => pb::DeliveryState::Delivered,
            "read" => pb::DeliveryState::Read,
            "failed" => pb::DeliveryState::Failed,
            _ => {
                done.push(r.id);
                continue;
            }
        };
        let answer = app
            .backend
            .notification()
            .record_status(pb::RecordStatusRequest {
                provider_message_id: r.wamid.clone(),
                state: state as i32,
                at: None,
                error: r.error.clone(),
            })
            .await;
        match answer {
            Ok(_) => done.push(r.id),
            // Unknown: the send may not have recorded the Cloud API's id yet (a status can
            // arrive before that commit), so it is tried again; after a minute it is not one
            // of ours (sent from elsewhere on the same number).
            Err(s) if s.code() == tonic::Code::NotFound => {
                let received: chrono::DateTime<chrono::Utc> = r.received_at;
                if app.clock.now() - received > Duration::seconds(UNKNOWN_STATUS_SECONDS) {
                    done.push(r.id);
                }
            }
            Err(s) => {
                tracing::warn!(error = %s.message(), "status not forwarded yet");
                break;
            }
        }
    }
    sqlx::query!(
        "UPDATE status_updates SET state = 'DONE' WHERE id = ANY($1)",
        &done
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_rounds_outcomes_are_recorded_together_each_its_own() {
        let pool = antrean_platform::db::connect_and_migrate(
            &antrean_platform::testing::fresh_database_url(),
            "gateway",
            2,
            &crate::MIGRATOR,
        )
        .await
        .unwrap();
        let now: chrono::DateTime<chrono::Utc> = "2026-11-30T03:00:00Z".parse().unwrap();
        for w in ["done", "retry", "failed", "untouched"] {
            sqlx::query(
                "INSERT INTO inbound_messages (wamid, phone_number_id, sender_key, sender_enc,
                    content_enc, sent_at, received_at, state, attempts, next_attempt_at,
                    lease_until)
                 VALUES ($1, '111', $1, '', '', $2, $2, 'PENDING', 1, $2, $3)",
            )
            .bind(w)
            .bind(now)
            .bind(now + Duration::seconds(LEASE_SECONDS))
            .execute(&pool)
            .await
            .unwrap();
        }
        let retry_at = now + Duration::seconds(2);
        let outcome = |wamid: &str, state, error: &str, next| Outcome {
            wamid: wamid.into(),
            state,
            error: error.into(),
            next,
        };
        finish_all(
            &pool,
            &[
                outcome("done", "DONE", "", None),
                outcome("retry", "PENDING", "booking tidak tersedia", Some(retry_at)),
                outcome("failed", "FAILED", "pesan rusak", None),
            ],
        )
        .await;
        let rows: Vec<(String, String, String, chrono::DateTime<chrono::Utc>, bool)> =
            sqlx::query_as(
                "SELECT wamid, state, last_error, next_attempt_at, lease_until IS NULL
                 FROM inbound_messages ORDER BY wamid",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(
            rows,
            [
                ("done".into(), "DONE".into(), "".into(), now, true),
                (
                    "failed".into(),
                    "FAILED".into(),
                    "pesan rusak".into(),
                    now,
                    true
                ),
                (
                    "retry".into(),
                    "PENDING".into(),
                    "booking tidak tersedia".into(),
                    retry_at,
                    true
                ),
                ("untouched".into(), "PENDING".into(), "".into(), now, false),
            ]
        );
    }
}
