//! The booking state machine.
//!
//! Every change of status happens in one transaction that also writes a `booking_events`
//! row and, for exits, frees the person for new bookings. Work on other services that must
//! follow a committed change (giving seats back, recording a no-show) is flagged on the row
//! and retried by [`Bookings::sweep`] until it succeeds, so a crash between the two loses
//! nothing.
use crate::code::{BookingCode, confirmation_code};
use crate::config::BookingConfig;
use crate::error::{BookingError, Result};
use crate::schedule::scheduled_at;
use crate::status::{BookingStatus, BookingStatus::*, Transition, transition};
use antrean_platform::clock::SharedClock;
use antrean_platform::domain::{
    SessionOfDay, format_date, from_timestamp, indonesian_zone_abbreviation, local_date,
    local_hhmm, local_instant, parse_date, parse_hhmm, to_timestamp,
};
use antrean_platform::grpc::TracedChannel;
use antrean_platform::status::Reason;
use antrean_platform::status::{self, FieldViolation};
use antrean_proto::v1 as pb;
use antrean_proto::v1::identity_service_client::IdentityServiceClient;
use antrean_proto::v1::notification_service_client::NotificationServiceClient;
use antrean_proto::v1::quota_service_client::QuotaServiceClient;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::{FromRow, PgConnection, PgPool};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct BookingRow {
    pub id: Uuid,
    pub idempotency_key: String,
    pub request_hash: String,
    pub channel: String,
    pub office_code: String,
    pub date: NaiveDate,
    pub session: String,
    pub timezone: String,
    pub session_start_at: DateTime<Utc>,
    pub session_end_at: DateTime<Utc>,
    pub contact_id: Uuid,
    pub contact_phone_masked: String,
    pub status: BookingStatus,
    pub confirmation_code: String,
    pub confirm_attempts: i32,
    pub expires_at: DateTime<Utc>,
    pub booking_code: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, FromRow)]
pub struct ApplicantRow {
    pub position: i32,
    pub applicant_id: Uuid,
    pub person_key: String,
    pub name: String,
    pub application_type: String,
    pub passport_type: String,
    pub birth_date: Option<NaiveDate>,
    pub queue_number: Option<String>,
    pub scheduled_at: Option<DateTime<Utc>>,
    /// Progress after the counter (`WAITING` until staff advance it) and since when.
    pub stage: String,
    pub stage_at: Option<DateTime<Utc>>,
}

impl BookingRow {
    /// The booking code as applicants write it (`7K3M-9QX2-HT4R-D`), once confirmed.
    pub fn code_display(&self) -> Option<String> {
        self.booking_code
            .as_deref()
            .and_then(BookingCode::parse)
            .map(|c| c.display())
    }
}

impl ApplicantRow {
    /// Under 17 on `date` (a birth date cleared by retention counts as an adult).
    pub fn minor_on(&self, date: NaiveDate) -> bool {
        self.birth_date
            .is_some_and(|b| antrean_platform::requirements::minor_on(b, date))
    }

    /// The passport applied for (stored as `NON_ELECTRONIC` or `ELECTRONIC`).
    pub fn passport(&self) -> pb::PassportType {
        pb::PassportType::from_str_name(&format!("PASSPORT_TYPE_{}", self.passport_type))
            .unwrap_or(pb::PassportType::NonElectronic)
    }

    /// What this person brings to a booking on `date`.
    pub fn requirements(&self, date: NaiveDate) -> Vec<&'static str> {
        antrean_platform::requirements::requirements(
            pb::ApplicationType::from_str_name(&self.application_type).unwrap_or_default(),
            self.passport(),
            self.minor_on(date),
        )
    }
}

/// A person of a booking being confirmed, with the session's last queue number once the
/// booking's people have taken theirs.
struct Numbered {
    person: ApplicantRow,
    last: i32,
}

/// What CreateBooking made: a booking (with its confirmation code while HELD), or an entry
/// of the date's release draw.
#[derive(Debug)]
pub enum Created {
    Booking(BookingView, String),
    Entry(crate::draws::EntryView),
}

/// A booking with its applicants.
#[derive(Debug, Clone)]
pub struct BookingView {
    pub booking: BookingRow,
    pub applicants: Vec<ApplicantRow>,
    /// The date and session it left when it was rescheduled.
    pub moved_from: Option<(NaiveDate, String)>,
}

/// What the booking service needs to know of an office.
#[derive(Debug, Clone)]
pub struct OfficeInfo {
    pub name: String,
    pub address: String,
    /// The office's WhatsApp Cloud API number (reminders are sent from it).
    pub phone_number_id: String,
    pub tz: Tz,
    pub hours: HashMap<SessionOfDay, (chrono::NaiveTime, chrono::NaiveTime)>,
}

impl OfficeInfo {
    /// A session's opening hours; INVALID_ARGUMENT for a session the office does not hold.
    pub fn hours_of(&self, s: SessionOfDay) -> Result<(chrono::NaiveTime, chrono::NaiveTime)> {
        self.hours
            .get(&s)
            .copied()
            .ok_or_else(|| invalid("session", "sesi ini tidak dibuka di kantor ini"))
    }
}

/// The services the booking service calls.
pub struct Clients {
    pub identity: IdentityServiceClient<TracedChannel>,
    pub quota: QuotaServiceClient<TracedChannel>,
    pub notification: NotificationServiceClient<TracedChannel>,
}

pub struct Bookings {
    pool: PgPool,
    pub(crate) identity: IdentityServiceClient<TracedChannel>,
    pub(crate) quota: QuotaServiceClient<TracedChannel>,
    pub(crate) notification: NotificationServiceClient<TracedChannel>,
    clock: SharedClock,
    config: BookingConfig,
    tokens: antrean_platform::actor::Tokens,
    pub(crate) pii: antrean_platform::pii::Pii,
    offices: Mutex<HashMap<String, Arc<OfficeInfo>>>,
    /// Draw windows this replica has met, by office and date: when each closes. Requests
    /// for a date inside its window go straight to the draw instead of first trying a
    /// hold the quota would refuse.
    pub(crate) draw_windows: Mutex<HashMap<(String, NaiveDate), DateTime<Utc>>>,
}

/// Web and app requests reach the quota only with a contact token (WhatsApp senders are
/// proven by the signed webhook, staff by their actor token); identity checks the token.
pub(crate) fn require_proof(
    channel: pb::Channel,
    contact: Option<&pb::ContactInput>,
) -> Result<()> {
    let needs = matches!(channel, pb::Channel::Web | pb::Channel::App);
    if needs && contact.is_none_or(|c| c.contact_token.trim().is_empty()) {
        return Err(BookingError::Refused(Box::new(
            status::contact_not_verified(),
        )));
    }
    Ok(())
}

/// Lost, damaged and name-change applications are booked by the office's help desk
/// ([`Bookings::create_for`]) only: every other channel is refused with OFFICE_ONLY, naming the
/// applicant's field.
pub(crate) fn refuse_office_only(applicants: &[pb::ApplicantInput]) -> Result<()> {
    let fields: Vec<FieldViolation> = applicants
        .iter()
        .enumerate()
        .filter(|(_, a)| {
            pb::ApplicationType::try_from(a.application_type)
                .is_ok_and(antrean_platform::requirements::office_only)
        })
        .map(|(i, _)| {
            FieldViolation::bilingual(
                format!("applicants[{i}].application_type"),
                "hanya dilayani di kantor",
                "handled only at the office",
            )
        })
        .collect();
    if fields.is_empty() {
        return Ok(());
    }
    let mut p = status::Problem::new(
        tonic::Code::FailedPrecondition,
        Reason::OfficeOnly,
        antrean_platform::requirements::OFFICE_ONLY_ID,
        antrean_platform::requirements::OFFICE_ONLY_EN,
    );
    p.violations = fields;
    Err(BookingError::Refused(Box::new(p.into_status())))
}

/// NO_SHOW blocks in force on any of the resolved people refuse the request.
pub(crate) fn refuse_blocked(people: &[pb::ResolvedApplicant], now: DateTime<Utc>) -> Result<()> {
    for a in people {
        if let Some(until) = a.blocked_until.as_ref().and_then(from_timestamp)
            && until > now
        {
            return Err(BookingError::Blocked {
                name: a.name.clone(),
                until,
            });
        }
    }
    Ok(())
}

pub(crate) fn invalid(field: &str, why: &str) -> BookingError {
    BookingError::Invalid(vec![FieldViolation::new(field, why)])
}

/// What a booking (or a place on a waitlist) asks for, checked field by field.
pub(crate) struct Wanted {
    pub channel: pb::Channel,
    pub office_code: String,
    pub date: NaiveDate,
    pub session: SessionOfDay,
}

impl Wanted {
    /// Adds a violation per bad field; answers the request when all are good.
    pub fn check(
        channel: i32,
        office_code: &str,
        date: &str,
        session: i32,
        applicants: usize,
        v: &mut Vec<FieldViolation>,
    ) -> Option<Wanted> {
        let before = v.len();
        let channel = pb::Channel::try_from(channel)
            .ok()
            .filter(|c| *c != pb::Channel::Unspecified);
        if channel.is_none() {
            v.push(FieldViolation::new(
                "channel",
                "pilih CHANNEL_WHATSAPP, CHANNEL_WEB, CHANNEL_APP atau CHANNEL_STAFF",
            ));
        }
        let office_code = office_code.trim().to_ascii_uppercase();
        if office_code.is_empty() {
            v.push(FieldViolation::new("office_code", "wajib diisi"));
        }
        let date = parse_date(date);
        if date.is_none() {
            v.push(FieldViolation::new(
                "date",
                "tanggal harus berformat YYYY-MM-DD",
            ));
        }
        let session = SessionOfDay::from_proto(session);
        if session.is_none() {
            v.push(FieldViolation::new(
                "session",
                "pilih SESSION_PAGI atau SESSION_SIANG",
            ));
        }
        if applicants == 0 || applicants > antrean_platform::domain::MAX_APPLICANTS as usize {
            let (id, en) = antrean_platform::domain::applicants_rule();
            v.push(FieldViolation::bilingual("applicants", id, en));
        }
        if v.len() > before {
            return None;
        }
        Some(Wanted {
            channel: channel?,
            office_code,
            date: date?,
            session: session?,
        })
    }
}

impl Bookings {
    pub fn new(
        pool: PgPool,
        clients: Clients,
        clock: SharedClock,
        config: BookingConfig,
        tokens: antrean_platform::actor::Tokens,
        pii: antrean_platform::pii::Pii,
    ) -> Self {
        let Clients {
            identity,
            quota,
            notification,
        } = clients;
        Self {
            pool,
            identity,
            quota,
            notification,
            clock,
            config,
            tokens,
            pii,
            offices: Mutex::default(),
            draw_windows: Mutex::default(),
        }
    }

    /// A booking request kept for later (a waitlist place, a draw entry), encrypted: it
    /// carries the contact's phone and the people's NIKs.
    pub(crate) fn seal_request(&self, req: &pb::CreateBookingRequest) -> Vec<u8> {
        self.pii.encrypt(&hex::encode(req.encode_to_vec()))
    }

    /// A request sealed by [`Bookings::seal_request`]; `None` when it cannot be read.
    pub(crate) fn unseal_request(&self, sealed: &[u8]) -> Option<pb::CreateBookingRequest> {
        self.pii
            .decrypt(sealed)
            .ok()
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| pb::CreateBookingRequest::decode(b.as_slice()).ok())
    }

    pub fn config(&self) -> &BookingConfig {
        &self.config
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Checks staff actor tokens (and signs the service's own, for rule-driven changes).
    pub fn tokens(&self) -> &antrean_platform::actor::Tokens {
        &self.tokens
    }

    pub(crate) async fn office(&self, code: &str) -> Result<Arc<OfficeInfo>> {
        if let Some(o) = self
            .offices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(code)
        {
            return Ok(o.clone());
        }
        let o = self
            .quota
            .clone()
            .get_office(pb::GetOfficeRequest {
                office_code: code.to_owned(),
            })
            .await?
            .into_inner();
        let tz: Tz = o.timezone.parse().map_err(|_| {
            BookingError::Upstream(Box::new(status::internal("office zone", &o.timezone)))
        })?;
        let mut hours = HashMap::new();
        for s in &o.sessions {
            if let (Some(session), Some(start), Some(end)) = (
                SessionOfDay::from_proto(s.session),
                parse_hhmm(&s.start_local),
                parse_hhmm(&s.end_local),
            ) {
                hours.insert(session, (start, end));
            }
        }
        let info = Arc::new(OfficeInfo {
            name: o.name.clone(),
            address: o.address.clone(),
            phone_number_id: o.whatsapp.clone().unwrap_or_default().phone_number_id,
            tz,
            hours,
        });
        self.offices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(o.code.clone(), info.clone());
        Ok(info)
    }

    // ---- Create ------------------------------------------------------------------------

    /// HELD, with seats held in the quota and a confirmation code. All applicants or none.
    /// A contact proven by a contact token is confirmed at once (and answers no code): the
    /// code step only exists to prove the phone. Inside a date's draw window the request
    /// becomes an entry of the release draw instead ([`crate::draws`]).
    pub async fn create(&self, req: pb::CreateBookingRequest) -> Result<Created> {
        if let Ok(channel) = pb::Channel::try_from(req.channel) {
            require_proof(channel, req.contact.as_ref())?;
        }
        refuse_office_only(&req.applicants)?;
        if self.in_draw_window(&req) {
            return Ok(Created::Entry(self.enter_draw(req).await?));
        }
        let proven = req
            .contact
            .as_ref()
            .is_some_and(|c| !c.contact_token.trim().is_empty());
        let (view, code) = match self
            .create_with_ttl(req.clone(), self.config.hold_ttl_seconds)
            .await
        {
            Ok(created) => created,
            Err(BookingError::Upstream(s))
                if status::is(&s, Reason::DrawOpen)
                    || crate::draws::received_in_window(&req, &s, self.now()) =>
            {
                return Ok(Created::Entry(self.enter_draw(req).await?));
            }
            Err(e) => return Err(e),
        };
        // A replay finds the booking as the first call left it: HELD if that call stopped
        // between hold and confirm, so the confirm is finished here.
        if proven && view.booking.status == Held {
            let confirmed = self.confirm(&view.booking.id.to_string(), &code).await?;
            return Ok(Created::Booking(confirmed, String::new()));
        }
        if proven {
            return Ok(Created::Booking(view, String::new()));
        }
        Ok(Created::Booking(view, code))
    }

    /// A helpdesk booking by `by` (checked by the caller to operate the office): the same
    /// rules as any other (one active booking per person, the people-per-phone limit, no-show
    /// blocks, the horizon, the quota, the release draw), confirmed at once since the staff
    /// member has the applicant in front of them, the confirmation going to the applicant's
    /// phone (and e-mail); audited.
    pub async fn create_for(
        &self,
        by: &antrean_platform::actor::Actor,
        req: pb::CreateBookingRequest,
    ) -> Result<Created> {
        if self.in_draw_window(&req) {
            return Ok(Created::Entry(self.enter_draw(req).await?));
        }
        let (view, code) = self
            .create_with_ttl(req.clone(), self.config.hold_ttl_seconds)
            .await?;
        // A replay finds the booking confirmed already: nothing more to do or record.
        if view.booking.status != Held {
            return Ok(Created::Booking(view, String::new()));
        }
        let view = self.confirm(&view.booking.id.to_string(), &code).await?;
        let recorded = antrean_platform::audit::record(
            &self.pool,
            antrean_platform::audit::Action {
                actor: by,
                action: "CreateBookingForApplicant",
                office_code: &view.booking.office_code,
                target: &view.booking.id.to_string(),
                before: None,
                after: Some(serde_json::json!({
                    "date": antrean_platform::domain::format_date(view.booking.date),
                    "session": view.booking.session,
                    "people": view.applicants.len(),
                })),
                at: self.now(),
            },
        )
        .await;
        if let Err(e) = recorded {
            tracing::error!(error = %e, booking_id = %view.booking.id, "helpdesk booking not audited");
        }
        Ok(Created::Booking(view, String::new()))
    }

    /// [`Bookings::create`] with the hold kept `ttl` seconds (waitlist offers have their own).
    pub(crate) async fn create_with_ttl(
        &self,
        req: pb::CreateBookingRequest,
        ttl: u32,
    ) -> Result<(BookingView, String)> {
        self.create_admission(req, ttl, false, None).await
    }

    /// The hold and the HELD booking; `draw_admission` holds a date inside its draw window
    /// (the release draw admitting its entries), and `id` names the booking (and its hold)
    /// instead of a new id, so a resumed admission finds a hold it left behind.
    pub(crate) async fn create_admission(
        &self,
        req: pb::CreateBookingRequest,
        ttl: u32,
        draw_admission: bool,
        id: Option<Uuid>,
    ) -> Result<(BookingView, String)> {
        let mut v = Vec::new();
        let key = req.idempotency_key.trim().to_owned();
        if key.is_empty() || key.len() > 200 {
            v.push(FieldViolation::new(
                "idempotency_key",
                "wajib diisi, paling panjang 200 karakter",
            ));
        }
        let wanted = Wanted::check(
            req.channel,
            &req.office_code,
            &req.date,
            req.session,
            req.applicants.len(),
            &mut v,
        );
        if !v.is_empty() {
            return Err(BookingError::Invalid(v));
        }
        let Wanted {
            channel,
            office_code,
            date,
            session,
        } = wanted.ok_or(BookingError::Invalid(Vec::new()))?;
        let request_hash = {
            let mut r = req.clone();
            r.idempotency_key.clear();
            hex::encode(Sha256::digest(r.encode_to_vec()))
        };
        if let Some(existing) = self.replay(&key, &request_hash).await? {
            return Ok(existing);
        }

        let resolved = self
            .identity
            .clone()
            .resolve_applicants(pb::ResolveApplicantsRequest {
                contact: req.contact.clone(),
                applicants: req.applicants.clone(),
            })
            .await?
            .into_inner();
        let now = self.clock.now();
        refuse_blocked(&resolved.applicants, now)?;
        let contact = resolved.contact.unwrap_or_default();
        let contact_id = Uuid::parse_str(&contact.contact_id)
            .map_err(|e| BookingError::Upstream(Box::new(status::internal("contact id", e))))?;
        let office = self.office(&office_code).await?;
        let (start, end) = office.hours_of(session)?;
        let id = id.unwrap_or_else(Uuid::now_v7);
        let code = confirmation_code();
        let seats = resolved.applicants.len() as u32;
        let person_keys: Vec<String> = resolved
            .applicants
            .iter()
            .map(|a| a.person_key.clone())
            .collect();

        let mut tx = self.pool.begin().await?;
        // One booking at a time per contact phone, so the people-per-phone limit holds: the
        // row is inserted once the contact's lock is taken, and the count below, a statement
        // of its own, sees every booking committed before.
        let created = transition(None, Held)?;
        let inserted = sqlx::query!("WITH one_at_a_time AS (SELECT pg_advisory_xact_lock(hashtextextended($11::uuid::text, 0)))
             INSERT INTO bookings (id, idempotency_key, request_hash, channel, office_code, date,
                session, timezone, session_start_at, session_end_at, contact_id,
                contact_phone_masked, status, confirmation_code, expires_at, created_at, updated_at)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $16, $13, $14, $15, $15
               FROM one_at_a_time
             ON CONFLICT (idempotency_key) DO NOTHING", id, &key, &request_hash, channel.as_str_name(), &office_code, date, session.as_str(), office.tz.name(), local_instant(office.tz, date, start), local_instant(office.tz, date, end), contact_id, &contact.phone_masked, &code, now + Duration::seconds(i64::from(ttl)), now, created.to.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            // A concurrent replay committed first.
            drop(tx);
            return self
                .replay(&key, &request_hash)
                .await?
                .ok_or(BookingError::IdempotencyKeyReused);
        }
        let active = self
            .expire_stale(&mut tx, contact_id, &person_keys, now)
            .await?;
        let max = self.config.max_people_per_phone;
        if active.saturating_add(seats) > max {
            return Err(BookingError::LimitReached { active, max });
        }
        // The applicants as the answer shows them, in the request's order.
        let applicants = resolved
            .applicants
            .iter()
            .enumerate()
            .map(|(i, a)| {
                Ok(ApplicantRow {
                    position: i as i32,
                    applicant_id: Uuid::parse_str(&a.applicant_id).map_err(|e| {
                        BookingError::Upstream(Box::new(status::internal("applicant id", e)))
                    })?,
                    person_key: a.person_key.clone(),
                    name: a.name.clone(),
                    application_type: pb::ApplicationType::try_from(a.application_type)
                        .ok()
                        .filter(|t| *t != pb::ApplicationType::Unspecified)
                        .unwrap_or(pb::ApplicationType::New)
                        .as_str_name()
                        .to_owned(),
                    passport_type: antrean_platform::requirements::passport_type(a.passport_type)
                        .as_str_name()
                        .trim_start_matches("PASSPORT_TYPE_")
                        .to_owned(),
                    birth_date: parse_date(&a.birth_date),
                    stage: "WAITING".into(),
                    stage_at: None,
                    queue_number: None,
                    scheduled_at: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // In person-key order, so two bookings sharing people cannot deadlock on the index.
        let mut order: Vec<&ApplicantRow> = applicants.iter().collect();
        order.sort_by(|a, b| a.person_key.cmp(&b.person_key));
        for a in order {
            let r = sqlx::query!(
                "INSERT INTO booking_applicants (booking_id, position, applicant_id, person_key,
                    name, application_type, passport_type, birth_date, office_code, date, session,
                    active)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, true)",
                id,
                a.position,
                a.applicant_id,
                &a.person_key,
                &a.name,
                &a.application_type,
                &a.passport_type,
                a.birth_date,
                &office_code,
                date,
                session.as_str()
            )
            .execute(&mut *tx)
            .await;
            if let Err(e) = r {
                if antrean_platform::db::is_unique_violation(
                    &e,
                    Some("one_active_booking_per_person"),
                ) {
                    drop(tx);
                    return Err(self
                        .already_booked(&a.person_key, &a.name, contact_id)
                        .await?);
                }
                return Err(e.into());
            }
        }
        let held = self
            .quota
            .clone()
            .hold(pb::HoldRequest {
                hold_id: id.to_string(),
                office_code: office_code.clone(),
                date: req.date.trim().to_owned(),
                session: session.to_proto() as i32,
                seats,
                ttl_seconds: ttl,
                draw_admission,
            })
            .await?
            .into_inner();
        let expires_at = held
            .expires_at
            .as_ref()
            .and_then(from_timestamp)
            .unwrap_or(now + Duration::seconds(i64::from(ttl)));
        // The hold's own expiry and the HELD event; the row comes back for the answer.
        let booking: BookingRow = sqlx::query_as!(BookingRow, r#"WITH held AS (
                INSERT INTO booking_events (booking_id, from_status, to_status, reason, at)
                VALUES ($1, NULL, $4, '', $3))
             UPDATE bookings SET expires_at = $2 WHERE id = $1 RETURNING id, idempotency_key, request_hash, channel, office_code, date, session, timezone, session_start_at, session_end_at, contact_id, contact_phone_masked, status AS "status: BookingStatus", confirmation_code, confirm_attempts, expires_at, booking_code, created_at, updated_at"#, id, expires_at, now, created.to.as_str())
        .fetch_one(&mut *tx)
        .await?;
        count_transition(created.to);
        if let Err(e) = tx.commit().await {
            self.release_seats(id).await;
            return Err(e.into());
        }
        tracing::info!(booking_id = %id, office = %office_code, %date, session = %session, seats, "booking held");
        Ok((
            BookingView {
                booking,
                applicants,
                moved_from: None,
            },
            code,
        ))
    }

    async fn replay(&self, key: &str, hash: &str) -> Result<Option<(BookingView, String)>> {
        let row: Option<BookingRow> =
            sqlx::query_as!(BookingRow, r#"SELECT id, idempotency_key, request_hash, channel, office_code, date, session, timezone, session_start_at, session_end_at, contact_id, contact_phone_masked, status AS "status: BookingStatus", confirmation_code, confirm_attempts, expires_at, booking_code, created_at, updated_at FROM bookings WHERE idempotency_key = $1"#, key)
                .fetch_optional(&self.pool)
                .await?;
        let Some(row) = row else { return Ok(None) };
        if row.request_hash != hash {
            return Err(BookingError::IdempotencyKeyReused);
        }
        let code = row.confirmation_code.clone();
        Ok(Some((self.view(row.id).await?, code)))
    }

    /// HELD bookings past their expiry stop blocking their people and phone at once, without
    /// waiting for the sweeper. Answers the people in the contact's active bookings, those
    /// just expired not counted: one statement locks the expired ones and counts the rest.
    async fn expire_stale(
        &self,
        conn: &mut PgConnection,
        contact_id: Uuid,
        person_keys: &[String],
        now: DateTime<Utc>,
    ) -> Result<u32> {
        // An expired booking is left out of the count by what it is, not by whether this
        // statement locked it: one the sweeper expires meanwhile is left out too.
        let counted = sqlx::query!(
            r#"WITH stale AS (
                SELECT id FROM bookings WHERE status = 'HELD' AND expires_at <= $3
                  AND (contact_id = $1 OR id IN (SELECT booking_id FROM booking_applicants
                                                 WHERE active AND person_key = ANY($2)))
                FOR UPDATE)
             SELECT ARRAY(SELECT id FROM stale) AS "stale!",
                    (SELECT count(*) FROM booking_applicants ba
                       JOIN bookings b ON b.id = ba.booking_id
                      WHERE b.contact_id = $1 AND ba.active
                        AND NOT (b.status = 'HELD' AND b.expires_at <= $3)) AS "active!""#,
            contact_id,
            person_keys,
            now
        )
        .fetch_one(&mut *conn)
        .await?;
        let (stale, active) = (counted.stale, counted.active);
        for id in stale {
            change(
                conn,
                id,
                Held,
                Expired,
                "tidak dikonfirmasi tepat waktu",
                now,
            )
            .await?;
        }
        Ok(u32::try_from(active).unwrap_or(u32::MAX))
    }

    /// The refusal of a person who already has an active booking. Asked from the booking's
    /// own contact, it carries the booking's details; from any other contact it carries none
    /// (a name and a birth date or a NIK are no proof of anything), and the details go to the
    /// booking's own contact instead, at most once an hour per booking.
    pub(crate) async fn already_booked(
        &self,
        person_key: &str,
        name: &str,
        requester: Uuid,
    ) -> Result<BookingError> {
        let row: Option<BookingRow> = sqlx::query_as!(BookingRow, r#"SELECT b.id, b.idempotency_key, b.request_hash, b.channel, b.office_code, b.date, b.session, b.timezone, b.session_start_at, b.session_end_at, b.contact_id, b.contact_phone_masked, b.status AS "status: BookingStatus", b.confirmation_code, b.confirm_attempts, b.expires_at, b.booking_code, b.created_at, b.updated_at FROM bookings b JOIN booking_applicants ba ON ba.booking_id = b.id
             WHERE ba.person_key = $1 AND ba.active LIMIT 1"#, person_key)
        .fetch_optional(&self.pool)
        .await?;
        let Some(b) = row else {
            // Freed meanwhile: let the caller retry.
            return Ok(BookingError::Upstream(Box::new(status::unavailable(
                "race", "retry",
            ))));
        };
        let own = b.contact_id == requester;
        if !own && let Err(e) = self.tell_owner_of_attempt(&b).await {
            tracing::warn!(error = %e, booking_id = %b.id, "the notice of a booking attempt was not sent");
        }
        Ok(BookingError::AlreadyBooked(Box::new(
            crate::error::ActiveBooking {
                own,
                name: name.to_owned(),
                booking_id: b.id.to_string(),
                booking_code: b.code_display(),
                office_code: b.office_code,
                date: b.date,
                session: b.session,
                status: b.status,
            },
        )))
    }

    // ---- Confirm -----------------------------------------------------------------------

    /// CONFIRMED with a booking code, queue numbers and schedule. Idempotent.
    pub async fn confirm(&self, booking_id: &str, code: &str) -> Result<BookingView> {
        self.confirm_telling(booking_id, code, true).await
    }

    /// [`Bookings::confirm`]; `tell` false when the caller sends the confirmation itself (a
    /// release draw's result carries the booking code and schedule).
    pub(crate) async fn confirm_telling(
        &self,
        booking_id: &str,
        code: &str,
        tell: bool,
    ) -> Result<BookingView> {
        let id = Uuid::parse_str(booking_id.trim())
            .map_err(|_| invalid("booking_id", "bukan ID booking yang valid"))?;
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(
                "confirmation_code",
                "kode konfirmasi terdiri dari 6 angka",
            ));
        }
        let mut tx = self.pool.begin().await?;
        let b: BookingRow = sqlx::query_as!(BookingRow, r#"SELECT id, idempotency_key, request_hash, channel, office_code, date, session, timezone, session_start_at, session_end_at, contact_id, contact_phone_masked, status AS "status: BookingStatus", confirmation_code, confirm_attempts, expires_at, booking_code, created_at, updated_at FROM bookings WHERE id = $1 FOR UPDATE"#, id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(BookingError::NotFound)?;
        let now = self.clock.now();
        match b.status {
            Held => {}
            Expired => return Err(BookingError::Expired),
            Cancelled => return Err(BookingError::Cancelled),
            _ if b.confirmation_code == code => {
                drop(tx);
                return self.view(id).await;
            }
            _ => return Err(BookingError::WrongCode { attempts_left: 0 }),
        }
        if b.expires_at <= now {
            change(
                &mut tx,
                id,
                Held,
                Expired,
                "tidak dikonfirmasi tepat waktu",
                now,
            )
            .await?;
            tx.commit().await?;
            self.release_seats(id).await;
            return Err(BookingError::Expired);
        }
        if b.confirmation_code != code {
            let attempts = b.confirm_attempts + 1;
            sqlx::query!(
                "UPDATE bookings SET confirm_attempts = $2 WHERE id = $1",
                id,
                attempts
            )
            .execute(&mut *tx)
            .await?;
            let max = self.config.max_code_attempts as i32;
            if attempts >= max {
                change(
                    &mut tx,
                    id,
                    Held,
                    Cancelled,
                    "kode konfirmasi salah 5 kali",
                    now,
                )
                .await?;
                tx.commit().await?;
                self.release_seats(id).await;
                return Err(BookingError::TooManyAttempts);
            }
            tx.commit().await?;
            return Err(BookingError::WrongCode {
                attempts_left: (max - attempts) as u32,
            });
        }
        let committed = match self
            .quota
            .clone()
            .commit(pb::CommitRequest {
                hold_id: id.to_string(),
            })
            .await
        {
            Ok(c) => c.into_inner(),
            Err(s) => {
                let exit = match status::reason_of(&s) {
                    Some(Reason::HoldExpired) => Some((Expired, "tidak dikonfirmasi tepat waktu")),
                    Some(Reason::HoldReleased | Reason::CapacityExceeded | Reason::UnknownHold) => {
                        Some((Cancelled, "kuota tidak lagi tersedia"))
                    }
                    _ => None,
                };
                if let Some((to, why)) = exit {
                    change(&mut tx, id, Held, to, why, now).await?;
                    tx.commit().await?;
                    self.release_seats(id).await;
                    if to == Expired {
                        return Err(BookingError::Expired);
                    }
                }
                return Err(s.into());
            }
        };
        let office = self.office(&b.office_code).await?;
        #[allow(
            clippy::expect_used,
            reason = "the schema's CHECK admits only PAGI and SIANG"
        )]
        let session: SessionOfDay = b.session.parse().expect("schema");
        let Numbers {
            applicants,
            positions,
            seqs,
            numbers,
            times,
        } = self
            .take_numbers(
                &mut tx,
                id,
                &b.office_code,
                b.date,
                session,
                &office,
                committed.capacity,
            )
            .await?;
        let remind_at = local_instant(
            office.tz,
            b.date.pred_opt().unwrap_or(b.date),
            chrono::NaiveTime::from_hms_opt(self.config.reminder_hour.min(23), 0, 0)
                .unwrap_or_default(),
        );
        // The people's queue numbers, the booking code, the status and its event in one
        // statement; the row comes back for the answer. The row is locked above, so it is
        // still HELD.
        let confirmed = transition(Some(Held), Confirmed)?;
        let booking_code = BookingCode::generate();
        let booking: BookingRow = sqlx::query_as!(BookingRow, r#"WITH numbers AS (
                UPDATE booking_applicants ba
                SET queue_seq = u.seq, queue_number = u.number, scheduled_at = u.at
                FROM UNNEST($5::int[], $6::int[], $7::text[], $8::timestamptz[])
                     AS u(position, seq, number, at)
                WHERE ba.booking_id = $1 AND ba.position = u.position),
             confirmed AS (
                UPDATE bookings SET status = $10, updated_at = $3, booking_code = $2,
                    confirmed_at = $3, remind_at = $4,
                    confirmation_sent = (channel = 'CHANNEL_WHATSAPP' OR NOT $11)
                WHERE id = $1 AND status = $9 RETURNING *),
             event AS (
                INSERT INTO booking_events (booking_id, from_status, to_status, reason, at)
                SELECT id, $9, $10, '', $3 FROM confirmed)
             SELECT id, idempotency_key, request_hash, channel, office_code, date, session, timezone, session_start_at, session_end_at, contact_id, contact_phone_masked, status AS "status: BookingStatus", confirmation_code, confirm_attempts, expires_at, booking_code, created_at, updated_at FROM confirmed"#, id, booking_code.as_str(), now, remind_at, &positions, &seqs, &numbers as _, &times as _, confirmed.from.map(BookingStatus::as_str), confirmed.to.as_str(), tell)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| BookingError::WrongStatus(Held.as_str().to_owned()))?;
        count_transition(confirmed.to);
        tx.commit().await?;
        // The offices and channels are fixed sets: bounded labels.
        metrics::counter!("booking_confirmations_total",
            "office" => b.office_code.clone(), "channel" => b.channel.clone())
        .increment(1);
        tracing::info!(booking_id = %id, "booking confirmed");
        let view = BookingView {
            booking,
            applicants,
            moved_from: None,
        };
        // A WhatsApp conversation answers its own confirmation; every other channel gets it
        // sent (the sweeper retries what did not go).
        if tell
            && view.booking.channel != pb::Channel::Whatsapp.as_str_name()
            && let Err(e) = self.tell_confirmed(&view.booking).await
        {
            tracing::warn!(error = %e, booking_id = %id, "confirmation message not sent yet; will retry");
        }
        Ok(view)
    }

    // ---- Look up, cancel, check in -----------------------------------------------------

    async fn contact_of(&self, phone: &str) -> Result<Uuid> {
        self.contact_by(phone, "").await
    }

    /// The contact of a phone, or of a contact token when one is given.
    async fn contact_by(&self, phone: &str, token: &str) -> Result<Uuid> {
        let c = self
            .identity
            .clone()
            .resolve_contact(pb::ResolveContactRequest {
                phone: phone.to_owned(),
                create: false,
                contact_token: token.to_owned(),
            })
            .await;
        match c {
            Ok(c) => Uuid::parse_str(&c.into_inner().contact_id)
                .map_err(|e| BookingError::Upstream(Box::new(status::internal("contact id", e)))),
            Err(s) if s.code() == tonic::Code::NotFound => Err(BookingError::NotFound),
            Err(s) if s.code() == tonic::Code::InvalidArgument => Err(invalid(
                "contact_phone",
                "nomor HP tidak valid (contoh 081234567890)",
            )),
            Err(s) => Err(s.into()),
        }
    }

    pub(crate) fn parse_code(code: &str) -> Result<BookingCode> {
        BookingCode::parse(code).ok_or_else(|| {
            invalid(
                "booking_code",
                "kode booking tidak valid (contoh 7K3M-9QX2-HT4R-D)",
            )
        })
    }

    /// By booking code; the contact phone must match, otherwise NOT_FOUND like an unknown code.
    /// A malformed code, an unknown phone and a wrong pair take the same steps (the contact
    /// asked of identity, the ledger read), so the time of a failure tells nothing about
    /// whether a phone or a code exists.
    pub async fn by_code(&self, code: &str, phone: &str) -> Result<BookingView> {
        let code = Self::parse_code(code);
        let contact = match self.contact_of(phone).await {
            Ok(c) => Some(c),
            Err(BookingError::NotFound) => None,
            Err(e) => return Err(e),
        };
        let id: Option<Uuid> = sqlx::query_scalar!(
            "SELECT id FROM bookings WHERE booking_code = $1 AND contact_id = $2",
            code.as_ref().map_or("", |c| c.as_str()),
            contact.unwrap_or(Uuid::nil())
        )
        .fetch_optional(&self.pool)
        .await?;
        // A malformed code is said so (after the same steps as any other failure).
        code?;
        self.view(id.ok_or(BookingError::NotFound)?).await
    }

    pub async fn by_id(&self, id: &str) -> Result<BookingView> {
        let id = Uuid::parse_str(id.trim())
            .map_err(|_| invalid("booking_id", "bukan ID booking yang valid"))?;
        self.view(id).await
    }

    /// The bookings of a phone, or of the contact a token proved, newest first (50 at most).
    pub async fn list(&self, phone: &str, token: &str) -> Result<Vec<BookingView>> {
        let contact = self.contact_by(phone, token).await?;
        let ids: Vec<Uuid> = sqlx::query_scalar!(
            "SELECT id FROM bookings WHERE contact_id = $1 ORDER BY created_at DESC LIMIT 50",
            contact
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.view(id).await?);
        }
        Ok(out)
    }

    /// Cancels; the seats go back to the quota at once. Cancelling twice answers the same.
    pub async fn cancel(&self, code: &str, phone: &str) -> Result<BookingView> {
        let b = self.by_code(code, phone).await?.booking;
        let mut tx = self.pool.begin().await?;
        let status: BookingStatus = sqlx::query_scalar!(
            r#"SELECT status AS "status: BookingStatus" FROM bookings WHERE id = $1 FOR UPDATE"#,
            b.id
        )
        .fetch_one(&mut *tx)
        .await?;
        match status {
            Cancelled => {}
            Held | Confirmed => {
                change(
                    &mut tx,
                    b.id,
                    status,
                    Cancelled,
                    "dibatalkan pemohon",
                    self.clock.now(),
                )
                .await?;
            }
            other => return Err(BookingError::WrongStatus(other.as_str().to_owned())),
        }
        tx.commit().await?;
        self.release_seats(b.id).await;
        self.view(b.id).await
    }

    /// At the door of `office_code` at `at`.
    pub async fn check_in(
        &self,
        by: &antrean_platform::actor::Actor,
        code: &str,
        office_code: &str,
        at: Option<DateTime<Utc>>,
    ) -> Result<BookingView> {
        let code = Self::parse_code(code)?;
        let at = at.unwrap_or_else(|| self.clock.now());
        let mut tx = self.pool.begin().await?;
        let b: BookingRow =
            sqlx::query_as!(BookingRow, r#"SELECT id, idempotency_key, request_hash, channel, office_code, date, session, timezone, session_start_at, session_end_at, contact_id, contact_phone_masked, status AS "status: BookingStatus", confirmation_code, confirm_attempts, expires_at, booking_code, created_at, updated_at FROM bookings WHERE booking_code = $1 FOR UPDATE"#, code.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(BookingError::NotFound)?;
        if !b.office_code.eq_ignore_ascii_case(office_code.trim()) {
            return Err(BookingError::WrongOffice {
                booking_office: b.office_code,
            });
        }
        let tz: Tz = b.timezone.parse().unwrap_or(Tz::Asia__Jakarta);
        if local_date(tz, at) != b.date {
            return Err(BookingError::WrongDate {
                booking_date: b.date,
            });
        }
        match b.status {
            CheckedIn | Forfeited => {
                drop(tx);
                return self.view(b.id).await;
            }
            Confirmed => {}
            other => return Err(BookingError::WrongStatus(other.as_str().to_owned())),
        }
        let first: Option<DateTime<Utc>> = sqlx::query_scalar!(
            "SELECT min(scheduled_at) FROM booking_applicants WHERE booking_id = $1",
            b.id
        )
        .fetch_one(&mut *tx)
        .await?;
        let to = if first.is_some_and(|s| at > s) {
            change(
                &mut tx,
                b.id,
                Confirmed,
                Forfeited,
                "datang setelah jadwal (hangus)",
                at,
            )
            .await?;
            Forfeited
        } else {
            change(&mut tx, b.id, Confirmed, CheckedIn, "", at).await?;
            crate::queue::issue_appointment_tickets(&mut tx, b.id, at).await?;
            CheckedIn
        };
        antrean_platform::audit::record(
            &mut *tx,
            antrean_platform::audit::Action {
                actor: by,
                action: "CheckIn",
                office_code: &b.office_code,
                target: &b.id.to_string(),
                before: Some(serde_json::json!({"status": Confirmed.as_str()})),
                after: Some(
                    serde_json::json!({"status": to.as_str(), "arrived_at": at.to_rfc3339()}),
                ),
                at: self.clock.now(),
            },
        )
        .await?;
        tx.commit().await?;
        self.view(b.id).await
    }

    // ---- Sweeper -----------------------------------------------------------------------

    /// Expires unconfirmed holds, marks confirmed bookings never checked in as NO_SHOW once
    /// their session has ended, and retries follow-ups that did not complete. Answers how
    /// many bookings changed status.
    pub async fn sweep(&self) -> Result<usize> {
        let now = self.clock.now();
        let mut changed = 0;
        let mut tx = self.pool.begin().await?;
        let expired: Vec<Uuid> = sqlx::query_scalar!(
            "SELECT id FROM bookings WHERE status = 'HELD' AND expires_at <= $1
             FOR UPDATE SKIP LOCKED LIMIT 500",
            now
        )
        .fetch_all(&mut *tx)
        .await?;
        for id in &expired {
            change(
                &mut tx,
                *id,
                Held,
                Expired,
                "tidak dikonfirmasi tepat waktu",
                now,
            )
            .await?;
        }
        let no_shows: Vec<Uuid> = sqlx::query_scalar!(
            "SELECT id FROM bookings WHERE status = 'CONFIRMED' AND session_end_at <= $1
             FOR UPDATE SKIP LOCKED LIMIT 500",
            now
        )
        .fetch_all(&mut *tx)
        .await?;
        for id in &no_shows {
            change(
                &mut tx,
                *id,
                Confirmed,
                NoShow,
                "tidak hadir sampai sesi berakhir",
                now,
            )
            .await?;
        }
        tx.commit().await?;
        changed += expired.len() + no_shows.len();

        self.retell_stages().await?;
        changed += self.remind_uncollected().await?;
        let pending: Vec<Uuid> = sqlx::query_scalar!("SELECT id FROM bookings WHERE status IN ('EXPIRED', 'CANCELLED') AND NOT seats_released
             ORDER BY updated_at LIMIT 500")
        .fetch_all(&self.pool)
        .await?;
        for id in pending {
            self.release_seats(id).await;
        }
        let unrecorded: Vec<BookingRow> = sqlx::query_as!(BookingRow, r#"SELECT id, idempotency_key, request_hash, channel, office_code, date, session, timezone, session_start_at, session_end_at, contact_id, contact_phone_masked, status AS "status: BookingStatus", confirmation_code, confirm_attempts, expires_at, booking_code, created_at, updated_at FROM bookings WHERE status = 'NO_SHOW' AND NOT no_show_recorded LIMIT 500"#)
        .fetch_all(&self.pool)
        .await?;
        for b in unrecorded {
            self.record_no_show(&b).await;
        }
        let due: Vec<BookingRow> = sqlx::query_as!(BookingRow, r#"SELECT id, idempotency_key, request_hash, channel, office_code, date, session, timezone, session_start_at, session_end_at, contact_id, contact_phone_masked, status AS "status: BookingStatus", confirmation_code, confirm_attempts, expires_at, booking_code, created_at, updated_at FROM bookings WHERE status = 'CONFIRMED' AND NOT reminder_sent
               AND remind_at <= $1 ORDER BY remind_at LIMIT 200"#, now)
        .fetch_all(&self.pool)
        .await?;
        for b in due {
            if let Err(e) = self.remind(&b).await {
                tracing::warn!(error = %e, booking_id = %b.id, "H-1 reminder not sent yet; will retry");
            }
        }
        let unsent: Vec<BookingRow> = sqlx::query_as!(BookingRow, r#"SELECT id, idempotency_key, request_hash, channel, office_code, date, session, timezone, session_start_at, session_end_at, contact_id, contact_phone_masked, status AS "status: BookingStatus", confirmation_code, confirm_attempts, expires_at, booking_code, created_at, updated_at FROM bookings WHERE status = 'CONFIRMED' AND NOT confirmation_sent ORDER BY updated_at LIMIT 200"#)
        .fetch_all(&self.pool)
        .await?;
        for b in unsent {
            if let Err(e) = self.tell_confirmed(&b).await {
                tracing::warn!(error = %e, booking_id = %b.id, "confirmation message not sent yet; will retry");
            }
        }
        changed += self.release_unreconfirmed().await?;
        changed += self.release_due().await?;
        Ok(changed)
    }

    /// What a message to a booking's own contact needs: the office, the contact (with its
    /// phone, from identity) and the booking as it stands.
    pub(crate) async fn to_tell(
        &self,
        b: &BookingRow,
    ) -> anyhow::Result<(Arc<OfficeInfo>, pb::Contact, BookingView)> {
        let office = self.office(&b.office_code).await?;
        let contact = self
            .identity
            .clone()
            .get_contact(pb::GetContactRequest {
                contact_id: b.contact_id.to_string(),
            })
            .await?
            .into_inner();
        Ok((office, contact, self.view(b.id).await?))
    }

    /// Tells a booking's contact that someone else tried to book one of its people, with the
    /// booking's details (an approved template: the contact's 24-hour window is likely shut).
    /// One notice per booking per hour, however often it is tried.
    async fn tell_owner_of_attempt(&self, b: &BookingRow) -> anyhow::Result<()> {
        let (office, contact, view) = self.to_tell(b).await?;
        let names = view
            .applicants
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let code = view
            .booking
            .code_display()
            .unwrap_or_else(|| "(belum dikonfirmasi)".into());
        let hour = self.clock.now().format("%Y%m%d%H");
        let params = [
            ("name", names),
            ("booking_code", code),
            ("office_name", office.name.clone()),
            ("date", antrean_platform::domain::tanggal(b.date)),
            ("session", b.session.clone()),
        ];
        let parameters: std::collections::HashMap<String, String> =
            params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        self.tell_contact(
            &office,
            &contact,
            &format!("attempt:{}:{hour}", b.id),
            "booking_attempt_notice",
            parameters,
            None,
        )
        .await
    }

    /// A booking as every RPC answers it.
    pub fn to_proto(&self, v: &BookingView) -> pb::Booking {
        let b = &v.booking;
        let tz: Tz = b.timezone.parse().unwrap_or(Tz::Asia__Jakarta);
        let early = Duration::minutes(i64::from(self.config().arrive_early_minutes));
        let max = self.config().max_code_attempts as i32;
        pb::Booking {
            booking_id: b.id.to_string(),
            booking_code: b.code_display().unwrap_or_default(),
            status: b.status.to_proto() as i32,
            channel: pb::Channel::from_str_name(&b.channel).unwrap_or_default() as i32,
            office_code: b.office_code.clone(),
            date: format_date(b.date),
            session: b
                .session
                .parse::<SessionOfDay>()
                .map(|s| s.to_proto() as i32)
                .unwrap_or_default(),
            applicants: v
                .applicants
                .iter()
                .map(|a| pb::BookingApplicant {
                    applicant_id: a.applicant_id.to_string(),
                    name: a.name.clone(),
                    application_type: pb::ApplicationType::from_str_name(&a.application_type)
                        .unwrap_or_default() as i32,
                    queue_number: a.queue_number.clone().unwrap_or_default(),
                    scheduled_at: a.scheduled_at.map(to_timestamp),
                    arrive_by: a.scheduled_at.map(|s| to_timestamp(s - early)),
                    scheduled_local: a
                        .scheduled_at
                        .map(|s| local_hhmm(tz, s))
                        .unwrap_or_default(),
                    arrive_by_local: a
                        .scheduled_at
                        .map(|s| local_hhmm(tz, s - early))
                        .unwrap_or_default(),
                    passport_type: a.passport() as i32,
                    stage: antrean_platform::progress::parse(&a.stage) as i32,
                    stage_at: a.stage_at.map(to_timestamp),
                    minor: a.minor_on(b.date),
                    requirements: a
                        .requirements(b.date)
                        .into_iter()
                        .map(str::to_owned)
                        .collect(),
                })
                .collect(),
            contact_id: b.contact_id.to_string(),
            expires_at: (b.status == BookingStatus::Held).then(|| to_timestamp(b.expires_at)),
            created_at: Some(to_timestamp(b.created_at)),
            updated_at: Some(to_timestamp(b.updated_at)),
            timezone_abbreviation: indonesian_zone_abbreviation(tz).to_owned(),
            confirmation_attempts_left: if b.status == BookingStatus::Held {
                (max - b.confirm_attempts).max(0) as u32
            } else {
                0
            },
            contact_phone_masked: b.contact_phone_masked.clone(),
            rescheduled_from_date: v
                .moved_from
                .as_ref()
                .map(|(d, _)| format_date(*d))
                .unwrap_or_default(),
            rescheduled_from_session: v
                .moved_from
                .as_ref()
                .and_then(|(_, s)| s.parse::<SessionOfDay>().ok())
                .map(|s| s.to_proto() as i32)
                .unwrap_or_default(),
            // Filled in by the RPCs that show progress (see `BookingGrpc::with_pickup`).
            pickup_hours: String::new(),
        }
    }

    /// One message to a booking's contact by WhatsApp from the office's number (an approved
    /// template: the contact's 24-hour window is likely shut), and by e-mail where one is
    /// known; `key` (plus the channel) makes a retry send nothing twice.
    pub(crate) async fn tell_contact(
        &self,
        office: &OfficeInfo,
        contact: &pb::Contact,
        key: &str,
        template: &str,
        params: HashMap<String, String>,
        proof: Option<&BookingView>,
    ) -> anyhow::Result<()> {
        let mut channels = vec![(pb::Channel::Whatsapp, "wa")];
        if !contact.email.is_empty() {
            channels.push((pb::Channel::Email, "email"));
        }
        for (channel, tag) in channels {
            // The e-mail carries the proof of booking as a PDF, as the portal gives it.
            let attachment = proof
                .filter(|_| channel == pb::Channel::Email)
                .map(|v| self.proof_pdf(office, v));
            self.notification
                .clone()
                .send(pb::SendRequest {
                    idempotency_key: format!("{key}:{tag}"),
                    channel: channel as i32,
                    recipient: Some(pb::Recipient {
                        phone: contact.phone.clone(),
                        whatsapp_user_id: contact.whatsapp_user_id.clone(),
                        email: contact.email.clone(),
                    }),
                    sender_phone_number_id: office.phone_number_id.clone(),
                    template: template.into(),
                    parameters: params.clone(),
                    attachment,
                })
                .await?;
        }
        Ok(())
    }

    /// Booking `v`'s proof of booking as the PDF attachment of an e-mail.
    fn proof_pdf(&self, office: &OfficeInfo, v: &BookingView) -> pb::Attachment {
        let booking = self.to_proto(v);
        let page = antrean_proof::page(&booking, &office.name, &office.address);
        pb::Attachment {
            filename: proof_filename(&booking.booking_code),
            content_type: "application/pdf".into(),
            content: antrean_proof::pdf(&page),
        }
    }

    /// The booking code, queue numbers, schedule and what to bring, by WhatsApp (the approved
    /// template `antrean_booking_terkonfirmasi`: a web, app or helpdesk applicant's 24-hour
    /// window is shut) and by e-mail where one is known; marked sent once accepted.
    pub(crate) async fn tell_confirmed(&self, b: &BookingRow) -> anyhow::Result<()> {
        let (office, contact, view) = self.to_tell(b).await?;
        let params = schedule_params(&office, &view);
        self.tell_contact(
            &office,
            &contact,
            &format!("confirmed:{}", b.id),
            "booking_confirmed_notice",
            params,
            Some(&view),
        )
        .await?;
        sqlx::query!(
            "UPDATE bookings SET confirmation_sent = true WHERE id = $1",
            b.id
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The day-before reminder, by WhatsApp from the office's number. Outside the 24-hour
    /// customer-service window only approved templates may be sent, so it is one.
    async fn remind(&self, b: &BookingRow) -> anyhow::Result<()> {
        let (office, contact, view) = self.to_tell(b).await?;
        let zone = antrean_platform::domain::indonesian_zone_abbreviation(office.tz);
        // The schedule as every template names it (the reminder reads its five; the
        // reconfirming one the booking code too).
        let mut params = schedule_params(&office, &view);
        let deadline = self
            .reconfirm_deadline(&b.office_code, b.date, office.tz)
            .await?;
        let template = match deadline {
            Some(at) => {
                params.insert(
                    "reconfirm_by_local".into(),
                    format!(
                        "{} {zone}, {}",
                        antrean_platform::domain::local_hhmm(office.tz, at),
                        antrean_platform::domain::tanggal(antrean_platform::domain::local_date(
                            office.tz, at
                        ))
                    ),
                );
                "reminder_h1_reconfirm"
            }
            None => "reminder_h1",
        };
        self.notification
            .clone()
            .send(pb::SendRequest {
                idempotency_key: format!("h1:{}", b.id),
                channel: pb::Channel::Whatsapp as i32,
                recipient: Some(pb::Recipient {
                    phone: contact.phone,
                    whatsapp_user_id: contact.whatsapp_user_id,
                    email: String::new(),
                }),
                sender_phone_number_id: office.phone_number_id.clone(),
                template: template.into(),
                parameters: params,
                attachment: None,
            })
            .await?;
        sqlx::query!(
            "UPDATE bookings SET reminder_sent = true, reconfirm_by = $2 WHERE id = $1",
            b.id,
            deadline
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_no_show(&self, b: &BookingRow) {
        let applicants: Vec<Uuid> = match sqlx::query_scalar!(
            "SELECT applicant_id FROM booking_applicants WHERE booking_id = $1",
            b.id
        )
        .fetch_all(&self.pool)
        .await
        {
            Ok(a) => a,
            Err(e) => return tracing::warn!(error = %e, "no-show lookup failed"),
        };
        for a in applicants {
            let r = self
                .identity
                .clone()
                .record_no_show(pb::RecordNoShowRequest {
                    applicant_id: a.to_string(),
                    booking_id: b.id.to_string(),
                    date: b.date.to_string(),
                })
                .await;
            if let Err(e) = r {
                return tracing::warn!(error = %e, booking_id = %b.id, "no-show not recorded yet; will retry");
            }
        }
        let _ = sqlx::query!(
            "UPDATE bookings SET no_show_recorded = true WHERE id = $1",
            b.id
        )
        .execute(&self.pool)
        .await;
    }

    /// Gives the booking's seats back to the quota; flags it done, or leaves it for the
    /// sweeper to retry.
    pub(crate) async fn release_seats(&self, id: Uuid) {
        // The hold is the booking's own id until it is rescheduled.
        let hold = match sqlx::query_scalar!(
            r#"SELECT COALESCE(hold_id, id) AS "hold!" FROM bookings WHERE id = $1"#,
            id
        )
        .fetch_one(&self.pool)
        .await
        {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, booking_id = %id, "seats not released yet; will retry");
                return;
            }
        };
        let r = self
            .quota
            .clone()
            .release(pb::ReleaseRequest {
                hold_id: hold.to_string(),
            })
            .await;
        match r {
            Ok(_) => {
                let _ = sqlx::query!(
                    "UPDATE bookings SET seats_released = true WHERE id = $1",
                    id
                )
                .execute(&self.pool)
                .await;
            }
            Err(e) => {
                tracing::warn!(error = %e, booking_id = %id, "seats not released yet; will retry")
            }
        }
    }

    pub(crate) async fn view(&self, id: Uuid) -> Result<BookingView> {
        let booking: BookingRow = sqlx::query_as!(BookingRow, r#"SELECT id, idempotency_key, request_hash, channel, office_code, date, session, timezone, session_start_at, session_end_at, contact_id, contact_phone_masked, status AS "status: BookingStatus", confirmation_code, confirm_attempts, expires_at, booking_code, created_at, updated_at FROM bookings WHERE id = $1"#, id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(BookingError::NotFound)?;
        let applicants = applicants_of(&mut *self.pool.acquire().await?, id).await?;
        let moved = sqlx::query!(
            "SELECT previous_date, previous_session FROM bookings WHERE id = $1",
            id
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(BookingView {
            booking,
            applicants,
            moved_from: moved.previous_date.zip(moved.previous_session),
        })
    }
}

/// The applicants of booking `id`, in the request's order.
async fn applicants_of(conn: &mut PgConnection, id: Uuid) -> Result<Vec<ApplicantRow>> {
    Ok(sqlx::query_as!(
        ApplicantRow,
        "SELECT position, applicant_id, person_key, name, application_type, passport_type,
                birth_date, queue_number, scheduled_at, stage, stage_at
         FROM booking_applicants WHERE booking_id = $1 ORDER BY position",
        id
    )
    .fetch_all(conn)
    .await?)
}

/// One status change of booking `id` (refused unless [`transition`] allows it): the row, its
/// event, and (for exits) the people freed for new bookings.
pub(crate) async fn change(
    conn: &mut PgConnection,
    id: Uuid,
    from: BookingStatus,
    to: BookingStatus,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let t = transition(Some(from), to)?;
    let n = sqlx::query!(
        "UPDATE bookings SET status = $3, updated_at = $4 WHERE id = $1 AND status = $2",
        id,
        from.as_str(),
        to.as_str(),
        at
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n != 1 {
        return Err(BookingError::WrongStatus(from.as_str().to_owned()));
    }
    if !to.is_active() {
        sqlx::query!(
            "UPDATE booking_applicants SET active = false WHERE booking_id = $1",
            id
        )
        .execute(&mut *conn)
        .await?;
    }
    event(conn, id, t, reason, at).await
}

/// The event of a status change already written.
async fn event(
    conn: &mut PgConnection,
    id: Uuid,
    t: Transition,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    count_transition(t.to);
    sqlx::query!(
        "INSERT INTO booking_events (booking_id, from_status, to_status, reason, at)
         VALUES ($1, $2, $3, $4, $5)",
        id,
        t.from.map(BookingStatus::as_str),
        t.to.as_str(),
        reason,
        at
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A confirmed booking's schedule as the notification templates name it: the first
/// applicant's name and time, every queue number, the office, date and session.
pub(crate) fn schedule_params(office: &OfficeInfo, v: &BookingView) -> HashMap<String, String> {
    let first = v.applicants.first();
    let zone = antrean_platform::domain::indonesian_zone_abbreviation(office.tz);
    let numbers = v
        .applicants
        .iter()
        .filter_map(|a| a.queue_number.clone())
        .collect::<Vec<_>>()
        .join(", ");
    [
        ("name", first.map(|a| a.name.clone()).unwrap_or_default()),
        ("booking_code", v.booking.code_display().unwrap_or_default()),
        ("office_name", office.name.clone()),
        ("date", antrean_platform::domain::tanggal(v.booking.date)),
        ("session", v.booking.session.clone()),
        (
            "schedule_local",
            first
                .and_then(|a| a.scheduled_at)
                .map(|t| {
                    format!(
                        "{} {zone}",
                        antrean_platform::domain::local_hhmm(office.tz, t)
                    )
                })
                .unwrap_or_default(),
        ),
        ("queue_number", numbers),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The proof PDF's file name: the booking code's letters and digits (its check symbol may be
/// one of `*~$=`, which no file name should carry).
pub(crate) fn proof_filename(code: &str) -> String {
    format!(
        "bukti-booking-{}.pdf",
        code.chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
    )
}

/// A booking's people with their new queue numbers and times, and the same as the arrays
/// the statements that write them bind.
pub(crate) struct Numbers {
    pub applicants: Vec<ApplicantRow>,
    pub positions: Vec<i32>,
    pub seqs: Vec<i32>,
    pub numbers: Vec<Option<String>>,
    pub times: Vec<Option<DateTime<Utc>>>,
}

impl Bookings {
    /// Takes queue numbers for booking `id`'s people on `office_code`, `date`, `session` (a
    /// session of `capacity` seats) and works out their times; the caller writes them in
    /// its transaction.
    #[allow(
        clippy::too_many_arguments,
        reason = "the day and its office, spelled out"
    )]
    pub(crate) async fn take_numbers(
        &self,
        conn: &mut PgConnection,
        id: Uuid,
        office_code: &str,
        date: NaiveDate,
        session: SessionOfDay,
        office: &OfficeInfo,
        capacity: u32,
    ) -> Result<Numbers> {
        let (start, end) = office.hours_of(session)?;
        // The people and the session's last queue number once theirs are taken, in one
        // statement. Row lock on the counter: confirms of one session take numbers one after
        // another.
        let numbered: Vec<Numbered> = sqlx::query!(
            r#"WITH people AS (
                SELECT position, applicant_id, person_key, name, application_type, passport_type,
                       birth_date, queue_number, scheduled_at, stage, stage_at
                FROM booking_applicants WHERE booking_id = $1),
             counter AS (
                INSERT INTO queue_counters (office_code, date, session, last)
                SELECT $2, $3, $4, count(*) FROM people
                ON CONFLICT (office_code, date, session)
                DO UPDATE SET last = queue_counters.last + EXCLUDED.last
                RETURNING last)
             SELECT people.position AS "position!", people.applicant_id AS "applicant_id!",
                    people.person_key AS "person_key!", people.name AS "name!",
                    people.application_type AS "application_type!",
                    people.passport_type AS "passport_type!", people.birth_date,
                    people.queue_number, people.stage AS "stage!", people.stage_at,
                    people.scheduled_at, counter.last AS "last!"
             FROM people, counter ORDER BY position"#,
            id,
            office_code,
            date,
            session.as_str()
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| Numbered {
            person: ApplicantRow {
                position: r.position,
                applicant_id: r.applicant_id,
                person_key: r.person_key,
                name: r.name,
                application_type: r.application_type,
                passport_type: r.passport_type,
                birth_date: r.birth_date,
                stage: r.stage,
                stage_at: r.stage_at,
                queue_number: r.queue_number,
                scheduled_at: r.scheduled_at,
            },
            last: r.last,
        })
        .collect();
        let last = numbered.first().map_or(0, |p| p.last);
        let mut applicants: Vec<ApplicantRow> = numbered.into_iter().map(|p| p.person).collect();
        let n = applicants.len() as i32;
        for a in &mut applicants {
            let seq = (last - n + 1 + a.position) as u32;
            a.scheduled_at = Some(scheduled_at(
                office.tz,
                date,
                start,
                end,
                capacity,
                self.config.schedule_batch,
                seq,
            ));
            a.queue_number = Some(format!("{}-{:03}", session.queue_letter(), seq));
        }
        let positions: Vec<i32> = applicants.iter().map(|a| a.position).collect();
        let seqs: Vec<i32> = positions.iter().map(|p| last - n + 1 + p).collect();
        let numbers: Vec<_> = applicants.iter().map(|a| a.queue_number.clone()).collect();
        let times: Vec<_> = applicants.iter().map(|a| a.scheduled_at).collect();
        Ok(Numbers {
            applicants,
            positions,
            seqs,
            numbers,
            times,
        })
    }
}

/// Counts one status change in `booking_transitions_total`.
fn count_transition(to: BookingStatus) {
    metrics::counter!("booking_transitions_total", "to" => to.as_str()).increment(1);
}

/// Runs [`Bookings::sweep`] every `seconds` until aborted.
pub fn spawn_sweeper(b: Arc<Bookings>, seconds: u64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(seconds.max(1)));
        // Retention works in days: an hourly look is plenty, and spares the tables a scan
        // every sweep.
        let mut erased_at: Option<std::time::Instant> = None;
        loop {
            tick.tick().await;
            match b.sweep().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(changed = n, "bookings swept"),
                Err(e) => tracing::warn!(error = %e, "booking sweep failed"),
            }
            match b.promote_waitlists().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(offers = n, "waitlist offers made"),
                Err(e) => tracing::warn!(error = %e, "waitlist promotion failed"),
            }
            match b.roll_over_priority().await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(sessions = n, "priority seats returned to the general pool")
                }
                Err(e) => tracing::warn!(error = %e, "priority roll-over failed"),
            }
            if erased_at.is_none_or(|t| t.elapsed() >= crate::retention::EVERY) {
                match b.erase_expired(b.config().retention_days).await {
                    // A full batch: more may be due, so the next sweep looks again.
                    Ok(n) if n as i64 >= crate::retention::BATCH => {}
                    Ok(_) => erased_at = Some(std::time::Instant::now()),
                    Err(e) => {
                        tracing::warn!(error = %e, "retention erasure failed; tried again next sweep")
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn proof_file_names_keep_only_letters_and_digits() {
        for check in ["*", "~", "$", "=", "U", "7"] {
            let name = super::proof_filename(&format!("7K3M-9QX2-HT4R-{check}"));
            assert!(name.starts_with("bukti-booking-7K3M9QX2HT4R"), "{name}");
            let stem = name.trim_end_matches(".pdf");
            assert!(
                stem.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
                "{name}"
            );
        }
    }
}
