//! Delivery workers.
//!
//! Each round claims due messages (at most one per recipient, the oldest, so a person's
//! messages keep their order), waits for the sending number's rate slot, calls the Cloud API
//! and records the outcome: SENT only once the provider accepted; a retry with exponential
//! backoff for 5xx, 429, throughput errors and timeouts; FAILED for permanent errors or after
//! the last attempt.
//!
//! What is guaranteed: a message accepted by `Send` is delivered at least once or ends
//! FAILED. The outcomes of a round are recorded together once its deliveries are done (one
//! statement per round, not per message), and a stopping service lets its round finish
//! first. The Cloud API does not deduplicate, so a crash after the provider accepted a
//! message and before its round was recorded sends it again when the lease runs out.
use crate::NotificationConfig;
use crate::email::Mailer;
use crate::outbox::{Mark, MessageRow, Outbox};
use crate::whatsapp::{CloudApi, Outcome};
use chrono::Duration;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
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
    stopping: AtomicBool,
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
            stopping: AtomicBool::new(false),
        }
    }

    /// Runs delivery rounds until [`Worker::stop`] (which lets the round under way finish, so
    /// what it sent is recorded) or until the task is aborted.
    pub fn spawn(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut measured_at: Option<std::time::Instant> = None;
            while !self.stopping.load(Ordering::SeqCst) {
                if measured_at.is_none_or(|t| t.elapsed() >= MEASURE_EVERY) {
                    measured_at = Some(std::time::Instant::now());
                    self.measure_backlog().await;
                }
                match self.round().await {
                    Ok(0) => {
                        let wake = self.outbox.wake.notified();
                        let _ =
                            tokio::time::timeout(std::time::Duration::from_millis(250), wake).await;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "delivery round failed");
                        // Not woken by new messages: a failing database is not hammered.
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        })
    }

    /// Sets `notification_outbox_oldest_queued_seconds`: how long the oldest undelivered
    /// message has waited (0 when none waits), so a stuck outbox shows though it sends nothing.
    async fn measure_backlog(&self) {
        match self.outbox.oldest_queued().await {
            Ok(oldest) => {
                let age = oldest.map_or(0.0, |at| {
                    antrean_platform::clock::seconds_since(self.outbox.now(), at)
                });
                metrics::gauge!("notification_outbox_oldest_queued_seconds").set(age);
            }
            Err(e) => tracing::warn!(error = %e, "measuring the outbox backlog failed"),
        }
    }

    /// Asks the running rounds to stop once the one under way is recorded.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.outbox.wake.notify_waiters();
    }

    /// One round; answers how many messages it handled. The next claim waits for the whole
    /// round anyway, so its outcomes are recorded together, in one statement (each alone if
    /// that fails).
    pub async fn round(&self) -> anyhow::Result<usize> {
        let claimed = self.outbox.claim(64).await?;
        let n = claimed.len();
        let marks = futures::future::join_all(claimed.into_iter().map(|m| {
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
        if let Err(e) = self.outbox.record(&marks).await {
            tracing::warn!(error = %e, messages = marks.len(),
                "a round's delivery outcomes not recorded together; recording each alone");
            for mark in &marks {
                if let Err(e) = self.outbox.record(std::slice::from_ref(mark)).await {
                    // The lease runs out and the message is tried again.
                    tracing::warn!(message_id = %mark.id, error = %e, "delivery outcome not recorded");
                }
            }
        }
        Ok(n)
    }

    async fn rate_slot(&self, sender: &str) {
        let wait = {
            let mut slots = self
                .next_slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let slot = slots.get(sender).copied().unwrap_or(now).max(now);
            slots.insert(sender.to_owned(), slot + self.spacing);
            slot
        };
        tokio::time::sleep_until(wait).await;
    }

    /// Sends one message; what became of it.
    async fn deliver(&self, m: MessageRow) -> Mark {
        let recipient = match self.outbox.recipient(&m) {
            Ok(r) => r,
            Err(e) => return Mark::failed(m.id, &e.to_string()),
        };
        let outcome = if m.channel == "EMAIL" {
            let subject = m
                .payload
                .pointer("/subject")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("Antrean paspor");
            let text = m
                .payload
                .pointer("/text")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default();
            let attachment = m.attachment_name.as_deref().zip(m.attachment.as_deref());
            self.mailer
                .send(&recipient, subject, text, attachment)
                .await
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
        if matches!(outcome, Outcome::Accepted(_)) {
            metrics::histogram!("notification_delivery_delay_seconds", "channel" => m.channel.clone())
                .record(antrean_platform::clock::seconds_since(self.outbox.now(), m.created_at));
        }
        match outcome {
            Outcome::Accepted(wamid) => Mark::sent(m.id, &wamid),
            Outcome::Retry(e) if (m.attempts as u32) < self.max_attempts => {
                let ms = (self.retry_base_ms << (m.attempts.clamp(1, 20) - 1)).min(300_000);
                let jitter = rand::random_range(0..=ms / 4);
                let at = self.outbox.now() + Duration::milliseconds((ms + jitter) as i64);
                tracing::info!(message_id = %m.id, attempts = m.attempts, error = %e, "delivery will be retried");
                Mark::retry_at(m.id, at, &e)
            }
            Outcome::Retry(e) | Outcome::Permanent(e) => {
                tracing::warn!(message_id = %m.id, error = %e, "delivery failed");
                Mark::failed(m.id, &e)
            }
        }
    }
}

/// How often the age of the oldest undelivered message is measured.
const MEASURE_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
