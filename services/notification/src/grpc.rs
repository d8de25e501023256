//! `antrean.v1.NotificationService`: validate, convert, call the outbox.
use crate::outbox::{AcceptError, MessageRow, NewMessage, Outbox};
use antrean_platform::domain::to_timestamp;
use antrean_platform::grpc::AllowList;
use antrean_platform::status::Reason;
use antrean_platform::status::{self, FieldViolation, Problem};
use antrean_proto::v1 as pb;
use antrean_proto::v1::notification_service_server::{
    NotificationService, NotificationServiceServer,
};
use std::sync::Arc;
use tonic::{Code, Request, Response, Status};
use uuid::Uuid;

/// Who may call each RPC (mutual TLS; see `antrean_platform::grpc::AllowList`): booking and
/// the gateway send; the gateway records the Cloud API's delivery statuses.
pub static ALLOW: AllowList = AllowList {
    service: "antrean.v1.NotificationService",
    methods: &[
        ("Send", &["booking", "gateway"]),
        ("GetMessage", &["booking", "gateway", "operator"]),
        ("RecordStatus", &["gateway"]),
    ],
};

#[derive(Clone)]
pub struct NotificationGrpc {
    outbox: Arc<Outbox>,
}

fn db(e: sqlx::Error) -> Status {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            status::unavailable("postgres", e)
        }
        e => status::internal("postgres", e),
    }
}

fn to_proto(m: &MessageRow) -> pb::Message {
    pb::Message {
        message_id: m.id.to_string(),
        state: pb::DeliveryState::from_str_name(&format!("DELIVERY_STATE_{}", m.state))
            .unwrap_or_default() as i32,
        provider_message_id: m.provider_message_id.clone().unwrap_or_default(),
        attempts: m.attempts.max(0) as u32,
        last_error: m.last_error.clone(),
        updated_at: Some(to_timestamp(m.updated_at)),
    }
}

/// Attachments are e-mail's, one PDF of at most this many bytes.
pub const MAX_ATTACHMENT_BYTES: usize = 2 * 1024 * 1024;

/// The attachment as the outbox keeps it; what is wrong with it goes into `v`.
fn check_attachment(
    a: pb::Attachment,
    channel: &str,
    v: &mut Vec<FieldViolation>,
) -> (String, Vec<u8>) {
    if channel != "EMAIL" {
        v.push(FieldViolation::new(
            "attachment",
            "lampiran hanya untuk CHANNEL_EMAIL",
        ));
    }
    let name_ok = !a.filename.is_empty()
        && a.filename.len() <= 100
        && a.filename.to_ascii_lowercase().ends_with(".pdf")
        && a.filename
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !name_ok {
        v.push(FieldViolation::new(
            "attachment.filename",
            "nama berkas .pdf dari huruf, angka, '-', '_' dan '.', paling panjang 100",
        ));
    }
    if a.content_type != "application/pdf" || !a.content.starts_with(b"%PDF-") {
        v.push(FieldViolation::new(
            "attachment.content_type",
            "hanya application/pdf",
        ));
    }
    if a.content.len() > MAX_ATTACHMENT_BYTES {
        v.push(FieldViolation::new(
            "attachment.content",
            "paling besar 2 MiB",
        ));
    }
    (a.filename, a.content)
}

/// An Indonesian number in E.164.
fn is_e164_id(phone: &str) -> bool {
    phone.starts_with("+62") && phone[1..].bytes().all(|b| b.is_ascii_digit())
}

fn not_found() -> Status {
    Problem::new(
        Code::NotFound,
        Reason::NotFound,
        "Pesan tidak ditemukan.",
        "Message not found.",
    )
    .into()
}

impl NotificationGrpc {
    pub fn new(outbox: Arc<Outbox>) -> Self {
        Self { outbox }
    }

    pub fn into_server(self) -> NotificationServiceServer<Self> {
        NotificationServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl NotificationService for NotificationGrpc {
    async fn send(&self, req: Request<pb::SendRequest>) -> Result<Response<pb::Message>, Status> {
        let r = req.into_inner();
        let mut v = Vec::new();
        if r.idempotency_key.trim().is_empty() || r.idempotency_key.len() > 200 {
            v.push(FieldViolation::new(
                "idempotency_key",
                "wajib diisi, paling panjang 200 karakter",
            ));
        }
        let recipient = r.recipient.unwrap_or_default();
        let (channel, to) = match pb::Channel::try_from(r.channel) {
            Ok(pb::Channel::Whatsapp) => {
                let to = if !recipient.phone.is_empty() {
                    recipient.phone.clone()
                } else {
                    recipient.whatsapp_user_id.clone()
                };
                if to.is_empty() {
                    v.push(FieldViolation::new(
                        "recipient.phone",
                        "isi nomor HP atau ID pengguna WhatsApp",
                    ));
                } else if !recipient.phone.is_empty() && !is_e164_id(&recipient.phone) {
                    v.push(FieldViolation::new(
                        "recipient.phone",
                        "harus E.164, contoh +6281234567890",
                    ));
                }
                if r.sender_phone_number_id.trim().is_empty() {
                    v.push(FieldViolation::new("sender_phone_number_id", "wajib diisi"));
                }
                ("WHATSAPP", to)
            }
            Ok(pb::Channel::Email) => {
                let e = recipient.email.trim().to_owned();
                let valid = e
                    .split_once('@')
                    .is_some_and(|(a, d)| !a.is_empty() && d.contains('.'));
                if !valid {
                    v.push(FieldViolation::new(
                        "recipient.email",
                        "alamat e-mail tidak valid (contoh: nama@contoh.id)",
                    ));
                }
                ("EMAIL", e)
            }
            _ => {
                v.push(FieldViolation::new(
                    "channel",
                    "CHANNEL_WHATSAPP atau CHANNEL_EMAIL",
                ));
                ("", String::new())
            }
        };
        let attachment = r.attachment.map(|a| check_attachment(a, channel, &mut v));
        if !v.is_empty() {
            return Err(Problem::invalid(v).into());
        }
        let m = self
            .outbox
            .accept(NewMessage {
                idempotency_key: r.idempotency_key,
                channel: channel.into(),
                recipient: to,
                sender: r.sender_phone_number_id,
                template: r.template,
                params: r.parameters.into_iter().collect(),
                attachment,
            })
            .await
            .map_err(|e| match e {
                AcceptError::Template(t) => {
                    Status::from(Problem::invalid(vec![FieldViolation::new(
                        "template",
                        t.to_string(),
                    )]))
                }
                AcceptError::Db(e) => db(e),
            })?;
        Ok(Response::new(to_proto(&m)))
    }

    async fn get_message(
        &self,
        req: Request<pb::GetMessageRequest>,
    ) -> Result<Response<pb::Message>, Status> {
        let id = Uuid::parse_str(&req.get_ref().message_id).map_err(|_| not_found())?;
        let m = self
            .outbox
            .by_id(id)
            .await
            .map_err(db)?
            .ok_or_else(not_found)?;
        Ok(Response::new(to_proto(&m)))
    }

    async fn record_status(
        &self,
        req: Request<pb::RecordStatusRequest>,
    ) -> Result<Response<pb::Message>, Status> {
        let r = req.into_inner();
        let state = match pb::DeliveryState::try_from(r.state) {
            Ok(pb::DeliveryState::Sent) => "SENT",
            Ok(pb::DeliveryState::Delivered) => "DELIVERED",
            Ok(pb::DeliveryState::Read) => "READ",
            Ok(pb::DeliveryState::Failed) => "FAILED",
            _ => {
                return Err(Problem::invalid(vec![FieldViolation::new(
                    "state",
                    "SENT, DELIVERED, READ atau FAILED",
                )])
                .into());
            }
        };
        let m = self
            .outbox
            .record_status(&r.provider_message_id, state, &r.error)
            .await
            .map_err(db)?
            .ok_or_else(not_found)?;
        Ok(Response::new(to_proto(&m)))
    }
}
