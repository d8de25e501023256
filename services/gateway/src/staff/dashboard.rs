//! The directorate's dashboard (`/petugas/dasbor`): per office and nationally, for a date
//! range, capacity (quota ledger), bookings by outcome and channel, walk-ins (booking ledger)
//! and feedback received (gateway); a chart, a CSV export and live counters for today.
//! Directorate admins see every office; office heads their own (the services check again).
use super::session::{StaffContext, message_page, session_context};
use crate::App;
use crate::html::{fragment, render};
use antrean_platform::actor::with_token;
use antrean_platform::domain::{format_date, local_date, local_instant, parse_date};
use antrean_proto::v1 as pb;
use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{Duration, NaiveDate, NaiveTime};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/petugas/dasbor", get(page))
        .route("/petugas/dasbor.csv", get(csv))
        .route("/petugas/dasbor/langsung", get(live))
}

/// One line of the report: the booking figures with capacity and feedback beside them.
#[derive(Debug, Default, Clone)]
pub struct Line {
    pub capacity: u32,
    pub stats: pb::StatsRow,
    pub feedback: u32,
}

impl Line {
    fn add(&mut self, o: &Line) {
        self.capacity += o.capacity;
        self.feedback += o.feedback;
        let (a, b) = (&mut self.stats, &o.stats);
        a.booked += b.booked;
        a.checked_in += b.checked_in;
        a.served += b.served;
        a.forfeited += b.forfeited;
        a.no_show += b.no_show;
        a.cancelled += b.cancelled;
        a.whatsapp += b.whatsapp;
        a.web += b.web;
        a.app += b.app;
        a.staff += b.staff;
        a.walk_ins += b.walk_ins;
        a.waitlist += b.waitlist;
    }

    /// No-shows among the people whose day is over and who were booked.
    pub fn no_show_rate(&self) -> String {
        let s = &self.stats;
        let settled = s.checked_in + s.forfeited + s.no_show;
        if settled == 0 {
            "-".into()
        } else {
            format!("{:.1}%", 100.0 * f64::from(s.no_show) / f64::from(settled))
        }
    }
}

/// The report: lines keyed by (office, date), in order.
pub struct Report {
    pub office: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub lines: BTreeMap<(String, String), Line>,
}

fn range(q: &HashMap<String, String>, today: NaiveDate) -> Result<(NaiveDate, NaiveDate), String> {
    let get = |k: &str, d: NaiveDate| match q.get(k).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(d),
        Some(s) => parse_date(s).ok_or(format!("{k}: tanggal harus berformat YYYY-MM-DD")),
    };
    let from = get("dari", today - Duration::days(6))?;
    let to = get("sampai", today + Duration::days(7))?;
    if to < from || (to - from).num_days() > 366 {
        return Err("sampai: harus sesudah 'dari', paling lama 366 hari".into());
    }
    Ok((from, to))
}

async fn build(
    app: &App,
    ctx: &StaffContext,
    office: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Report, String> {
    let message = |s: tonic::Status| crate::error::ApiError::from_status(&s, false).message_text();
    let stats = app
        .backend
        .booking()
        .get_stats(with_token(
            tonic::Request::new(pb::GetStatsRequest {
                office_code: office.to_owned(),
                from: format_date(from),
                to: format_date(to),
            }),
            &ctx.token,
        ))
        .await
        .map_err(message)?
        .into_inner();
    let capacity = app
        .backend
        .quota()
        .get_capacity_report(with_token(
            tonic::Request::new(pb::GetCapacityReportRequest {
                office_code: office.to_owned(),
                from: format_date(from),
                to: format_date(to),
            }),
            &ctx.token,
        ))
        .await
        .map_err(message)?
        .into_inner();
    let mut lines: BTreeMap<(String, String), Line> = BTreeMap::new();
    for r in stats.rows {
        let key = (r.office_code.clone(), r.date.clone());
        lines.entry(key).or_default().stats = r;
    }
    for c in capacity.rows {
        let line = lines
            .entry((c.office_code.clone(), c.date.clone()))
            .or_default();
        line.capacity = c.capacity;
        line.stats.office_code = c.office_code;
        line.stats.date = c.date;
    }
    // Feedback by the office's own calendar days.
    let offices = app.backend.offices().await.map_err(message)?;
    for o in offices
        .iter()
        .filter(|o| office.is_empty() || o.code == office)
    {
        let Some(tz) = antrean_platform::domain::parse_tz(&o.timezone) else {
            continue;
        };
        let start = local_instant(tz, from, NaiveTime::MIN);
        let end = local_instant(tz, to + Duration::days(1), NaiveTime::MIN);
        let received: Vec<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar!("SELECT received_at FROM feedback WHERE office_code = $1 AND received_at >= $2 AND received_at < $3", &o.code, start, end)
        .fetch_all(&app.pool)
        .await
        .map_err(|_| "Layanan sedang tidak tersedia. Silakan coba beberapa saat lagi.".to_owned())?;
        for at in received {
            let date = format_date(local_date(tz, at));
            let line = lines.entry((o.code.clone(), date.clone())).or_default();
            line.stats.office_code = o.code.clone();
            line.stats.date = date;
            line.feedback += 1;
        }
    }
    Ok(Report {
        office: office.to_owned(),
        from,
        to,
        lines,
    })
}

/// The office asked for: admins any or all (empty); heads their own; staff none.
fn office_for(ctx: &StaffContext, q: &HashMap<String, String>) -> Option<String> {
    if ctx.admin() {
        Some(
            q.get("kantor")
                .map(|o| o.trim().to_uppercase())
                .unwrap_or_default(),
        )
    } else if ctx.manages() {
        Some(ctx.office_code.clone())
    } else {
        None
    }
}

fn totals(r: &Report) -> Line {
    let mut t = Line::default();
    for l in r.lines.values() {
        t.add(l);
    }
    t
}

/// One date of the chart: booked people against capacity (heights out of 180).
struct Bar {
    x: u32,
    date: String,
    /// `MM-DD`.
    label: String,
    capacity: u32,
    booked: u32,
    capacity_height: u32,
    booked_height: u32,
}

fn bars(r: &Report) -> Vec<Bar> {
    let mut by_date: BTreeMap<&str, Line> = BTreeMap::new();
    for ((_, date), l) in &r.lines {
        by_date.entry(date.as_str()).or_default().add(l);
    }
    let max = by_date
        .values()
        .map(|l| l.capacity.max(l.stats.booked))
        .max()
        .unwrap_or(1)
        .max(1);
    by_date
        .iter()
        .zip(0u32..)
        .map(|((date, l), i)| Bar {
            x: 30 + 40 * i,
            date: (*date).to_owned(),
            label: date.get(5..).unwrap_or(date).to_owned(),
            capacity: l.capacity,
            booked: l.stats.booked,
            capacity_height: 180 * l.capacity / max,
            booked_height: 180 * l.stats.booked / max,
        })
        .collect()
}

struct Row<'a> {
    office: &'a str,
    date: &'a str,
    line: &'a Line,
}

#[derive(Template)]
#[template(path = "staff/dashboard.html")]
struct DashboardPage<'a> {
    scope: &'a str,
    admin: bool,
    office: &'a str,
    from: String,
    to: String,
    total: Line,
    bars: Vec<Bar>,
    width: u32,
    rows: Vec<Row<'a>>,
}

#[derive(Template)]
#[template(path = "staff/live.html")]
struct Live<'a> {
    totals: Option<Line>,
    error: &'a str,
}

async fn page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let ctx = match session_context(&app, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(office) = office_for(&ctx, &q) else {
        return message_page(
            StatusCode::FORBIDDEN,
            "Dasbor",
            "Dasbor hanya untuk kepala kantor dan admin Ditjen Imigrasi.",
        );
    };
    let today = local_date(chrono_tz::Asia::Jakarta, app.clock.now());
    let (from, to) = match range(&q, today) {
        Ok(r) => r,
        Err(m) => return message_page(StatusCode::BAD_REQUEST, "Dasbor", &m),
    };
    let report = match build(&app, &ctx, &office, from, to).await {
        Ok(r) => r,
        Err(m) => return message_page(StatusCode::BAD_GATEWAY, "Dasbor", &m),
    };
    let bars = bars(&report);
    let width = 40 * u32::try_from(bars.len()).unwrap_or(u32::MAX / 80) + 40;
    render(&DashboardPage {
        scope: if office.is_empty() {
            "Nasional"
        } else {
            &office
        },
        admin: ctx.admin(),
        office: &office,
        from: format_date(from),
        to: format_date(to),
        total: totals(&report),
        bars,
        width,
        rows: report
            .lines
            .iter()
            .map(|((office, date), line)| Row { office, date, line })
            .collect(),
    })
}

async fn csv(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let ctx = match session_context(&app, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(office) = office_for(&ctx, &q) else {
        return StatusCode::FORBIDDEN.into_response();
    };
    let today = local_date(chrono_tz::Asia::Jakarta, app.clock.now());
    let Ok((from, to)) = range(&q, today) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let report = match build(&app, &ctx, &office, from, to).await {
        Ok(r) => r,
        Err(m) => return (StatusCode::BAD_GATEWAY, m).into_response(),
    };
    let mut out = String::from(
        "office_code,date,capacity,booked,checked_in,served,forfeited,no_show,cancelled,whatsapp,web,app,staff,walk_ins,waitlist,feedback\n",
    );
    for ((o, d), l) in &report.lines {
        let s = &l.stats;
        out.push_str(&format!(
            "{o},{d},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            l.capacity,
            s.booked,
            s.checked_in,
            s.served,
            s.forfeited,
            s.no_show,
            s.cancelled,
            s.whatsapp,
            s.web,
            s.app,
            s.staff,
            s.walk_ins,
            s.waitlist,
            l.feedback
        ));
    }
    let name = if office.is_empty() {
        "nasional".to_owned()
    } else {
        office.to_lowercase()
    };
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"antrean-{name}-{}-{}.csv\"",
                    format_date(from),
                    format_date(to)
                ),
            ),
        ],
        out,
    )
        .into_response()
}

/// Server-sent events: today's counters whenever they change (checked every two seconds).
async fn live(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let ctx = match session_context(&app, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(office) = office_for(&ctx, &q) else {
        return StatusCode::FORBIDDEN.into_response();
    };
    // Shared by the viewers of one session (its tabs): the counters are read with its token.
    let key = format!("dasbor:{office}:{}", crate::ratelimit::hashed(&ctx.token));
    let poller = app.clone();
    let subscription = app
        .feeds
        .subscribe(&key, std::time::Duration::from_secs(2), move || {
            let (app, ctx, office) = (poller.clone(), ctx.clone(), office.clone());
            async move {
                let today = local_date(chrono_tz::Asia::Jakarta, app.clock.now());
                let html = match build(&app, &ctx, &office, today, today).await {
                    Ok(r) => fragment(&Live {
                        totals: Some(totals(&r)),
                        error: "",
                    }),
                    Err(m) => fragment(&Live {
                        totals: None,
                        error: &m,
                    }),
                };
                Some(html)
            }
        });
    match subscription {
        Ok(s) => Sse::new(s.stream())
            .keep_alive(KeepAlive::default())
            .into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}
