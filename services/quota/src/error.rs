//! The quota service's errors and their one mapping to gRPC statuses.
use antrean_platform::domain::{SessionOfDay, format_date, tanggal};
use antrean_platform::status::Reason;
use antrean_platform::status::{self, FieldViolation, Problem};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use tonic::{Code, Status};

use crate::calendar::ClosedReason;

#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    #[error("unknown office {0}")]
    UnknownOffice(String),
    #[error("{date} outside the horizon {first}..{last}")]
    OutsideHorizon {
        date: NaiveDate,
        first: NaiveDate,
        last: NaiveDate,
    },
    #[error("{date} closed: {reason:?}")]
    Closed {
        date: NaiveDate,
        reason: ClosedReason,
        note: String,
    },
    #[error("sold out")]
    SoldOut {
        date: NaiveDate,
        session: SessionOfDay,
        remaining: u32,
        next_dates: Vec<NaiveDate>,
    },
    #[error("{date} not released before {opens_at}")]
    NotReleased {
        date: NaiveDate,
        opens_at: DateTime<Utc>,
        tz: Tz,
    },
    #[error("{date} in its release draw until {closes_at}")]
    DrawOpen {
        date: NaiveDate,
        closes_at: DateTime<Utc>,
        tz: Tz,
    },
    #[error("{date}'s draw is admitting its winners until {until}")]
    DrawRunning {
        date: NaiveDate,
        closes_at: DateTime<Utc>,
        until: DateTime<Utc>,
        tz: Tz,
    },
    #[error("hold id reused with different content")]
    HoldIdReused,
    #[error("unknown hold")]
    UnknownHold,
    #[error("hold expired")]
    HoldExpired,
    #[error("hold released")]
    HoldReleased,
    #[error("capacity no longer allows this hold")]
    CapacityExceeded,
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("internal: {0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, QuotaError>;

/// `08:00 WIB, Selasa, 1 Desember 2026`.
fn local_moment(tz: Tz, at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&tz);
    format!(
        "{} {}, {}",
        antrean_platform::domain::local_hhmm(tz, at),
        antrean_platform::domain::indonesian_zone_abbreviation(tz),
        tanggal(local.date_naive())
    )
}

impl From<QuotaError> for Status {
    fn from(e: QuotaError) -> Status {
        match e {
            QuotaError::Invalid(v) => Problem::invalid(v).into(),
            QuotaError::UnknownOffice(code) => Problem::new(
                Code::NotFound,
                Reason::UnknownOffice,
                format!("Kantor imigrasi dengan kode {code} tidak ditemukan."),
                format!("No immigration office has the code {code}."),
            )
            .with("office_code", code)
            .into(),
            QuotaError::OutsideHorizon { date, first, last } => Problem::new(
                Code::FailedPrecondition,
                Reason::OutsideHorizon,
                format!(
                    "Tanggal {} tidak bisa dipesan. Pilih tanggal antara {} dan {}.",
                    tanggal(date),
                    tanggal(first),
                    tanggal(last)
                ),
                format!("{date} cannot be booked. Choose a date from {first} to {last}."),
            )
            .with("first_date", format_date(first))
            .with("last_date", format_date(last))
            .into(),
            QuotaError::Closed { date, reason, note } => {
                let why = if note.is_empty() {
                    reason.label().to_owned()
                } else {
                    format!("{} ({note})", reason.label())
                };
                Problem::new(
                    Code::FailedPrecondition,
                    Reason::DateClosed,
                    format!("Kantor tidak melayani pada {}: {why}.", tanggal(date)),
                    format!("The office does not serve on {date}: {}.", reason.code()),
                )
                .with("closed_reason", reason.code())
                .with("note", note)
                .into()
            }
            QuotaError::SoldOut {
                date,
                session,
                remaining,
                next_dates,
            } => {
                let list = next_dates
                    .iter()
                    .map(|d| tanggal(*d))
                    .collect::<Vec<_>>()
                    .join("; ");
                let tail = if list.is_empty() {
                    "Belum ada tanggal lain yang tersedia.".to_owned()
                } else {
                    format!("Tanggal yang masih tersedia: {list}.")
                };
                Problem::new(
                    Code::ResourceExhausted,
                    Reason::SoldOut,
                    format!(
                        "Kuota {} sesi {} tidak cukup (sisa {remaining}). {tail}",
                        tanggal(date),
                        session
                    ),
                    format!("Not enough seats on {date} {session} (remaining {remaining})."),
                )
                .with("remaining", remaining)
                .with(
                    "next_dates",
                    next_dates
                        .iter()
                        .map(|d| format_date(*d))
                        .collect::<Vec<_>>()
                        .join(","),
                )
                .into()
            }
            QuotaError::NotReleased { date, opens_at, tz } => Problem::new(
                Code::FailedPrecondition,
                Reason::NotReleased,
                format!(
                    "Tanggal {} belum dibuka untuk pemesanan. Dibuka pada {}.",
                    tanggal(date),
                    local_moment(tz, opens_at)
                ),
                format!("{date} is not open for booking yet. It opens at {}.", opens_at.to_rfc3339()),
            )
            .with("opens_at", opens_at.with_timezone(&tz).to_rfc3339())
            .into(),
            QuotaError::DrawOpen {
                date,
                closes_at,
                tz,
            } => Problem::new(
                Code::FailedPrecondition,
                Reason::DrawOpen,
                format!(
                    "Tanggal {} baru dibuka dan diundi: permintaan menjadi peserta undian sampai {}.",
                    tanggal(date),
                    local_moment(tz, closes_at)
                ),
                format!("{date} has just opened and is drawn: requests enter the draw until {}.", closes_at.to_rfc3339()),
            )
            .with("closes_at", closes_at.with_timezone(&tz).to_rfc3339())
            .into(),
            QuotaError::DrawRunning {
                date,
                closes_at,
                until,
                tz,
            } => Problem::new(
                Code::FailedPrecondition,
                Reason::DrawRunning,
                format!(
                    "Undian tanggal {} sedang menetapkan pemenangnya. Sisa kuota dapat dipesan mulai {}.",
                    tanggal(date),
                    local_moment(tz, until)
                ),
                format!("The draw of {date} is admitting its winners. Seats left can be booked from {}.", until.to_rfc3339()),
            )
            .with("retry_at", until.with_timezone(&tz).to_rfc3339())
            .with("closes_at", closes_at.with_timezone(&tz).to_rfc3339())
            .into(),
            QuotaError::HoldIdReused => Problem::new(
                Code::AlreadyExists,
                Reason::HoldIdReused,
                "ID hold ini sudah dipakai untuk permintaan lain.",
                "This hold id was already used for a different request.",
            )
            .into(),
            QuotaError::UnknownHold => Problem::new(
                Code::NotFound,
                Reason::UnknownHold,
                "Hold tidak ditemukan.",
                "No such hold.",
            )
            .into(),
            QuotaError::HoldExpired => Problem::new(
                Code::FailedPrecondition,
                Reason::HoldExpired,
                "Waktu pemesanan sudah habis; kursi sudah dilepas. Silakan pesan ulang.",
                "The hold has expired and its seats were released. Please book again.",
            )
            .into(),
            QuotaError::HoldReleased => Problem::new(
                Code::FailedPrecondition,
                Reason::HoldReleased,
                "Pemesanan ini sudah dibatalkan.",
                "This hold was already released.",
            )
            .into(),
            QuotaError::CapacityExceeded => Problem::new(
                Code::Aborted,
                Reason::CapacityExceeded,
                "Maaf, kuota sesi ini sudah penuh sehingga pemesanan tidak dapat dikonfirmasi. Silakan pilih jadwal lain.",
                "The session is full, so this hold cannot be confirmed. Please choose another slot.",
            )
            .into(),
            QuotaError::Redis(e) => {
                antrean_platform::metrics::dependency_error("redis");
                status::unavailable("redis", e)
            }
            QuotaError::Internal(e) => status::internal("quota", e),
            QuotaError::Db(e) => match &e {
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                    antrean_platform::metrics::dependency_error("postgres");
                    status::unavailable("postgres", e)
                }
                _ => {
                    antrean_platform::metrics::dependency_error("postgres");
                    status::internal("postgres", e)
                }
            },
        }
    }
}
