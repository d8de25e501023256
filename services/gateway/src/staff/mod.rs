//! The staff side: [`session`] (sign-in, sessions, the CSRF-checked form extractor),
//! [`console`] (the office's work: check-in, calling, walk-ins, capacity and calendar),
//! [`dashboard`] (the directorate's and office heads' figures), [`feedback`] (`#SARAN`
//! messages, handled and answered), [`progress`] (each applicant's stages and the pickup
//! lane) and [`display`] (the public queue screen).
pub mod console;
pub mod dashboard;
pub mod display;
pub mod feedback;
pub mod progress;
pub mod session;

use crate::App;
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;

pub use session::{COOKIE, StaffContext, session_context};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route(
            "/petugas/masuk",
            get(session::login_page).post(session::login),
        )
        .route("/petugas/keluar", post(session::logout))
        .merge(console::routes())
        .merge(dashboard::routes())
        .merge(feedback::routes())
        .merge(progress::routes())
        .route("/layar/{office}", get(display::display_page))
        .route("/layar/{office}/events", get(display::display_events))
}
