//! The directorate's dashboard (`/petugas/dasbor`), for a date range against the period of the
//! same length just before it: capacity (quota ledger), bookings by outcome and channel,
//! walk-ins, waiting times and the waitlist (booking ledger) and feedback received (gateway).
//! Nationally: the headline figures, offices ranked by utilisation, no-show and forfeit rates,
//! waiting time from check-in to call and waitlist length, and a heatmap of offices by day;
//! each office drills down to its own figures and days. Live counters for today and a CSV
//! export of every office and day. Directorate admins see every office; office heads their
//! own (the services check again).
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
        a.called += b.called;
        a.wait_seconds += b.wait_seconds;
    }

    /// No-shows among the people whose day is over and who were booked.
    pub fn no_show_rate(&self) -> String {
        Measure::NoShow.show(Measure::NoShow.value(self))
    }

    /// Mean wait from check-in to the first call.
    pub fn mean_wait(&self) -> String {
        Measure::Wait.show(Measure::Wait.value(self))
    }

    /// Booked people whose day is settled: checked in, forfeited or not shown.
    fn settled(&self) -> u32 {
        let s = &self.stats;
        s.checked_in + s.forfeited + s.no_show
    }
}

fn ratio(part: u32, whole: u32) -> Option<f64> {
    (whole > 0).then(|| f64::from(part) / f64::from(whole))
}

/// What the directorate compares offices by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// People booked out of the seats offered.
    Utilisation,
    /// Not shown out of the settled bookings.
    NoShow,
    /// Forfeited (arrived too late) out of the settled bookings.
    Forfeit,
    /// Mean seconds from check-in to the first call.
    Wait,
    /// People on the waitlist now for the period's dates.
    Waitlist,
}

impl Measure {
    pub const ALL: [Measure; 5] = [
        Measure::Utilisation,
        Measure::NoShow,
        Measure::Forfeit,
        Measure::Wait,
        Measure::Waitlist,
    ];

    /// Its name in the page's address (`?urut=`).
    pub fn key(self) -> &'static str {
        match self {
            Measure::Utilisation => "utilisasi",
            Measure::NoShow => "tidak-hadir",
            Measure::Forfeit => "hangus",
            Measure::Wait => "tunggu",
            Measure::Waitlist => "daftar-tunggu",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Measure::Utilisation => "Utilisasi kuota",
            Measure::NoShow => "Tidak hadir",
            Measure::Forfeit => "Hangus",
            Measure::Wait => "Tunggu check-in s.d. dipanggil",
            Measure::Waitlist => "Daftar tunggu",
        }
    }

    fn parse(key: &str) -> Option<Measure> {
        Measure::ALL.into_iter().find(|m| m.key() == key)
    }

    pub fn value(self, l: &Line) -> Option<f64> {
        let s = &l.stats;
        match self {
            Measure::Utilisation => ratio(s.booked, l.capacity),
            Measure::NoShow => ratio(s.no_show, l.settled()),
            Measure::Forfeit => ratio(s.forfeited, l.settled()),
            Measure::Wait => (s.called > 0).then(|| s.wait_seconds as f64 / f64::from(s.called)),
            Measure::Waitlist => Some(f64::from(s.waitlist)),
        }
    }

    /// As the page shows it, in Indonesian notation (`72,5%`, `12 mnt`).
    pub fn show(self, v: Option<f64>) -> String {
        let Some(v) = v else {
            return "-".into();
        };
        match self {
            Measure::Utilisation | Measure::NoShow | Measure::Forfeit => {
                format!("{}%", decimal(100.0 * v))
            }
            Measure::Wait if v < 60.0 => format!("{v:.0} dtk"),
            Measure::Wait => format!("{:.0} mnt", v / 60.0),
            Measure::Waitlist => format!("{v:.0}"),
        }
    }

    /// The change from `before` to `now`, and whether it is good news.
    fn change(self, now: Option<f64>, before: Option<f64>) -> Change {
        let (Some(now), Some(before)) = (now, before) else {
            return Change::default();
        };
        let (amount, unit) = match self {
            Measure::Utilisation | Measure::NoShow | Measure::Forfeit => {
                (100.0 * (now - before), " poin")
            }
            Measure::Wait => ((now - before) / 60.0, " mnt"),
            Measure::Waitlist => (now - before, ""),
        };
        let shown = match self {
            Measure::Utilisation | Measure::NoShow | Measure::Forfeit => decimal(amount.abs()),
            _ => format!("{:.0}", amount.abs()),
        };
        if shown == "0" || shown == "0,0" {
            return Change {
                text: "tetap".into(),
                trend: "tetap",
            };
        }
        // Only more seats used is good news; more no-shows, forfeits, waiting or people
        // waiting for a seat is not.
        let good = (amount > 0.0) == (self == Measure::Utilisation);
        Change {
            text: format!("{} {shown}{unit}", if amount > 0.0 { "▲" } else { "▼" }),
            trend: if good { "baik" } else { "buruk" },
        }
    }
}

/// One decimal with a decimal comma.
fn decimal(v: f64) -> String {
    format!("{v:.1}").replace('.', ",")
}

/// A change against the previous period, as shown beside a figure.
#[derive(Debug, Default, Clone)]
pub struct Change {
    pub text: String,
    /// `baik`, `buruk`, `tetap`, or empty when there is nothing to compare with.
    pub trend: &'static str,
}

/// One figure now, before, and the change.
pub struct Figure {
    pub key: &'static str,
    pub label: &'static str,
    pub now: String,
    pub before: String,
    pub change: Change,
}

fn figures(now: &Line, before: &Line) -> Vec<Figure> {
    Measure::ALL
        .into_iter()
        .map(|m| {
            let (n, b) = (m.value(now), m.value(before));
            Figure {
                key: m.key(),
                label: m.label(),
                now: m.show(n),
                before: m.show(b),
                change: m.change(n, b),
            }
        })
        .collect()
}

/// The report: lines keyed by (office, date), in order.
pub struct Report {
    pub office: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub lines: BTreeMap<(String, String), Line>,
    /// Per office and stage: applicants there now and the median time into it.
    pub stages: Vec<pb::StageStats>,
}

/// One office's stage as the progress table shows it.
struct StageRow {
    office: String,
    stage: &'static str,
    label: &'static str,
    applicants: u32,
    transitions: u32,
    median: String,
}

/// A duration as staff read it: "45 menit", "3 jam 10 menit", "4 hari 2 jam".
fn duration_text(seconds: u64) -> String {
    let minutes = seconds.div_ceil(60);
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{mins} menit"),
        (0, h) => format!("{h} jam {mins} menit"),
        (d, h) => format!("{d} hari {h} jam"),
    }
}

fn stage_rows(stages: &[pb::StageStats]) -> Vec<StageRow> {
    stages
        .iter()
        .map(|s| {
            let stage = pb::ApplicationStage::try_from(s.stage).unwrap_or_default();
            StageRow {
                office: if s.office_code.is_empty() {
                    "Nasional".to_owned()
                } else {
                    s.office_code.clone()
                },
                stage: antrean_platform::progress::name(stage),
                label: antrean_platform::progress::label(stage),
                applicants: s.applicants,
                transitions: s.transitions,
                median: if s.transitions == 0 {
                    "-".to_owned()
                } else {
                    duration_text(s.median_seconds)
                },
            }
        })
        .collect()
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
        stages: stats.stages,
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

/// One office's lines over a report, added up.
fn by_office(r: &Report) -> BTreeMap<&str, Line> {
    let mut out: BTreeMap<&str, Line> = BTreeMap::new();
    for ((office, _), l) in &r.lines {
        out.entry(office.as_str()).or_default().add(l);
    }
    out
}

/// An office in the ranking.
struct Ranked {
    code: String,
    name: String,
    figures: Vec<Figure>,
}

/// Every office of the scope, ordered by `by` (highest first; offices without the figure
/// last, then by code).
fn ranking(offices: &[Arc<pb::Office>], now: &Report, before: &Report, by: Measure) -> Vec<Ranked> {
    let (now, before) = (by_office(now), by_office(before));
    let empty = Line::default();
    let mut ranked: Vec<(Option<f64>, Ranked)> = offices
        .iter()
        .map(|o| {
            let n = now.get(o.code.as_str()).unwrap_or(&empty);
            let b = before.get(o.code.as_str()).unwrap_or(&empty);
            (
                by.value(n),
                Ranked {
                    code: o.code.clone(),
                    name: o.name.clone(),
                    figures: figures(n, b),
                },
            )
        })
        .collect();
    ranked.sort_by(|(a, x), (b, y)| match (a, b) {
        (Some(a), Some(b)) => b.total_cmp(a).then_with(|| x.code.cmp(&y.code)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => x.code.cmp(&y.code),
    });
    ranked.into_iter().map(|(_, r)| r).collect()
}

/// The heatmap: one row per office, one cell per date, shaded by utilisation.
struct Heatmap {
    width: u32,
    height: u32,
    columns: Vec<Column>,
    rows: Vec<HeatRow>,
}

struct Column {
    x: u32,
    /// Day of the month; the month too on the first column and on the 1st.
    label: String,
}

struct HeatRow {
    y: u32,
    code: String,
    cells: Vec<Cell>,
}

struct Cell {
    x: u32,
    date: String,
    /// `h0` (no seats offered) and `h1`..`h5` by utilisation.
    shade: &'static str,
    title: String,
}

const CELL: u32 = 22;
const ROW: u32 = 18;
const LABEL: u32 = 80;

fn heatmap(offices: &[Arc<pb::Office>], r: &Report) -> Heatmap {
    let days = (r.to - r.from).num_days().max(0) as u32 + 1;
    let columns = (0..days)
        .map(|i| {
            let d = r.from + Duration::days(i64::from(i));
            let day = d.format("%d").to_string();
            Column {
                x: LABEL + CELL * i + CELL / 2,
                label: if i == 0 || day == "01" {
                    d.format("%d/%m").to_string()
                } else {
                    day
                },
            }
        })
        .collect();
    let rows = offices
        .iter()
        .zip(0u32..)
        .map(|(o, j)| HeatRow {
            y: 24 + ROW * j,
            code: o.code.clone(),
            cells: (0..days)
                .map(|i| {
                    let date = format_date(r.from + Duration::days(i64::from(i)));
                    let line = r.lines.get(&(o.code.clone(), date.clone()));
                    let u = line.and_then(|l| Measure::Utilisation.value(l));
                    let shade = match u {
                        None => "h0",
                        Some(u) if u < 0.25 => "h1",
                        Some(u) if u < 0.5 => "h2",
                        Some(u) if u < 0.75 => "h3",
                        Some(u) if u < 0.9 => "h4",
                        Some(_) => "h5",
                    };
                    let title = match (line, u) {
                        (Some(l), Some(_)) => format!(
                            "{} {date}: {} dari {} kursi ({})",
                            o.code,
                            l.stats.booked,
                            l.capacity,
                            Measure::Utilisation.show(u)
                        ),
                        _ => format!("{} {date}: tidak ada kuota", o.code),
                    };
                    Cell {
                        x: LABEL + CELL * i,
                        date,
                        shade,
                        title,
                    }
                })
                .collect(),
        })
        .collect();
    Heatmap {
        width: LABEL + CELL * days + 4,
        height: 24 + ROW * u32::try_from(offices.len()).unwrap_or(0) + 4,
        columns,
        rows,
    }
}

/// The period of the same length just before `[from, to]`.
fn previous(from: NaiveDate, to: NaiveDate) -> (NaiveDate, NaiveDate) {
    let before = from - Duration::days(1);
    (before - (to - from), before)
}

#[derive(Template)]
#[template(path = "staff/dashboard.html")]
struct DashboardPage<'a> {
    scope: &'a str,
    admin: bool,
    /// Every office at once (an admin without an office chosen).
    national: bool,
    office: &'a str,
    from: String,
    to: String,
    previous_from: String,
    previous_to: String,
    sort: &'static str,
    headline: Vec<Figure>,
    measures: [Measure; 5],
    ranking: Vec<Ranked>,
    heatmap: Option<Heatmap>,
    total: Line,
    bars: Vec<Bar>,
    width: u32,
    rows: Vec<Row<'a>>,
    stages: Vec<StageRow>,
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
    let (previous_from, previous_to) = previous(from, to);
    let sort = q
        .get("urut")
        .and_then(|k| Measure::parse(k.trim()))
        .unwrap_or(Measure::Utilisation);
    let (report, before, offices) = match tokio::try_join!(
        build(&app, &ctx, &office, from, to),
        build(&app, &ctx, &office, previous_from, previous_to),
        async {
            app.backend
                .offices()
                .await
                .map_err(|s| crate::error::ApiError::from_status(&s, false).message_text())
        },
    ) {
        Ok(r) => r,
        Err(m) => return message_page(StatusCode::BAD_GATEWAY, "Dasbor", &m),
    };
    let national = office.is_empty();
    let scope: Vec<Arc<pb::Office>> = offices
        .into_iter()
        .filter(|o| national || o.code == office)
        .collect();
    let total = totals(&report);
    let bars = bars(&report);
    let width = 40 * u32::try_from(bars.len()).unwrap_or(u32::MAX / 80) + 40;
    render(&DashboardPage {
        scope: if national { "Nasional" } else { &office },
        admin: ctx.admin(),
        national,
        office: &office,
        from: format_date(from),
        to: format_date(to),
        previous_from: format_date(previous_from),
        previous_to: format_date(previous_to),
        sort: sort.key(),
        headline: figures(&total, &totals(&before)),
        measures: Measure::ALL,
        ranking: if national {
            ranking(&scope, &report, &before, sort)
        } else {
            Vec::new()
        },
        heatmap: national.then(|| heatmap(&scope, &report)),
        total,
        bars,
        width,
        // Nationally the nation's row per stage (each office's in its drill-down).
        stages: stage_rows(
            &report
                .stages
                .iter()
                .filter(|s| s.office_code.is_empty() == national)
                .cloned()
                .collect::<Vec<_>>(),
        ),
        // One office's days; nationally the heatmap and the CSV hold them.
        rows: if national {
            Vec::new()
        } else {
            report
                .lines
                .iter()
                .map(|((office, date), line)| Row { office, date, line })
                .collect()
        },
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
        "office_code,date,capacity,booked,checked_in,served,forfeited,no_show,cancelled,whatsapp,web,app,staff,walk_ins,waitlist,feedback,called,wait_seconds\n",
    );
    for ((o, d), l) in &report.lines {
        let s = &l.stats;
        out.push_str(&format!(
            "{o},{d},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
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
            l.feedback,
            s.called,
            s.wait_seconds
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(capacity: u32, booked: u32, checked_in: u32, no_show: u32, waited: &[u64]) -> Line {
        Line {
            capacity,
            stats: pb::StatsRow {
                booked,
                checked_in,
                no_show,
                called: waited.len() as u32,
                wait_seconds: waited.iter().sum(),
                ..Default::default()
            },
            feedback: 0,
        }
    }

    fn office(code: &str) -> Arc<pb::Office> {
        Arc::new(pb::Office {
            code: code.into(),
            name: format!("Kantor {code}"),
            ..Default::default()
        })
    }

    #[test]
    fn stage_durations_read_in_indonesian() {
        assert_eq!(duration_text(0), "0 menit");
        assert_eq!(duration_text(45 * 60), "45 menit");
        assert_eq!(duration_text(3 * 3600 + 10 * 60), "3 jam 10 menit");
        assert_eq!(duration_text(4 * 86400 + 2 * 3600 + 59), "4 hari 2 jam");
    }

    #[test]
    fn the_previous_period_is_as_long_and_ends_the_day_before() {
        let d = |s| parse_date(s).unwrap();
        assert_eq!(
            previous(d("2026-12-01"), d("2026-12-14")),
            (d("2026-11-17"), d("2026-11-30"))
        );
        assert_eq!(
            previous(d("2026-12-01"), d("2026-12-01")),
            (d("2026-11-30"), d("2026-11-30"))
        );
    }

    #[test]
    fn figures_read_in_indonesian_and_changes_say_whether_they_are_good_news() {
        let now = line(200, 150, 120, 30, &[600, 1200]);
        let before = line(200, 100, 90, 10, &[300]);
        let f = figures(&now, &before);
        let by = |k: &str| f.iter().find(|x| x.key == k).unwrap();
        assert_eq!(by("utilisasi").now, "75,0%");
        assert_eq!(by("utilisasi").before, "50,0%");
        assert_eq!(by("utilisasi").change.text, "▲ 25,0 poin");
        assert_eq!(by("utilisasi").change.trend, "baik");
        assert_eq!(by("tidak-hadir").now, "20,0%");
        assert_eq!(by("tidak-hadir").change.trend, "buruk");
        assert_eq!(by("tunggu").now, "15 mnt");
        assert_eq!(by("tunggu").before, "5 mnt");
        assert_eq!(by("tunggu").change.text, "▲ 10 mnt");
        assert_eq!(by("tunggu").change.trend, "buruk");
        // Nothing to divide by: no figure, and nothing to compare.
        let empty = Line::default();
        assert_eq!(
            Measure::Utilisation.show(Measure::Utilisation.value(&empty)),
            "-"
        );
        assert_eq!(figures(&now, &empty)[0].change.trend, "");
        assert_eq!(Measure::Wait.show(Some(42.0)), "42 dtk");
        assert_eq!(figures(&now, &now)[0].change.text, "tetap");
    }

    #[test]
    fn offices_rank_highest_first_and_those_without_the_figure_last() {
        let (from, to) = (
            parse_date("2026-12-01").unwrap(),
            parse_date("2026-12-01").unwrap(),
        );
        let mut lines = BTreeMap::new();
        for (code, l) in [
            ("BOGOR", line(100, 50, 40, 10, &[])),
            ("JAKPUS", line(100, 90, 60, 30, &[60])),
            ("MEDAN", line(100, 70, 70, 0, &[])),
        ] {
            lines.insert((code.to_owned(), "2026-12-01".to_owned()), l);
        }
        let now = Report {
            office: String::new(),
            from,
            to,
            lines,
            stages: Vec::new(),
        };
        let before = Report {
            office: String::new(),
            from,
            to,
            lines: BTreeMap::new(),
            stages: Vec::new(),
        };
        let offices: Vec<_> = ["AMBON", "BOGOR", "JAKPUS", "MEDAN"]
            .into_iter()
            .map(office)
            .collect();
        let codes = |by| {
            ranking(&offices, &now, &before, by)
                .into_iter()
                .map(|r| r.code)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            codes(Measure::Utilisation),
            ["JAKPUS", "MEDAN", "BOGOR", "AMBON"]
        );
        assert_eq!(
            codes(Measure::NoShow),
            ["JAKPUS", "BOGOR", "MEDAN", "AMBON"]
        );
        assert_eq!(codes(Measure::Wait), ["JAKPUS", "AMBON", "BOGOR", "MEDAN"]);
        let map = heatmap(&offices, &now);
        assert_eq!(map.rows.len(), 4);
        assert_eq!(map.rows[0].cells[0].shade, "h0");
        assert_eq!(map.rows[2].cells[0].shade, "h5");
        assert_eq!(
            map.rows[1].cells[0].title,
            "BOGOR 2026-12-01: 50 dari 100 kursi (50,0%)"
        );
    }
}
