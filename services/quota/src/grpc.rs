//! `antrean.v1.QuotaService`: thin methods that validate, convert and call [`Quota`].
use crate::error::QuotaError;
use crate::office::Office;
use crate::quota::{DayView, HoldCommand, Quota};
use antrean_platform::actor::{Actor, Permission, Tokens};
use antrean_platform::domain::{
    SessionOfDay, format_date, format_hhmm, local_date, parse_date, to_timestamp,
};
use antrean_platform::grpc::AllowList;
use antrean_platform::status::FieldViolation;
use antrean_proto::v1 as pb;
use antrean_proto::v1::quota_service_server::{QuotaService, QuotaServiceServer};
use chrono::NaiveDate;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Who may call each RPC (mutual TLS; see `antrean_platform::grpc::AllowList`). Only
/// booking moves seats; staff changes come from the gateway's console or operators' tools
/// with an actor token; the rest reads public office data.
pub static ALLOW: AllowList = AllowList {
    service: "antrean.v1.QuotaService",
    methods: &[
        ("ListOffices", READERS),
        ("GetOffice", READERS),
        ("GetOfficeByPhoneNumberId", READERS),
        ("GetAvailability", READERS),
        ("NextAvailableDates", READERS),
        ("GetReleaseRule", READERS),
        ("GetRelease", READERS),
        ("ListUpcomingReleases", READERS),
        ("Hold", &["booking"]),
        ("Commit", &["booking"]),
        ("Release", &["booking"]),
        // Walk-ins and the priority service add seats from booking.
        ("AddCapacity", &["booking", "gateway", "operator"]),
        ("SetCapacity", STAFF),
        ("GetCapacityReport", STAFF),
        ("CloseDate", STAFF),
        ("OpenSpecialDate", STAFF),
        ("SetReleaseRule", STAFF),
        ("ScheduleRelease", STAFF),
    ],
};
const READERS: &[&str] = &["booking", "gateway", "channel", "operator"];
const STAFF: &[&str] = &["gateway", "operator"];

/// Longest range one availability request may ask for.
const MAX_RANGE_DAYS: i64 = 62;

#[derive(Clone)]
pub struct QuotaGrpc {
    quota: Arc<Quota>,
    tokens: Tokens,
    sold_out: Arc<SoldOutStatuses>,
}

type SoldOutKey = (NaiveDate, SessionOfDay, u32, Vec<NaiveDate>);

/// The refusals a flash crowd gets, built once: a sold-out status is a function of its date,
/// session, seats left and next free dates, and while those stay the same every refused
/// applicant gets a clone instead of a new Bahasa message, five formatted dates and encoded
/// details (kept encoded as their headers, [`antrean_platform::status::encoded_once`]).
#[derive(Default)]
struct SoldOutStatuses(std::sync::Mutex<std::collections::HashMap<SoldOutKey, Status>>);

impl SoldOutStatuses {
    /// Distinct refusals kept at most; past it the map starts again.
    const MAX: usize = 1024;

    fn status(&self, e: QuotaError) -> Status {
        let QuotaError::SoldOut {
            date,
            session,
            remaining,
            next_dates,
        } = e
        else {
            return e.into();
        };
        let key = (date, session, remaining, next_dates);
        if let Some(s) = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
        {
            return s.clone();
        }
        let status = antrean_platform::status::encoded_once(
            QuotaError::SoldOut {
                date,
                session,
                remaining,
                next_dates: key.3.clone(),
            }
            .into(),
        );
        let mut cache = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= Self::MAX {
            cache.clear();
        }
        cache.insert(key, status.clone());
        status
    }
}

impl QuotaGrpc {
    pub fn new(quota: Arc<Quota>, tokens: Tokens) -> Self {
        Self {
            quota,
            tokens,
            sold_out: Arc::default(),
        }
    }

    /// The staff member behind a capacity or calendar change, allowed to manage `office`.
    fn manager<T>(&self, req: &Request<T>, office: &str) -> Result<Actor, Status> {
        let actor = self.tokens.actor(req, self.quota.now().timestamp())?;
        actor.require(Permission::Manage, office)?;
        Ok(actor)
    }

    pub fn into_server(self) -> QuotaServiceServer<Self> {
        QuotaServiceServer::new(self)
    }

    fn office(&self, code: &str) -> Result<Arc<Office>, QuotaError> {
        if code.trim().is_empty() {
            return Err(QuotaError::Invalid(vec![FieldViolation::new(
                "office_code",
                "wajib diisi",
            )]));
        }
        self.quota.office(code).cloned()
    }
}

fn date_field(field: &str, value: &str) -> Result<NaiveDate, QuotaError> {
    parse_date(value).ok_or_else(|| {
        QuotaError::Invalid(vec![FieldViolation::new(
            field,
            "tanggal harus berformat YYYY-MM-DD",
        )])
    })
}

fn optional_date(field: &str, value: &str) -> Result<Option<NaiveDate>, QuotaError> {
    if value.trim().is_empty() {
        Ok(None)
    } else {
        date_field(field, value).map(Some)
    }
}

fn session_field(value: i32) -> Result<SessionOfDay, QuotaError> {
    SessionOfDay::from_proto(value).ok_or_else(|| {
        QuotaError::Invalid(vec![FieldViolation::new(
            "session",
            "pilih SESSION_PAGI atau SESSION_SIANG",
        )])
    })
}

pub fn office_to_proto(o: &Office, today: NaiveDate) -> pb::Office {
    pb::Office {
        code: o.code.clone(),
        name: o.name.clone(),
        city: o.city.clone(),
        timezone: o.tz.name().to_owned(),
        timezone_abbreviation: o.zone().to_owned(),
        address: o.address.clone(),
        whatsapp: Some(pb::WhatsAppNumber {
            display_phone_number: o.wa_display_number.clone(),
            phone_number_id: o.wa_phone_number_id.clone(),
        }),
        sessions: SessionOfDay::ALL
            .iter()
            .map(|&s| {
                let h = o.hours(s);
                pb::SessionHours {
                    session: s.to_proto() as i32,
                    start_local: format_hhmm(h.start),
                    end_local: format_hhmm(h.end),
                    default_capacity: h.default_capacity,
                }
            })
            .collect(),
        today: format_date(today),
    }
}

/// One session of a day, as a capacity change answers it.
fn session_to_proto(d: &DayView, session: SessionOfDay) -> pb::SessionAvailability {
    day_to_proto(d)
        .sessions
        .into_iter()
        .find(|s| s.session == session.to_proto() as i32)
        .unwrap_or_default()
}

pub fn day_to_proto(d: &DayView) -> pb::DayAvailability {
    pb::DayAvailability {
        date: format_date(d.date),
        open: d.open,
        closed_reason: d
            .closed_reason
            .map(|r| r.code().to_owned())
            .unwrap_or_default(),
        note: d.note.clone(),
        special_event: d.special,
        sessions: d
            .sessions
            .iter()
            .map(|s| pb::SessionAvailability {
                session: s.session.to_proto() as i32,
                capacity: s.capacity,
                remaining: s.remaining,
                confirmed: s.confirmed,
                held: s.held,
                start_local: format_hhmm(s.start),
                end_local: format_hhmm(s.end),
            })
            .collect(),
    }
}

#[tonic::async_trait]
impl QuotaService for QuotaGrpc {
    async fn list_offices(
        &self,
        _: Request<pb::ListOfficesRequest>,
    ) -> Result<Response<pb::ListOfficesResponse>, Status> {
        let now = self.quota.now();
        Ok(Response::new(pb::ListOfficesResponse {
            offices: self
                .quota
                .offices()
                .all()
                .iter()
                .map(|o| office_to_proto(o, local_date(o.tz, now)))
                .collect(),
        }))
    }

    async fn get_office(
        &self,
        req: Request<pb::GetOfficeRequest>,
    ) -> Result<Response<pb::Office>, Status> {
        let o = self.office(&req.get_ref().office_code)?;
        Ok(Response::new(office_to_proto(
            &o,
            local_date(o.tz, self.quota.now()),
        )))
    }

    async fn get_office_by_phone_number_id(
        &self,
        req: Request<pb::GetOfficeByPhoneNumberIdRequest>,
    ) -> Result<Response<pb::Office>, Status> {
        let id = &req.get_ref().phone_number_id;
        let o = self
            .quota
            .offices()
            .by_phone_number_id(id)
            .ok_or_else(|| QuotaError::UnknownOffice(format!("phone_number_id {id}")))?;
        Ok(Response::new(office_to_proto(
            o,
            local_date(o.tz, self.quota.now()),
        )))
    }

    async fn get_availability(
        &self,
        req: Request<pb::GetAvailabilityRequest>,
    ) -> Result<Response<pb::GetAvailabilityResponse>, Status> {
        let r = req.into_inner();
        let office = self.office(&r.office_code)?;
        let (first, last) = self.quota.bookable_range(&office);
        let from = optional_date("from", &r.from)?.unwrap_or(first);
        let to = optional_date("to", &r.to)?.unwrap_or(last);
        if to < from || (to - from).num_days() >= MAX_RANGE_DAYS {
            return Err(QuotaError::Invalid(vec![FieldViolation::new(
                "to",
                "harus sama atau setelah 'from', paling banyak 62 hari",
            )])
            .into());
        }
        let days = self.quota.availability(&office, from, to).await?;
        Ok(Response::new(pb::GetAvailabilityResponse {
            office_code: office.code.clone(),
            days: days.iter().map(day_to_proto).collect(),
        }))
    }

    async fn next_available_dates(
        &self,
        req: Request<pb::NextAvailableDatesRequest>,
    ) -> Result<Response<pb::NextAvailableDatesResponse>, Status> {
        let r = req.into_inner();
        let office = self.office(&r.office_code)?;
        let seats = if r.seats == 0 { 1 } else { r.seats };
        if seats > crate::quota::MAX_SEATS {
            return Err(QuotaError::Invalid(vec![FieldViolation::new(
                "seats",
                antrean_platform::domain::seats_rule(),
            )])
            .into());
        }
        let limit = if r.limit == 0 { 5 } else { r.limit.min(31) } as usize;
        let session = SessionOfDay::from_proto(r.session);
        let from = optional_date("from", &r.from)?;
        let days = self
            .quota
            .next_available(&office, seats, limit, session, from)
            .await?;
        Ok(Response::new(pb::NextAvailableDatesResponse {
            days: days.iter().map(day_to_proto).collect(),
        }))
    }

    async fn hold(
        &self,
        req: Request<pb::HoldRequest>,
    ) -> Result<Response<pb::HoldResponse>, Status> {
        let r = req.into_inner();
        let office = r.office_code.clone();
        let answer = self
            .quota
            .hold(HoldCommand {
                hold_id: r.hold_id,
                office_code: r.office_code,
                date: r.date,
                session: r.session,
                seats: r.seats,
                ttl_seconds: r.ttl_seconds,
                draw_admission: r.draw_admission,
            })
            .await;
        let outcome = match &answer {
            Ok(_) => "admitted",
            Err(QuotaError::SoldOut { .. }) => "sold_out",
            Err(QuotaError::Closed { .. }) => "closed",
            Err(QuotaError::OutsideHorizon { .. }) => "outside_horizon",
            Err(QuotaError::Invalid(_) | QuotaError::UnknownOffice(_)) => "invalid",
            Err(_) => "error",
        };
        // Only a known office becomes a label: a caller cannot grow the series.
        let office = self
            .quota
            .office(&office)
            .map_or_else(|_| "-".to_owned(), |o| o.code.clone());
        metrics::counter!("quota_holds_total", "office" => office, "outcome" => outcome)
            .increment(1);
        let a = answer.map_err(|e| self.sold_out.status(e))?;
        Ok(Response::new(pb::HoldResponse {
            hold_id: a.hold_id,
            remaining: a.remaining,
            expires_at: Some(to_timestamp(a.expires_at)),
        }))
    }

    async fn commit(
        &self,
        req: Request<pb::CommitRequest>,
    ) -> Result<Response<pb::CommitResponse>, Status> {
        let id = req.into_inner().hold_id;
        if id.is_empty() {
            return Err(
                QuotaError::Invalid(vec![FieldViolation::new("hold_id", "wajib diisi")]).into(),
            );
        }
        let a = self.quota.commit(&id).await?;
        Ok(Response::new(pb::CommitResponse {
            hold_id: a.hold.hold_id.clone(),
            office_code: a.hold.office_code.clone(),
            date: format_date(a.hold.date),
            session: a.hold.session().to_proto() as i32,
            seats: a.hold.seats as u32,
            capacity: a.capacity,
        }))
    }

    async fn release(
        &self,
        req: Request<pb::ReleaseRequest>,
    ) -> Result<Response<pb::ReleaseResponse>, Status> {
        let id = req.into_inner().hold_id;
        if id.is_empty() {
            return Err(
                QuotaError::Invalid(vec![FieldViolation::new("hold_id", "wajib diisi")]).into(),
            );
        }
        let released = self.quota.release(&id).await?;
        Ok(Response::new(pb::ReleaseResponse {
            hold_id: id,
            released,
        }))
    }

    async fn set_capacity(
        &self,
        req: Request<pb::SetCapacityRequest>,
    ) -> Result<Response<pb::SessionAvailability>, Status> {
        let by = self.manager(&req, &req.get_ref().office_code.trim().to_uppercase())?;
        let r = req.into_inner();
        let office = self.office(&r.office_code)?;
        let date = date_field("date", &r.date)?;
        let session = session_field(r.session)?;
        if r.capacity > 10_000 {
            return Err(QuotaError::Invalid(vec![FieldViolation::new(
                "capacity",
                "paling banyak 10000",
            )])
            .into());
        }
        let day = self
            .quota
            .set_capacity(&by, &office, date, session, r.capacity)
            .await?;
        Ok(Response::new(session_to_proto(&day, session)))
    }

    async fn add_capacity(
        &self,
        req: Request<pb::AddCapacityRequest>,
    ) -> Result<Response<pb::SessionAvailability>, Status> {
        let by = self.manager(&req, &req.get_ref().office_code.trim().to_uppercase())?;
        let r = req.into_inner();
        let office = self.office(&r.office_code)?;
        let date = date_field("date", &r.date)?;
        let session = session_field(r.session)?;
        let mut v = Vec::new();
        if r.seats == 0 || r.seats > 10_000 {
            v.push(FieldViolation::new("seats", "antara 1 dan 10000"));
        }
        if r.idempotency_key.trim().is_empty() || r.idempotency_key.len() > 200 {
            v.push(FieldViolation::new(
                "idempotency_key",
                "wajib diisi, paling panjang 200 karakter",
            ));
        }
        if !v.is_empty() {
            return Err(QuotaError::Invalid(v).into());
        }
        let day = self
            .quota
            .add_capacity(
                &by,
                &office,
                date,
                session,
                r.seats,
                r.idempotency_key.trim(),
            )
            .await?;
        Ok(Response::new(session_to_proto(&day, session)))
    }

    async fn get_capacity_report(
        &self,
        req: Request<pb::GetCapacityReportRequest>,
    ) -> Result<Response<pb::CapacityReport>, Status> {
        let office = req.get_ref().office_code.trim().to_uppercase();
        let actor = self.tokens.actor(&req, self.quota.now().timestamp())?;
        if office.is_empty() {
            actor.require(Permission::Administer, "")?;
        } else {
            actor.require(Permission::Manage, &office)?;
            self.office(&office)?;
        }
        let r = req.into_inner();
        let from = date_field("from", &r.from)?;
        let to = date_field("to", &r.to)?;
        if to < from || (to - from).num_days() > 366 {
            return Err(QuotaError::Invalid(vec![FieldViolation::new(
                "to",
                "harus sesudah 'from', paling lama 366 hari",
            )])
            .into());
        }
        let rows = self.quota.capacity_report(&office, from, to).await?;
        Ok(Response::new(pb::CapacityReport {
            rows: rows
                .into_iter()
                .map(
                    |(office_code, date, capacity, confirmed, open)| pb::CapacityRow {
                        office_code,
                        date: format_date(date),
                        capacity,
                        confirmed,
                        open,
                    },
                )
                .collect(),
        }))
    }

    async fn close_date(
        &self,
        req: Request<pb::CloseDateRequest>,
    ) -> Result<Response<pb::CloseDateResponse>, Status> {
        let by = self.manager(&req, &req.get_ref().office_code.trim().to_uppercase())?;
        let r = req.into_inner();
        let office = self.office(&r.office_code)?;
        let date = date_field("date", &r.date)?;
        let (day, confirmed_seats) = self.quota.close_date(&by, &office, date, &r.reason).await?;
        Ok(Response::new(pb::CloseDateResponse {
            day: Some(day_to_proto(&day)),
            confirmed_seats,
        }))
    }

    async fn open_special_date(
        &self,
        req: Request<pb::OpenSpecialDateRequest>,
    ) -> Result<Response<pb::DayAvailability>, Status> {
        let by = self.manager(&req, &req.get_ref().office_code.trim().to_uppercase())?;
        let r = req.into_inner();
        let office = self.office(&r.office_code)?;
        let date = date_field("date", &r.date)?;
        let mut v = Vec::new();
        if r.name.trim().is_empty() {
            v.push(FieldViolation::new(
                "name",
                "wajib diisi, misalnya \"Paspor Simpatik\"",
            ));
        }
        if r.pagi_capacity == 0 && r.siang_capacity == 0 {
            v.push(FieldViolation::new(
                "pagi_capacity",
                "paling sedikit satu sesi harus berkapasitas",
            ));
        }
        if r.pagi_capacity > 10_000 || r.siang_capacity > 10_000 {
            v.push(FieldViolation::new("pagi_capacity", "paling banyak 10000"));
        }
        if !v.is_empty() {
            return Err(QuotaError::Invalid(v).into());
        }
        let day = self
            .quota
            .open_special(
                &by,
                &office,
                date,
                &r.name,
                [r.pagi_capacity, r.siang_capacity],
            )
            .await?;
        Ok(Response::new(day_to_proto(&day)))
    }

    async fn set_release_rule(
        &self,
        req: Request<pb::SetReleaseRuleRequest>,
    ) -> Result<Response<pb::ReleaseRule>, Status> {
        let by = self.manager(&req, &req.get_ref().office_code.trim().to_uppercase())?;
        let r = req.into_inner();
        let office = self.office(&r.office_code)?;
        let mut v = Vec::new();
        let release_local = if r.release_local.trim().is_empty() {
            Some(chrono::NaiveTime::MIN)
        } else {
            antrean_platform::domain::parse_hhmm(&r.release_local)
        };
        if release_local.is_none() {
            v.push(FieldViolation::new("release_local", "jam berformat HH:MM"));
        }
        if r.draw_window_seconds > 86_400 {
            v.push(FieldViolation::new(
                "draw_window_seconds",
                "paling lama 86400 detik (24 jam)",
            ));
        }
        let Some(release_local) = release_local.filter(|_| v.is_empty()) else {
            return Err(QuotaError::Invalid(v).into());
        };
        let rule = crate::releases::Rule {
            release_local,
            draw_window_seconds: r.draw_window_seconds as i32,
        };
        self.quota.set_release_rule(&by, &office, rule).await?;
        Ok(Response::new(rule_proto(&office, rule)))
    }

    async fn get_release_rule(
        &self,
        req: Request<pb::GetReleaseRuleRequest>,
    ) -> Result<Response<pb::ReleaseRule>, Status> {
        let office = self.office(&req.get_ref().office_code)?;
        Ok(Response::new(rule_proto(
            &office,
            self.quota.release_rule(&office),
        )))
    }

    async fn schedule_release(
        &self,
        req: Request<pb::ScheduleReleaseRequest>,
    ) -> Result<Response<pb::Release>, Status> {
        let by = self.manager(&req, &req.get_ref().office_code.trim().to_uppercase())?;
        let r = req.into_inner();
        let office = self.office(&r.office_code)?;
        let date = date_field("date", &r.date)?;
        let mut v = Vec::new();
        let opens_at = r
            .opens_at
            .as_ref()
            .and_then(antrean_platform::domain::from_timestamp);
        if opens_at.is_none() {
            v.push(FieldViolation::new("opens_at", "wajib diisi"));
        }
        if r.draw_window_seconds > 86_400 {
            v.push(FieldViolation::new(
                "draw_window_seconds",
                "paling lama 86400 detik (24 jam)",
            ));
        }
        let Some(opens_at) = opens_at.filter(|_| v.is_empty()) else {
            return Err(QuotaError::Invalid(v).into());
        };
        let release = self
            .quota
            .schedule_release(&by, &office, date, opens_at, r.draw_window_seconds)
            .await?;
        Ok(Response::new(release_proto(&office, date, release)))
    }

    async fn list_upcoming_releases(
        &self,
        req: Request<pb::ListUpcomingReleasesRequest>,
    ) -> Result<Response<pb::ListUpcomingReleasesResponse>, Status> {
        let within = chrono::Duration::seconds(i64::from(req.get_ref().within_seconds.min(86_400)));
        Ok(Response::new(pb::ListUpcomingReleasesResponse {
            releases: self.upcoming(within),
        }))
    }

    async fn get_release(
        &self,
        req: Request<pb::GetReleaseRequest>,
    ) -> Result<Response<pb::Release>, Status> {
        let r = req.into_inner();
        let office = self.office(&r.office_code)?;
        let date = date_field("date", &r.date)?;
        let release = self.quota.release_of(&office, date);
        Ok(Response::new(release_proto(&office, date, release)))
    }
}

impl QuotaGrpc {
    /// Releases with a draw window opening within `within` or drawing now, every office.
    fn upcoming(&self, within: chrono::Duration) -> Vec<pb::Release> {
        let now = self.quota.now();
        let mut out = Vec::new();
        for office in self.quota.offices().all() {
            for date in self.quota.release_candidates(office) {
                let r = self.quota.release_of(office, date);
                if r.draw_closes_at > r.opens_at
                    && r.draw_closes_at > now
                    && r.opens_at <= now + within
                {
                    out.push(release_proto(office, date, r));
                }
            }
        }
        out
    }
}

fn rule_proto(office: &Office, rule: crate::releases::Rule) -> pb::ReleaseRule {
    pb::ReleaseRule {
        office_code: office.code.clone(),
        release_local: rule.release_local.format("%H:%M").to_string(),
        draw_window_seconds: rule.draw_window_seconds.max(0) as u32,
    }
}

fn release_proto(office: &Office, date: NaiveDate, r: crate::releases::Release) -> pb::Release {
    pb::Release {
        office_code: office.code.clone(),
        date: antrean_platform::domain::format_date(date),
        opens_at: Some(antrean_platform::domain::to_timestamp(r.opens_at)),
        draw_closes_at: Some(antrean_platform::domain::to_timestamp(r.draw_closes_at)),
        scheduled: r.scheduled,
    }
}
