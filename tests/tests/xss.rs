//! An XSS probe in every form field, query value and name of the portal, the console, the
//! display and the dashboard: wherever it comes back, it comes back as text.
use antrean_proto::v1 as pb;
use antrean_tests::*;

/// Closes an attribute, opens a script and an image with a handler.
const PROBE: &str = "\"'><script>alert(1)</script><img src=x onerror=alert(2)>";

/// The probe as escaped text (askama's escaping).
const ESCAPED: &str =
    "&#34;&#39;&#62;&#60;script&#62;alert(1)&#60;/script&#62;&#60;img src=x onerror=alert(2)&#62;";

/// A probe within a counter's 20 characters.
const COUNTER: &str = "<script>x</script>";
const COUNTER_ESCAPED: &str = "&#60;script&#62;x&#60;/script&#62;";

/// Nothing of the probe is markup: no tag, no attribute closed by it.
fn inert(what: &str, page: &str) {
    for raw in [
        "<script>alert",
        "<img src=x",
        "\"'>",
        "<SCRIPT>ALERT",
        "<IMG SRC=X",
    ] {
        assert!(
            !page.contains(raw),
            "{what}: {raw} came back as markup:\n{page}"
        );
    }
}

/// The probe came back, escaped.
fn echoed(what: &str, page: &str, escaped: &str) {
    inert(what, page);
    assert!(
        page.contains(escaped),
        "{what}: not echoed as text:\n{page}"
    );
}

async fn text(r: reqwest::RequestBuilder) -> (u16, String) {
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_in_every_portal_field_comes_back_as_text() {
    let w = start_with_whatsapp().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let g = &w.gateway;
    let p = PROBE;

    let (_, page) = text(http.get(format!("{g}/")).query(&[("q", p)])).await;
    echoed("search", &page, ESCAPED);
    let (status, page) = text(http.get(format!("{g}/kantor/BOGOR")).query(&[("bulan", p)])).await;
    assert_eq!(status, 400);
    inert("month", &page);
    let (_, page) = text(http.get(format!("{g}/kantor/{}", urlencoded(p)))).await;
    inert("office code", &page);

    // Verification: phone and e-mail are shown again with the error.
    let (_, page) = text(http.post(format!("{g}/verifikasi")).form(&[
        ("lanjut", p),
        ("phone", p),
        ("email", p),
    ]))
    .await;
    echoed("phone", &page, ESCAPED);
    let (_, page) = text(http.post(format!("{g}/verifikasi/konfirmasi")).form(&[
        ("lanjut", p),
        ("id", p),
        ("phone", p),
        ("code", p),
    ]))
    .await;
    inert("confirmation", &page);

    // The booking form: date and session from the query, every applicant field from the post.
    let cookie = format!(
        "antrean_kontak={}; antrean_hp=6281388887777",
        w.contact_token("081388887777").await
    );
    let (_, page) = text(
        http.get(format!("{g}/kantor/BOGOR/pesan"))
            .query(&[("tanggal", p), ("sesi", p)])
            .header("cookie", &cookie),
    )
    .await;
    echoed("date and session", &page, ESCAPED);
    let mut form = vec![
        ("key", p.to_owned()),
        ("tanggal", p.to_owned()),
        ("sesi", p.to_owned()),
    ];
    for i in 0..5 {
        for f in ["nik", "name", "birth", "type"] {
            form.push((Box::leak(format!("{f}_{i}").into_boxed_str()), p.to_owned()));
        }
    }
    let (_, page) = text(
        http.post(format!("{g}/kantor/BOGOR/pesan"))
            .header("cookie", &cookie)
            .form(&form),
    )
    .await;
    echoed("applicants", &page, ESCAPED);
    assert!(
        page.matches(ESCAPED).count() >= 15,
        "every field is shown again:\n{page}"
    );

    // Look-up, rescheduling and cancellation by code and phone.
    let (_, page) = text(
        http.post(format!("{g}/cek"))
            .form(&[("code", p), ("phone", p)]),
    )
    .await;
    inert("look-up", &page);
    let (_, page) = text(
        http.post(format!("{g}/batal"))
            .form(&[("code", p), ("phone", p)]),
    )
    .await;
    inert("cancellation", &page);
    let (_, page) = text(http.post(format!("{g}/ubah")).form(&[
        ("code", p),
        ("phone", p),
        ("date", p),
        ("session", p),
    ]))
    .await;
    inert("reschedule", &page);

    // A real booking whose names carry the characters HTML cares about.
    let booked = w
        .system
        .book(create(
            "xss-proof",
            "BOGOR",
            "2026-12-01",
            pb::Session::Pagi,
            "081377776666",
            vec![applicant(
                &nik("1990-02-03", 7),
                "Ma'ruf Şahin-Öztürk",
                "1990-02-03",
            )],
        ))
        .await;
    let (_, page) = text(http.post(format!("{g}/cek")).form(&[
        ("code", booked.booking_code.as_str()),
        ("phone", "081377776666"),
    ]))
    .await;
    echoed("name", &page, "Ma&#39;ruf Şahin-Öztürk");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_in_every_staff_field_comes_back_as_text() {
    let w = start_with_whatsapp().await;
    let s = &w.system;
    let admin = staff::admin(s).await;
    let g = &w.gateway;
    let p = PROBE;
    let http = reqwest::Client::new();

    let (_, page) = text(
        http.post(format!("{g}/petugas/masuk"))
            .form(&[("username", p), ("password", p)]),
    )
    .await;
    inert("sign-in", &page);

    let chief = StaffBrowser::sign_in(g, &admin.username).await;
    // Feedback an applicant wrote, in the feedback screen, and the office filter.
    w.say(BOGOR_NUMBER, "6281377770001", &format!("#SARAN#{p}"))
        .await;
    let (_, page) = chief.get("/petugas/saran").await;
    echoed("feedback", &page, ESCAPED);
    let (_, page) = chief
        .get(&format!("/petugas/saran?kantor={}", urlencoded(p)))
        .await;
    inert("feedback office", &page);
    // An admin's office comes from the query (upper-cased): shown in the page and its forms.
    let (_, page) = chief
        .get(&format!("/petugas?kantor={}", urlencoded(p)))
        .await;
    inert("office", &page);
    assert!(page.contains("&#60;SCRIPT&#62;ALERT(1)"), "{page}");

    for (path, fields) in [
        ("/petugas/checkin", vec!["kode"]),
        ("/petugas/tutup", vec!["tanggal", "alasan"]),
        (
            "/petugas/hari-khusus",
            vec!["tanggal", "nama", "pagi", "siang"],
        ),
        ("/petugas/kapasitas", vec!["tanggal", "sesi", "kapasitas"]),
        (
            "/petugas/prioritas",
            vec!["tanggal", "sesi", "kuota", "batas"],
        ),
        ("/petugas/konfirmasi-ulang", vec!["wajib", "batas"]),
        ("/petugas/rilis", vec!["jam", "jendela"]),
        ("/petugas/walkin", vec!["hangus"]),
        (
            "/petugas/booking",
            vec!["tanggal", "hp", "email", "nama_0", "nik_0", "lahir_0"],
        ),
    ] {
        let mut form: Vec<(&str, &str)> = fields.iter().map(|f| (*f, p)).collect();
        form.push(("kantor", "BOGOR"));
        let (_, page) = chief.post(path, &form).await;
        inert(path, &page);
    }
    // A special day named with the probe: its name comes back in the answer.
    let (_, page) = chief
        .post(
            "/petugas/hari-khusus",
            &[
                ("kantor", "BOGOR"),
                ("tanggal", "2026-12-05"),
                ("nama", p),
                ("pagi", "10"),
                ("siang", "0"),
            ],
        )
        .await;
    inert("special day", &page);
    // A walk-in named with the probe, called at a counter named with it: the console and the
    // public display show both.
    let (_, page) = chief
        .post(
            "/petugas/prioritas",
            &[
                ("kantor", "BOGOR"),
                ("tanggal", "2026-11-30"),
                ("sesi", "PAGI"),
                ("kuota", "5"),
                ("batas", "11:30"),
            ],
        )
        .await;
    assert!(page.contains("role=\"status\""), "{page}");
    let (_, page) = chief
        .post(
            "/petugas/walkin",
            &[
                ("kantor", "BOGOR"),
                ("nama", p),
                ("sesi", "PAGI"),
                ("alasan", "ELDERLY"),
            ],
        )
        .await;
    echoed("walk-in name", &page, ESCAPED);
    let (_, page) = chief
        .post(
            "/petugas/panggil",
            &[("kantor", "BOGOR"), ("loket", COUNTER)],
        )
        .await;
    echoed("walk-in called", &page, ESCAPED);
    assert!(
        !page.contains(COUNTER) && page.contains(COUNTER_ESCAPED),
        "counter: {page}"
    );
    let (_, page) = text(http.get(format!("{g}/layar/BOGOR"))).await;
    assert!(
        !page.contains(COUNTER) && page.contains(COUNTER_ESCAPED),
        "display: {page}"
    );

    let (_, page) = chief
        .get(&format!(
            "/petugas/dasbor?kantor={0}&dari={0}&sampai={0}",
            urlencoded(p)
        ))
        .await;
    inert("dashboard range", &page);
    let (_, page) = chief
        .get(&format!("/petugas/dasbor?kantor={}", urlencoded(p)))
        .await;
    inert("dashboard office", &page);
}

fn urlencoded(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
