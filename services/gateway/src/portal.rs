//! The booking portal: server-rendered pages in Bahasa Indonesia that work on a phone, over
//! the same RPCs as WhatsApp and the JSON API. No external assets: the stylesheet is served
//! here.
//!
//! `/` offices (search by city or name) -> `/kantor/{code}` month calendar with the seats
//! left per session -> `/kantor/{code}/pesan`: first the phone is verified (a code by
//! WhatsApp and e-mail, `/verifikasi`; the contact token then lives 30 minutes in an
//! HttpOnly cookie), then the form for 1-5 applicants -> the booking is confirmed at once:
//! the proof (code, QR, queue numbers, schedule, checklist, PDF). `/cek` looks a booking up
//! and cancels it.
use crate::App;
use crate::error::ApiError;
use crate::html::{render, urlencode};
use crate::views;
use antrean_platform::domain::{parse_date, tanggal};
use antrean_platform::status::Reason;
use antrean_proto::v1 as pb;
use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{Datelike, Months, NaiveDate};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(home))
        .route("/kantor/{code}", get(office_page))
        .route("/kantor/{code}/pesan", get(form_page).post(submit_form))
        .route("/verifikasi", axum::routing::post(verify_start))
        .route(
            "/verifikasi/konfirmasi",
            axum::routing::post(verify_confirm),
        )
        .route("/cek", get(lookup_page).post(lookup))
        .route("/batal", axum::routing::post(cancel))
        .route("/ubah", axum::routing::post(reschedule))
        .route("/booking-saya", get(mine))
}

/// A page with a heading and one message (errors, the waitlist, a cancellation).
#[derive(Template, Default)]
#[template(path = "portal/message.html")]
struct Message<'a> {
    title: &'a str,
    heading: &'a str,
    /// An error (`role="alert"`), else a notice (`role="status"`).
    alert: bool,
    id: &'a str,
    text: &'a str,
    more: &'a str,
    link: &'a str,
    link_label: &'a str,
}

fn error_page(e: &ApiError) -> Response {
    let text = e.message_text();
    e.page(render(&Message {
        title: "Terjadi masalah",
        heading: "Terjadi masalah",
        alert: true,
        text: &text,
        link: "/",
        link_label: "Kembali",
        ..Message::default()
    }))
}

#[derive(Debug, Deserialize)]
struct Search {
    q: Option<String>,
}

async fn home(State(app): State<Arc<App>>, Query(s): Query<Search>) -> Response {
    let offices = match app.backend.offices().await {
        Ok(o) => o,
        Err(st) => return error_page(&ApiError::from_status(&st, false)),
    };
    let q = s.q.unwrap_or_default();
    let needle = q.trim().to_lowercase();
    let offices = offices
        .iter()
        .filter(|o| {
            needle.is_empty()
                || o.name.to_lowercase().contains(&needle)
                || o.city.to_lowercase().contains(&needle)
        })
        .map(|o| {
            let wa = o.whatsapp.as_ref();
            (
                o.as_ref(),
                wa.map_or("", |w| w.display_phone_number.as_str()),
            )
        })
        .collect();
    render(&Home { q: &q, offices })
}

#[derive(Template)]
#[template(path = "portal/home.html")]
struct Home<'a> {
    q: &'a str,
    /// Each office and its WhatsApp number.
    offices: Vec<(&'a pb::Office, &'a str)>,
}

#[derive(Debug, Deserialize)]
struct MonthQuery {
    bulan: Option<String>,
}

fn closed_label(reason: &str) -> &'static str {
    match reason {
        "WEEKEND" | "CLOSED_BY_OFFICE" => "Tutup",
        "HOLIDAY" => "Libur",
        _ => "\u{2014}",
    }
}

/// One day of the month calendar (`day` 0: a cell before the first).
#[derive(Default)]
struct Day {
    day: u32,
    date: String,
    label: String,
    open: bool,
    sessions: Vec<SessionSeats>,
    closed: &'static str,
    note: String,
}

struct SessionSeats {
    name: &'static str,
    remaining: u32,
}

#[derive(Template)]
#[template(path = "portal/office.html")]
struct OfficePage<'a> {
    office: &'a pb::Office,
    whatsapp: &'a str,
    bad_month: bool,
    month: String,
    prev: String,
    next: String,
    weeks: Vec<Vec<Day>>,
}

async fn office_page(
    State(app): State<Arc<App>>,
    Path(code): Path<String>,
    Query(m): Query<MonthQuery>,
) -> Response {
    let office = match app.backend.office(&code.to_ascii_uppercase()).await {
        Ok(Some(o)) => o,
        Ok(None) => {
            return error_page(&ApiError::from_status(
                &tonic::Status::not_found("Kantor tidak ditemukan."),
                false,
            ));
        }
        Err(s) => return error_page(&ApiError::from_status(&s, false)),
    };
    let today = parse_date(&office.today).unwrap_or_default();
    let asked = m.bulan.as_deref().filter(|b| !b.is_empty());
    // A month that is not one (or out of 2000-2100) is said so, over next month's calendar.
    let bad_month = asked.is_some_and(|b| parse_month(b).is_none());
    let month_start = asked
        .and_then(parse_month)
        .unwrap_or_else(|| (today + chrono::Days::new(1)).with_day(1).unwrap_or(today));
    let month_end = month_start + Months::new(1) - chrono::Days::new(1);
    let days = app
        .backend
        .quota()
        .get_availability(pb::GetAvailabilityRequest {
            office_code: office.code.clone(),
            from: month_start.to_string(),
            to: month_end.to_string(),
        })
        .await;
    let days = match days {
        Ok(d) => d.into_inner().days,
        Err(s) => return error_page(&ApiError::from_status(&s, false)),
    };
    let by_date: HashMap<String, &pb::DayAvailability> =
        days.iter().map(|d| (d.date.clone(), d)).collect();
    let lead = month_start.weekday().num_days_from_monday() as usize;
    let mut cells: Vec<Day> = (0..lead).map(|_| Day::default()).collect();
    for date in month_start.iter_days().take_while(|d| *d <= month_end) {
        let key = date.to_string();
        let mut day = Day {
            day: date.day(),
            label: tanggal(date),
            closed: "\u{2014}",
            ..Day::default()
        };
        if let Some(d) = by_date.get(&key) {
            day.open = d.open;
            day.closed = closed_label(&d.closed_reason);
            day.note = d.note.clone();
            day.sessions = d
                .sessions
                .iter()
                .map(|s| SessionSeats {
                    name: views::session_name(s.session),
                    remaining: s.remaining,
                })
                .collect();
        }
        day.date = key;
        cells.push(day);
    }
    let mut weeks = Vec::new();
    let mut cells = cells.into_iter().peekable();
    while cells.peek().is_some() {
        weeks.push(cells.by_ref().take(7).collect());
    }
    let wa = office.whatsapp.clone().unwrap_or_default();
    let status = if bad_month {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = OfficePage {
        office: &office,
        whatsapp: &wa.display_phone_number,
        bad_month,
        month: format!(
            "{} {}",
            antrean_platform::domain::bulan(month_start),
            month_start.year()
        ),
        prev: (month_start - Months::new(1)).format("%Y-%m").to_string(),
        next: (month_start + Months::new(1)).format("%Y-%m").to_string(),
        weeks,
    };
    (status, render(&page)).into_response()
}

#[derive(Debug, Deserialize, Default)]
struct FormQuery {
    tanggal: Option<String>,
    sesi: Option<String>,
}

/// The booking form; `values` and `errors` are keyed by field name (`nik_0`, `phone`, ...).
/// What the booking form is for: the office, date and session, the attempt's idempotency
/// key, and the verified phone (masked).
struct FormFor<'a> {
    office: &'a pb::Office,
    date: &'a str,
    session: &'a str,
    key: &'a str,
    phone_masked: &'a str,
}

/// One input of the booking form, with its error.
struct Field {
    id: String,
    label: &'static str,
    kind: &'static str,
    value: String,
    error: Option<String>,
    nik: bool,
    name: bool,
    required: bool,
}

/// One applicant's fieldset.
struct Person {
    fields: Vec<Field>,
    replacement: bool,
    electronic: bool,
}

#[derive(Template)]
#[template(path = "portal/form.html")]
struct FormPage<'a> {
    office: &'a pb::Office,
    date: &'a str,
    date_label: String,
    session: &'a str,
    key: &'a str,
    phone_masked: &'a str,
    message: Option<&'a str>,
    people: Vec<Person>,
    /// The session is full: the same form may join its waitlist.
    sold_out: bool,
}

fn form_page_of<'a>(
    f: &FormFor<'a>,
    values: &HashMap<String, String>,
    errors: &HashMap<String, String>,
    message: Option<&'a str>,
) -> FormPage<'a> {
    let value = |k: &str| values.get(k).cloned().unwrap_or_default();
    let field = |id: String, label, kind, required| Field {
        value: value(&id),
        error: errors.get(&id).cloned(),
        nik: id.starts_with("nik_"),
        name: id.starts_with("name_"),
        id,
        label,
        kind,
        required,
    };
    let people = (0..antrean_platform::domain::MAX_APPLICANTS as usize)
        .map(|i| Person {
            fields: vec![
                field(format!("nik_{i}"), "NIK (16 digit)", "text", i == 0),
                field(format!("name_{i}"), "Nama lengkap", "text", i == 0),
                field(format!("birth_{i}"), "Tanggal lahir", "date", i == 0),
            ],
            replacement: value(&format!("type_{i}")) == "REPLACEMENT",
            electronic: value(&format!("passport_{i}")) == "ELECTRONIC",
        })
        .collect();
    FormPage {
        office: f.office,
        date: f.date,
        date_label: parse_date(f.date).map_or(f.date.to_owned(), tanggal),
        session: f.session,
        key: f.key,
        phone_masked: f.phone_masked,
        message,
        people,
        sold_out: false,
    }
}

async fn office_or_error(app: &App, code: &str) -> Result<Arc<pb::Office>, Response> {
    match app.backend.office(&code.to_ascii_uppercase()).await {
        Ok(Some(o)) => Ok(o),
        Ok(None) => Err(error_page(&ApiError::from_status(
            &tonic::Status::not_found("Kantor tidak ditemukan."),
            false,
        ))),
        Err(s) => Err(error_page(&ApiError::from_status(&s, false))),
    }
}

async fn form_page(
    State(app): State<Arc<App>>,
    Path(code): Path<String>,
    Query(q): Query<FormQuery>,
    headers: HeaderMap,
) -> Response {
    let office = match office_or_error(&app, &code).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let (date, session) = (
        q.tanggal.as_deref().unwrap_or(""),
        q.sesi.as_deref().unwrap_or("PAGI"),
    );
    let Some(contact) = Contact::from_cookies(&headers) else {
        return verify_page(&form_url(&office.code, date, session), None, "", "");
    };
    let key = uuid::Uuid::new_v4().to_string();
    let masked = antrean_platform::phone::mask(&contact.phone);
    let form = FormFor {
        office: &office,
        date,
        session,
        key: &key,
        phone_masked: &masked,
    };
    render(&form_page_of(&form, &HashMap::new(), &HashMap::new(), None))
}

/// `YYYY-MM` of the calendar, years 2000-2100 only (chrono's month arithmetic panics near
/// the ends of its range, and no office books there): the first of that month.
fn parse_month(s: &str) -> Option<NaiveDate> {
    let (y, m) = s.split_once('-')?;
    if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = y.parse().ok().filter(|y| (2000..=2100).contains(y))?;
    NaiveDate::from_ymd_opt(year, m.parse().ok()?, 1)
}

fn form_url(office: &str, date: &str, session: &str) -> String {
    format!(
        "/kantor/{}/pesan?tanggal={}&sesi={}",
        urlencode(office),
        urlencode(date),
        urlencode(session)
    )
}

/// The proven contact of this browser: the contact token and the phone it proves, kept in
/// The bookings of one's own phone, once verified (a lost booking code is found here).
const MINE: &str = "/booking-saya";

/// One booking in the list of one's own.
struct MineRow {
    code: String,
    office: String,
    date: String,
    session: &'static str,
    status: &'static str,
    people: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "portal/mine.html")]
struct MinePage<'a> {
    phone: &'a str,
    phone_masked: String,
    rows: Vec<MineRow>,
}

/// `GET /booking-saya`: every booking of the phone the contact cookie proved, newest first,
/// each opening its proof (look-up by code and phone); unverified, the phone first.
async fn mine(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let Some(contact) = Contact::from_cookies(&headers) else {
        return verify_page(MINE, None, "", "");
    };
    let ip = crate::client::addr(&app, peer, &headers);
    if let Err(e) = crate::ratelimit::lookups(&app, ip, &contact.phone, false).await {
        return error_page(&e);
    }
    let list = match app
        .backend
        .booking()
        .list_bookings(pb::ListBookingsRequest {
            contact_phone: String::new(),
            contact_token: contact.token.clone(),
        })
        .await
    {
        Ok(l) => l.into_inner().bookings,
        // The cookie's token ran out: verify again.
        Err(s) if s.code() == tonic::Code::Unauthenticated => {
            return verify_page(
                MINE,
                Some("Verifikasi nomor HP sudah kedaluwarsa. Silakan verifikasi lagi."),
                "",
                "",
            );
        }
        Err(s) => return error_page(&ApiError::from_status(&s, false)),
    };
    let mut rows = Vec::new();
    for b in &list {
        let office = app.backend.office(&b.office_code).await.ok().flatten();
        rows.push(MineRow {
            code: b.booking_code.clone(),
            office: office.map_or(b.office_code.clone(), |o| o.name.clone()),
            date: antrean_platform::domain::parse_date(&b.date)
                .map_or(b.date.clone(), antrean_platform::domain::tanggal),
            session: views::session_name(b.session),
            status: antrean_platform::domain::booking_status_label(
                pb::BookingStatus::try_from(b.status)
                    .map(|s| s.as_str_name().trim_start_matches("BOOKING_STATUS_"))
                    .unwrap_or_default(),
            ),
            people: b
                .applicants
                .iter()
                .map(|a| {
                    if a.queue_number.is_empty() {
                        a.name.clone()
                    } else {
                        format!("{} ({})", a.name, a.queue_number)
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
            active: crate::api::is_active(b) && !b.booking_code.is_empty(),
        });
    }
    render(&MinePage {
        phone: &contact.phone,
        phone_masked: antrean_platform::phone::mask(&contact.phone),
        rows,
    })
}

/// HttpOnly cookies for the token's 30 minutes.
struct Contact {
    token: String,
    phone: String,
}

const TOKEN_COOKIE: &str = "antrean_kontak";
const PHONE_COOKIE: &str = "antrean_hp";

impl Contact {
    fn from_cookies(headers: &HeaderMap) -> Option<Contact> {
        let mut token = None;
        let mut phone = None;
        for h in headers.get_all(header::COOKIE) {
            for pair in h.to_str().unwrap_or_default().split(';') {
                match pair.trim().split_once('=') {
                    Some((TOKEN_COOKIE, v)) if !v.is_empty() => token = Some(v.to_owned()),
                    Some((PHONE_COOKIE, v))
                        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) =>
                    {
                        phone = Some(format!("+{v}"));
                    }
                    _ => {}
                }
            }
        }
        Some(Contact {
            token: token?,
            phone: phone?,
        })
    }
}

/// Where to go once verified: only this portal's booking form, or the list of one's own
/// bookings.
fn safe_next(next: &str) -> String {
    if next == MINE {
        return next.to_owned();
    }
    let ok = next.starts_with("/kantor/")
        && next
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/?=&-_%.".contains(&b));
    if ok { next.to_owned() } else { "/".to_owned() }
}

/// Step 1: the phone (and e-mail) that receives the verification code.
#[derive(Template)]
#[template(path = "portal/verify.html")]
struct VerifyPage<'a> {
    next: String,
    message: Option<&'a str>,
    phone: &'a str,
    email: &'a str,
}

fn verify_page(next: &str, message: Option<&str>, phone: &str, email: &str) -> Response {
    render(&VerifyPage {
        next: safe_next(next),
        message,
        phone,
        email,
    })
}

/// Step 2: the code.
#[derive(Template)]
#[template(path = "portal/code.html")]
struct CodePage<'a> {
    next: String,
    id: &'a str,
    phone: &'a str,
    phone_masked: String,
    message: Option<&'a str>,
}

fn code_page(next: &str, id: &str, phone: &str, message: Option<&str>) -> Response {
    render(&CodePage {
        next: safe_next(next),
        id,
        phone,
        phone_masked: antrean_platform::phone::mask(phone),
        message,
    })
}

async fn verify_start(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| f.get(k).map(|s| s.trim().to_owned()).unwrap_or_default();
    let (next, phone, email) = (get("lanjut"), get("phone"), get("email"));
    if phone.is_empty() {
        return verify_page(&next, Some("Nomor HP wajib diisi."), &phone, &email);
    }
    let ip = crate::client::addr(&app, peer, &headers);
    match crate::verification::start(&app, ip, &phone, &email, false).await {
        Ok(v) => code_page(&next, &v.verification_id, &v.phone, None),
        Err(e) => {
            let text = e
                .field_errors()
                .into_iter()
                .map(|(_, m)| m)
                .next()
                .unwrap_or_else(|| e.message_text());
            verify_page(&next, Some(&text), &phone, &email)
        }
    }
}

async fn verify_confirm(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| f.get(k).map(|s| s.trim().to_owned()).unwrap_or_default();
    let (next, id, phone, code) = (get("lanjut"), get("id"), get("phone"), get("code"));
    let ip = crate::client::addr(&app, peer, &headers);
    match crate::verification::confirm(&app, ip, &id, &code, false).await {
        Ok(proof) => {
            let secure = headers
                .get("x-forwarded-proto")
                .is_some_and(|v| v.as_bytes() == b"https");
            let attrs = format!(
                "; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{}",
                crate::verification::TOKEN_SECONDS,
                if secure { "; Secure" } else { "" }
            );
            let phone = antrean_platform::phone::normalize(&phone).unwrap_or_default();
            let mut r = (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, safe_next(&next))],
            )
                .into_response();
            for cookie in [
                format!("{TOKEN_COOKIE}={}{attrs}", proof.contact_token),
                format!("{PHONE_COOKIE}={}{attrs}", phone.trim_start_matches('+')),
            ] {
                if let Ok(v) = HeaderValue::from_str(&cookie) {
                    r.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            r
        }
        Err(e) if e.status == StatusCode::BAD_REQUEST => {
            code_page(&next, &id, &phone, Some(&e.message_text()))
        }
        // Expired, ended or unknown: start again with a new code.
        Err(e) => verify_page(&next, Some(&e.message_text()), &phone, ""),
    }
}

/// Maps an API field path to the form field that shows its error.
fn form_field(path: &str) -> String {
    if let Some(rest) = path.strip_prefix("applicants[") {
        let (i, f) = rest
            .split_once("].")
            .unwrap_or((rest.trim_end_matches(']'), "nik"));
        let name = match f {
            "nik" => "nik",
            "name" => "name",
            "birth_date" => "birth",
            _ => "type",
        };
        return format!("{name}_{i}");
    }
    match path {
        "contact.phone" => "phone".into(),
        "contact.email" => "email".into(),
        other => other.into(),
    }
}

async fn submit_form(
    State(app): State<Arc<App>>,
    Path(code): Path<String>,
    headers: HeaderMap,
    Form(values): Form<HashMap<String, String>>,
) -> Response {
    let office = match office_or_error(&app, &code).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let get = |k: &str| {
        values
            .get(k)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    let (date, session, key) = (get("tanggal"), get("sesi"), get("key"));
    let Some(contact) = Contact::from_cookies(&headers) else {
        return verify_page(&form_url(&office.code, &date, &session), None, "", "");
    };
    let masked = antrean_platform::phone::mask(&contact.phone);
    let form = FormFor {
        office: &office,
        date: &date,
        session: &session,
        key: &key,
        phone_masked: &masked,
    };
    let mut applicants = Vec::new();
    let mut errors = HashMap::new();
    let mut index = Vec::new();
    for i in 0..5 {
        let (nik, name, birth) = (
            get(&format!("nik_{i}")),
            get(&format!("name_{i}")),
            get(&format!("birth_{i}")),
        );
        if i > 0 && nik.is_empty() && name.is_empty() && birth.is_empty() {
            continue;
        }
        if name.is_empty() {
            errors.insert(format!("name_{i}"), "Nama wajib diisi.".to_owned());
        }
        if nik.is_empty() {
            errors.insert(format!("nik_{i}"), "NIK wajib diisi.".to_owned());
        }
        if birth.is_empty() {
            errors.insert(
                format!("birth_{i}"),
                "Tanggal lahir wajib diisi.".to_owned(),
            );
        }
        index.push(i);
        applicants.push(pb::ApplicantInput {
            nik,
            name,
            birth_date: birth,
            application_type: if get(&format!("type_{i}")) == "REPLACEMENT" {
                pb::ApplicationType::Replacement
            } else {
                pb::ApplicationType::New
            } as i32,
            passport_type: if get(&format!("passport_{i}")) == "ELECTRONIC" {
                pb::PassportType::Electronic
            } else {
                pb::PassportType::NonElectronic
            } as i32,
        });
    }
    let show = |errors: &HashMap<String, String>, message: Option<&str>| {
        render(&form_page_of(&form, &values, errors, message))
    };
    if !errors.is_empty() {
        return show(&errors, Some("Periksa kembali data yang ditandai."));
    }
    let session_pb = if session == "SIANG" {
        pb::Session::Siang
    } else {
        pb::Session::Pagi
    };
    if get("tunggu") == "ya" {
        // The session was full: the same people join its waitlist.
        let joined = app
            .backend
            .booking()
            .join_waitlist(pb::JoinWaitlistRequest {
                office_code: office.code.clone(),
                date: date.clone(),
                session: session_pb as i32,
                contact: Some(pb::ContactInput {
                    contact_token: contact.token.clone(),
                    ..Default::default()
                }),
                applicants,
                channel: pb::Channel::Web as i32,
            })
            .await;
        return match joined {
            Ok(e) => {
                let text = format!(
                    "Urutan ke-{} untuk {date} sesi {session} di {}.",
                    e.get_ref().position,
                    office.name
                );
                render(&Message {
                    title: "Daftar tunggu",
                    heading: "Anda di daftar tunggu",
                    id: "daftar-tunggu",
                    text: &text,
                    more: "Bila ada kursi kosong untuk seluruh rombongan, kode konfirmasi dikirim lewat WhatsApp ke nomor HP Anda. Masukkan atau balas kode itu sebelum batas waktunya.",
                    ..Message::default()
                })
            }
            Err(s) => show(
                &HashMap::new(),
                Some(&ApiError::from_status(&s, false).message_text()),
            ),
        };
    }
    let created = app
        .backend
        .booking()
        .create_booking(pb::CreateBookingRequest {
            received_at: None,
            idempotency_key: format!("portal:{key}"),
            channel: pb::Channel::Web as i32,
            office_code: office.code.clone(),
            date: date.clone(),
            session: session_pb as i32,
            contact: Some(pb::ContactInput {
                contact_token: contact.token.clone(),
                ..Default::default()
            }),
            applicants,
        })
        .await;
    let created = match created {
        Ok(c) => c.into_inner(),
        Err(s) if antrean_platform::status::is(&s, Reason::ContactNotVerified) => {
            // The token lapsed while the form was filled in: verify again.
            return verify_page(
                &form_url(&office.code, &date, &session),
                Some(&ApiError::from_status(&s, false).message_text()),
                "",
                "",
            );
        }
        Err(s) => {
            let e = ApiError::from_status(&s, false);
            let errors: HashMap<String, String> = e
                .field_errors()
                .into_iter()
                .map(|(path, msg)| {
                    // applicants[k] counts only the filled fieldsets.
                    let f = form_field(&path);
                    let f = match f.rsplit_once('_') {
                        Some((n, i)) if path.starts_with("applicants[") => format!(
                            "{n}_{}",
                            index
                                .get(i.parse::<usize>().unwrap_or(0))
                                .copied()
                                .unwrap_or(0)
                        ),
                        _ => f,
                    };
                    (f, msg)
                })
                .collect();
            if antrean_platform::status::is(&s, Reason::SoldOut) {
                // A full session offers its waitlist: the same form, posted again.
                let message = e.message_text();
                let mut page = form_page_of(&form, &values, &errors, Some(&message));
                page.sold_out = true;
                return render(&page);
            }
            return show(&errors, Some(&e.message_text()));
        }
    };
    if let Some(e) = created.entry {
        return render(&DrawPage {
            date: &date,
            draw_at: &e.draw_at_local,
            entry_id: &e.entry_id,
            office: &office.code,
        });
    }
    // The contact is proven: the booking is confirmed already.
    let booking = created.booking.unwrap_or_default();
    proof(&app, &booking, &contact.phone).await
}

#[derive(Template)]
#[template(path = "portal/draw.html")]
struct DrawPage<'a> {
    date: &'a str,
    draw_at: &'a str,
    entry_id: &'a str,
    office: &'a str,
}

#[derive(Template)]
#[template(path = "portal/proof.html")]
struct ProofHtml<'a> {
    page: &'a antrean_proof::ProofPage,
    title: &'a str,
    subtitle: String,
    code: &'a str,
    phone: &'a str,
    cancellable: bool,
    /// Confirmed and never moved: the form to move it once.
    reschedulable: bool,
    /// `PAGI` or `SIANG`: the session the form starts on.
    session: &'static str,
    /// "1 Desember 2026 sesi PAGI" once the booking was moved.
    moved_from: String,
    /// Said above the proof (a move just made).
    notice: Option<&'a str>,
    /// Each applicant's progress after the counter (name, stage), once anyone reached it.
    progress: Vec<(String, &'static str)>,
    /// The office's pickup hours once a passport is ready.
    pickup_hours: &'a str,
}

async fn proof(app: &App, b: &pb::Booking, phone: &str) -> Response {
    proof_with(app, b, phone, None).await
}

async fn proof_with(app: &App, b: &pb::Booking, phone: &str, notice: Option<&str>) -> Response {
    let page = views::proof_page(&app.backend, b).await;
    let confirmed = pb::BookingStatus::try_from(b.status) == Ok(pb::BookingStatus::Confirmed);
    render(&ProofHtml {
        page: &page,
        title: page.title_lines.first().map_or("", String::as_str),
        subtitle: page.title_lines.get(1..).unwrap_or_default().join(" - "),
        code: &b.booking_code,
        phone,
        cancellable: matches!(
            pb::BookingStatus::try_from(b.status),
            Ok(pb::BookingStatus::Confirmed | pb::BookingStatus::Held)
        ),
        reschedulable: confirmed && b.rescheduled_from_date.is_empty(),
        progress: if b
            .applicants
            .iter()
            .any(|a| a.stage > pb::ApplicationStage::Waiting as i32)
        {
            b.applicants
                .iter()
                .map(|a| {
                    (
                        a.name.clone(),
                        antrean_platform::progress::label(
                            pb::ApplicationStage::try_from(a.stage).unwrap_or_default(),
                        ),
                    )
                })
                .collect()
        } else {
            Vec::new()
        },
        pickup_hours: &b.pickup_hours,
        session: views::session_name(b.session),
        moved_from: if b.rescheduled_from_date.is_empty() {
            String::new()
        } else {
            format!(
                "{} sesi {}",
                antrean_platform::domain::parse_date(&b.rescheduled_from_date).map_or(
                    b.rescheduled_from_date.clone(),
                    antrean_platform::domain::tanggal
                ),
                views::session_name(b.rescheduled_from_session)
            )
        },
        notice,
    })
}

/// `POST /ubah`: the look-up page's form moves the booking (once, up to the day before).
async fn reschedule(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let field = |k: &str| f.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let (code, phone, date) = (field("code"), field("phone"), field("date"));
    let session = match field("session").to_ascii_uppercase().as_str() {
        "PAGI" => pb::Session::Pagi,
        "SIANG" => pb::Session::Siang,
        _ => pb::Session::Unspecified,
    };
    let ip = crate::client::addr(&app, peer, &headers);
    if let Err(e) = crate::ratelimit::lookups(&app, ip, &phone, false).await {
        return error_page(&e);
    }
    let started = tokio::time::Instant::now();
    let r = app
        .backend
        .booking()
        .reschedule_booking(pb::RescheduleBookingRequest {
            booking_code: code,
            contact_phone: phone.clone(),
            date,
            session: session as i32,
            requested_via: pb::Channel::Web as i32,
        })
        .await;
    match r {
        Ok(b) => {
            proof_with(
                &app,
                &b.into_inner(),
                &phone,
                Some("Jadwal berhasil diubah. Rincian baru juga dikirim lewat WhatsApp."),
            )
            .await
        }
        Err(s) => {
            crate::error::pad_failure(started).await;
            let mut e = ApiError::from_status(&s, false);
            // A full session: the dates that still have room, to choose from.
            let next = antrean_platform::status::metadata(&s)
                .get("next_dates")
                .filter(|d| !d.is_empty())
                .map(|d| {
                    d.split(',')
                        .filter_map(antrean_platform::domain::parse_date)
                        .map(antrean_platform::domain::tanggal)
                        .collect::<Vec<_>>()
                        .join(", ")
                });
            if let Some(next) = next {
                e.append_message(&format!("Tanggal yang masih tersedia: {next}."));
            }
            error_page(&e)
        }
    }
}

#[derive(Template)]
#[template(path = "portal/lookup.html")]
struct LookupPage<'a> {
    message: Option<&'a str>,
}

async fn lookup_page() -> Response {
    render(&LookupPage { message: None })
}

async fn lookup(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let code = f.get("code").cloned().unwrap_or_default();
    let phone = f.get("phone").cloned().unwrap_or_default();
    let ip = crate::client::addr(&app, peer, &headers);
    if let Err(e) = crate::ratelimit::lookups(&app, ip, &phone, false).await {
        return error_page(&e);
    }
    let started = tokio::time::Instant::now();
    let r = app
        .backend
        .booking()
        .get_booking(pb::GetBookingRequest {
            key: Some(pb::get_booking_request::Key::BookingCode(code)),
            contact_phone: phone.clone(),
            office_code: String::new(),
        })
        .await;
    match r {
        Ok(b) => proof(&app, &b.into_inner(), &phone).await,
        Err(_) => {
            crate::error::pad_failure(started).await;
            render(&LookupPage {
                message: Some(
                    "Booking tidak ditemukan. Periksa kembali kode booking dan nomor HP.",
                ),
            })
        }
    }
}

async fn cancel(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let code = f.get("code").cloned().unwrap_or_default();
    let phone = f.get("phone").cloned().unwrap_or_default();
    let ip = crate::client::addr(&app, peer, &headers);
    if let Err(e) = crate::ratelimit::lookups(&app, ip, &phone, false).await {
        return error_page(&e);
    }
    let started = tokio::time::Instant::now();
    let r = app
        .backend
        .booking()
        .cancel_booking(pb::CancelBookingRequest {
            booking_code: code,
            contact_phone: phone.clone(),
        })
        .await;
    match r {
        Ok(b) => {
            let b = b.into_inner();
            let text = format!(
                "Booking {} telah dibatalkan. Kuota dikembalikan untuk pemohon lain.",
                b.booking_code
            );
            render(&Message {
                title: "Booking dibatalkan",
                heading: "Booking dibatalkan",
                text: &text,
                link: "/",
                link_label: "Kembali ke daftar kantor",
                ..Message::default()
            })
        }
        Err(s) => {
            crate::error::pad_failure(started).await;
            error_page(&ApiError::from_status(&s, false))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn months_far_out_of_range_are_not_months() {
        assert_eq!(parse_month("2026-12"), NaiveDate::from_ymd_opt(2026, 12, 1));
        for bad in [
            "-262143-01",
            "+262142-12",
            "262142-12",
            "2026-13",
            "2026-1",
            "2026-00",
            "20x6-01",
        ] {
            assert_eq!(parse_month(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn any_month_text_parses_or_not_and_its_calendar_computes(s in "\\PC{0,20}") {
            if let Some(m) = parse_month(&s) {
                // What the calendar computes from it must not overflow.
                let _ = m + Months::new(1) - chrono::Days::new(1);
                let _ = m - Months::new(1);
            }
        }

        #[test]
        fn any_next_page_is_this_portal_s_form_or_home(s in "\\PC{0,80}") {
            let next = safe_next(&s);
            prop_assert!(next == "/" || next.starts_with("/kantor/"));
        }
    }
}
