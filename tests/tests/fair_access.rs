//! Fair access: no seat for an unproven contact, and the limits on verifications and
//! bookings per client network hold across gateway replicas.
use antrean_proto::v1 as pb;
use antrean_tests::*;
use serde_json::{Value, json};
use std::sync::Arc;

const DAY: &str = "2026-12-01";

fn five_people(seed: u32) -> Value {
    let birth = "1990-03-14";
    Value::Array(
        (0..5)
            .map(|i| {
                json!({"nik": nik(birth, seed * 10 + i), "name": format!("Calo Palsu {seed} {i}"),
                       "birth_date": birth, "application_type": "NEW"})
            })
            .collect(),
    )
}

/// The scalper of the report: from one client, 16 bookings of 5 made-up people with random
/// never-verified phones. It takes no seat, over HTTP or straight over gRPC.
#[tokio::test]
async fn a_scalper_with_unverified_phones_takes_no_seat() {
    let w = start_with_whatsapp().await;
    for i in 0..16u32 {
        let phone = format!("0812{:08}", 40_000_000 + i * 7919);
        let r = w
            .http
            .post(format!("{}/api/v1/bookings", w.gateway))
            .header("Idempotency-Key", format!("calo-{i}"))
            // A made-up token is no better than none.
            .bearer_auth(format!("{:064x}", u128::from(i) * 0x9e37_79b9))
            .json(
                &json!({"office_code": "BOGOR", "date": DAY, "session": "PAGI",
                          "contact": {"phone": phone}, "applicants": five_people(i)}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "CONTACT_NOT_VERIFIED");
    }
    // Straight over gRPC, a web or app booking without a token is refused before anything
    // is held; so is a place on the waitlist (its offer would hold seats).
    let s = &w.system;
    for channel in [pb::Channel::Web, pb::Channel::App] {
        let mut req = create(
            "calo-grpc",
            "BOGOR",
            DAY,
            pb::Session::Pagi,
            "081299887766",
            vec![applicant(
                &nik("1990-03-14", 901),
                "Calo Palsu",
                "1990-03-14",
            )],
        );
        req.channel = channel as i32;
        let e = s.booking.clone().create_booking(req).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        assert_eq!(
            antrean_platform::status::reason(&e).as_deref(),
            Some("CONTACT_NOT_VERIFIED")
        );
        let e = s
            .booking
            .clone()
            .join_waitlist(pb::JoinWaitlistRequest {
                office_code: "BOGOR".into(),
                date: DAY.into(),
                session: pb::Session::Pagi as i32,
                contact: Some(pb::ContactInput {
                    phone: "081299887766".into(),
                    ..Default::default()
                }),
                applicants: vec![applicant(&nik("1990-03-14", 902), "Calo", "1990-03-14")],
                channel: channel as i32,
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
    }
    assert_eq!(s.remaining("BOGOR", DAY, pb::Session::Pagi).await, 75);
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM booking.bookings")
        .fetch_one(&s.pool().await)
        .await
        .unwrap();
    assert_eq!(held, 0, "nothing was held or written");
}

/// Two gateway replicas behind a stand-in proxy (loopback trusted for X-Forwarded-For),
/// sharing one Redis.
async fn replicas(w: &WhatsApp, verifications: u32, bookings: u32) -> [String; 2] {
    let mut urls = Vec::new();
    for _ in 0..2 {
        let mut c = w.app.config.clone();
        c.trusted_proxies = "127.0.0.1/32".into();
        c.api_rate_verifications = verifications;
        c.api_rate_bookings = bookings;
        let app = antrean_gateway::build(c, w.system.clock.clone())
            .await
            .unwrap();
        let (listener, addr) = antrean_platform::testing::listener().await;
        tokio::spawn(antrean_gateway::serve(
            Arc::clone(&app),
            listener,
            std::future::pending(),
        ));
        urls.push(format!("http://{addr}"));
    }
    [urls[0].clone(), urls[1].clone()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifications_per_network_are_capped_across_replicas() {
    let w = start_with_whatsapp().await;
    let gateways = replicas(&w, 6, 60).await;
    let mut answers = Vec::new();
    for i in 0..10u32 {
        // Ten clients of one /24, each once, alternating replicas; each a new phone.
        let r = w
            .http
            .post(format!("{}/api/v1/verifications", gateways[i as usize % 2]))
            .header(
                "x-forwarded-for",
                format!("198.51.100.200, 203.0.113.{}", i + 1),
            )
            .json(&json!({"phone": format!("08131111{:04}", i)}))
            .send()
            .await
            .unwrap();
        let retry = r.headers().get("retry-after").cloned();
        answers.push(r.status().as_u16());
        if r.status().as_u16() == 429 {
            let wait: u64 = retry.unwrap().to_str().unwrap().parse().unwrap();
            assert!((1..=3600).contains(&wait), "{wait}");
        }
    }
    assert_eq!(
        answers,
        [202, 202, 202, 202, 202, 202, 429, 429, 429, 429],
        "6 per network per hour, whichever replica answers"
    );
    // Another network is not affected; the spoofed left-most address counted for nothing.
    let r = w
        .http
        .post(format!("{}/api/v1/verifications", gateways[0]))
        .header("x-forwarded-for", "203.0.113.1, 192.0.2.50")
        .json(&json!({"phone": "081311119999"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    // Codes per phone: five an hour.
    let mut per_phone = Vec::new();
    for i in 0..6u32 {
        let r = w
            .http
            .post(format!("{}/api/v1/verifications", gateways[i as usize % 2]))
            .header("x-forwarded-for", format!("10.{i}.0.1"))
            .json(&json!({"phone": "081322223333"}))
            .send()
            .await
            .unwrap();
        per_phone.push(r.status().as_u16());
    }
    assert_eq!(per_phone, [202, 202, 202, 202, 202, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookings_per_network_are_capped_across_replicas() {
    let w = start_with_whatsapp().await;
    let gateways = replicas(&w, 30, 3).await;
    let mut answers = Vec::new();
    for i in 0..5u32 {
        let phone = format!("08134444{:04}", i);
        let token = w.contact_token(&phone).await;
        let birth = "1985-09-09";
        let r = w
            .http
            .post(format!("{}/api/v1/bookings", gateways[i as usize % 2]))
            .header("x-forwarded-for", format!("203.0.113.{}", 10 + i))
            .header("Idempotency-Key", format!("net-{i}"))
            .bearer_auth(token)
            .json(
                &json!({"office_code": "BOGOR", "date": DAY, "session": "PAGI",
                "applicants": [{"nik": nik(birth, 500 + i), "name": "Warga Satu Jaringan",
                                "birth_date": birth, "application_type": "NEW"}]}),
            )
            .send()
            .await
            .unwrap();
        answers.push(r.status().as_u16());
    }
    assert_eq!(answers, [201, 201, 201, 429, 429]);
    assert_eq!(
        w.system.remaining("BOGOR", DAY, pb::Session::Pagi).await,
        72
    );
}
