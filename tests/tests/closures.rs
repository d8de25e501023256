//! Closing a date moves its bookings (`BookingService/RelocateBookings`, run by the console
//! after `QuotaService/CloseDate`): 150 bookings of one to three people go to the office's next
//! dates with room, in booking order, each group together, no receiving session oversold, and
//! every applicant told by an approved template; a moved booking keeps its own free
//! reschedule.
use antrean_platform::actor::{Role, as_dev_admin};
use antrean_proto::v1 as pb;
use antrean_tests::*;
use std::collections::HashMap;

const CLOSED: &str = "2026-12-02";

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_dates_150_bookings_move_in_order_in_whole_groups_and_oversell_nothing() {
    let s = start().await;
    for session in [pb::Session::Pagi, pb::Session::Siang] {
        set_capacity(&s, CLOSED, session, 200).await;
        // The receiving days hold less than the closed one: the bookings spread over several.
        for date in ["2026-12-03", "2026-12-04", "2026-12-07"] {
            set_capacity(&s, date, session, 70).await;
        }
    }
    let birth = "1984-09-10";
    let mut people_of = HashMap::new();
    let mut order = Vec::new();
    for n in 0..150u32 {
        let size = n % 3 + 1;
        let session = if n % 2 == 0 {
            pb::Session::Pagi
        } else {
            pb::Session::Siang
        };
        let b = s
            .book(create(
                &format!("closure-{n}"),
                "BOGOR",
                CLOSED,
                session,
                &format!("08139{:07}", n),
                (0..size)
                    .map(|p| applicant(&nik(birth, n * 10 + p + 1), "Pemohon Pindahan", birth))
                    .collect(),
            ))
            .await;
        people_of.insert(b.booking_id.clone(), size);
        order.push((b.booking_id.clone(), session));
    }
    let total: u32 = people_of.values().sum();

    s.quota
        .clone()
        .close_date(as_dev_admin(pb::CloseDateRequest {
            office_code: "BOGOR".into(),
            date: CLOSED.into(),
            reason: "pemadaman listrik".into(),
        }))
        .await
        .unwrap();
    let head = staff_token(Role::OfficeHead, "BOGOR");
    let report = s
        .booking
        .clone()
        .relocate_bookings(as_staff(
            &head,
            pb::RelocateBookingsRequest {
                office_code: "BOGOR".into(),
                date: CLOSED.into(),
                reason: "pemadaman listrik".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (report.moved, report.moved_people, report.not_moved),
        (150, total, 0),
        "{report:?}"
    );
    assert_eq!((report.told, report.unreachable), (150, 0));

    let pool = s.pool().await;
    // Each group together, on an open day after the closed one.
    let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT b.id::text, b.date::text, b.session,
                count(DISTINCT (a.date, a.session)), count(*)
         FROM booking.bookings b JOIN booking.booking_applicants a ON a.booking_id = b.id
         GROUP BY b.id, b.date, b.session",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let placed: HashMap<String, (String, String)> = rows
        .iter()
        .map(|(id, d, sess, places, _)| {
            assert_eq!(*places, 1, "booking {id} split over days");
            assert!(d.as_str() > CLOSED, "booking {id} still on {d}");
            (id.clone(), (d.clone(), sess.clone()))
        })
        .collect();
    // In booking order: within a session and a group size, an earlier booking never lands
    // on a later day than a later one.
    for size in 1..=3 {
        for session in [pb::Session::Pagi, pb::Session::Siang] {
            let dates: Vec<&String> = order
                .iter()
                .filter(|(id, sess)| *sess == session && people_of[id] == size)
                .map(|(id, _)| &placed[id].0)
                .collect();
            assert!(
                dates.windows(2).all(|w| w[0] <= w[1]),
                "size {size}: {dates:?}"
            );
        }
    }
    // Nothing oversold: each receiving session's confirmed seats within its capacity and
    // equal to the people placed there.
    let sessions: Vec<(String, String, i32, i32)> = sqlx::query_as(
        "SELECT date::text, session, capacity, confirmed FROM quota.session_quota
         WHERE office_code = 'BOGOR' AND date > $1::date",
    )
    .bind(CLOSED)
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut placed_people: HashMap<(String, String), i64> = HashMap::new();
    for (id, _, _, _, n) in &rows {
        *placed_people.entry(placed[id].clone()).or_default() += n;
    }
    for (date, session, capacity, confirmed) in &sessions {
        assert!(
            confirmed <= capacity,
            "{date} {session}: {confirmed} of {capacity}"
        );
        let want = placed_people
            .get(&(date.clone(), session.clone()))
            .copied()
            .unwrap_or(0);
        assert_eq!(i64::from(*confirmed), want, "{date} {session}");
    }
    assert!(
        placed.values().any(|(d, _)| d == "2026-12-07"),
        "spread over several days"
    );
    // The closed day gave everything back.
    let left: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(confirmed), 0)::bigint FROM quota.session_quota WHERE office_code = 'BOGOR' AND date = $1::date",
    )
    .bind(CLOSED)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(left, 0);

    // Each applicant told; a moved booking may still be rescheduled once, for free.
    let sent = s
        .cloud_api
        .wait_for_recipient("6281390000000", 1, std::time::Duration::from_secs(20))
        .await;
    let relocated = sent
        .iter()
        .find(|m| m.body["template"]["name"] == "antrean_jadwal_dipindah")
        .expect("the relocation message");
    let params = relocated.body["template"]["components"][0]["parameters"].to_string();
    assert!(
        params.contains("pemadaman listrik") && params.contains("2 Desember 2026"),
        "{params}"
    );
    let first = s
        .booking
        .clone()
        .get_booking(pb::GetBookingRequest {
            key: Some(pb::get_booking_request::Key::BookingId(order[0].0.clone())),
            contact_phone: String::new(),
            office_code: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.rescheduled_from_date, CLOSED);
    let moved = s
        .booking
        .clone()
        .reschedule_booking(pb::RescheduleBookingRequest {
            booking_code: first.booking_code.clone(),
            contact_phone: "081390000000".into(),
            date: "2026-12-10".into(),
            session: pb::Session::Pagi as i32,
            requested_via: pb::Channel::Web as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.date, "2026-12-10");

    // Closing again moves nothing more.
    let again = s
        .booking
        .clone()
        .relocate_bookings(as_staff(
            &head,
            pb::RelocateBookingsRequest {
                office_code: "BOGOR".into(),
                date: CLOSED.into(),
                reason: "pemadaman listrik".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.moved + again.not_moved, 0);
    // Office staff cannot.
    let clerk = staff_token(Role::OfficeStaff, "BOGOR");
    let refused = s
        .booking
        .clone()
        .relocate_bookings(as_staff(
            &clerk,
            pb::RelocateBookingsRequest {
                office_code: "BOGOR".into(),
                date: CLOSED.into(),
                reason: String::new(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capacity_cut_moves_only_the_latest_bookings_beyond_it_when_the_head_asks() {
    let w = start_with_whatsapp().await;
    let s = &w.system;
    let admin = staff::admin(s).await;
    staff::create(
        s,
        &admin,
        "kepala.bogor",
        pb::StaffRole::OfficeHead,
        "BOGOR",
    )
    .await;
    let birth = "1991-12-13";
    let mut ids = Vec::new();
    for n in 0..12u32 {
        let b = s
            .book(create(
                &format!("cut-{n}"),
                "BOGOR",
                CLOSED,
                pb::Session::Pagi,
                &format!("08138{:07}", n),
                vec![applicant(&nik(birth, 700 + n), "Pemohon Potong", birth)],
            ))
            .await;
        ids.push(b.booking_id);
    }
    let head = StaffBrowser::sign_in(&w.gateway, "kepala.bogor").await;
    // Without the choice the bookings stay (capacity only stops new holds).
    let (_, page) = head
        .post(
            "/petugas/kapasitas",
            &[("tanggal", CLOSED), ("sesi", "PAGI"), ("kapasitas", "10")],
        )
        .await;
    assert!(
        page.contains("menjadi 10") && !page.contains("dipindahkan"),
        "{page}"
    );
    let (_, page) = head
        .post(
            "/petugas/kapasitas",
            &[
                ("tanggal", CLOSED),
                ("sesi", "PAGI"),
                ("kapasitas", "8"),
                ("pindahkan", "ya"),
            ],
        )
        .await;
    assert!(
        page.contains("4 booking (4 orang) melebihi kapasitas dan dipindahkan"),
        "{page}"
    );
    let pool = s.pool().await;
    let dates: Vec<(String, String)> = sqlx::query_as(
        "SELECT id::text, date::text FROM booking.bookings ORDER BY confirmed_at, id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let stayed: Vec<&str> = dates
        .iter()
        .filter(|(_, d)| d == CLOSED)
        .map(|(id, _)| id.as_str())
        .collect();
    let first: Vec<&str> = ids.iter().take(8).map(String::as_str).collect();
    assert_eq!(stayed, first, "the earliest eight keep their seats");
    assert!(dates.iter().skip(8).all(|(_, d)| d.as_str() > CLOSED));
    let confirmed: i32 = sqlx::query_scalar(
        "SELECT confirmed FROM quota.session_quota WHERE office_code = 'BOGOR' AND date = $1::date AND session = 'PAGI'",
    )
    .bind(CLOSED)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(confirmed, 8);
}
