//! The console pages by role and office over plain HTTP: who sees what, whose changes take
//! effect where, sign-in, CSRF; and the portal offering the waitlist of a full session.
use antrean_platform::actor::as_dev_admin;
use antrean_proto::v1 as pb;
use antrean_tests::*;

async fn capacity(s: &System, office: &str) -> u32 {
    s.quota
        .clone()
        .get_availability(pb::GetAvailabilityRequest {
            office_code: office.into(),
            from: "2026-12-03".into(),
            to: "2026-12-03".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .days[0]
        .sessions[0]
        .capacity
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_by_role_and_office() {
    let w = start_with_whatsapp().await;
    let s = &w.system;
    let admin = staff::admin(s).await;
    for (user, role, office) in [
        ("petugas.bogor", pb::StaffRole::OfficeStaff, "BOGOR"),
        ("kepala.bogor", pb::StaffRole::OfficeHead, "BOGOR"),
        ("kepala.jakpus", pb::StaffRole::OfficeHead, "JAKPUS"),
    ] {
        staff::create(s, &admin, user, role, office).await;
    }
    // Signed out: sent to sign in.
    let anon = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in ["/petugas", "/petugas/dasbor", "/petugas/dasbor.csv"] {
        let r = anon
            .get(format!("{}{path}", w.gateway))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303, "{path}");
        assert_eq!(r.headers()["location"], "/petugas/masuk");
    }

    let clerk = StaffBrowser::sign_in(&w.gateway, "petugas.bogor").await;
    let head = StaffBrowser::sign_in(&w.gateway, "kepala.bogor").await;
    let other = StaffBrowser::sign_in(&w.gateway, "kepala.jakpus").await;
    let chief = StaffBrowser::sign_in(&w.gateway, &admin.username).await;

    // The console: everyone, on their own office (admins choose); only heads and admins see
    // the capacity forms.
    let (status, page) = clerk.get("/petugas?kantor=JAKPUS").await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"kantor\">BOGOR<") && !page.contains("/petugas/kapasitas"));
    let (_, page) = head.get("/petugas").await;
    assert!(page.contains("/petugas/kapasitas") && page.contains("/petugas/dasbor"));
    let (_, page) = chief.get("/petugas?kantor=JAKPUS").await;
    assert!(page.contains("id=\"kantor\">JAKPUS<"));

    // The dashboard: not for office staff; heads see their own office whatever they ask.
    assert_eq!(clerk.get("/petugas/dasbor").await.0, 403);
    assert_eq!(clerk.get("/petugas/dasbor.csv").await.0, 403);
    let (status, page) = other.get("/petugas/dasbor?kantor=BOGOR").await;
    assert_eq!(status, 200);
    assert!(page.contains("Dasbor JAKPUS"), "{page}");
    let (status, page) = chief.get("/petugas/dasbor?kantor=").await;
    assert_eq!(status, 200);
    assert!(page.contains("Dasbor Nasional"));

    // Capacity: only Bogor's head and admins change Bogor.
    let before = capacity(s, "BOGOR").await;
    let change = [
        ("kantor", "BOGOR"),
        ("tanggal", "2026-12-03"),
        ("sesi", "PAGI"),
        ("kapasitas", "81"),
    ];
    let (_, page) = clerk.post("/petugas/kapasitas", &change).await;
    assert!(page.contains("role=\"alert\""), "{page}");
    let (_, page) = other.post("/petugas/kapasitas", &change).await;
    assert!(page.contains("role=\"status\""));
    assert_eq!(
        capacity(s, "BOGOR").await,
        before,
        "Jakarta's head changed Jakarta, not Bogor"
    );
    assert_eq!(capacity(s, "JAKPUS").await, 81);
    let (_, page) = head.post("/petugas/kapasitas", &change).await;
    assert!(page.contains("menjadi 81"), "{page}");
    assert_eq!(capacity(s, "BOGOR").await, 81);

    // The release rule: heads and admins; the next date then opens at 09:00 office time.
    let rule = [("kantor", "BOGOR"), ("jam", "09:00"), ("jendela", "120")];
    let (_, page) = clerk.post("/petugas/rilis", &rule).await;
    assert!(page.contains("role=\"alert\""), "{page}");
    let (_, page) = head.post("/petugas/rilis", &rule).await;
    assert!(
        page.contains("dibuka pukul 09:00") && page.contains("120 detik"),
        "{page}"
    );
    let next = s
        .quota
        .clone()
        .get_release(pb::GetReleaseRequest {
            office_code: "BOGOR".into(),
            date: "2026-12-31".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let opens = antrean_platform::domain::from_timestamp(next.opens_at.as_ref().unwrap()).unwrap();
    assert_eq!(opens.to_rfc3339(), "2026-12-01T02:00:00+00:00");
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM quota.staff_actions WHERE action = 'SetReleaseRule'",
    )
    .fetch_one(&s.pool().await)
    .await
    .unwrap();
    assert_eq!(audited, 1);
    let (_, page) = head
        .post(
            "/petugas/rilis",
            &[("kantor", "BOGOR"), ("jam", "25:00"), ("jendela", "60")],
        )
        .await;
    assert!(
        page.contains("role=\"alert\"") && page.contains("HH:MM"),
        "{page}"
    );

    // A date closed from the console leaves the JSON API's availability at once, although
    // that answer is reused for a second (AVAILABILITY_MAX_AGE_MS) otherwise.
    let open_on = |body: &serde_json::Value, date: &str| {
        body["days"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["date"] == date)
            .map(|d| d["open"].as_bool().unwrap())
    };
    let availability = || async {
        w.http
            .get(format!(
                "{}/api/v1/offices/BOGOR/availability?from=2026-12-04&to=2026-12-04",
                w.gateway
            ))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    assert_eq!(open_on(&availability().await, "2026-12-04"), Some(true));
    let (_, page) = head
        .post(
            "/petugas/tutup",
            &[
                ("kantor", "BOGOR"),
                ("tanggal", "2026-12-04"),
                ("alasan", "Libur kantor"),
            ],
        )
        .await;
    assert!(page.contains("ditutup"), "{page}");
    assert_eq!(open_on(&availability().await, "2026-12-04"), Some(false));

    // A form without the session's CSRF token changes nothing.
    let r = head
        .http
        .post(format!("{}/petugas/kapasitas", w.gateway))
        .header("cookie", &head.cookie)
        .form(&[
            ("kantor", "BOGOR"),
            ("tanggal", "2026-12-03"),
            ("sesi", "PAGI"),
            ("kapasitas", "5"),
            ("csrf", "0"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(capacity(s, "BOGOR").await, 81);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_offers_the_waitlist_of_a_full_session() {
    let w = start_with_whatsapp().await;
    let s = &w.system;
    s.quota
        .clone()
        .set_capacity(as_dev_admin(pb::SetCapacityRequest {
            office_code: "BOGOR".into(),
            date: "2026-12-01".into(),
            session: pb::Session::Pagi as i32,
            capacity: 0,
        }))
        .await
        .unwrap();
    let form = |wait: bool| {
        let mut f = vec![
            ("key", "portal-wait-1".to_owned()),
            ("tanggal", "2026-12-01".to_owned()),
            ("sesi", "PAGI".to_owned()),
            ("nik_0", nik("1991-06-15", 42)),
            ("name_0", "Rina Kartika".to_owned()),
            ("birth_0", "1991-06-15".to_owned()),
            ("type_0", "NEW".to_owned()),
        ];
        if wait {
            f.push(("tunggu", "ya".to_owned()));
        }
        f
    };
    let http = reqwest::Client::new();
    let url = format!("{}/kantor/BOGOR/pesan", w.gateway);
    // Without a verified phone the form asks for one first.
    let unverified = http
        .post(&url)
        .form(&form(false))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(unverified.contains("Verifikasi nomor HP"), "{unverified}");
    let cookie = format!(
        "antrean_kontak={}; antrean_hp=6281388887777",
        w.contact_token("081388887777").await
    );
    let full = http
        .post(&url)
        .header("cookie", &cookie)
        .form(&form(false))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(full.contains("name=\"tunggu\" value=\"ya\""), "{full}");
    let joined = http
        .post(&url)
        .header("cookie", &cookie)
        .form(&form(true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(joined.contains("Urutan ke-1"), "{joined}");
}
