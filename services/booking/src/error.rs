//! The booking service's errors and their one mapping to gRPC statuses.
use antrean_platform::domain::{booking_status_label as status_label, tanggal};
use antrean_platform::status::Reason;
use antrean_platform::status::{self, FieldViolation, Problem};
use chrono::{DateTime, NaiveDate, Utc};
use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    /// An error of the identity or quota service, passed on with its details.
    #[error("upstream: {0}")]
    Upstream(Box<Status>),
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    #[error("person already has an active booking")]
    AlreadyBooked(Box<ActiveBooking>),
    #[error("limit of people per phone reached")]
    LimitReached { active: u32, max: u32 },
    #[error("blocked for no-shows")]
    Blocked { name: String, until: DateTime<Utc> },
    #[error("not found")]
    NotFound,
    #[error("wrong confirmation code")]
    WrongCode { attempts_left: u32 },
    #[error("too many wrong codes")]
    TooManyAttempts,
    #[error("expired")]
    Expired,
    #[error("cancelled")]
    Cancelled,
    #[error("status {0} does not allow this")]
    WrongStatus(String),
    #[error("wrong office")]
    WrongOffice { booking_office: String },
    #[error("wrong date")]
    WrongDate { booking_date: NaiveDate },
    /// A rule of the office operations refused the request; the status says which.
    #[error("refused: {0}")]
    Refused(Box<Status>),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// The booking that keeps a person from booking again. Its details are told only to its own
/// contact: a request from another contact is answered without them (the details go to the
/// booking's contact instead, see `Bookings::already_booked`).
#[derive(Debug)]
pub struct ActiveBooking {
    /// Whether the request came from the booking's own contact.
    pub own: bool,
    pub name: String,
    pub booking_id: String,
    pub booking_code: Option<String>,
    pub office_code: String,
    pub date: NaiveDate,
    pub session: String,
    pub status: crate::status::BookingStatus,
}

pub type Result<T> = std::result::Result<T, BookingError>;

impl From<Status> for BookingError {
    fn from(s: Status) -> Self {
        BookingError::Upstream(Box::new(antrean_platform::status::from_upstream(s)))
    }
}

impl From<BookingError> for Status {
    fn from(e: BookingError) -> Status {
        use BookingError::*;
        match e {
            Invalid(v) => Problem::invalid(v).into(),
            Upstream(s) | Refused(s) => *s,
            IdempotencyKeyReused => Problem::new(
                Code::AlreadyExists,
                Reason::IdempotencyKeyReused,
                "Kunci idempotensi ini sudah dipakai untuk permintaan dengan isi berbeda.",
                "This idempotency key was already used with different content.",
            )
            .into(),
            AlreadyBooked(active) if !active.own => Problem::new(
                Code::AlreadyExists,
                Reason::AlreadyBooked,
                format!(
                    "{} sudah memiliki booking aktif. Satu orang hanya boleh memiliki satu booking aktif. Rincian booking tersebut kami kirim ke nomor WhatsApp yang terdaftar pada booking itu.",
                    active.name
                ),
                format!(
                    "{} already has an active booking; its details were sent to that booking's own contact.",
                    active.name
                ),
            )
            .into(),
            AlreadyBooked(active) => {
                let ActiveBooking {
                    own: _,
                    name,
                    booking_id,
                    booking_code,
                    office_code,
                    date,
                    session,
                    status,
                } = *active;
                let code_text = booking_code
                    .as_deref()
                    .map(|c| format!(" (kode booking {c})"))
                    .unwrap_or_default();
                Problem::new(
                    Code::AlreadyExists,
                    Reason::AlreadyBooked,
                    format!(
                        "{name} sudah memiliki booking aktif{code_text} di Kantor Imigrasi {office_code} pada {} sesi {session}, status {}. Satu orang hanya boleh memiliki satu booking aktif.",
                        tanggal(date),
                        status_label(status.as_str())
                    ),
                    format!("{name} already has an active booking at {office_code} on {date} {session}."),
                )
                .with("booking_id", booking_id)
                .with("booking_code", booking_code.unwrap_or_default())
                .with("office_code", office_code)
                .with("date", date)
                .with("session", session)
                .with("status", status)
                .into()
            }
            LimitReached { active, max } => Problem::new(
                Code::FailedPrecondition,
                Reason::LimitReached,
                format!(
                    "Satu nomor HP hanya dapat memesan untuk {max} orang. Nomor ini sudah dipakai untuk {active} orang dengan booking aktif."
                ),
                format!("One phone number may book for at most {max} people; {active} already have active bookings."),
            )
            .with("active", active)
            .with("max", max)
            .into(),
            Blocked { name, until } => {
                let local = until.with_timezone(&chrono_tz::Asia::Jakarta).date_naive();
                Problem::new(
                    Code::FailedPrecondition,
                    Reason::BlockedNoShow,
                    format!(
                        "{name} tidak dapat memesan sampai {} karena dua kali tidak hadir tanpa pembatalan dalam 90 hari terakhir.",
                        tanggal(local)
                    ),
                    format!("{name} cannot book until {local} after repeated no-shows."),
                )
                .with("blocked_until", until.to_rfc3339())
                .into()
            }
            NotFound => Problem::new(
                Code::NotFound,
                Reason::NotFound,
                "Booking tidak ditemukan. Periksa kembali kode booking dan nomor HP.",
                "Booking not found. Check the booking code and phone number.",
            )
            .into(),
            WrongCode { attempts_left } => {
                let mut p = Problem::new(
                    Code::InvalidArgument,
                    Reason::WrongCode,
                    format!("Kode konfirmasi salah. Sisa percobaan: {attempts_left}."),
                    format!("Wrong confirmation code. Attempts left: {attempts_left}."),
                )
                .with("attempts_left", attempts_left);
                p.violations = vec![FieldViolation::new("confirmation_code", "kode konfirmasi salah")];
                p.into()
            }
            TooManyAttempts => Problem::new(
                Code::FailedPrecondition,
                Reason::TooManyAttempts,
                "Kode konfirmasi salah 5 kali, pemesanan dibatalkan. Silakan pesan ulang.",
                "Five wrong confirmation codes: the booking was cancelled. Please book again.",
            )
            .into(),
            Expired => Problem::new(
                Code::FailedPrecondition,
                Reason::Expired,
                "Batas waktu konfirmasi sudah lewat, pemesanan kedaluwarsa. Silakan pesan ulang.",
                "The confirmation time has passed; the booking expired. Please book again.",
            )
            .into(),
            Cancelled => Problem::new(
                Code::FailedPrecondition,
                Reason::Cancelled,
                "Booking ini sudah dibatalkan.",
                "This booking was cancelled.",
            )
            .into(),
            WrongStatus(s) => Problem::new(
                Code::FailedPrecondition,
                Reason::WrongStatus,
                format!("Tidak dapat diproses: status booking {}.", status_label(&s)),
                format!("Not possible: the booking is {s}."),
            )
            .with("status", s)
            .into(),
            WrongOffice { booking_office } => Problem::new(
                Code::FailedPrecondition,
                Reason::WrongOffice,
                format!("Booking ini untuk Kantor Imigrasi {booking_office}, bukan kantor ini."),
                format!("This booking is for the {booking_office} office."),
            )
            .with("office_code", booking_office)
            .into(),
            WrongDate { booking_date } => Problem::new(
                Code::FailedPrecondition,
                Reason::WrongDate,
                format!(
                    "Booking ini untuk tanggal {}, bukan hari ini.",
                    tanggal(booking_date)
                ),
                format!("This booking is for {booking_date}, not today."),
            )
            .with("date", booking_date)
            .into(),
            Db(e) => {
                antrean_platform::metrics::dependency_error("postgres");
                match &e {
                    sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                        status::unavailable("postgres", e)
                    }
                    _ => status::internal("postgres", e),
                }
            }
        }
    }
}

/// A rule refused the request: `reason`, with its message in Bahasa Indonesia and English.
pub(crate) fn refused(code: tonic::Code, reason: Reason, id: String, en: String) -> BookingError {
    BookingError::Refused(Box::new(Problem::new(code, reason, id, en).into_status()))
}
