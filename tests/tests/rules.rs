//! The rules against brokers and fictitious bookings: one active booking per person, five
//! people per phone, and a block after repeated no-shows.
use antrean_platform::status;
use antrean_proto::v1 as pb;
use antrean_tests::*;
use chrono::Duration;
use tonic::Code;

/// People without NIK, born on 1 January 2000.
fn people(names: &[&str]) -> Vec<pb::ApplicantInput> {
    names
        .iter()
        .map(|n| applicant("", n, "2000-01-01"))
        .collect()
}

#[tokio::test]
async fn a_person_holds_one_active_booking_nationwide() {
    let s = start().await;
    let budi = || applicant(&nik("1987-01-25", 7), "Budi Santoso", "1987-01-25");
    let first = s
        .book(create(
            "r1",
            "BOGOR",
            "2026-12-01",
            pb::Session::Pagi,
            "081234567890",
            vec![budi()],
        ))
        .await;
    // Another office, another phone, another spelling: still the same NIK.
    let mut other = budi();
    other.name = "BUDI  SANTOSO".into();
    let e = s
        .booking
        .clone()
        .create_booking(create(
            "r2",
            "DENPASAR",
            "2026-12-02",
            pb::Session::Siang,
            "081399998888",
            vec![other],
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists);
    assert_eq!(status::reason(&e).as_deref(), Some("ALREADY_BOOKED"));
    // Another phone learns nothing about the booking: no code, office, date or id.
    let meta = status::metadata(&e);
    let code = first.booking_code.clone();
    let everything = format!("{} {meta:?} {:?}", e.message(), e.details());
    for secret in [
        code.as_str(),
        code.replace('-', "").as_str(),
        &first.booking_id,
        "BOGOR",
        "Bogor",
        "2026-12-01",
        "Desember",
    ] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked: {everything}"
        );
    }
    assert!(
        e.message().contains("sudah memiliki booking aktif")
            && e.message().contains("nomor WhatsApp yang terdaftar"),
        "{}",
        e.message()
    );
    // The booking's own contact is told, with the details, once however often it is tried.
    let mut owner = Vec::new();
    for _ in 0..100 {
        owner = s.cloud_api.messages_to("6281234567890");
        if !owner.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let notice = owner
        .iter()
        .find(|m| m.body["template"]["name"] == "antrean_percobaan_booking")
        .unwrap_or_else(|| panic!("no notice: {owner:?}"));
    assert!(notice.body.to_string().contains(&code), "{}", notice.body);
    s.booking
        .clone()
        .create_booking(create(
            "r2b",
            "DENPASAR",
            "2026-12-02",
            pb::Session::Siang,
            "081399998888",
            vec![budi()],
        ))
        .await
        .unwrap_err();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let notices = s
        .cloud_api
        .messages_to("6281234567890")
        .iter()
        .filter(|m| m.body["template"]["name"] == "antrean_percobaan_booking")
        .count();
    assert_eq!(notices, 1);

    // Asked from the booking's own phone, the refusal says which booking it is.
    let e = s
        .booking
        .clone()
        .create_booking(create(
            "r2c",
            "BOGOR",
            "2026-12-03",
            pb::Session::Pagi,
            "081234567890",
            vec![budi()],
        ))
        .await
        .unwrap_err();
    assert_eq!(status::reason(&e).as_deref(), Some("ALREADY_BOOKED"));
    assert_eq!(status::metadata(&e)["booking_code"], first.booking_code);
    // Without NIK, name + birth date identify the person.
    s.book(create(
        "r3",
        "BOGOR",
        "2026-12-01",
        pb::Session::Pagi,
        "081234567891",
        vec![applicant("", "Siti Aminah", "1990-05-02")],
    ))
    .await;
    let e = s
        .booking
        .clone()
        .create_booking(create(
            "r4",
            "JAKPUS",
            "2026-12-01",
            pb::Session::Pagi,
            "081234567892",
            vec![applicant("", "siti aminah", "1990-05-02")],
        ))
        .await
        .unwrap_err();
    assert_eq!(status::reason(&e).as_deref(), Some("ALREADY_BOOKED"));
}

#[tokio::test]
async fn one_phone_books_for_at_most_five_people() {
    let s = start().await;
    s.book(create(
        "p1",
        "BEKASI",
        "2026-12-01",
        pb::Session::Pagi,
        "081234567890",
        people(&["Ayu", "Bima", "Citra"]),
    ))
    .await;
    let e = s
        .booking
        .clone()
        .create_booking(create(
            "p2",
            "BEKASI",
            "2026-12-02",
            pb::Session::Pagi,
            "+6281234567890",
            people(&["Dewi", "Eko", "Fajar"]),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(status::reason(&e).as_deref(), Some("LIMIT_REACHED"));
    assert_eq!(status::metadata(&e)["active"], "3");
    assert_eq!(
        s.remaining("BEKASI", "2026-12-02", pb::Session::Pagi).await,
        75
    );
    s.book(create(
        "p3",
        "BEKASI",
        "2026-12-02",
        pb::Session::Pagi,
        "081234567890",
        people(&["Dewi", "Eko"]),
    ))
    .await;
}

#[tokio::test]
async fn bookings_sent_together_from_one_phone_stay_within_five_people() {
    let s = start().await;
    // Four bookings of two people each, at once, from one phone: two fit, two do not.
    let answers = futures::future::join_all((0..4).map(|i| {
        let mut c = s.booking.clone();
        let people = ["Ayu", "Bima"]
            .iter()
            .map(|p| {
                applicant(
                    "",
                    &format!("{p} {}", ["Kata", "Lestari", "Maju", "Nusa"][i]),
                    "2000-01-01",
                )
            })
            .collect();
        async move {
            c.create_booking(create(
                &format!("together-{i}"),
                "BEKASI",
                "2026-12-01",
                pb::Session::Pagi,
                "081234567890",
                people,
            ))
            .await
        }
    }))
    .await;
    let held = answers.iter().filter(|a| a.is_ok()).count();
    assert_eq!(held, 2, "{answers:?}");
    for e in answers.iter().filter_map(|a| a.as_ref().err()) {
        assert_eq!(status::reason(e).as_deref(), Some("LIMIT_REACHED"), "{e:?}");
    }
    assert_eq!(
        s.remaining("BEKASI", "2026-12-01", pb::Session::Pagi).await,
        71
    );
}

#[tokio::test]
async fn an_unconfirmed_booking_past_its_hold_frees_its_phone_and_people_at_once() {
    let s = start().await;
    let mut c = s.booking.clone();
    let first = c
        .create_booking(create(
            "s1",
            "BEKASI",
            "2026-12-01",
            pb::Session::Pagi,
            "081234567890",
            people(&["Ayu", "Bima", "Citra", "Dewi"]),
        ))
        .await
        .unwrap()
        .into_inner();
    // Held, not confirmed: four people count against the phone, and Ayu is taken.
    let e = c
        .create_booking(create(
            "s2",
            "BEKASI",
            "2026-12-02",
            pb::Session::Pagi,
            "081234567890",
            people(&["Eko", "Fajar"]),
        ))
        .await
        .unwrap_err();
    assert_eq!(status::reason(&e).as_deref(), Some("LIMIT_REACHED"));
    assert_eq!(status::metadata(&e)["active"], "4");
    // Past the hold, before any sweep: the phone books for five others, Ayu elsewhere.
    s.clock.advance(Duration::minutes(16));
    s.book(create(
        "s3",
        "BEKASI",
        "2026-12-02",
        pb::Session::Pagi,
        "081234567890",
        people(&["Eko", "Fajar", "Gita", "Hadi", "Indah"]),
    ))
    .await;
    s.book(create(
        "s4",
        "JAKPUS",
        "2026-12-02",
        pb::Session::Siang,
        "081399998888",
        people(&["Ayu"]),
    ))
    .await;
    let expired = c
        .get_booking(pb::GetBookingRequest {
            key: Some(pb::get_booking_request::Key::BookingId(
                first.booking.unwrap().booking_id,
            )),
            contact_phone: String::new(),
            office_code: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(expired.status, pb::BookingStatus::Expired as i32);
}

#[tokio::test]
async fn two_no_shows_block_new_bookings_and_say_until_when() {
    let s = start().await;
    let budi = || applicant(&nik("1987-01-25", 9), "Budi Santoso", "1987-01-25");
    s.book(create(
        "n1",
        "BOGOR",
        "2026-12-01",
        pb::Session::Pagi,
        "081234567890",
        vec![budi()],
    ))
    .await;
    // The session ends at 12:00 WIB on 1 December: never checked in, NO_SHOW.
    s.clock.set("2026-12-01T05:00:01Z".parse().unwrap());
    assert_eq!(s.bookings.sweep().await.unwrap(), 1);
    s.book(create(
        "n2",
        "BOGOR",
        "2026-12-03",
        pb::Session::Siang,
        "081234567890",
        vec![budi()],
    ))
    .await;
    s.clock.set("2026-12-03T09:00:01Z".parse().unwrap());
    assert_eq!(s.bookings.sweep().await.unwrap(), 1);
    let e = s
        .booking
        .clone()
        .create_booking(create(
            "n3",
            "BOGOR",
            "2026-12-07",
            pb::Session::Pagi,
            "081234567890",
            vec![budi()],
        ))
        .await
        .unwrap_err();
    assert_eq!(status::reason(&e).as_deref(), Some("BLOCKED_NO_SHOW"));
    assert!(
        e.message().contains("Sabtu, 2 Januari 2027"),
        "{}",
        e.message()
    );
    // Thirty days later the block is over.
    s.clock.advance(Duration::days(31));
    s.book(create(
        "n4",
        "BOGOR",
        "2027-01-06",
        pb::Session::Pagi,
        "081234567890",
        vec![budi()],
    ))
    .await;
}
