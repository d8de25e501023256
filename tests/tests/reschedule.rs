//! Rescheduling (`BookingService/RescheduleBooking`): a confirmed booking moves once, up to
//! the day before, all its people together; the new seats are taken before the old ones go
//! back, so a full day refuses without losing the old seats, and a flash crowd on the target
//! day never gets more than its capacity.
use antrean_platform::actor::as_dev_admin;
use antrean_platform::status::reason;
use antrean_proto::v1 as pb;
use antrean_tests::*;

const FROM: &str = "2026-12-01";
const TO: &str = "2026-12-02";

fn move_to(
    code: &str,
    phone: &str,
    date: &str,
    session: pb::Session,
) -> pb::RescheduleBookingRequest {
    pb::RescheduleBookingRequest {
        booking_code: code.into(),
        contact_phone: phone.into(),
        date: date.into(),
        session: session as i32,
        requested_via: pb::Channel::Web as i32,
    }
}

async fn set_capacity(s: &System, date: &str, session: pb::Session, capacity: u32) {
    s.quota
        .clone()
        .set_capacity(as_dev_admin(pb::SetCapacityRequest {
            office_code: "BOGOR".into(),
            date: date.into(),
            session: session as i32,
            capacity,
        }))
        .await
        .unwrap();
}

/// A confirmed booking of `people` in Bogor on `date` in the morning, by WhatsApp.
async fn book(s: &System, n: u32, date: &str, people: u32) -> (pb::Booking, String) {
    let phone = format!("08127{:07}", 1000 + n);
    let birth = "1985-03-04";
    let b = s
        .book(create(
            &format!("move-{n}"),
            "BOGOR",
            date,
            pb::Session::Pagi,
            &phone,
            (0..people)
                .map(|p| applicant(&nik(birth, n * 10 + p + 1), "Pemohon Pindah", birth))
                .collect(),
        ))
        .await;
    (b, phone)
}

async fn seats_held(s: &System) -> Vec<(String, String, String, String)> {
    sqlx::query_as(
        "SELECT date::text, session, state, seats::text FROM quota.holds ORDER BY date, session, state",
    )
    .fetch_all(&s.pool().await)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_moves_once_with_all_its_people_and_its_old_seats_go_back() {
    let s = start().await;
    let (b, phone) = book(&s, 1, FROM, 2).await;
    let from_before = s.remaining("BOGOR", FROM, pb::Session::Pagi).await;
    let to_before = s.remaining("BOGOR", TO, pb::Session::Siang).await;

    let moved = s
        .booking
        .clone()
        .reschedule_booking(move_to(&b.booking_code, &phone, TO, pb::Session::Siang))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (moved.date.as_str(), moved.session),
        (TO, pb::Session::Siang as i32)
    );
    assert_eq!(moved.status, pb::BookingStatus::Confirmed as i32);
    assert_eq!(moved.booking_code, b.booking_code, "the booking code stays");
    assert_eq!(
        (
            moved.rescheduled_from_date.as_str(),
            moved.rescheduled_from_session
        ),
        (FROM, pb::Session::Pagi as i32)
    );
    // New queue numbers and times on the new day, for both.
    let numbers: Vec<&str> = moved
        .applicants
        .iter()
        .map(|a| a.queue_number.as_str())
        .collect();
    assert_eq!(numbers.len(), 2);
    assert!(numbers.iter().all(|n| n.starts_with('B')), "{numbers:?}");
    assert_ne!(
        moved.applicants[0].scheduled_at,
        b.applicants[0].scheduled_at
    );
    // The seats moved: back on the old day, taken on the new one.
    assert_eq!(
        s.remaining("BOGOR", FROM, pb::Session::Pagi).await,
        from_before + 2
    );
    assert_eq!(
        s.remaining("BOGOR", TO, pb::Session::Siang).await,
        to_before - 2
    );
    let holds = seats_held(&s).await;
    assert!(
        holds.contains(&(TO.into(), "SIANG".into(), "COMMITTED".into(), "2".into())),
        "{holds:?}"
    );
    assert!(
        !holds.iter().any(|h| h.0 == FROM && h.2 == "COMMITTED"),
        "the old hold is still committed: {holds:?}"
    );

    // The same move again (a retry) answers the booking; another one is refused.
    let again = s
        .booking
        .clone()
        .reschedule_booking(move_to(&b.booking_code, &phone, TO, pb::Session::Siang))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, moved);
    let refused = s
        .booking
        .clone()
        .reschedule_booking(move_to(
            &b.booking_code,
            &phone,
            "2026-12-03",
            pb::Session::Pagi,
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&refused).as_deref(), Some("RESCHEDULE_USED"));
    assert!(
        refused.message().contains("hanya sekali"),
        "{}",
        refused.message()
    );
    // A stranger with the code but not the phone learns nothing.
    let stranger = s
        .booking
        .clone()
        .reschedule_booking(move_to(
            &b.booking_code,
            "081299999999",
            "2026-12-03",
            pb::Session::Pagi,
        ))
        .await
        .unwrap_err();
    assert_eq!(stranger.code(), tonic::Code::NotFound);

    // Cancelling the moved booking gives back the new seats.
    s.booking
        .clone()
        .cancel_booking(pb::CancelBookingRequest {
            booking_code: b.booking_code.clone(),
            contact_phone: phone.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        s.remaining("BOGOR", TO, pb::Session::Siang).await,
        to_before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_late_full_and_unchanged_moves_are_refused_and_keep_the_seats() {
    let s = start().await;
    let (b, phone) = book(&s, 2, TO, 3).await;
    // A full session: refused with the next free dates; the booking and its seats stay.
    set_capacity(&s, "2026-12-03", pb::Session::Pagi, 2).await;
    let before = s.remaining("BOGOR", TO, pb::Session::Pagi).await;
    let full = s
        .booking
        .clone()
        .reschedule_booking(move_to(
            &b.booking_code,
            &phone,
            "2026-12-03",
            pb::Session::Pagi,
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&full).as_deref(), Some("SOLD_OUT"));
    let details = antrean_platform::status::metadata(&full);
    assert!(
        details.get("next_dates").is_some_and(|d| !d.is_empty()),
        "{details:?}"
    );
    assert_eq!(s.remaining("BOGOR", TO, pb::Session::Pagi).await, before);
    assert_eq!(
        s.remaining("BOGOR", "2026-12-03", pb::Session::Pagi).await,
        2
    );
    let same = s
        .booking
        .clone()
        .reschedule_booking(move_to(&b.booking_code, &phone, TO, pb::Session::Pagi))
        .await
        .unwrap_err();
    assert_eq!(same.code(), tonic::Code::InvalidArgument);
    let bad = s
        .booking
        .clone()
        .reschedule_booking(move_to(
            &b.booking_code,
            &phone,
            "3 Desember",
            pb::Session::Pagi,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(bad.message().contains("YYYY-MM-DD"), "{}", bad.message());
    // On the day itself it is too late (up to the day before).
    s.clock.set("2026-12-01T17:30:00Z".parse().unwrap()); // 00:30 WIB on 2 December
    let late = s
        .booking
        .clone()
        .reschedule_booking(move_to(
            &b.booking_code,
            &phone,
            "2026-12-04",
            pb::Session::Pagi,
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&late).as_deref(), Some("TOO_LATE"));
    let view = s
        .booking
        .clone()
        .get_booking(pb::GetBookingRequest {
            key: Some(pb::get_booking_request::Key::BookingCode(
                b.booking_code.clone(),
            )),
            contact_phone: phone,
            office_code: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (view.date.as_str(), view.rescheduled_from_date.as_str()),
        (TO, "")
    );
    assert!(
        seats_held(&s).await.iter().all(|h| h.0 == TO),
        "no seat held elsewhere"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_raced_against_a_flash_crowd_never_oversells_nor_loses_both_slots() {
    let s = start().await;
    const CAPACITY: u32 = 12;
    set_capacity(&s, TO, pb::Session::Pagi, CAPACITY).await;
    let (b, phone) = book(&s, 3, FROM, 2).await;
    let from_left = s.remaining("BOGOR", FROM, pb::Session::Pagi).await;
    // Twenty single bookings for the target session and the move, all at once.
    let crowd: Vec<_> = (0..20u32)
        .map(|i| {
            let booking = s.booking.clone();
            tokio::spawn(async move {
                let birth = "1992-08-17";
                let mut c = booking;
                let created = c
                    .create_booking(create(
                        &format!("crowd-{i}"),
                        "BOGOR",
                        TO,
                        pb::Session::Pagi,
                        &format!("08128{:07}", 2000 + i),
                        vec![applicant(&nik(birth, 500 + i), "Pemohon Ramai", birth)],
                    ))
                    .await;
                match created {
                    Ok(r) => {
                        let r = r.into_inner();
                        c.confirm_booking(pb::ConfirmBookingRequest {
                            booking_id: r.booking.unwrap().booking_id,
                            confirmation_code: r.confirmation_code,
                        })
                        .await
                        .is_ok()
                    }
                    Err(_) => false,
                }
            })
        })
        .collect();
    let moved = s
        .booking
        .clone()
        .reschedule_booking(move_to(&b.booking_code, &phone, TO, pb::Session::Pagi))
        .await;
    let mut confirmed = 0;
    for c in crowd {
        confirmed += u32::from(c.await.unwrap());
    }
    let taken_by_move = match &moved {
        Ok(m) => {
            assert_eq!(m.get_ref().date, TO);
            // Its old seats are back.
            assert_eq!(
                s.remaining("BOGOR", FROM, pb::Session::Pagi).await,
                from_left + 2
            );
            2
        }
        Err(e) => {
            assert_eq!(reason(e).as_deref(), Some("SOLD_OUT"), "{e:?}");
            // Never both lost: it keeps its old seats.
            assert_eq!(
                s.remaining("BOGOR", FROM, pb::Session::Pagi).await,
                from_left
            );
            0
        }
    };
    assert!(
        confirmed + taken_by_move <= CAPACITY,
        "{confirmed} + {taken_by_move}"
    );
    let in_ledger: i64 = sqlx::query_scalar(
        "SELECT confirmed::bigint FROM quota.session_quota WHERE office_code = 'BOGOR' AND date = $1 AND session = 'PAGI'",
    )
    .bind(chrono::NaiveDate::parse_from_str(TO, "%Y-%m-%d").unwrap())
    .fetch_one(&s.pool().await)
    .await
    .unwrap();
    assert_eq!(in_ledger as u32, confirmed + taken_by_move);
    assert!(in_ledger as u32 <= CAPACITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_that_stopped_half_way_gives_its_seats_back_at_the_next_sweep() {
    let s = start().await;
    let (b, _) = book(&s, 4, FROM, 1).await;
    let before = s.remaining("BOGOR", TO, pb::Session::Pagi).await;
    // A move's first steps, then nothing (the process died): its hold is recorded as due
    // an hour on, and held in quota.
    let hold = "0190f5a0-0000-7000-8000-00000000d1e5";
    let pool = s.pool().await;
    sqlx::query("INSERT INTO booking.pending_releases (hold_id, booking_id, not_before) VALUES ($1::uuid, $2::uuid, $3)")
        .bind(hold)
        .bind(&b.booking_id)
        .bind(antrean_platform::clock::Clock::now(&*s.clock) + chrono::Duration::hours(1))
        .execute(&pool)
        .await
        .unwrap();
    s.quota
        .clone()
        .hold(pb::HoldRequest {
            hold_id: hold.into(),
            office_code: "BOGOR".into(),
            date: TO.into(),
            session: pb::Session::Pagi as i32,
            seats: 1,
            ttl_seconds: 900,
            draw_admission: false,
        })
        .await
        .unwrap();
    s.quota
        .clone()
        .commit(pb::CommitRequest {
            hold_id: hold.into(),
        })
        .await
        .unwrap();
    assert_eq!(
        s.remaining("BOGOR", TO, pb::Session::Pagi).await,
        before - 1
    );
    s.bookings.sweep().await.unwrap();
    assert_eq!(
        s.remaining("BOGOR", TO, pb::Session::Pagi).await,
        before - 1,
        "not due yet"
    );
    s.clock.advance(chrono::Duration::minutes(61));
    s.bookings.sweep().await.unwrap();
    assert_eq!(s.remaining("BOGOR", TO, pb::Session::Pagi).await, before);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM booking.pending_releases")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_asked_on_the_web_is_sent_by_approved_template_and_one_by_whatsapp_is_not() {
    let s = start().await;
    let (b, phone) = book(&s, 5, FROM, 1).await;
    let digits = "6281270001005";
    let before = s.cloud_api.messages_to(digits).len();
    s.booking
        .clone()
        .reschedule_booking(move_to(&b.booking_code, &phone, TO, pb::Session::Pagi))
        .await
        .unwrap();
    let sent = s
        .cloud_api
        .wait_for_recipient(digits, before + 1, std::time::Duration::from_secs(8))
        .await;
    let body = &sent.last().expect("a message").body;
    assert_eq!(body["template"]["name"], "antrean_jadwal_diubah", "{body}");
    let params = body["template"]["components"][0]["parameters"].to_string();
    assert!(
        params.contains(&b.booking_code) && params.contains("Desember 2026"),
        "{params}"
    );

    let (w, wphone) = book(&s, 6, FROM, 1).await;
    let wdigits = "6281270001006";
    let before = s.cloud_api.messages_to(wdigits).len();
    let mut asked = move_to(&w.booking_code, &wphone, TO, pb::Session::Pagi);
    asked.requested_via = pb::Channel::Whatsapp as i32;
    s.booking.clone().reschedule_booking(asked).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(
        s.cloud_api.messages_to(wdigits).len(),
        before,
        "the WhatsApp conversation answers it"
    );
}

const RESCHEDULE: &str = "/api/v1/bookings/{booking_code}/reschedule";

/// POSTs to the reschedule endpoint and checks the answer against the OpenAPI document.
async fn api_move(w: &WhatsApp, code: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = w
        .http
        .post(format!("{}/api/v1/bookings/{code}/reschedule", w.gateway))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let v: serde_json::Value = r.json().await.unwrap_or_default();
    w.check_response(RESCHEDULE, "post", status, &v);
    (status, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_api_moves_a_booking_and_answers_each_refusal_by_its_code() {
    let w = start_with_whatsapp().await;
    let s = &w.system;
    let (b, phone) = book(s, 7, FROM, 2).await;
    set_capacity(s, "2026-12-03", pb::Session::Pagi, 1).await;

    // Bad input: each field named, nothing moved.
    let (status, v) = api_move(
        &w,
        &b.booking_code,
        serde_json::json!({"date": "3/12/2026", "session": "SORE"}),
    )
    .await;
    assert_eq!(status, 400);
    let mut fields: Vec<&str> = v["error"]["fields"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort();
    assert_eq!(fields, ["date", "phone", "session"], "{v}");
    // A full session: 409 SOLD_OUT with the next free dates.
    let (status, v) = api_move(
        &w,
        &b.booking_code,
        serde_json::json!({"phone": phone, "date": "2026-12-03", "session": "PAGI"}),
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("SOLD_OUT")),
        "{v}"
    );
    assert!(
        !v["error"]["details"]["next_dates"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{v}"
    );
    // The wrong phone: 404, as for an unknown code.
    let (status, _) = api_move(
        &w,
        &b.booking_code,
        serde_json::json!({"phone": "081299990000", "date": TO}),
    )
    .await;
    assert_eq!(status, 404);
    // Moved, in its own session when none is named.
    let (status, v) = api_move(
        &w,
        &b.booking_code,
        serde_json::json!({"phone": phone, "date": TO}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["date"].as_str(), v["session"].as_str()),
        (Some(TO), Some("PAGI"))
    );
    assert_eq!(
        v["rescheduled_from"],
        serde_json::json!({"date": FROM, "session": "PAGI"})
    );
    assert_eq!(v["applicants"].as_array().unwrap().len(), 2);
    // Once only.
    let (status, v) = api_move(
        &w,
        &b.booking_code,
        serde_json::json!({"phone": phone, "date": "2026-12-04"}),
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("RESCHEDULE_USED")),
        "{v}"
    );
    // Too late: on its day (2 December, WIB).
    let (late, late_phone) = book(s, 8, "2026-12-03", 1).await;
    s.clock.set("2026-12-02T17:05:00Z".parse().unwrap()); // 00:05 WIB on 3 December
    let (status, v) = api_move(
        &w,
        &late.booking_code,
        serde_json::json!({"phone": late_phone, "date": "2026-12-04"}),
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("TOO_LATE")),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ubah_on_whatsapp_moves_the_booking_and_replies_with_the_new_schedule() {
    let w = start_with_whatsapp().await;
    let phone = "6281234567811";
    let held = w
        .say(BOGOR_NUMBER, phone, "#Rina Wati#14021990#01122026#PAGI")
        .await;
    let code = held
        .lines()
        .find_map(|l| l.strip_prefix("Kode konfirmasi:"))
        .unwrap()
        .trim()
        .to_owned();
    let confirmed = w.say(BOGOR_NUMBER, phone, &code).await;
    let booking_code = confirmed
        .lines()
        .find_map(|l| l.strip_prefix("Kode booking:"))
        .unwrap()
        .trim()
        .to_owned();

    // Wrong formats answer with the format and an example.
    let reply = w.say(BOGOR_NUMBER, phone, "#UBAH").await;
    assert!(
        reply.contains("#UBAH#KODEBOOKING#TGLBARU") && reply.contains("Contoh:"),
        "{reply}"
    );
    let reply = w
        .say(BOGOR_NUMBER, phone, &format!("#UBAH#{booking_code}#31122"))
        .await;
    assert!(reply.contains("Tanggal baru tidak valid"), "{reply}");

    let reply = w
        .say(
            BOGOR_NUMBER,
            phone,
            &format!("#UBAH#{booking_code}#02122026#SIANG"),
        )
        .await;
    assert!(reply.starts_with("[antrean_jadwal_diubah]"), "{reply}");
    assert!(reply.contains(&booking_code), "{reply}");
    assert!(
        reply.contains("2 Desember 2026") && reply.contains("SIANG"),
        "{reply}"
    );
    assert!(reply.contains("B-001"), "{reply}");

    // Once only, said in Indonesian with the format.
    let reply = w
        .say(
            BOGOR_NUMBER,
            phone,
            &format!("#UBAH#{booking_code}#03122026"),
        )
        .await;
    assert!(
        reply.contains("hanya sekali") && reply.contains("Format:"),
        "{reply}"
    );
    // Another sender with the code learns nothing.
    let reply = w
        .say(
            BOGOR_NUMBER,
            "6281234567812",
            &format!("#UBAH#{booking_code}#03122026"),
        )
        .await;
    assert!(
        !reply.contains("Rina") && !reply.contains("Desember"),
        "{reply}"
    );
}
