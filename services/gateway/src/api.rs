//! The JSON API under `/api/v1` (web portal, mobile app, other systems), over the same RPCs
//! as WhatsApp, so every channel shares one quota.
//!
//! Errors are `{"error": {"code", "message", "fields"?}}`: 400 (validation, per field), 403
//! (blocked), 404, 409 (`SOLD_OUT`, `ALREADY_BOOKED`, `LIMIT_REACHED`, ...), 410 (`EXPIRED`),
//! 429 with `Retry-After`, 503 when a dependency is down. Messages are in Bahasa Indonesia,
//! in English with `Accept-Language: en`.
use crate::App;
use crate::error::ApiError;
use crate::ratelimit::{Limiter, SharedLimit};
use antrean_platform::domain::{from_timestamp, parse_date};
use antrean_platform::status;
use antrean_proto::v1 as pb;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::{Code, Status};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v1/offices", get(offices))
        .route("/api/v1/offices/{code}/availability", get(availability))
        .route("/api/v1/verifications", post(start_verification))
        .route(
            "/api/v1/verifications/{id}/confirm",
            post(confirm_verification),
        )
        .route("/api/v1/bookings", post(create_booking))
        .route("/api/v1/waitlist", post(join_waitlist))
        .route("/api/v1/draws/{office_code}/{date}", get(get_draw))
        .route("/api/v1/bookings/{code}", get(get_booking))
        .route("/api/v1/bookings/{code}/cancel", post(cancel_booking))
        .route("/api/v1/bookings/{code}/proof.pdf", get(proof_pdf))
        .route("/api/v1/bookings/{code}/qr.svg", get(qr_svg))
        .route(
            "/api/v1/openapi.json",
            get(|| async { Json(crate::openapi::document()) }),
        )
}

/// The limits of the JSON API.
#[derive(Debug)]
pub struct Limits {
    /// Every request, per client address.
    pub per_client: Limiter,
}

impl Limits {
    /// Per minute: every request per client.
    pub fn new(per_client: u32) -> Self {
        Self {
            per_client: Limiter::new(per_client, per_client / 5),
        }
    }
}

/// The limits shared by every replica (Redis): what protects seats and messages.
pub struct FairLimits {
    pub verifications: crate::verification::VerificationLimits,
    /// Bookings, waitlist joins and draw entries per client network, and per contact token.
    pub bookings_per_network: SharedLimit,
    pub bookings_per_contact: SharedLimit,
    /// Look-ups and cancellations by booking code per client network and per phone (codes
    /// must not be enumerable from any number of replicas).
    pub lookups_per_network: SharedLimit,
    pub lookups_per_phone: SharedLimit,
    /// Staff sign-ins per client network and per username.
    pub signins_per_network: SharedLimit,
    pub signins_per_user: SharedLimit,
    /// WhatsApp messages acted on per sender, and the one notice of a sender over it.
    pub messages_per_sender: SharedLimit,
    pub flood_notices: SharedLimit,
}

impl FairLimits {
    pub fn new(c: &crate::GatewayConfig) -> Self {
        const MINUTE: u64 = 60;
        const QUARTER: u64 = 900;
        const HOUR: u64 = 3600;
        let limit = |name, n, seconds| SharedLimit::new(name, n, Duration::from_secs(seconds));
        Self {
            verifications: crate::verification::VerificationLimits::new(
                c.api_rate_codes_per_phone,
                c.api_rate_verifications,
            ),
            bookings_per_network: limit("bookings:net", c.api_rate_bookings, HOUR),
            bookings_per_contact: limit("bookings:contact", c.api_rate_per_phone, MINUTE),
            lookups_per_network: limit("lookups:net", c.api_rate_lookups, MINUTE),
            lookups_per_phone: limit("lookups:phone", c.api_rate_lookups_per_phone, HOUR),
            signins_per_network: limit("signins:net", c.api_rate_signins, QUARTER),
            signins_per_user: limit("signins:user", c.api_rate_signins_per_user, QUARTER),
            messages_per_sender: limit("messages:sender", c.whatsapp_rate_per_sender, MINUTE),
            flood_notices: limit("messages:notice", 1, 600),
        }
    }
}

fn english(h: &HeaderMap) -> bool {
    h.get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("en"))
}

/// The client's address: the TCP peer, or `X-Forwarded-For` from a trusted proxy.
pub(crate) fn client_addr(app: &App, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    crate::client::client_ip(peer, forwarded, &app.trusted)
}

/// The limit on every request of one client (per replica).
fn client(app: &App, ip: IpAddr, en: bool) -> Result<(), ApiError> {
    app.limits
        .per_client
        .check(&ip.to_string())
        .map_err(|w| ApiError::too_many(en, w))
}

/// The contact token of `Authorization: Bearer <token>`, or 401 CONTACT_NOT_VERIFIED.
fn bearer(headers: &HeaderMap, en: bool) -> Result<String, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        })
        .filter(|t| !t.is_empty() && t.len() <= 128)
        .ok_or_else(|| ApiError::not_verified(en))
}

type ApiResult = Result<Response, ApiError>;

fn office_json(o: &pb::Office) -> Value {
    let wa = o.whatsapp.clone().unwrap_or_default();
    json!({
        "code": o.code,
        "name": o.name,
        "city": o.city,
        "timezone": o.timezone,
        "address": o.address,
        "whatsapp": {
            "display_phone_number": wa.display_phone_number,
            "phone_number_id": wa.phone_number_id,
        },
    })
}

async fn offices(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult {
    let en = english(&headers);
    let ip = client_addr(&app, peer, &headers);
    client(&app, ip, en)?;
    let list = app
        .offices
        .all(&app)
        .await
        .map_err(|s| ApiError::from_status(&s, en))?;
    Ok(Json(list.iter().map(|o| office_json(o)).collect::<Vec<_>>()).into_response())
}

#[derive(Debug, Deserialize)]
struct Range {
    from: Option<String>,
    to: Option<String>,
}

fn session_name(s: i32) -> &'static str {
    match pb::Session::try_from(s) {
        Ok(pb::Session::Siang) => "SIANG",
        _ => "PAGI",
    }
}

async fn availability(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(range): Query<Range>,
) -> ApiResult {
    let en = english(&headers);
    let ip = client_addr(&app, peer, &headers);
    client(&app, ip, en)?;
    let mut bad = Vec::new();
    for (name, v) in [("from", &range.from), ("to", &range.to)] {
        if let Some(v) = v
            && parse_date(v).is_none()
        {
            bad.push((name.to_owned(), date_message(en)));
        }
    }
    if !bad.is_empty() {
        return Err(ApiError::fields(en, bad));
    }
    let key = (
        code.to_ascii_uppercase(),
        range.from.unwrap_or_default(),
        range.to.unwrap_or_default(),
    );
    let mut quota = app.quota.clone();
    let body = app
        .availability
        .read(key, |(office_code, from, to)| async move {
            let r = quota
                .get_availability(pb::GetAvailabilityRequest {
                    office_code,
                    from,
                    to,
                })
                .await?
                .into_inner();
            Ok(availability_json(&r))
        })
        .await
        .map_err(|s| ApiError::from_status(&s, en))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

fn availability_json(r: &pb::GetAvailabilityResponse) -> Bytes {
    let days: Vec<Value> = r
        .days
        .iter()
        .map(|d| {
            json!({
                "date": d.date,
                "open": d.open,
                "closed_reason": if d.closed_reason.is_empty() { Value::Null } else { json!(d.closed_reason) },
                "note": d.note,
                "sessions": d.sessions.iter().map(|s| json!({
                    "session": session_name(s.session),
                    "capacity": s.capacity,
                    "remaining": s.remaining,
                    "start": s.start_local,
                    "end": s.end_local,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Bytes::from(json!({"office": r.office_code, "days": days}).to_string())
}

/// Runs a write that may change seats or capacity (a booking created, confirmed or
/// cancelled, a walk-in, a capacity change); availability answers from before it are not
/// reused after it, whatever its outcome.
pub async fn changing<T>(app: &App, write: impl std::future::Future<Output = T>) -> T {
    let outcome = write.await;
    app.availability.changed();
    outcome
}

type AvailabilityKey = (String, String, String);

type Slots<K, V> = Mutex<HashMap<K, Arc<Slot<V>>>>;

/// One office and range: the latest good answer, and the call in flight.
#[derive(Debug)]
struct Slot<V> {
    /// The latest successful answer, for reads within the maximum age.
    fresh: Mutex<Option<Fresh<V>>>,
    /// Held while a quota call is out; the last answer (good or not) and when its call started.
    call: tokio::sync::Mutex<Option<(Instant, Result<V, Status>)>>,
}

impl<V> Default for Slot<V> {
    fn default() -> Self {
        Self {
            fresh: Mutex::new(None),
            call: tokio::sync::Mutex::new(None),
        }
    }
}

#[derive(Debug)]
struct Fresh<V> {
    started: Instant,
    generation: u64,
    value: V,
}

/// Availability reads share quota calls: the JSON API's availability of one office and
/// range, and the next free dates of one office that WhatsApp's `#TGLLAYANAN` answers with.
///
/// A read takes the latest answer if its quota call started at most `max_age` ago and no
/// change went through this gateway since (a booking created, confirmed or cancelled, on any
/// channel, or a capacity change by staff: each calls [`AvailabilityReads::changed`]).
/// Otherwise it takes the answer of a call that started after it arrived, or makes one:
/// while a call is out, the reads arriving meanwhile queue on the slot and the first of them
/// makes the next call for all. So a seat taken through this gateway is never shown free
/// after, changes made elsewhere (another replica, staff RPCs, holds expiring) show within
/// `max_age`, and a release-minute crowd asking for one office's dates costs one quota call
/// per `max_age` instead of one per request. With `max_age` zero every read is at least as
/// new as the request.
#[derive(Debug)]
pub struct AvailabilityReads {
    max_age: Duration,
    generation: AtomicU64,
    json: Slots<AvailabilityKey, Bytes>,
    next_dates: Slots<String, Arc<Vec<pb::DayAvailability>>>,
}

impl AvailabilityReads {
    /// Keys shared at most per kind (clients choose the ranges); past it, a request makes
    /// its own call.
    const MAX_SLOTS: usize = 4096;

    pub fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            generation: AtomicU64::new(0),
            json: Mutex::default(),
            next_dates: Mutex::default(),
        }
    }

    /// Seats or capacity changed through this gateway: no later read takes an earlier answer.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    async fn read<F, Fut>(&self, key: AvailabilityKey, call: F) -> Result<Bytes, Status>
    where
        F: FnOnce(AvailabilityKey) -> Fut,
        Fut: std::future::Future<Output = Result<Bytes, Status>>,
    {
        self.shared(&self.json, key, call).await
    }

    /// The next free dates of `office` (one seat, either session), as `call` answers them.
    pub async fn next_dates<F, Fut>(
        &self,
        office: String,
        call: F,
    ) -> Result<Arc<Vec<pb::DayAvailability>>, Status>
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = Result<Arc<Vec<pb::DayAvailability>>, Status>>,
    {
        self.shared(&self.next_dates, office, call).await
    }

    async fn shared<K, V, F, Fut>(&self, slots: &Slots<K, V>, key: K, call: F) -> Result<V, Status>
    where
        K: Eq + std::hash::Hash + Clone,
        V: Clone,
        F: FnOnce(K) -> Fut,
        Fut: std::future::Future<Output = Result<V, Status>>,
    {
        let arrived = Instant::now();
        let generation = self.generation.load(Ordering::Acquire);
        let slot = {
            let mut slots = slots
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if slots.len() >= Self::MAX_SLOTS && !slots.contains_key(&key) {
                // Slots nobody waits on are cheap to drop; the answers in them are old.
                slots.retain(|_, s| Arc::strong_count(s) > 1);
            }
            if slots.len() >= Self::MAX_SLOTS && !slots.contains_key(&key) {
                None
            } else {
                Some(slots.entry(key.clone()).or_default().clone())
            }
        };
        let Some(slot) = slot else {
            return call(key).await;
        };
        if let Some(f) = slot
            .fresh
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            && f.generation == generation
            && arrived.saturating_duration_since(f.started) <= self.max_age
            && !self.max_age.is_zero()
        {
            return Ok(f.value.clone());
        }
        let mut last = slot.call.lock().await;
        if let Some((started, answer)) = last.as_ref()
            && *started >= arrived
        {
            return answer.clone();
        }
        let started = Instant::now();
        let generation = self.generation.load(Ordering::Acquire);
        let answer = call(key).await;
        if let Ok(value) = &answer {
            *slot
                .fresh
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Fresh {
                started,
                generation,
                value: value.clone(),
            });
        }
        *last = Some((started, answer.clone()));
        answer
    }
}

fn date_message(en: bool) -> String {
    if en {
        "must be a date YYYY-MM-DD"
    } else {
        "harus tanggal berformat YYYY-MM-DD"
    }
    .to_owned()
}

pub(crate) fn required(en: bool) -> String {
    if en { "required" } else { "wajib diisi" }.to_owned()
}

/// Reads a JSON object body; a body that is not one is a 400.
fn body(bytes: &Bytes, en: bool) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
            if en {
                "The body must be a JSON object."
            } else {
                "Isi permintaan harus berupa objek JSON."
            },
        )),
    }
}

fn text(m: &Map<String, Value>, key: &str) -> String {
    m.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The booking fields of a request body (create and waitlist share them). The contact is
/// the one the bearer's contact token proves.
struct BookingInput {
    office_code: String,
    date: String,
    session: pb::Session,
    applicants: Vec<pb::ApplicantInput>,
}

fn booking_input(
    b: &Map<String, Value>,
    en: bool,
    bad: &mut Vec<(String, String)>,
) -> BookingInput {
    let office_code = text(b, "office_code").to_ascii_uppercase();
    if office_code.is_empty() {
        bad.push(("office_code".into(), required(en)));
    }
    let date = text(b, "date");
    if parse_date(&date).is_none() {
        bad.push(("date".into(), date_message(en)));
    }
    let session = match text(b, "session").to_ascii_uppercase().as_str() {
        "PAGI" => pb::Session::Pagi,
        "SIANG" => pb::Session::Siang,
        _ => {
            bad.push((
                "session".into(),
                if en {
                    "PAGI or SIANG"
                } else {
                    "PAGI atau SIANG"
                }
                .into(),
            ));
            pb::Session::Unspecified
        }
    };
    let list = b
        .get("applicants")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if list.is_empty() || list.len() > antrean_platform::domain::MAX_APPLICANTS as usize {
        bad.push((
            "applicants".into(),
            if en {
                "1 to 5 applicants"
            } else {
                "jumlah pemohon 1 sampai 5 orang"
            }
            .into(),
        ));
    }
    let mut applicants = Vec::new();
    for (i, a) in list.iter().enumerate() {
        let a = a.as_object().cloned().unwrap_or_default();
        let nik = text(&a, "nik");
        if nik.is_empty() {
            bad.push((format!("applicants[{i}].nik"), required(en)));
        }
        let kind = match text(&a, "application_type").to_ascii_uppercase().as_str() {
            "NEW" => pb::ApplicationType::New,
            "REPLACEMENT" => pb::ApplicationType::Replacement,
            _ => {
                bad.push((
                    format!("applicants[{i}].application_type"),
                    if en {
                        "NEW or REPLACEMENT"
                    } else {
                        "NEW (baru) atau REPLACEMENT (penggantian)"
                    }
                    .into(),
                ));
                pb::ApplicationType::Unspecified
            }
        };
        applicants.push(pb::ApplicantInput {
            nik,
            name: text(&a, "name"),
            birth_date: text(&a, "birth_date"),
            application_type: kind as i32,
        });
    }
    BookingInput {
        office_code,
        date,
        session,
        applicants,
    }
}

/// `POST /api/v1/verifications`: a code to the phone (and e-mail); 202 with the id.
async fn start_verification(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    let en = english(&headers);
    let ip = client_addr(&app, peer, &headers);
    client(&app, ip, en)?;
    let b = body(&bytes, en)?;
    let phone = text(&b, "phone");
    if phone.is_empty() {
        return Err(ApiError::fields(en, vec![("phone".into(), required(en))]));
    }
    let v = crate::verification::start(&app, ip, &phone, &text(&b, "email"), en).await?;
    let expires = v.expires_at.as_ref().and_then(from_timestamp);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "verification_id": v.verification_id,
            "expires_at": expires.map(|t| t.to_rfc3339()),
        })),
    )
        .into_response())
}

/// `POST /api/v1/verifications/{id}/confirm`: the code for a contact token.
async fn confirm_verification(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let en = english(&headers);
    let ip = client_addr(&app, peer, &headers);
    client(&app, ip, en)?;
    let b = body(&bytes, en)?;
    let proof = crate::verification::confirm(&app, ip, &id, &text(&b, "code"), en).await?;
    let expires = proof.expires_at.as_ref().and_then(from_timestamp);
    Ok(Json(json!({
        "contact_token": proof.contact_token,
        "expires_at": expires.map(|t| t.to_rfc3339()),
        "phone_masked": proof.phone_masked,
    }))
    .into_response())
}

/// Bookings, waitlist joins and draw entries: per client network (shared by every replica)
/// and per contact token (per replica).
async fn booking_limits(app: &App, ip: IpAddr, token: &str, en: bool) -> Result<(), ApiError> {
    app.shared
        .check(&app.fair.bookings_per_network, &crate::client::network(ip))
        .await
        .map_err(|r| ApiError::refused(en, r))?;
    // Per contact token, across replicas: a phone's tokens are few (codes per phone are).
    app.shared
        .check(
            &app.fair.bookings_per_contact,
            &crate::ratelimit::hashed(token),
        )
        .await
        .map_err(|r| ApiError::refused(en, r))
}

/// `POST /api/v1/bookings` with a contact token: confirmed at once (201 with booking code,
/// queue numbers and schedule).
async fn create_booking(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    let en = english(&headers);
    let ip = client_addr(&app, peer, &headers);
    client(&app, ip, en)?;
    // Nothing is read or held for a request without a contact token.
    let token = bearer(&headers, en)?;
    let b = body(&bytes, en)?;
    let mut bad = Vec::new();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if key.is_empty() || key.len() > 200 {
        bad.push(("Idempotency-Key".to_owned(), required(en)));
    }
    let BookingInput {
        office_code,
        date,
        session,
        applicants,
    } = booking_input(&b, en, &mut bad);
    if !bad.is_empty() {
        return Err(ApiError::fields(en, bad));
    }
    booking_limits(&app, ip, &token, en).await?;
    let created = changing(
        &app,
        app.booking
            .clone()
            .create_booking(pb::CreateBookingRequest {
                received_at: None,
                idempotency_key: format!("api:{key}"),
                channel: pb::Channel::Web as i32,
                office_code,
                date,
                session: session as i32,
                contact: Some(pb::ContactInput {
                    contact_token: token,
                    ..Default::default()
                }),
                applicants,
            }),
    )
    .await
    .map_err(|s| ApiError::from_status(&s, en))?
    .into_inner();
    if let Some(e) = created.entry {
        // The date has just opened: an entry of its release draw, decided at `draw_at`.
        return Ok((StatusCode::ACCEPTED, Json(entry_json(&e))).into_response());
    }
    let booking = created.booking.unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        Json(booking_json(&app, &booking).await),
    )
        .into_response())
}

/// An entry of a release draw as the API shows it.
fn entry_json(e: &pb::DrawEntry) -> Value {
    json!({
        "entry_id": e.entry_id,
        "draw_at": e.draw_at.as_ref().and_then(from_timestamp).map(|t| t.to_rfc3339()),
        "draw_at_local": e.draw_at_local,
        "office_code": e.office_code,
        "date": e.date,
        "session": session_name(e.session),
        "seats": e.seats,
    })
}

/// `GET /api/v1/draws/{office_code}/{date}`: the draw as published, for anyone to verify.
async fn get_draw(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((office, date)): Path<(String, String)>,
) -> ApiResult {
    let en = english(&headers);
    let ip = client_addr(&app, peer, &headers);
    client(&app, ip, en)?;
    if parse_date(&date).is_none() {
        return Err(ApiError::fields(
            en,
            vec![("date".into(), date_message(en))],
        ));
    }
    let d = app
        .booking
        .clone()
        .get_draw(pb::GetDrawRequest {
            office_code: office,
            date,
        })
        .await
        .map_err(|s| ApiError::from_status(&s, en))?
        .into_inner();
    Ok(Json(draw_json(&d)).into_response())
}

/// The publication's JSON: what `antrean-draw verify` reads.
pub fn draw_json(d: &pb::Draw) -> Value {
    let t = |t: &Option<prost_types::Timestamp>| {
        t.as_ref().and_then(from_timestamp).map(|t| t.to_rfc3339())
    };
    let opt = |s: &str| if s.is_empty() { Value::Null } else { json!(s) };
    json!({
        "office_code": d.office_code,
        "date": d.date,
        "state": d.state,
        "opens_at": t(&d.opens_at),
        "closes_at": t(&d.closes_at),
        "seed_sha256": d.seed_sha256,
        "beacon": {"url": d.beacon_url, "round": d.beacon_round,
                   "randomness": opt(&d.beacon_randomness)},
        "entries_sha256": opt(&d.entries_sha256),
        "entry_count": d.entry_count,
        "seed": opt(&d.seed),
        "entries": d.entries.iter().map(|e| json!({
            "entry_id": e.entry_id,
            "session": session_name(e.session),
            "seats": e.seats,
            "position": e.position,
            "outcome": e.outcome,
        })).collect::<Vec<_>>(),
    })
}

/// Joins the waitlist of a full session (the same body as a booking, no Idempotency-Key:
/// one place per phone and session, so a repeat answers the same place).
async fn join_waitlist(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    let en = english(&headers);
    let ip = client_addr(&app, peer, &headers);
    client(&app, ip, en)?;
    let token = bearer(&headers, en)?;
    let b = body(&bytes, en)?;
    let mut bad = Vec::new();
    let input = booking_input(&b, en, &mut bad);
    if !bad.is_empty() {
        return Err(ApiError::fields(en, bad));
    }
    booking_limits(&app, ip, &token, en).await?;
    let entry = app
        .booking
        .clone()
        .join_waitlist(pb::JoinWaitlistRequest {
            office_code: input.office_code,
            date: input.date,
            session: input.session as i32,
            contact: Some(pb::ContactInput {
                contact_token: token,
                ..Default::default()
            }),
            applicants: input.applicants,
            channel: pb::Channel::Web as i32,
        })
        .await
        .map_err(|s| ApiError::from_status(&s, en))?
        .into_inner();
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "entry_id": entry.entry_id,
            "position": entry.position,
            "state": entry.state,
        })),
    )
        .into_response())
}

fn local(t: Option<&prost_types::Timestamp>, tz: Tz) -> Value {
    t.and_then(from_timestamp)
        .map(|t: DateTime<Utc>| json!(t.with_timezone(&tz).to_rfc3339()))
        .unwrap_or(Value::Null)
}

/// A booking as the API shows it.
pub async fn booking_json(app: &App, b: &pb::Booking) -> Value {
    let office = app
        .offices
        .by_code(app, &b.office_code)
        .await
        .ok()
        .flatten();
    let tz: Tz = office
        .as_ref()
        .and_then(|o| o.timezone.parse().ok())
        .unwrap_or(Tz::Asia__Jakarta);
    let status = pb::BookingStatus::try_from(b.status)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("BOOKING_STATUS_")
                .to_owned()
        })
        .unwrap_or_default();
    json!({
        "booking_id": b.booking_id,
        "booking_code": if b.booking_code.is_empty() { Value::Null } else { json!(b.booking_code) },
        "status": status,
        "office": {
            "code": b.office_code,
            "name": office.as_ref().map(|o| o.name.clone()).unwrap_or_default(),
            "address": office.as_ref().map(|o| o.address.clone()).unwrap_or_default(),
            "timezone": tz.name(),
        },
        "date": b.date,
        "session": session_name(b.session),
        "timezone_abbreviation": b.timezone_abbreviation,
        "expires_at": local(b.expires_at.as_ref(), tz),
        "contact": {"phone_masked": b.contact_phone_masked},
        "applicants": b.applicants.iter().map(|a| json!({
            "name": a.name,
            "application_type": pb::ApplicationType::try_from(a.application_type)
                .map(|t| t.as_str_name().trim_start_matches("APPLICATION_TYPE_").to_owned())
                .unwrap_or_default(),
            "queue_number": if a.queue_number.is_empty() { Value::Null } else { json!(a.queue_number) },
            "scheduled_at": local(a.scheduled_at.as_ref(), tz),
            "arrive_by": local(a.arrive_by.as_ref(), tz),
        })).collect::<Vec<_>>(),
    })
}

#[derive(Debug, Deserialize)]
struct PhoneQuery {
    phone: Option<String>,
}

/// The limits on look-ups and cancellations by booking code (API and portal), shared by every
/// replica: per client network, and per phone (its digits, however it is written).
pub(crate) async fn lookup_limits(
    app: &App,
    ip: IpAddr,
    phone: &str,
    en: bool,
) -> Result<(), ApiError> {
    let network = crate::client::network(ip);
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let digits = crate::ratelimit::hashed(
        antrean_platform::phone::normalize(&digits)
            .as_deref()
            .unwrap_or(&digits),
    );
    app.shared
        .check_all(&[
            (&app.fair.lookups_per_network, &network),
            (&app.fair.lookups_per_phone, &digits),
        ])
        .await
        .map_err(|r| ApiError::refused(en, r))
}

/// The least time a failed look-up by code takes, whatever the reason (no such code, another
/// phone's, malformed): longer than any failure's own path, so the answer's time tells
/// nothing about which it was.
pub(crate) const LOOKUP_FAILURE_FLOOR: std::time::Duration = std::time::Duration::from_millis(300);

/// Waits out [`LOOKUP_FAILURE_FLOOR`] from `started`.
pub(crate) async fn pad_failure(started: tokio::time::Instant) {
    tokio::time::sleep_until(started + LOOKUP_FAILURE_FLOOR).await;
}

/// Look-ups by code need the phone, and are limited so codes cannot be guessed.
async fn lookup(
    app: &App,
    ip: IpAddr,
    en: bool,
    code: &str,
    phone: Option<String>,
) -> Result<pb::Booking, ApiError> {
    client(app, ip, en)?;
    let phone = phone.unwrap_or_default();
    if phone.trim().is_empty() {
        return Err(ApiError::fields(en, vec![("phone".into(), required(en))]));
    }
    lookup_limits(app, ip, &phone, en).await?;
    let started = tokio::time::Instant::now();
    let r = app
        .booking
        .clone()
        .get_booking(pb::GetBookingRequest {
            key: Some(pb::get_booking_request::Key::BookingCode(code.to_owned())),
            contact_phone: phone,
        })
        .await;
    if r.is_err() {
        pad_failure(started).await;
    }
    match r {
        Ok(b) => Ok(b.into_inner()),
        // A malformed code answers exactly like an unknown one.
        Err(s) if s.code() == Code::InvalidArgument => Err(ApiError::from_status(
            &Status::from(status::Problem::new(
                Code::NotFound,
                "NOT_FOUND",
                "Booking tidak ditemukan. Periksa kembali kode booking dan nomor HP.",
                "Booking not found. Check the booking code and phone number.",
            )),
            en,
        )),
        Err(s) => Err(ApiError::from_status(&s, en)),
    }
}

async fn get_booking(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(q): Query<PhoneQuery>,
) -> ApiResult {
    let en = english(&headers);
    let b = lookup(&app, client_addr(&app, peer, &headers), en, &code, q.phone).await?;
    Ok(Json(booking_json(&app, &b).await).into_response())
}

async fn cancel_booking(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(code): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let en = english(&headers);
    let b = body(&bytes, en)?;
    let phone = text(&b, "phone");
    lookup(
        &app,
        client_addr(&app, peer, &headers),
        en,
        &code,
        Some(phone.clone()),
    )
    .await?;
    let cancelled = changing(
        &app,
        app.booking
            .clone()
            .cancel_booking(pb::CancelBookingRequest {
                booking_code: code,
                contact_phone: phone,
            }),
    )
    .await
    .map_err(|s| ApiError::from_status(&s, en))?
    .into_inner();
    Ok(Json(booking_json(&app, &cancelled).await).into_response())
}

async fn proof_pdf(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(q): Query<PhoneQuery>,
) -> ApiResult {
    let en = english(&headers);
    let b = lookup(&app, client_addr(&app, peer, &headers), en, &code, q.phone).await?;
    let page = proof_page(&app, &b).await;
    let file = format!("attachment; filename=\"booking-{}.pdf\"", b.booking_code);
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (header::CONTENT_DISPOSITION, file),
        ],
        crate::proof::pdf(&page),
    )
        .into_response())
}

async fn qr_svg(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(q): Query<PhoneQuery>,
) -> ApiResult {
    let en = english(&headers);
    let b = lookup(&app, client_addr(&app, peer, &headers), en, &code, q.phone).await?;
    Ok((
        [(header::CONTENT_TYPE, "image/svg+xml")],
        crate::proof::qr_svg(&b.booking_code),
    )
        .into_response())
}

/// The requirements checklist shown with every proof of booking.
pub const CHECKLIST: &[&str] = &[
    "Datang 30 menit sebelum jadwal; jika terlambat, booking hangus.",
    "Bawa e-KTP dan Kartu Keluarga asli.",
    "Paspor baru: akta kelahiran, ijazah, buku nikah atau surat baptis asli (salah satu).",
    "Penggantian: paspor lama asli.",
    "Data pada semua dokumen harus sama.",
];

/// The content of a proof of booking (PDF and portal page).
pub async fn proof_page(app: &App, b: &pb::Booking) -> crate::proof::ProofPage {
    let office = app
        .offices
        .by_code(app, &b.office_code)
        .await
        .ok()
        .flatten();
    let zone = &b.timezone_abbreviation;
    let rows = vec![
        (
            "Status".to_owned(),
            antrean_platform::domain::booking_status_label(
                pb::BookingStatus::try_from(b.status)
                    .map(|s| s.as_str_name().trim_start_matches("BOOKING_STATUS_"))
                    .unwrap_or_default(),
            )
            .to_owned(),
        ),
        (
            "Tanggal".to_owned(),
            parse_date(&b.date).map_or(b.date.clone(), antrean_platform::domain::tanggal),
        ),
        ("Sesi".to_owned(), session_name(b.session).to_owned()),
    ];
    let applicants = b
        .applicants
        .iter()
        .map(|a| crate::proof::ApplicantProof {
            queue_number: a.queue_number.clone(),
            name: a.name.clone(),
            schedule: format!(
                "Jadwal {} {zone}, datang paling lambat {} {zone}",
                a.scheduled_local, a.arrive_by_local
            ),
            checklist: CHECKLIST.iter().map(|s| (*s).to_owned()).collect(),
        })
        .collect();
    crate::proof::ProofPage {
        booking_code: b.booking_code.clone(),
        title_lines: vec![
            "Bukti Booking Antrean Paspor".to_owned(),
            office
                .as_ref()
                .map(|o| o.name.clone())
                .unwrap_or_else(|| b.office_code.clone()),
            office
                .as_ref()
                .map(|o| o.address.clone())
                .unwrap_or_default(),
        ],
        rows,
        applicants,
        notes: vec!["Tunjukkan bukti ini (atau kode QR-nya) di loket informasi kantor.".to_owned()],
    }
}

/// Offices from the quota service, loaded once (they change only with a deployment).
#[derive(Debug, Default)]
pub struct OfficeCache {
    list: Mutex<Vec<Arc<pb::Office>>>,
}

impl OfficeCache {
    pub async fn all(&self, app: &App) -> Result<Vec<Arc<pb::Office>>, Status> {
        {
            let list = self
                .list
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !list.is_empty() {
                return Ok(list.clone());
            }
        }
        let offices = app
            .quota
            .clone()
            .list_offices(pb::ListOfficesRequest {})
            .await?
            .into_inner()
            .offices
            .into_iter()
            .map(Arc::new)
            .collect::<Vec<_>>();
        *self
            .list
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = offices.clone();
        Ok(offices)
    }

    pub async fn by_phone_number_id(
        &self,
        app: &App,
        id: &str,
    ) -> Result<Option<Arc<pb::Office>>, Status> {
        Ok(self
            .all(app)
            .await?
            .into_iter()
            .find(|o| o.whatsapp.as_ref().is_some_and(|w| w.phone_number_id == id)))
    }

    pub async fn by_code(&self, app: &App, code: &str) -> Result<Option<Arc<pb::Office>>, Status> {
        Ok(self.all(app).await?.into_iter().find(|o| o.code == code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key() -> AvailabilityKey {
        ("BOGOR".into(), String::new(), String::new())
    }

    #[tokio::test]
    async fn reads_arriving_during_a_call_share_the_next_call_never_the_one_out() {
        let reads = Arc::new(AvailabilityReads::new(Duration::ZERO));
        let calls = Arc::new(AtomicUsize::new(0));
        let (release, held) = tokio::sync::oneshot::channel::<()>();
        let call = |calls: Arc<AtomicUsize>, gate: Option<tokio::sync::oneshot::Receiver<()>>| {
            move |_k: AvailabilityKey| async move {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                if let Some(g) = gate {
                    let _ = g.await;
                }
                Ok(Bytes::from(n.to_string()))
            }
        };
        let first = tokio::spawn({
            let (reads, calls) = (reads.clone(), calls.clone());
            async move { reads.read(key(), call(calls, Some(held))).await }
        });
        while calls.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // Two reads arrive while the first call is out: its answer may be older than them.
        let later: Vec<_> = (0..2)
            .map(|_| {
                let (reads, calls) = (reads.clone(), calls.clone());
                tokio::spawn(async move { reads.read(key(), call(calls, None)).await })
            })
            .collect();
        // The test runtime has one thread: the two run up to their wait before this goes on.
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap().unwrap(), "1");
        for r in later {
            assert_eq!(r.await.unwrap().unwrap(), "2");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // A read after everything settled makes its own call.
        let again = reads.read(key(), call(calls.clone(), None)).await;
        assert_eq!(again.unwrap(), "3");
    }

    #[tokio::test]
    async fn failed_calls_are_not_served_to_later_reads() {
        let reads = AvailabilityReads::new(Duration::ZERO);
        let down = reads
            .read(key(), |_| async { Err(Status::unavailable("quota down")) })
            .await;
        assert_eq!(down.unwrap_err().code(), Code::Unavailable);
        let up = reads
            .read(key(), |_| async { Ok(Bytes::from_static(b"{}")) })
            .await;
        assert_eq!(up.unwrap(), "{}");
    }
    #[tokio::test]
    async fn answers_are_reused_within_the_maximum_age_until_a_change() {
        let reads = AvailabilityReads::new(Duration::from_secs(3600));
        let calls = AtomicUsize::new(0);
        let call = |_k: AvailabilityKey| async {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(Bytes::from(n.to_string()))
        };
        assert_eq!(reads.read(key(), call).await.unwrap(), "1");
        assert_eq!(reads.read(key(), call).await.unwrap(), "1");
        reads.changed();
        assert_eq!(reads.read(key(), call).await.unwrap(), "2");
        assert_eq!(reads.read(key(), call).await.unwrap(), "2");
        let other = ("JAKARTA".to_owned(), String::new(), String::new());
        assert_eq!(reads.read(other, call).await.unwrap(), "3");
        // A failed call is never reused.
        reads.changed();
        let down = reads
            .read(key(), |_| async { Err(Status::unavailable("quota down")) })
            .await;
        assert_eq!(down.unwrap_err().code(), Code::Unavailable);
        assert_eq!(reads.read(key(), call).await.unwrap(), "4");
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }
}
