//! Confirmations everywhere: a booking confirmed on the web, in an app or by staff sends its
//! booking code, queue numbers, schedule and what to bring by WhatsApp (an approved template:
//! the applicant's window is shut) and by e-mail where known, retried by the sweeper until
//! sent; a WhatsApp conversation answers its own. `#CEK` lists the sender's active bookings
//! and the web look-up lists a verified phone's.
use antrean_proto::v1 as pb;
use antrean_tests::*;

/// A web booking of `phone` in Bogor on 1 December, confirmed at once.
async fn web_booking(s: &System, n: u32, phone: &str) -> pb::Booking {
    let birth = "1989-06-07";
    let mut req = create(
        &format!("confirm-{n}"),
        "BOGOR",
        "2026-12-01",
        pb::Session::Pagi,
        phone,
        vec![applicant(&nik(birth, n), "Sari Dewi", birth)],
    );
    req.channel = pb::Channel::Web as i32;
    req.contact.as_mut().unwrap().contact_token = s.contact_token(phone).await;
    s.book(req).await
}

fn templates(s: &System, digits: &str) -> Vec<String> {
    s.cloud_api
        .messages_to(digits)
        .into_iter()
        .filter_map(|m| m.body["template"]["name"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_booking_is_confirmed_by_approved_template_and_a_lost_message_is_sent_again() {
    let s = start().await;
    let b = web_booking(&s, 1, "081355501001").await;
    let digits = "6281355501001";
    let sent = s
        .cloud_api
        .wait_for_recipient(digits, 1, std::time::Duration::from_secs(8))
        .await;
    assert_eq!(sent.len(), 1, "one confirmation");
    let body = &sent.last().unwrap().body;
    assert_eq!(
        body["template"]["name"], "antrean_booking_terkonfirmasi",
        "{body}"
    );
    let params: Vec<&str> = body["template"]["components"][0]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(params[0], "Sari Dewi");
    assert_eq!(params[1], b.booking_code);
    assert!(params[3].contains("1 Desember 2026"), "{params:?}");
    assert_eq!(params[6], b.applicants[0].queue_number);

    // A message the notification service never accepted (it was down) is sent again by the
    // sweeper, once.
    let pool = s.pool().await;
    sqlx::query("UPDATE booking.bookings SET confirmation_sent = false WHERE id = $1::uuid")
        .bind(&b.booking_id)
        .execute(&pool)
        .await
        .unwrap();
    for sql in [
        "DELETE FROM notification.delivery_events WHERE message_id IN (SELECT id FROM notification.outbox WHERE template = 'booking_confirmed_notice')",
        "DELETE FROM notification.outbox WHERE template = 'booking_confirmed_notice'",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    s.bookings.sweep().await.unwrap();
    s.bookings.sweep().await.unwrap();
    let sent = s
        .cloud_api
        .wait_for_recipient(digits, 2, std::time::Duration::from_secs(8))
        .await;
    assert_eq!(
        sent.len(),
        3,
        "verification, confirmation, and the one sent again"
    );
    let sent_flag: bool =
        sqlx::query_scalar("SELECT confirmation_sent FROM booking.bookings WHERE id = $1::uuid")
            .bind(&b.booking_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(sent_flag);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whatsapp_booking_is_answered_in_its_conversation_only() {
    let w = start_with_whatsapp().await;
    let phone = "6281355502002";
    let held = w
        .say(BOGOR_NUMBER, phone, "#Sari Dewi#07061989#01122026")
        .await;
    let code = held
        .lines()
        .find_map(|l| l.strip_prefix("Kode konfirmasi:"))
        .unwrap()
        .trim()
        .to_owned();
    let confirmed = w.say(BOGOR_NUMBER, phone, &code).await;
    assert!(confirmed.contains("Kode booking:"), "{confirmed}");
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert!(
        templates(&w.system, phone).is_empty(),
        "no template beside the conversation's answer"
    );
}
