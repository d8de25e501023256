//! Per-applicant requirements: each applicant's application type, passport type and age give
//! their own checklist (a child brings the parents' documents), on the booking, the proof and
//! the confirmation e-mail, which carries the proof as a PDF. Lost, damaged and name-change
//! applications are the office's: refused online (gRPC, API, WhatsApp), booked by the help
//! desk.
use antrean_platform::status::{self, Reason};
use antrean_proto::v1 as pb;
use antrean_tests::*;
use serde_json::json;

fn person(
    nik_serial: u32,
    name: &str,
    birth: &str,
    kind: pb::ApplicationType,
) -> pb::ApplicantInput {
    pb::ApplicantInput {
        application_type: kind as i32,
        ..applicant(&nik(birth, nik_serial), name, birth)
    }
}

fn pdf_text(bytes: &[u8], name: &str) -> String {
    let file = std::env::temp_dir().join(format!("antrean-{name}-{}.pdf", std::process::id()));
    std::fs::write(&file, bytes).unwrap();
    let out = std::process::Command::new("pdftotext")
        .args([file.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (poppler-utils; `make test` installs it)");
    assert!(out.status.success());
    let _ = std::fs::remove_file(&file);
    // pdftotext breaks lines where the PDF wrapped them.
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_gets_each_persons_checklist_and_the_proof_pdf_by_email() {
    let s = start().await;
    let phone = "081355520001";
    let mut parent = person(
        1,
        "Sari Wulandari",
        "1985-04-09",
        pb::ApplicationType::Replacement,
    );
    parent.passport_type = pb::PassportType::Electronic as i32;
    // Turns 17 the day after the booking's date: still a child on the day.
    let child = person(2, "Dimas Pratama", "2009-12-02", pb::ApplicationType::New);
    let mut req = create(
        "family-1",
        "BOGOR",
        "2026-12-01",
        pb::Session::Pagi,
        phone,
        vec![parent, child],
    );
    req.channel = pb::Channel::Web as i32;
    req.contact.as_mut().unwrap().contact_token =
        s.contact_token_with_email(phone, "sari@contoh.id").await;
    let b = s.book(req).await;

    let (p, c) = (&b.applicants[0], &b.applicants[1]);
    assert!(!p.minor && c.minor);
    assert_eq!(p.passport_type, pb::PassportType::Electronic as i32);
    assert_eq!(c.passport_type, pb::PassportType::NonElectronic as i32);
    let has =
        |a: &pb::BookingApplicant, item: &str| a.requirements.iter().any(|r| r.contains(item));
    assert!(has(p, "Paspor lama asli") && has(p, "E-paspor") && has(p, "e-KTP asli"));
    assert!(!has(p, "ayah"));
    for item in [
        "e-KTP asli ayah dan ibu",
        "Kartu Keluarga asli",
        "Akta kelahiran anak asli",
        "Paspor ayah atau ibu",
        "Didampingi ayah atau ibu",
    ] {
        assert!(has(c, item), "{item}: {:?}", c.requirements);
    }
    assert!(!has(c, "Paspor lama"));

    // The confirmation e-mail carries the proof of booking as a PDF with both checklists.
    let file = format!(
        "bukti-booking-{}.pdf",
        b.booking_code
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
    );
    let mail = s
        .mail
        .wait_for(&file, std::time::Duration::from_secs(10))
        .await
        .expect("the confirmation e-mail with its PDF");
    assert!(mail.contains("sari@contoh.id"));
    assert!(
        mail.contains("Subject: Booking antrean paspor terkonfirmasi"),
        "{mail}"
    );
    let pdf = antrean_platform::testing::mail_attachment(&mail, &file).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let text = pdf_text(&pdf, "family");
    for needle in [
        b.booking_code.as_str(),
        "Sari Wulandari",
        "Dimas Pratama",
        "Penggantian (habis berlaku atau halaman penuh), Paspor elektronik (e-paspor)",
        "Paspor baru, Paspor biasa (non-elektronik), di bawah 17 tahun",
        "e-KTP asli ayah dan ibu",
        "Paspor lama asli",
    ] {
        assert!(text.contains(needle), "{needle} not in:\n{text}");
    }
    // Sent, the attachment is gone from the outbox with the rest of its personal data.
    let pool = s.pool().await;
    let mut left = Some(0i64);
    for _ in 0..100 {
        left = sqlx::query_scalar(
            "SELECT count(*) FROM notification.outbox WHERE attachment IS NOT NULL",
        )
        .fetch_one(&pool)
        .await
        .ok();
        if left == Some(0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(left, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_damaged_and_name_change_are_the_office_help_desks() {
    let w = start_with_whatsapp().await;
    let s = &w.system;
    let phone = "081355520002";
    let token = s.contact_token(phone).await;

    // gRPC: refused for every online channel, naming each applicant concerned.
    for (i, kind) in [
        pb::ApplicationType::Lost,
        pb::ApplicationType::Damaged,
        pb::ApplicationType::NameChange,
    ]
    .into_iter()
    .enumerate()
    {
        let mut req = create(
            &format!("lost-{i}"),
            "BOGOR",
            "2026-12-01",
            pb::Session::Pagi,
            phone,
            vec![
                person(1, "Budi Santoso", "1987-01-25", pb::ApplicationType::New),
                person(2, "Ani Santoso", "1990-02-03", kind),
            ],
        );
        req.channel = pb::Channel::Web as i32;
        req.contact.as_mut().unwrap().contact_token = token.clone();
        let e = s.booking.clone().create_booking(req).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::FailedPrecondition);
        assert_eq!(status::reason_of(&e), Some(Reason::OfficeOnly));
        assert!(e.message().contains("hanya dilayani langsung di kantor"));
        let fields: Vec<String> = status::violations(&e)
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["applicants[1].application_type"]);
    }
    // Nor may they wait for an online seat.
    let e = s
        .booking
        .clone()
        .join_waitlist(pb::JoinWaitlistRequest {
            office_code: "BOGOR".into(),
            date: "2026-12-01".into(),
            session: pb::Session::Pagi as i32,
            contact: Some(pb::ContactInput {
                contact_token: token.clone(),
                ..Default::default()
            }),
            applicants: vec![person(
                4,
                "Dedi Kurnia",
                "1979-03-04",
                pb::ApplicationType::Damaged,
            )],
            channel: pb::Channel::Web as i32,
        })
        .await
        .unwrap_err();
    assert_eq!(status::reason_of(&e), Some(Reason::OfficeOnly));
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM booking.bookings")
        .fetch_one(&s.pool().await)
        .await
        .unwrap();
    assert_eq!(held, 0, "nothing held");

    // The API: 409 OFFICE_ONLY with the field; a bad passport type is a field error.
    let bearer = format!("Bearer {}", w.contact_token(phone).await);
    let post = |body: serde_json::Value, key: &'static str| {
        w.http
            .post(format!("{}/api/v1/bookings", w.gateway))
            .header("Authorization", bearer.clone())
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let body = |kind: &str, passport: &str| {
        json!({"office_code": "BOGOR", "date": "2026-12-01", "session": "PAGI", "applicants": [
            {"nik": nik("1987-01-25", 1), "name": "Budi Santoso", "birth_date": "1987-01-25",
             "application_type": kind, "passport_type": passport}]})
    };
    let r = post(body("LOST", "ELECTRONIC"), "api-lost").await.unwrap();
    let status_code = r.status().as_u16();
    let e: serde_json::Value = r.json().await.unwrap();
    w.check_response("/api/v1/bookings", "post", status_code, &e);
    assert_eq!(
        (status_code, e["error"]["code"].as_str()),
        (409, Some("OFFICE_ONLY"))
    );
    assert!(e["error"]["fields"]["applicants[0].application_type"].is_string());
    let r = post(body("NEW", "CHIP"), "api-chip").await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let e: serde_json::Value = r.json().await.unwrap();
    assert!(
        e["error"]["fields"]["applicants[0].passport_type"].is_string(),
        "{e}"
    );
    // A booking the API takes shows each applicant's passport type and checklist.
    let r = post(body("REPLACEMENT", "ELECTRONIC"), "api-ok")
        .await
        .unwrap();
    let status_code = r.status().as_u16();
    let b: serde_json::Value = r.json().await.unwrap();
    w.check_response("/api/v1/bookings", "post", status_code, &b);
    assert_eq!(status_code, 201, "{b}");
    let a = &b["applicants"][0];
    assert_eq!(a["passport_type"], "ELECTRONIC");
    assert_eq!(a["minor"], false);
    assert!(
        a["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "Paspor lama asli"),
        "{a}"
    );

    // WhatsApp answers with the reason and the format.
    let reply = w
        .say(
            BOGOR_NUMBER,
            "6281355520003",
            "#Rudi Hartono#02031980#01122026#HILANG",
        )
        .await;
    assert!(
        reply.contains("hanya dilayani langsung di kantor") && reply.contains("#ELEKTRONIK"),
        "{reply}"
    );

    // The help desk books it at the office, with its own checklist.
    let admin = staff::admin(s).await;
    staff::create(
        s,
        &admin,
        "petugas.bogor",
        pb::StaffRole::OfficeStaff,
        "BOGOR",
    )
    .await;
    let clerk = StaffBrowser::sign_in(&w.gateway, "petugas.bogor").await;
    let lost_nik = nik("1975-07-08", 3);
    let (code, page) = clerk
        .post(
            "/petugas/booking",
            &[
                ("kantor", "BOGOR"),
                ("tanggal", "2026-12-02"),
                ("sesi", "PAGI"),
                ("hp", "081355520004"),
                ("nama_0", "Hendra Wijaya"),
                ("nik_0", &lost_nik),
                ("lahir_0", "1975-07-08"),
                ("jenis_0", "LOST"),
                ("paspor_0", "ELECTRONIC"),
            ],
        )
        .await;
    assert_eq!(code, 200);
    assert!(page.contains("A-001 Hendra Wijaya"), "{page}");
    let (kind, passport): (String, String) = sqlx::query_as(
        "SELECT application_type, passport_type FROM booking.booking_applicants
         WHERE name = 'Hendra Wijaya'",
    )
    .fetch_one(&s.pool().await)
    .await
    .unwrap();
    assert_eq!(
        (kind.as_str(), passport.as_str()),
        ("APPLICATION_TYPE_LOST", "ELECTRONIC")
    );
}
