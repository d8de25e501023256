//! Delivery workers.
//!
//! Each round claims due messages (at most one per recipient, the oldest, so a person's
//! messages keep their order), waits for the sending number's rate slot, calls the Cloud API
//! and records the outcome: SENT only once the provider accepted; a retry with exponential
//! backoff for 5xx, 429, throughput errors and timeouts; FAILED for permanent errors or after
//! the last attempt.
//!
//! What is guaranteed: a message accepted by `Send` is delivered at least once or ends
//! FAILED. The Cloud API does not deduplicate, so a crash after the provider accepted a
//! message and before SENT was recorded sends it again when the lease runs out.
use crate::NotificationConfig;
use crate::email::Mailer;
use crate::outbox::{MessageRow, Outbox};
use crate::whatsapp::{CloudApi, Outcome};
use chrono::Duration;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::time::Instant;
use tracing::Instrument;

pub struct Worker {
    outbox: Arc<Outbox>,
    api: CloudApi,
    mailer: Mailer,
    max_attempts: u32,
    retry_base_ms: u64,
    spacing: std::time::Duration,
    next_slot: Mutex<HashMap<String, Instant>>,
}

impl Worker {
    pub fn new(outbox: Arc<Outbox>, api: CloudApi, mailer: Mailer, c: &NotificationConfig) -> Self {
        Self {
            outbox,
            api,
            mailer,
            max_attempts: c.max_attempts.max(1),
            retry_base_ms: c.retry_base_ms,
            spacing: std::time::Duration::from_secs(1) / c.whatsapp_max_mps.max(1),
            next_slot: Mutex::default(),
        }
    }

    /// Runs delivery rounds until the task is aborted.
    pub fn spawn(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                match self.round().await {
                    Ok(0) => {
                        let wake = self.outbox.wake.notified();
                        let _ =
                            tokio::time::timeout(std::time::Duration::from_millis(250), wake).await;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "delivery round failed");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        })
    }

    /// One round; answers how many messages it handled.
    pub async fn round(&self) -> anyhow::Result<usize> {
        let claimed = self.outbox.claim(64).await?;
        let n = claimed.len();
        futures::future::join_all(claimed.into_iter().map(|m| {
            // The delivery belongs to the trace of the request that sent the message.
            let span = tracing::info_span!(
                "deliver",
                otel.name = "notification.deliver",
                channel = %m.channel,
                template = %m.template,
                attempt = m.attempts,
            );
            antrean_platform::grpc::continue_trace(&span, &m.traceparent);
            self.deliver(m).instrument(span)
        }))
        .await;
        Ok(n)
    }

    async fn rate_slot(&self, sender: &str) {
        let wait = {
            let mut slots = self.next_slot.lock().expect("poisoned");
            let now = Instant::now();
            let slot = slots.get(sender).copied().unwrap_or(now).max(now);
            slots.insert(sender.to_owned(), slot + self.spacing);
            slot
        };
        tokio::time::sleep_until(wait).await;
    }

    async fn deliver(&self, m: MessageRow) {
        let recipient = match self.outbox.recipient(&m) {
            Ok(r) => r,
            Err(e) => {
                let _ = self.outbox.mark_failed(m.id, &e.to_string()).await;
                return;
            }
        };
        let outcome = if m.channel == "EMAIL" {
            let subject = m.payload["subject"].as_str().unwrap_or("Antrean paspor");
            let text = m.payload["text"].as_str().unwrap_or_default();
            self.mailer.send(&recipient, subject, text).await
        } else {
            self.rate_slot(&m.sender).await;
            self.api.send(&m.sender, &recipient, &m.payload).await
        };
        let label = match &outcome {
            Outcome::Accepted(_) => "sent",
            Outcome::Retry(_) if (m.attempts as u32) < self.max_attempts => "retry",
            _ => "failed",
        };
        metrics::counter!("notification_deliveries_total", "channel" => m.channel.clone(), "outcome" => label)
            .increment(1);
        let recorded = match outcome {
            Outcome::Accepted(wamid) => self.outbox.mark_sent(m.id, &wamid).await,
            Outcome::Retry(e) if (m.attempts as u32) < self.max_attempts => {
                let ms = (self.retry_base_ms << (m.attempts.clamp(1, 20) - 1)).min(300_000);
                let jitter = rand::random_range(0..=ms / 4);
                let at = self.outbox.now() + Duration::milliseconds((ms + jitter) as i64);
                tracing::info!(message_id = %m.id, attempts = m.attempts, error = %e, "delivery will be retried");
                self.outbox.retry_at(m.id, at, &e).await
            }
            Outcome::Retry(e) | Outcome::Permanent(e) => {
                tracing::warn!(message_id = %m.id, error = %e, "delivery failed");
                self.outbox.mark_failed(m.id, &e).await
            }
        };
        if let Err(e) = recorded {
            // The lease runs out and the message is tried again.
            tracing::warn!(message_id = %m.id, error = %e, "delivery outcome not recorded");
        }
    }
}
