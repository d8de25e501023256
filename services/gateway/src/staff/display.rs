//! The public queue display (`/layar/{office}`): the numbers called and the queue's length,
//! updated by server-sent events from one poll per office shared by every screen.
use super::session::message_page;
use crate::App;
use crate::error::{ApiError, error_response};
use crate::html::{fragment, render};
use antrean_proto::v1 as pb;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

#[derive(Template)]
#[template(path = "staff/board.html")]
struct Board<'a> {
    b: &'a pb::QueueBoard,
}

/// One call of a ticket (its time and how many recalls): a new key is a new announcement
/// (`/static/layar.js`).
fn call_key(t: &pb::QueueTicket) -> String {
    let at = t
        .called_at
        .as_ref()
        .map_or(0, |c| c.seconds * 1000 + i64::from(c.nanos / 1_000_000));
    format!("{}:{at}:{}", t.queue_number, t.recalls)
}

impl Board<'_> {
    fn call_key(&self, t: &pb::QueueTicket) -> String {
        call_key(t)
    }
}

impl Display<'_> {
    fn call_key(&self, t: &pb::QueueTicket) -> String {
        call_key(t)
    }
}

#[derive(Template)]
#[template(path = "staff/display.html")]
struct Display<'a> {
    b: &'a pb::QueueBoard,
    date: String,
}

async fn board(app: &App, office: &str) -> Result<pb::QueueBoard, tonic::Status> {
    app.backend
        .booking()
        .get_queue_board(pb::GetQueueBoardRequest {
            office_code: office.to_owned(),
        })
        .await
        .map(|r| r.into_inner())
}

pub(super) async fn display_page(
    State(app): State<Arc<App>>,
    Path(office): Path<String>,
) -> Response {
    let b = match board(&app, &office).await {
        Ok(b) => b,
        Err(e) => {
            let err = ApiError::from_status(&e, false);
            return message_page(err.status, "Layar antrean", &err.message_text());
        }
    };
    let date = antrean_platform::domain::parse_date(&b.date)
        .map(antrean_platform::domain::tanggal)
        .unwrap_or_else(|| b.date.clone());
    render(&Display { b: &b, date })
}

/// Server-sent events: the board's HTML whenever it changes (one poll a second per office,
/// shared by every screen showing it; see [`crate::feeds`]).
pub(super) async fn display_events(
    State(app): State<Arc<App>>,
    Path(office): Path<String>,
) -> Response {
    let office = office.trim().to_uppercase();
    match app.backend.office(&office).await {
        Ok(Some(_)) => {}
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(s) => return error_response(&s),
    }
    let poller = app.clone();
    let key = format!("layar:{office}");
    let subscription = app
        .feeds
        .subscribe(&key, std::time::Duration::from_secs(1), move || {
            let (app, office) = (poller.clone(), office.clone());
            async move {
                board(&app, &office)
                    .await
                    .ok()
                    .map(|b| fragment(&Board { b: &b }))
            }
        });
    match subscription {
        Ok(s) => Sse::new(s.stream())
            .keep_alive(KeepAlive::default())
            .into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}
