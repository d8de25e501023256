//! A booking from hold to check-in, and its side exits: cancel, expiry, wrong codes.
use antrean_platform::status;
use antrean_proto::v1 as pb;
use antrean_tests::*;
use chrono::Duration;
use tonic::Code;

const DATE: &str = "2026-12-01";

/// Booking `id` as `GetBooking` reads it back.
async fn by_id(
    c: &mut pb::booking_service_client::BookingServiceClient<tonic::transport::Channel>,
    id: &str,
) -> pb::Booking {
    c.get_booking(pb::GetBookingRequest {
        key: Some(pb::get_booking_request::Key::BookingId(id.to_owned())),
        contact_phone: String::new(),
        office_code: String::new(),
    })
    .await
    .unwrap()
    .into_inner()
}

#[tokio::test]
async fn hold_confirm_and_check_in_on_time() {
    let s = start().await;
    let mut c = s.booking.clone();
    let created = c
        .create_booking(create(
            "k1",
            "BOGOR",
            DATE,
            pb::Session::Pagi,
            "081234567890",
            vec![
                applicant(&nik("1987-01-25", 1), "Budi Santoso", "1987-01-25"),
                applicant("", "Ani Santoso", "2015-06-01"),
            ],
        ))
        .await
        .unwrap()
        .into_inner();
    let b = created.booking.unwrap();
    assert_eq!(b.status, pb::BookingStatus::Held as i32);
    assert_eq!(created.confirmation_code.len(), 6);
    assert_eq!(b.confirmation_attempts_left, 5);
    assert_eq!(
        b.expires_at.unwrap().seconds,
        monday_morning().timestamp() + 900
    );
    // The same seats are gone from availability at once, for every channel.
    assert_eq!(s.remaining("BOGOR", DATE, pb::Session::Pagi).await, 73);
    // The answer is the booking as stored.
    assert_eq!(by_id(&mut c, &b.booking_id).await, b);

    let confirmed = c
        .confirm_booking(pb::ConfirmBookingRequest {
            booking_id: b.booking_id.clone(),
            confirmation_code: created.confirmation_code.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(confirmed.status, pb::BookingStatus::Confirmed as i32);
    assert_eq!(confirmed.booking_code.len(), 16);
    assert_eq!(confirmed.timezone_abbreviation, "WIB");
    let numbers: Vec<_> = confirmed
        .applicants
        .iter()
        .map(|a| a.queue_number.as_str())
        .collect();
    assert_eq!(numbers, ["A-001", "A-002"]);
    assert_eq!(by_id(&mut c, &b.booking_id).await, confirmed);
    assert_eq!(confirmed.applicants[0].scheduled_local, "08:00");
    assert_eq!(confirmed.applicants[0].arrive_by_local, "07:30");
    assert_eq!(s.remaining("BOGOR", DATE, pb::Session::Pagi).await, 73);

    // Confirming again answers the same booking.
    let again = c
        .confirm_booking(pb::ConfirmBookingRequest {
            booking_id: b.booking_id.clone(),
            confirmation_code: created.confirmation_code.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.booking_code, confirmed.booking_code);

    // Look-ups: the phone is the second factor, in any form.
    let found = c
        .get_booking(pb::GetBookingRequest {
            key: Some(pb::get_booking_request::Key::BookingCode(
                confirmed.booking_code.to_lowercase(),
            )),
            contact_phone: "+62 812-3456-7890".into(),
            office_code: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.booking_id, b.booking_id);
    let wrong_phone = c
        .get_booking(pb::GetBookingRequest {
            key: Some(pb::get_booking_request::Key::BookingCode(
                confirmed.booking_code.clone(),
            )),
            contact_phone: "081299990000".into(),
            office_code: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(wrong_phone.code(), Code::NotFound);
    let listed = c
        .list_bookings(pb::ListBookingsRequest {
            contact_phone: "6281234567890".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .bookings;
    assert_eq!(listed.len(), 1);

    // Check-in at 07:40 WIB on the day.
    let checked = c
        .check_in(antrean_platform::actor::as_dev_admin(pb::CheckInRequest {
            booking_code: confirmed.booking_code.clone(),
            office_code: "BOGOR".into(),
            at: Some(ts("2026-12-01T00:40:00Z")),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(checked.status, pb::BookingStatus::CheckedIn as i32);

    let events: Vec<String> = sqlx::query_scalar(
        "SELECT to_status FROM booking.booking_events WHERE booking_id = $1::uuid ORDER BY id",
    )
    .bind(&b.booking_id)
    .fetch_all(&s.pool().await)
    .await
    .unwrap();
    assert_eq!(events, ["HELD", "CONFIRMED", "CHECKED_IN"]);
}

fn ts(s: &str) -> prost_types::Timestamp {
    antrean_platform::domain::to_timestamp(s.parse().unwrap())
}

#[tokio::test]
async fn cancelling_returns_the_seats_at_once() {
    let s = start().await;
    let b = s
        .book(create(
            "k2",
            "DEPOK",
            DATE,
            pb::Session::Siang,
            "081234567890",
            vec![applicant("", "Budi Santoso", "1987-01-25")],
        ))
        .await;
    assert_eq!(s.remaining("DEPOK", DATE, pb::Session::Siang).await, 74);
    let mut c = s.booking.clone();
    let cancel = || pb::CancelBookingRequest {
        booking_code: b.booking_code.clone(),
        contact_phone: "081234567890".into(),
    };
    let cancelled = c.cancel_booking(cancel()).await.unwrap().into_inner();
    assert_eq!(cancelled.status, pb::BookingStatus::Cancelled as i32);
    assert_eq!(s.remaining("DEPOK", DATE, pb::Session::Siang).await, 75);
    // Twice: same answer, seats counted once.
    c.cancel_booking(cancel()).await.unwrap();
    assert_eq!(s.remaining("DEPOK", DATE, pb::Session::Siang).await, 75);
    // Someone else's phone cannot cancel it.
    let e = c
        .cancel_booking(pb::CancelBookingRequest {
            booking_code: b.booking_code.clone(),
            contact_phone: "081111111111".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    // The person may book again.
    s.book(create(
        "k3",
        "DEPOK",
        DATE,
        pb::Session::Siang,
        "081234567890",
        vec![applicant("", "Budi Santoso", "1987-01-25")],
    ))
    .await;
}

#[tokio::test]
async fn an_unconfirmed_hold_expires_and_gives_its_seats_back() {
    let s = start().await;
    let mut c = s.booking.clone();
    let created = c
        .create_booking(create(
            "k4",
            "BOGOR",
            DATE,
            pb::Session::Pagi,
            "081234567890",
            vec![applicant("", "Budi Santoso", "1987-01-25")],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.remaining("BOGOR", DATE, pb::Session::Pagi).await, 74);
    s.clock.advance(Duration::minutes(16));
    // Seats are back before any sweeper ran: the quota reclaims them itself.
    assert_eq!(s.remaining("BOGOR", DATE, pb::Session::Pagi).await, 75);
    assert_eq!(s.bookings.sweep().await.unwrap(), 1);
    let e = c
        .confirm_booking(pb::ConfirmBookingRequest {
            booking_id: created.booking.unwrap().booking_id,
            confirmation_code: created.confirmation_code,
        })
        .await
        .unwrap_err();
    assert_eq!(status::reason(&e).as_deref(), Some("EXPIRED"));
    assert_eq!(s.remaining("BOGOR", DATE, pb::Session::Pagi).await, 75);
}

#[tokio::test]
async fn five_wrong_codes_cancel_the_hold() {
    let s = start().await;
    let mut c = s.booking.clone();
    let created = c
        .create_booking(create(
            "k5",
            "BOGOR",
            DATE,
            pb::Session::Pagi,
            "081234567890",
            vec![applicant("", "Budi Santoso", "1987-01-25")],
        ))
        .await
        .unwrap()
        .into_inner();
    let id = created.booking.unwrap().booking_id;
    let wrong = if created.confirmation_code == "000000" {
        "111111"
    } else {
        "000000"
    };
    for left in (1..5).rev() {
        let e = c
            .confirm_booking(pb::ConfirmBookingRequest {
                booking_id: id.clone(),
                confirmation_code: wrong.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(status::reason(&e).as_deref(), Some("WRONG_CODE"));
        assert_eq!(status::metadata(&e)["attempts_left"], left.to_string());
        assert_eq!(status::violations(&e)[0].field, "confirmation_code");
    }
    let e = c
        .confirm_booking(pb::ConfirmBookingRequest {
            booking_id: id.clone(),
            confirmation_code: wrong.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status::reason(&e).as_deref(), Some("TOO_MANY_ATTEMPTS"));
    assert_eq!(s.remaining("BOGOR", DATE, pb::Session::Pagi).await, 75);
    // Even the right code cannot revive it.
    let e = c
        .confirm_booking(pb::ConfirmBookingRequest {
            booking_id: id,
            confirmation_code: created.confirmation_code,
        })
        .await
        .unwrap_err();
    assert_eq!(status::reason(&e).as_deref(), Some("CANCELLED"));
}

#[tokio::test]
async fn bad_requests_and_quota_errors_reach_the_caller_with_details() {
    let s = start().await;
    let mut c = s.booking.clone();
    let e = c
        .create_booking(pb::CreateBookingRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let fields: Vec<String> = status::violations(&e)
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(
        fields,
        [
            "idempotency_key",
            "channel",
            "office_code",
            "date",
            "session",
            "applicants"
        ]
    );
    let e = c
        .create_booking(create(
            "k6",
            "BOGOR",
            DATE,
            pb::Session::Pagi,
            "0812",
            vec![applicant("3201012601870001", "Budi Santoso", "1987-01-25")],
        ))
        .await
        .unwrap_err();
    let fields: Vec<String> = status::violations(&e)
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["contact.phone", "applicants[0].nik"]);
    // Sold out: the quota's answer, with next dates.
    s.quota
        .clone()
        .set_capacity(antrean_platform::actor::as_dev_admin(
            pb::SetCapacityRequest {
                office_code: "BOGOR".into(),
                date: DATE.into(),
                session: pb::Session::Pagi as i32,
                capacity: 1,
            },
        ))
        .await
        .unwrap();
    let e = c
        .create_booking(create(
            "k7",
            "BOGOR",
            DATE,
            pb::Session::Pagi,
            "081234567890",
            vec![
                applicant("", "Budi Santoso", "1987-01-25"),
                applicant("", "Siti Aminah", "1990-05-02"),
            ],
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    assert_eq!(status::metadata(&e)["next_dates"].split(',').count(), 5);
    // Nothing half-written: the people are free to book elsewhere.
    s.book(create(
        "k8",
        "BOGOR",
        "2026-12-02",
        pb::Session::Pagi,
        "081234567890",
        vec![
            applicant("", "Budi Santoso", "1987-01-25"),
            applicant("", "Siti Aminah", "1990-05-02"),
        ],
    ))
    .await;
}
