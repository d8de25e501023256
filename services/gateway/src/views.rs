//! What a booking, an office, a draw and availability look like to each channel: the JSON
//! API's objects and the proof of booking (PDF and portal page).
use crate::upstream::Backend;
use antrean_platform::domain::from_timestamp;
use antrean_proto::v1 as pb;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

// ---- The JSON API's objects (and their OpenAPI schemas, from the same types) -----------

/// A string schema that admits only `values` (and null when `nullable`).
fn names(values: &[&str], nullable: bool) -> Object {
    let mut kinds = vec![Type::String];
    let mut allowed: Vec<serde_json::Value> = values.iter().map(|v| (*v).into()).collect();
    if nullable {
        kinds.push(Type::Null);
        allowed.push(serde_json::Value::Null);
    }
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter(kinds))
        .enum_values(Some(allowed))
        .build()
}

fn session_schema() -> Object {
    names(&["PAGI", "SIANG"], false)
}

fn closed_reason_schema() -> Object {
    names(
        &[
            "WEEKEND",
            "HOLIDAY",
            "CLOSED_BY_OFFICE",
            "OUTSIDE_HORIZON",
            "NOT_RELEASED",
        ],
        true,
    )
}

fn stage_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(
            antrean_platform::progress::STAGES.map(antrean_platform::progress::name),
        ))
        .build()
}

fn booking_status_schema() -> Object {
    names(
        &[
            "HELD",
            "CONFIRMED",
            "CHECKED_IN",
            "SERVED",
            "EXPIRED",
            "CANCELLED",
            "FORFEITED",
            "NO_SHOW",
        ],
        false,
    )
}

fn zone_schema() -> Object {
    names(&["WIB", "WITA", "WIT"], false)
}

fn draw_state_schema() -> Object {
    names(&["OPEN", "DRAWING", "DONE"], false)
}

fn outcome_schema() -> Object {
    names(&["WON", "WAITLISTED", "REFUSED"], false)
}

fn waitlist_state_schema() -> Object {
    names(&["WAITING", "OFFERED"], false)
}

pub fn session_name(s: i32) -> &'static str {
    match pb::Session::try_from(s) {
        Ok(pb::Session::Siang) => "SIANG",
        _ => "PAGI",
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

fn rfc3339(t: Option<&prost_types::Timestamp>) -> Option<String> {
    t.and_then(from_timestamp).map(|t| t.to_rfc3339())
}

fn local(t: Option<&prost_types::Timestamp>, tz: Tz) -> Option<String> {
    t.and_then(from_timestamp)
        .map(|t: DateTime<Utc>| t.with_timezone(&tz).to_rfc3339())
}

/// An immigration office and its WhatsApp number.
#[derive(Debug, Serialize, ToSchema)]
pub struct Office {
    #[schema(example = "BOGOR")]
    pub code: String,
    pub name: String,
    pub city: String,
    #[schema(example = "Asia/Jakarta")]
    pub timezone: String,
    pub address: String,
    pub whatsapp: WhatsAppNumber,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WhatsAppNumber {
    pub display_phone_number: String,
    pub phone_number_id: String,
}

impl From<&pb::Office> for Office {
    fn from(o: &pb::Office) -> Self {
        let wa = o.whatsapp.clone().unwrap_or_default();
        Self {
            code: o.code.clone(),
            name: o.name.clone(),
            city: o.city.clone(),
            timezone: o.timezone.clone(),
            address: o.address.clone(),
            whatsapp: WhatsAppNumber {
                display_phone_number: wa.display_phone_number,
                phone_number_id: wa.phone_number_id,
            },
        }
    }
}

/// Open dates and the seats left per session.
#[derive(Debug, Serialize, ToSchema)]
pub struct Availability {
    pub office: String,
    pub days: Vec<Day>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Day {
    #[schema(format = Date)]
    pub date: String,
    pub open: bool,
    #[schema(schema_with = closed_reason_schema)]
    pub closed_reason: Option<String>,
    pub note: String,
    pub sessions: Vec<SessionSeats>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionSeats {
    #[schema(schema_with = session_schema)]
    pub session: &'static str,
    pub capacity: u32,
    pub remaining: u32,
    /// Local start, `HH:MM`.
    pub start: String,
    /// Local end, `HH:MM`.
    pub end: String,
}

/// The availability answer as the API sends it (kept as bytes to be shared by many reads).
pub fn availability_json(r: &pb::GetAvailabilityResponse) -> Bytes {
    let a = Availability {
        office: r.office_code.clone(),
        days: r
            .days
            .iter()
            .map(|d| Day {
                date: d.date.clone(),
                open: d.open,
                closed_reason: non_empty(&d.closed_reason),
                note: d.note.clone(),
                sessions: d
                    .sessions
                    .iter()
                    .map(|s| SessionSeats {
                        session: session_name(s.session),
                        capacity: s.capacity,
                        remaining: s.remaining,
                        start: s.start_local.clone(),
                        end: s.end_local.clone(),
                    })
                    .collect(),
            })
            .collect(),
    };
    Bytes::from(serde_json::to_vec(&a).unwrap_or_default())
}

/// A phone verification under way.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationStarted {
    #[schema(format = Uuid)]
    pub verification_id: String,
    #[schema(format = DateTime, required = true)]
    pub expires_at: Option<String>,
}

/// A verified contact: the token bookings and waitlist joins carry as `Authorization: Bearer`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactProof {
    pub contact_token: String,
    #[schema(format = DateTime, required = true)]
    pub expires_at: Option<String>,
    pub phone_masked: String,
}

/// A place on a waitlist.
#[derive(Debug, Serialize, ToSchema)]
pub struct WaitlistEntry {
    #[schema(format = Uuid)]
    pub entry_id: String,
    #[schema(minimum = 1)]
    pub position: u32,
    #[schema(schema_with = waitlist_state_schema)]
    pub state: String,
}

impl From<&pb::WaitlistEntry> for WaitlistEntry {
    fn from(e: &pb::WaitlistEntry) -> Self {
        Self {
            entry_id: e.entry_id.clone(),
            position: e.position,
            state: e.state.clone(),
        }
    }
}

/// An entry of a release draw, decided at `draw_at`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DrawEntry {
    #[schema(format = Uuid)]
    pub entry_id: String,
    #[schema(format = DateTime, required = true)]
    pub draw_at: Option<String>,
    #[schema(example = "00:05 WIB")]
    pub draw_at_local: String,
    pub office_code: String,
    #[schema(format = Date)]
    pub date: String,
    #[schema(schema_with = session_schema)]
    pub session: &'static str,
    #[schema(minimum = 1, maximum = 5)]
    pub seats: u32,
}

impl From<&pb::DrawEntry> for DrawEntry {
    fn from(e: &pb::DrawEntry) -> Self {
        Self {
            entry_id: e.entry_id.clone(),
            draw_at: rfc3339(e.draw_at.as_ref()),
            draw_at_local: e.draw_at_local.clone(),
            office_code: e.office_code.clone(),
            date: e.date.clone(),
            session: session_name(e.session),
            seats: e.seats,
        }
    }
}

/// A release draw as published: what `antrean-draw verify` reads.
#[derive(Debug, Serialize, ToSchema)]
pub struct Draw {
    pub office_code: String,
    #[schema(format = Date)]
    pub date: String,
    #[schema(schema_with = draw_state_schema)]
    pub state: String,
    #[schema(format = DateTime)]
    pub opens_at: Option<String>,
    #[schema(format = DateTime)]
    pub closes_at: Option<String>,
    pub seed_sha256: String,
    pub beacon: Beacon,
    pub entries_sha256: Option<String>,
    pub entry_count: u32,
    pub seed: Option<String>,
    pub entries: Vec<DrawnEntry>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Beacon {
    pub url: String,
    pub round: u64,
    pub randomness: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DrawnEntry {
    #[schema(format = Uuid)]
    pub entry_id: String,
    #[schema(schema_with = session_schema)]
    pub session: &'static str,
    pub seats: u32,
    pub position: u32,
    #[schema(schema_with = outcome_schema)]
    pub outcome: String,
}

impl From<&pb::Draw> for Draw {
    fn from(d: &pb::Draw) -> Self {
        Self {
            office_code: d.office_code.clone(),
            date: d.date.clone(),
            state: d.state.clone(),
            opens_at: rfc3339(d.opens_at.as_ref()),
            closes_at: rfc3339(d.closes_at.as_ref()),
            seed_sha256: d.seed_sha256.clone(),
            beacon: Beacon {
                url: d.beacon_url.clone(),
                round: d.beacon_round,
                randomness: non_empty(&d.beacon_randomness),
            },
            entries_sha256: non_empty(&d.entries_sha256),
            entry_count: d.entry_count,
            seed: non_empty(&d.seed),
            entries: d
                .entries
                .iter()
                .map(|e| DrawnEntry {
                    entry_id: e.entry_id.clone(),
                    session: session_name(e.session),
                    seats: e.seats,
                    position: e.position,
                    outcome: e.outcome.clone(),
                })
                .collect(),
        }
    }
}

/// A booking: its code, status, office, date, session and each applicant's queue number and
/// schedule (times in the office's zone).
#[derive(Debug, Serialize, ToSchema)]
pub struct Booking {
    pub booking_id: String,
    #[schema(required = true)]
    pub booking_code: Option<String>,
    #[schema(schema_with = booking_status_schema)]
    pub status: String,
    pub office: BookingOffice,
    #[schema(format = Date)]
    pub date: String,
    #[schema(schema_with = session_schema)]
    pub session: &'static str,
    #[schema(schema_with = zone_schema)]
    pub timezone_abbreviation: String,
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    pub contact: BookingContact,
    pub applicants: Vec<BookingApplicant>,
    /// Where the booking was before it was rescheduled (a booking moves once); null if never.
    pub rescheduled_from: Option<Slot>,
    /// The office's passport pickup hours (e.g. "13:00-15:00 WIB") once a passport of the
    /// booking is ready; null before.
    pub pickup_hours: Option<String>,
}

/// A date and session.
#[derive(Debug, Serialize, ToSchema)]
pub struct Slot {
    #[schema(format = Date)]
    pub date: String,
    #[schema(schema_with = session_schema)]
    pub session: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BookingOffice {
    pub code: String,
    pub name: String,
    pub address: String,
    pub timezone: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BookingContact {
    pub phone_masked: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BookingApplicant {
    pub name: String,
    pub application_type: String,
    /// `NON_ELECTRONIC` or `ELECTRONIC`.
    pub passport_type: String,
    /// Under 17 on the booking's date: comes with a parent.
    pub minor: bool,
    /// What this applicant brings, in Bahasa Indonesia.
    pub requirements: Vec<String>,
    /// Progress after the counter.
    #[schema(schema_with = stage_schema)]
    pub stage: &'static str,
    /// When the applicant reached the stage; null while WAITING.
    #[schema(format = DateTime, required = true)]
    pub stage_at: Option<String>,
    #[schema(required = true)]
    pub queue_number: Option<String>,
    #[schema(format = DateTime, required = true)]
    pub scheduled_at: Option<String>,
    #[schema(format = DateTime, required = true)]
    pub arrive_by: Option<String>,
}

/// A booking as the API shows it.
pub async fn booking(backend: &Backend, b: &pb::Booking) -> Booking {
    let office = backend.office(&b.office_code).await.ok().flatten();
    let tz: Tz = office
        .as_ref()
        .and_then(|o| o.timezone.parse().ok())
        .unwrap_or(Tz::Asia__Jakarta);
    let status = pb::BookingStatus::try_from(b.status)
        .map(|s| s.as_str_name().trim_start_matches("BOOKING_STATUS_"))
        .unwrap_or_default();
    Booking {
        booking_id: b.booking_id.clone(),
        booking_code: non_empty(&b.booking_code),
        status: status.to_owned(),
        office: BookingOffice {
            code: b.office_code.clone(),
            name: office.as_ref().map(|o| o.name.clone()).unwrap_or_default(),
            address: office
                .as_ref()
                .map(|o| o.address.clone())
                .unwrap_or_default(),
            timezone: tz.name().to_owned(),
        },
        date: b.date.clone(),
        session: session_name(b.session),
        timezone_abbreviation: b.timezone_abbreviation.clone(),
        expires_at: local(b.expires_at.as_ref(), tz),
        contact: BookingContact {
            phone_masked: b.contact_phone_masked.clone(),
        },
        applicants: b
            .applicants
            .iter()
            .map(|a| BookingApplicant {
                name: a.name.clone(),
                application_type: pb::ApplicationType::try_from(a.application_type)
                    .map(|t| t.as_str_name().trim_start_matches("APPLICATION_TYPE_"))
                    .unwrap_or_default()
                    .to_owned(),
                passport_type: antrean_platform::requirements::passport_type(a.passport_type)
                    .as_str_name()
                    .trim_start_matches("PASSPORT_TYPE_")
                    .to_owned(),
                minor: a.minor,
                requirements: a.requirements.clone(),
                stage: antrean_platform::progress::name(
                    pb::ApplicationStage::try_from(a.stage)
                        .ok()
                        .filter(|s| *s != pb::ApplicationStage::Unspecified)
                        .unwrap_or(pb::ApplicationStage::Waiting),
                ),
                stage_at: local(a.stage_at.as_ref(), tz),
                queue_number: non_empty(&a.queue_number),
                scheduled_at: local(a.scheduled_at.as_ref(), tz),
                arrive_by: local(a.arrive_by.as_ref(), tz),
            })
            .collect(),
        pickup_hours: non_empty(&b.pickup_hours),
        rescheduled_from: (!b.rescheduled_from_date.is_empty()).then(|| Slot {
            date: b.rescheduled_from_date.clone(),
            session: session_name(b.rescheduled_from_session),
        }),
    }
}

/// The content of a proof of booking (PDF and portal page).
pub async fn proof_page(backend: &Backend, b: &pb::Booking) -> antrean_proof::ProofPage {
    let office = backend.office(&b.office_code).await.ok().flatten();
    antrean_proof::page(
        b,
        office.as_ref().map_or(b.office_code.as_str(), |o| &o.name),
        office.as_ref().map_or("", |o| &o.address),
    )
}
