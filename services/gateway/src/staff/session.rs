//! Staff sessions: sign-in and sign-out, the session behind each request, and the console's
//! form extractor ([`Posted`]), which checks the CSRF token.
//!
//! Staff sign in with their username and password (checked by the identity service, which
//! answers an actor token). The session lives in `gateway.staff_sessions`: the cookie holds a
//! random secret (HttpOnly, Secure, SameSite=Strict) and the table only its SHA-256; every
//! form carries the session's CSRF token. Each action calls the owning service with the
//! staff member's actor token, so the services decide what this person may do where; the
//! console only hides what the role cannot use.
use crate::App;
use crate::error::ApiError;
use crate::html::render;
use antrean_platform::actor::with_token;
use antrean_proto::v1 as pb;
use askama::Template;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Duration;
use sha2::{Digest, Sha256};
use sqlx::FromRow;
use std::collections::HashMap;
use std::sync::Arc;

pub const COOKIE: &str = "antrean_petugas";
const SESSION_HOURS: i64 = 12;

#[derive(Debug, Clone, FromRow)]
pub(super) struct Session {
    token_enc: Vec<u8>,
    pub(super) csrf: String,
    pub(super) display_name: String,
    role: String,
    office_code: String,
    pub(super) staff_id: String,
    pub(super) username: String,
}

impl Session {
    /// The actor token for the services (kept encrypted with the session).
    pub(super) fn token(&self, app: &App) -> Option<String> {
        app.pii.decrypt(&self.token_enc).ok()
    }

    pub(super) fn admin(&self) -> bool {
        self.role == "DIRECTORATE_ADMIN"
    }

    pub(super) fn manages(&self) -> bool {
        self.role != "OFFICE_STAFF"
    }

    pub(super) fn role(&self) -> &str {
        &self.role
    }

    pub(super) fn office_code(&self) -> &str {
        &self.office_code
    }

    pub(super) fn role_label(&self) -> &'static str {
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

#[derive(Template)]
#[template(path = "staff/login.html")]
struct Login<'a> {
    message: Option<&'a str>,
}

/// A staff page with one message (a refusal, an error).
#[derive(Template)]
#[template(path = "staff/message.html")]
struct Message<'a> {
    title: &'a str,
    message: Option<&'a str>,
}

/// A page with one message, answered with `status`.
pub(super) fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    (
        status,
        render(&Message {
            title,
            message: Some(message),
        }),
    )
        .into_response()
}

fn login_form(status: StatusCode, message: Option<&str>) -> Response {
    (status, render(&Login { message })).into_response()
}

pub(super) async fn login_page() -> Response {
    login_form(StatusCode::OK, None)
}

pub(super) async fn login(
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
        return e.page(login_form(e.status, Some(&e.message_text())));
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
            return login_form(code, Some(&e.message_text()));
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
    let _ = sqlx::query!("DELETE FROM staff_sessions WHERE expires_at <= $1", now)
        .execute(&app.pool)
        .await;
    let stored = sqlx::query!(
        "INSERT INTO staff_sessions (id, token_enc, csrf, username, display_name, role,
            office_code, created_at, expires_at, staff_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        hex_sha256(&secret),
        app.pii.encrypt(&staff.access_token),
        random_hex(16),
        &staff.username,
        &staff.display_name,
        &role,
        &staff.office_code,
        now,
        expires,
        &staff.staff_id
    )
    .execute(&app.pool)
    .await;
    if let Err(e) = stored {
        tracing::error!(error = %e, "staff session not stored");
        return login_form(
            StatusCode::SERVICE_UNAVAILABLE,
            Some("Layanan sedang tidak tersedia. Silakan coba beberapa saat lagi."),
        );
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

pub(super) async fn session(app: &App, headers: &HeaderMap) -> Option<Session> {
    let secret = cookie_value(headers)?;
    sqlx::query_as!(
        Session,
        "SELECT token_enc, csrf, display_name, role, office_code, staff_id, username
         FROM staff_sessions
         WHERE id = $1 AND expires_at > $2",
        hex_sha256(&secret),
        app.clock.now()
    )
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

pub(super) fn to_login() -> Response {
    Redirect::to("/petugas/masuk").into_response()
}

pub(super) async fn logout(
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
        let _ = sqlx::query!(
            "DELETE FROM staff_sessions WHERE id = $1",
            hex_sha256(&secret)
        )
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
pub(super) fn office_of(s: &Session, asked: Option<&String>) -> String {
    if s.admin() {
        asked
            .map(|o| o.trim().to_uppercase())
            .filter(|o| !o.is_empty())
            .unwrap_or_else(|| "BOGOR".to_owned())
    } else {
        s.office_code.clone()
    }
}

/// A console form POST: the signed-in staff member (after the CSRF check), the office the
/// form acts on, the actor token for the services, and the fields.
pub(super) struct Posted {
    pub(super) app: Arc<App>,
    pub(super) session: Session,
    pub(super) office: String,
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
            return Err(message_page(
                StatusCode::FORBIDDEN,
                "Ditolak",
                "Formulir kedaluwarsa atau tidak sah. Muat ulang halaman lalu coba lagi.",
            ));
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
    pub(super) fn field(&self, k: &str) -> String {
        self.form.get(k).cloned().unwrap_or_default()
    }

    /// A request to a service, carrying this staff member's actor token.
    pub(super) fn request<T>(&self, msg: T) -> tonic::Request<T> {
        with_token(tonic::Request::new(msg), &self.token)
    }
}
