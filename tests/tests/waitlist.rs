//! Waitlists: joining a full session, promotion in line order of whole groups only, under
//! concurrent cancellations and promotions, offers by WhatsApp that pass on when not taken.
use antrean_platform::actor::as_dev_admin;
use antrean_platform::status;
use antrean_proto::v1 as pb;
use antrean_tests::*;

const DAY: &str = "2026-12-01";

fn join(phone: &str, people: u32, first: u32) -> pb::JoinWaitlistRequest {
    let birth = "1992-11-03";
    pb::JoinWaitlistRequest {
        office_code: "BOGOR".into(),
        date: DAY.into(),
        session: pb::Session::Pagi as i32,
        contact: Some(pb::ContactInput {
            phone: phone.into(),
            email: String::new(),
            whatsapp_user_id: String::new(),
            contact_token: String::new(),
        }),
        applicants: (0..people)
            .map(|i| applicant(&nik(birth, first + i), "Pemohon Tunggu", birth))
            .collect(),
        channel: pb::Channel::Whatsapp as i32,
    }
}

/// The confirmation code in the last waitlist offer sent to `to` (digits), if any.
fn offered_code(s: &System, to: &str) -> Option<String> {
    s.cloud_api
        .messages()
        .into_iter()
        .rfind(|m| m.to == to && m.body["template"]["name"] == "antrean_tawaran_daftar_tunggu")
        .map(|m| {
            m.body["template"]["components"][0]["parameters"][4]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
}

async fn states(s: &System) -> Vec<(String, String)> {
    let pool = s.pool().await;
    sqlx::query_as("SELECT w.seats::text, w.state FROM booking.waitlist_entries w ORDER BY w.seq")
        .fetch_all(&pool)
        .await
        .unwrap()
}

async fn wait_for_offer(s: &System, to: &str) -> String {
    for _ in 0..200 {
        if let Some(c) = offered_code(s, to) {
            return c;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let sent: Vec<String> = s
        .cloud_api
        .messages()
        .iter()
        .map(|m| format!("{} {}", m.to, m.body))
        .collect();
    let pool = s.pool().await;
    let outbox: Vec<(String, String, String)> =
        sqlx::query_as("SELECT template, state, last_error FROM notification.outbox")
            .fetch_all(&pool)
            .await
            .unwrap();
    let sent_flags: Vec<(bool,)> =
        sqlx::query_as("SELECT offer_sent FROM booking.waitlist_entries")
            .fetch_all(&pool)
            .await
            .unwrap();
    panic!(
        "no offer reached {to}: {:?} {sent:?} {outbox:?} {sent_flags:?}",
        states(s).await
    );
}

fn owned<const N: usize>(v: [(&str, &str); N]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

async fn cancel_and_promote_at_once(s: &System, bookings: &[&pb::Booking], phones: &[String]) {
    let cancels = bookings.iter().zip(phones).map(|(b, phone)| {
        let mut c = s.booking.clone();
        let req = pb::CancelBookingRequest {
            booking_code: b.booking_code.clone(),
            contact_phone: phone.clone(),
        };
        async move {
            c.cancel_booking(req).await.unwrap();
        }
    });
    let date = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let promotions = (0..4).map(|_| async {
        s.bookings
            .promote("BOGOR", date, antrean_platform::domain::SessionOfDay::Pagi)
            .await
            .unwrap();
    });
    futures::join!(
        futures::future::join_all(cancels),
        futures::future::join_all(promotions)
    );
    // The promotions the cancellations start by themselves, too.
    s.bookings
        .promote("BOGOR", date, antrean_platform::domain::SessionOfDay::Pagi)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freed_seats_go_to_whole_groups_in_line_and_offers_pass_on() {
    let s = start().await;
    s.quota
        .clone()
        .set_capacity(as_dev_admin(pb::SetCapacityRequest {
            office_code: "BOGOR".into(),
            date: DAY.into(),
            session: pb::Session::Pagi as i32,
            capacity: 4,
        }))
        .await
        .unwrap();
    // Full: a pair and two singles.
    let birth = "1975-05-05";
    let phones: Vec<String> = (0..3).map(|i| format!("08137{:07}", i)).collect();
    let mut booked = Vec::new();
    for (i, people) in [2u32, 1, 1].into_iter().enumerate() {
        booked.push(
            s.book(create(
                &format!("full-{i}"),
                "BOGOR",
                DAY,
                pb::Session::Pagi,
                &phones[i],
                (0..people)
                    .map(|p| {
                        applicant(&nik(birth, 200 + 10 * i as u32 + p), "Pemohon Penuh", birth)
                    })
                    .collect(),
            ))
            .await,
        );
    }
    let mut c = s.booking.clone();
    // The afternoon still has room: no waitlist there.
    let mut open = join("081380000009", 1, 50);
    open.session = pb::Session::Siang as i32;
    let e = c.join_waitlist(open).await.unwrap_err();
    assert_eq!(status::reason(&e).as_deref(), Some("SEATS_AVAILABLE"));

    let a = c
        .join_waitlist(join("081380000001", 2, 1))
        .await
        .unwrap()
        .into_inner();
    let b = c
        .join_waitlist(join("081380000002", 1, 3))
        .await
        .unwrap()
        .into_inner();
    let d = c
        .join_waitlist(join("081380000003", 1, 4))
        .await
        .unwrap()
        .into_inner();
    let e = c
        .join_waitlist(join("081380000004", 2, 5))
        .await
        .unwrap()
        .into_inner();
    // The dashboard counts the people waiting.
    let stats = c
        .get_stats(as_dev_admin(pb::GetStatsRequest {
            office_code: "BOGOR".into(),
            from: DAY.into(),
            to: DAY.into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stats.total.unwrap().waitlist, 6);
    assert_eq!(
        (a.position, b.position, d.position, e.position),
        (1, 2, 3, 4)
    );
    assert_eq!(a.state, "WAITING");
    // Joining again is the same place in line.
    let again = c
        .join_waitlist(join("081380000001", 2, 1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((again.entry_id, again.position), (a.entry_id.clone(), 1));

    // The pair's booking is cancelled while promotions run at once: the waiting pair gets
    // both seats, once.
    cancel_and_promote_at_once(&s, &[&booked[0]], &phones[..1]).await;
    let code_a = wait_for_offer(&s, "6281380000001").await;
    assert_eq!(code_a.len(), 6);
    assert_eq!(
        states(&s).await,
        owned([
            ("2", "OFFERED"),
            ("1", "WAITING"),
            ("1", "WAITING"),
            ("2", "WAITING")
        ])
    );
    assert_eq!(s.remaining("BOGOR", DAY, pb::Session::Pagi).await, 0);

    // Both singles cancel at once: the next two singles get a seat each; the pair behind
    // them does not fit and waits.
    cancel_and_promote_at_once(&s, &[&booked[1], &booked[2]], &phones[1..]).await;
    let code_b = wait_for_offer(&s, "6281380000002").await;
    wait_for_offer(&s, "6281380000003").await;
    assert_eq!(
        states(&s).await,
        owned([
            ("2", "OFFERED"),
            ("1", "OFFERED"),
            ("1", "OFFERED"),
            ("2", "WAITING")
        ])
    );
    let pool = s.pool().await;
    let offers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM booking.bookings WHERE idempotency_key LIKE 'waitlist:%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(offers, 3, "no entry offered twice");
    assert_eq!(s.remaining("BOGOR", DAY, pb::Session::Pagi).await, 0);

    // One single confirms with the code it was sent; the others let the offer lapse.
    let held_b: String = sqlx::query_scalar(
        "SELECT booking_id::text FROM booking.waitlist_entries WHERE id = $1::uuid",
    )
    .bind(&b.entry_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    let confirmed = c
        .confirm_booking(pb::ConfirmBookingRequest {
            booking_id: held_b,
            confirmation_code: code_b,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(confirmed.status, pb::BookingStatus::Confirmed as i32);
    s.clock.advance(chrono::Duration::minutes(31));
    s.bookings.sweep().await.unwrap();
    assert_eq!(s.bookings.promote_waitlists().await.unwrap(), 1);
    assert_eq!(
        states(&s).await,
        owned([
            ("2", "PASSED"),
            ("1", "BOOKED"),
            ("1", "PASSED"),
            ("2", "OFFERED")
        ])
    );
    wait_for_offer(&s, "6281380000004").await;
    // Never more than the capacity: one confirmed, two held.
    assert_eq!(s.remaining("BOGOR", DAY, pb::Session::Pagi).await, 1);
    let seats: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM booking.booking_applicants a JOIN booking.bookings b ON b.id = a.booking_id
         WHERE b.office_code = 'BOGOR' AND b.date = '2026-12-01' AND b.session = 'PAGI'
           AND b.status IN ('HELD', 'CONFIRMED')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(seats, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_by_whatsapp_and_the_api_and_taking_an_offer_by_reply() {
    let w = start_with_whatsapp().await;
    let s = &w.system;
    s.quota
        .clone()
        .set_capacity(as_dev_admin(pb::SetCapacityRequest {
            office_code: "BOGOR".into(),
            date: DAY.into(),
            session: pb::Session::Pagi as i32,
            capacity: 1,
        }))
        .await
        .unwrap();
    let first = s
        .book(create(
            "only-seat",
            "BOGOR",
            DAY,
            pb::Session::Pagi,
            "081370000001",
            vec![applicant("", "Pemohon Pertama", "1970-01-01")],
        ))
        .await;

    // A full session: the reply says how to wait.
    let full = w
        .say(
            BOGOR_NUMBER,
            "6281380000011",
            "#Sari Dewi#14021990#01122026#PAGI",
        )
        .await;
    assert!(full.contains("#TUNGGU#NAMA#TGLLAHIR#01122026"), "{full}");
    let joined = w
        .say(
            BOGOR_NUMBER,
            "6281380000011",
            "#TUNGGU#Sari Dewi#14021990#01122026#PAGI",
        )
        .await;
    assert!(
        joined.contains("daftar tunggu") && joined.contains("urutan ke-1"),
        "{joined}"
    );
    let bad = w
        .say(BOGOR_NUMBER, "6281380000011", "#TUNGGU#Sari Dewi#1402")
        .await;
    assert!(bad.contains("Contoh:"), "{bad}");

    // The API, with a verified phone: second in line; the afternoon has room.
    let token = w.contact_token("081380000012").await;
    let http = reqwest::Client::new();
    let body = |session: &str| {
        serde_json::json!({"office_code": "BOGOR", "date": DAY, "session": session,
            "applicants": [{"nik": nik("1988-08-08", 7), "name": "Andi Wijaya",
                            "birth_date": "1988-08-08", "application_type": "NEW"}]})
    };
    let post = |b: serde_json::Value| {
        let (http, url) = (http.clone(), format!("{}/api/v1/waitlist", w.gateway));
        let token = token.clone();
        async move {
            let r = http
                .post(url)
                .bearer_auth(&token)
                .json(&b)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, v) = post(body("PAGI")).await;
    assert_eq!(status, 201, "{v}");
    w.check_response("/api/v1/waitlist", "post", status, &v);
    assert_eq!(v["position"], 2);
    let (status, v) = post(body("SIANG")).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("SEATS_AVAILABLE")),
        "{v}"
    );
    w.check_response("/api/v1/waitlist", "post", status, &v);
    let (status, v) = post(serde_json::json!({"office_code": "BOGOR"})).await;
    assert_eq!(status, 400);
    w.check_response("/api/v1/waitlist", "post", status, &v);

    // The seat comes free: the first in line gets the offer and takes it by replying.
    let before = w.replies_to("6281380000011").len();
    s.booking
        .clone()
        .cancel_booking(pb::CancelBookingRequest {
            booking_code: first.booking_code.clone(),
            contact_phone: "081370000001".into(),
        })
        .await
        .unwrap();
    let code = wait_for_offer(s, "6281380000011").await;
    assert_eq!(w.replies_to("6281380000011").len(), before + 1);
    let confirmed = w.say(BOGOR_NUMBER, "6281380000011", &code).await;
    assert!(
        confirmed.contains("Antrean Anda terkonfirmasi") && confirmed.contains("A-00"),
        "{confirmed}"
    );

    // Once the day is over, whoever still waits is out of line.
    s.clock.set("2026-12-02T00:00:00Z".parse().unwrap());
    s.bookings.promote_waitlists().await.unwrap();
    let pool = s.pool().await;
    let left: Vec<(String, String)> = sqlx::query_as(
        "SELECT state, note FROM booking.waitlist_entries WHERE channel = 'CHANNEL_WEB'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        left,
        [("DROPPED".to_owned(), "tanggal sudah lewat".to_owned())]
    );
}
