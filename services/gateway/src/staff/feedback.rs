//! `#SARAN` feedback in the console (`/petugas/saran`): office heads read their office's, the
//! directorate's admins every office's (or one). Each can be marked handled, and answered
//! once, by the approved template `antrean_jawaban_saran` from the office's number (the
//! sender's 24-hour window has usually shut by then). Both actions are audited.
use super::session::{Posted, Session, message_page, session, to_login};
use crate::App;
use crate::html::render;
use antrean_platform::actor::{Actor, Role};
use antrean_platform::audit;
use antrean_proto::v1 as pb;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// Longest answer, in characters.
const ANSWER_MAX: usize = 500;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/petugas/saran", get(page))
        .route("/petugas/saran/{id}/tangani", post(handle))
        .route("/petugas/saran/{id}/jawab", post(answer))
}

/// One message as the page shows it.
struct Item {
    id: i64,
    office: String,
    received: String,
    text: String,
    handled: Option<String>,
    answer: Option<String>,
    /// The sender is known (messages from before answers existed are not answerable).
    answerable: bool,
}

#[derive(Template)]
#[template(path = "staff/feedback.html")]
struct FeedbackPage<'a> {
    csrf: &'a str,
    admin: bool,
    office: &'a str,
    items: Vec<Item>,
    notice: Option<(bool, String)>,
}

/// The office a head reads (their own), or the one an admin asked for (empty: all).
fn scope(s: &Session, asked: Option<&String>) -> String {
    if s.admin() {
        asked.map(|o| o.trim().to_uppercase()).unwrap_or_default()
    } else {
        s.office_code().to_owned()
    }
}

fn forbidden() -> Response {
    message_page(
        StatusCode::FORBIDDEN,
        "Saran pemohon",
        "Saran pemohon hanya untuk kepala kantor dan admin Ditjen Imigrasi.",
    )
}

async fn page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(s) = session(&app, &headers).await else {
        return to_login();
    };
    if !s.manages() {
        return forbidden();
    }
    let office = scope(&s, q.get("kantor"));
    show(&app, &s, &office, None).await
}

async fn show(app: &App, s: &Session, office: &str, notice: Option<(bool, String)>) -> Response {
    let rows = match sqlx::query!(
        "SELECT id, office_code, text_enc, received_at, sender_enc, handled_at, handled_by,
                answer_enc, answered_at, answered_by
         FROM feedback WHERE ($1 = '' OR office_code = $1)
         ORDER BY received_at DESC LIMIT 100",
        office
    )
    .fetch_all(&app.pool)
    .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "feedback not read");
            return message_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Saran pemohon",
                "Layanan sedang tidak tersedia. Silakan coba beberapa saat lagi.",
            );
        }
    };
    let when = |t: chrono::DateTime<chrono::Utc>| {
        let tz = chrono_tz::Asia::Jakarta;
        format!(
            "{} {} WIB",
            antrean_platform::domain::local_date(tz, t).format("%d-%m-%Y"),
            antrean_platform::domain::local_hhmm(tz, t)
        )
    };
    let items = rows
        .into_iter()
        .map(|r| Item {
            id: r.id,
            office: r.office_code,
            received: when(r.received_at),
            text: app.pii.decrypt(&r.text_enc).unwrap_or_default(),
            handled: r
                .handled_at
                .map(|t| format!("{} oleh {}", when(t), r.handled_by.unwrap_or_default())),
            answer: r.answered_at.map(|t| {
                let text = r
                    .answer_enc
                    .as_deref()
                    .and_then(|a| app.pii.decrypt(a).ok())
                    .unwrap_or_default();
                format!(
                    "{text} ({} oleh {})",
                    when(t),
                    r.answered_by.unwrap_or_default()
                )
            }),
            answerable: r.sender_enc.is_some(),
        })
        .collect();
    render(&FeedbackPage {
        csrf: &s.csrf,
        admin: s.admin(),
        office,
        items,
        notice,
    })
}

/// The signed-in staff member as the audit trail records them.
fn actor(s: &Session) -> Actor {
    Actor {
        staff_id: s.staff_id.clone(),
        username: s.username.clone(),
        role: Role::parse(s.role()).unwrap_or(Role::OfficeHead),
        office_code: s.office_code().to_owned(),
        expires_at: 0,
    }
}

fn id_of(raw: &str) -> Option<i64> {
    raw.parse().ok().filter(|i| *i > 0)
}

async fn handle(State(_): State<Arc<App>>, Path(id): Path<String>, p: Posted) -> Response {
    if !p.session.manages() {
        return forbidden();
    }
    let office = scope(&p.session, Some(&p.field("lingkup")));
    let Some(id) = id_of(&id) else {
        return show(
            &p.app,
            &p.session,
            &office,
            Some((false, "Saran tidak ditemukan.".into())),
        )
        .await;
    };
    let now = p.app.clock.now();
    let own = if p.session.admin() {
        ""
    } else {
        p.session.office_code()
    };
    let done: Result<Option<String>, sqlx::Error> = async {
        let mut tx = p.app.pool.begin().await?;
        let marked = sqlx::query_scalar!(
            "UPDATE feedback SET handled_at = $3, handled_by = $4
             WHERE id = $1 AND ($2 = '' OR office_code = $2) AND handled_at IS NULL
             RETURNING office_code",
            id,
            own,
            now,
            &p.session.username
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(office_code) = &marked {
            audit::record(
                &mut *tx,
                audit::Action {
                    actor: &actor(&p.session),
                    action: "HandleFeedback",
                    office_code,
                    target: &id.to_string(),
                    before: Some(json!({"handled": false})),
                    after: Some(json!({"handled": true})),
                    at: now,
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(marked)
    }
    .await;
    let notice = match done {
        Ok(Some(_)) => (true, "Saran ditandai sudah ditangani.".to_owned()),
        Ok(None) => (
            false,
            "Saran tidak ditemukan atau sudah ditangani.".to_owned(),
        ),
        Err(e) => {
            tracing::error!(error = %e, "feedback not marked");
            (
                false,
                "Layanan sedang tidak tersedia. Silakan coba lagi.".to_owned(),
            )
        }
    };
    show(&p.app, &p.session, &office, Some(notice)).await
}

async fn answer(State(_): State<Arc<App>>, Path(id): Path<String>, p: Posted) -> Response {
    if !p.session.manages() {
        return forbidden();
    }
    let office = scope(&p.session, Some(&p.field("lingkup")));
    let text = p.field("jawaban").trim().to_owned();
    let refuse = |m: &str| Some((false, m.to_owned()));
    let Some(id) = id_of(&id) else {
        return show(
            &p.app,
            &p.session,
            &office,
            refuse("Saran tidak ditemukan."),
        )
        .await;
    };
    if text.is_empty() || text.chars().count() > ANSWER_MAX {
        let m = format!("Jawaban wajib diisi, paling panjang {ANSWER_MAX} karakter.");
        return show(&p.app, &p.session, &office, refuse(&m)).await;
    }
    let now = p.app.clock.now();
    let own = if p.session.admin() {
        ""
    } else {
        p.session.office_code()
    };
    // Claimed first (once only, even with two heads answering at the same moment), sent,
    // and given back if the message could not be queued.
    let claimed = sqlx::query!(
        "UPDATE feedback SET answer_enc = $3, answered_at = $4, answered_by = $5
         WHERE id = $1 AND ($2 = '' OR office_code = $2) AND answered_at IS NULL
           AND sender_enc IS NOT NULL
         RETURNING office_code, sender_enc",
        id,
        own,
        p.app.pii.encrypt(&text),
        now,
        &p.session.username
    )
    .fetch_optional(&p.app.pool)
    .await;
    let claimed = match claimed {
        Ok(Some(c)) => c,
        Ok(None) => {
            return show(
                &p.app,
                &p.session,
                &office,
                refuse("Saran tidak ditemukan, pengirimnya tidak diketahui, atau sudah dijawab (jawaban hanya sekali)."),
            )
            .await;
        }
        Err(e) => {
            tracing::error!(error = %e, "feedback answer not stored");
            return show(
                &p.app,
                &p.session,
                &office,
                refuse("Layanan sedang tidak tersedia. Silakan coba lagi."),
            )
            .await;
        }
    };
    let sent = send_answer(
        &p.app,
        &claimed.office_code,
        claimed.sender_enc.as_deref(),
        id,
        &text,
    )
    .await;
    if let Err(e) = sent {
        tracing::warn!(error = %e, feedback_id = id, "feedback answer not sent; released for another try");
        let _ = sqlx::query!(
            "UPDATE feedback SET answer_enc = NULL, answered_at = NULL, answered_by = NULL WHERE id = $1",
            id
        )
        .execute(&p.app.pool)
        .await;
        return show(
            &p.app,
            &p.session,
            &office,
            refuse("Jawaban belum terkirim. Silakan coba lagi."),
        )
        .await;
    }
    let recorded = audit::record(
        &p.app.pool,
        audit::Action {
            actor: &actor(&p.session),
            action: "AnswerFeedback",
            office_code: &claimed.office_code,
            target: &id.to_string(),
            before: None,
            after: Some(json!({"answered": true, "characters": text.chars().count()})),
            at: now,
        },
    )
    .await;
    if let Err(e) = recorded {
        tracing::error!(error = %e, feedback_id = id, "feedback answer not audited");
    }
    show(
        &p.app,
        &p.session,
        &office,
        Some((true, "Jawaban terkirim lewat WhatsApp.".to_owned())),
    )
    .await
}

/// The answer by WhatsApp from the office's number, to the sender of the feedback.
async fn send_answer(
    app: &App,
    office_code: &str,
    sender_enc: Option<&[u8]>,
    id: i64,
    text: &str,
) -> anyhow::Result<()> {
    let sender: serde_json::Value =
        serde_json::from_str(&app.pii.decrypt(sender_enc.unwrap_or_default())?)?;
    let field = |k: &str| {
        sender
            .get(k)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let office = app
        .backend
        .office(office_code)
        .await?
        .ok_or_else(|| anyhow::anyhow!("unknown office {office_code}"))?;
    app.backend
        .notification()
        .send(pb::SendRequest {
            idempotency_key: format!("saran:{id}"),
            channel: pb::Channel::Whatsapp as i32,
            recipient: Some(pb::Recipient {
                phone: field("phone"),
                whatsapp_user_id: field("user_id"),
                email: String::new(),
            }),
            sender_phone_number_id: office
                .whatsapp
                .as_ref()
                .map(|w| w.phone_number_id.clone())
                .unwrap_or_default(),
            template: "feedback_answer".into(),
            parameters: [
                ("office_name".to_owned(), office.name.clone()),
                ("answer".to_owned(), text.to_owned()),
            ]
            .into(),
            attachment: None,
        })
        .await?;
    Ok(())
}
