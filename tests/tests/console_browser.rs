//! The staff console, the queue display and the dashboard in real Chromium
//! (`tests/browser/console.mjs`, `tests/browser/dashboard.mjs`).
use antrean_proto::v1 as pb;
use antrean_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_checks_in_calls_and_the_display_follows_in_chromium() {
    let w = start_with_whatsapp().await;
    let s = &w.system;
    let admin = staff::admin(s).await;
    staff::create(
        s,
        &admin,
        "petugas.bogor",
        pb::StaffRole::OfficeStaff,
        "BOGOR",
    )
    .await;
    let priority = s
        .booking
        .clone()
        .set_priority_capacity(as_staff(
            &admin.token,
            pb::SetPriorityCapacityRequest {
                office_code: "BOGOR".into(),
                date: "2026-12-01".into(),
                session: pb::Session::Pagi as i32,
                priority_capacity: 5,
                cutoff_local: "11:00".into(),
            },
        ))
        .await;
    priority.unwrap();
    let bogor = s
        .book(create(
            "console-1",
            "BOGOR",
            "2026-12-01",
            pb::Session::Pagi,
            "081311112222",
            vec![applicant("", "Budi Santoso", "1987-01-25")],
        ))
        .await;
    let jakarta = s
        .book(create(
            "console-2",
            "JAKPUS",
            "2026-12-01",
            pb::Session::Pagi,
            "081311113333",
            vec![applicant("", "Siti Aminah", "1990-02-14")],
        ))
        .await;
    // 07:00 WIB on the day.
    s.clock.set("2026-12-01T00:00:00Z".parse().unwrap());
    run_browser_script(
        "console.mjs",
        &[
            &w.gateway,
            "petugas.bogor",
            staff::PASSWORD,
            &bogor.booking_code,
            &jakarta.booking_code,
        ],
    )
    .await;

    // Feedback by WhatsApp on the day counts for Bogor.
    let thanks = w
        .say(
            BOGOR_NUMBER,
            "6281311112222",
            "#SARAN#Pelayanan cepat dan ramah",
        )
        .await;
    assert!(thanks.contains("Terima kasih"), "{thanks}");

    // The directorate's dashboard over what the console just did.
    run_browser_script(
        "dashboard.mjs",
        &[
            &w.gateway,
            &admin.username,
            staff::PASSWORD,
            "2026-12-01",
            "2026-12-02",
        ],
    )
    .await;
}
