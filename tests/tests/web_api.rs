//! The JSON API: every endpoint and error, each response checked against the OpenAPI
//! document, and one quota shared with WhatsApp.
use antrean_proto::v1 as pb;
use antrean_tests::*;
use chrono::Duration;
use serde_json::{Value, json};

const PHONE: &str = "081234567890";

struct Api {
    w: WhatsApp,
    /// `Bearer <contact token>` of PHONE, verified through the API.
    bearer: String,
}

async fn api() -> Api {
    let w = start_with_whatsapp().await;
    let bearer = format!("Bearer {}", w.contact_token(PHONE).await);
    Api { w, bearer }
}

impl Api {
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let url = format!("{}{path}", self.w.gateway);
        let mut req = match method {
            "get" => self.w.http.get(url),
            _ => self.w.http.post(url),
        };
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let h = r.headers().clone();
        let v = r.json().await.unwrap_or(Value::Null);
        (status, v, h)
    }

    /// Calls and checks the answer against the document.
    async fn checked(
        &self,
        method: &str,
        doc_path: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let (s, v, _) = self.call(method, path, body, headers).await;
        self.w.check_response(doc_path, method, s, &v);
        (s, v)
    }
}

fn booking(office: &str, date: &str, session: &str, applicants: Value) -> Value {
    json!({"office_code": office, "date": date, "session": session, "applicants": applicants})
}

fn budi() -> Value {
    json!({"nik": nik("1987-01-25", 1), "name": "Budi Santoso", "birth_date": "1987-01-25", "application_type": "NEW"})
}

const CREATE: &str = "/api/v1/bookings";
const VERIFY: &str = "/api/v1/verifications";
const VERIFY_CONFIRM: &str = "/api/v1/verifications/{verification_id}/confirm";
const GET: &str = "/api/v1/bookings/{booking_code}";
const CANCEL: &str = "/api/v1/bookings/{booking_code}/cancel";
const AVAIL: &str = "/api/v1/offices/{code}/availability";

#[tokio::test]
async fn book_confirm_look_up_and_cancel_on_the_web() {
    let api = api().await;
    let (s, offices) = api
        .checked("get", "/api/v1/offices", "/api/v1/offices", None, &[])
        .await;
    assert_eq!(s, 200);
    assert!(offices.as_array().unwrap().len() >= 30);

    let (s, avail) = api
        .checked(
            "get",
            AVAIL,
            "/api/v1/offices/bogor/availability?from=2026-12-01&to=2026-12-07",
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(avail["days"].as_array().unwrap().len(), 7);
    assert_eq!(
        avail["days"][0]["sessions"][0],
        json!({"session": "PAGI", "capacity": 75, "remaining": 75, "start": "08:00", "end": "12:00"})
    );
    assert_eq!(avail["days"][4]["closed_reason"], "WEEKEND");

    let body = booking(
        "BOGOR",
        "2026-12-01",
        "PAGI",
        json!([budi(),
        {"nik": nik("2015-06-01", 2), "name": "Ani Santoso", "birth_date": "2015-06-01", "application_type": "NEW"}]),
    );
    // Without a contact token nothing is held: 401 CONTACT_NOT_VERIFIED.
    let (s, e) = api
        .checked(
            "post",
            CREATE,
            CREATE,
            Some(body.clone()),
            &[("Idempotency-Key", "web-0")],
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (401, Some("CONTACT_NOT_VERIFIED"))
    );
    let (s, e) = api
        .checked(
            "post",
            CREATE,
            CREATE,
            Some(body.clone()),
            &[
                ("Idempotency-Key", "web-0"),
                ("Authorization", "Bearer 00ff"),
            ],
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (401, Some("CONTACT_NOT_VERIFIED"))
    );
    assert_eq!(
        api.w
            .system
            .remaining("BOGOR", "2026-12-01", pb::Session::Pagi)
            .await,
        75
    );
    // With the verified phone's token the booking is confirmed in one step.
    let (s, b) = api
        .checked(
            "post",
            CREATE,
            CREATE,
            Some(body.clone()),
            &[
                ("Authorization", api.bearer.as_str()),
                ("Idempotency-Key", "web-1"),
            ],
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["status"], "CONFIRMED");
    assert_eq!(b["contact"]["phone_masked"], "+62812****7890");
    // A replay answers the same booking.
    let (s, again) = api
        .checked(
            "post",
            CREATE,
            CREATE,
            Some(body.clone()),
            &[
                ("Authorization", api.bearer.as_str()),
                ("Idempotency-Key", "web-1"),
            ],
        )
        .await;
    assert_eq!((s, &again["booking_code"]), (201, &b["booking_code"]));
    let mut other = body.clone();
    other["session"] = json!("SIANG");
    let (s, e) = api
        .checked(
            "post",
            CREATE,
            CREATE,
            Some(other),
            &[
                ("Authorization", api.bearer.as_str()),
                ("Idempotency-Key", "web-1"),
            ],
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("IDEMPOTENCY_KEY_REUSED"))
    );
    assert_eq!(b["applicants"][1]["queue_number"], "A-002");
    assert_eq!(
        b["applicants"][0]["scheduled_at"],
        "2026-12-01T08:00:00+07:00"
    );
    assert_eq!(b["applicants"][0]["arrive_by"], "2026-12-01T07:30:00+07:00");
    let booking_code = b["booking_code"].as_str().unwrap().to_owned();

    let get_path = |phone: &str| format!("/api/v1/bookings/{booking_code}?phone={phone}");
    let (s, got) = api
        .checked("get", GET, &get_path("%2B6281234567890"), None, &[])
        .await;
    assert_eq!((s, &got["booking_id"]), (200, &b["booking_id"]));
    let (s, e) = api
        .checked("get", GET, &get_path("081299990000"), None, &[])
        .await;
    assert_eq!((s, e["error"]["code"].as_str()), (404, Some("NOT_FOUND")));
    let (s, _) = api
        .checked(
            "get",
            GET,
            "/api/v1/bookings/NOT-A-CODE?phone=081234567890",
            None,
            &[],
        )
        .await;
    assert_eq!(s, 404, "a malformed code answers like an unknown one");
    let (s, e) = api
        .checked(
            "get",
            GET,
            &format!("/api/v1/bookings/{booking_code}"),
            None,
            &[],
        )
        .await;
    assert_eq!((s, e["error"]["fields"]["phone"].is_string()), (400, true));

    assert_eq!(
        api.w
            .system
            .remaining("BOGOR", "2026-12-01", pb::Session::Pagi)
            .await,
        73
    );
    let cancel_path = format!("/api/v1/bookings/{booking_code}/cancel");
    let (s, c) = api
        .checked(
            "post",
            CANCEL,
            &cancel_path,
            Some(json!({"phone": PHONE})),
            &[],
        )
        .await;
    assert_eq!((s, c["status"].as_str()), (200, Some("CANCELLED")));
    assert_eq!(
        api.w
            .system
            .remaining("BOGOR", "2026-12-01", pb::Session::Pagi)
            .await,
        75
    );
}

#[tokio::test]
async fn validation_and_conflicts_answer_with_codes_and_fields() {
    let api = api().await;
    let (s, e) = api
        .checked(
            "post",
            CREATE,
            CREATE,
            Some(json!({"session": "MALAM", "applicants": [{"nik": "", "application_type": "X"}]})),
            &[("Authorization", api.bearer.as_str())],
        )
        .await;
    assert_eq!(s, 400);
    let fields = e["error"]["fields"].as_object().unwrap();
    for f in [
        "Idempotency-Key",
        "office_code",
        "date",
        "session",
        "applicants[0].nik",
        "applicants[0].application_type",
    ] {
        assert!(fields.contains_key(f), "{f} in {fields:?}");
    }
    // Identity's field errors come through too, in English on request.
    let mut bad = booking("BOGOR", "2026-12-01", "PAGI", json!([budi()]));
    bad["applicants"][0]["birth_date"] = json!("1987-01-26");
    let (s, e) = api
        .checked(
            "post",
            CREATE,
            CREATE,
            Some(bad),
            &[
                ("Authorization", api.bearer.as_str()),
                ("Authorization", api.bearer.as_str()),
                ("Idempotency-Key", "v1"),
                ("Accept-Language", "en"),
            ],
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["message"], "Some fields are invalid.");
    assert_eq!(
        e["error"]["fields"]["applicants[0].nik"],
        "the birth date does not match the NIK"
    );
    let (s, e) = api
        .checked(
            "post",
            CREATE,
            CREATE,
            Some(json!("not an object")),
            &[
                ("Authorization", api.bearer.as_str()),
                ("Idempotency-Key", "v2"),
            ],
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("INVALID_JSON"))
    );
    // A closed date is a field error.
    let (s, e) = api
        .checked(
            "post",
            CREATE,
            CREATE,
            Some(booking("BOGOR", "2026-12-05", "PAGI", json!([budi()]))),
            &[
                ("Authorization", api.bearer.as_str()),
                ("Idempotency-Key", "v3"),
            ],
        )
        .await;
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("DATE_CLOSED")));
    assert!(
        e["error"]["fields"]["date"]
            .as_str()
            .unwrap()
            .contains("Sabtu")
    );
    let (s, _) = api
        .checked(
            "get",
            AVAIL,
            "/api/v1/offices/NOWHERE/availability",
            None,
            &[],
        )
        .await;
    assert_eq!(s, 404);
    let (s, e) = api
        .checked(
            "get",
            AVAIL,
            "/api/v1/offices/BOGOR/availability?from=1-12-2026",
            None,
            &[],
        )
        .await;
    assert_eq!((s, e["error"]["fields"]["from"].is_string()), (400, true));

    // Sold out: 409 with the next dates, in English on request.
    api.w
        .system
        .quota
        .clone()
        .set_capacity(antrean_platform::actor::as_dev_admin(
            pb::SetCapacityRequest {
                office_code: "BOGOR".into(),
                date: "2026-12-02".into(),
                session: pb::Session::Pagi as i32,
                capacity: 0,
            },
        ))
        .await
        .unwrap();
    let (s, e) = api
        .checked(
            "post",
            CREATE,
            CREATE,
            Some(booking("BOGOR", "2026-12-02", "PAGI", json!([budi()]))),
            &[
                ("Authorization", api.bearer.as_str()),
                ("Idempotency-Key", "v4"),
                ("Accept-Language", "en-US,en;q=0.9"),
            ],
        )
        .await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("SOLD_OUT")));
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Not enough seats")
    );
    assert_eq!(e["error"]["details"]["next_dates"][0], "2026-12-01");
    assert_eq!(e["error"]["details"]["remaining"], 0);

    // Already booked, then the phone's limit.
    let (s, _) = api
        .checked(
            "post",
            CREATE,
            CREATE,
            Some(booking("BOGOR", "2026-12-01", "PAGI", json!([budi()]))),
            &[
                ("Authorization", api.bearer.as_str()),
                ("Idempotency-Key", "v5"),
            ],
        )
        .await;
    assert_eq!(s, 201);
    let (s, e) = api
        .checked(
            "post",
            CREATE,
            CREATE,
            Some(booking("JAKPUS", "2026-12-03", "PAGI", json!([budi()]))),
            &[
                ("Authorization", api.bearer.as_str()),
                ("Idempotency-Key", "v6"),
            ],
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("ALREADY_BOOKED"))
    );
    let family: Vec<Value> = (2..7)
        .map(|i| json!({"nik": nik("2010-01-01", i), "name": format!("Anak {}", ["A","B","C","D","E","F","G"][i as usize]), "birth_date": "2010-01-01", "application_type": "NEW"}))
        .collect();
    let (s, e) = api
        .checked(
            "post",
            CREATE,
            CREATE,
            Some(booking("JAKPUS", "2026-12-03", "PAGI", json!(family))),
            &[
                ("Authorization", api.bearer.as_str()),
                ("Idempotency-Key", "v7"),
            ],
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("LIMIT_REACHED")),
        "{e}"
    );
}

#[tokio::test]
async fn a_phone_is_verified_by_a_code_sent_as_an_authentication_template() {
    let api = api().await;
    let (s, e) = api
        .checked("post", VERIFY, VERIFY, Some(json!({"phone": "12"})), &[])
        .await;
    assert_eq!((s, e["error"]["fields"]["phone"].is_string()), (400, true));
    let digits = "6281377776666";
    let before = api.w.cloud_api.messages_to(digits).len();
    let (s, v) = api
        .checked(
            "post",
            VERIFY,
            VERIFY,
            Some(json!({"phone": "0813-7777-6666", "email": "rina@contoh.id"})),
            &[],
        )
        .await;
    assert_eq!(s, 202, "{v}");
    assert!(v.get("code").is_none(), "the code never reaches the client");
    let code = api.w.verification_code(digits, before).await;
    // From the national number, as the approved authentication template (the sandbox
    // refuses anything else to a phone that never wrote).
    let sent = api.w.cloud_api.messages_to(digits);
    assert_eq!(sent[before].phone_number_id, NATIONAL_NUMBER);
    // ... and by e-mail.
    let emails: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notification.outbox WHERE channel = 'EMAIL' AND template = 'verification_code'",
    )
    .fetch_one(&api.w.system.pool().await)
    .await
    .unwrap();
    assert_eq!(emails, 1);
    let path = format!(
        "/api/v1/verifications/{}/confirm",
        v["verification_id"].as_str().unwrap()
    );
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (s, e) = api
        .checked(
            "post",
            VERIFY_CONFIRM,
            &path,
            Some(json!({"code": wrong})),
            &[],
        )
        .await;
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("WRONG_CODE")));
    assert_eq!(e["error"]["details"]["attempts_left"], 4);
    let (s, proof) = api
        .checked(
            "post",
            VERIFY_CONFIRM,
            &path,
            Some(json!({"code": code})),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{proof}");
    let token = proof["contact_token"].as_str().unwrap().to_owned();
    // The token books for its own phone, whatever the body says.
    let mut body = booking("BOGOR", "2026-12-01", "PAGI", json!([budi()]));
    body["contact"] = json!({"phone": PHONE});
    let (s, b) = api
        .checked(
            "post",
            CREATE,
            CREATE,
            Some(body),
            &[
                ("Authorization", &format!("Bearer {token}")),
                ("Idempotency-Key", "rina-1"),
            ],
        )
        .await;
    assert_eq!(
        (s, b["contact"]["phone_masked"].as_str()),
        (201, Some("+62813****6666"))
    );
    let (s, _) = api
        .checked(
            "post",
            VERIFY_CONFIRM,
            "/api/v1/verifications/nope/confirm",
            Some(json!({"code": code})),
            &[],
        )
        .await;
    assert_eq!(s, 404);

    // Five wrong codes end a verification; the right code no longer helps.
    let before = api.w.cloud_api.messages_to(digits).len();
    let (_, v) = api
        .checked("post", VERIFY, VERIFY, Some(json!({"phone": digits})), &[])
        .await;
    let code = api.w.verification_code(digits, before).await;
    let path = format!(
        "/api/v1/verifications/{}/confirm",
        v["verification_id"].as_str().unwrap()
    );
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in (0..4).rev() {
        let (s, e) = api
            .checked(
                "post",
                VERIFY_CONFIRM,
                &path,
                Some(json!({"code": wrong})),
                &[],
            )
            .await;
        assert_eq!(
            (s, e["error"]["details"]["attempts_left"].as_u64()),
            (400, Some(left + 1))
        );
    }
    let (s, e) = api
        .checked(
            "post",
            VERIFY_CONFIRM,
            &path,
            Some(json!({"code": wrong})),
            &[],
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (410, Some("VERIFICATION_ENDED"))
    );
    let (s, _) = api
        .checked(
            "post",
            VERIFY_CONFIRM,
            &path,
            Some(json!({"code": code})),
            &[],
        )
        .await;
    assert_eq!(s, 410);
}

#[tokio::test]
async fn codes_lapse_after_10_minutes_and_tokens_after_30() {
    let api = api().await;
    let digits = "6281377776666";
    // A code lapses after 10 minutes, a token after 30: then nothing is held.
    let before = api.w.cloud_api.messages_to(digits).len();
    let (_, v) = api
        .checked("post", VERIFY, VERIFY, Some(json!({"phone": digits})), &[])
        .await;
    let code = api.w.verification_code(digits, before).await;
    api.w.system.clock.advance(Duration::minutes(11));
    let path = format!(
        "/api/v1/verifications/{}/confirm",
        v["verification_id"].as_str().unwrap()
    );
    let (s, e) = api
        .checked(
            "post",
            VERIFY_CONFIRM,
            &path,
            Some(json!({"code": code})),
            &[],
        )
        .await;
    assert_eq!((s, e["error"]["code"].as_str()), (410, Some("EXPIRED")));
    api.w.system.clock.advance(Duration::minutes(20));
    let (s, e) = api
        .checked(
            "post",
            CREATE,
            CREATE,
            Some(booking("BOGOR", "2026-12-01", "SIANG", json!([budi()]))),
            &[
                ("Authorization", api.bearer.as_str()),
                ("Idempotency-Key", "late-1"),
            ],
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (401, Some("CONTACT_NOT_VERIFIED"))
    );
    assert_eq!(
        api.w
            .system
            .remaining("BOGOR", "2026-12-01", pb::Session::Siang)
            .await,
        75
    );
}

#[tokio::test]
async fn booking_code_lookups_are_rate_limited() {
    let api = api().await;
    let mut limited = None;
    for _ in 0..25 {
        let (s, v, h) = api
            .call(
                "get",
                "/api/v1/bookings/7K3M-9QX2-HT4R-D?phone=081234567890",
                None,
                &[],
            )
            .await;
        if s == 429 {
            api.w.check_response(GET, "get", 429, &v);
            limited = h.get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            break;
        }
        assert_eq!(s, 404);
    }
    let wait: u64 = limited.expect("no 429 after 25 look-ups").parse().unwrap();
    assert!((1..=10).contains(&wait));
}

#[tokio::test]
async fn one_quota_for_whatsapp_and_the_web() {
    let api = api().await;
    // Booked on WhatsApp ...
    let held = api
        .w
        .say(
            BOGOR_NUMBER,
            "6281234567890",
            "#Siti Aminah#02051990#01122026#PAGI",
        )
        .await;
    let code = held
        .lines()
        .find_map(|l| l.strip_prefix("Kode konfirmasi: "))
        .unwrap()
        .trim()
        .to_owned();
    let confirmed = api.w.say(BOGOR_NUMBER, "6281234567890", &code).await;
    let booking_code = confirmed
        .lines()
        .find_map(|l| l.strip_prefix("Kode booking: "))
        .unwrap()
        .trim()
        .to_owned();
    // ... shows at once in the web's availability, and is looked up and cancelled on the web.
    let (_, avail) = api
        .checked(
            "get",
            AVAIL,
            "/api/v1/offices/BOGOR/availability?from=2026-12-01&to=2026-12-01",
            None,
            &[],
        )
        .await;
    assert_eq!(avail["days"][0]["sessions"][0]["remaining"], 74);
    let (s, b) = api
        .checked(
            "get",
            GET,
            &format!("/api/v1/bookings/{booking_code}?phone={PHONE}"),
            None,
            &[],
        )
        .await;
    assert_eq!(
        (s, b["applicants"][0]["name"].as_str()),
        (200, Some("Siti Aminah"))
    );
    let (s, _) = api
        .checked(
            "post",
            CANCEL,
            &format!("/api/v1/bookings/{booking_code}/cancel"),
            Some(json!({"phone": PHONE})),
            &[],
        )
        .await;
    assert_eq!(s, 200);
    let (_, avail) = api
        .checked(
            "get",
            AVAIL,
            "/api/v1/offices/BOGOR/availability?from=2026-12-01&to=2026-12-01",
            None,
            &[],
        )
        .await;
    assert_eq!(avail["days"][0]["sessions"][0]["remaining"], 75);
    // And the other way round: booked on the web, seen on WhatsApp.
    let (_, b) = api
        .checked(
            "post",
            CREATE,
            CREATE,
            Some(booking("BOGOR", "2026-12-01", "PAGI", json!([budi()]))),
            &[
                ("Authorization", api.bearer.as_str()),
                ("Idempotency-Key", "o1"),
            ],
        )
        .await;
    let status = api
        .w
        .say(
            BOGOR_NUMBER,
            "6281234567890",
            &format!("#STATUS#{}", b["booking_code"].as_str().unwrap()),
        )
        .await;
    assert!(status.contains("terkonfirmasi"), "{status}");
}

#[tokio::test]
async fn the_openapi_document_describes_every_path() {
    let api = api().await;
    let (s, doc, _) = api.call("get", "/api/v1/openapi.json", None, &[]).await;
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    for p in [
        "/api/v1/offices",
        "/api/v1/draws/{office_code}/{date}",
        AVAIL,
        CREATE,
        VERIFY,
        VERIFY_CONFIRM,
        GET,
        CANCEL,
        "/api/v1/bookings/{booking_code}/proof.pdf",
        "/api/v1/bookings/{booking_code}/qr.svg",
    ] {
        assert!(doc["paths"][p].is_object(), "{p}");
    }
    // A real validator agrees (openapi-spec-validator, installed by make test).
    let file = std::env::temp_dir().join(format!("antrean-openapi-{}.json", std::process::id()));
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Every $ref resolves.
    let text = doc.to_string();
    for r in text.split("\"$ref\":\"").skip(1) {
        let r = &r[..r.find('"').unwrap()];
        let mut t = &doc;
        for part in r.trim_start_matches("#/").split('/') {
            t = &t[part];
        }
        assert!(t.is_object(), "{r} does not resolve");
    }
}

#[tokio::test]
async fn proofs_need_the_right_phone() {
    let api = api().await;
    let (_, b) = api
        .checked(
            "post",
            CREATE,
            CREATE,
            Some(booking("BOGOR", "2026-12-01", "PAGI", json!([budi()]))),
            &[
                ("Authorization", api.bearer.as_str()),
                ("Idempotency-Key", "p1"),
            ],
        )
        .await;
    let booking_code = b["booking_code"].as_str().unwrap();
    for (file, kind, magic) in [
        ("proof.pdf", "application/pdf", "%PDF-"),
        ("qr.svg", "image/svg+xml", "<?xml"),
    ] {
        let url = format!("{}/api/v1/bookings/{booking_code}/{file}", api.w.gateway);
        let ok = api
            .w
            .http
            .get(format!("{url}?phone={PHONE}"))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status().as_u16(), 200);
        assert_eq!(ok.headers()["content-type"], kind);
        let bytes = ok.bytes().await.unwrap();
        assert!(bytes.starts_with(magic.as_bytes()), "{file}");
        let wrong = api
            .w
            .http
            .get(format!("{url}?phone=081299990000"))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status().as_u16(), 404);
    }
}

#[tokio::test]
async fn a_dependency_that_is_down_answers_503() {
    let s = start().await;
    // A gateway whose quota and booking services are unreachable.
    let gc = antrean_gateway::GatewayConfig::for_tests(
        s.database_url.clone(),
        s.identity_url.clone(),
        "http://127.0.0.1:9".into(),
        "http://127.0.0.1:9".into(),
        s.notification_url.clone(),
    );
    let app = antrean_gateway::build(gc, s.clock.clone()).await.unwrap();
    let (listener, addr) = antrean_platform::testing::listener().await;
    tokio::spawn(antrean_gateway::serve(
        app,
        listener,
        std::future::pending(),
    ));
    let http = reqwest::Client::new();
    let r = http
        .get(format!("http://{addr}/api/v1/offices"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "UNAVAILABLE");
    let r = http
        .post(format!("http://{addr}/api/v1/bookings"))
        .header("Idempotency-Key", "down-1")
        .bearer_auth("00".repeat(32))
        .header("Accept-Language", "en")
        .json(&booking("BOGOR", "2026-12-01", "PAGI", json!([budi()])))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("temporarily unavailable")
    );
}

#[tokio::test]
async fn inputs_that_panicked_a_task_are_answered() {
    let api = api().await;
    // A code ending in a letter of two bytes: the booking service cut it mid-letter.
    let (s, e, _) = api
        .call(
            "get",
            "/api/v1/bookings/AAAAAAAAAAA%C3%A9?phone=081234567890",
            None,
            &[],
        )
        .await;
    assert_eq!((s, e["error"]["code"].as_str()), (404, Some("NOT_FOUND")));
    // Months at the ends of chrono's range: the portal dropped the connection.
    for month in ["-262143-01", "%2B262142-12"] {
        let r = api
            .w
            .http
            .get(format!("{}/kantor/BOGOR?bulan={month}", api.w.gateway))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{month}");
        let page = r.text().await.unwrap();
        assert!(page.contains("Bulan tidak valid") && page.contains("table class=\"calendar\""));
    }
}
