//! The dashboard's figures are the ledger's: counted independently from the tables and
//! compared, with who may see which office.
use antrean_platform::actor::Role;
use antrean_proto::v1 as pb;
use antrean_tests::*;
use tonic::Code;

const DAY: &str = "2026-12-01";

async fn stats(s: &System, token: &str, office: &str) -> Result<pb::StatsReport, tonic::Status> {
    s.booking
        .clone()
        .get_stats(as_staff(
            token,
            pb::GetStatsRequest {
                office_code: office.into(),
                from: DAY.into(),
                to: "2026-12-02".into(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_figures_equal_the_ledger() {
    let s = start().await;
    let admin = staff_token(Role::DirectorateAdmin, "");
    let head = staff_token(Role::OfficeHead, "BOGOR");
    let clerk = staff_token(Role::OfficeStaff, "BOGOR");
    let birth = "1980-07-21";
    let mut booked = Vec::new();
    // Five Bogor bookings (one of two people, one by WhatsApp), one in Makassar, one held only.
    for (i, (office, people, channel)) in [
        ("BOGOR", 2, pb::Channel::Web),
        ("BOGOR", 1, pb::Channel::Whatsapp),
        ("BOGOR", 1, pb::Channel::Web),
        ("BOGOR", 1, pb::Channel::App),
        ("BOGOR", 1, pb::Channel::Web),
        ("MAKASSAR", 1, pb::Channel::Web),
    ]
    .into_iter()
    .enumerate()
    {
        let mut req = create(
            &format!("dash-{i}"),
            office,
            DAY,
            pb::Session::Pagi,
            &format!("08135{:07}", 100 + i),
            (0..people)
                .map(|p| applicant(&nik(birth, 10 * i as u32 + p + 1), "Pemohon Dasbor", birth))
                .collect(),
        );
        req.channel = channel as i32;
        if channel != pb::Channel::Whatsapp {
            let phone = format!("08135{:07}", 100 + i);
            req.contact.as_mut().unwrap().contact_token = s.contact_token(&phone).await;
        }
        booked.push(s.book(req).await);
    }
    s.booking
        .clone()
        .create_booking(create(
            "dash-held",
            "BOGOR",
            DAY,
            pb::Session::Pagi,
            "081359999999",
            vec![applicant(&nik(birth, 99), "Pemohon Dasbor", birth)],
        ))
        .await
        .unwrap();
    // Cancel one; on the day: two on time (one then served), one late.
    s.booking
        .clone()
        .cancel_booking(pb::CancelBookingRequest {
            booking_code: booked[4].booking_code.clone(),
            contact_phone: "081350000104".into(),
        })
        .await
        .unwrap();
    s.clock.set("2026-12-01T00:00:00Z".parse().unwrap());
    let check_in = |code: String| {
        let (s, clerk) = (&s, &clerk);
        async move {
            s.booking
                .clone()
                .check_in(as_staff(
                    clerk,
                    pb::CheckInRequest {
                        booking_code: code,
                        office_code: "BOGOR".into(),
                        at: None,
                    },
                ))
                .await
                .unwrap()
        }
    };
    check_in(booked[0].booking_code.clone()).await;
    check_in(booked[1].booking_code.clone()).await;
    // Called 12 and 30 minutes after checking in at 07:00 WIB; the first is recalled at
    // 07:20, which does not lengthen its wait.
    for (i, called) in ["2026-12-01T00:12:00Z", "2026-12-01T00:30:00Z"]
        .into_iter()
        .enumerate()
    {
        s.clock.set(called.parse().unwrap());
        let t = s
            .booking
            .clone()
            .call_next(as_staff(
                &clerk,
                pb::CallNextRequest {
                    office_code: "BOGOR".into(),
                    counter: "Loket 1".into(),
                    pickup: false,
                },
            ))
            .await
            .unwrap()
            .into_inner();
        if i == 0 {
            s.clock.set("2026-12-01T00:20:00Z".parse().unwrap());
            s.booking
                .clone()
                .recall(as_staff(
                    &clerk,
                    pb::TicketActionRequest {
                        ticket_id: t.ticket_id.clone(),
                    },
                ))
                .await
                .unwrap();
        }
        s.booking
            .clone()
            .mark_served(as_staff(
                &clerk,
                pb::TicketActionRequest {
                    ticket_id: t.ticket_id,
                },
            ))
            .await
            .unwrap();
    }
    s.clock.set("2026-12-01T03:00:00Z".parse().unwrap()); // 10:00 WIB: late
    check_in(booked[2].booking_code.clone()).await;
    // After the sessions: the app booking (never came) is a no-show.
    s.clock.set("2026-12-01T10:00:00Z".parse().unwrap());
    s.bookings.sweep().await.unwrap();

    let report = stats(&s, &head, "BOGOR").await.unwrap();
    assert_eq!(report.rows.len(), 1);
    let r = &report.rows[0];
    assert_eq!((r.office_code.as_str(), r.date.as_str()), ("BOGOR", DAY));
    // By hand: 6 people confirmed; 3 checked in (the pair, both served, and one more);
    // 1 late; 1 cancelled.
    assert_eq!(
        (r.booked, r.checked_in, r.served, r.forfeited, r.cancelled),
        (6, 3, 2, 1, 1)
    );
    assert_eq!((r.whatsapp, r.web, r.app, r.staff), (1, 4, 1, 0));
    assert_eq!(r.no_show, 1);
    assert_eq!(report.total.as_ref().unwrap().booked, 6);
    // Waiting: two called, 12 and 30 minutes after checking in.
    assert_eq!((r.called, r.wait_seconds), (2, (12 + 30) * 60));

    // Independently from the ledger, status by status.
    let pool = s.pool().await;
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap() as u32
        }
    };
    assert_eq!(r.booked, count("SELECT count(*) FROM booking.bookings b JOIN booking.booking_applicants a ON a.booking_id = b.id WHERE b.office_code = 'BOGOR' AND b.confirmed_at IS NOT NULL").await);
    assert_eq!(r.served, count("SELECT count(*) FROM booking.bookings b JOIN booking.booking_applicants a ON a.booking_id = b.id WHERE b.office_code = 'BOGOR' AND b.status = 'SERVED'").await);
    assert_eq!(r.forfeited, count("SELECT count(*) FROM booking.bookings b JOIN booking.booking_applicants a ON a.booking_id = b.id WHERE b.office_code = 'BOGOR' AND b.status = 'FORFEITED'").await);
    assert_eq!(r.no_show, count("SELECT count(*) FROM booking.bookings b JOIN booking.booking_applicants a ON a.booking_id = b.id WHERE b.office_code = 'BOGOR' AND b.status = 'NO_SHOW'").await);
    assert_eq!(r.cancelled, count("SELECT count(*) FROM booking.bookings b JOIN booking.booking_applicants a ON a.booking_id = b.id WHERE b.office_code = 'BOGOR' AND b.status = 'CANCELLED'").await);
    // Seats: the quota ledger's confirmed seats are the people still holding a seat.
    let capacity = s
        .quota
        .clone()
        .get_capacity_report(as_staff(
            &head,
            pb::GetCapacityReportRequest {
                office_code: "BOGOR".into(),
                from: DAY.into(),
                to: DAY.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let c = &capacity.rows[0];
    assert_eq!(
        c.capacity,
        count("SELECT sum(capacity) FROM quota.session_quota WHERE office_code = 'BOGOR' AND date = '2026-12-01'").await
    );
    assert_eq!(c.confirmed, r.booked - r.cancelled);

    // Every date of the range, whether anyone asked for it or not: Saturday 5 December
    // offers nothing; Friday 4 December, never materialised, the office's default seats.
    let week = s
        .quota
        .clone()
        .get_capacity_report(as_staff(
            &head,
            pb::GetCapacityReportRequest {
                office_code: "BOGOR".into(),
                from: DAY.into(),
                to: "2026-12-06".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .rows;
    let dates: Vec<&str> = week.iter().map(|r| r.date.as_str()).collect();
    assert_eq!(
        dates,
        [
            "2026-12-01",
            "2026-12-02",
            "2026-12-03",
            "2026-12-04",
            "2026-12-05",
            "2026-12-06"
        ]
    );
    let friday = &week[3];
    assert!(friday.open);
    assert_eq!(
        friday.capacity,
        count("SELECT (pagi_capacity + siang_capacity)::bigint FROM quota.offices WHERE code = 'BOGOR'").await
    );
    assert_eq!((week[4].open, week[4].capacity), (false, 0));
    assert_eq!((week[5].open, week[5].capacity), (false, 0));

    // Nationally: both offices, for admins only.
    let national = stats(&s, &admin, "").await.unwrap();
    let offices: Vec<&str> = national
        .rows
        .iter()
        .map(|r| r.office_code.as_str())
        .collect();
    assert_eq!(offices, ["BOGOR", "MAKASSAR"]);
    assert_eq!(national.total.unwrap().booked, 7);
    assert_eq!(
        stats(&s, &head, "").await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        stats(&s, &head, "MAKASSAR").await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        stats(&s, &clerk, "BOGOR").await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        stats(&s, "", "BOGOR").await.unwrap_err().code(),
        Code::Unauthenticated
    );
}
