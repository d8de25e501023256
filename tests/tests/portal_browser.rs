//! The portal in real Chromium (Debian `chromium` + npm `playwright-core`, which `make test`
//! installs when missing): see `tests/browser/portal.mjs`.
use antrean_tests::*;
use std::path::Path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_through_the_portal_in_chromium() {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists()
            && Path::new("/usr/bin/chromium").exists(),
        "browser tests need Debian chromium and playwright-core: run `make test`, which installs them"
    );
    let w = start_with_whatsapp().await;
    let out = tokio::process::Command::new("node")
        .arg(browser_dir.join("portal.mjs"))
        .arg(&w.gateway)
        .arg(&w.system.cloud_api_url)
        .output()
        .await
        .expect("node");
    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "portal test failed:\n{log}");
    assert!(log.contains("portal ok"), "{log}");
}
