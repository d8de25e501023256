//! `draw`: a release draw under its crowd. An untouched date opens at once with a draw
//! window; half the entries come as WhatsApp classic-format webhooks offered at a fixed
//! rate, half through the JSON API from verified contacts (closed loop). Measured: each
//! entrant's "entered" answer (the bot's reply as the Cloud API stand-in receives it; the
//! API's 202), and the time from the window's close until the draw is decided and every
//! outcome is in the outbox. Invariants: exactly the capacity admitted, one outcome message
//! per entry.
use crate::drive::{Load, Outcome, Run};
use crate::flows::letters;
use crate::{Bench, FlowOffice};
use antrean_platform::actor::as_dev_admin;
use antrean_proto::v1 as pb;
use chrono::{NaiveDate, Utc};
use futures::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Seats of the drawn session.
const SEATS: u32 = 150;

pub async fn draw(b: &Bench, entries: usize, rate: f64, workers: usize) -> ([Run; 3], Vec<String>) {
    let mut problems = Vec::new();
    let (office_code, date) = b.untouched_day(7).await;
    let office = b
        .offices
        .iter()
        .find(|o| o.code == office_code)
        .cloned()
        .expect("office");
    let number = office.whatsapp.clone().unwrap_or_default().phone_number_id;
    let day: NaiveDate = date.parse().expect("date");
    let mut quota = b.quota();
    for (session, capacity) in [(pb::Session::Pagi, SEATS), (pb::Session::Siang, 0)] {
        quota
            .set_capacity(as_dev_admin(pb::SetCapacityRequest {
                office_code: office_code.clone(),
                date: date.clone(),
                session: session as i32,
                capacity,
            }))
            .await
            .expect("capacity");
    }
    let (by_whatsapp, by_api) = (entries / 2, entries - entries / 2);
    // The API's entrants verify their phones before the release (as people do).
    let tokens = Arc::new(verified(b, by_api).await);
    let window = 20;
    let opens = Utc::now() + chrono::Duration::seconds(2);
    quota
        .schedule_release(as_dev_admin(pb::ScheduleReleaseRequest {
            office_code: office_code.clone(),
            date: date.clone(),
            opens_at: Some(antrean_platform::domain::to_timestamp(opens)),
            draw_window_seconds: window,
        }))
        .await
        .expect("release");
    tokio::time::sleep((opens - Utc::now()).to_std().unwrap_or_default()).await;

    let o = FlowOffice {
        code: office_code.clone(),
        phone_number_id: number,
        dates: vec![day],
    };
    let whatsapp = whatsapp_entries(b, &o, day, by_whatsapp, rate);
    let api = api_entries(b, &o, day, by_api, workers, tokens);
    let (mut whatsapp, mut api) = tokio::join!(whatsapp, api);
    whatsapp.scenario = "draw-entry-whatsapp";
    api.scenario = "draw-entry-api";
    // Entrants received inside the window enter even when answered after its close.

    // The close, then the draw: decided and every outcome in the outbox.
    let mut decided = Run {
        scenario: "draw-decided",
        concurrency: 1,
        ..Run::default()
    };
    let started = Instant::now();
    let done = loop {
        let row: Option<(String, Option<chrono::DateTime<Utc>>, chrono::DateTime<Utc>)> =
            sqlx::query_as(
                "SELECT state, drawn_at, closes_at FROM booking.draws
                 WHERE office_code = $1 AND date = $2",
            )
            .bind(&office_code)
            .bind(day)
            .fetch_optional(&b.pg)
            .await
            .expect("draws");
        match row {
            Some((state, Some(at), closes)) if state == "DONE" => {
                break Some((at - closes).num_milliseconds() as f64);
            }
            _ if started.elapsed() > Duration::from_secs(120) => break None,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    match done {
        Some(ms) => decided.set_attempts(vec![(ms, Outcome::Admitted)]),
        None => {
            problems.push("draw: not decided within 2 minutes of the close".into());
            decided.set_attempts(vec![(120_000.0, Outcome::Error("undecided".into()))]);
        }
    }
    decided.seconds = started.elapsed().as_secs_f64();

    let entered: i64 = count(
        b,
        "SELECT count(*) FROM booking.draw_entries WHERE office_code = $1 AND date = $2",
        &office_code,
        day,
    )
    .await;
    let accepted = whatsapp.admitted + api.admitted;
    if entered as usize != accepted {
        problems.push(format!(
            "draw: {entered} entries stored, {accepted} entrants told they entered"
        ));
    }
    let won: i64 = count(
        b,
        "SELECT COALESCE(sum(seats), 0)::bigint FROM booking.draw_entries
         WHERE office_code = $1 AND date = $2 AND outcome = 'WON'",
        &office_code,
        day,
    )
    .await;
    let counts = b
        .session_counts(&office_code, &date, pb::Session::Pagi)
        .await;
    if won != i64::from(SEATS) || counts.confirmed != SEATS {
        problems.push(format!(
            "draw: {won} seats won and {} confirmed, the capacity is {SEATS}",
            counts.confirmed
        ));
    }
    let told: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT o.idempotency_key) FROM notification.outbox o
         JOIN booking.draw_entries e ON o.idempotency_key = 'draw:' || e.id || ':outcome'
         WHERE e.office_code = $1 AND e.date = $2",
    )
    .bind(&office_code)
    .bind(day)
    .fetch_one(&b.pg)
    .await
    .expect("outbox");
    if told != entered {
        problems.push(format!(
            "draw: {told} outcome messages for {entered} entries"
        ));
    }
    decided.admitted = won as usize;
    ([whatsapp, api, decided], problems)
}

async fn count(b: &Bench, sql: &str, office: &str, day: NaiveDate) -> i64 {
    sqlx::query_scalar(sql)
        .bind(office)
        .bind(day)
        .fetch_one(&b.pg)
        .await
        .expect("count")
}

/// `n` contact tokens of distinct phones, by identity's verification RPCs.
async fn verified(b: &Bench, n: usize) -> Vec<String> {
    let identity = antrean_proto::v1::identity_service_client::IdentityServiceClient::connect(
        b.args.identity.clone(),
    )
    .await
    .expect("identity");
    futures::stream::iter(0..n)
        .map(|i| {
            let mut identity = identity.clone();
            async move {
                let v = identity
                    .start_verification(pb::StartVerificationRequest {
                        phone: format!("0859{:08}", 10_000_000 + i),
                        email: String::new(),
                    })
                    .await
                    .expect("verification")
                    .into_inner();
                identity
                    .confirm_verification(pb::ConfirmVerificationRequest {
                        verification_id: v.verification_id,
                        code: v.code,
                    })
                    .await
                    .expect("proof")
                    .into_inner()
                    .contact_token
            }
        })
        .buffered(32)
        .collect()
        .await
}

fn person(i: usize) -> (String, NaiveDate) {
    let birth =
        NaiveDate::from_ymd_opt(1950, 1, 1).expect("date") + chrono::Days::new((i % 20_000) as u64);
    (format!("Peserta {}", letters(i)), birth)
}

/// The WhatsApp half, offered at `rate` whatever the answers do. Unlike `drive_paced`, no
/// cap on attempts in flight: entrants keep writing while earlier ones wait for their
/// replies, as people do (a cap would hold later webhooks back past the window).
async fn whatsapp_entries(b: &Bench, o: &FlowOffice, day: NaiveDate, n: usize, rate: f64) -> Run {
    let (poster, cloud) = (b.webhooks(), b.cloud.clone());
    let number = o.phone_number_id.clone();
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due).await;
        let (poster, cloud, number) = (poster.clone(), cloud.clone(), number.clone());
        tasks.spawn(async move {
            let (name, birth) = person(i);
            // Phones no other scenario uses; the reply is the next message to it.
            let phone = format!("62856{i:08}");
            let before = cloud.messages_to(&phone).len();
            let text = format!(
                "#{name}#{}#{}#PAGI",
                birth.format("%d%m%Y"),
                day.format("%d%m%Y")
            );
            let outcome = match poster.say(&number, &phone, &text).await {
                Err(e) => Outcome::Error(e),
                Ok(_) => {
                    let replies = cloud
                        .wait_for_recipient(&phone, before + 1, Duration::from_secs(60))
                        .await;
                    match replies
                        .get(before)
                        .map(|m| antrean_tests::reply_text(&m.body))
                    {
                        Some(r) if r.contains("undian") => Outcome::Admitted,
                        Some(r) => Outcome::Error(format!(
                            "not entered ({})",
                            r.chars().take(48).collect::<String>()
                        )),
                        None => Outcome::Error("no reply".into()),
                    }
                }
            };
            (due.elapsed().as_secs_f64() * 1000.0, outcome)
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(done) = tasks.join_next().await {
        all.push(done.expect("entry"));
    }
    let mut run = Run {
        scenario: "draw-entry-whatsapp",
        offered: Some(rate),
        ..Run::default()
    };
    run.seconds = start.elapsed().as_secs_f64();
    run.set_attempts(all);
    run
}

async fn api_entries(
    b: &Bench,
    o: &FlowOffice,
    day: NaiveDate,
    n: usize,
    workers: usize,
    tokens: Arc<Vec<String>>,
) -> Run {
    let (http, url) = (
        b.http.clone(),
        format!("{}/api/v1/bookings", b.args.gateway),
    );
    let office = o.code.clone();
    Load::Workers(workers)
        .drive("draw-entry-api", n, b.max(), move |i| {
            let (http, url, tokens, office) =
                (http.clone(), url.clone(), tokens.clone(), office.clone());
            async move {
                let people: Vec<serde_json::Value> = (0..1 + i % 3)
                    .map(|p| {
                        let k = 20_000 + i * 3 + p;
                        let (name, birth) = person(k);
                        serde_json::json!({
                            "nik": antrean_tests::nik(&birth.to_string(), (k / 20_000 + 1) as u32),
                            "name": name, "birth_date": birth.to_string(),
                            "application_type": "NEW"})
                    })
                    .collect();
                let r = http
                    .post(&url)
                    .bearer_auth(&tokens[i])
                    .header("Idempotency-Key", format!("draw-bench-{i}"))
                    .json(
                        &serde_json::json!({"office_code": office, "date": day.to_string(),
                        "session": "PAGI", "applicants": people}),
                    )
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().as_u16() == 202 => Outcome::Admitted,
                    Ok(r) => Outcome::Error(format!("HTTP {}", r.status().as_u16())),
                    Err(_) => Outcome::Error("connection".into()),
                }
            }
        })
        .await
}
