//! The JSON API under `/api/v1` (web portal, mobile app, other systems), over the same RPCs
//! as WhatsApp, so every channel shares one quota.
//!
//! Errors are `{"error": {"code", "message", "fields"?}}`: 400 (validation, per field), 403
//! (blocked), 404, 409 (`SOLD_OUT`, `ALREADY_BOOKED`, `LIMIT_REACHED`, ...), 410 (`EXPIRED`),
//! 429 with `Retry-After`, 503 when a dependency is down. Messages are in Bahasa Indonesia,
//! in English with `Accept-Language: en`.
use crate::App;
use crate::error::ErrorResponse;
use crate::error::{ApiError, required};
use crate::views;
use antrean_platform::domain::{from_timestamp, parse_date};
use antrean_platform::status;
use antrean_platform::status::Reason;
use antrean_proto::v1 as pb;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tonic::{Code, Status};
use utoipa::ToSchema;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v1/offices", get(offices))
        .route("/api/v1/offices/{code}/availability", get(availability))
        .route("/api/v1/verifications", post(start_verification))
        .route(
            "/api/v1/verifications/{id}/confirm",
            post(confirm_verification),
        )
        .route("/api/v1/bookings", post(create_booking).get(list_bookings))
        .route("/api/v1/waitlist", post(join_waitlist))
        .route("/api/v1/draws/{office_code}/{date}", get(get_draw))
        .route("/api/v1/bookings/{code}", get(get_booking))
        .route("/api/v1/bookings/{code}/cancel", post(cancel_booking))
        .route(
            "/api/v1/bookings/{code}/reschedule",
            post(reschedule_booking),
        )
        .route("/api/v1/bookings/{code}/proof.pdf", get(proof_pdf))
        .route("/api/v1/bookings/{code}/qr.svg", get(qr_svg))
        .route(
            "/api/v1/openapi.json",
            get(|| async { Json(crate::openapi::document()) }),
        )
}

fn english(h: &HeaderMap) -> bool {
    h.get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("en"))
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

#[utoipa::path(
    get, path = "/api/v1/offices", operation_id = "listOffices",
    summary = "Immigration offices and their WhatsApp numbers",
    responses(
        (status = 200, description = "Offices", body = Vec<views::Office>),
    )
)]
pub(crate) async fn offices(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult {
    let en = english(&headers);
    let ip = crate::client::addr(&app, peer, &headers);
    client(&app, ip, en)?;
    let list = app
        .backend
        .offices()
        .await
        .map_err(|s| ApiError::from_status(&s, en))?;
    Ok(Json(
        list.iter()
            .map(|o| views::Office::from(o.as_ref()))
            .collect::<Vec<_>>(),
    )
    .into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct Range {
    from: Option<String>,
    to: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/offices/{code}/availability", operation_id = "getAvailability",
    summary = "Open dates and remaining seats per session",
    params(
        ("code" = String, Path, example = "BOGOR"),
        ("from" = Option<String>, Query, format = Date),
        ("to" = Option<String>, Query, format = Date)
    ),
    responses(
        (status = 200, description = "Availability", body = views::Availability),
        (status = 400, description = "Invalid dates or range", body = ErrorResponse),
        (status = 404, description = "Unknown office", body = ErrorResponse),
    )
)]
pub(crate) async fn availability(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(range): Query<Range>,
) -> ApiResult {
    let en = english(&headers);
    let ip = crate::client::addr(&app, peer, &headers);
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
    let body = app
        .backend
        .availability(
            code.to_ascii_uppercase(),
            range.from.unwrap_or_default(),
            range.to.unwrap_or_default(),
            views::availability_json,
        )
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

fn date_message(en: bool) -> String {
    if en {
        "must be a date YYYY-MM-DD"
    } else {
        "harus tanggal berformat YYYY-MM-DD"
    }
    .to_owned()
}

/// Reads a JSON object body into `T`; a body that is not one is a 400.
fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes, en: bool) -> Result<T, ApiError> {
    // An object only: a struct would also read a list positionally.
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v @ Value::Object(_)) => T::deserialize(v).ok(),
        _ => None,
    }
    .ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
            if en {
                "The body must be a JSON object."
            } else {
                "Isi permintaan harus berupa objek JSON."
            },
        )
    })
}

/// A text field of a request body, trimmed. Anything but a string (a number, null, nothing)
/// reads as empty, so validation names the field instead of refusing the whole body.
#[derive(Debug, Default, Clone)]
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(Text(v.as_str().unwrap_or_default().trim().to_owned()))
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// A list field of a request body: items that are not objects of `T` read as empty ones, and
/// anything but a list as an empty list, so validation names what is wrong. At most
/// [`List::MAX`] items are read: a longer list is refused by its count, never built whole.
#[derive(Debug)]
struct List<T>(Vec<T>);

impl<T> List<T> {
    const MAX: usize = 64;
}

impl<T> Default for List<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, T: serde::de::DeserializeOwned + Default> Deserialize<'de> for List<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(List(
            v.as_array()
                .map(|items| {
                    items
                        .iter()
                        .take(Self::MAX)
                        .map(|i| T::deserialize(i).unwrap_or_default())
                        .collect()
                })
                .unwrap_or_default(),
        ))
    }
}

/// `POST /api/v1/verifications`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct StartVerification {
    #[serde(default)]
    #[schema(required = true, value_type = String, example = "081234567890")]
    phone: Text,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Email)]
    email: Text,
}

/// `POST /api/v1/verifications/{id}/confirm`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ConfirmVerification {
    #[serde(default)]
    #[schema(required = true, value_type = String, pattern = "^[0-9]{6}$")]
    code: Text,
}

/// `POST /api/v1/bookings` and `POST /api/v1/waitlist`: where, when and who. The contact is
/// the one the bearer's contact token proves.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = CreateBooking)]
pub(crate) struct BookingBody {
    #[serde(default)]
    #[schema(required = true, value_type = String, example = "BOGOR")]
    office_code: Text,
    #[serde(default)]
    #[schema(required = true, value_type = String, format = Date)]
    date: Text,
    #[serde(default)]
    #[schema(required = true, schema_with = session_schema)]
    session: Text,
    #[serde(default)]
    #[schema(required = true, value_type = Vec<ApplicantBody>, min_items = 1, max_items = 5)]
    applicants: List<ApplicantBody>,
}

fn session_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["PAGI", "SIANG"]))
        .build()
}

fn application_type_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some([
            "NEW",
            "REPLACEMENT",
            "LOST",
            "DAMAGED",
            "NAME_CHANGE",
        ]))
        .description(Some(
            "LOST, DAMAGED and NAME_CHANGE are handled only at the office's help desk: \
             asked for here they are refused with 409 OFFICE_ONLY.",
        ))
        .build()
}

fn passport_type_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["NON_ELECTRONIC", "ELECTRONIC"]))
        .description(Some(
            "The passport applied for; NON_ELECTRONIC when left out.",
        ))
        .build()
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(as = Applicant)]
pub(crate) struct ApplicantBody {
    #[serde(default)]
    #[schema(required = true, value_type = String, pattern = "^[0-9]{16}$")]
    nik: Text,
    #[serde(default)]
    #[schema(required = true, value_type = String)]
    name: Text,
    #[serde(default)]
    #[schema(required = true, value_type = String, format = Date)]
    birth_date: Text,
    #[serde(default)]
    #[schema(required = true, schema_with = application_type_schema)]
    application_type: Text,
    #[serde(default)]
    #[schema(schema_with = passport_type_schema)]
    passport_type: Text,
}

/// `POST /api/v1/bookings/{code}/cancel`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CancelBody {
    #[serde(default)]
    #[schema(required = true, value_type = String)]
    phone: Text,
}

/// `POST /api/v1/bookings/{code}/reschedule`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct RescheduleBody {
    /// The contact phone of the booking (second factor).
    #[serde(default)]
    #[schema(required = true, value_type = String)]
    phone: Text,
    /// The new date, office-local.
    #[serde(default)]
    #[schema(required = true, value_type = String, format = Date)]
    date: Text,
    /// The new session; the booking's own when left out.
    #[serde(default)]
    #[schema(schema_with = session_schema)]
    session: Text,
}

/// The booking fields of a request body (create and waitlist share them). The contact is
/// the one the bearer's contact token proves.
struct BookingInput {
    office_code: String,
    date: String,
    session: pb::Session,
    applicants: Vec<pb::ApplicantInput>,
}

/// `PAGI` or `SIANG` (any case); anything else is a bad `session` field.
fn session_field(s: &str, en: bool, bad: &mut Vec<(String, String)>) -> pb::Session {
    match s.to_ascii_uppercase().as_str() {
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
    }
}

fn booking_input(b: BookingBody, en: bool, bad: &mut Vec<(String, String)>) -> BookingInput {
    let office_code = b.office_code.to_ascii_uppercase();
    if office_code.is_empty() {
        bad.push(("office_code".into(), required(en)));
    }
    if parse_date(&b.date).is_none() {
        bad.push(("date".into(), date_message(en)));
    }
    let session = session_field(&b.session, en, bad);
    let list = b.applicants.0;
    if list.is_empty() || list.len() > antrean_platform::domain::MAX_APPLICANTS as usize {
        let (id, english) = antrean_platform::domain::applicants_rule();
        bad.push(("applicants".into(), if en { english } else { id }));
    }
    let mut applicants = Vec::new();
    for (i, a) in list.into_iter().enumerate() {
        if a.nik.is_empty() {
            bad.push((format!("applicants[{i}].nik"), required(en)));
        }
        let kind = match pb::ApplicationType::from_str_name(&format!(
            "APPLICATION_TYPE_{}",
            a.application_type.to_ascii_uppercase()
        )) {
            Some(t) if t != pb::ApplicationType::Unspecified => t,
            _ => {
                bad.push((
                    format!("applicants[{i}].application_type"),
                    if en {
                        "NEW or REPLACEMENT (LOST, DAMAGED and NAME_CHANGE at the office only)"
                    } else {
                        "NEW (baru) atau REPLACEMENT (penggantian); LOST, DAMAGED dan NAME_CHANGE hanya di kantor"
                    }
                    .into(),
                ));
                pb::ApplicationType::Unspecified
            }
        };
        let passport = match a.passport_type.to_ascii_uppercase().as_str() {
            "" | "NON_ELECTRONIC" => pb::PassportType::NonElectronic,
            "ELECTRONIC" => pb::PassportType::Electronic,
            _ => {
                bad.push((
                    format!("applicants[{i}].passport_type"),
                    if en {
                        "NON_ELECTRONIC or ELECTRONIC"
                    } else {
                        "NON_ELECTRONIC (biasa) atau ELECTRONIC (e-paspor)"
                    }
                    .into(),
                ));
                pb::PassportType::Unspecified
            }
        };
        applicants.push(pb::ApplicantInput {
            nik: a.nik.0,
            name: a.name.0,
            birth_date: a.birth_date.0,
            application_type: kind as i32,
            passport_type: passport as i32,
        });
    }
    BookingInput {
        office_code,
        date: b.date.0,
        session,
        applicants,
    }
}

/// `POST /api/v1/verifications`: a code to the phone (and e-mail); 202 with the id.
#[utoipa::path(
    post, path = "/api/v1/verifications", operation_id = "startVerification",
    summary = "Prove a phone before booking: a 6-digit code goes to it by WhatsApp (authentication template) and to the e-mail when given",
    request_body = StartVerification,
    responses(
        (status = 202, description = "Code sent", body = views::VerificationStarted),
        (status = 400, description = "Invalid phone or e-mail (see fields)", body = ErrorResponse),
    )
)]
pub(crate) async fn start_verification(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    let en = english(&headers);
    let ip = crate::client::addr(&app, peer, &headers);
    client(&app, ip, en)?;
    let b: StartVerification = body(&bytes, en)?;
    if b.phone.is_empty() {
        return Err(ApiError::fields(en, vec![("phone".into(), required(en))]));
    }
    let v = crate::verification::start(&app, ip, &b.phone, &b.email, en).await?;
    let expires = v.expires_at.as_ref().and_then(from_timestamp);
    Ok((
        StatusCode::ACCEPTED,
        Json(views::VerificationStarted {
            verification_id: v.verification_id,
            expires_at: expires.map(|t| t.to_rfc3339()),
        }),
    )
        .into_response())
}

/// `POST /api/v1/verifications/{id}/confirm`: the code for a contact token.
#[utoipa::path(
    post, path = "/api/v1/verifications/{verification_id}/confirm", operation_id = "confirmVerification",
    summary = "The code for a contact token (30 minutes), sent as `Authorization: Bearer` with bookings and waitlist joins",
    params(("verification_id" = String, Path)),
    request_body = ConfirmVerification,
    responses(
        (status = 200, description = "Verified", body = views::ContactProof),
        (status = 400, description = "WRONG_CODE (with attempts_left) or invalid fields", body = ErrorResponse),
        (status = 404, description = "Unknown verification", body = ErrorResponse),
        (status = 410, description = "EXPIRED, or VERIFICATION_ENDED after five wrong codes", body = ErrorResponse),
    )
)]
pub(crate) async fn confirm_verification(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let en = english(&headers);
    let ip = crate::client::addr(&app, peer, &headers);
    client(&app, ip, en)?;
    let b: ConfirmVerification = body(&bytes, en)?;
    let proof = crate::verification::confirm(&app, ip, &id, &b.code, en).await?;
    let expires = proof.expires_at.as_ref().and_then(from_timestamp);
    Ok(Json(views::ContactProof {
        contact_token: proof.contact_token,
        expires_at: expires.map(|t| t.to_rfc3339()),
        phone_masked: proof.phone_masked,
    })
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
#[utoipa::path(
    post, path = "/api/v1/bookings", operation_id = "createBooking",
    summary = "Book 1-5 applicants for the verified contact: confirmed at once with booking code, queue numbers and schedule",
    security(("contactToken" = [])),
    params(
        ("Idempotency-Key" = String, Header, max_length = 200, description = "Unique per booking attempt; a replay answers the first result.")
    ),
    request_body = BookingBody,
    responses(
        (status = 201, description = "Confirmed", body = views::Booking),
        (status = 202, description = "The date has just opened: an entry of its release draw, decided at draw_at", body = views::DrawEntry),
        (status = 400, description = "Invalid fields (see fields) or a closed date", body = ErrorResponse),
        (status = 401, description = "CONTACT_NOT_VERIFIED: no live contact token; nothing is held", body = ErrorResponse),
        (status = 403, description = "BLOCKED_NO_SHOW", body = ErrorResponse),
        (status = 404, description = "Unknown office", body = ErrorResponse),
        (status = 409, description = "SOLD_OUT, ALREADY_BOOKED, LIMIT_REACHED, IDEMPOTENCY_KEY_REUSED, NOT_RELEASED (with opens_at), DRAW_RUNNING (with retry_at), ALREADY_ENTERED", body = ErrorResponse),
    )
)]
pub(crate) async fn create_booking(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    let en = english(&headers);
    let ip = crate::client::addr(&app, peer, &headers);
    client(&app, ip, en)?;
    // Nothing is read or held for a request without a contact token.
    let token = bearer(&headers, en)?;
    let b: BookingBody = body(&bytes, en)?;
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
    } = booking_input(b, en, &mut bad);
    if !bad.is_empty() {
        return Err(ApiError::fields(en, bad));
    }
    booking_limits(&app, ip, &token, en).await?;
    let created = app
        .backend
        .booking()
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
        })
        .await
        .map_err(|s| ApiError::from_status(&s, en))?
        .into_inner();
    if let Some(e) = created.entry {
        // The date has just opened: an entry of its release draw, decided at `draw_at`.
        return Ok((StatusCode::ACCEPTED, Json(views::DrawEntry::from(&e))).into_response());
    }
    let booking = created.booking.unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        Json(views::booking(&app.backend, &booking).await),
    )
        .into_response())
}

/// `GET /api/v1/draws/{office_code}/{date}`: the draw as published, for anyone to verify.
#[utoipa::path(
    get, path = "/api/v1/draws/{office_code}/{date}", operation_id = "getDraw",
    summary = "A release draw as published: before the window the seed's SHA-256 and the beacon round; at the close the frozen entry list's SHA-256; after the draw the seed, the beacon's randomness and every entry (pseudonymous id, session, seats, position, outcome). `antrean-draw verify` recomputes the order",
    params(
        ("office_code" = String, Path, example = "BOGOR"),
        ("date" = String, Path, format = Date)
    ),
    responses(
        (status = 200, description = "The draw", body = views::Draw),
        (status = 400, description = "Invalid date", body = ErrorResponse),
        (status = 404, description = "NO_DRAW (the date's release has no draw window) or unknown office", body = ErrorResponse),
    )
)]
pub(crate) async fn get_draw(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((office, date)): Path<(String, String)>,
) -> ApiResult {
    let en = english(&headers);
    let ip = crate::client::addr(&app, peer, &headers);
    client(&app, ip, en)?;
    if parse_date(&date).is_none() {
        return Err(ApiError::fields(
            en,
            vec![("date".into(), date_message(en))],
        ));
    }
    let d = app
        .backend
        .booking()
        .get_draw(pb::GetDrawRequest {
            office_code: office,
            date,
        })
        .await
        .map_err(|s| ApiError::from_status(&s, en))?
        .into_inner();
    Ok(Json(views::Draw::from(&d)).into_response())
}

/// Joins the waitlist of a full session (the same body as a booking, no Idempotency-Key:
/// one place per phone and session, so a repeat answers the same place).
#[utoipa::path(
    post, path = "/api/v1/waitlist", operation_id = "joinWaitlist",
    summary = "Join the waitlist of a full session for the verified contact; freed seats are offered in line order by WhatsApp with a confirmation code (confirm it by replying to the message)",
    security(("contactToken" = [])),
    request_body = BookingBody,
    responses(
        (status = 201, description = "In line (joining again answers the same place)", body = views::WaitlistEntry),
        (status = 400, description = "Invalid fields", body = ErrorResponse),
        (status = 401, description = "CONTACT_NOT_VERIFIED", body = ErrorResponse),
        (status = 403, description = "BLOCKED_NO_SHOW", body = ErrorResponse),
        (status = 404, description = "Unknown office", body = ErrorResponse),
        (status = 409, description = "SEATS_AVAILABLE (book directly) or NOT_BOOKABLE", body = ErrorResponse),
    )
)]
pub(crate) async fn join_waitlist(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    let en = english(&headers);
    let ip = crate::client::addr(&app, peer, &headers);
    client(&app, ip, en)?;
    let token = bearer(&headers, en)?;
    let b: BookingBody = body(&bytes, en)?;
    let mut bad = Vec::new();
    let input = booking_input(b, en, &mut bad);
    if !bad.is_empty() {
        return Err(ApiError::fields(en, bad));
    }
    booking_limits(&app, ip, &token, en).await?;
    let entry = app
        .backend
        .booking()
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
        Json(views::WaitlistEntry::from(&entry)),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct PhoneQuery {
    phone: Option<String>,
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
    crate::ratelimit::lookups(app, ip, &phone, en).await?;
    let started = tokio::time::Instant::now();
    let r = app
        .backend
        .booking()
        .get_booking(pb::GetBookingRequest {
            key: Some(pb::get_booking_request::Key::BookingCode(code.to_owned())),
            contact_phone: phone,
            office_code: String::new(),
        })
        .await;
    if r.is_err() {
        crate::error::pad_failure(started).await;
    }
    match r {
        Ok(b) => Ok(b.into_inner()),
        // A malformed code answers exactly like an unknown one.
        Err(s) if s.code() == Code::InvalidArgument => Err(ApiError::from_status(
            &Status::from(status::Problem::new(
                Code::NotFound,
                Reason::NotFound,
                "Booking tidak ditemukan. Periksa kembali kode booking dan nomor HP.",
                "Booking not found. Check the booking code and phone number.",
            )),
            en,
        )),
        Err(s) => Err(ApiError::from_status(&s, en)),
    }
}

#[utoipa::path(
    get, path = "/api/v1/bookings", operation_id = "listBookings",
    summary = "The bookings of the phone a contact token proved, newest first (50 at most): a lost booking code is found again here",
    params(("active" = Option<bool>, Query, description = "Only bookings still ahead (held, confirmed, checked in).")),
    security(("contactToken" = [])),
    responses(
        (status = 200, description = "The bookings", body = Vec<views::Booking>),
        (status = 401, description = "CONTACT_NOT_VERIFIED: no live contact token", body = ErrorResponse),
    )
)]
pub(crate) async fn list_bookings(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let en = english(&headers);
    let token = bearer(&headers, en)?;
    // Limited like look-ups by code, per client network and per token.
    crate::ratelimit::lookups(&app, crate::client::addr(&app, peer, &headers), &token, en).await?;
    let active = q.get("active").is_some_and(|v| v == "true" || v == "1");
    let list = app
        .backend
        .booking()
        .list_bookings(pb::ListBookingsRequest {
            contact_phone: String::new(),
            contact_token: token,
        })
        .await
        .map_err(|s| ApiError::from_status(&s, en))?
        .into_inner()
        .bookings;
    let mut out = Vec::with_capacity(list.len());
    for b in list.iter().filter(|b| !active || is_active(b)) {
        out.push(views::booking(&app.backend, b).await);
    }
    Ok(Json(out).into_response())
}

/// Held, confirmed or checked in: a booking still ahead of its applicant.
pub(crate) fn is_active(b: &pb::Booking) -> bool {
    matches!(
        pb::BookingStatus::try_from(b.status),
        Ok(pb::BookingStatus::Held | pb::BookingStatus::Confirmed | pb::BookingStatus::CheckedIn)
    )
}

#[utoipa::path(
    get, path = "/api/v1/bookings/{booking_code}", operation_id = "getBooking",
    summary = "A booking by code; a wrong phone answers 404 like an unknown code",
    params(("booking_code" = String, Path, example = "7K3M-9QX2-HT4R-D"), ("phone" = String, Query, description = "The contact phone of the booking (second factor).", example = "081234567890")),
    responses(
        (status = 200, description = "The booking", body = views::Booking),
        (status = 400, description = "Missing phone", body = ErrorResponse),
        (status = 404, description = "Unknown code or wrong phone", body = ErrorResponse),
    )
)]
pub(crate) async fn get_booking(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(q): Query<PhoneQuery>,
) -> ApiResult {
    let en = english(&headers);
    let b = lookup(
        &app,
        crate::client::addr(&app, peer, &headers),
        en,
        &code,
        q.phone,
    )
    .await?;
    Ok(Json(views::booking(&app.backend, &b).await).into_response())
}

#[utoipa::path(
    post, path = "/api/v1/bookings/{booking_code}/cancel", operation_id = "cancelBooking",
    summary = "Cancel; the seats return at once",
    params(("booking_code" = String, Path, example = "7K3M-9QX2-HT4R-D")),
    request_body = CancelBody,
    responses(
        (status = 200, description = "Cancelled", body = views::Booking),
        (status = 400, description = "Missing phone", body = ErrorResponse),
        (status = 404, description = "Unknown code or wrong phone", body = ErrorResponse),
        (status = 409, description = "WRONG_STATUS", body = ErrorResponse),
    )
)]
pub(crate) async fn cancel_booking(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(code): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let en = english(&headers);
    let b: CancelBody = body(&bytes, en)?;
    let phone = b.phone.0;
    lookup(
        &app,
        crate::client::addr(&app, peer, &headers),
        en,
        &code,
        Some(phone.clone()),
    )
    .await?;
    let cancelled = app
        .backend
        .booking()
        .cancel_booking(pb::CancelBookingRequest {
            booking_code: code,
            contact_phone: phone,
        })
        .await
        .map_err(|s| ApiError::from_status(&s, en))?
        .into_inner();
    Ok(Json(views::booking(&app.backend, &cancelled).await).into_response())
}

#[utoipa::path(
    post, path = "/api/v1/bookings/{booking_code}/reschedule", operation_id = "rescheduleBooking",
    summary = "Move to another date or session, once, up to the day before",
    description = "The new seats are held and committed before the old ones are released, for all the booking's applicants together; queue numbers and times are taken anew and the new details are sent by WhatsApp (and e-mail where known). Asking again for the date and session it moved to answers the booking.",
    params(("booking_code" = String, Path, example = "7K3M-9QX2-HT4R-D")),
    request_body = RescheduleBody,
    responses(
        (status = 200, description = "Rescheduled", body = views::Booking),
        (status = 400, description = "Missing phone, a bad date or session, or the same schedule", body = ErrorResponse),
        (status = 404, description = "Unknown code or wrong phone", body = ErrorResponse),
        (status = 409, description = "RESCHEDULE_USED (moved once already), TOO_LATE (on or after the day before), SOLD_OUT (with details.next_dates), CLOSED, WRONG_STATUS", body = ErrorResponse),
    )
)]
pub(crate) async fn reschedule_booking(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(code): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let en = english(&headers);
    let b: RescheduleBody = body(&bytes, en)?;
    let mut bad = Vec::new();
    if b.phone.is_empty() {
        bad.push(("phone".into(), required(en)));
    }
    if parse_date(&b.date).is_none() {
        bad.push(("date".into(), date_message(en)));
    }
    let session = if b.session.is_empty() {
        pb::Session::Unspecified
    } else {
        session_field(&b.session, en, &mut bad)
    };
    if !bad.is_empty() {
        return Err(ApiError::fields(en, bad));
    }
    let phone = b.phone.0;
    lookup(
        &app,
        crate::client::addr(&app, peer, &headers),
        en,
        &code,
        Some(phone.clone()),
    )
    .await?;
    let moved = app
        .backend
        .booking()
        .reschedule_booking(pb::RescheduleBookingRequest {
            booking_code: code,
            contact_phone: phone,
            date: b.date.0,
            session: session as i32,
            requested_via: pb::Channel::Web as i32,
        })
        .await
        .map_err(|s| ApiError::from_status(&s, en))?
        .into_inner();
    Ok(Json(views::booking(&app.backend, &moved).await).into_response())
}

#[utoipa::path(
    get, path = "/api/v1/bookings/{booking_code}/proof.pdf", operation_id = "getProofPdf",
    summary = "Proof of booking as a PDF (code, QR code, queue numbers, schedule, checklist)",
    params(("booking_code" = String, Path, example = "7K3M-9QX2-HT4R-D"), ("phone" = String, Query, description = "The contact phone of the booking (second factor).", example = "081234567890")),
    responses(
        (status = 200, description = "PDF", content_type = "application/pdf", body = Vec<u8>),
        (status = 404, description = "Unknown code or wrong phone", body = ErrorResponse),
    )
)]
pub(crate) async fn proof_pdf(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(q): Query<PhoneQuery>,
) -> ApiResult {
    let en = english(&headers);
    let b = lookup(
        &app,
        crate::client::addr(&app, peer, &headers),
        en,
        &code,
        q.phone,
    )
    .await?;
    let page = views::proof_page(&app.backend, &b).await;
    let file = format!("attachment; filename=\"booking-{}.pdf\"", b.booking_code);
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (header::CONTENT_DISPOSITION, file),
        ],
        antrean_proof::pdf(&page),
    )
        .into_response())
}

#[utoipa::path(
    get, path = "/api/v1/bookings/{booking_code}/qr.svg", operation_id = "getQrCode",
    summary = "The booking code as a QR code, scanned at the door",
    params(("booking_code" = String, Path, example = "7K3M-9QX2-HT4R-D"), ("phone" = String, Query, description = "The contact phone of the booking (second factor).", example = "081234567890")),
    responses(
        (status = 200, description = "SVG", content_type = "image/svg+xml", body = String),
        (status = 404, description = "Unknown code or wrong phone", body = ErrorResponse),
    )
)]
pub(crate) async fn qr_svg(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(q): Query<PhoneQuery>,
) -> ApiResult {
    let en = english(&headers);
    let b = lookup(
        &app,
        crate::client::addr(&app, peer, &headers),
        en,
        &code,
        q.phone,
    )
    .await?;
    Ok((
        [(header::CONTENT_TYPE, "image/svg+xml")],
        antrean_proof::qr_svg(&b.booking_code),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(body: &str) -> Result<BookingBody, ApiError> {
        super::body(&Bytes::from(body.to_owned()), false)
    }

    #[test]
    fn only_an_object_is_a_body() {
        for bad in [
            "[\"BOGOR\", \"2026-12-01\", \"PAGI\", []]",
            "null",
            "\"x\"",
            "{",
            "",
        ] {
            let e = parsed(bad).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(e.message_text(), "Isi permintaan harus berupa objek JSON.");
        }
    }

    #[test]
    fn fields_of_the_wrong_kind_are_named_not_refused_whole() {
        let b = parsed(
            r#"{"office_code": 7, "date": " 2026-12-01 ", "session": "pagi",
                "applicants": [42, {"nik": "3201", "application_type": "NEW", "name": null}]}"#,
        )
        .unwrap();
        let mut bad = Vec::new();
        let input = booking_input(b, false, &mut bad);
        let fields: Vec<&str> = bad.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "office_code",
                "applicants[0].nik",
                "applicants[0].application_type"
            ]
        );
        assert_eq!(input.date, "2026-12-01");
        assert_eq!(input.session, pb::Session::Pagi);
        assert_eq!(input.applicants.len(), 2);
        assert_eq!(input.applicants[1].name, "");
        let b = parsed(r#"{"applicants": "everyone"}"#).unwrap();
        let mut bad = Vec::new();
        booking_input(b, true, &mut bad);
        assert!(bad.contains(&("applicants".into(), "1 to 5 applicants".into())));
    }
}
