//! What each WhatsApp message does, and the one reply it gets.
//!
//! The office is the number that was messaged. The national information number answers the
//! menu and status checks for every office. Every reply goes through the notification
//! service with the key `reply:<wamid>`, so a message processed twice is answered once;
//! bookings use the key `wa:<wamid>`, so it books once.
//!
//! Business errors (sold out, closed date, wrong code...) are answered to the applicant in
//! Bahasa Indonesia with the right format and an example. Only a service that is unreachable
//! makes [`handle`] fail, and the message is then retried.
use crate::App;
use crate::chat::{self, BOOK_EXAMPLE, BOOK_FORMAT, Command, WAIT_EXAMPLE, WAIT_FORMAT};
use antrean_platform::domain::{
    booking_status_label, format_date, from_timestamp, local_date, local_hhmm, tanggal,
};
use antrean_platform::status;
use antrean_platform::status::Reason;
use antrean_proto::v1 as pb;
use chrono_tz::Tz;
use std::collections::HashMap;
use tonic::{Code, Status};
use uuid::Uuid;

/// A stored message, decrypted for processing.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub wamid: String,
    pub phone_number_id: String,
    pub sender_key: String,
    pub phone: Option<String>,
    pub user_id: Option<String>,
    pub text: Option<String>,
    pub reply_id: Option<String>,
    /// When the gateway stored the webhook (a release draw's window counts by it).
    pub received_at: chrono::DateTime<chrono::Utc>,
}

/// A template and its parameters.
#[derive(Debug, Clone)]
pub struct Reply {
    pub template: &'static str,
    pub params: HashMap<String, String>,
}

impl Reply {
    fn new(template: &'static str, params: &[(&str, String)]) -> Self {
        Self {
            template,
            params: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        }
    }

    /// Adds a line to an error reply's message.
    fn add_line(&mut self, line: &str) {
        if let Some(m) = self.params.get_mut("message") {
            m.push('\n');
            m.push_str(line);
        }
    }

    fn error(message: impl Into<String>, format: &str, example: &str) -> Self {
        Self::new(
            "error",
            &[
                ("message", message.into()),
                ("format", format.to_owned()),
                ("example", example.to_owned()),
            ],
        )
    }
}

const NATIONAL_NAME: &str = "Direktorat Jenderal Imigrasi";

/// True for errors worth retrying the whole message for.
fn transient(s: &Status) -> bool {
    matches!(
        s.code(),
        Code::Unavailable | Code::DeadlineExceeded | Code::Unknown | Code::Internal | Code::Aborted
    ) && !status::is(s, Reason::CapacityExceeded)
}

/// Turns a business error of a service into a reply; passes transient errors up.
fn explain(s: Status, format: &str, example: &str) -> Result<Reply, Status> {
    if transient(&s) {
        return Err(s);
    }
    let mut message = s.message().to_owned();
    let violations = status::violations(&s);
    if !violations.is_empty() {
        message = violations
            .iter()
            .map(|v| capitalize(&v.description))
            .collect::<Vec<_>>()
            .join(". ")
            + ".";
    }
    if let Some(dates) = status::metadata(&s)
        .get("next_dates")
        .filter(|d| !d.is_empty())
    {
        let pasteable = dates
            .split(',')
            .filter_map(antrean_platform::domain::parse_date)
            .map(chat::format_ddmmyyyy)
            .collect::<Vec<_>>()
            .join(", ");
        message.push_str(&format!("\nTanggal yang bisa dipakai: {pasteable}"));
    }
    Ok(Reply::error(message, format, example))
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

pub async fn handle(app: &App, m: &Incoming) -> Result<(), Status> {
    let national = m.phone_number_id == app.config.whatsapp_info_phone_number_id;
    let office = if national {
        None
    } else {
        match app
            .backend
            .office_by_phone_number_id(&m.phone_number_id)
            .await?
        {
            Some(o) => Some(o),
            None => {
                tracing::warn!(phone_number_id = %m.phone_number_id, "message to an unknown number ignored");
                return Ok(());
            }
        }
    };
    // A sender's messages are acted on at a human pace, across every replica; beyond it they
    // are stored and marked done without effect, and the sender is told once in a while.
    match app
        .shared
        .check(&app.fair.messages_per_sender, &m.sender_key)
        .await
    {
        Ok(()) => {}
        Err(crate::ratelimit::Refused::Wait(_)) => {
            tracing::warn!(wamid = %m.wamid, "message over its sender's limit, not acted on");
            if app
                .shared
                .check(&app.fair.flood_notices, &m.sender_key)
                .await
                .is_ok()
            {
                return send(app, m, Reply::new("too_many_messages", &[])).await;
            }
            return Ok(());
        }
        // Retried later, like any message whose effect could not be made.
        Err(crate::ratelimit::Refused::Unavailable(e)) => {
            return Err(antrean_platform::status::unavailable("redis", e));
        }
    }
    let command = match (&m.reply_id, &m.text) {
        (Some(id), _) => Ok(match id.strip_prefix("menu:") {
            Some("tanggal") => Command::Dates,
            Some(key) => Command::MenuRow(key.to_owned()),
            None => Command::Menu,
        }),
        (None, Some(text)) => chat::parse(text),
        (None, None) => Ok(Command::Menu),
    };
    let reply = match command {
        Err(e) => {
            let (msg, format, example) = e.reply();
            Reply::error(msg, format, example)
        }
        Ok(cmd) => run(app, m, office.as_deref(), cmd).await?,
    };
    send(app, m, reply).await
}

async fn send(app: &App, m: &Incoming, reply: Reply) -> Result<(), Status> {
    app.backend
        .notification()
        .send(pb::SendRequest {
            idempotency_key: format!("reply:{}", m.wamid),
            channel: pb::Channel::Whatsapp as i32,
            recipient: Some(pb::Recipient {
                phone: m.phone.clone().unwrap_or_default(),
                whatsapp_user_id: m.user_id.clone().unwrap_or_default(),
                email: String::new(),
            }),
            sender_phone_number_id: m.phone_number_id.clone(),
            template: reply.template.to_owned(),
            parameters: reply.params,
            attachment: None,
        })
        .await?;
    Ok(())
}

fn office_only(what: &str) -> Reply {
    Reply::error(
        format!(
            "Nomor ini adalah layanan informasi {NATIONAL_NAME}. Untuk {what}, kirim pesan ke nomor WhatsApp kantor imigrasi tujuan (daftar nomor: /api/v1/offices)."
        ),
        BOOK_FORMAT,
        BOOK_EXAMPLE,
    )
}

fn tz_of(o: &pb::Office) -> Tz {
    o.timezone.parse().unwrap_or(Tz::Asia__Jakarta)
}

async fn run(
    app: &App,
    m: &Incoming,
    office: Option<&pb::Office>,
    cmd: Command,
) -> Result<Reply, Status> {
    let office_name = office.map_or(NATIONAL_NAME.to_owned(), |o| o.name.clone());
    Ok(match cmd {
        Command::Menu => Reply::new("menu", &[("office_name", office_name)]),
        Command::MenuRow(key) => {
            if is_info_key(&key) {
                Reply::new("info", &[("key", key)])
            } else {
                Reply::new("menu", &[("office_name", office_name)])
            }
        }
        Command::Dates => match office {
            None => office_only("melihat tanggal tersedia"),
            Some(o) => dates(app, o).await?,
        },
        Command::Book {
            name,
            birth,
            arrival,
            session,
            replacement,
            electronic,
        } => match office {
            None => office_only("memesan antrean"),
            Some(o) => {
                let person = person(name, birth, replacement, electronic);
                book(app, m, o, person, arrival, session).await?
            }
        },
        Command::Wait {
            name,
            birth,
            arrival,
            session,
            replacement,
            electronic,
        } => match office {
            None => office_only("masuk daftar tunggu"),
            Some(o) => {
                let person = person(name, birth, replacement, electronic);
                wait(app, m, o, person, arrival, session).await?
            }
        },
        Command::Confirm(code) => match office {
            None => office_only("mengonfirmasi pemesanan"),
            Some(o) => confirm(app, m, o, &code).await?,
        },
        Command::Cancel(code) => match office {
            None => office_only("membatalkan booking"),
            Some(_) => cancel(app, m, &code).await?,
        },
        Command::Reschedule {
            code,
            date,
            session,
        } => match office {
            None => office_only("mengubah jadwal"),
            Some(_) => reschedule(app, m, &code, date, session.as_deref()).await?,
        },
        Command::Status(code) => status_of(app, m, &code).await?,
        Command::Mine => mine(app, m).await?,
        Command::Reconfirm(code) => reconfirm(app, m, &code).await?,
        Command::Feedback(text) => match office {
            None => office_only("mengirim apresiasi atau pengaduan"),
            Some(o) => {
                // The sender, encrypted, for the office's one answer.
                let sender = serde_json::json!({"phone": m.phone, "user_id": m.user_id});
                sqlx::query!(
                    "INSERT INTO feedback (office_code, wamid, text_enc, received_at, sender_enc)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (wamid) DO NOTHING",
                    &o.code,
                    &m.wamid,
                    app.pii.encrypt(&text),
                    app.clock.now(),
                    app.pii.encrypt(&sender.to_string())
                )
                .execute(&app.pool)
                .await
                .map_err(|e| status::unavailable("feedback", e))?;
                Reply::new("feedback_received", &[("office_name", office_name)])
            }
        },
    })
}

/// Menu rows answered by the `info` template (the rest need data).
fn is_info_key(key: &str) -> bool {
    matches!(
        key,
        "syarat" | "pesan" | "status" | "batal" | "prioritas" | "bayar" | "ambil" | "saran"
    )
}

async fn dates(app: &App, o: &pb::Office) -> Result<Reply, Status> {
    let days = app.backend.next_dates(o.code.clone()).await?;
    if days.is_empty() {
        return Ok(Reply::error(
            "Maaf, kuota untuk 30 hari ke depan sudah penuh. Silakan cek kembali besok.",
            "#TGLLAYANAN",
            "#TGLLAYANAN",
        ));
    }
    let remaining = |d: &pb::DayAvailability, s: pb::Session| {
        d.sessions
            .iter()
            .find(|x| x.session == s as i32)
            .map_or(0, |x| x.remaining)
    };
    let lines: Vec<String> = days
        .iter()
        .filter_map(|d| {
            let date = antrean_platform::domain::parse_date(&d.date)?;
            let day = tanggal(date);
            let weekday = day.split(',').next().unwrap_or_default().to_owned();
            Some(format!(
                "{}  ({})  PAGI {}  SIANG {}",
                chat::format_ddmmyyyy(date),
                weekday,
                remaining(d, pb::Session::Pagi),
                remaining(d, pb::Session::Siang)
            ))
        })
        .collect();
    let first = days
        .first()
        .and_then(|d| antrean_platform::domain::parse_date(&d.date))
        .map(chat::format_ddmmyyyy)
        .unwrap_or_default();
    Ok(Reply::new(
        "available_dates",
        &[
            ("office_name", o.name.clone()),
            ("dates", lines.join("\n")),
            ("first_date", first),
        ],
    ))
}

#[allow(clippy::too_many_arguments)]
/// The one applicant of a classic WhatsApp message (name and birth date, no NIK).
fn person(
    name: String,
    birth: chrono::NaiveDate,
    replacement: bool,
    electronic: bool,
) -> pb::ApplicantInput {
    pb::ApplicantInput {
        nik: String::new(),
        name,
        birth_date: format_date(birth),
        application_type: if replacement {
            pb::ApplicationType::Replacement
        } else {
            pb::ApplicationType::New
        } as i32,
        passport_type: if electronic {
            pb::PassportType::Electronic
        } else {
            pb::PassportType::NonElectronic
        } as i32,
    }
}

async fn book(
    app: &App,
    m: &Incoming,
    o: &pb::Office,
    person: pb::ApplicantInput,
    arrival: chrono::NaiveDate,
    session: Option<String>,
) -> Result<Reply, Status> {
    let tz = tz_of(o);
    let today = local_date(tz, app.clock.now());
    if antrean_platform::domain::parse_date(&person.birth_date).is_some_and(|b| b > today) {
        return Ok(Reply::error(
            "Tanggal lahir tidak boleh di masa depan.",
            BOOK_FORMAT,
            BOOK_EXAMPLE,
        ));
    }
    let Some(phone) = m.phone.clone() else {
        return Ok(Reply::error(
            "Pemesanan antrean memerlukan nomor telepon WhatsApp Anda, yang tidak terlihat pada akun ini. Gunakan akun WhatsApp dengan nomor pribadi.",
            BOOK_FORMAT,
            BOOK_EXAMPLE,
        ));
    };
    let session = match session.as_deref() {
        Some("SIANG") => pb::Session::Siang,
        Some(_) => pb::Session::Pagi,
        None => pick_session(app, o, arrival).await?,
    };
    let created = app
        .backend
        .booking()
        .create_booking(pb::CreateBookingRequest {
            idempotency_key: format!("wa:{}", m.wamid),
            channel: pb::Channel::Whatsapp as i32,
            office_code: o.code.clone(),
            date: format_date(arrival),
            session: session as i32,
            received_at: Some(antrean_platform::domain::to_timestamp(m.received_at)),
            contact: Some(pb::ContactInput {
                phone,
                email: String::new(),
                whatsapp_user_id: m.user_id.clone().unwrap_or_default(),
                contact_token: String::new(),
            }),
            applicants: vec![person],
        })
        .await;
    let created = match created {
        Ok(c) => c.into_inner(),
        Err(s) => {
            let full = status::is(&s, Reason::SoldOut);
            let mut reply = explain(s, BOOK_FORMAT, BOOK_EXAMPLE)?;
            if full {
                // A full session has a waitlist.
                reply.add_line(&format!(
                    "Atau masuk daftar tunggu sesi ini: #TUNGGU#NAMA#TGLLAHIR#{}",
                    chat::format_ddmmyyyy(arrival)
                ));
            }
            return Ok(reply);
        }
    };
    if let Some(e) = created.entry {
        // The date has just opened: the request is an entry of its draw.
        return Ok(Reply::new(
            "draw_entered",
            &[
                ("office_name", o.name.clone()),
                ("date", tanggal(arrival)),
                ("session", session_word(e.session)),
                ("people", e.seats.to_string()),
                ("draw_at_local", e.draw_at_local),
                ("entry_id", e.entry_id),
            ],
        ));
    }
    let b = created.booking.unwrap_or_default();
    let expires = b
        .expires_at
        .as_ref()
        .and_then(from_timestamp)
        .unwrap_or_else(|| app.clock.now());
    let booking_id =
        Uuid::parse_str(&b.booking_id).map_err(|e| status::internal("booking id", e))?;
    sqlx::query!(
        "INSERT INTO conversations (sender_key, office_code, booking_id, expires_at, updated_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (sender_key, office_code) DO UPDATE SET booking_id = EXCLUDED.booking_id,
            expires_at = EXCLUDED.expires_at, updated_at = EXCLUDED.updated_at",
        &m.sender_key,
        &o.code,
        booking_id,
        expires,
        app.clock.now()
    )
    .execute(&app.pool)
    .await
    .map_err(|e| status::unavailable("conversation", e))?;
    let applicant = b.applicants.first().cloned().unwrap_or_default();
    Ok(Reply::new(
        "booking_held",
        &[
            ("name", applicant.name),
            ("office_name", o.name.clone()),
            ("date", tanggal(arrival)),
            ("session", session_word(b.session)),
            ("code", created.confirmation_code),
            (
                "expires_local",
                format!("{} {}", local_hhmm(tz, expires), o.timezone_abbreviation),
            ),
        ],
    ))
}

fn session_word(s: i32) -> String {
    match pb::Session::try_from(s) {
        Ok(pb::Session::Siang) => "SIANG".into(),
        _ => "PAGI".into(),
    }
}

/// Without `#PAGI`/`#SIANG`: the morning if it has room, else the afternoon.
async fn pick_session(
    app: &App,
    o: &pb::Office,
    date: chrono::NaiveDate,
) -> Result<pb::Session, Status> {
    let day = app
        .backend
        .quota()
        .get_availability(pb::GetAvailabilityRequest {
            office_code: o.code.clone(),
            from: format_date(date),
            to: format_date(date),
        })
        .await;
    let Ok(day) = day else {
        // Let the booking answer explain (outside the horizon, closed...).
        return Ok(pb::Session::Pagi);
    };
    let has_room = |s: pb::Session| {
        day.get_ref().days.first().is_some_and(|d| {
            d.sessions
                .iter()
                .any(|x| x.session == s as i32 && x.remaining > 0)
        })
    };
    Ok(
        if !has_room(pb::Session::Pagi) && has_room(pb::Session::Siang) {
            pb::Session::Siang
        } else {
            pb::Session::Pagi
        },
    )
}

/// `#TUNGGU#...`: joins the waitlist of a full session.
#[allow(clippy::too_many_arguments)]
async fn wait(
    app: &App,
    m: &Incoming,
    o: &pb::Office,
    person: pb::ApplicantInput,
    arrival: chrono::NaiveDate,
    session: Option<String>,
) -> Result<Reply, Status> {
    let Some(phone) = m.phone.clone() else {
        return Ok(Reply::error(
            "Daftar tunggu memerlukan nomor telepon WhatsApp Anda, yang tidak terlihat pada akun ini.",
            WAIT_FORMAT,
            WAIT_EXAMPLE,
        ));
    };
    let session = match session.as_deref() {
        Some("SIANG") => pb::Session::Siang,
        _ => pb::Session::Pagi,
    };
    let joined = app
        .backend
        .booking()
        .join_waitlist(pb::JoinWaitlistRequest {
            office_code: o.code.clone(),
            date: format_date(arrival),
            session: session as i32,
            contact: Some(pb::ContactInput {
                phone,
                email: String::new(),
                whatsapp_user_id: m.user_id.clone().unwrap_or_default(),
                contact_token: String::new(),
            }),
            applicants: vec![person],
            channel: pb::Channel::Whatsapp as i32,
        })
        .await;
    let entry = match joined {
        Ok(e) => e.into_inner(),
        Err(s) => return explain(s, WAIT_FORMAT, WAIT_EXAMPLE),
    };
    Ok(Reply::new(
        "waitlist_joined",
        &[
            ("office_name", o.name.clone()),
            ("date", tanggal(arrival)),
            ("session", session_word(session as i32)),
            ("position", entry.position.to_string()),
            ("people", "1".into()),
        ],
    ))
}

/// A held booking of this person at this office that no conversation remembers: a waitlist
/// offer, which came by a message of its own.
async fn offered_booking(app: &App, m: &Incoming, o: &pb::Office) -> Result<Option<Uuid>, Status> {
    let Some(phone) = m.phone.clone() else {
        return Ok(None);
    };
    let list = app
        .backend
        .booking()
        .list_bookings(pb::ListBookingsRequest {
            contact_phone: phone,
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok(list
        .bookings
        .iter()
        .find(|b| b.office_code == o.code && b.status == pb::BookingStatus::Held as i32)
        .and_then(|b| Uuid::parse_str(&b.booking_id).ok()))
}

async fn confirm(app: &App, m: &Incoming, o: &pb::Office, code: &str) -> Result<Reply, Status> {
    let pending: Option<Uuid> = sqlx::query_scalar!(
        "SELECT booking_id FROM conversations WHERE sender_key = $1 AND office_code = $2",
        &m.sender_key,
        &o.code
    )
    .fetch_optional(&app.pool)
    .await
    .map_err(|e| status::unavailable("conversation", e))?;
    let pending = match pending {
        Some(id) => Some(id),
        None => offered_booking(app, m, o).await?,
    };
    let Some(booking_id) = pending else {
        return Ok(Reply::error(
            "Tidak ada pemesanan yang menunggu kode konfirmasi. Pesan antrean terlebih dahulu.",
            BOOK_FORMAT,
            BOOK_EXAMPLE,
        ));
    };
    let answer = app
        .backend
        .booking()
        .confirm_booking(pb::ConfirmBookingRequest {
            booking_id: booking_id.to_string(),
            confirmation_code: code.to_owned(),
        })
        .await;
    let b = match answer {
        Ok(b) => b.into_inner(),
        Err(s) => {
            if matches!(
                status::reason_of(&s),
                Some(Reason::Expired | Reason::TooManyAttempts | Reason::Cancelled)
            ) {
                forget(app, m, o).await?;
            }
            return explain(s, "6 angka kode konfirmasi", "123456");
        }
    };
    forget(app, m, o).await?;
    let a = b.applicants.first().cloned().unwrap_or_default();
    let zone = &b.timezone_abbreviation;
    Ok(Reply::new(
        "booking_confirmed",
        &[
            ("booking_code", b.booking_code.clone()),
            ("queue_number", a.queue_number.clone()),
            ("name", a.name.clone()),
            ("office_name", o.name.clone()),
            ("date", booking_date(&b)),
            ("session", session_word(b.session)),
            ("schedule_local", format!("{} {zone}", a.scheduled_local)),
            ("arrive_by_local", format!("{} {zone}", a.arrive_by_local)),
            (
                "requirements",
                a.requirements
                    .iter()
                    .map(|r| format!("- {r}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        ],
    ))
}

/// Each applicant's progress after the counter, one line each ("- Budi: Paspor siap
/// diambil"), and the pickup hours once a passport is ready; empty before anyone reached
/// the counter.
fn progress_lines(b: &pb::Booking) -> String {
    if b.applicants
        .iter()
        .all(|a| a.stage <= pb::ApplicationStage::Waiting as i32)
    {
        return String::new();
    }
    let mut lines: Vec<String> = b
        .applicants
        .iter()
        .map(|a| {
            format!(
                "- {}: {}",
                a.name,
                antrean_platform::progress::label(
                    pb::ApplicationStage::try_from(a.stage).unwrap_or_default()
                )
            )
        })
        .collect();
    if !b.pickup_hours.is_empty() {
        lines.push(format!("Jam pengambilan paspor: {}", b.pickup_hours));
    }
    lines.join("\n")
}

fn booking_date(b: &pb::Booking) -> String {
    antrean_platform::domain::parse_date(&b.date).map_or(b.date.clone(), tanggal)
}

async fn forget(app: &App, m: &Incoming, o: &pb::Office) -> Result<(), Status> {
    sqlx::query!(
        "DELETE FROM conversations WHERE sender_key = $1 AND office_code = $2",
        &m.sender_key,
        &o.code
    )
    .execute(&app.pool)
    .await
    .map_err(|e| status::unavailable("conversation", e))?;
    Ok(())
}

const CANCEL_FORMAT: (&str, &str) = ("#BATAL#KODEBOOKING", "#BATAL#7K3M-9QX2-HT4R-D");
const STATUS_FORMAT: (&str, &str) = ("#STATUS#KODEBOOKING", "#STATUS#7K3M-9QX2-HT4R-D");

/// A command on one booking by its code, from the phone that booked it (the second factor):
/// runs `call` with that phone, and answers the booking with its office's name, or the
/// reply that explains the error in the command's format.
async fn by_code<F, Fut>(
    app: &App,
    m: &Incoming,
    format: (&str, &str),
    call: F,
) -> Result<Result<(pb::Booking, String), Reply>, Status>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<pb::Booking>, Status>>,
{
    let Some(phone) = m.phone.clone() else {
        return Ok(Err(Reply::error(
            "Booking tidak ditemukan untuk akun WhatsApp ini.",
            format.0,
            format.1,
        )));
    };
    let b = match call(phone).await {
        Ok(b) => b.into_inner(),
        Err(s) => return explain(s, format.0, format.1).map(Err),
    };
    let office = app.backend.office(&b.office_code).await?;
    let name = office.map_or(b.office_code.clone(), |o| o.name.clone());
    Ok(Ok((b, name)))
}

async fn cancel(app: &App, m: &Incoming, code: &str) -> Result<Reply, Status> {
    let answer = by_code(app, m, CANCEL_FORMAT, |phone| {
        let mut client = app.backend.booking();
        let code = code.to_owned();
        async move {
            client
                .cancel_booking(pb::CancelBookingRequest {
                    booking_code: code,
                    contact_phone: phone,
                })
                .await
        }
    })
    .await?;
    let (b, office_name) = match answer {
        Ok(x) => x,
        Err(reply) => return Ok(reply),
    };
    Ok(Reply::new(
        "booking_cancelled",
        &[
            ("booking_code", b.booking_code.clone()),
            ("office_name", office_name),
            ("date", booking_date(&b)),
            ("session", session_word(b.session)),
        ],
    ))
}

/// `#UBAH#<kode>#DDMMYYYY[#PAGI|#SIANG]`: the booking moves (once, up to the day before);
/// the reply carries the new schedule.
async fn reschedule(
    app: &App,
    m: &Incoming,
    code: &str,
    date: chrono::NaiveDate,
    session: Option<&str>,
) -> Result<Reply, Status> {
    let session = match session {
        Some("PAGI") => pb::Session::Pagi,
        Some("SIANG") => pb::Session::Siang,
        _ => pb::Session::Unspecified,
    };
    let answer = by_code(
        app,
        m,
        (
            crate::chat::RESCHEDULE_FORMAT,
            crate::chat::RESCHEDULE_EXAMPLE,
        ),
        |phone| {
            let mut client = app.backend.booking();
            let code = code.to_owned();
            async move {
                client
                    .reschedule_booking(pb::RescheduleBookingRequest {
                        booking_code: code,
                        contact_phone: phone,
                        date: antrean_platform::domain::format_date(date),
                        session: session as i32,
                        requested_via: pb::Channel::Whatsapp as i32,
                    })
                    .await
            }
        },
    )
    .await?;
    let (b, office_name) = match answer {
        Ok(x) => x,
        Err(reply) => return Ok(reply),
    };
    let a = b.applicants.first().cloned().unwrap_or_default();
    let zone = &b.timezone_abbreviation;
    Ok(Reply::new(
        "booking_rescheduled",
        &[
            ("name", a.name.clone()),
            ("booking_code", b.booking_code.clone()),
            ("office_name", office_name),
            ("date", booking_date(&b)),
            ("session", session_word(b.session)),
            ("schedule_local", format!("{} {zone}", a.scheduled_local)),
            (
                "queue_number",
                b.applicants
                    .iter()
                    .map(|a| a.queue_number.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ],
    ))
}

const RECONFIRM_FORMAT: (&str, &str) = ("#YA#KODEBOOKING", "#YA#7K3M-9QX2-HT4R-D");

/// `#YA#<kode>`: attendance reconfirmed, as the H-1 reminder asks where the office wants it.
async fn reconfirm(app: &App, m: &Incoming, code: &str) -> Result<Reply, Status> {
    let answer = by_code(app, m, RECONFIRM_FORMAT, |phone| {
        let mut client = app.backend.booking();
        let code = code.to_owned();
        async move {
            client
                .reconfirm(pb::ReconfirmRequest {
                    booking_code: code,
                    contact_phone: phone,
                })
                .await
        }
    })
    .await?;
    let (b, office_name) = match answer {
        Ok(x) => x,
        Err(reply) => return Ok(reply),
    };
    Ok(Reply::new(
        "booking_reconfirmed",
        &[
            ("booking_code", b.booking_code.clone()),
            ("office_name", office_name),
            ("date", booking_date(&b)),
        ],
    ))
}

/// `#CEK`: the sender's active bookings, every office (the sender is proven by the signed
/// webhook, so the list is theirs): code, office, date, session, queue numbers and time.
async fn mine(app: &App, m: &Incoming) -> Result<Reply, Status> {
    let Some(phone) = m.phone.clone() else {
        return Ok(Reply::new("booking_list", &[("bookings", String::new())]));
    };
    let list = app
        .backend
        .booking()
        .list_bookings(pb::ListBookingsRequest {
            contact_phone: phone,
            ..Default::default()
        })
        .await?
        .into_inner()
        .bookings;
    let mut lines = Vec::new();
    for b in list.iter().filter(|b| crate::api::is_active(b)) {
        let office = app.backend.office(&b.office_code).await?;
        let name = office.map_or(b.office_code.clone(), |o| o.name.clone());
        let code = if b.booking_code.is_empty() {
            "(belum dikonfirmasi)".to_owned()
        } else {
            b.booking_code.clone()
        };
        let people = b
            .applicants
            .iter()
            .map(|a| {
                if a.queue_number.is_empty() {
                    a.name.clone()
                } else {
                    format!(
                        "{} ({}, {} {})",
                        a.name, a.queue_number, a.scheduled_local, b.timezone_abbreviation
                    )
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        lines.push(format!(
            "*{code}*\n{name}\n{} sesi {}\n{people}",
            booking_date(b),
            session_word(b.session)
        ));
    }
    Ok(Reply::new(
        "booking_list",
        &[("bookings", lines.join("\n\n"))],
    ))
}

async fn status_of(app: &App, m: &Incoming, code: &str) -> Result<Reply, Status> {
    let answer = by_code(app, m, STATUS_FORMAT, |phone| {
        let mut client = app.backend.booking();
        let code = code.to_owned();
        async move {
            client
                .get_booking(pb::GetBookingRequest {
                    key: Some(pb::get_booking_request::Key::BookingCode(code)),
                    contact_phone: phone,
                    office_code: String::new(),
                })
                .await
        }
    })
    .await?;
    let (b, office_name) = match answer {
        Ok(x) => x,
        Err(reply) => return Ok(reply),
    };
    let a = b.applicants.first().cloned().unwrap_or_default();
    let status_name = pb::BookingStatus::try_from(b.status)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("BOOKING_STATUS_")
                .to_owned()
        })
        .unwrap_or_default();
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_owned()
        } else {
            s.to_owned()
        }
    };
    Ok(Reply::new(
        "booking_status",
        &[
            ("booking_code", b.booking_code.clone()),
            ("status", booking_status_label(&status_name).to_owned()),
            ("office_name", office_name),
            ("date", booking_date(&b)),
            ("session", session_word(b.session)),
            ("queue_number", dash(&a.queue_number)),
            (
                "schedule_local",
                if a.scheduled_local.is_empty() {
                    "-".to_owned()
                } else {
                    format!("{} {}", a.scheduled_local, b.timezone_abbreviation)
                },
            ),
            ("progress", progress_lines(&b)),
        ],
    ))
}
