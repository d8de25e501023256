//! E-mail over SMTP, for bookings that give an address (`SMTP_URL`, e.g.
//! `smtp://127.0.0.1:1025` for a local sink, `smtps://user:pass@host` or
//! `smtp://host:587?tls=required` in production).
use crate::whatsapp::Outcome;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart, header::ContentType};
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

    /// Sends `text` (and the PDF `attachment`, name and content, as a second part).
    pub async fn send(
        &self,
        to: &str,
        subject: &str,
        text: &str,
        attachment: Option<(&str, &[u8])>,
    ) -> Outcome {
        let to: Mailbox = match to.parse() {
            Ok(m) => m,
            Err(e) => return Outcome::Permanent(format!("address: {e}")),
        };
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject);
        let built = match attachment {
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(text.to_owned()),
            Some((name, content)) => builder.multipart(
                MultiPart::mixed()
                    .singlepart(SinglePart::plain(text.to_owned()))
                    .singlepart(Attachment::new(name.to_owned()).body(
                        content.to_vec(),
                        ContentType::parse("application/pdf").unwrap_or(ContentType::TEXT_PLAIN),
                    )),
            ),
        };
        let message = match built {
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
