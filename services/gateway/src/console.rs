//! The staff console (`/petugas`) and the public queue display (`/layar/{office}`).
//!
//! Staff sign in with their username and password (checked by the identity service, which
//! answers an actor token). The session lives in `gateway.staff_sessions`: the cookie holds a
//! random secret (HttpOnly, Secure, SameSite=Strict) and the table only its SHA-256; every
//! form carries the session's CSRF token. Each action calls the owning service with the
//! staff member's actor token, so the services decide what this person may do where; the
//! console only hides what the role cannot use.
use crate::App;
use crate::error::{ApiError, error_response};
use crate::html::{esc, urlencode};
use antrean_platform::actor::with_token;
use antrean_proto::v1 as pb;
use axum::Router;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Duration;
use sha2::{Digest, Sha256};
use sqlx::FromRow;
use std::collections::HashMap;
use std::sync::Arc;

pub const COOKIE: &str = "antrean_petugas";
const SESSION_HOURS: i64 = 12;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/petugas/masuk", get(login_page).post(login))
        .route("/petugas/keluar", post(logout))
        .route("/petugas", get(console))
        .route("/petugas/checkin", post(check_in))
        .route("/petugas/panggil", post(call_next))
        .route("/petugas/tiket/{id}/{aksi}", post(ticket_action))
        .route("/petugas/walkin", post(walk_in))
        .route("/petugas/kapasitas", post(capacity))
        .route("/petugas/prioritas", post(priority))
        .route("/petugas/tutup", post(close_date))
        .route("/petugas/konfirmasi-ulang", post(reconfirmation))
        .route("/petugas/hari-khusus", post(special_day))
        .route("/petugas/rilis", post(release_rule))
        .route("/layar/{office}", get(display_page))
        .route("/layar/{office}/events", get(display_events))
}

#[derive(Debug, Clone, FromRow)]
struct Session {
    token_enc: Vec<u8>,
    csrf: String,
    display_name: String,
    role: String,
    office_code: String,
}

impl Session {
    fn admin(&self) -> bool {
        self.role == "DIRECTORATE_ADMIN"
    }

    fn manages(&self) -> bool {
        self.role != "OFFICE_STAFF"
    }

    fn role_label(&self) -> &'static str {
        antrean_platform::actor::Role::parse(&self.role).map_or("", |r| r.label())
    }
}

fn hex_sha256(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn random_hex(bytes: usize) -> String {
    let v: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(v)
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// Constant-time equality of two short strings.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub fn shell_page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"id\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{} - Konsol Petugas</title><link rel=\"stylesheet\" href=\"/static/antrean.css\"></head>\
<body class=\"konsol\"><header><a href=\"/petugas\">Konsol Petugas Antrean Paspor</a></header>\
<main id=\"isi\">{body}</main></body></html>",
        esc(title)
    ))
}

fn login_form(message: Option<&str>) -> String {
    let alert = message
        .map(|m| format!("<p class=\"alert\" role=\"alert\">{}</p>", esc(m)))
        .unwrap_or_default();
    format!(
        "<h1>Masuk petugas</h1>{alert}<form method=\"post\" action=\"/petugas/masuk\">\
<label>Nama pengguna <input name=\"username\" autocomplete=\"username\" required></label>\
<label>Kata sandi <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
<button type=\"submit\">Masuk</button></form>"
    )
}

async fn login_page() -> Response {
    shell_page("Masuk", &login_form(None)).into_response()
}

async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let field = |k: &str| f.get(k).cloned().unwrap_or_default();
    // Limited per client network and per username across every replica before any password
    // is checked: each check costs identity an Argon2 hash.
    let network = crate::client::network(crate::client::addr(&app, peer, &headers));
    let username = crate::ratelimit::hashed(&field("username").trim().to_lowercase());
    if let Err(r) = app
        .shared
        .check_all(&[
            (&app.fair.signins_per_network, &network),
            (&app.fair.signins_per_user, &username),
        ])
        .await
    {
        let e = ApiError::refused(false, r);
        return e.page(shell_page("Masuk", &login_form(Some(&e.message_text()))));
    }
    let staff = app
        .backend
        .identity()
        .authenticate_staff(pb::AuthenticateStaffRequest {
            username: field("username"),
            password: field("password"),
        })
        .await;
    let staff = match staff {
        Ok(s) => s.into_inner(),
        Err(s) => {
            let e = ApiError::from_status(&s, false);
            let code = match e.status {
                StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => e.status,
                _ => StatusCode::UNAUTHORIZED,
            };
            return (
                code,
                shell_page("Masuk", &login_form(Some(&e.message_text()))),
            )
                .into_response();
        }
    };
    let now = app.clock.now();
    let expires = staff
        .access_expires_at
        .as_ref()
        .and_then(antrean_platform::domain::from_timestamp)
        .unwrap_or(now)
        .min(now + Duration::hours(SESSION_HOURS));
    let secret = random_hex(32);
    let role = pb::StaffRole::try_from(staff.role)
        .map(|r| r.as_str_name().trim_start_matches("STAFF_ROLE_").to_owned())
        .unwrap_or_default();
    // Expired sessions go as new ones come.
    let _ = sqlx::query("DELETE FROM staff_sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&app.pool)
        .await;
    let stored = sqlx::query(
        "INSERT INTO staff_sessions (id, token_enc, csrf, username, display_name, role,
            office_code, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(hex_sha256(&secret))
    .bind(app.pii.encrypt(&staff.access_token))
    .bind(random_hex(16))
    .bind(&staff.username)
    .bind(&staff.display_name)
    .bind(&role)
    .bind(&staff.office_code)
    .bind(now)
    .bind(expires)
    .execute(&app.pool)
    .await;
    if let Err(e) = stored {
        tracing::error!(error = %e, "staff session not stored");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            shell_page(
                "Masuk",
                &login_form(Some(
                    "Layanan sedang tidak tersedia. Silakan coba beberapa saat lagi.",
                )),
            ),
        )
            .into_response();
    }
    let max_age = (expires - now).num_seconds().max(0);
    let cookie =
        format!("{COOKIE}={secret}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}");
    let mut r = Redirect::to("/petugas").into_response();
    // The cookie is ASCII (hex and digits); were it not, no session would be set.
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn session(app: &App, headers: &HeaderMap) -> Option<Session> {
    let secret = cookie_value(headers)?;
    sqlx::query_as(
        "SELECT token_enc, csrf, display_name, role, office_code FROM staff_sessions
         WHERE id = $1 AND expires_at > $2",
    )
    .bind(hex_sha256(&secret))
    .bind(app.clock.now())
    .fetch_optional(&app.pool)
    .await
    .ok()
    .flatten()
}

/// A signed-in staff member, for pages beyond the console (the dashboard).
#[derive(Clone)]
pub struct StaffContext {
    pub token: String,
    pub role: String,
    pub office_code: String,
}

impl StaffContext {
    pub fn admin(&self) -> bool {
        self.role == "DIRECTORATE_ADMIN"
    }

    pub fn manages(&self) -> bool {
        self.role != "OFFICE_STAFF"
    }
}

/// The staff member behind a page request, or the redirect to sign-in.
pub async fn session_context(app: &App, headers: &HeaderMap) -> Result<StaffContext, Response> {
    let s = session(app, headers).await.ok_or_else(to_login)?;
    let token = app.pii.decrypt(&s.token_enc).map_err(|_| to_login())?;
    Ok(StaffContext {
        token,
        role: s.role,
        office_code: s.office_code,
    })
}

fn to_login() -> Response {
    Redirect::to("/petugas/masuk").into_response()
}

async fn logout(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if let (Some(secret), Some(s)) = (cookie_value(&headers), session(&app, &headers).await)
        && same(
            f.get("csrf").map(String::as_str).unwrap_or_default(),
            &s.csrf,
        )
    {
        let _ = sqlx::query("DELETE FROM staff_sessions WHERE id = $1")
            .bind(hex_sha256(&secret))
            .execute(&app.pool)
            .await;
    }
    let mut r = to_login();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "antrean_petugas=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0",
        ),
    );
    r
}

/// The office the console works on: an admin picks any (`kantor`), others have their own.
fn office_of(s: &Session, asked: Option<&String>) -> String {
    if s.admin() {
        asked
            .map(|o| o.trim().to_uppercase())
            .filter(|o| !o.is_empty())
            .unwrap_or_else(|| "BOGOR".to_owned())
    } else {
        s.office_code.clone()
    }
}

/// What an action answered, shown above the forms.
enum Outcome {
    None,
    Ok(String),
    Err(String),
}

fn status_message(s: &tonic::Status) -> String {
    let e = ApiError::from_status(s, false);
    let fields = e.field_errors();
    if fields.is_empty() {
        e.message_text()
    } else {
        let list: Vec<String> = fields.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        format!("{} {}", e.message_text(), list.join("; "))
    }
}

fn ticket_panel(t: &pb::QueueTicket, office: &str, csrf: &str) -> String {
    let who = if t.name.is_empty() {
        String::new()
    } else {
        format!(" &middot; {}", esc(&t.name))
    };
    let lane = if t.priority { " (prioritas)" } else { "" };
    let button = |aksi: &str, label: &str| {
        format!(
            "<form method=\"post\" action=\"/petugas/tiket/{}/{aksi}\" class=\"inline\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"kantor\" value=\"{}\">\
<button type=\"submit\">{label}</button></form>",
            esc(&t.ticket_id),
            esc(office)
        )
    };
    let actions = if t.state == "CALLED" {
        format!(
            "{}{}{}",
            button("panggil-ulang", "Panggil ulang"),
            button("lewati", "Lewati (tidak hadir)"),
            button("selesai", "Selesai dilayani")
        )
    } else {
        String::new()
    };
    format!(
        "<section class=\"tiket\" aria-live=\"polite\"><h2>Nomor <span id=\"nomor\">{}</span>{lane}</h2>\
<p>Status: <strong id=\"status-tiket\">{}</strong> &middot; {}{who}</p>{actions}</section>",
        esc(&t.queue_number),
        esc(&t.state),
        esc(&t.counter)
    )
}

async fn render(app: &App, s: &Session, office: &str, outcome: Outcome, extra: &str) -> Response {
    let csrf = esc(&s.csrf);
    let office_e = esc(office);
    let hidden = format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"kantor\" value=\"{office_e}\">"
    );
    let message = match outcome {
        Outcome::None => String::new(),
        Outcome::Ok(m) => format!("<p class=\"ok\" role=\"status\">{}</p>", esc(&m)),
        Outcome::Err(m) => format!("<p class=\"alert\" role=\"alert\">{}</p>", esc(&m)),
    };
    let picker = if s.admin() {
        let offices = app.backend.offices().await.unwrap_or_default();
        let options: String = offices
            .iter()
            .map(|o| {
                format!(
                    "<option value=\"{}\"{}>{}</option>",
                    esc(&o.code),
                    if o.code == office { " selected" } else { "" },
                    esc(&o.name)
                )
            })
            .collect();
        format!(
            "<form method=\"get\" action=\"/petugas\" class=\"inline\"><label>Kantor <select name=\"kantor\">{options}</select></label>\
<button type=\"submit\">Pilih</button></form>"
        )
    } else {
        String::new()
    };
    let manage = if s.manages() {
        format!(
            "<section><h2>Kuota dan kalender</h2>\
<form method=\"post\" action=\"/petugas/kapasitas\">{hidden}<label>Tanggal <input name=\"tanggal\" type=\"date\" required></label>\
<label>Sesi <select name=\"sesi\"><option>PAGI</option><option>SIANG</option></select></label>\
<label>Kapasitas online <input name=\"kapasitas\" type=\"number\" min=\"0\" max=\"10000\" required></label>\
<button type=\"submit\">Simpan kapasitas</button></form>\
<form method=\"post\" action=\"/petugas/prioritas\">{hidden}<label>Tanggal <input name=\"tanggal\" type=\"date\" required></label>\
<label>Sesi <select name=\"sesi\"><option>PAGI</option><option>SIANG</option></select></label>\
<label>Kuota prioritas (walk-in) <input name=\"kuota\" type=\"number\" min=\"0\" max=\"1000\" required></label>\
<label>Batas waktu (JJ:MM) <input name=\"batas\" placeholder=\"09:00\"></label>\
<button type=\"submit\">Simpan kuota prioritas</button></form>\
<form method=\"post\" action=\"/petugas/tutup\">{hidden}<label>Tanggal <input name=\"tanggal\" type=\"date\" required></label>\
<label>Alasan <input name=\"alasan\" required></label><button type=\"submit\">Tutup tanggal</button></form>\
<form method=\"post\" action=\"/petugas/hari-khusus\">{hidden}<label>Tanggal <input name=\"tanggal\" type=\"date\" required></label>\
<label>Nama kegiatan <input name=\"nama\" required placeholder=\"Paspor Simpatik\"></label>\
<label>Kapasitas pagi <input name=\"pagi\" type=\"number\" min=\"0\" max=\"10000\" value=\"0\"></label>\
<label>Kapasitas siang <input name=\"siang\" type=\"number\" min=\"0\" max=\"10000\" value=\"0\"></label>\
<button type=\"submit\">Buka hari khusus</button></form>\
<form method=\"post\" action=\"/petugas/konfirmasi-ulang\">{hidden}<label><input type=\"checkbox\" name=\"wajib\" value=\"ya\"> Pengingat H-1 meminta konfirmasi ulang</label>\
<label>Batas konfirmasi H-1 (JJ:MM) <input name=\"batas\" placeholder=\"20:00\"></label><button type=\"submit\">Simpan konfirmasi ulang</button></form>\
<form method=\"post\" action=\"/petugas/rilis\">{hidden}<label>Jam rilis tanggal baru (JJ:MM) <input name=\"jam\" placeholder=\"00:00\"></label>\
<label>Jendela undian (detik, 0 = tanpa undian) <input name=\"jendela\" type=\"number\" min=\"0\" max=\"86400\" value=\"300\"></label>\
<button type=\"submit\">Simpan aturan rilis</button></form></section>"
        )
    } else {
        String::new()
    };
    let dashboard = if s.manages() {
        format!(
            " &middot; <a href=\"/petugas/dasbor?kantor={}\">Dasbor</a>",
            urlencode(if s.admin() { "" } else { office })
        )
    } else {
        String::new()
    };
    let body = format!(
        "<p class=\"siapa\">Masuk sebagai <strong>{}</strong> ({}) &middot; Kantor <strong id=\"kantor\">{office_e}</strong> {picker}\
<form method=\"post\" action=\"/petugas/keluar\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\">Keluar</button></form></p>\
{message}{extra}\
<section><h2>Check-in di pintu</h2><form method=\"post\" action=\"/petugas/checkin\" id=\"form-checkin\">{hidden}\
<label>Kode booking <input name=\"kode\" id=\"kode\" autocomplete=\"off\" required placeholder=\"7K3M-9QX2-HT4R-D\"></label>\
<button type=\"submit\">Check-in</button> <button type=\"button\" id=\"pindai\" hidden>Pindai QR</button></form>\
<video id=\"kamera\" hidden playsinline muted></video></section>\
<section><h2>Panggil antrean</h2><form method=\"post\" action=\"/petugas/panggil\">{hidden}\
<label>Loket <input name=\"loket\" required placeholder=\"Loket 1\"></label><button type=\"submit\">Panggil berikutnya</button></form>\
<p><a href=\"/layar/{office_e}\" target=\"_blank\">Buka layar antrean</a>{dashboard}</p></section>\
<section><h2>Layanan prioritas tanpa booking</h2><form method=\"post\" action=\"/petugas/walkin\">{hidden}\
<label>Nama <input name=\"nama\"></label><label>Sesi <select name=\"sesi\"><option>PAGI</option><option>SIANG</option></select></label>\
<label>Alasan <select name=\"alasan\"><option value=\"ELDERLY\">Lansia</option><option value=\"DISABLED\">Disabilitas</option>\
<option value=\"PREGNANT\">Ibu hamil</option><option value=\"NURSING\">Ibu menyusui</option><option value=\"INFANT\">Bayi / balita</option></select></label>\
<button type=\"submit\">Beri nomor prioritas</button></form>\
<form method=\"post\" action=\"/petugas/walkin\">{hidden}<label>Kode booking yang hangus <input name=\"hangus\" required></label>\
<button type=\"submit\">Pindahkan ke antrean walk-in</button></form></section>{manage}\
<script>{SCAN_JS}</script>",
        esc(&s.display_name),
        s.role_label(),
    );
    shell_page("Konsol", &body).into_response()
}

/// Camera QR scanning where the browser has BarcodeDetector (Chromium on Android and
/// desktop); otherwise the code is typed.
const SCAN_JS: &str = r#"(function(){
if(!('BarcodeDetector' in window)||!navigator.mediaDevices)return;
var b=document.getElementById('pindai'),v=document.getElementById('kamera');b.hidden=false;
b.onclick=async function(){var d=new BarcodeDetector({formats:['qr_code']});
var s=await navigator.mediaDevices.getUserMedia({video:{facingMode:'environment'}});v.srcObject=s;v.hidden=false;await v.play();
(async function loop(){var c=await d.detect(v).catch(function(){return[]});
if(c.length){s.getTracks().forEach(function(t){t.stop()});v.hidden=true;
document.getElementById('kode').value=c[0].rawValue;document.getElementById('form-checkin').submit();}
else requestAnimationFrame(loop);})();};})();"#;

async fn console(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(s) = session(&app, &headers).await else {
        return to_login();
    };
    let office = office_of(&s, q.get("kantor"));
    render(&app, &s, &office, Outcome::None, "").await
}

/// A console form POST: the signed-in staff member (after the CSRF check), the office the
/// form acts on, the actor token for the services, and the fields.
struct Posted {
    app: Arc<App>,
    session: Session,
    office: String,
    token: String,
    form: HashMap<String, String>,
}

impl axum::extract::FromRequest<Arc<App>> for Posted {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, app: &Arc<App>) -> Result<Self, Response> {
        let headers = req.headers().clone();
        let Form(form) = Form::<HashMap<String, String>>::from_request(req, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let Some(session) = session(app, &headers).await else {
            return Err(to_login());
        };
        if !same(
            form.get("csrf").map(String::as_str).unwrap_or_default(),
            &session.csrf,
        ) {
            return Err((
                StatusCode::FORBIDDEN,
                shell_page(
                    "Ditolak",
                    "<p class=\"alert\" role=\"alert\">Formulir kedaluwarsa atau tidak sah. Muat ulang halaman lalu coba lagi.</p>",
                ),
            )
                .into_response());
        }
        let office = office_of(&session, form.get("kantor"));
        let token = app
            .pii
            .decrypt(&session.token_enc)
            .map_err(|_| to_login())?;
        Ok(Posted {
            app: app.clone(),
            session,
            office,
            token,
            form,
        })
    }
}

impl Posted {
    fn field(&self, k: &str) -> String {
        self.form.get(k).cloned().unwrap_or_default()
    }

    /// A request to a service, carrying this staff member's actor token.
    fn request<T>(&self, msg: T) -> tonic::Request<T> {
        with_token(tonic::Request::new(msg), &self.token)
    }

    /// The console again, with what the action answered.
    async fn show(&self, outcome: Outcome, extra: &str) -> Response {
        render(&self.app, &self.session, &self.office, outcome, extra).await
    }

    /// A ticket the action answered, or the service's refusal.
    async fn show_ticket(
        &self,
        r: Result<tonic::Response<pb::QueueTicket>, tonic::Status>,
        ok: Option<String>,
    ) -> Response {
        match r {
            Ok(t) => {
                let panel = ticket_panel(t.get_ref(), &self.office, &self.session.csrf);
                self.show(ok.map_or(Outcome::None, Outcome::Ok), &panel)
                    .await
            }
            Err(e) => self.show(Outcome::Err(status_message(&e)), "").await,
        }
    }

    /// A message from the answer, or the service's refusal.
    async fn show_result<T>(
        &self,
        r: Result<tonic::Response<T>, tonic::Status>,
        ok: impl FnOnce(&T) -> String,
    ) -> Response {
        let outcome = match r {
            Ok(v) => Outcome::Ok(ok(v.get_ref())),
            Err(e) => Outcome::Err(status_message(&e)),
        };
        self.show(outcome, "").await
    }
}

fn session_of(v: &str) -> i32 {
    match v {
        "SIANG" => pb::Session::Siang as i32,
        _ => pb::Session::Pagi as i32,
    }
}

async fn check_in(p: Posted) -> Response {
    let r = p
        .app
        .backend
        .booking()
        .check_in(p.request(pb::CheckInRequest {
            booking_code: p.field("kode"),
            office_code: p.office.clone(),
            at: None,
        }))
        .await;
    let b = match r {
        Ok(b) => b.into_inner(),
        Err(e) => return p.show(Outcome::Err(status_message(&e)), "").await,
    };
    let people: Vec<String> = b
        .applicants
        .iter()
        .map(|a| {
            format!(
                "<li>{} &middot; {} &middot; jadwal {}</li>",
                esc(&a.queue_number),
                esc(&a.name),
                esc(&a.scheduled_local)
            )
        })
        .collect();
    let panel = format!(
        "<section><h2>Pemohon</h2><ul id=\"pemohon\">{}</ul></section>",
        people.join("")
    );
    let outcome = if b.status == pb::BookingStatus::CheckedIn as i32 {
        Outcome::Ok(format!(
            "Check-in berhasil: {} tepat waktu.",
            b.booking_code
        ))
    } else if b.status == pb::BookingStatus::Forfeited as i32 {
        Outcome::Err(format!(
            "Booking {} HANGUS: datang setelah jadwal. Bila perlu, pindahkan ke antrean walk-in.",
            b.booking_code
        ))
    } else {
        Outcome::Err(format!("Booking {}: {}", b.booking_code, b.status))
    };
    p.show(outcome, &panel).await
}

async fn call_next(p: Posted) -> Response {
    let r = p
        .app
        .backend
        .booking()
        .call_next(p.request(pb::CallNextRequest {
            office_code: p.office.clone(),
            counter: p.field("loket"),
        }))
        .await;
    p.show_ticket(r, None).await
}

async fn ticket_action(Path((id, aksi)): Path<(String, String)>, p: Posted) -> Response {
    let req = p.request(pb::TicketActionRequest { ticket_id: id });
    let mut b = p.app.backend.booking();
    let r = match aksi.as_str() {
        "panggil-ulang" => b.recall(req).await,
        "lewati" => b.skip(req).await,
        "selesai" => b.mark_served(req).await,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    p.show_ticket(r, None).await
}

async fn walk_in(p: Posted) -> Response {
    let r = p
        .app
        .backend
        .booking()
        .create_walk_in(p.request(pb::CreateWalkInRequest {
            office_code: p.office.clone(),
            session: session_of(&p.field("sesi")),
            name: p.field("nama"),
            priority_reason: p.field("alasan"),
            forfeited_booking_code: p.field("hangus"),
        }))
        .await;
    let ok = r
        .as_ref()
        .ok()
        .map(|t| format!("Nomor prioritas {} diberikan.", t.get_ref().queue_number));
    p.show_ticket(r, ok).await
}

async fn capacity(p: Posted) -> Response {
    let r = p
        .app
        .backend
        .quota()
        .set_capacity(p.request(pb::SetCapacityRequest {
            office_code: p.office.clone(),
            date: p.field("tanggal"),
            session: session_of(&p.field("sesi")),
            capacity: p.field("kapasitas").trim().parse().unwrap_or(u32::MAX),
        }))
        .await;
    let (date, session) = (p.field("tanggal"), p.field("sesi"));
    p.show_result(r, |a| {
        format!(
            "Kapasitas {date} sesi {session} menjadi {} (sisa {}).",
            a.capacity, a.remaining
        )
    })
    .await
}

async fn priority(p: Posted) -> Response {
    let r = p
        .app
        .backend
        .booking()
        .set_priority_capacity(p.request(pb::SetPriorityCapacityRequest {
            office_code: p.office.clone(),
            date: p.field("tanggal"),
            session: session_of(&p.field("sesi")),
            priority_capacity: p.field("kuota").trim().parse().unwrap_or(u32::MAX),
            cutoff_local: p.field("batas"),
        }))
        .await;
    let session = p.field("sesi");
    p.show_result(r, |q| {
        format!(
            "Kuota prioritas {} sesi {session}: {} (terpakai {}), kembali ke kuota umum pukul {}.",
            q.date, q.priority_capacity, q.used, q.cutoff_local
        )
    })
    .await
}

async fn close_date(p: Posted) -> Response {
    // A closed date leaves the availability answers at once, like every change made here.
    let r = p
        .app
        .backend
        .quota()
        .close_date(p.request(pb::CloseDateRequest {
            office_code: p.office.clone(),
            date: p.field("tanggal"),
            reason: p.field("alasan"),
        }))
        .await;
    let date = p.field("tanggal");
    p.show_result(r, |c| {
        format!(
            "Tanggal {date} ditutup untuk booking baru. {} kursi sudah terkonfirmasi dan tetap berlaku.",
            c.confirmed_seats
        )
    })
    .await
}

async fn special_day(p: Posted) -> Response {
    let seats = |k: &str| p.field(k).trim().parse::<u32>().unwrap_or(u32::MAX);
    let r = p
        .app
        .backend
        .quota()
        .open_special_date(p.request(pb::OpenSpecialDateRequest {
            office_code: p.office.clone(),
            date: p.field("tanggal"),
            name: p.field("nama"),
            pagi_capacity: seats("pagi"),
            siang_capacity: seats("siang"),
        }))
        .await;
    p.show_result(r, |d| {
        format!("{} dibuka pada {} untuk booking.", d.note, d.date)
    })
    .await
}

async fn release_rule(p: Posted) -> Response {
    let window = p.field("jendela").trim().parse::<u32>().unwrap_or(u32::MAX);
    let r = p
        .app
        .backend
        .quota()
        .set_release_rule(p.request(pb::SetReleaseRuleRequest {
            office_code: p.office.clone(),
            release_local: p.field("jam"),
            draw_window_seconds: window,
        }))
        .await;
    p.show_result(r, |rule| {
        if rule.draw_window_seconds == 0 {
            format!(
                "Tanggal baru dibuka pukul {} tanpa undian (siapa cepat).",
                rule.release_local
            )
        } else {
            format!(
                "Tanggal baru dibuka pukul {}; permintaan dalam {} detik pertama diundi.",
                rule.release_local, rule.draw_window_seconds
            )
        }
    })
    .await
}

async fn reconfirmation(p: Posted) -> Response {
    let r = p
        .app
        .backend
        .booking()
        .set_reconfirmation(p.request(pb::SetReconfirmationRequest {
            office_code: p.office.clone(),
            required: p.field("wajib") == "ya",
            cutoff_local: p.field("batas"),
        }))
        .await;
    p.show_result(r, |c| {
        if c.required {
            format!(
                "Pengingat H-1 meminta konfirmasi ulang; booking yang belum dikonfirmasi pukul {} H-1 dibatalkan dan kursinya diberikan ke daftar tunggu.",
                c.cutoff_local
            )
        } else {
            "Konfirmasi ulang tidak diwajibkan.".into()
        }
    })
    .await
}

// ---- The public display ----------------------------------------------------------------

fn board_html(b: &pb::QueueBoard) -> String {
    let rows: String = b
        .called
        .iter()
        .map(|t| {
            format!(
                "<tr><td class=\"nomor\">{}</td><td>{}</td></tr>",
                esc(&t.queue_number),
                esc(&t.counter)
            )
        })
        .collect();
    format!(
        "<table id=\"dipanggil\"><thead><tr><th>Nomor</th><th>Loket</th></tr></thead><tbody>{rows}</tbody></table>\
<p id=\"menunggu\">Menunggu: {} (janji temu), {} (prioritas) &middot; Selesai dilayani: {}</p>",
        b.waiting_appointments, b.waiting_priority, b.served
    )
}

async fn board(app: &App, office: &str) -> Result<pb::QueueBoard, tonic::Status> {
    app.backend
        .booking()
        .get_queue_board(pb::GetQueueBoardRequest {
            office_code: office.to_owned(),
        })
        .await
        .map(|r| r.into_inner())
}

async fn display_page(State(app): State<Arc<App>>, Path(office): Path<String>) -> Response {
    let b = match board(&app, &office).await {
        Ok(b) => b,
        Err(e) => {
            let err = ApiError::from_status(&e, false);
            return (
                err.status,
                shell_page(
                    "Layar antrean",
                    &format!(
                        "<p class=\"alert\" role=\"alert\">{}</p>",
                        esc(&err.message_text())
                    ),
                ),
            )
                .into_response();
        }
    };
    let body = format!(
        "<h1>{}</h1><p>Antrean hari ini, {}</p><div id=\"papan\" aria-live=\"polite\">{}</div>\
<script>var es=new EventSource('/layar/{}/events');es.onmessage=function(e){{document.getElementById('papan').innerHTML=e.data;}};</script>",
        esc(&b.office_name),
        esc(&antrean_platform::domain::parse_date(&b.date)
            .map(antrean_platform::domain::tanggal)
            .unwrap_or_else(|| b.date.clone())),
        board_html(&b),
        esc(&b.office_code)
    );
    Html(format!(
        "<!doctype html><html lang=\"id\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Layar antrean - {}</title>\
<link rel=\"stylesheet\" href=\"/static/antrean.css\"></head><body class=\"layar\"><main>{body}</main></body></html>",
        esc(&b.office_name)
    ))
    .into_response()
}

/// Server-sent events: the board's HTML whenever it changes (one poll a second per office,
/// shared by every screen showing it; see [`crate::feeds`]).
async fn display_events(State(app): State<Arc<App>>, Path(office): Path<String>) -> Response {
    let office = office.trim().to_uppercase();
    match app.backend.office(&office).await {
        Ok(Some(_)) => {}
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(s) => return error_response(&s),
    }
    let poller = app.clone();
    let key = format!("layar:{office}");
    let subscription = app
        .feeds
        .subscribe(&key, std::time::Duration::from_secs(1), move || {
            let (app, office) = (poller.clone(), office.clone());
            async move { board(&app, &office).await.ok().map(|b| board_html(&b)) }
        });
    match subscription {
        Ok(s) => Sse::new(s.stream())
            .keep_alive(KeepAlive::default())
            .into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}
