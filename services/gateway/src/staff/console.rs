//! The staff console (`/petugas`): check-in at the door, calling numbers, walk-ins, and (for
//! office heads and admins) capacity, the calendar, reconfirmation and the release rule.
//! Every form is a [`Posted`] (signed in, CSRF checked) and calls the owning service with the
//! staff member's actor token.
use super::session::{Posted, Session, office_of, session, to_login};
use crate::App;
use crate::error::ApiError;
use crate::html::render;
use antrean_proto::v1 as pb;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use std::sync::Arc;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/petugas", get(console))
        .route("/petugas/checkin", post(check_in))
        .route("/petugas/panggil", post(call_next))
        .route("/petugas/tiket/{id}/{aksi}", post(ticket_action))
        .route("/petugas/walkin", post(walk_in))
        .route("/petugas/booking", post(helpdesk))
        .route("/petugas/kapasitas", post(capacity))
        .route("/petugas/prioritas", post(priority))
        .route("/petugas/tutup", post(close_date))
        .route("/petugas/konfirmasi-ulang", post(reconfirmation))
        .route("/petugas/hari-khusus", post(special_day))
        .route("/petugas/rilis", post(release_rule))
}

/// What an action answered, shown above the forms.
#[derive(Default)]
enum Outcome {
    #[default]
    None,
    Ok(String),
    Err(String),
}

pub(super) fn status_message(s: &tonic::Status) -> String {
    let e = ApiError::from_status(s, false);
    let fields = e.field_errors();
    if fields.is_empty() {
        e.message_text()
    } else {
        let list: Vec<String> = fields.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        format!("{} {}", e.message_text(), list.join("; "))
    }
}

/// What an action shows below its message: the ticket it called, or the people checked in.
#[derive(Default)]
enum Panel {
    #[default]
    None,
    Ticket(Box<pb::QueueTicket>),
    CheckedIn(Vec<pb::BookingApplicant>),
}

#[derive(Template)]
#[template(path = "staff/console.html")]
struct ConsolePage<'a> {
    name: &'a str,
    role: &'a str,
    office: &'a str,
    csrf: &'a str,
    /// Offices to pick from (admins only).
    offices: Vec<std::sync::Arc<pb::Office>>,
    outcome: Outcome,
    ticket: Option<&'a pb::QueueTicket>,
    checked_in: Option<&'a [pb::BookingApplicant]>,
    manages: bool,
    /// The dashboard's office: admins see the nation, heads their own.
    dashboard_office: &'a str,
}

async fn render_console(
    app: &App,
    s: &Session,
    office: &str,
    outcome: Outcome,
    panel: Panel,
) -> Response {
    let offices = if s.admin() {
        app.backend.offices().await.unwrap_or_default()
    } else {
        Vec::new()
    };
    render(&ConsolePage {
        name: &s.display_name,
        role: s.role_label(),
        office,
        csrf: &s.csrf,
        offices,
        outcome,
        ticket: match &panel {
            Panel::Ticket(t) => Some(t),
            _ => None,
        },
        checked_in: match &panel {
            Panel::CheckedIn(a) => Some(a),
            _ => None,
        },
        manages: s.manages(),
        dashboard_office: if s.admin() { "" } else { office },
    })
}

async fn console(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(s) = session(&app, &headers).await else {
        return to_login();
    };
    let office = office_of(&s, q.get("kantor"));
    render_console(&app, &s, &office, Outcome::None, Panel::None).await
}

impl Posted {
    /// The console again, with what the action answered.
    async fn show(&self, outcome: Outcome, panel: Panel) -> Response {
        render_console(&self.app, &self.session, &self.office, outcome, panel).await
    }

    /// A ticket the action answered, or the service's refusal.
    async fn show_ticket(
        &self,
        r: Result<tonic::Response<pb::QueueTicket>, tonic::Status>,
        ok: Option<String>,
    ) -> Response {
        match r {
            Ok(t) => {
                self.show(
                    ok.map_or(Outcome::None, Outcome::Ok),
                    Panel::Ticket(Box::new(t.into_inner())),
                )
                .await
            }
            Err(e) => {
                self.show(Outcome::Err(status_message(&e)), Panel::None)
                    .await
            }
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
        self.show(outcome, Panel::None).await
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
        Err(e) => return p.show(Outcome::Err(status_message(&e)), Panel::None).await,
    };
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
    p.show(outcome, Panel::CheckedIn(b.applicants)).await
}

async fn call_next(p: Posted) -> Response {
    let r = p
        .app
        .backend
        .booking()
        .call_next(p.request(pb::CallNextRequest {
            office_code: p.office.clone(),
            counter: p.field("loket"),
            pickup: p.field("lajur") == "pengambilan",
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

/// A helpdesk booking (CHANNEL_STAFF) at the console's office for an applicant who cannot
/// book themselves: 1-5 people (`nama_i`, `nik_i`, `lahir_i`, `jenis_i`), the applicant's
/// phone (and e-mail); the same rules as any booking, confirmed at once, the code and
/// schedule sent to that phone. A form sent twice books once (its key is the form itself).
async fn helpdesk(p: Posted) -> Response {
    let mut applicants = Vec::new();
    for i in 0..antrean_platform::domain::MAX_APPLICANTS {
        let f = |k: &str| p.field(&format!("{k}_{i}")).trim().to_owned();
        let (name, nik, birth) = (f("nama"), f("nik"), f("lahir"));
        if name.is_empty() && nik.is_empty() && birth.is_empty() {
            continue;
        }
        applicants.push(pb::ApplicantInput {
            nik,
            name,
            birth_date: birth,
            application_type: pb::ApplicationType::from_str_name(&format!(
                "APPLICATION_TYPE_{}",
                f("jenis")
            ))
            .filter(|t| *t != pb::ApplicationType::Unspecified)
            .unwrap_or(pb::ApplicationType::New) as i32,
            passport_type: if f("paspor") == "ELECTRONIC" {
                pb::PassportType::Electronic
            } else {
                pb::PassportType::NonElectronic
            } as i32,
        });
    }
    let (date, session, phone) = (p.field("tanggal"), p.field("sesi"), p.field("hp"));
    let key = {
        use sha2::{Digest, Sha256};
        let people: Vec<String> = applicants
            .iter()
            .map(|a| format!("{}/{}", a.nik, a.name))
            .collect();
        let form = format!(
            "{}|{}|{date}|{session}|{phone}|{}",
            p.session.csrf,
            p.office,
            people.join(",")
        );
        format!("helpdesk:{}", hex::encode(Sha256::digest(form.as_bytes())))
    };
    let r = p
        .app
        .backend
        .booking()
        .create_booking(p.request(pb::CreateBookingRequest {
            idempotency_key: key,
            received_at: None,
            channel: pb::Channel::Staff as i32,
            office_code: p.office.clone(),
            date: date.clone(),
            session: session_of(&session),
            contact: Some(pb::ContactInput {
                phone,
                email: p.field("email").trim().to_owned(),
                ..Default::default()
            }),
            applicants,
        }))
        .await;
    let outcome = match r.map(tonic::Response::into_inner) {
        Ok(pb::CreateBookingResponse {
            booking: Some(b), ..
        }) => {
            let numbers: Vec<String> = b
                .applicants
                .iter()
                .map(|a| {
                    format!(
                        "{} {} ({} {})",
                        a.queue_number, a.name, a.scheduled_local, b.timezone_abbreviation
                    )
                })
                .collect();
            Outcome::Ok(format!(
                "Booking {} dibuat untuk {date} sesi {session}: {}. Kode booking dan jadwal dikirim ke WhatsApp pemohon.",
                b.booking_code,
                numbers.join(", ")
            ))
        }
        Ok(pb::CreateBookingResponse { entry: Some(e), .. }) => Outcome::Ok(format!(
            "Tanggal ini sedang dalam undian rilis: pemohon ikut undian (nomor {}), hasilnya pukul {}.",
            e.entry_id, e.draw_at_local
        )),
        Ok(_) => Outcome::Err("Layanan sedang tidak tersedia. Silakan coba lagi.".into()),
        Err(e) => Outcome::Err(status_message(&e)),
    };
    p.show(outcome, Panel::None).await
}

async fn capacity(p: Posted) -> Response {
    let capacity = p.field("kapasitas").trim().parse().unwrap_or(u32::MAX);
    let r = p
        .app
        .backend
        .quota()
        .set_capacity(p.request(pb::SetCapacityRequest {
            office_code: p.office.clone(),
            date: p.field("tanggal"),
            session: session_of(&p.field("sesi")),
            capacity,
        }))
        .await;
    let (date, session) = (p.field("tanggal"), p.field("sesi"));
    let a = match r {
        Ok(a) => a.into_inner(),
        Err(e) => return p.show(Outcome::Err(status_message(&e)), Panel::None).await,
    };
    let mut text = format!(
        "Kapasitas {date} sesi {session} menjadi {} (sisa {}).",
        a.capacity, a.remaining
    );
    // The office head chose to move the bookings the new capacity no longer holds.
    if p.field("pindahkan") == "ya" {
        let moved = p
            .app
            .backend
            .booking()
            .relocate_bookings(p.request(pb::RelocateBookingsRequest {
                office_code: p.office.clone(),
                date: date.clone(),
                reason: "kapasitas layanan dikurangi".into(),
                session: session_of(&session),
                keep: a.capacity,
            }))
            .await;
        match moved {
            Ok(r) => {
                let r = r.into_inner();
                text.push_str(&format!(
                    " {} booking ({} orang) melebihi kapasitas dan dipindahkan ke tanggal terdekat; {} tidak dapat dipindahkan dan dibatalkan. Pemberitahuan: {} terkirim, {} tidak terjangkau.",
                    r.moved, r.moved_people, r.not_moved, r.told, r.unreachable
                ));
            }
            Err(e) => {
                return p
                    .show(
                        Outcome::Err(format!(
                            "{text} Kelebihan booking belum dipindahkan: {}",
                            status_message(&e)
                        )),
                        Panel::None,
                    )
                    .await;
            }
        }
    }
    p.show(Outcome::Ok(text), Panel::None).await
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
    // A closed date leaves the availability answers at once, like every change made here;
    // then its bookings are moved to the next dates with room and their applicants told.
    let (date, reason) = (p.field("tanggal"), p.field("alasan"));
    let closed = p
        .app
        .backend
        .quota()
        .close_date(p.request(pb::CloseDateRequest {
            office_code: p.office.clone(),
            date: date.clone(),
            reason: reason.clone(),
        }))
        .await;
    if let Err(e) = closed {
        return p.show(Outcome::Err(status_message(&e)), Panel::None).await;
    }
    let moved = p
        .app
        .backend
        .booking()
        .relocate_bookings(p.request(pb::RelocateBookingsRequest {
            office_code: p.office.clone(),
            date: date.clone(),
            reason: if reason.trim().is_empty() {
                "kantor tutup".into()
            } else {
                reason.trim().to_owned()
            },
            ..Default::default()
        }))
        .await;
    let outcome = match moved {
        Ok(r) => {
            let r = r.into_inner();
            Outcome::Ok(format!(
                "Tanggal {date} ditutup. {} booking ({} orang) dipindahkan ke tanggal terdekat yang masih ada kuota; {} tidak dapat dipindahkan, dibatalkan dan ditawari daftar tunggu. Pemberitahuan: {} terkirim, {} tidak terjangkau.",
                r.moved, r.moved_people, r.not_moved, r.told, r.unreachable
            ))
        }
        // Closed, but the bookings are still on it: closing again moves them.
        Err(e) => Outcome::Err(format!(
            "Tanggal {date} ditutup, tetapi booking belum dipindahkan: {} Tutup tanggal ini lagi untuk memindahkan.",
            status_message(&e)
        )),
    };
    p.show(outcome, Panel::None).await
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
