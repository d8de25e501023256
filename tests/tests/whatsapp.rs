//! Booking by WhatsApp: the classic formats, the menu, every error, and webhook deliveries
//! that come twice, at once, or with a bad signature.
use antrean_proto::v1 as pb;
use antrean_tests::*;
use futures::future::join_all;

const PHONE: &str = "6281234567890";

fn code_in(reply: &str, label: &str) -> String {
    reply
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no '{label}' in: {reply}"))
        .trim()
        .to_owned()
}

#[tokio::test]
async fn a_whatsapp_conversation_books_a_seat_that_leaves_availability() {
    let w = start_with_whatsapp().await;
    let dates = w.say(BOGOR_NUMBER, PHONE, "#tgllayanan").await;
    assert!(
        dates.contains("01122026  (Selasa)  PAGI 75  SIANG 75"),
        "{dates}"
    );
    assert_eq!(dates.matches("PAGI").count(), 5, "{dates}");

    let held = w
        .say(BOGOR_NUMBER, PHONE, "# Budi Santoso # 25011987 # 01122026")
        .await;
    let code = code_in(&held, "Kode konfirmasi:");
    assert_eq!(code.len(), 6);
    assert!(
        held.contains("Selasa, 1 Desember 2026") && held.contains("10:15 WIB"),
        "{held}"
    );
    assert_eq!(
        w.system
            .remaining("BOGOR", "2026-12-01", pb::Session::Pagi)
            .await,
        74
    );

    let confirmed = w.say(BOGOR_NUMBER, PHONE, &code).await;
    let booking_code = code_in(&confirmed, "Kode booking:");
    assert_eq!(code_in(&confirmed, "Nomor antrean:"), "A-001");
    assert_eq!(code_in(&confirmed, "Jadwal:"), "08:00 WIB");
    assert!(
        confirmed.contains("dokumen asli") && confirmed.contains("07:30 WIB"),
        "{confirmed}"
    );
    // The same seat is gone from the web's availability too.
    assert_eq!(
        w.system
            .remaining("BOGOR", "2026-12-01", pb::Session::Pagi)
            .await,
        74
    );

    let status = w
        .say(
            BOGOR_NUMBER,
            PHONE,
            &format!("#STATUS#{}", booking_code.to_lowercase()),
        )
        .await;
    assert!(
        status.contains("terkonfirmasi") && status.contains("A-001"),
        "{status}"
    );
    // The national information number answers status checks for every office.
    let status = w
        .say(NATIONAL_NUMBER, PHONE, &format!("#status#{booking_code}"))
        .await;
    assert!(
        status.contains("Kantor Imigrasi Kelas I Non TPI Bogor"),
        "{status}"
    );

    let cancelled = w
        .say(BOGOR_NUMBER, PHONE, &format!("#BATAL#{booking_code}"))
        .await;
    assert!(cancelled.contains("telah dibatalkan"), "{cancelled}");
    assert_eq!(
        w.system
            .remaining("BOGOR", "2026-12-01", pb::Session::Pagi)
            .await,
        75
    );
}

#[tokio::test]
async fn every_mistake_gets_the_right_format_and_an_example() {
    let w = start_with_whatsapp().await;
    let cases = [
        ("#Budi#25011987", "Format pesan tidak dikenali"),
        ("#Budi#31021987#01122026", "Tanggal lahir tidak valid"),
        ("#Budi#25011987#31112026", "Tanggal kedatangan tidak valid"),
        ("#Budi#25012030#01122026", "tidak boleh di masa depan"),
        ("#Budi#25011987#05122026", "hari Sabtu/Minggu"),
        ("#Budi#25011987#25122026", "Hari Raya Natal"),
        ("#Budi#25011987#30112026", "tidak bisa dipesan"),
        ("#Budi#25011987#01022027", "tidak bisa dipesan"),
        (
            "#Budi#25011987#01122026#MALAM",
            "Sesi hanya PAGI atau SIANG",
        ),
        ("#B1#25011987#01122026", "Nama hanya boleh berisi huruf"),
        ("654321", "Tidak ada pemesanan yang menunggu"),
        ("#BATAL", "Kode booking belum ditulis"),
        ("#BATAL#ABCD", "Kode booking tidak valid"),
        ("#STATUS#7K3M-9QX2-HT4R-D", "Booking tidak ditemukan"),
    ];
    for (text, expected) in cases {
        let reply = w.say(BOGOR_NUMBER, PHONE, text).await;
        assert!(reply.contains(expected), "{text} -> {reply}");
        assert!(
            reply.contains("Format:") && reply.contains("Contoh:"),
            "{text} -> {reply}"
        );
    }
}

#[tokio::test]
async fn sold_out_already_booked_and_limit_replies() {
    let w = start_with_whatsapp().await;
    let mut q = w.system.quota.clone();
    for s in [pb::Session::Pagi, pb::Session::Siang] {
        q.set_capacity(antrean_platform::actor::as_dev_admin(
            pb::SetCapacityRequest {
                office_code: "BOGOR".into(),
                date: "2026-12-02".into(),
                session: s as i32,
                capacity: 0,
            },
        ))
        .await
        .unwrap();
    }
    let sold_out = w.say(BOGOR_NUMBER, PHONE, "#Budi#25011987#02122026").await;
    assert!(sold_out.contains("tidak cukup"), "{sold_out}");
    assert!(
        sold_out.contains("Tanggal yang bisa dipakai: 01122026, 03122026"),
        "{sold_out}"
    );

    let held = w.say(BOGOR_NUMBER, PHONE, "#Budi#25011987#03122026").await;
    let code = code_in(&held, "Kode konfirmasi:");
    let confirmed = w.say(BOGOR_NUMBER, PHONE, &code).await;
    let booking_code = code_in(&confirmed, "Kode booking:");
    let again = w
        .say(BOGOR_NUMBER, "6281299990000", "#budi#25011987#04122026")
        .await;
    assert!(again.contains("sudah memiliki booking aktif"), "{again}");
    // Another number is not told the booking's code, date or office.
    for secret in [booking_code.as_str(), "03122026", "Desember", "BOGOR"] {
        assert!(!again.contains(secret), "{secret} leaked: {again}");
    }

    for (i, name) in ["Ani", "Cici", "Dodi", "Euis"].iter().enumerate() {
        let held = w
            .say(BOGOR_NUMBER, PHONE, &format!("#{name}#0101201{i}#07122026"))
            .await;
        let code = code_in(&held, "Kode konfirmasi:");
        w.say(BOGOR_NUMBER, PHONE, &code).await;
    }
    let sixth = w.say(BOGOR_NUMBER, PHONE, "#Fajar#01012015#07122026").await;
    assert!(
        sixth.contains("hanya dapat memesan untuk 5 orang"),
        "{sixth}"
    );
}

#[tokio::test]
async fn the_menu_is_a_list_and_its_rows_answer() {
    let w = start_with_whatsapp().await;
    let menu = w.say(BOGOR_NUMBER, PHONE, "halo").await;
    assert!(menu.contains("[menu:syarat] Persyaratan"), "{menu}");
    let last = w.replies_to(PHONE).pop().unwrap();
    assert_eq!(last["interactive"]["type"], "list");

    let before = w.replies_to(PHONE).len();
    let mut choice =
        antrean_gateway::webhook::text_webhook(BOGOR_NUMBER, "", PHONE, &w.wamid(), "", 0);
    choice["entry"][0]["changes"][0]["value"]["messages"][0] = serde_json::json!({
        "from": PHONE, "id": w.wamid(), "timestamp": "1764478800", "type": "interactive",
        "interactive": {"type": "list_reply", "list_reply": {"id": "menu:syarat", "title": "Persyaratan"}}});
    assert_eq!(w.post(&choice).await, 200);
    let syarat = w.next_reply(PHONE, before).await;
    assert!(
        syarat.contains("BAP")
            && syarat.contains("tidak dapat dipesan secara online")
            && syarat.contains("e-KTP asli ayah dan ibu"),
        "{syarat}"
    );
    // The priority service explained from the menu.
    assert!(
        menu.contains("[menu:prioritas] Layanan prioritas"),
        "{menu}"
    );
    let before = w.replies_to(PHONE).len();
    let mut choice =
        antrean_gateway::webhook::text_webhook(BOGOR_NUMBER, "", PHONE, &w.wamid(), "", 0);
    choice["entry"][0]["changes"][0]["value"]["messages"][0] = serde_json::json!({
        "from": PHONE, "id": w.wamid(), "timestamp": "1764478800", "type": "interactive",
        "interactive": {"type": "list_reply", "list_reply": {"id": "menu:prioritas", "title": "Layanan prioritas"}}});
    assert_eq!(w.post(&choice).await, 200);
    let priority = w.next_reply(PHONE, before).await;
    assert!(
        priority.contains("tanpa booking online") && priority.contains("Lansia"),
        "{priority}"
    );

    let thanks = w
        .say(
            BOGOR_NUMBER,
            PHONE,
            "#SARAN#Petugas loket 2 sangat membantu",
        )
        .await;
    assert!(thanks.contains("Terima kasih"), "{thanks}");
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM gateway.feedback WHERE office_code = 'BOGOR'")
            .fetch_one(&w.system.pool().await)
            .await
            .unwrap();
    assert_eq!(stored, 1);
    // Booking on the national number points to the office numbers.
    let national = w
        .say(NATIONAL_NUMBER, PHONE, "#Budi#25011987#01122026")
        .await;
    assert!(national.contains("layanan informasi"), "{national}");
}

#[tokio::test]
async fn duplicate_and_concurrent_deliveries_book_once_and_answer_once() {
    let w = start_with_whatsapp().await;
    let wamid = w.wamid();
    let body = antrean_gateway::webhook::text_webhook(
        BOGOR_NUMBER,
        "",
        PHONE,
        &wamid,
        "#Budi#25011987#01122026",
        1764478800,
    );
    let answers = join_all((0..8).map(|_| w.post(&body))).await;
    assert!(answers.iter().all(|&s| s == 200));
    w.next_reply(PHONE, 0).await;
    // Later redelivery of the same message.
    assert_eq!(w.post(&body).await, 200);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(w.replies_to(PHONE).len(), 1);
    assert_eq!(
        w.system
            .remaining("BOGOR", "2026-12-01", pb::Session::Pagi)
            .await,
        74
    );
}

#[tokio::test]
async fn a_crowd_of_webhooks_is_stored_whole_and_a_bad_one_fails_alone() {
    let w = start_with_whatsapp().await;
    let phones: Vec<String> = (0..60).map(|i| format!("62812340{i:05}")).collect();
    let mut bodies: Vec<_> = phones
        .iter()
        .map(|p| {
            antrean_gateway::webhook::text_webhook(
                BOGOR_NUMBER,
                "",
                p,
                &w.wamid(),
                "menu",
                1764478800,
            )
        })
        .collect();
    // PostgreSQL text cannot hold a NUL: this webhook cannot be stored, whatever it shares.
    bodies.push(antrean_gateway::webhook::text_webhook(
        BOGOR_NUMBER,
        "",
        "6281299990000",
        "wamid.\u{0}",
        "menu",
        1764478800,
    ));
    let answers = join_all(bodies.iter().map(|b| w.post(b))).await;
    assert_eq!(answers[60], 503, "the bad webhook is not answered 200");
    assert!(answers[..60].iter().all(|&s| s == 200), "{answers:?}");
    for p in &phones {
        assert!(w.next_reply(p, 0).await.contains("[menu:syarat]"));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(phones.iter().all(|p| w.replies_to(p).len() == 1));
    assert!(w.replies_to("6281299990000").is_empty());
}

#[tokio::test]
async fn bad_signatures_are_refused_and_change_nothing() {
    let w = start_with_whatsapp().await;
    let body = antrean_gateway::webhook::text_webhook(
        BOGOR_NUMBER,
        "",
        PHONE,
        "wamid.X",
        "#TGLLAYANAN",
        0,
    );
    let raw = serde_json::to_vec(&body).unwrap();
    for sig in [
        None,
        Some("sha256=00".to_owned()),
        Some(antrean_gateway::signature::sign(b"wrong", &raw)),
    ] {
        let mut req = w
            .http
            .post(format!("{}/webhooks/whatsapp", w.gateway))
            .body(raw.clone());
        if let Some(s) = sig {
            req = req.header("x-hub-signature-256", s);
        }
        assert_eq!(req.send().await.unwrap().status().as_u16(), 401);
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM gateway.inbound_messages")
        .fetch_one(&w.system.pool().await)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    // The verification handshake.
    let url = format!(
        "{}/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=",
        w.gateway
    );
    let ok = w
        .http
        .get(format!("{url}{}", antrean_gateway::DEV_VERIFY_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    assert_eq!(
        w.http
            .get(format!("{url}salah"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );
}

#[tokio::test]
async fn delivery_statuses_reach_the_outbox() {
    let w = start_with_whatsapp().await;
    w.say(BOGOR_NUMBER, PHONE, "menu").await;
    let wamid = w.cloud_api.messages()[0].wamid.clone();
    let status = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"changes": [{
        "field": "messages", "value": {"metadata": {"phone_number_id": BOGOR_NUMBER},
        "statuses": [{"id": wamid, "status": "read", "timestamp": "1764478900", "recipient_id": PHONE},
                     {"id": wamid, "status": "delivered", "timestamp": "1764478890", "recipient_id": PHONE}]}}]}]});
    assert_eq!(w.post(&status).await, 200);
    let pool = w.system.pool().await;
    for _ in 0..200 {
        let state: String = sqlx::query_scalar(
            "SELECT state FROM notification.outbox WHERE provider_message_id = $1",
        )
        .bind(&wamid)
        .fetch_one(&pool)
        .await
        .unwrap();
        if state == "READ" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("status never recorded");
}

#[tokio::test]
async fn a_status_before_its_send_is_recorded_is_kept_then_dropped_after_a_minute() {
    let w = start_with_whatsapp().await;
    // A status for a message the notification service does not know (yet): the send may
    // still be recording the Cloud API's id.
    let status = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"changes": [{
        "field": "messages", "value": {"metadata": {"phone_number_id": BOGOR_NUMBER},
        "statuses": [{"id": "wamid.NOT_YET", "status": "delivered", "timestamp": "1764478890",
                      "recipient_id": PHONE}]}}]}]});
    assert_eq!(w.post(&status).await, 200);
    let pool = w.system.pool().await;
    let state = || {
        sqlx::query_scalar::<_, String>(
            "SELECT state FROM gateway.status_updates WHERE wamid = 'wamid.NOT_YET'",
        )
        .fetch_one(&pool)
    };
    // Several inbox rounds (at most 250 ms apart) leave it for another try.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(state().await.unwrap(), "PENDING");
    w.system.clock.advance(chrono::Duration::seconds(61));
    for _ in 0..200 {
        if state().await.unwrap() == "DONE" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("an unknown status was never dropped");
}

#[tokio::test]
async fn offices_and_their_numbers_are_listed() {
    let w = start_with_whatsapp().await;
    let list: serde_json::Value = w
        .http
        .get(format!("{}/api/v1/offices", w.gateway))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bogor = list
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["code"] == "BOGOR")
        .unwrap();
    assert_eq!(
        bogor["whatsapp"]["display_phone_number"],
        "+62 811-1100-333"
    );
    assert_eq!(bogor["whatsapp"]["phone_number_id"], BOGOR_NUMBER);
    assert_eq!(bogor["timezone"], "Asia/Jakarta");
}

#[tokio::test]
async fn the_day_before_a_reminder_template_goes_out_once() {
    let w = start_with_whatsapp().await;
    let held = w
        .say(MAKASSAR_NUMBER, PHONE, "#Andi#03031980#02122026#SIANG")
        .await;
    let code = code_in(&held, "Kode konfirmasi:");
    w.say(MAKASSAR_NUMBER, PHONE, &code).await;
    let before = w.replies_to(PHONE).len();
    // 08:59 WITA on 1 December: not yet.
    w.system.clock.set("2026-12-01T00:59:00Z".parse().unwrap());
    w.system.bookings.sweep().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(w.replies_to(PHONE).len(), before);
    // 09:00 WITA: the approved template, from the office's number.
    w.system.clock.set("2026-12-01T01:00:00Z".parse().unwrap());
    w.system.bookings.sweep().await.unwrap();
    w.system.bookings.sweep().await.unwrap();
    w.next_reply(PHONE, before).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let sent = w.cloud_api.messages();
    let reminders: Vec<_> = sent
        .iter()
        .filter(|m| m.body["type"] == "template")
        .collect();
    assert_eq!(reminders.len(), 1);
    let t = &reminders[0].body["template"];
    assert_eq!(t["name"], "antrean_pengingat_h1");
    assert_eq!(t["language"]["code"], "id");
    assert_eq!(t["components"][0]["parameters"][3]["text"], "13:00 WITA");
    assert_eq!(reminders[0].phone_number_id, MAKASSAR_NUMBER);
}

#[tokio::test]
async fn messages_delivered_out_of_order_are_handled_in_the_order_they_were_written() {
    let w = start_with_whatsapp().await;
    let msg = |id: &str, text: &str, ts: i64| {
        antrean_gateway::webhook::text_webhook(BOGOR_NUMBER, "", PHONE, id, text, ts)["entry"][0]
            ["changes"][0]["value"]["messages"][0]
            .clone()
    };
    let mut body = antrean_gateway::webhook::text_webhook(BOGOR_NUMBER, "", PHONE, "x", "", 0);
    // The later message first in the batch.
    body["entry"][0]["changes"][0]["value"]["messages"] = serde_json::json!([
        msg("wamid.LATE", "#TGLLAYANAN", 1_764_478_900),
        msg("wamid.EARLY", "menu", 1_764_478_800),
    ]);
    assert_eq!(w.post(&body).await, 200);
    let first = w.next_reply(PHONE, 0).await;
    let second = w.next_reply(PHONE, 1).await;
    assert!(first.contains("[menu:syarat]"), "{first}");
    assert!(second.contains("Tanggal layanan tersedia"), "{second}");
}

#[tokio::test]
async fn a_person_blocked_for_no_shows_is_told_until_when() {
    let w = start_with_whatsapp().await;
    for (date, end) in [
        ("01122026", "2026-12-01T05:00:01Z"),
        ("03122026", "2026-12-03T05:00:01Z"),
    ] {
        let held = w
            .say(BOGOR_NUMBER, PHONE, &format!("#Budi#25011987#{date}#PAGI"))
            .await;
        let code = code_in(&held, "Kode konfirmasi:");
        w.say(BOGOR_NUMBER, PHONE, &code).await;
        w.system.clock.set(end.parse().unwrap());
        w.system.bookings.sweep().await.unwrap();
    }
    let refused = w.say(BOGOR_NUMBER, PHONE, "#Budi#25011987#08122026").await;
    assert!(
        refused.contains("tidak dapat memesan sampai Sabtu, 2 Januari 2027"),
        "{refused}"
    );
}

#[tokio::test]
async fn messages_to_unknown_numbers_are_ignored() {
    let w = start_with_whatsapp().await;
    let body =
        antrean_gateway::webhook::text_webhook("999999999", "", PHONE, &w.wamid(), "menu", 0);
    assert_eq!(w.post(&body).await, 200);
    // A known number right after shows the worker is running; the unknown one got nothing.
    w.say(BOGOR_NUMBER, PHONE, "menu").await;
    assert_eq!(w.replies_to(PHONE).len(), 1);
    let done: String = sqlx::query_scalar(
        "SELECT state FROM gateway.inbound_messages WHERE phone_number_id = '999999999'",
    )
    .fetch_one(&w.system.pool().await)
    .await
    .unwrap();
    assert_eq!(done, "DONE");
}

#[tokio::test]
async fn metrics_count_webhooks_holds_transitions_and_deliveries() {
    let w = start_with_whatsapp().await;
    let held = w.say(BOGOR_NUMBER, PHONE, "#Budi#25011987#01122026").await;
    w.say(BOGOR_NUMBER, PHONE, &code_in(&held, "Kode konfirmasi:"))
        .await;
    let metrics = w
        .http
        .get(format!("{}/metrics", w.gateway))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        r#"whatsapp_webhooks_total{result="accepted"}"#,
        r#"quota_holds_total{office="BOGOR",outcome="admitted"}"#,
        r#"booking_transitions_total{to="CONFIRMED"}"#,
        r#"notification_deliveries_total{channel="WHATSAPP",outcome="sent"}"#,
        r#"rpc_server_requests_total{method="antrean.v1.BookingService/CreateBooking",code="OK"}"#,
    ] {
        assert!(metrics.contains(series), "{series} missing");
    }
}
