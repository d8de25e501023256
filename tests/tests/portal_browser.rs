//! The portal in real Chromium (Debian `chromium` + npm `playwright-core`, which `make test`
//! installs when missing): see `tests/browser/portal.mjs`.
use antrean_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_through_the_portal_in_chromium() {
    let w = start_with_whatsapp().await;
    run_browser_script("portal.mjs", &[&w.gateway, &w.system.cloud_api_url]).await;
}
