//! The WhatsApp webhook.
//!
//! `GET` answers the verification handshake. `POST` checks the signature over the raw body
//! (a missing or wrong one answers 401 and stores nothing), then stores every inbound message
//! and status of the batch in one statement (shared with the webhooks arriving at the same
//! time: [`Intake`]) and answers 200. The message id is the primary
//! key, so a redelivered or concurrently duplicated message is stored once; processing
//! happens afterwards ([`crate::inbox`]). If the database cannot store the batch the answer
//! is 503 and the Cloud API delivers it again later: an answered 200 is never lost.
use crate::App;
use crate::signature;
use antrean_platform::group_commit::{GroupCommit, Write};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use tracing::Instrument;

pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/webhooks/whatsapp", get(verify).post(receive))
}

async fn verify(State(app): State<Arc<App>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let token = app.config.whatsapp_verify_token.expose_secret();
    if q.get("hub.mode").map(String::as_str) == Some("subscribe")
        && q.get("hub.verify_token").map(String::as_str) == Some(token)
        && let Some(challenge) = q.get("hub.challenge")
    {
        return (StatusCode::OK, challenge.clone()).into_response();
    }
    StatusCode::FORBIDDEN.into_response()
}

/// One inbound message, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    pub wamid: String,
    pub phone_number_id: String,
    /// E.164 (`+62...`) when WhatsApp shared the number.
    pub phone: Option<String>,
    /// Business-scoped user id (`ID.123...`), when present.
    pub user_id: Option<String>,
    /// Typed text, or the id of a chosen list row / button.
    pub text: Option<String>,
    pub reply_id: Option<String>,
    pub sent_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    pub wamid: String,
    pub status: String,
    pub error: String,
}

/// Counts the Cloud API's quality updates of a business number (`field:
/// "phone_number_quality_update"`) in `whatsapp_quality_updates_total{event}`: a FLAGGED or
/// DOWNGRADE means recipients are blocking or reporting the number, and its messaging limit
/// falls next (docs/runbooks/WhatsAppQualityDropped.md).
pub fn observe_quality_updates(v: &Value) {
    let changes = v
        .pointer("/entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.pointer("/changes").and_then(Value::as_array))
        .flatten();
    for change in changes {
        if change.get("field").and_then(Value::as_str) != Some("phone_number_quality_update") {
            continue;
        }
        let value = change.get("value").unwrap_or(&Value::Null);
        let said = value.get("event").and_then(Value::as_str).unwrap_or("");
        // A fixed set of labels, whatever the body says.
        let event = ["FLAGGED", "UNFLAGGED", "DOWNGRADE", "UPGRADE"]
            .into_iter()
            .find(|e| *e == said)
            .unwrap_or("OTHER");
        let number = value
            .get("display_phone_number")
            .and_then(Value::as_str)
            .unwrap_or("");
        let limit = value
            .get("current_limit")
            .and_then(Value::as_str)
            .unwrap_or("");
        tracing::warn!(
            event,
            number,
            limit,
            "WhatsApp quality update of a business number"
        );
        metrics::counter!("whatsapp_quality_updates_total", "event" => event).increment(1);
    }
}

/// Every message and status in a webhook body (a batch may hold many entries and changes).
pub fn read_batch(v: &Value) -> (Vec<Inbound>, Vec<StatusUpdate>) {
    let mut messages = Vec::new();
    let mut statuses = Vec::new();
    let empty = Vec::new();
    for entry in v
        .pointer("/entry")
        .and_then(serde_json::Value::as_array)
        .unwrap_or(&empty)
    {
        for change in entry
            .pointer("/changes")
            .and_then(serde_json::Value::as_array)
            .unwrap_or(&empty)
        {
            let value = change.get("value").unwrap_or(&serde_json::Value::Null);
            let pnid = value
                .pointer("/metadata/phone_number_id")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned();
            for m in value
                .pointer("/messages")
                .and_then(serde_json::Value::as_array)
                .unwrap_or(&empty)
            {
                let Some(wamid) = m.pointer("/id").and_then(serde_json::Value::as_str) else {
                    continue;
                };
                // A user changed number: nothing to answer. The business-scoped user id stays
                // the same, so their conversation continues under the new number.
                if m.get("type").and_then(serde_json::Value::as_str) == Some("system") {
                    tracing::info!("WhatsApp user changed number");
                    continue;
                }
                let phone = m
                    .pointer("/from")
                    .and_then(serde_json::Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(|s| format!("+{}", s.trim_start_matches('+')));
                let user_id = m
                    .pointer("/from_user_id")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned);
                let (text, reply_id) = match m.pointer("/type").and_then(serde_json::Value::as_str)
                {
                    Some("text") => (
                        m.pointer("/text/body")
                            .and_then(serde_json::Value::as_str)
                            .map(str::to_owned),
                        None,
                    ),
                    Some("interactive") => {
                        let i = m.get("interactive").unwrap_or(&serde_json::Value::Null);
                        let id = i
                            .pointer("/list_reply/id")
                            .and_then(serde_json::Value::as_str)
                            .or(i
                                .pointer("/button_reply/id")
                                .and_then(serde_json::Value::as_str));
                        (None, id.map(str::to_owned))
                    }
                    Some("button") => (
                        None,
                        m.pointer("/button/payload")
                            .and_then(serde_json::Value::as_str)
                            .map(str::to_owned),
                    ),
                    _ => (None, None),
                };
                let sent_at = m
                    .pointer("/timestamp")
                    .and_then(serde_json::Value::as_str)
                    .and_then(|t| t.parse::<i64>().ok())
                    .and_then(|t| DateTime::from_timestamp(t, 0))
                    .unwrap_or_else(Utc::now);
                messages.push(Inbound {
                    wamid: wamid.to_owned(),
                    phone_number_id: pnid.clone(),
                    phone,
                    user_id,
                    text,
                    reply_id,
                    sent_at,
                });
            }
            for s in value
                .pointer("/statuses")
                .and_then(serde_json::Value::as_array)
                .unwrap_or(&empty)
            {
                let (Some(id), Some(status)) = (
                    s.pointer("/id").and_then(serde_json::Value::as_str),
                    s.pointer("/status").and_then(serde_json::Value::as_str),
                ) else {
                    continue;
                };
                let error = s
                    .pointer("/errors/0/code")
                    .and_then(serde_json::Value::as_i64)
                    .map(|c| {
                        format!(
                            "{c}: {}",
                            s.pointer("/errors/0/title")
                                .and_then(serde_json::Value::as_str)
                                .unwrap_or("")
                        )
                    })
                    .unwrap_or_default();
                statuses.push(StatusUpdate {
                    wamid: id.to_owned(),
                    status: status.to_owned(),
                    error,
                });
            }
        }
    }
    (messages, statuses)
}

async fn receive(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    // A user action starts here: the Cloud API carries no trace context of ours.
    let span = tracing::info_span!(
        "webhook",
        otel.name = "POST /webhooks/whatsapp",
        otel.kind = "server"
    );
    receive_in_span(app, headers, body).instrument(span).await
}

async fn receive_in_span(app: Arc<App>, headers: HeaderMap, body: Bytes) -> Response {
    let header = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if !signature::verify(
        app.config.whatsapp_app_secret.expose_secret().as_bytes(),
        &body,
        header,
    ) {
        tracing::warn!("webhook with a missing or wrong signature refused");
        metrics::counter!("whatsapp_webhooks_total", "result" => "bad_signature").increment(1);
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"code": "BAD_SIGNATURE",
                "message": "X-Hub-Signature-256 is missing or wrong"}})),
        )
            .into_response();
    }
    match store(&app, &body).await {
        Ok(()) => {
            metrics::counter!("whatsapp_webhooks_total", "result" => "accepted").increment(1);
            app.wake.notify_waiters();
            StatusCode::OK.into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "webhook not stored; the Cloud API will deliver it again");
            metrics::counter!("whatsapp_webhooks_total", "result" => "unavailable").increment(1);
            antrean_platform::metrics::dependency_error("postgres");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

async fn store(app: &App, body: &[u8]) -> sqlx::Result<()> {
    let now = app.clock.now();
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            sqlx::query!(
                "INSERT INTO rejected_webhooks (body_enc, error, received_at) VALUES ($1, $2, $3)",
                app.pii.encrypt(&String::from_utf8_lossy(body)),
                e.to_string(),
                now
            )
            .execute(&app.pool)
            .await?;
            return Ok(());
        }
    };
    if app.config.whatsapp_sandbox {
        // The sandbox inside this gateway stands in for Meta, which sees every message it
        // relays: the sender's 24-hour window opens.
        app.sandbox.observe_webhook(&value);
    }
    observe_quality_updates(&value);
    let (messages, statuses) = read_batch(&value);
    let traceparent = antrean_platform::grpc::current_traceparent();
    let mut rows = Rows::default();
    for m in &messages {
        let who = m
            .user_id
            .as_ref()
            .or(m.phone.as_ref())
            .map_or("", String::as_str);
        rows.wamid.push(m.wamid.clone());
        rows.phone_number_id.push(m.phone_number_id.clone());
        rows.sender_key
            .push(hex::encode(app.pii.blind("wa-user", who)));
        rows.sender_enc.push(
            app.pii
                .encrypt(&json!({"phone": m.phone, "user_id": m.user_id}).to_string()),
        );
        rows.content_enc.push(
            app.pii
                .encrypt(&json!({"text": m.text, "reply_id": m.reply_id}).to_string()),
        );
        rows.sent_at.push(m.sent_at);
        rows.received_at.push(now);
        rows.traceparent.push(traceparent.clone());
    }
    for s in statuses {
        rows.status_wamid.push(s.wamid);
        rows.status.push(s.status);
        rows.status_error.push(s.error);
        rows.status_received_at.push(now);
    }
    if rows.is_empty() {
        return Ok(());
    }
    app.intake.submit(rows).await
}

/// The rows of one or more webhooks, column by column (as `UNNEST` takes them).
#[derive(Debug, Default)]
pub struct Rows {
    wamid: Vec<String>,
    phone_number_id: Vec<String>,
    sender_key: Vec<String>,
    sender_enc: Vec<Vec<u8>>,
    content_enc: Vec<Vec<u8>>,
    sent_at: Vec<DateTime<Utc>>,
    received_at: Vec<DateTime<Utc>>,
    traceparent: Vec<String>,
    status_wamid: Vec<String>,
    status: Vec<String>,
    status_error: Vec<String>,
    status_received_at: Vec<DateTime<Utc>>,
}

impl Rows {
    fn is_empty(&self) -> bool {
        self.wamid.is_empty() && self.status_wamid.is_empty()
    }

    fn len(&self) -> usize {
        self.wamid.len() + self.status_wamid.len()
    }

    fn append(&mut self, other: &Rows) {
        self.wamid.extend_from_slice(&other.wamid);
        self.phone_number_id
            .extend_from_slice(&other.phone_number_id);
        self.sender_key.extend_from_slice(&other.sender_key);
        self.sender_enc.extend_from_slice(&other.sender_enc);
        self.content_enc.extend_from_slice(&other.content_enc);
        self.sent_at.extend_from_slice(&other.sent_at);
        self.received_at.extend_from_slice(&other.received_at);
        self.traceparent.extend_from_slice(&other.traceparent);
        self.status_wamid.extend_from_slice(&other.status_wamid);
        self.status.extend_from_slice(&other.status);
        self.status_error.extend_from_slice(&other.status_error);
        self.status_received_at
            .extend_from_slice(&other.status_received_at);
    }

    /// Stores every row in one statement: all of them or none. A message id already stored
    /// (a redelivery, or twice in these rows) is kept once.
    async fn insert(&self, pool: &PgPool) -> sqlx::Result<()> {
        sqlx::query!(
            "WITH m AS (
                INSERT INTO inbound_messages (wamid, phone_number_id, sender_key, sender_enc,
                    content_enc, sent_at, received_at, state, next_attempt_at, traceparent)
                SELECT wamid, pnid, sender_key, sender_enc, content_enc, sent_at, received_at,
                    'PENDING', received_at, traceparent
                FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bytea[],
                    $6::timestamptz[], $7::timestamptz[], $8::text[])
                    AS t(wamid, pnid, sender_key, sender_enc, content_enc, sent_at,
                        received_at, traceparent)
                ON CONFLICT (wamid) DO NOTHING
            ), s AS (
                INSERT INTO status_updates (wamid, status, error, received_at)
                SELECT * FROM UNNEST($9::text[], $10::text[], $11::text[], $12::timestamptz[])
                ON CONFLICT (wamid, status) DO NOTHING
            )
            SELECT 1 AS stored",
            &self.wamid,
            &self.phone_number_id,
            &self.sender_key,
            &self.sender_enc,
            &self.content_enc,
            &self.sent_at,
            &self.received_at,
            &self.traceparent,
            &self.status_wamid,
            &self.status,
            &self.status_error,
            &self.status_received_at
        )
        .fetch_optional(pool)
        .await
        .map(drop)
    }
}

/// The webhook intake's group commit. Each webhook's rows wait here until they are durable;
/// the writers take every webhook waiting (up to [`MAX_ROWS`] rows) and store them in one
/// statement, so a crowd of webhooks shares one commit and its WAL flush instead of each
/// paying its own. If a shared statement fails, each webhook of it is stored again alone,
/// so one bad webhook cannot fail the others; a webhook whose own statement fails is
/// answered 503 (the Cloud API delivers it again).
pub type Intake = GroupCommit<IntakeWrites>;

/// Rows stored by one statement at most.
pub const MAX_ROWS: usize = 512;

/// An intake with `writers` statements at once on `pool` (needs a Tokio runtime).
pub fn intake(pool: PgPool, writers: usize) -> Intake {
    GroupCommit::new(
        IntakeWrites(pool),
        writers,
        MAX_ROWS,
        "whatsapp_intake_batch_webhooks",
    )
}

/// How webhooks' rows are stored.
pub struct IntakeWrites(PgPool);

impl Write for IntakeWrites {
    type Item = Rows;
    type Output = ();

    fn size(rows: &Rows) -> usize {
        rows.len()
    }

    async fn alone(&self, rows: &Rows) -> sqlx::Result<()> {
        rows.insert(&self.0).await
    }

    async fn together(&self, webhooks: &[Rows]) -> sqlx::Result<Vec<()>> {
        let mut all = Rows::default();
        for rows in webhooks {
            all.append(rows);
        }
        all.insert(&self.0).await?;
        Ok(vec![(); webhooks.len()])
    }
}

/// A signed webhook body carrying one text message, as the Cloud API sends it (for tests and
/// `make chat`).
pub fn text_webhook(
    phone_number_id: &str,
    display_number: &str,
    from_phone: &str,
    wamid: &str,
    text: &str,
    timestamp: i64,
) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{
    "field": "messages",
    "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": display_number, "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": "Pengguna"}, "wa_id": from_phone}],
        "messages": [{"from": from_phone, "id": wamid, "timestamp": timestamp.to_string(),
                      "type": "text", "text": {"body": text}}]
    }}]}]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_with_messages_replies_and_statuses_are_read_whole() {
        let v = json!({"object": "whatsapp_business_account", "entry": [
            {"changes": [{"field": "messages", "value": {
                "metadata": {"phone_number_id": "111"},
                "messages": [
                    {"from": "6281234567890", "from_user_id": "ID.1", "id": "wamid.A",
                     "timestamp": "1764478800", "type": "text", "text": {"body": "#TGLLAYANAN"}},
                    {"from_user_id": "ID.2", "id": "wamid.B", "timestamp": "1764478801",
                     "type": "interactive",
                     "interactive": {"type": "list_reply", "list_reply": {"id": "menu:syarat", "title": "Persyaratan"}}}
                ]}}]},
            {"changes": [{"field": "messages", "value": {
                "metadata": {"phone_number_id": "222"},
                "statuses": [{"id": "wamid.OUT", "status": "failed",
                              "errors": [{"code": 131026, "title": "Message undeliverable"}]}]}}]}
        ]});
        let (m, s) = read_batch(&v);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].phone.as_deref(), Some("+6281234567890"));
        assert_eq!(m[0].text.as_deref(), Some("#TGLLAYANAN"));
        assert_eq!(m[1].phone, None, "a username-only user has no phone");
        assert_eq!(m[1].user_id.as_deref(), Some("ID.2"));
        assert_eq!(m[1].reply_id.as_deref(), Some("menu:syarat"));
        assert_eq!(
            s,
            vec![StatusUpdate {
                wamid: "wamid.OUT".into(),
                status: "failed".into(),
                error: "131026: Message undeliverable".into()
            }]
        );
    }

    proptest::proptest! {
        // Any JSON (well-formed, signed, but not what the Cloud API sends) reads as some
        // messages and statuses, or none: never a panic.
        #[test]
        fn any_json_reads_as_a_batch_or_nothing(v in json()) {
            let _ = read_batch(&v);
        }

        #[test]
        fn any_bytes_that_parse_as_json_read_as_a_batch(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                let _ = read_batch(&v);
            }
        }
    }

    /// Arbitrary JSON, shaped like webhooks often enough to reach deep into them.
    fn json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "\\PC{0,30}".prop_map(Value::from),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            let keys = prop_oneof![
                Just("entry".to_owned()),
                Just("changes".to_owned()),
                Just("value".to_owned()),
                Just("messages".to_owned()),
                Just("statuses".to_owned()),
                Just("metadata".to_owned()),
                Just("phone_number_id".to_owned()),
                Just("from".to_owned()),
                Just("id".to_owned()),
                Just("text".to_owned()),
                Just("body".to_owned()),
                Just("timestamp".to_owned()),
                Just("interactive".to_owned()),
                Just("contacts".to_owned()),
                "[a-z_]{1,10}",
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(keys, inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
