//! Retention: 90 days after the appointment a booking's personal data is erased (names,
//! codes, the masked phone, the applicants and contacts in identity) while the statistics stay
//! the same; a recent booking, and the people it uses, are kept.
use antrean_platform::actor::Role;
use antrean_proto::v1 as pb;
use antrean_tests::*;

async fn stats(s: &System) -> pb::StatsReport {
    s.booking
        .clone()
        .get_stats(as_staff(
            &staff_token(Role::DirectorateAdmin, ""),
            pb::GetStatsRequest {
                office_code: "BOGOR".into(),
                from: "2026-12-01".into(),
                to: "2026-12-31".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn personal_data_goes_after_the_retention_period_and_the_statistics_stay() {
    let s = start().await;
    let birth = "1985-03-04";
    let old = s
        .book(create(
            "ret-1",
            "BOGOR",
            "2026-12-01",
            pb::Session::Pagi,
            "081234567890",
            vec![
                applicant(&nik(birth, 1), "Siti Aminah", birth),
                applicant("", "Budi Santoso", birth),
            ],
        ))
        .await;
    // Someone else's booking much later: kept, with the contact and person it uses.
    let later = s
        .book(create(
            "ret-2",
            "BOGOR",
            "2026-12-29",
            pb::Session::Pagi,
            "081298765432",
            vec![applicant(&nik(birth, 2), "Dewi Lestari", birth)],
        ))
        .await;
    let pool = s.pool().await;
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(count("SELECT count(*) FROM identity.applicants").await, 3);
    assert_eq!(count("SELECT count(*) FROM identity.contacts").await, 2);

    // The appointment passes (a no-show), then 89 days: nothing is erased yet.
    s.clock.advance(chrono::Duration::days(2));
    s.bookings.sweep().await.unwrap();
    let before = stats(&s).await;
    s.clock.advance(chrono::Duration::days(88));
    assert_eq!(s.bookings.erase_expired(90).await.unwrap(), 0);

    // Past 90 days after 1 December.
    s.clock.advance(chrono::Duration::days(2));
    assert_eq!(s.bookings.erase_expired(90).await.unwrap(), 1);
    assert_eq!(s.bookings.erase_expired(90).await.unwrap(), 0, "done once");

    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM booking.booking_applicants a JOIN booking.bookings b ON b.id = a.booking_id
         WHERE b.id = $1::uuid",
    )
    .bind(&old.booking_id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(names, ["", ""]);
    let (code, masked): (Option<String>, String) = sqlx::query_as(
        "SELECT booking_code, contact_phone_masked FROM booking.bookings WHERE id = $1::uuid",
    )
    .bind(&old.booking_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((code, masked.as_str()), (None, ""));
    // Identity forgot the two people and the contact of the old booking, not the later one's.
    assert_eq!(count("SELECT count(*) FROM identity.applicants").await, 1);
    assert_eq!(count("SELECT count(*) FROM identity.contacts").await, 1);
    let kept: String = sqlx::query_scalar(
        "SELECT name FROM booking.booking_applicants WHERE booking_id = $1::uuid",
    )
    .bind(&later.booking_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(kept, "Dewi Lestari");

    // The statistics are the same.
    assert_eq!(stats(&s).await, before);
    // The old code finds nothing.
    let e = s
        .booking
        .clone()
        .get_booking(pb::GetBookingRequest {
            key: Some(pb::get_booking_request::Key::BookingCode(
                old.booking_code.clone(),
            )),
            contact_phone: "081234567890".into(),
            office_code: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn handled_messages_drop_their_personal_data_and_go_after_the_retention_period() {
    let w = start_with_whatsapp().await;
    let reply = w
        .say(
            BOGOR_NUMBER,
            "6281234567890",
            "#Siti Aminah#02051990#01122026#PAGI",
        )
        .await;
    assert!(reply.contains("Kode konfirmasi"), "{reply}");
    let pool = w.system.pool().await;
    // The inbound message, once handled, keeps neither the sender nor the words.
    let mut inbound: Vec<(String, i64, i64)> = Vec::new();
    for _ in 0..50 {
        inbound = sqlx::query_as(
            "SELECT state, length(sender_enc)::int8, length(content_enc)::int8
             FROM gateway.inbound_messages",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        if inbound.iter().all(|r| r.0 == "DONE") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(inbound, [("DONE".to_owned(), 0, 0)]);
    // The reply, once sent, keeps neither its parameters (name, code) nor its recipient.
    let sent: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT state, params::text, payload::text, length(recipient_enc)::int8
         FROM notification.outbox WHERE state <> 'QUEUED'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!sent.is_empty());
    for (state, params, payload, recipient) in sent {
        assert_eq!(
            (params.as_str(), payload.as_str(), recipient),
            ("{}", "{}", 0),
            "{state}"
        );
    }
    // After the retention period the row itself goes.
    w.system.clock.advance(chrono::Duration::days(91));
    assert!(antrean_gateway::inbox::erase_old(&w.app).await.unwrap() >= 1);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM gateway.inbound_messages")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}
