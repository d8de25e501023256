//! What every page shares. Pages are askama templates (`templates/`, escaped automatically:
//! no HTML is built from strings), shown by [`render`]; the portal's pages extend
//! `portal/base.html`, the staff pages `staff/base.html` (both extend the one shell `page.html`),
//! and both include `alert.html`.
//! [`urlencode`] encodes values for the `Location` of redirects (templates use askama's
//! `urlencode_strict`). The stylesheet and scripts are served from `assets/` ([`routes`]);
//! pages carry no inline script.
use crate::App;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

const CSS: &str = include_str!("../assets/antrean.css");
/// Camera QR scanning at the console's check-in.
const SCAN_JS: &str = include_str!("../assets/pindai.js");
/// Live parts of pages (the display's board, the dashboard's counters).
const LIVE_JS: &str = include_str!("../assets/langsung.js");
/// The queue display's chime and spoken calls.
const DISPLAY_JS: &str = include_str!("../assets/layar.js");

/// The stylesheet and scripts every page takes.
pub fn routes() -> Router<Arc<App>> {
    let asset = |kind: &'static str, body: &'static str| {
        get(move || async move { ([(header::CONTENT_TYPE, kind)], body) })
    };
    Router::new()
        .route("/static/antrean.css", asset("text/css", CSS))
        .route("/static/pindai.js", asset("text/javascript", SCAN_JS))
        .route("/static/langsung.js", asset("text/javascript", LIVE_JS))
        .route("/static/layar.js", asset("text/javascript", DISPLAY_JS))
}

/// What a page may load: only this gateway's own stylesheet, scripts and images (the QR code
/// and the chart are inline SVG), so even an injected tag could run nothing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

/// A template as a page; a template that fails to render (a bug, never input) is a 500.
pub fn render(t: &impl askama::Template) -> Response {
    match t.render() {
        Ok(html) => (
            [(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY)],
            Html(html),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "page not rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Terjadi kesalahan. Silakan coba beberapa saat lagi.",
            )
                .into_response()
        }
    }
}

/// A template as an HTML fragment (the live feeds' updates); empty if it fails to render.
pub fn fragment(t: &impl askama::Template) -> String {
    t.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "fragment not rendered");
        String::new()
    })
}

/// Percent-encodes a query value (every byte but the unreserved ones).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn encoded_values_are_unreserved_or_escapes(s in "\\PC{0,40}") {
            let e = urlencode(&s);
            proptest::prop_assert!(e.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)));
        }
    }
}
