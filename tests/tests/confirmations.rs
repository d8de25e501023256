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
    // (The sweep also sends the H-1 reminder, due on the morning before.)
    let _ = s
        .cloud_api
        .wait_for_recipient(digits, 3, std::time::Duration::from_secs(8))
        .await;
    let confirmations = templates(&s, digits)
        .into_iter()
        .filter(|t| t == "antrean_booking_terkonfirmasi")
        .count();
    assert_eq!(confirmations, 2, "the confirmation, and the one sent again");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cek_on_whatsapp_and_the_web_list_show_a_phones_own_bookings_only() {
    let w = start_with_whatsapp().await;
    let s = &w.system;
    let phone = "081355503003";
    let digits = "6281355503003";
    let birth = "1979-11-12";
    let mut codes = Vec::new();
    for (i, name) in ["Ani Lestari", "Budi Lestari", "Cici Lestari"]
        .into_iter()
        .enumerate()
    {
        let b = s
            .book(create(
                &format!("mine-{i}"),
                if i == 1 { "MAKASSAR" } else { "BOGOR" },
                "2026-12-01",
                pb::Session::Pagi,
                phone,
                vec![applicant(&nik(birth, 40 + i as u32), name, birth)],
            ))
            .await;
        codes.push(b.booking_code);
    }
    s.booking
        .clone()
        .cancel_booking(pb::CancelBookingRequest {
            booking_code: codes[2].clone(),
            contact_phone: phone.into(),
        })
        .await
        .unwrap();

    let reply = w.say(BOGOR_NUMBER, digits, "#CEK").await;
    assert!(
        reply.contains(&codes[0]) && reply.contains(&codes[1]),
        "{reply}"
    );
    assert!(
        !reply.contains(&codes[2]),
        "a cancelled booking is not active: {reply}"
    );
    assert!(
        reply.contains("Makassar") && reply.contains("A-001"),
        "{reply}"
    );
    // The national number answers it too; another phone has none.
    let national = w.say(NATIONAL_NUMBER, digits, "#cek").await;
    assert!(national.contains(&codes[0]), "{national}");
    let stranger = w.say(BOGOR_NUMBER, "6281355503999", "#CEK").await;
    assert!(stranger.contains("Tidak ada booking aktif"), "{stranger}");
    assert!(!stranger.contains(&codes[0]), "{stranger}");

    // The web: the phone proven by its token, every booking or only those ahead.
    let token = w.contact_token(phone).await;
    let (status, all) = list(&w, "", Some(format!("Bearer {token}"))).await;
    assert_eq!(status, 200, "{all}");
    let listed: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["booking_code"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 3, "{all}");
    let (_, ahead) = list(&w, "?active=true", Some(format!("Bearer {token}"))).await;
    let ahead: Vec<&str> = ahead
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["booking_code"].as_str().unwrap())
        .collect();
    assert_eq!(ahead.len(), 2);
    assert!(!ahead.contains(&codes[2].as_str()));
    let (status, v) = list(&w, "", None).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (401, Some("CONTACT_NOT_VERIFIED"))
    );
    let (status, _) = list(&w, "", Some("Bearer not-a-token".into())).await;
    assert_eq!(status, 401);
}

/// `GET /api/v1/bookings` with an optional `Authorization`, checked against the document.
async fn list(w: &WhatsApp, query: &str, auth: Option<String>) -> (u16, serde_json::Value) {
    let mut r = w.http.get(format!("{}/api/v1/bookings{query}", w.gateway));
    if let Some(a) = auth {
        r = r.header("authorization", a);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let v: serde_json::Value = r.json().await.unwrap();
    w.check_response("/api/v1/bookings", "get", status, &v);
    (status, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn penggantian_on_whatsapp_books_a_replacement_passport() {
    let w = start_with_whatsapp().await;
    let phone = "6281355507007";
    let held = w
        .say(
            BOGOR_NUMBER,
            phone,
            "#Rudi Hartono#02031980#01122026#PENGGANTIAN#SIANG",
        )
        .await;
    assert!(
        held.contains("Kode konfirmasi:") && held.contains("SIANG"),
        "{held}"
    );
    let kind: String =
        sqlx::query_scalar("SELECT application_type FROM booking.booking_applicants")
            .fetch_one(&w.system.pool().await)
            .await
            .unwrap();
    assert_eq!(kind, "APPLICATION_TYPE_REPLACEMENT");
    let wrong = w
        .say(BOGOR_NUMBER, phone, "#Rudi Hartono#02031980#01122026#GANTI")
        .await;
    assert!(
        wrong.contains("#PENGGANTIAN") && wrong.contains("Format:"),
        "{wrong}"
    );
}
