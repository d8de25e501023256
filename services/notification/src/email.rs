//! E-mail over SMTP, for bookings that give an address (`SMTP_URL`, e.g.
//! `smtp://127.0.0.1:1025` for a local sink, `smtps://user:pass@host` or
//! `smtp://host:587?tls=required` in production).
use crate::whatsapp::Outcome;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(url: &str, from: &str) -> anyhow::Result<Self> {
        Ok(Self {
            transport: AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?
                .timeout(Some(std::time::Duration::from_secs(10)))
                .build(),
            from: from.parse()?,
        })
    }

    pub async fn send(&self, to: &str, subject: &str, text: &str) -> Outcome {
        let to: Mailbox = match to.parse() {
            Ok(m) => m,
            Err(e) => return Outcome::Permanent(format!("address: {e}")),
        };
        let message = match Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(text.to_owned())
        {
            Ok(m) => m,
            Err(e) => return Outcome::Permanent(format!("message: {e}")),
        };
        match self.transport.send(message).await {
            Ok(r) => Outcome::Accepted(format!(
                "email:{}",
                r.message()
                    .next()
                    .unwrap_or("queued")
                    .split_whitespace()
                    .last()
                    .unwrap_or("queued")
            )),
            Err(e) if e.is_permanent() => Outcome::Permanent(format!("smtp: {e}")),
            Err(e) => Outcome::Retry(format!("smtp: {e}")),
        }
    }
}
