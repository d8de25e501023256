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
use crate::html::{esc, urlencode};
use crate::views::CHECKLIST;
use antrean_platform::domain::{parse_date, tanggal};
use antrean_proto::v1 as pb;
use axum::Router;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::{Datelike, Months, NaiveDate};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;

const CSS: &str = include_str!("../assets/antrean.css");

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(home))
        .route(
            "/static/antrean.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css")], CSS) }),
        )
        .route("/kantor/{code}", get(office_page))
        .route("/kantor/{code}/pesan", get(form_page).post(submit_form))
        .route("/verifikasi", axum::routing::post(verify_start))
        .route(
            "/verifikasi/konfirmasi",
            axum::routing::post(verify_confirm),
        )
        .route("/cek", get(lookup_page).post(lookup))
        .route("/batal", axum::routing::post(cancel))
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"id\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{} - Antrean Paspor</title><link rel=\"stylesheet\" href=\"/static/antrean.css\"></head>\
<body><header><a href=\"/\">Antrean Paspor</a> &middot; <a href=\"/cek\">Cek / batalkan booking</a></header>\
<main id=\"isi\">{body}</main></body></html>",
        esc(title)
    ))
}

fn error_page(e: &ApiError) -> Response {
    e.page(page("Terjadi masalah", &format!("<h1>Terjadi masalah</h1><p class=\"alert\" role=\"alert\">{}</p><p><a href=\"/\">Kembali</a></p>", esc(&e.message_text()))))
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
    let mut list = String::new();
    let mut n = 0;
    for o in offices.iter().filter(|o| {
        needle.is_empty()
            || o.name.to_lowercase().contains(&needle)
            || o.city.to_lowercase().contains(&needle)
    }) {
        n += 1;
        let wa = o.whatsapp.clone().unwrap_or_default();
        let _ = write!(
            list,
            "<li><a href=\"/kantor/{}\">{}</a><br><span class=\"muted\">{} &middot; {} &middot; WhatsApp {}</span></li>",
            esc(&o.code),
            esc(&o.name),
            esc(&o.city),
            esc(&o.address),
            esc(&wa.display_phone_number)
        );
    }
    let body = format!(
        "<h1>Pilih kantor imigrasi</h1>\
<form method=\"get\" action=\"/\" role=\"search\"><label for=\"q\">Cari kota atau nama kantor</label>\
<input id=\"q\" name=\"q\" value=\"{}\" autocomplete=\"off\"><button type=\"submit\">Cari</button></form>\
<p class=\"muted\" aria-live=\"polite\">{n} kantor</p><ul class=\"offices\">{list}</ul>",
        esc(&q)
    );
    page("Pilih kantor", &body).into_response()
}

#[derive(Debug, Deserialize)]
struct MonthQuery {
    bulan: Option<String>,
}

fn closed_label(reason: &str, note: &str) -> String {
    let base = match reason {
        "WEEKEND" => "Tutup",
        "HOLIDAY" => "Libur",
        "CLOSED_BY_OFFICE" => "Tutup",
        _ => "&mdash;",
    };
    if note.is_empty() {
        base.to_owned()
    } else {
        format!("{base}<br><span class=\"muted\">{}</span>", esc(note))
    }
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
    let mut cal = String::from(
        "<table class=\"calendar\"><caption class=\"muted\">Sisa kuota per sesi</caption><thead><tr>",
    );
    for h in ["Sen", "Sel", "Rab", "Kam", "Jum", "Sab", "Min"] {
        let _ = write!(cal, "<th scope=\"col\">{h}</th>");
    }
    cal.push_str("</tr></thead><tbody><tr>");
    let lead = month_start.weekday().num_days_from_monday();
    for _ in 0..lead {
        cal.push_str("<td></td>");
    }
    let mut col = lead;
    for date in month_start.iter_days().take_while(|d| *d <= month_end) {
        if col == 7 {
            cal.push_str("</tr><tr>");
            col = 0;
        }
        col += 1;
        let key = date.to_string();
        match by_date.get(&key) {
            Some(d) if d.open => {
                let _ = write!(cal, "<td><div class=\"day\">{}</div>", date.day());
                for s in &d.sessions {
                    let name = if s.session == pb::Session::Siang as i32 {
                        "SIANG"
                    } else {
                        "PAGI"
                    };
                    if s.remaining > 0 {
                        let _ = write!(
                            cal,
                            "<a href=\"/kantor/{}/pesan?tanggal={key}&amp;sesi={name}\" aria-label=\"{} sesi {name}: sisa {}\">{name} {}</a>",
                            esc(&office.code),
                            tanggal(date),
                            s.remaining,
                            s.remaining
                        );
                    } else {
                        let _ = write!(cal, "<div class=\"muted\">{name} penuh</div>");
                    }
                }
                cal.push_str("</td>");
            }
            Some(d) => {
                let _ = write!(
                    cal,
                    "<td class=\"closed\"><div class=\"day\">{}</div>{}</td>",
                    date.day(),
                    closed_label(&d.closed_reason, &d.note)
                );
            }
            None => {
                let _ = write!(
                    cal,
                    "<td class=\"closed\"><div class=\"day\">{}</div>&mdash;</td>",
                    date.day()
                );
            }
        }
    }
    cal.push_str("</tr></tbody></table>");
    let prev = month_start - Months::new(1);
    let next = month_start + Months::new(1);
    let wa = office.whatsapp.clone().unwrap_or_default();
    let alert = if bad_month {
        "<p class=\"alert\" role=\"alert\">Bulan tidak valid (format YYYY-MM, tahun 2000-2100); ditampilkan bulan depan.</p>"
    } else {
        ""
    };
    let body = format!(
        "{alert}<h1>{}</h1><p class=\"muted\">{} &middot; WhatsApp {} &middot; zona waktu {}</p>\
<h2>{} {}</h2><p><a href=\"?bulan={}\">&larr; Bulan sebelumnya</a> &middot; <a href=\"?bulan={}\">Bulan berikutnya &rarr;</a></p>{cal}\
<p class=\"notice\">Pilih sesi pada tanggal yang masih ada kuotanya. Kuota sama dengan layanan WhatsApp kantor ini.</p>",
        esc(&office.name),
        esc(&office.address),
        esc(&wa.display_phone_number),
        esc(&office.timezone_abbreviation),
        antrean_platform::domain::bulan(month_start),
        month_start.year(),
        prev.format("%Y-%m"),
        next.format("%Y-%m")
    );
    let status = if bad_month {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, page(&office.name, &body)).into_response()
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

fn form_html(
    f: &FormFor<'_>,
    values: &HashMap<String, String>,
    errors: &HashMap<String, String>,
    message: Option<&str>,
) -> String {
    let FormFor {
        office,
        date,
        session,
        key,
        phone_masked,
    } = *f;
    let v = |k: &str| esc(values.get(k).map_or("", String::as_str));
    let field = |id: &str, label: &str, kind: &str, extra: &str| {
        let err = errors
            .get(id)
            .map(|e| format!("<span class=\"error\" id=\"{id}-err\">{}</span>", esc(e)))
            .unwrap_or_default();
        let described = if errors.contains_key(id) {
            format!(" aria-invalid=\"true\" aria-describedby=\"{id}-err\"")
        } else {
            String::new()
        };
        format!(
            "<label for=\"{id}\">{label}</label><input id=\"{id}\" name=\"{id}\" type=\"{kind}\" value=\"{}\"{extra}{described}>{err}",
            v(id)
        )
    };
    let mut people = String::new();
    for i in 0..5 {
        let req = if i == 0 { " required" } else { "" };
        let kind_value = values
            .get(&format!("type_{i}"))
            .map_or("NEW", String::as_str);
        let _ = write!(
            people,
            "<fieldset><legend>Pemohon {}{}</legend>{}{}{}<label for=\"type_{i}\">Jenis permohonan</label>\
<select id=\"type_{i}\" name=\"type_{i}\"><option value=\"NEW\"{}>Paspor baru</option><option value=\"REPLACEMENT\"{}>Penggantian (penuh/habis berlaku)</option></select></fieldset>",
            i + 1,
            if i == 0 { "" } else { " (opsional)" },
            field(
                &format!("nik_{i}"),
                "NIK (16 digit)",
                "text",
                &format!(" inputmode=\"numeric\" pattern=\"[0-9]{{16}}\" maxlength=\"16\"{req}")
            ),
            field(
                &format!("name_{i}"),
                "Nama lengkap",
                "text",
                &format!(" autocomplete=\"name\"{req}")
            ),
            field(&format!("birth_{i}"), "Tanggal lahir", "date", req),
            if kind_value == "NEW" { " selected" } else { "" },
            if kind_value == "REPLACEMENT" {
                " selected"
            } else {
                ""
            },
        );
    }
    let alert = message
        .map(|m| format!("<p class=\"alert\" role=\"alert\">{}</p>", esc(m)))
        .unwrap_or_default();
    let date_label = parse_date(date).map_or(date.to_owned(), tanggal);
    format!(
        "<h1>Pesan antrean</h1><p>{} &middot; {date_label} &middot; sesi {}</p>{alert}\
<form method=\"post\" action=\"/kantor/{}/pesan\" novalidate>\
<input type=\"hidden\" name=\"key\" value=\"{}\"><input type=\"hidden\" name=\"tanggal\" value=\"{}\"><input type=\"hidden\" name=\"sesi\" value=\"{}\">\
<p class=\"muted\" id=\"kontak\">Nomor HP terverifikasi: {}</p>{people}\
<button type=\"submit\">Pesan antrean</button></form>",
        esc(&office.name),
        esc(session),
        esc(&office.code),
        esc(key),
        esc(date),
        esc(session),
        esc(phone_masked),
    )
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
    let html = form_html(&form, &HashMap::new(), &HashMap::new(), None);
    page("Pesan antrean", &html).into_response()
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

/// Where to go once verified: only this portal's booking form.
fn safe_next(next: &str) -> String {
    let ok = next.starts_with("/kantor/")
        && next
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/?=&-_%.".contains(&b));
    if ok { next.to_owned() } else { "/".to_owned() }
}

/// Step 1: the phone (and e-mail) that receives the verification code.
fn verify_page(next: &str, message: Option<&str>, phone: &str, email: &str) -> Response {
    let alert = message
        .map(|m| format!("<p class=\"alert\" role=\"alert\">{}</p>", esc(m)))
        .unwrap_or_default();
    page(
        "Verifikasi nomor HP",
        &format!(
            "<h1>Verifikasi nomor HP</h1><p>Sebelum memesan, buktikan bahwa nomor HP ini milik Anda: kami kirim kode 6 angka lewat WhatsApp (dan ke e-mail bila diisi). Satu nomor HP dapat memesan untuk paling banyak 5 orang.</p>{alert}\
<form method=\"post\" action=\"/verifikasi\"><input type=\"hidden\" name=\"lanjut\" value=\"{}\">\
<label for=\"phone\">Nomor HP (WhatsApp)</label><input id=\"phone\" name=\"phone\" type=\"tel\" autocomplete=\"tel\" value=\"{}\" required>\
<label for=\"email\">E-mail (opsional)</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\" value=\"{}\">\
<button type=\"submit\">Kirim kode verifikasi</button></form>",
            esc(&safe_next(next)),
            esc(phone),
            esc(email)
        ),
    )
    .into_response()
}

/// Step 2: the code.
fn code_page(next: &str, id: &str, phone: &str, message: Option<&str>) -> Response {
    let alert = message
        .map(|m| format!("<p class=\"alert\" role=\"alert\">{}</p>", esc(m)))
        .unwrap_or_default();
    page(
        "Kode verifikasi",
        &format!(
            "<h1>Masukkan kode verifikasi</h1><p class=\"notice\">Kode 6 angka sudah dikirim lewat WhatsApp ke {}. Kode berlaku 10 menit.</p>{alert}\
<form method=\"post\" action=\"/verifikasi/konfirmasi\"><input type=\"hidden\" name=\"lanjut\" value=\"{}\">\
<input type=\"hidden\" name=\"id\" value=\"{}\"><input type=\"hidden\" name=\"phone\" value=\"{}\">\
<label for=\"code\">Kode verifikasi</label><input id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" pattern=\"[0-9]{{6}}\" maxlength=\"6\" required>\
<button type=\"submit\">Verifikasi</button></form>",
            esc(&antrean_platform::phone::mask(phone)),
            esc(&safe_next(next)),
            esc(id),
            esc(phone)
        ),
    )
    .into_response()
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
        });
    }
    let render = |errors: &HashMap<String, String>, message: Option<&str>| {
        page("Pesan antrean", &form_html(&form, &values, errors, message)).into_response()
    };
    if !errors.is_empty() {
        return render(&errors, Some("Periksa kembali data yang ditandai."));
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
            Ok(e) => page(
                "Daftar tunggu",
                &format!(
                    "<h1>Anda di daftar tunggu</h1><p class=\"notice\" role=\"status\" id=\"daftar-tunggu\">Urutan ke-{} untuk {} sesi {} di {}.</p>\
<p>Bila ada kursi kosong untuk seluruh rombongan, kode konfirmasi dikirim lewat WhatsApp ke nomor HP Anda. Masukkan atau balas kode itu sebelum batas waktunya.</p>",
                    e.get_ref().position,
                    esc(&date),
                    esc(&session),
                    esc(&office.name)
                ),
            )
            .into_response(),
            Err(s) => render(&HashMap::new(), Some(&ApiError::from_status(&s, false).message_text())),
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
        Err(s)
            if antrean_platform::status::reason(&s).as_deref() == Some("CONTACT_NOT_VERIFIED") =>
        {
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
            if antrean_platform::status::reason(&s).as_deref() == Some("SOLD_OUT") {
                // A full session offers its waitlist: the same form, posted again.
                let html = form_html(&form, &values, &errors, Some(&e.message_text()))
                    .replacen(
                        "</form>",
                        "<p>Sesi ini penuh. Anda dapat masuk daftar tunggu: bila ada pembatalan, kursi ditawarkan lewat WhatsApp.</p>\
<button type=\"submit\" name=\"tunggu\" value=\"ya\" class=\"secondary\">Masuk daftar tunggu</button></form>",
                        1,
                    );
                return page("Pesan antrean", &html).into_response();
            }
            return render(&errors, Some(&e.message_text()));
        }
    };
    if let Some(e) = created.entry {
        return page(
            "Undian",
            &format!(
                "<h1>Anda terdaftar dalam undian</h1><p class=\"notice\" role=\"status\" id=\"undian\">Tanggal {} baru dibuka: kursi dibagikan dengan undian, bukan siapa cepat. Hasilnya dikirim lewat WhatsApp sekitar pukul {}.</p>\
<p>Nomor undian Anda: <strong>{}</strong>. Urutan undian dapat diperiksa di <a href=\"/api/v1/draws/{}/{}\">halaman undian</a> setelah diundi.</p>",
                esc(&date),
                esc(&e.draw_at_local),
                esc(&e.entry_id),
                esc(&office.code),
                esc(&date)
            ),
        )
        .into_response();
    }
    // The contact is proven: the booking is confirmed already.
    let booking = created.booking.unwrap_or_default();
    proof(&app, &booking, &contact.phone).await
}

async fn proof(app: &App, b: &pb::Booking, phone: &str) -> Response {
    let p = crate::views::proof_page(&app.backend, b).await;
    let mut rows = String::new();
    for (k, v) in &p.rows {
        let _ = write!(
            rows,
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            esc(k),
            esc(v)
        );
    }
    for a in &p.applicants {
        let _ = write!(
            rows,
            "<tr><th scope=\"row\">{}</th><td>{} - {}</td></tr>",
            esc(&a.queue_number),
            esc(&a.name),
            esc(&a.schedule.replacen("Jadwal", "jadwal", 1))
        );
    }
    let checklist: String = CHECKLIST
        .iter()
        .map(|c| format!("<li>{}</li>", esc(c)))
        .collect();
    let q = format!("phone={}", esc(&urlencode(phone)));
    let cancel = if matches!(
        pb::BookingStatus::try_from(b.status),
        Ok(pb::BookingStatus::Confirmed | pb::BookingStatus::Held)
    ) {
        format!(
            "<form method=\"post\" action=\"/batal\"><input type=\"hidden\" name=\"code\" value=\"{}\"><input type=\"hidden\" name=\"phone\" value=\"{}\">\
<button type=\"submit\" class=\"secondary\">Batalkan booking</button></form>",
            esc(&b.booking_code),
            esc(phone)
        )
    } else {
        String::new()
    };
    let body = format!(
        "<h1>Bukti booking</h1><p>{}<br><span class=\"muted\">{}</span></p><p>Kode booking</p><p class=\"code\" id=\"kode-booking\">{}</p>\
<div class=\"qr\"><img src=\"/api/v1/bookings/{}/qr.svg?{q}\" alt=\"Kode QR booking {}\" width=\"200\" height=\"200\"></div>\
<table>{rows}</table><h2>Yang perlu dibawa</h2><ul>{checklist}</ul>\
<p><a class=\"button\" href=\"/api/v1/bookings/{}/proof.pdf?{q}\">Unduh PDF</a></p>{cancel}",
        esc(p.title_lines.first().map_or("", String::as_str)),
        esc(&p.title_lines.get(1..).unwrap_or_default().join(" - ")),
        esc(&b.booking_code),
        esc(&b.booking_code),
        esc(&b.booking_code),
        esc(&b.booking_code)
    );
    page("Bukti booking", &body).into_response()
}

fn lookup_form(message: Option<&str>) -> String {
    let alert = message
        .map(|m| format!("<p class=\"alert\" role=\"alert\">{}</p>", esc(m)))
        .unwrap_or_default();
    format!(
        "<h1>Cek atau batalkan booking</h1>{alert}<form method=\"post\" action=\"/cek\">\
<label for=\"code\">Kode booking</label><input id=\"code\" name=\"code\" autocomplete=\"off\" required>\
<label for=\"phone\">Nomor HP yang dipakai memesan</label><input id=\"phone\" name=\"phone\" type=\"tel\" autocomplete=\"tel\" required>\
<button type=\"submit\">Cek booking</button></form>"
    )
}

async fn lookup_page() -> Response {
    page("Cek booking", &lookup_form(None)).into_response()
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
        })
        .await;
    match r {
        Ok(b) => proof(&app, &b.into_inner(), &phone).await,
        Err(_) => {
            crate::error::pad_failure(started).await;
            page(
                "Cek booking",
                &lookup_form(Some(
                    "Booking tidak ditemukan. Periksa kembali kode booking dan nomor HP.",
                )),
            )
            .into_response()
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
            page("Booking dibatalkan", &format!(
                "<h1>Booking dibatalkan</h1><p class=\"notice\" role=\"status\">Booking {} telah dibatalkan. Kuota dikembalikan untuk pemohon lain.</p><p><a href=\"/\">Kembali ke daftar kantor</a></p>",
                esc(&b.booking_code)
            )).into_response()
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
