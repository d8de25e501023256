//! `make bench`: the flash crowd against the running system, side by side with its baselines.
//!
//! Scenarios, each at several concurrencies, bounded in requests and time, loopback only:
//! - `grpc-hold`: N applicants hold one seat each on one office/date/session of capacity 150
//!   through `antrean.v1.QuotaService/Hold` (the service as deployed);
//! - `redis-script`: the quota's own Lua hold script driven straight against Redis (the
//!   physical limit of the design);
//! - `postgres-row-lock`: the usual design, one transaction per attempt that locks a counter
//!   row (`SELECT ... FOR UPDATE`, update, insert);
//! - `http-availability`: availability reads through `/api/v1`.
//!
//! Writes `docs/performance.md` (tables, ratios) and `docs/performance-*.svg` (plots).
use antrean_platform::domain::SessionOfDay;
use antrean_proto::v1 as pb;
use antrean_proto::v1::quota_service_client::QuotaServiceClient;
use antrean_quota::counters::{Counters, DayBuild, DayKey, HoldOutcome};
use clap::Parser;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:50052")]
    quota: String,
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    gateway: String,
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis: String,
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/antrean"
    )]
    database: String,
    /// Attempts per run.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Comma-separated concurrencies.
    #[arg(long, default_value = "16,64,256")]
    concurrency: String,
    /// Longest time one run may take.
    #[arg(long, default_value_t = 60)]
    max_seconds: u64,
    #[arg(long, default_value = "docs")]
    out: String,
}

#[derive(Debug, Clone, Default)]
struct Run {
    scenario: &'static str,
    concurrency: usize,
    done: usize,
    admitted: usize,
    refused: usize,
    errors: usize,
    seconds: f64,
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.done as f64 / self.seconds
    }
}

/// Runs `n` attempts with `c` workers; each attempt answers Some(true) admitted,
/// Some(false) refused, None error.
async fn drive<F, Fut>(scenario: &'static str, n: usize, c: usize, max: Duration, attempt: F) -> Run
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Option<bool>> + Send,
{
    let attempt = Arc::new(attempt);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + max;
    let mut workers = Vec::new();
    for _ in 0..c {
        let (attempt, next) = (attempt.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let (mut a, mut r, mut e) = (0, 0, 0);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || Instant::now() > deadline {
                    break;
                }
                let t = Instant::now();
                match attempt(i).await {
                    Some(true) => a += 1,
                    Some(false) => r += 1,
                    None => e += 1,
                }
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            (lat, a, r, e)
        }));
    }
    let mut all = Vec::new();
    let mut run = Run {
        scenario,
        concurrency: c,
        ..Run::default()
    };
    for w in workers {
        let (lat, a, r, e) = w.await.expect("worker");
        all.extend(lat);
        run.admitted += a;
        run.refused += r;
        run.errors += e;
    }
    run.seconds = start.elapsed().as_secs_f64();
    run.done = all.len();
    all.sort_by(|a, b| a.partial_cmp(b).expect("numbers"));
    let q = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    (run.p50, run.p95, run.p99, run.max) = (
        q(0.50),
        q(0.95),
        q(0.99),
        all.last().copied().unwrap_or(0.0),
    );
    eprintln!(
        "{scenario:>18} c={c:<5} {:>9.0}/s  p50 {:.2} ms  p99 {:.2} ms  admitted {} refused {} errors {}",
        run.rate(),
        run.p50,
        run.p99,
        run.admitted,
        run.refused,
        run.errors
    );
    run
}

async fn grpc_hold(a: &Args, c: usize, round: usize) -> Run {
    // An office/date nobody holds or booked yet (earlier runs leave holds behind), capacity 150.
    let mut admin = QuotaServiceClient::connect(a.quota.clone())
        .await
        .expect("quota");
    let offices = admin
        .list_offices(pb::ListOfficesRequest {})
        .await
        .expect("offices")
        .into_inner()
        .offices;
    let mut pick = None;
    'search: for k in 0..offices.len() {
        let office = offices[(round * 7 + k + std::process::id() as usize) % offices.len()]
            .code
            .clone();
        let days = admin
            .get_availability(pb::GetAvailabilityRequest {
                office_code: office.clone(),
                from: String::new(),
                to: String::new(),
            })
            .await
            .expect("availability")
            .into_inner()
            .days;
        for d in days.iter().filter(|d| d.open) {
            if d.sessions.iter().all(|s| s.held == 0 && s.confirmed == 0) {
                pick = Some((office, d.date.clone()));
                break 'search;
            }
        }
    }
    let (office, date) = pick.expect("a free office/date");
    admin
        .set_capacity(antrean_platform::actor::as_dev_admin(
            pb::SetCapacityRequest {
                office_code: office.clone(),
                date: date.clone(),
                session: pb::Session::Pagi as i32,
                capacity: 150,
            },
        ))
        .await
        .expect("capacity");
    // A few HTTP/2 connections, as a gateway replica set would have.
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(
            QuotaServiceClient::connect(a.quota.clone())
                .await
                .expect("quota"),
        );
    }
    let clients = Arc::new(clients);
    let tag = format!("bench-{round}-{}", std::process::id());
    let run = drive(
        "grpc-hold",
        a.requests,
        c,
        Duration::from_secs(a.max_seconds),
        move |i| {
            let mut client = clients[i % clients.len()].clone();
            let (office, date, tag) = (office.clone(), date.clone(), tag.clone());
            async move {
                let r = client
                    .hold(pb::HoldRequest {
                        hold_id: format!("{tag}-{i}"),
                        office_code: office,
                        date,
                        session: pb::Session::Pagi as i32,
                        seats: 1,
                        ttl_seconds: 600,
                    })
                    .await;
                match r {
                    Ok(_) => Some(true),
                    Err(s) if s.code() == tonic::Code::ResourceExhausted => Some(false),
                    Err(_) => None,
                }
            }
        },
    )
    .await;
    assert!(
        run.admitted <= 150,
        "oversold: {} admitted on capacity 150",
        run.admitted
    );
    run
}

async fn redis_script(a: &Args, c: usize, round: usize) -> Run {
    let counters = Arc::new(
        Counters::connect(&a.redis, &format!("bench{}:", std::process::id()))
            .await
            .expect("redis"),
    );
    let day = DayKey {
        office: format!("BENCH{round}"),
        date: "2026-12-01".parse().expect("date"),
    };
    let now = chrono::Utc::now().timestamp_millis();
    counters
        .init(
            &day,
            &DayBuild {
                epoch: 1,
                open: true,
                reason: String::new(),
                note: String::new(),
                special: false,
                capacity: [150, 0],
                confirmed: [0, 0],
                holds: Vec::new(),
                expire_at_ms: now + 3_600_000,
            },
        )
        .await
        .expect("init");
    let run = drive(
        "redis-script",
        a.requests,
        c,
        Duration::from_secs(a.max_seconds),
        move |i| {
            let (counters, day) = (counters.clone(), day.clone());
            async move {
                let now = chrono::Utc::now().timestamp_millis();
                match counters
                    .hold(
                        &day,
                        &format!("h{i}"),
                        SessionOfDay::Pagi,
                        1,
                        now + 600_000,
                        now,
                    )
                    .await
                {
                    Ok(HoldOutcome::Admitted { .. }) => Some(true),
                    Ok(HoldOutcome::Full { .. }) => Some(false),
                    _ => None,
                }
            }
        },
    )
    .await;
    assert!(run.admitted <= 150);
    run
}

async fn postgres_row_lock(a: &Args, c: usize, round: usize) -> Run {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(c.min(80) as u32)
        .connect(&a.database)
        .await
        .expect("postgres");
    sqlx::query("CREATE SCHEMA IF NOT EXISTS bench")
        .execute(&pool)
        .await
        .expect("schema");
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS bench.counters (id text PRIMARY KEY, capacity int, used int)",
    )
    .execute(&pool)
    .await
    .expect("table");
    sqlx::query("CREATE TABLE IF NOT EXISTS bench.holds (id text PRIMARY KEY, counter text, at timestamptz DEFAULT now())").execute(&pool).await.expect("table");
    let id = format!("r{round}-{}", std::process::id());
    sqlx::query("INSERT INTO bench.counters VALUES ($1, 150, 0)")
        .bind(&id)
        .execute(&pool)
        .await
        .expect("row");
    // The same number of attempts as the others would take minutes: a quarter is enough to
    // measure the rate.
    let n = (a.requests / 4).max(1000);
    let run = drive(
        "postgres-row-lock",
        n,
        c,
        Duration::from_secs(a.max_seconds),
        move |i| {
            let (pool, id) = (pool.clone(), id.clone());
            async move {
                let mut tx = pool.begin().await.ok()?;
                let (cap, used): (i32, i32) = sqlx::query_as(
                    "SELECT capacity, used FROM bench.counters WHERE id = $1 FOR UPDATE",
                )
                .bind(&id)
                .fetch_one(&mut *tx)
                .await
                .ok()?;
                if used + 1 > cap {
                    tx.rollback().await.ok()?;
                    return Some(false);
                }
                sqlx::query("UPDATE bench.counters SET used = used + 1 WHERE id = $1")
                    .bind(&id)
                    .execute(&mut *tx)
                    .await
                    .ok()?;
                sqlx::query("INSERT INTO bench.holds (id, counter) VALUES ($1, $2)")
                    .bind(format!("{id}-{i}"))
                    .bind(&id)
                    .execute(&mut *tx)
                    .await
                    .ok()?;
                tx.commit().await.ok()?;
                Some(true)
            }
        },
    )
    .await;
    assert!(run.admitted <= 150);
    run
}

async fn http_availability(a: &Args, c: usize) -> Run {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(c)
        .build()
        .expect("client");
    let url = format!("{}/api/v1/offices/BOGOR/availability", a.gateway);
    drive(
        "http-availability",
        a.requests,
        c,
        Duration::from_secs(a.max_seconds),
        move |_| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let r = http.get(&url).send().await.ok()?;
                if r.status().as_u16() == 429 {
                    return Some(false);
                }
                r.bytes().await.ok().map(|_| true)
            }
        },
    )
    .await
}

/// A line plot of `value` against concurrency, one line per scenario (log scale on y).
fn svg(title: &str, unit: &str, runs: &[Run], value: fn(&Run) -> f64) -> String {
    let scenarios: Vec<&str> = {
        let mut s: Vec<&str> = runs.iter().map(|r| r.scenario).collect();
        s.dedup();
        s
    };
    let xs: Vec<usize> = {
        let mut x: Vec<usize> = runs.iter().map(|r| r.concurrency).collect();
        x.sort_unstable();
        x.dedup();
        x
    };
    let ys: Vec<f64> = runs.iter().map(value).filter(|v| *v > 0.0).collect();
    let (lo, hi) = (
        ys.iter().cloned().fold(f64::MAX, f64::min).log10().floor(),
        ys.iter().cloned().fold(0.0, f64::max).log10().ceil(),
    );
    let (w, h, l, t) = (640.0, 360.0, 70.0, 30.0);
    let px = |i: usize| l + (w - l - 160.0) * i as f64 / (xs.len().max(2) - 1) as f64;
    let py = |v: f64| t + (h - t - 40.0) * (1.0 - (v.log10() - lo) / (hi - lo).max(1.0));
    let colors = ["#0b4f8a", "#1e6b33", "#a4161a", "#7a4f00"];
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><text x=\"{l}\" y=\"18\" font-weight=\"bold\">{title}</text>"
    );
    for e in lo as i32..=hi as i32 {
        let y = py(10f64.powi(e));
        let _ = write!(
            s,
            "<line x1=\"{l}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">1e{e} {unit}</text>",
            w - 160.0,
            l - 6.0,
            y + 4.0
        );
    }
    for (i, x) in xs.iter().enumerate() {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">c={x}</text>",
            px(i),
            h - 15.0
        );
    }
    for (k, sc) in scenarios.iter().enumerate() {
        let pts: Vec<String> = xs
            .iter()
            .enumerate()
            .filter_map(|(i, x)| {
                runs.iter()
                    .find(|r| r.scenario == *sc && r.concurrency == *x)
                    .map(|r| format!("{:.1},{:.1}", px(i), py(value(r).max(1e-9))))
            })
            .collect();
        let color = colors[k % colors.len()];
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/><text x=\"{}\" y=\"{}\" fill=\"{color}\">{sc}</text>",
            pts.join(" "),
            w - 150.0,
            t + 20.0 + 18.0 * k as f64
        );
    }
    s.push_str("</svg>\n");
    s
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let cs: Vec<usize> = a
        .concurrency
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let mut runs = Vec::new();
    for (round, &c) in cs.iter().enumerate() {
        runs.push(grpc_hold(&a, c, round).await);
        runs.push(redis_script(&a, c, round).await);
        runs.push(postgres_row_lock(&a, c, round).await);
        runs.push(http_availability(&a, c).await);
    }
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| scenario | concurrency | requests | throughput (/s) | p50 ms | p95 ms | p99 ms | max ms | admitted | refused | errors |"
    );
    let _ = writeln!(
        md,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for r in &runs {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} |",
            r.scenario,
            r.concurrency,
            r.done,
            r.rate(),
            r.p50,
            r.p95,
            r.p99,
            r.max,
            r.admitted,
            r.refused,
            r.errors
        );
    }
    let _ = writeln!(
        md,
        "\n| concurrency | gRPC Hold / raw Redis script | gRPC Hold / PostgreSQL row lock |\n| --- | --- | --- |"
    );
    for &c in &cs {
        let get = |s: &str| {
            runs.iter()
                .find(|r| r.scenario == s && r.concurrency == c)
                .map_or(0.0, Run::rate)
        };
        let _ = writeln!(
            md,
            "| {c} | {:.2} | {:.1} |",
            get("grpc-hold") / get("redis-script"),
            get("grpc-hold") / get("postgres-row-lock")
        );
    }
    std::fs::write(format!("{}/performance-results.md", a.out), &md)?;
    std::fs::write(
        format!("{}/performance-throughput.svg", a.out),
        svg("Throughput against concurrency", "/s", &runs, Run::rate),
    )?;
    std::fs::write(
        format!("{}/performance-p99.svg", a.out),
        svg("p99 latency against concurrency", "ms", &runs, |r| r.p99),
    )?;
    println!("{md}");
    Ok(())
}
