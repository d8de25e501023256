//! `#SARAN` feedback reaches the office: heads read their office's in the console (admins
//! every office's), mark it handled and answer it once by an approved WhatsApp template;
//! other offices' feedback is out of reach, office staff see none, and both actions are
//! audited. In Chromium with screenshots (`tests/browser/feedback.mjs`).
use antrean_proto::v1 as pb;
use antrean_tests::*;

const SENDER: &str = "6281355504004";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_read_handle_and_answer_their_offices_feedback_once() {
    let w = start_with_whatsapp().await;
    let s = &w.system;
    let admin = staff::admin(s).await;
    staff::create(
        s,
        &admin,
        "kepala.bogor",
        pb::StaffRole::OfficeHead,
        "BOGOR",
    )
    .await;
    staff::create(
        s,
        &admin,
        "petugas.bogor",
        pb::StaffRole::OfficeStaff,
        "BOGOR",
    )
    .await;
    let thanks = w
        .say(
            BOGOR_NUMBER,
            SENDER,
            "#SARAN#Antrean di loket 3 lambat sekali",
        )
        .await;
    assert!(thanks.contains("Terima kasih"), "{thanks}");
    w.say(
        MAKASSAR_NUMBER,
        "6281355504005",
        "#SARAN#Ruang tunggu panas",
    )
    .await;

    let head = StaffBrowser::sign_in(&w.gateway, "kepala.bogor").await;
    let (status, page) = head.get("/petugas/saran").await;
    assert_eq!(status, 200);
    assert!(page.contains("Antrean di loket 3 lambat sekali"), "{page}");
    assert!(
        !page.contains("Ruang tunggu panas"),
        "another office's feedback shown"
    );
    let id: String = page
        .split("data-id=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let clerk = StaffBrowser::sign_in(&w.gateway, "petugas.bogor").await;
    assert_eq!(clerk.get("/petugas/saran").await.0, 403);

    let (_, page) = head
        .post(&format!("/petugas/saran/{id}/tangani"), &[])
        .await;
    assert!(
        page.contains("ditandai sudah ditangani") && page.contains("Ditangani"),
        "{page}"
    );
    let before = w.replies_to(SENDER).len();
    let (_, page) = head
        .post(
            &format!("/petugas/saran/{id}/jawab"),
            &[(
                "jawaban",
                "Terima kasih, loket 3 kini dibuka sejak pukul 07.30.",
            )],
        )
        .await;
    assert!(page.contains("Jawaban terkirim"), "{page}");
    let sent = w
        .cloud_api
        .wait_for_recipient(SENDER, before + 1, std::time::Duration::from_secs(8))
        .await;
    let body = &sent.last().unwrap().body;
    assert_eq!(body["template"]["name"], "antrean_jawaban_saran", "{body}");
    assert_eq!(
        body["template"]["components"][0]["parameters"][1]["text"],
        "Terima kasih, loket 3 kini dibuka sejak pukul 07.30."
    );
    // Once only.
    let (_, page) = head
        .post(
            &format!("/petugas/saran/{id}/jawab"),
            &[("jawaban", "Sekali lagi")],
        )
        .await;
    assert!(page.contains("hanya sekali"), "{page}");
    assert_eq!(w.replies_to(SENDER).len(), before + 1, "answered once");

    // The admin sees every office; Makassar's feedback is beyond Bogor's head.
    let all = StaffBrowser::sign_in(&w.gateway, &admin.username).await;
    let (_, page) = all.get("/petugas/saran").await;
    assert!(
        page.contains("Ruang tunggu panas") && page.contains("loket 3"),
        "{page}"
    );
    let other: String = page
        .split("data-id=\"")
        .skip(1)
        .find(|chunk| chunk.contains("Ruang tunggu panas"))
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let (_, page) = head
        .post(
            &format!("/petugas/saran/{other}/jawab"),
            &[("jawaban", "Bukan kantor saya")],
        )
        .await;
    assert!(page.contains("tidak ditemukan"), "{page}");
    let audited: Vec<(String, String)> =
        sqlx::query_as("SELECT action, username FROM gateway.staff_actions ORDER BY id")
            .fetch_all(&s.pool().await)
            .await
            .unwrap();
    assert_eq!(
        audited,
        [
            ("HandleFeedback".to_owned(), "kepala.bogor".to_owned()),
            ("AnswerFeedback".to_owned(), "kepala.bogor".to_owned())
        ]
    );

    // In Chromium: the list, handling and answering Makassar's as the admin.
    run_browser_script(
        "feedback.mjs",
        &[&w.gateway, &admin.username, staff::PASSWORD],
    )
    .await;
}
