//! The identity service against a real PostgreSQL: validation, encryption at rest, the
//! no-show rule.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]
use antrean_identity::IdentityConfig;
use antrean_platform::clock::ManualClock;
use antrean_platform::grpc::{ServeOptions, serve};
use antrean_platform::{status, testing};
use antrean_proto::v1 as pb;
use antrean_proto::v1::identity_service_client::IdentityServiceClient;
use chrono::Duration;
use std::sync::Arc;
use tonic::Code;
use tonic::transport::Channel;

struct T {
    client: IdentityServiceClient<Channel>,
    clock: Arc<ManualClock>,
    db: String,
}

async fn start() -> T {
    antrean_platform::telemetry::init_for_tests();
    let config = IdentityConfig::for_tests(testing::fresh_database_url());
    let clock = ManualClock::new("2026-11-30T03:00:00Z".parse().unwrap());
    let svc = antrean_identity::build(&config, clock.clone())
        .await
        .unwrap();
    let (listener, addr) = testing::listener().await;
    tokio::spawn(serve(
        listener,
        svc.into_server(),
        ServeOptions::default(),
        std::future::pending(),
    ));
    T {
        client: IdentityServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap(),
        clock,
        db: config.database_url,
    }
}

fn applicant(nik: &str, name: &str, birth: &str) -> pb::ApplicantInput {
    pb::ApplicantInput {
        nik: nik.into(),
        name: name.into(),
        birth_date: birth.into(),
        application_type: pb::ApplicationType::New as i32,
        passport_type: pb::PassportType::NonElectronic as i32,
    }
}

fn request(phone: &str, applicants: Vec<pb::ApplicantInput>) -> pb::ResolveApplicantsRequest {
    pb::ResolveApplicantsRequest {
        contact: Some(pb::ContactInput {
            phone: phone.into(),
            email: "budi@contoh.id".into(),
            whatsapp_user_id: String::new(),
            contact_token: String::new(),
        }),
        applicants,
    }
}

#[tokio::test]
async fn pii_is_encrypted_at_rest_and_found_by_keyed_hash() {
    let t = start().await;
    let mut c = t.client.clone();
    let a = c
        .resolve_applicants(request(
            "0812-3456-7890",
            vec![
                applicant("3201012501870001", "Budi Santoso", "1987-01-25"),
                applicant("", "Siti Aminah", "1990-05-02"),
            ],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a.applicants.len(), 2);
    assert!(a.applicants[0].person_key.starts_with("nik:"));
    assert!(a.applicants[1].person_key.starts_with("nb:"));
    let contact = a.contact.unwrap();
    assert_eq!(contact.phone_masked, "+62812****7890");
    // Every phone form finds the same contact; the answer carries no clear phone.
    for form in ["+6281234567890", "6281234567890", "081234567890"] {
        let found = c
            .resolve_contact(pb::ResolveContactRequest {
                phone: form.into(),
                create: false,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(found.contact_id, contact.contact_id);
        assert!(found.phone.is_empty());
    }
    let full = c
        .get_contact(pb::GetContactRequest {
            contact_id: contact.contact_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(full.phone, "+6281234567890");
    assert_eq!(full.email, "budi@contoh.id");
    // Same person again: same applicant.
    let again = c
        .resolve_applicants(request(
            "081234567890",
            vec![applicant("3201012501870001", "BUDI SANTOSO", "1987-01-25")],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        again.applicants[0].applicant_id,
        a.applicants[0].applicant_id
    );

    // Nothing readable in the tables.
    let pool = sqlx::PgPool::connect(&t.db).await.unwrap();
    let dump: String = sqlx::query_scalar(
        "SELECT string_agg(t::text, ' ') FROM (SELECT * FROM identity.contacts) t",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let dump2: String = sqlx::query_scalar(
        "SELECT string_agg(t::text, ' ') FROM (SELECT * FROM identity.applicants) t",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    for secret in [
        "81234567890",
        "3201012501870001",
        "budi@contoh.id",
        "\\x3332303130",
    ] {
        assert!(
            !dump.contains(secret) && !dump2.contains(secret),
            "{secret} in clear"
        );
    }
}

#[tokio::test]
async fn every_bad_field_is_named() {
    let t = start().await;
    let e = t
        .client
        .clone()
        .resolve_applicants(pb::ResolveApplicantsRequest {
            contact: Some(pb::ContactInput {
                phone: "021-5551234".into(),
                email: "bukan-email".into(),
                whatsapp_user_id: String::new(),
                contact_token: String::new(),
            }),
            applicants: vec![
                applicant("3201012601870001", "Budi", "1987-01-25"),
                applicant("", "X", "2027-01-01"),
                applicant("", "Siti", "1990-02-30"),
            ],
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let v = status::violations(&e);
    let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "contact.phone",
            "contact.email",
            "applicants[0].nik",
            "applicants[1].name",
            "applicants[1].birth_date",
            "applicants[2].birth_date",
        ]
    );
    assert_eq!(v[2].description, "tanggal lahir tidak sesuai dengan NIK");
    assert_eq!(v[4].description, "tanggal lahir tidak boleh di masa depan");

    let e = t
        .client
        .clone()
        .resolve_applicants(request(
            "081234567890",
            vec![
                applicant("", "Budi Santoso", "1987-01-25"),
                applicant("", "budi  santoso", "1987-01-25"),
            ],
        ))
        .await
        .unwrap_err();
    assert_eq!(status::violations(&e)[0].field, "applicants[1]");
    let six = (0..6)
        .map(|i| {
            applicant(
                "",
                &format!("Anak {}", ["A", "B", "C", "D", "E", "F"][i]),
                "2010-01-01",
            )
        })
        .collect();
    let e = t
        .client
        .clone()
        .resolve_applicants(request("081234567890", six))
        .await
        .unwrap_err();
    assert_eq!(status::violations(&e)[0].field, "applicants");
}

#[tokio::test]
async fn two_no_shows_in_ninety_days_block_for_thirty_days() {
    let t = start().await;
    let mut c = t.client.clone();
    let a = c
        .resolve_applicants(request(
            "081234567890",
            vec![applicant("3201012501870001", "Budi Santoso", "1987-01-25")],
        ))
        .await
        .unwrap()
        .into_inner()
        .applicants
        .remove(0);
    let no_show = |booking: &str, date: &str| pb::RecordNoShowRequest {
        applicant_id: a.applicant_id.clone(),
        booking_id: booking.into(),
        date: date.into(),
    };
    let p = c
        .record_no_show(no_show("b1", "2026-09-15"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((p.recent_no_shows, p.blocked_until), (1, None));
    // Recording the same booking twice counts once.
    let p = c
        .record_no_show(no_show("b1", "2026-09-15"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.recent_no_shows, 1);
    let p = c
        .record_no_show(no_show("b2", "2026-11-27"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.recent_no_shows, 2);
    let until = p.blocked_until.unwrap();
    assert_eq!(
        until.seconds,
        "2026-12-30T03:00:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
            .timestamp()
    );
    // The block shows on the next booking attempt, by NIK, whatever the phone.
    let again = c
        .resolve_applicants(request(
            "+628129999000",
            vec![applicant("3201012501870001", "Budi Santoso", "1987-01-25")],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.applicants[0].blocked_until, Some(until));
    t.clock.advance(Duration::days(31));
    let p = c
        .get_penalty(pb::GetPenaltyRequest {
            applicant_id: a.applicant_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.blocked_until, None);
}

#[tokio::test]
async fn no_shows_older_than_the_window_do_not_count() {
    let t = start().await;
    let mut c = t.client.clone();
    let a = c
        .resolve_applicants(request(
            "081234567890",
            vec![applicant("", "Siti Aminah", "1990-05-02")],
        ))
        .await
        .unwrap()
        .into_inner()
        .applicants
        .remove(0);
    for (b, d) in [("old", "2026-08-01"), ("new", "2026-11-20")] {
        c.record_no_show(pb::RecordNoShowRequest {
            applicant_id: a.applicant_id.clone(),
            booking_id: b.into(),
            date: d.into(),
        })
        .await
        .unwrap();
    }
    let p = c
        .get_penalty(pb::GetPenaltyRequest {
            applicant_id: a.applicant_id,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((p.recent_no_shows, p.blocked_until), (1, None));
}

#[tokio::test]
async fn a_contact_token_proves_its_phone_and_nothing_else() {
    let mut t = start().await;
    let v = t
        .client
        .start_verification(pb::StartVerificationRequest {
            phone: "0812-3456-7890".into(),
            email: "budi@contoh.id".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((v.phone.as_str(), v.code.len()), ("+6281234567890", 6));
    // The code is stored only as a keyed hash.
    let pool = sqlx::PgPool::connect(&t.db).await.unwrap();
    let stored: Vec<u8> = sqlx::query_scalar("SELECT code_hash FROM identity.verifications")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains(&v.code));
    let proof = t
        .client
        .confirm_verification(pb::ConfirmVerificationRequest {
            verification_id: v.verification_id.clone(),
            code: v.code.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(proof.contact_token.len(), 64);
    // The token stands for the phone it proved, whatever phone the request names.
    let resolve = |token: String| pb::ResolveApplicantsRequest {
        contact: Some(pb::ContactInput {
            phone: "081299990000".into(),
            contact_token: token,
            ..Default::default()
        }),
        applicants: vec![applicant("3201012501870001", "Budi Santoso", "1987-01-25")],
    };
    let r = t
        .client
        .resolve_applicants(resolve(proof.contact_token.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(r.contact_verified);
    let c = r.contact.unwrap();
    assert_eq!(
        c.email, "budi@contoh.id",
        "a proven contact comes with its e-mail"
    );
    assert_eq!(
        (c.contact_id, c.phone.as_str()),
        (proof.contact_id.clone(), "+6281234567890")
    );
    let got = t
        .client
        .get_contact(pb::GetContactRequest {
            contact_id: proof.contact_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        got.email, "budi@contoh.id",
        "the proven e-mail joins the contact"
    );
    // A made-up or lapsed token proves nothing.
    for token in ["ab".repeat(32), "x".into()] {
        let e = t
            .client
            .resolve_applicants(resolve(token))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated);
        assert_eq!(status::reason(&e).as_deref(), Some("CONTACT_NOT_VERIFIED"));
    }
    t.clock.advance(Duration::minutes(31));
    let e = t
        .client
        .resolve_applicants(resolve(proof.contact_token))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    // A day later the next verification erases the old one.
    t.clock.advance(Duration::days(1));
    t.client
        .start_verification(pb::StartVerificationRequest {
            phone: "081234567890".into(),
            email: String::new(),
        })
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM identity.verifications")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 1);
}
