//! A stand-in for the WhatsApp Cloud API, served on loopback.
//!
//! It answers `POST /{version}/{phone_number_id}/messages` like the real API (a `wamid` per
//! accepted message, errors in the API's shape) and records every message. With the default
//! configuration (no `WHATSAPP_ACCESS_TOKEN`) the notification service sends here, which is
//! what `make chat` reads back; tests start it on port 0 and inject failures:
//!
//! - `GET /messages?to=&after=` lists recorded messages (after a sequence number);
//! - `POST /_control/fail` `{status, count, code?, delay_ms?}` makes the next `count` calls
//!   answer `status` (or wait `delay_ms` first, to provoke timeouts).
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
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

#[derive(Debug, Default)]
struct Inner {
    messages: Vec<SandboxMessage>,
    /// Indexes into `messages` per recipient, in arrival order.
    by_recipient: HashMap<String, Vec<usize>>,
    /// Woken when a message to that recipient arrives (created by the first waiter).
    waiters: HashMap<String, Arc<Notify>>,
    failures: VecDeque<Failure>,
    calls: u64,
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
            .with_state(self.clone())
    }

    pub fn messages(&self) -> Vec<SandboxMessage> {
        self.inner.lock().expect("poisoned").messages.clone()
    }

    /// The messages accepted for one recipient (`to`, or `recipient` for a user id), in order.
    pub fn messages_to(&self, recipient: &str) -> Vec<SandboxMessage> {
        let inner = self.inner.lock().expect("poisoned");
        inner
            .by_recipient
            .get(recipient)
            .into_iter()
            .flatten()
            .map(|&i| inner.messages[i].clone())
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
            let mut inner = self.inner.lock().expect("poisoned");
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
        self.inner.lock().expect("poisoned").calls
    }

    pub fn fail_next(&self, f: Failure) {
        self.inner.lock().expect("poisoned").failures.push_back(f);
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
        let mut inner = s.inner.lock().expect("poisoned");
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
    if body["messaging_product"] != "whatsapp" {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({"error": {"message": "messaging_product must be whatsapp",
                "type": "OAuthException", "code": 100}}),
            ),
        )
            .into_response();
    }
    let to = body["to"]
        .as_str()
        .or(body["recipient"].as_str())
        .unwrap_or_default()
        .to_owned();
    let mut inner = s.inner.lock().expect("poisoned");
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

/// Starts a sandbox on an already-bound listener (tests bind port 0).
pub fn spawn(listener: tokio::net::TcpListener) -> Sandbox {
    let sandbox = Sandbox::default();
    let router = sandbox.router();
    tokio::spawn(
        async move { axum::serve(antrean_platform::nodelay_listener(listener), router).await },
    );
    sandbox
}
