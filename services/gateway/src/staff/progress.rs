//! The console's progress screen (`/petugas/progres`): staff look a booking up by its code at
//! their office, move each applicant to a later stage (documents checked, photo and interview,
//! payment confirmed, printing, ready for pickup, picked up), and give a passport's collector
//! a ticket in the pickup lane (C-001, ...). Office heads set the pickup hours. Every change
//! goes through the booking service, which audits it and tells the applicant.
use super::console::status_message;
use super::session::{Posted, Session, office_of, session, to_login};
use crate::App;
use crate::html::render;
use antrean_platform::actor::with_token;
use antrean_platform::progress;
use antrean_proto::v1 as pb;
use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use std::collections::HashMap;
use std::sync::Arc;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/petugas/progres", get(page).post(advance))
        .route("/petugas/ambil", post(pickup))
        .route("/petugas/jam-ambil", post(pickup_hours))
}

/// One applicant as the screen shows them.
struct Person {
    /// From 1.
    number: usize,
    name: String,
    queue_number: String,
    kind: String,
    stage: &'static str,
    stage_label: &'static str,
    since: String,
    /// (value, label) of the stages they may move to.
    next: Vec<(&'static str, &'static str)>,
}

#[derive(Template)]
#[template(path = "staff/progress.html")]
struct ProgressPage<'a> {
    csrf: &'a str,
    office: &'a str,
    code: &'a str,
    people: Vec<Person>,
    /// The booking's status label, once found.
    status: Option<&'static str>,
    pickup_hours: String,
    /// The pickup hours' ends, HH:MM, for the form.
    opens: String,
    closes: String,
    notice: Option<(bool, String)>,
    manages: bool,
}

/// The stages an applicant at `current` may move to.
fn next_stages(current: pb::ApplicationStage) -> Vec<(&'static str, &'static str)> {
    progress::STAGES
        .iter()
        .filter(|s| progress::rank(**s) > progress::rank(current))
        .filter(|s| {
            **s != pb::ApplicationStage::PickedUp || current == pb::ApplicationStage::ReadyForPickup
        })
        .map(|s| (progress::name(*s), progress::label(*s)))
        .collect()
}

/// The booking's people, their times in the office's zone `tz`.
fn people_of(b: &pb::Booking, tz: chrono_tz::Tz) -> Vec<Person> {
    b.applicants
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let stage = pb::ApplicationStage::try_from(a.stage)
                .ok()
                .filter(|s| *s != pb::ApplicationStage::Unspecified)
                .unwrap_or(pb::ApplicationStage::Waiting);
            Person {
                number: i + 1,
                name: a.name.clone(),
                queue_number: a.queue_number.clone(),
                kind: antrean_platform::requirements::application_type_label(
                    pb::ApplicationType::try_from(a.application_type).unwrap_or_default(),
                )
                .to_owned(),
                stage: progress::name(stage),
                stage_label: progress::label(stage),
                since: a
                    .stage_at
                    .as_ref()
                    .and_then(antrean_platform::domain::from_timestamp)
                    .map(|t| {
                        format!(
                            "{} {} {}",
                            antrean_platform::domain::local_date(tz, t).format("%d-%m-%Y"),
                            antrean_platform::domain::local_hhmm(tz, t),
                            b.timezone_abbreviation
                        )
                    })
                    .unwrap_or_default(),
                next: next_stages(stage),
            }
        })
        .collect()
}

/// The screen for `code` at `office` (empty code: only the search form).
async fn show(
    app: &App,
    s: &Session,
    token: &str,
    office: &str,
    code: &str,
    notice: Option<(bool, String)>,
) -> Response {
    let mut notice = notice;
    let mut found = None;
    if !code.trim().is_empty() {
        let r = app
            .backend
            .booking()
            .get_booking(with_token(
                tonic::Request::new(pb::GetBookingRequest {
                    key: Some(pb::get_booking_request::Key::BookingCode(
                        code.trim().to_owned(),
                    )),
                    contact_phone: String::new(),
                    office_code: office.to_owned(),
                }),
                token,
            ))
            .await;
        match r {
            Ok(b) => found = Some(b.into_inner()),
            Err(e) if notice.is_none() => notice = Some((false, status_message(&e))),
            Err(_) => {}
        }
    }
    // The office's pickup hours, as its display shows them.
    let hours = app
        .backend
        .booking()
        .get_queue_board(pb::GetQueueBoardRequest {
            office_code: office.to_owned(),
        })
        .await
        .map(|b| b.into_inner().pickup_hours)
        .unwrap_or_default();
    let (opens, closes) = hours
        .split_whitespace()
        .next()
        .and_then(|h| h.split_once('-'))
        .unwrap_or(("13:00", "15:00"));
    let (opens, closes) = (opens.to_owned(), closes.to_owned());
    let people = match &found {
        Some(b) => {
            let tz = app
                .backend
                .office(&b.office_code)
                .await
                .ok()
                .flatten()
                .and_then(|o| antrean_platform::domain::parse_tz(&o.timezone))
                .unwrap_or(chrono_tz::Asia::Jakarta);
            people_of(b, tz)
        }
        None => Vec::new(),
    };
    render(&ProgressPage {
        csrf: &s.csrf,
        office,
        code: found
            .as_ref()
            .map_or(code.trim(), |b| b.booking_code.as_str()),
        people,
        status: found.as_ref().map(|b| {
            antrean_platform::domain::booking_status_label(
                pb::BookingStatus::try_from(b.status)
                    .map(|s| s.as_str_name().trim_start_matches("BOOKING_STATUS_"))
                    .unwrap_or_default(),
            )
        }),
        pickup_hours: hours.clone(),
        opens,
        closes,
        notice,
        manages: s.manages(),
    })
}

async fn page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(s) = session(&app, &headers).await else {
        return to_login();
    };
    let Some(token) = s.token(&app) else {
        return to_login();
    };
    let office = office_of(&s, q.get("kantor"));
    let code = q.get("kode").cloned().unwrap_or_default();
    show(&app, &s, &token, &office, &code, None).await
}

impl Posted {
    async fn progress_page(&self, notice: (bool, String)) -> Response {
        let token = self.session.token(&self.app).unwrap_or_default();
        show(
            &self.app,
            &self.session,
            &token,
            &self.office,
            &self.field("kode"),
            Some(notice),
        )
        .await
    }
}

async fn advance(p: Posted) -> Response {
    let stage = progress::parse(&p.field("tahap"));
    let applicant = p.field("pemohon").trim().parse::<u32>().unwrap_or(0);
    let r = p
        .app
        .backend
        .booking()
        .advance_stage(p.request(pb::AdvanceStageRequest {
            office_code: p.office.clone(),
            booking_code: p.field("kode"),
            applicant,
            stage: stage as i32,
        }))
        .await;
    let notice = match r {
        Ok(b) => {
            let b = b.into_inner();
            let name = b
                .applicants
                .get(applicant.saturating_sub(1) as usize)
                .map(|a| a.name.clone())
                .unwrap_or_default();
            (
                true,
                format!(
                    "{name}: {}. Pemohon diberi tahu lewat WhatsApp.",
                    progress::label(stage)
                ),
            )
        }
        Err(e) => (false, status_message(&e)),
    };
    p.progress_page(notice).await
}

async fn pickup(p: Posted) -> Response {
    let r = p
        .app
        .backend
        .booking()
        .check_in_pickup(p.request(pb::CheckInPickupRequest {
            office_code: p.office.clone(),
            booking_code: p.field("kode"),
        }))
        .await;
    let notice = match r {
        Ok(t) => {
            let t = t.into_inner();
            (
                true,
                format!(
                    "Nomor antrean pengambilan {} untuk {}. Panggil dari konsol dengan \"Panggil pengambilan\".",
                    t.queue_number, t.name
                ),
            )
        }
        Err(e) => (false, status_message(&e)),
    };
    p.progress_page(notice).await
}

async fn pickup_hours(p: Posted) -> Response {
    if !p.session.manages() {
        return p
            .progress_page((
                false,
                "Jam pengambilan hanya dapat diubah kepala kantor.".into(),
            ))
            .await;
    }
    let r = p
        .app
        .backend
        .booking()
        .set_pickup_hours(p.request(pb::SetPickupHoursRequest {
            office_code: p.office.clone(),
            opens: p.field("buka"),
            closes: p.field("tutup"),
        }))
        .await;
    let notice = match r {
        Ok(h) => {
            let h = h.into_inner();
            (
                true,
                format!(
                    "Jam pengambilan {}: {}-{}.",
                    h.office_code, h.opens, h.closes
                ),
            )
        }
        Err(e) => (false, status_message(&e)),
    };
    p.progress_page(notice).await
}
