//! The JSON API under `/api/v1`, and the office cache the gateway's handlers share.
use crate::App;
use antrean_proto::v1 as pb;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::sync::{Arc, Mutex};
use tonic::Status;

pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/api/v1/offices", get(offices))
}

/// `{"error": {"code", "message"}}` with the HTTP status of a gRPC status.
pub fn error_response(s: &Status) -> Response {
    let (http, code) = match s.code() {
        tonic::Code::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND"),
        tonic::Code::InvalidArgument => (StatusCode::BAD_REQUEST, "INVALID_ARGUMENT"),
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => {
            (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE")
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"),
    };
    let message = if http == StatusCode::SERVICE_UNAVAILABLE {
        "Layanan sedang tidak tersedia. Silakan coba beberapa saat lagi.".to_owned()
    } else {
        s.message().to_owned()
    };
    (
        http,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

fn office_json(o: &pb::Office) -> serde_json::Value {
    let wa = o.whatsapp.clone().unwrap_or_default();
    json!({
        "code": o.code,
        "name": o.name,
        "city": o.city,
        "timezone": o.timezone,
        "address": o.address,
        "whatsapp": {
            "display_phone_number": wa.display_phone_number,
            "phone_number_id": wa.phone_number_id,
        },
    })
}

async fn offices(State(app): State<Arc<App>>) -> Response {
    match app.offices.all(&app).await {
        Ok(list) => Json(list.iter().map(|o| office_json(o)).collect::<Vec<_>>()).into_response(),
        Err(s) => error_response(&s),
    }
}

/// Offices from the quota service, loaded once (they change only with a deployment).
#[derive(Debug, Default)]
pub struct OfficeCache {
    list: Mutex<Vec<Arc<pb::Office>>>,
}

impl OfficeCache {
    pub async fn all(&self, app: &App) -> Result<Vec<Arc<pb::Office>>, Status> {
        {
            let list = self.list.lock().expect("poisoned");
            if !list.is_empty() {
                return Ok(list.clone());
            }
        }
        let offices = app
            .quota
            .clone()
            .list_offices(pb::ListOfficesRequest {})
            .await?
            .into_inner()
            .offices
            .into_iter()
            .map(Arc::new)
            .collect::<Vec<_>>();
        *self.list.lock().expect("poisoned") = offices.clone();
        Ok(offices)
    }

    pub async fn by_phone_number_id(
        &self,
        app: &App,
        id: &str,
    ) -> Result<Option<Arc<pb::Office>>, Status> {
        Ok(self
            .all(app)
            .await?
            .into_iter()
            .find(|o| o.whatsapp.as_ref().is_some_and(|w| w.phone_number_id == id)))
    }

    pub async fn by_code(&self, app: &App, code: &str) -> Result<Option<Arc<pb::Office>>, Status> {
        Ok(self.all(app).await?.into_iter().find(|o| o.code == code))
    }
}
