//! No leaks from look-ups by booking code: an unknown code, another phone's code, a phone that
//! never booked and a malformed code answer alike (status and body), and none answers sooner
//! than the failure floor, so neither the answer nor its time tells which it was.
use antrean_proto::v1 as pb;
use antrean_tests::*;
use std::time::{Duration, Instant};

#[tokio::test]
async fn failed_look_ups_look_alike_and_take_the_same_time() {
    let w = start_with_whatsapp().await;
    let birth = "1990-05-02";
    let booked = w
        .system
        .book(create(
            "leak-1",
            "BOGOR",
            "2026-12-01",
            pb::Session::Pagi,
            "081234567890",
            vec![applicant(&nik(birth, 3), "Siti Aminah", birth)],
        ))
        .await;
    // Another applicant with a contact of their own.
    w.system
        .book(create(
            "leak-2",
            "BOGOR",
            "2026-12-01",
            pb::Session::Pagi,
            "081298765432",
            vec![applicant(&nik(birth, 4), "Budi Santoso", birth)],
        ))
        .await;
    let code = booked.booking_code.clone();
    let cases = [
        ("another phone's code", code.clone(), "081298765432"),
        ("a phone that never booked", code.clone(), "081311112222"),
        (
            "an unknown code",
            "7K3M-9QX2-HT4R-D".to_owned(),
            "081234567890",
        ),
        (
            "a malformed code",
            "AAAAAAAAAAA%C3%A9".to_owned(),
            "081234567890",
        ),
    ];
    let mut answers = Vec::new();
    for (what, code, phone) in &cases {
        let started = Instant::now();
        let r = w
            .http
            .get(format!(
                "{}/api/v1/bookings/{code}?phone={phone}",
                w.gateway
            ))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        let took = started.elapsed();
        assert_eq!(status, 404, "{what}: {body}");
        assert!(
            took >= Duration::from_millis(300),
            "{what} answered in {took:?}, sooner than the floor"
        );
        answers.push((what, body, took));
    }
    for (what, body, _) in &answers[1..] {
        assert_eq!(body, &answers[0].1, "{what} answers differently");
    }
    let times: Vec<Duration> = answers.iter().map(|a| a.2).collect();
    let spread = *times.iter().max().unwrap() - *times.iter().min().unwrap();
    assert!(spread < Duration::from_millis(250), "{times:?}");

    // The owner, with the right phone, is answered (and not held to the floor).
    let r = w
        .http
        .get(format!(
            "{}/api/v1/bookings/{code}?phone=081234567890",
            w.gateway
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    // The portal's look-up answers the same page for every failure.
    let mut pages = Vec::new();
    for (_, code, phone) in &cases {
        let r = w
            .http
            .post(format!("{}/cek", w.gateway))
            .form(&[("code", code.as_str()), ("phone", phone)])
            .send()
            .await
            .unwrap();
        pages.push(r.text().await.unwrap());
    }
    assert!(pages.iter().all(|p| p == &pages[0]));
    assert!(pages[0].contains("Booking tidak ditemukan"), "{}", pages[0]);
}

/// The web's "already booked": another verified phone that knows a person's NIK learns that
/// the person has a booking, and nothing of it.
#[tokio::test]
async fn the_webs_already_booked_tells_another_phone_nothing_of_the_booking() {
    let w = start_with_whatsapp().await;
    let birth = "1987-01-25";
    let person = serde_json::json!({
        "nik": nik(birth, 9), "name": "Budi Santoso", "birth_date": birth,
        "application_type": "NEW"
    });
    let book = |token: String, key: &'static str| {
        let (http, gateway, person) = (w.http.clone(), w.gateway.clone(), person.clone());
        async move {
            let r = http
                .post(format!("{gateway}/api/v1/bookings"))
                .header("Authorization", format!("Bearer {token}"))
                .header("Idempotency-Key", key)
                .json(&serde_json::json!({
                    "office_code": "BOGOR", "date": "2026-12-02", "session": "PAGI",
                    "applicants": [person]
                }))
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let (s, first) = book(w.contact_token("081234567890").await, "own-1").await;
    assert_eq!(s, 201, "{first}");
    let code = first["booking_code"].as_str().unwrap().to_owned();
    let (s, refusal) = book(w.contact_token("081277788899").await, "other-1").await;
    assert_eq!(
        (s, refusal["error"]["code"].as_str()),
        (409, Some("ALREADY_BOOKED"))
    );
    let text = refusal.to_string();
    for secret in [
        code.as_str(),
        first["booking_id"].as_str().unwrap_or("booking_id"),
        "BOGOR",
        "2026-12-02",
        "PAGI",
        "CONFIRMED",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}
