//! Caller-facing errors of the gateway: [`ApiError`] (JSON `{"error": ...}` for the API, a
//! status and a message for pages) and the one mapping of gRPC statuses to HTTP.
use crate::ratelimit::Refused;
use antrean_platform::status::{self, Reason};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tonic::{Code, Status};

/// A caller-facing error (boxed: it travels in every handler's `Result`).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    body: Box<ErrorBody>,
}

#[derive(Debug)]
pub struct ErrorBody {
    code: String,
    message: String,
    fields: Option<Map<String, Value>>,
    extra: Map<String, Value>,
    retry_after: Option<u64>,
}

impl std::ops::Deref for ApiError {
    type Target = ErrorBody;
    fn deref(&self) -> &ErrorBody {
        &self.body
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ErrorBody {
        &mut self.body
    }
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: Box::new(ErrorBody {
                code: code.to_owned(),
                message: message.into(),
                fields: None,
                extra: Map::new(),
                retry_after: None,
            }),
        }
    }

    /// 400 with one message per field.
    pub fn fields(en: bool, fields: Vec<(String, String)>) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION",
            if en {
                "Some fields are invalid."
            } else {
                "Ada data yang tidak valid."
            },
        );
        e.fields = Some(
            fields
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        );
        e
    }

    /// 429 for a shared limit, or 503 when Redis, which keeps it, did not answer.
    pub(crate) fn refused(en: bool, r: Refused) -> Self {
        match r {
            Refused::Wait(w) => Self::too_many(en, w),
            Refused::Unavailable(e) => {
                tracing::warn!(error = %e, "shared limit unavailable");
                Self::unavailable(en)
            }
        }
    }

    fn unavailable(en: bool) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            status::reason_name(Reason::Unavailable),
            if en {
                "The service is temporarily unavailable. Please try again shortly."
            } else {
                "Layanan sedang tidak tersedia. Silakan coba beberapa saat lagi."
            },
        )
    }

    /// 401 CONTACT_NOT_VERIFIED: no contact token came with the request.
    pub(crate) fn not_verified(en: bool) -> Self {
        Self::from_status(&status::contact_not_verified(), en)
    }

    /// A page answering this error: its status, and Retry-After when it has one.
    pub(crate) fn page(&self, page: Response) -> Response {
        let mut r = (self.status, page).into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = header::HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }

    pub(crate) fn too_many(en: bool, wait: std::time::Duration) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            if en {
                "Too many requests. Please wait a moment."
            } else {
                "Terlalu banyak permintaan. Silakan tunggu sebentar."
            },
        );
        e.retry_after = Some(wait.as_secs().max(1));
        e
    }

    /// Maps a gRPC status of our services to HTTP. The JSON `code` is the reason's wire name.
    pub fn from_status(s: &Status, en: bool) -> Self {
        use Reason as R;
        let reason = status::reason_of(s);
        let name = reason.map(status::reason_name);
        let message = if en {
            status::english(s).unwrap_or_else(|| s.message().to_owned())
        } else {
            s.message().to_owned()
        };
        let (http, code) = match (s.code(), reason) {
            (Code::InvalidArgument, _) => {
                let v = status::violations(s);
                let fields = v
                    .into_iter()
                    .map(|v| {
                        let text = match (en, v.description_en) {
                            (true, Some(english)) => english,
                            _ => v.description,
                        };
                        (v.field, text)
                    })
                    .collect();
                let mut e = Self::fields(en, fields);
                if reason == Some(R::WrongCode) {
                    e.code = status::reason_name(R::WrongCode).into();
                    e.message = message;
                }
                return e.with_metadata(s);
            }
            (Code::NotFound, _) => (StatusCode::NOT_FOUND, status::reason_name(R::NotFound)),
            (_, Some(R::Expired | R::HoldExpired | R::TooManyAttempts)) => {
                (StatusCode::GONE, status::reason_name(R::Expired))
            }
            (_, Some(R::VerificationEnded)) => {
                (StatusCode::GONE, status::reason_name(R::VerificationEnded))
            }
            (_, Some(R::NoDraw)) => (StatusCode::NOT_FOUND, status::reason_name(R::NoDraw)),
            (_, Some(R::BlockedNoShow)) => {
                (StatusCode::FORBIDDEN, status::reason_name(R::BlockedNoShow))
            }
            (_, Some(R::OfficeOnly)) => {
                // 409 naming the applicants whose application is the office's to take.
                let fields = status::violations(s)
                    .into_iter()
                    .map(|v| (v.field, message.clone()))
                    .collect();
                let mut e = Self::fields(en, fields);
                e.status = StatusCode::CONFLICT;
                e.code = status::reason_name(R::OfficeOnly).into();
                e.message = message;
                return e.with_metadata(s);
            }
            (_, Some(r @ (R::DateClosed | R::OutsideHorizon))) => {
                let mut e = Self::fields(en, vec![("date".into(), message.clone())]);
                e.code = status::reason_name(r).into();
                e.message = message;
                return e.with_metadata(s);
            }
            (
                Code::ResourceExhausted
                | Code::AlreadyExists
                | Code::FailedPrecondition
                | Code::Aborted,
                Some(_),
            ) => (StatusCode::CONFLICT, name.unwrap_or_default()),
            (code, _)
                if matches!(code, Code::Unavailable | Code::DeadlineExceeded)
                    || status::is_transport_failure(s) =>
            {
                return Self::unavailable(en);
            }
            (Code::Unauthenticated, Some(_)) => {
                (StatusCode::UNAUTHORIZED, name.unwrap_or_default())
            }
            (Code::PermissionDenied, Some(_)) => (StatusCode::FORBIDDEN, name.unwrap_or_default()),
            _ => {
                tracing::error!(code = ?s.code(), message = %s.message(), "unexpected upstream error");
                return Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    status::reason_name(R::Internal),
                    if en {
                        "Something went wrong."
                    } else {
                        "Terjadi kesalahan pada sistem."
                    },
                );
            }
        };
        Self::new(http, code, message).with_metadata(s)
    }

    /// Carries the machine-readable details (remaining seats, next dates, ...).
    fn with_metadata(mut self, s: &Status) -> Self {
        for (k, v) in status::metadata(s) {
            let v = match k.as_str() {
                "next_dates" => json!(v.split(',').filter(|d| !d.is_empty()).collect::<Vec<_>>()),
                "remaining" | "active" | "max" | "attempts_left" => {
                    v.parse::<u64>().map_or(json!(v), |n| json!(n))
                }
                _ => json!(v),
            };
            self.extra.insert(k, v);
        }
        self
    }
}

impl ApiError {
    /// The message shown to people.
    pub fn message_text(&self) -> String {
        self.message.clone()
    }

    /// Adds a sentence to the message for people.
    pub fn append_message(&mut self, more: &str) {
        self.message = format!("{} {more}", self.message);
    }

    /// (field, message) pairs of a validation error.
    pub fn field_errors(&self) -> Vec<(String, String)> {
        self.fields
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect()
    }
}

/// Every error answer of the JSON API: `{"error": {...}}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorJson,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorJson {
    /// The reason (`SOLD_OUT`, `ALREADY_BOOKED`, ...) or `VALIDATION`, `INVALID_JSON`,
    /// `RATE_LIMITED`, `UNAVAILABLE`, `INTERNAL`.
    pub code: String,
    /// For people, in Bahasa Indonesia (English with `Accept-Language: en`).
    pub message: String,
    /// One message per invalid field (`applicants[1].nik`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub fields: Option<Map<String, Value>>,
    /// Machine-readable details: `remaining`, `next_dates`, `attempts_left`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<Map<String, Value>>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let b = *self.body;
        let error = ErrorResponse {
            error: ErrorJson {
                code: b.code,
                message: b.message,
                fields: b.fields,
                details: (!b.extra.is_empty()).then_some(b.extra),
            },
        };
        let mut r = (self.status, Json(error)).into_response();
        if let Some(s) = b.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

/// `{"error": ...}` for a gRPC status, in Bahasa Indonesia.
pub fn error_response(s: &Status) -> Response {
    ApiError::from_status(s, false).into_response()
}

/// "required", the message of a missing field.
pub fn required(en: bool) -> String {
    if en { "required" } else { "wajib diisi" }.to_owned()
}

/// The least time a failed look-up by code takes, whatever the reason (no such code, another
/// phone's, malformed): longer than any failure's own path, so the answer's time tells
/// nothing about which it was.
pub const LOOKUP_FAILURE_FLOOR: std::time::Duration = std::time::Duration::from_millis(300);

/// Waits out [`LOOKUP_FAILURE_FLOOR`] from `started`.
pub async fn pad_failure(started: tokio::time::Instant) {
    tokio::time::sleep_until(started + LOOKUP_FAILURE_FLOOR).await;
}
