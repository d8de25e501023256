//! A stand-in for the WhatsApp Cloud API, served on loopback.
//!
//! It answers `POST /{version}/{phone_number_id}/messages` like the real API (a `wamid` per
//! accepted message, errors in the API's shape) and records every message. With the default
//! configuration (no `WHATSAPP_ACCESS_TOKEN`) the notification service sends here, which is
//! what `make chat` reads back; tests start it on port 0 and inject failures:
//!
//! - `GET /messages?to=&after=` lists recorded messages (after a sequence number);
//! - `POST /_control/fail` `{status, count, code?, delay_ms?}` makes the next `count` calls
//!   answer `status` (or wait `delay_ms` first, to provoke timeouts);
//! - `POST /_control/inbound` `{phone_number_id, from}`: the user wrote to that number;
//! - `POST /_control/advance` `{seconds}`: the sandbox's clock moves on (windows close).
//!
//! It is no more lenient than the real API:
//! - the 24-hour customer-service window: anything but a template to a user who has not
//!   written to that business number in the last 24 hours is refused with 131047 (the real
//!   API accepts the call and reports 131047 in a failed status webhook; either way the
//!   message is never delivered, and here the sender learns it at once). The sandbox learns
//!   of inbound messages from the signed webhooks it is shown ([`Sandbox::observe_webhook`]:
//!   the gateway shows it every webhook when the sandbox runs inside it, and the tests'
//!   sender does before posting one);
//! - templates: only the approved ones in [`APPROVED_TEMPLATES`], with their number of body
//!   parameters (132001 unknown template, 132000 wrong parameter count); an AUTHENTICATION
//!   template carries exactly the code, at most 15 characters, in its body and again in its
//!   copy-code URL button.
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// One message the sandbox accepted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SandboxMessage {
    pub seq: u64,
    pub wamid: String,
    pub phone_number_id: String,
    pub to: String,
    pub authorization: String,
    pub body: Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Failure {
    pub status: u16,
    #[serde(default = "one")]
    pub count: u32,
    /// The Cloud API error code in the body, e.g. 130429 or 131026.
    #[serde(default)]
    pub code: Option<u32>,
    #[serde(default)]
    pub delay_ms: u64,
}

fn one() -> u32 {
    1
}

/// The customer-service window: free-form messages only this long after the user wrote.
pub const SERVICE_WINDOW: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateCategory {
    Utility,
    Authentication,
}

/// The templates approved on the business account: name, category, body parameters.
pub const APPROVED_TEMPLATES: &[(&str, TemplateCategory, usize)] = &[
    ("antrean_percobaan_booking", TemplateCategory::Utility, 5),
    ("antrean_pengingat_h1", TemplateCategory::Utility, 5),
    ("antrean_jadwal_diubah", TemplateCategory::Utility, 7),
    ("antrean_jadwal_dipindah", TemplateCategory::Utility, 8),
    ("antrean_kantor_tutup", TemplateCategory::Utility, 6),
    ("antrean_jawaban_saran", TemplateCategory::Utility, 2),
    (
        "antrean_booking_terkonfirmasi",
        TemplateCategory::Utility,
        7,
    ),
    (
        "antrean_pengingat_h1_konfirmasi",
        TemplateCategory::Utility,
        7,
    ),
    (
        "antrean_tawaran_daftar_tunggu",
        TemplateCategory::Utility,
        6,
    ),
    (
        "antrean_kode_verifikasi",
        TemplateCategory::Authentication,
        1,
    ),
    ("antrean_undian_menang", TemplateCategory::Utility, 8),
    ("antrean_undian_daftar_tunggu", TemplateCategory::Utility, 5),
    ("antrean_undian_tidak_lolos", TemplateCategory::Utility, 5),
    ("antrean_progres_paspor", TemplateCategory::Utility, 5),
    (
        "antrean_pengingat_ambil_paspor",
        TemplateCategory::Utility,
        5,
    ),
];

/// Why the Cloud API refuses a message: HTTP status, error code, message.
type ApiRefusal = (StatusCode, u32, &'static str);

/// Checks a template message against [`APPROVED_TEMPLATES`].
fn check_template(template: &Value) -> Result<(), ApiRefusal> {
    let name = template
        .pointer("/name")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let Some((_, category, params)) = APPROVED_TEMPLATES.iter().find(|(n, _, _)| *n == name) else {
        return Err((
            StatusCode::NOT_FOUND,
            132_001,
            "Template name does not exist in the translation",
        ));
    };
    let components = template
        .pointer("/components")
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default();
    let of = |kind: &str| {
        components
            .iter()
            .find(|c| c["type"] == kind)
            .and_then(|c| {
                c.pointer("/parameters")
                    .and_then(serde_json::Value::as_array)
                    .cloned()
            })
            .unwrap_or_default()
    };
    let body = of("body");
    if body.len() != *params {
        return Err((
            StatusCode::BAD_REQUEST,
            132_000,
            "Number of parameters does not match the expected number of params",
        ));
    }
    if *category == TemplateCategory::Authentication {
        let code = body
            .first()
            .and_then(|p| p.get("text"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        let button = of("button");
        let button_code = button
            .first()
            .and_then(|p| p.pointer("/text").and_then(serde_json::Value::as_str))
            .unwrap_or_default();
        if code.is_empty() || code.chars().count() > 15 || button_code != code {
            return Err((
                StatusCode::BAD_REQUEST,
                132_000,
                "Authentication templates carry the code in the body and the copy-code button",
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Inner {
    messages: Vec<SandboxMessage>,
    /// Indexes into `messages` per recipient, in arrival order.
    by_recipient: HashMap<String, Vec<usize>>,
    /// Woken when a message to that recipient arrives (created by the first waiter).
    waiters: HashMap<String, Arc<Notify>>,
    failures: VecDeque<Failure>,
    calls: u64,
    /// When each user last wrote to each business number: (phone_number_id, user).
    windows: HashMap<(String, String), Instant>,
    /// How far the sandbox's clock runs ahead of the real one.
    advanced: Duration,
}

/// Shared state of a sandbox.
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    inner: Arc<Mutex<Inner>>,
}

impl Sandbox {
    pub fn router(&self) -> Router {
        Router::new()
            .route("/{version}/{phone_number_id}/messages", post(accept))
            .route("/messages", get(list))
            .route("/_control/fail", post(fail))
            .route("/_control/inbound", post(inbound))
            .route("/_control/advance", post(advance))
            .with_state(self.clone())
            .nest("/beacon", beacon_router())
    }

    pub fn messages(&self) -> Vec<SandboxMessage> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .messages
            .clone()
    }

    /// The messages accepted for one recipient (`to`, or `recipient` for a user id), in order.
    pub fn messages_to(&self, recipient: &str) -> Vec<SandboxMessage> {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner
            .by_recipient
            .get(recipient)
            .into_iter()
            .flatten()
            .filter_map(|&i| inner.messages.get(i).cloned())
            .collect()
    }

    /// Waits until `n` messages to `recipient` were accepted, up to `timeout`, and answers
    /// them (fewer when the time ran out). Woken by each arrival, not by polling.
    pub async fn wait_for_recipient(
        &self,
        recipient: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<SandboxMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        let notify = {
            let mut inner = self
                .inner
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            inner
                .waiters
                .entry(recipient.to_owned())
                .or_default()
                .clone()
        };
        loop {
            let arrived = notify.notified();
            tokio::pin!(arrived);
            // Registered before looking, so an arrival between the look and the wait wakes it.
            arrived.as_mut().enable();
            let m = self.messages_to(recipient);
            if m.len() >= n {
                return m;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return self.messages_to(recipient);
            }
        }
    }

    /// Every call received, failed ones included.
    pub fn calls(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .calls
    }

    /// The user `from` (phone digits or user id) wrote to `phone_number_id` now.
    pub fn user_wrote(&self, phone_number_id: &str, from: &str) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now() + inner.advanced;
        inner
            .windows
            .insert((phone_number_id.to_owned(), from.to_owned()), now);
    }

    /// Opens the windows of every inbound message of a webhook body (as Meta relays it).
    pub fn observe_webhook(&self, body: &Value) {
        for entry in body
            .pointer("/entry")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
        {
            for change in entry
                .pointer("/changes")
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
            {
                let value = change.get("value").unwrap_or(&serde_json::Value::Null);
                let number = value
                    .pointer("/metadata/phone_number_id")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default();
                for m in value
                    .pointer("/messages")
                    .and_then(serde_json::Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    for who in [
                        m.get("from").unwrap_or(&serde_json::Value::Null),
                        m.get("from_user_id").unwrap_or(&serde_json::Value::Null),
                    ] {
                        if let Some(who) = who.as_str() {
                            self.user_wrote(number, who);
                        }
                    }
                }
            }
        }
    }

    /// Moves the sandbox's clock on (windows close after [`SERVICE_WINDOW`]).
    pub fn advance(&self, by: Duration) {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .advanced += by;
    }

    fn window_open(&self, phone_number_id: &str, to: &str) -> bool {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now() + inner.advanced;
        inner
            .windows
            .get(&(phone_number_id.to_owned(), to.to_owned()))
            .is_some_and(|at| now.duration_since(*at) < SERVICE_WINDOW)
    }

    pub fn fail_next(&self, f: Failure) {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .failures
            .push_back(f);
    }

    /// Waits until `n` messages were accepted, up to `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<SandboxMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let m = self.messages();
            if m.len() >= n || tokio::time::Instant::now() >= deadline {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn accept(
    State(s): State<Sandbox>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let failure = {
        let mut inner = s
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.calls += 1;
        match inner.failures.front_mut() {
            Some(f) if f.count > 0 => {
                f.count -= 1;
                let out = f.clone();
                if f.count == 0 {
                    inner.failures.pop_front();
                }
                Some(out)
            }
            _ => None,
        }
    };
    if let Some(f) = failure {
        if f.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
        }
        if f.status != 200 {
            let code = f
                .code
                .unwrap_or(if f.status == 429 { 130_429 } else { 131_000 });
            let body = json!({"error": {"message": "sandbox failure", "type": "OAuthException",
                "code": code, "error_data": {"details": "injected by the sandbox"},
                "fbtrace_id": "sandbox"}});
            return (
                StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                Json(body),
            )
                .into_response();
        }
    }
    if body
        .get("messaging_product")
        .and_then(serde_json::Value::as_str)
        != Some("whatsapp")
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({"error": {"message": "messaging_product must be whatsapp",
                "type": "OAuthException", "code": 100}}),
            ),
        )
            .into_response();
    }
    let to = body
        .pointer("/to")
        .and_then(serde_json::Value::as_str)
        .or(body
            .pointer("/recipient")
            .and_then(serde_json::Value::as_str))
        .unwrap_or_default()
        .to_owned();
    // Read receipts answer a message the user sent; everything else obeys the window and
    // the approved templates.
    let refusal = if body.get("status").is_some() {
        None
    } else if body.get("type").and_then(serde_json::Value::as_str) == Some("template") {
        check_template(body.get("template").unwrap_or(&serde_json::Value::Null)).err()
    } else if !s.window_open(&phone_number_id, &to) {
        Some((
            StatusCode::BAD_REQUEST,
            131_047,
            "Re-engagement message: more than 24 hours have passed since the recipient last replied to the sender number",
        ))
    } else {
        None
    };
    if let Some((status, code, message)) = refusal {
        return (
            status,
            Json(
                json!({"error": {"message": message, "type": "OAuthException",
                "code": code, "error_data": {"messaging_product": "whatsapp", "details": message},
                "fbtrace_id": "sandbox"}}),
            ),
        )
            .into_response();
    }
    let mut inner = s
        .inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let seq = inner.messages.len() as u64 + 1;
    let wamid = format!("wamid.SANDBOX{seq:012}");
    let index = inner.messages.len();
    inner
        .by_recipient
        .entry(to.clone())
        .or_default()
        .push(index);
    if let Some(w) = inner.waiters.get(&to) {
        w.notify_waiters();
    }
    inner.messages.push(SandboxMessage {
        seq,
        wamid: wamid.clone(),
        phone_number_id,
        to: to.clone(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        body,
    });
    Json(json!({"messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to}],
        "messages": [{"id": wamid}]}))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    to: Option<String>,
    #[serde(default)]
    after: u64,
}

async fn list(State(s): State<Sandbox>, Query(q): Query<ListQuery>) -> Json<Vec<SandboxMessage>> {
    Json(
        s.messages()
            .into_iter()
            .filter(|m| m.seq > q.after && q.to.as_ref().is_none_or(|t| &m.to == t))
            .collect(),
    )
}

async fn fail(State(s): State<Sandbox>, Json(f): Json<Failure>) -> StatusCode {
    s.fail_next(f);
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
struct Inbound {
    phone_number_id: String,
    from: String,
}

async fn inbound(State(s): State<Sandbox>, Json(i): Json<Inbound>) -> StatusCode {
    s.user_wrote(&i.phone_number_id, &i.from);
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
struct Advance {
    seconds: u64,
}

async fn advance(State(s): State<Sandbox>, Json(a): Json<Advance>) -> StatusCode {
    s.advance(Duration::from_secs(a.seconds));
    StatusCode::NO_CONTENT
}

/// A stand-in for a public randomness beacon (drand's `GET /public/{round}`), since these
/// machines reach none: round `r` is due at `BEACON_GENESIS + (r - 1) * BEACON_PERIOD`
/// (quicknet's timing) and is answered only from then on, its randomness the SHA-256 of a
/// fixed label and the round. Like a real beacon's, a round's value is unknown before it is
/// due to everyone but the beacon's operator (here, anyone who reads this code: fine for
/// development and tests, never for production).
async fn beacon(Path(round): Path<String>) -> Response {
    use sha2::Digest;
    let Ok(round) = round.parse::<u64>() else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let due = BEACON_GENESIS + (round.saturating_sub(1) as i64) * BEACON_PERIOD;
    if round == 0 || chrono::Utc::now().timestamp() < due {
        return StatusCode::NOT_FOUND.into_response();
    }
    let randomness = hex::encode(sha2::Sha256::digest(format!(
        "antrean beacon stand-in {round}"
    )));
    Json(json!({"round": round, "randomness": randomness})).into_response()
}

/// The beacon stand-in's routes (`/public/{round}`).
pub fn beacon_router() -> Router {
    Router::new().route("/public/{round}", get(beacon))
}

/// The stand-in beacon's first round (Unix seconds) and period, as drand quicknet's.
pub const BEACON_GENESIS: i64 = 1_692_803_367;
pub const BEACON_PERIOD: i64 = 3;

/// Starts a sandbox on an already-bound listener (tests bind port 0).
pub fn spawn(listener: tokio::net::TcpListener) -> Sandbox {
    let sandbox = Sandbox::default();
    let router = sandbox.router();
    tokio::spawn(
        async move { axum::serve(antrean_platform::nodelay_listener(listener), router).await },
    );
    sandbox
}
