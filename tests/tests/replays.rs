//! Retries and races: idempotent create and confirm, gapless queue numbers.
use antrean_platform::status;
use antrean_proto::v1 as pb;
use antrean_tests::*;
use futures::future::join_all;
use std::collections::HashSet;
use tonic::Code;

const DATE: &str = "2026-12-03";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_replays_of_create_and_confirm_make_one_booking() {
    let s = start().await;
    let req = create(
        "same-key",
        "SEMARANG",
        DATE,
        pb::Session::Pagi,
        "081234567890",
        vec![
            applicant("", "Budi Santoso", "1987-01-25"),
            applicant("", "Ani Santoso", "2015-06-01"),
        ],
    );
    let answers = join_all((0..20).map(|_| {
        let mut c = s.booking.clone();
        let req = req.clone();
        async move { c.create_booking(req).await.unwrap().into_inner() }
    }))
    .await;
    let ids: HashSet<_> = answers
        .iter()
        .map(|a| a.booking.as_ref().unwrap().booking_id.clone())
        .collect();
    assert_eq!(ids.len(), 1);
    assert!(
        answers
            .iter()
            .all(|a| a.confirmation_code == answers[0].confirmation_code)
    );
    assert_eq!(s.remaining("SEMARANG", DATE, pb::Session::Pagi).await, 73);

    let id = ids.into_iter().next().unwrap();
    let confirmed = join_all((0..20).map(|_| {
        let mut c = s.booking.clone();
        let req = pb::ConfirmBookingRequest {
            booking_id: id.clone(),
            confirmation_code: answers[0].confirmation_code.clone(),
        };
        async move { c.confirm_booking(req).await.unwrap().into_inner() }
    }))
    .await;
    assert!(
        confirmed
            .iter()
            .all(|b| b.booking_code == confirmed[0].booking_code)
    );
    assert_eq!(confirmed[0].applicants[1].queue_number, "A-002");
    assert_eq!(s.remaining("SEMARANG", DATE, pb::Session::Pagi).await, 73);

    // The same key with other content is refused.
    let mut other = req.clone();
    other.session = pb::Session::Siang as i32;
    let e = s.booking.clone().create_booking(other).await.unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists);
    assert_eq!(
        status::reason(&e).as_deref(),
        Some("IDEMPOTENCY_KEY_REUSED")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queue_numbers_stay_unique_and_gapless_under_concurrent_confirms() {
    let s = start().await;
    let mut held = Vec::new();
    for i in 0..30u32 {
        // 30 different phones, 1-2 people each.
        let people = (0..1 + i % 2)
            .map(|j| {
                applicant(
                    "",
                    &format!("Pemohon {} {}", letters(i), letters(j)),
                    "1990-01-01",
                )
            })
            .collect();
        let created = s
            .booking
            .clone()
            .create_booking(create(
                &format!("q{i}"),
                "MAKASSAR",
                DATE,
                pb::Session::Siang,
                &format!("0812{:08}", 10_000_000 + i),
                people,
            ))
            .await
            .unwrap()
            .into_inner();
        held.push((
            created.booking.unwrap().booking_id,
            created.confirmation_code,
        ));
    }
    let confirmed = join_all(held.into_iter().map(|(id, code)| {
        let mut c = s.booking.clone();
        async move {
            c.confirm_booking(pb::ConfirmBookingRequest {
                booking_id: id,
                confirmation_code: code,
            })
            .await
            .unwrap()
            .into_inner()
        }
    }))
    .await;
    let mut numbers: Vec<u32> = confirmed
        .iter()
        .flat_map(|b| b.applicants.iter())
        .map(|a| {
            assert!(a.queue_number.starts_with("B-"));
            a.queue_number[2..].parse().unwrap()
        })
        .collect();
    numbers.sort();
    assert_eq!(numbers, (1..=45).collect::<Vec<u32>>());
    // One family's numbers are consecutive.
    for b in &confirmed {
        let n: Vec<u32> = b
            .applicants
            .iter()
            .map(|a| a.queue_number[2..].parse().unwrap())
            .collect();
        assert!(n.windows(2).all(|w| w[1] == w[0] + 1));
    }
}

fn letters(i: u32) -> String {
    let a = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    format!(
        "{}{}",
        a[(i / 26) as usize % 26] as char,
        a[(i % 26) as usize] as char
    )
}
