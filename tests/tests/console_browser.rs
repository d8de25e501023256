//! The staff console, the queue display and the dashboard in real Chromium
//! (`tests/browser/console.mjs`, `tests/browser/dashboard.mjs`).
use antrean_proto::v1 as pb;
use antrean_tests::*;
use std::path::Path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_checks_in_calls_and_the_display_follows_in_chromium() {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists()
            && Path::new("/usr/bin/chromium").exists(),
        "browser tests need Debian chromium and playwright-core: run `make test`, which installs them"
    );
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
    let out = tokio::process::Command::new("node")
        .arg(browser_dir.join("console.mjs"))
        .arg(&w.gateway)
        .arg("petugas.bogor")
        .arg(staff::PASSWORD)
        .arg(&bogor.booking_code)
        .arg(&jakarta.booking_code)
        .output()
        .await
        .expect("node");
    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "console test failed:\n{log}");
    assert!(log.contains("console ok"), "{log}");

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
    let out = tokio::process::Command::new("node")
        .arg(browser_dir.join("dashboard.mjs"))
        .arg(&w.gateway)
        .arg(&admin.username)
        .arg(staff::PASSWORD)
        .arg("2026-12-01")
        .output()
        .await
        .expect("node");
    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "dashboard test failed:\n{log}");
    assert!(log.contains("dashboard ok"), "{log}");
}
