//! What a booking, an office, a draw and availability look like to each channel: the JSON
//! API's objects and the proof of booking (PDF and portal page).
use crate::upstream::Backend;
use antrean_platform::domain::{from_timestamp, parse_date};
use antrean_proto::v1 as pb;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

pub fn office_json(o: &pb::Office) -> Value {
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

pub fn session_name(s: i32) -> &'static str {
    match pb::Session::try_from(s) {
        Ok(pb::Session::Siang) => "SIANG",
        _ => "PAGI",
    }
}

pub fn availability_json(r: &pb::GetAvailabilityResponse) -> Bytes {
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

/// An entry of a release draw as the API shows it.
pub fn entry_json(e: &pb::DrawEntry) -> Value {
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

fn local(t: Option<&prost_types::Timestamp>, tz: Tz) -> Value {
    t.and_then(from_timestamp)
        .map(|t: DateTime<Utc>| json!(t.with_timezone(&tz).to_rfc3339()))
        .unwrap_or(Value::Null)
}

/// A booking as the API shows it.
pub async fn booking_json(backend: &Backend, b: &pb::Booking) -> Value {
    let office = backend.office(&b.office_code).await.ok().flatten();
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

/// The requirements checklist shown with every proof of booking.
pub const CHECKLIST: &[&str] = &[
    "Datang 30 menit sebelum jadwal; jika terlambat, booking hangus.",
    "Bawa e-KTP dan Kartu Keluarga asli.",
    "Paspor baru: akta kelahiran, ijazah, buku nikah atau surat baptis asli (salah satu).",
    "Penggantian: paspor lama asli.",
    "Data pada semua dokumen harus sama.",
];

/// The content of a proof of booking (PDF and portal page).
pub async fn proof_page(backend: &Backend, b: &pb::Booking) -> crate::proof::ProofPage {
    let office = backend.office(&b.office_code).await.ok().flatten();
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
