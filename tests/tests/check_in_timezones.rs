//! Check-in at the door in WIB, WITA and WIT: the office's own clock decides.
use antrean_platform::domain::to_timestamp;
use antrean_platform::status;
use antrean_proto::v1 as pb;
use antrean_tests::*;

async fn check_in(
    s: &System,
    code: &str,
    office: &str,
    at: &str,
) -> Result<pb::Booking, tonic::Status> {
    s.booking
        .clone()
        .check_in(antrean_platform::actor::as_dev_admin(pb::CheckInRequest {
            booking_code: code.into(),
            office_code: office.into(),
            at: Some(to_timestamp(at.parse().unwrap())),
        }))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn schedules_and_lateness_follow_wita_and_wit() {
    let s = start().await;
    // Makassar (WITA, UTC+8), afternoon 13:00-16:00 local.
    let mks = s
        .book(create(
            "t1",
            "MAKASSAR",
            "2026-12-02",
            pb::Session::Siang,
            "081234567890",
            vec![applicant("", "Andi Makkasau", "1980-03-03")],
        ))
        .await;
    assert_eq!(mks.timezone_abbreviation, "WITA");
    assert_eq!(mks.applicants[0].scheduled_local, "13:00");
    assert_eq!(
        mks.applicants[0].scheduled_at.as_ref().unwrap().seconds,
        "2026-12-02T05:00:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
            .timestamp()
    );
    // 12:59 WITA is on time, though it is 11:59 in Jakarta.
    let b = check_in(&s, &mks.booking_code, "MAKASSAR", "2026-12-02T04:59:00Z")
        .await
        .unwrap();
    assert_eq!(b.status, pb::BookingStatus::CheckedIn as i32);

    // Jayapura (WIT, UTC+9), morning 08:00-12:00 local = 23:00-03:00 UTC the day before.
    let jap = s
        .book(create(
            "t2",
            "JAYAPURA",
            "2026-12-02",
            pb::Session::Pagi,
            "081234567891",
            vec![applicant("", "Yohanes Wenda", "1985-07-07")],
        ))
        .await;
    assert_eq!(jap.timezone_abbreviation, "WIT");
    assert_eq!(jap.applicants[0].arrive_by_local, "07:30");
    // The wrong office and the wrong day are refused with the reason.
    let e = check_in(&s, &jap.booking_code, "MAKASSAR", "2026-12-01T23:00:00Z")
        .await
        .unwrap_err();
    assert_eq!(status::reason(&e).as_deref(), Some("WRONG_OFFICE"));
    assert!(e.message().contains("JAYAPURA"));
    // 2026-12-01T14:00Z is still 1 December in Jayapura (23:00 WIT).
    let e = check_in(&s, &jap.booking_code, "JAYAPURA", "2026-12-01T14:00:00Z")
        .await
        .unwrap_err();
    assert_eq!(status::reason(&e).as_deref(), Some("WRONG_DATE"));
    // 08:01 WIT: after the scheduled time, forfeited ("hangus").
    let b = check_in(&s, &jap.booking_code, "JAYAPURA", "2026-12-01T23:01:00Z")
        .await
        .unwrap();
    assert_eq!(b.status, pb::BookingStatus::Forfeited as i32);
    // Forfeited people may book again.
    s.book(create(
        "t3",
        "JAYAPURA",
        "2026-12-03",
        pb::Session::Pagi,
        "081234567891",
        vec![applicant("", "Yohanes Wenda", "1985-07-07")],
    ))
    .await;
}
