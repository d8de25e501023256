//! Building `tonic::Status` answers with google.rpc error details.
//!
//! Every error a caller can act on carries an `ErrorInfo` whose `reason` is a stable code
//! (`SOLD_OUT`, `ALREADY_BOOKED`, ...: the proto enum [`Reason`], one list for every service
//! and the gateway) with machine-readable metadata, a message in Bahasa
//! Indonesia (the status message, shown to applicants as is) and the same message in English
//! as a `LocalizedMessage`. Field problems carry a `BadRequest` naming each field.
pub use antrean_proto::v1::ErrorReason as Reason;
use std::collections::HashMap;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The wire name of a reason (`SOLD_OUT`): the enum value's name without its prefix.
pub fn reason_name(r: Reason) -> &'static str {
    let name = r.as_str_name();
    name.strip_prefix("ERROR_REASON_").unwrap_or(name)
}

/// The `ErrorInfo.domain` of every antrean error.
pub const DOMAIN: &str = "antrean.imigrasi.go.id";

/// One problem with one request field, e.g. `applicants[1].nik`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    /// In Bahasa Indonesia; shown to the person who typed the field.
    pub description: String,
    /// The same in English, when known (sent as the violation's localized message).
    pub description_en: Option<String>,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
            description_en: None,
        }
    }

    /// With the English text too.
    pub fn bilingual(
        field: impl Into<String>,
        description: impl Into<String>,
        english: impl Into<String>,
    ) -> Self {
        Self {
            description_en: Some(english.into()),
            ..Self::new(field, description)
        }
    }
}

/// A caller-facing error: code, stable reason, messages and metadata.
#[derive(Debug, Clone)]
pub struct Problem {
    pub code: Code,
    pub reason: Reason,
    pub message_id: String,
    pub message_en: String,
    pub metadata: HashMap<String, String>,
    pub violations: Vec<FieldViolation>,
}

impl Problem {
    pub fn new(
        code: Code,
        reason: Reason,
        message_id: impl Into<String>,
        message_en: impl Into<String>,
    ) -> Self {
        Self {
            code,
            reason,
            message_id: message_id.into(),
            message_en: message_en.into(),
            metadata: HashMap::new(),
            violations: Vec::new(),
        }
    }

    /// INVALID_ARGUMENT for field problems.
    pub fn invalid(violations: Vec<FieldViolation>) -> Self {
        let summary = violations
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect::<Vec<_>>()
            .join("; ");
        let mut p = Self::new(
            Code::InvalidArgument,
            Reason::InvalidArgument,
            format!("Data tidak valid. {summary}"),
            format!("Invalid request. {summary}"),
        );
        p.violations = violations;
        p
    }

    pub fn with(mut self, key: &str, value: impl ToString) -> Self {
        self.metadata.insert(key.to_owned(), value.to_string());
        self
    }

    pub fn into_status(self) -> Status {
        let mut details = ErrorDetails::new();
        details.set_error_info(reason_name(self.reason), DOMAIN, self.metadata);
        details.set_localized_message("en-US", self.message_en);
        if !self.violations.is_empty() {
            details.set_bad_request(
                self.violations
                    .into_iter()
                    .map(|v| tonic_types::FieldViolation {
                        field: v.field,
                        description: v.description,
                        reason: String::new(),
                        localized_message: v
                            .description_en
                            .map(|en| tonic_types::LocalizedMessage::new("en-US", en)),
                    })
                    .collect::<Vec<_>>(),
            );
        }
        Status::with_error_details(self.code, self.message_id, details)
    }
}

impl From<Problem> for Status {
    fn from(p: Problem) -> Self {
        p.into_status()
    }
}

/// UNAUTHENTICATED / CONTACT_NOT_VERIFIED: a web or app request without a live contact token
/// (see `IdentityService/ConfirmVerification`). Nothing is held for it.
pub fn contact_not_verified() -> Status {
    Problem::new(
        Code::Unauthenticated,
        Reason::ContactNotVerified,
        "Nomor HP belum diverifikasi atau verifikasinya sudah kedaluwarsa. Minta kode verifikasi, lalu masukkan kodenya.",
        "The phone number is not verified, or its verification expired. Request a verification code, then enter it.",
    )
    .into()
}

/// The header a status from [`encoded_once`] carries its message in, percent-encoded as
/// `grpc-message` is; the standard server ([`crate::grpc::serve`]) answers it as
/// `grpc-message` ([`answer_encoded_message`]).
const ENCODED_MESSAGE: &str = "antrean-grpc-message";

/// What `grpc-message` percent-encodes: controls, space, `"#%<>`?{}` (as tonic does).
const MESSAGE_ENCODING: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'?')
    .add(b'{')
    .add(b'}');

/// The same status with its message and details already encoded as the headers they travel
/// in. tonic percent-encodes a status's message and base64-encodes its details each time it
/// answers with it (for a flash crowd's refusal, a Bahasa sentence with five dates, about a
/// tenth of the refusal's cost), so a status kept to answer many requests carries them
/// encoded once: the details as `grpc-status-details-bin`, the message in a header of ours
/// that the standard server renames to `grpc-message`. Callers decode the same message and
/// details. Only for statuses answered through [`crate::grpc::serve`]; in this process the
/// status's own message is empty.
pub fn encoded_once(status: Status) -> Status {
    let mut metadata = status.metadata().clone();
    if !status.details().is_empty() {
        metadata.insert_bin(
            "grpc-status-details-bin",
            tonic::metadata::MetadataValue::from_bytes(status.details()),
        );
    }
    let encoded =
        percent_encoding::utf8_percent_encode(status.message(), MESSAGE_ENCODING).to_string();
    match tonic::metadata::MetadataValue::try_from(encoded) {
        Ok(message) => {
            metadata.insert(ENCODED_MESSAGE, message);
            Status::with_metadata(status.code(), "", metadata)
        }
        Err(_) => Status::with_metadata(status.code(), status.message(), metadata),
    }
}

/// Answers the message of a status from [`encoded_once`] as `grpc-message`; the standard
/// server runs this on every answer that is not OK.
pub fn answer_encoded_message(headers: &mut http::HeaderMap) {
    if let Some(message) = headers.remove(ENCODED_MESSAGE) {
        headers.insert("grpc-message", message);
    }
}

/// An internal failure: logged in full here, answered without details.
pub fn internal(context: &str, err: impl std::fmt::Display) -> Status {
    tracing::error!(error = %err, "{context}");
    Problem::new(
        Code::Internal,
        Reason::Internal,
        "Terjadi kesalahan pada sistem. Silakan coba lagi.",
        "Something went wrong on our side. Please try again.",
    )
    .into_status()
}

/// A dependency (PostgreSQL, Redis, another service) is unreachable.
pub fn unavailable(context: &str, err: impl std::fmt::Display) -> Status {
    tracing::warn!(error = %err, "{context}");
    Problem::new(
        Code::Unavailable,
        Reason::Unavailable,
        "Layanan sedang tidak tersedia. Silakan coba beberapa saat lagi.",
        "The service is temporarily unavailable. Please try again shortly.",
    )
    .into_status()
}

/// Whether a status from calling another service is a transport failure (the connection was
/// reset or went away mid-call, as when the callee restarts) rather than the callee's answer.
/// tonic keeps the underlying error as the source of such statuses; answers decoded from a
/// response have none.
pub fn is_transport_failure(status: &Status) -> bool {
    std::error::Error::source(status).is_some()
        && matches!(
            status.code(),
            Code::Internal | Code::Unknown | Code::Cancelled | Code::Unavailable
        )
}

/// A status from calling another service, as this service answers it: transport failures
/// become UNAVAILABLE (which callers retry, with the same idempotency key); what the callee
/// itself answered passes through unchanged.
pub fn from_upstream(status: Status) -> Status {
    if is_transport_failure(&status) {
        unavailable("a call to another service failed", status.message())
    } else {
        status
    }
}

/// The reason code of a status built by [`Problem`], as on the wire, if any.
pub fn reason(status: &Status) -> Option<String> {
    status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
}

/// The reason of a status built by [`Problem`], if it is one antrean knows.
pub fn reason_of(status: &Status) -> Option<Reason> {
    Reason::from_str_name(&format!("ERROR_REASON_{}", reason(status)?))
}

/// Whether `status` was refused for `reason`.
pub fn is(status: &Status, reason: Reason) -> bool {
    reason_of(status) == Some(reason)
}

/// The metadata of a status built by [`Problem`].
pub fn metadata(status: &Status) -> HashMap<String, String> {
    status
        .get_error_details()
        .error_info()
        .map(|i| i.metadata.clone())
        .unwrap_or_default()
}

/// The English message of a status built by [`Problem`], if any.
pub fn english(status: &Status) -> Option<String> {
    status
        .get_error_details()
        .localized_message()
        .map(|m| m.message.clone())
}

/// The field violations of a status.
pub fn violations(status: &Status) -> Vec<FieldViolation> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| {
            b.field_violations
                .iter()
                .map(|v| FieldViolation {
                    field: v.field.clone(),
                    description: v.description.clone(),
                    description_en: v.localized_message.as_ref().map(|m| m.message.clone()),
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_crosses_the_wire_by_its_short_name() {
        let mut seen = std::collections::HashSet::new();
        for r in (1..).map_while(|n| Reason::try_from(n).ok()) {
            let name = reason_name(r);
            assert!(
                !name.starts_with("ERROR_REASON_") && seen.insert(name),
                "{name}"
            );
            let s = Problem::new(Code::FailedPrecondition, r, "pesan", "message").into_status();
            assert_eq!(reason(&s).as_deref(), Some(name));
            assert!(is(&s, r));
        }
        assert!(seen.contains("SOLD_OUT") && seen.len() >= 40, "{seen:?}");
    }

    #[test]
    fn problems_round_trip_through_status_details() {
        let s = Problem::new(
            Code::ResourceExhausted,
            Reason::SoldOut,
            "Kuota habis",
            "Sold out",
        )
        .with("remaining", 0)
        .into_status();
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert_eq!(s.message(), "Kuota habis");
        assert_eq!(reason(&s).as_deref(), Some("SOLD_OUT"));
        assert_eq!(metadata(&s)["remaining"], "0");
    }

    #[test]
    fn field_violations_travel_as_bad_request() {
        let s = Problem::invalid(vec![FieldViolation::new(
            "applicants[0].nik",
            "harus 16 digit",
        )])
        .into_status();
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(violations(&s)[0].field, "applicants[0].nik");
    }

    #[test]
    fn a_status_encoded_once_reaches_the_caller_unchanged() {
        let plain = Problem::new(
            Code::ResourceExhausted,
            Reason::SoldOut,
            "Kuota Senin, 7 Desember 2026 sesi PAGI tidak cukup (sisa 0).",
            "Not enough seats.",
        )
        .with("next_dates", "2026-12-08,2026-12-09")
        .into_status();
        let ready = encoded_once(plain.clone());
        // What a caller decodes from each answer's headers, as the standard server sends them.
        let heard = |s: Status| {
            let mut response = s.into_http::<()>();
            answer_encoded_message(response.headers_mut());
            Status::from_header_map(response.headers()).expect("a status")
        };
        for s in [ready.clone(), ready] {
            let (got, want) = (heard(s), heard(plain.clone()));
            assert_eq!(got.code(), want.code());
            assert_eq!(got.message(), want.message());
            assert_eq!(got.details(), plain.details());
            assert_eq!(reason(&got).as_deref(), Some("SOLD_OUT"));
            assert_eq!(metadata(&got)["next_dates"], "2026-12-08,2026-12-09");
            assert_eq!(english(&got).as_deref(), Some("Not enough seats."));
        }
        // Without details, and with characters the encoding escapes.
        let bare = Status::not_found("100% \"penuh\"? {ya} <tidak> #1 `x` é\n");
        let got = heard(encoded_once(bare.clone()));
        assert_eq!(
            (got.code(), got.message(), got.details()),
            (bare.code(), bare.message(), bare.details())
        );
        assert!(got.metadata().get(ENCODED_MESSAGE).is_none());
    }
}
