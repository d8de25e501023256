//! The WhatsApp Cloud API client, and how its answers decide retries.
use crate::NotificationConfig;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted: the message's wamid.
    Accepted(String),
    /// Worth another try later (5xx, 429, throughput limits, timeouts).
    Retry(String),
    /// Will never succeed (bad number, bad parameter, template problems).
    Permanent(String),
}

#[derive(Clone)]
pub struct CloudApi {
    http: reqwest::Client,
    base: String,
    version: String,
    token: SecretString,
}

/// Error codes worth retrying: throughput (130429), pair rate (131056), temporary (131000,
/// 1, 2, 4, 80007).
const RETRY_CODES: &[i64] = &[130_429, 131_056, 131_000, 1, 2, 4, 80_007];

impl CloudApi {
    pub fn new(c: &NotificationConfig) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(c.whatsapp_timeout_seconds))
                .connect_timeout(Duration::from_secs(3))
                .build()?,
            base: c.api_base(),
            version: c.whatsapp_api_version.clone(),
            token: c.whatsapp_access_token.clone(),
        })
    }

    /// Sends one rendered payload to a phone (E.164, sent without '+') or a user id.
    pub async fn send(&self, sender: &str, recipient: &str, payload: &Value) -> Outcome {
        let mut body = match recipient.strip_prefix('+') {
            Some(phone) => {
                json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": phone})
            }
            None => json!({
                "messaging_product": "whatsapp", "recipient_type": "individual",
                "recipient": recipient
            }),
        };
        if let (Some(b), Some(p)) = (body.as_object_mut(), payload.as_object()) {
            b.extend(p.clone());
        }
        let url = format!("{}/{}/{}/messages", self.base, self.version, sender);
        let answer = self
            .http
            .post(url)
            .bearer_auth(self.token.expose_secret())
            .json(&body)
            .send()
            .await;
        let resp = match answer {
            Ok(r) => r,
            Err(e) => return Outcome::Retry(format!("transport: {e}")),
        };
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return match value
                .pointer("/messages/0/id")
                .and_then(serde_json::Value::as_str)
            {
                Some(id) => Outcome::Accepted(id.to_owned()),
                None => Outcome::Retry("accepted without a message id".into()),
            };
        }
        let code = value
            .pointer("/error/code")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        let detail = format!(
            "HTTP {} code {}: {}",
            status.as_u16(),
            code,
            value
                .pointer("/error/message")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
        );
        if status.as_u16() == 429 || status.is_server_error() || RETRY_CODES.contains(&code) {
            Outcome::Retry(detail)
        } else {
            Outcome::Permanent(detail)
        }
    }
}
