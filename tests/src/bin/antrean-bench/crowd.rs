//! The flash crowd: every attempt holds one seat on the same office/date/session of capacity
//! 150, through the service (`grpc-hold`) and through its two baselines: the quota's own Lua
//! script straight against Redis (`redis-script`) and the usual PostgreSQL design that locks
//! one counter row (`postgres-row-lock`); and the floor of any RPC (`grpc-floor`, through the
//! quota's server stack, and `tonic-bare`, through tonic alone).
use crate::Bench;
use crate::conn::{H2, Http1};
use crate::drive::{Outcome, Run, code_name, drive};
use antrean_platform::domain::SessionOfDay;
use antrean_proto::v1 as pb;
use antrean_proto::v1::quota_service_client::QuotaServiceClient;
use antrean_quota::counters::{Counters, DayBuild, DayKey, HoldArgs, HoldOutcome};
use std::sync::Arc;
use std::time::Duration;

pub const CAPACITY: u32 = 150;

pub async fn grpc_hold(b: &Bench, c: usize, round: usize) -> (Run, Vec<String>) {
    // A date of an office nobody held or booked yet, set to capacity 150.
    let (office, date) = b.untouched_day(round).await;
    b.quota()
        .set_capacity(antrean_platform::actor::as_dev_admin(
            pb::SetCapacityRequest {
                office_code: office.clone(),
                date: date.clone(),
                session: pb::Session::Pagi as i32,
                capacity: CAPACITY,
            },
        ))
        .await
        .expect("capacity");
    // A few HTTP/2 connections, as a gateway replica set would have.
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(QuotaServiceClient::new(
            H2::connect(&b.args.quota).await.expect("quota"),
        ));
    }
    let clients = Arc::new(clients);
    let tag = format!("bench-{round}-{}", std::process::id());
    let (o, d) = (office.clone(), date.clone());
    let run = b
        .measured(drive("grpc-hold", b.args.requests, c, b.max(), move |i| {
            let mut client = clients[i % clients.len()].clone();
            let (office, date, hold_id) = (o.clone(), d.clone(), format!("{tag}-{i}"));
            async move {
                let r = client
                    .hold(pb::HoldRequest {
                        hold_id,
                        office_code: office,
                        date,
                        session: pb::Session::Pagi as i32,
                        seats: 1,
                        ttl_seconds: 600,
                        draw_admission: false,
                    })
                    .await;
                match r {
                    Ok(_) => Outcome::Admitted,
                    Err(s) if s.code() == tonic::Code::ResourceExhausted => Outcome::Refused,
                    Err(s) => Outcome::Error(code_name(&s)),
                }
            }
        }))
        .await;
    let mut problems = Vec::new();
    if run.admitted > CAPACITY as usize {
        problems.push(format!(
            "grpc-hold c={c}: {} admitted on capacity {CAPACITY}",
            run.admitted
        ));
    }
    // The service's own counters agree with what the crowd was told.
    let session = b.session_counts(&office, &date, pb::Session::Pagi).await;
    if session.held + session.confirmed != run.admitted as u32 {
        problems.push(format!(
            "grpc-hold c={c}: {office} {date} counts {} held + {} confirmed, the crowd was admitted {}",
            session.held, session.confirmed, run.admitted
        ));
    }
    (run, problems)
}

/// The floor of any RPC on this machine: the standard `grpc.health.v1.Health/Check` of the
/// quota server, through the same server stack (trace context, timeout, load shedding) and
/// the same four connections as `grpc-hold`, doing no work of its own.
pub async fn grpc_floor(b: &Bench, c: usize) -> (Run, Vec<String>) {
    (
        health_checks(b, "grpc-floor", &b.args.quota, c).await,
        Vec::new(),
    )
}

/// The cost of one tonic RPC on this host, both ends: the health check of a tonic server with
/// no layers at all, on a thread of the generator's own, over 4 connections as `grpc-floor`.
/// Its CPU is the generator's row: client and server together.
pub async fn tonic_bare(b: &Bench, c: usize) -> (Run, Vec<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            listener.set_nonblocking(true).expect("nonblocking");
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let (_reporter, health) = tonic_health::server::health_reporter();
            tonic::transport::Server::builder()
                .add_service(health)
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                    async {
                        stopped.await.ok();
                    },
                )
                .await
                .expect("bare server");
        })
    });
    let run = health_checks(b, "tonic-bare", &format!("http://{addr}"), c).await;
    stop.send(()).ok();
    server.join().expect("bare server thread");
    (run, Vec::new())
}

/// `scenario`: health checks of the server at `url` over four HTTP/2 connections, each
/// admitted when the server answers SERVING.
async fn health_checks(b: &Bench, scenario: &'static str, url: &str, c: usize) -> Run {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(HealthClient::new(H2::connect(url).await.expect(scenario)));
    }
    let clients = Arc::new(clients);
    b.measured(drive(scenario, b.args.requests, c, b.max(), move |i| {
        let mut client = clients[i % clients.len()].clone();
        async move {
            let r = client
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await;
            match r {
                Ok(r) if r.get_ref().status == ServingStatus::Serving as i32 => Outcome::Admitted,
                Ok(_) => Outcome::Error("not serving".into()),
                Err(s) => Outcome::Error(code_name(&s)),
            }
        }
    }))
    .await
}

pub async fn redis_script(b: &Bench, c: usize, round: usize) -> (Run, Vec<String>) {
    let counters = Arc::new(
        Counters::connect(&b.args.redis, &format!("bench{}:", std::process::id()))
            .await
            .expect("redis"),
    );
    let day = DayKey {
        office: format!("BENCH{round}"),
        date: "2026-12-01".parse().expect("date"),
    };
    counters
        .init(
            &day,
            &DayBuild {
                epoch: 1,
                open: true,
                reason: String::new(),
                note: String::new(),
                special: false,
                capacity: [CAPACITY, 0],
                confirmed: [0, 0],
                holds: Vec::new(),
                // Gone from Redis an hour after the run.
                lifetime_ms: 3_600_000,
            },
        )
        .await
        .expect("init");
    let run = b
        .measured(drive(
            "redis-script",
            b.args.requests,
            c,
            b.max(),
            move |i| {
                let (counters, day) = (counters.clone(), day.clone());
                async move {
                    let now = chrono::Utc::now().timestamp_millis();
                    let hold = HoldArgs {
                        hold_id: format!("h{i}"),
                        session: SessionOfDay::Pagi,
                        seats: 1,
                        expires_ms: now + 600_000,
                    };
                    // One script call per attempt, as `redis-benchmark EVALSHA` sends them.
                    match counters.hold_alone(&day, hold, now).await {
                        Ok(HoldOutcome::Admitted { .. }) => Outcome::Admitted,
                        Ok(HoldOutcome::Full { .. }) => Outcome::Refused,
                        Ok(other) => Outcome::Error(format!("{other:?}")),
                        Err(e) => Outcome::Error(format!("redis {:?}", e.kind())),
                    }
                }
            },
        ))
        .await;
    let problems = (run.admitted > CAPACITY as usize)
        .then(|| format!("redis-script c={c}: {} admitted", run.admitted))
        .into_iter()
        .collect();
    (run, problems)
}

pub async fn postgres_row_lock(b: &Bench, c: usize, round: usize) -> (Run, Vec<String>) {
    // One hot row serialises every attempt, so more connections than this only queue inside
    // PostgreSQL; the five services keep up to 64 of the server's 100 connections open.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(c.min(24) as u32)
        .connect(&b.args.database)
        .await
        .expect("postgres");
    for ddl in [
        "CREATE SCHEMA IF NOT EXISTS bench",
        "CREATE TABLE IF NOT EXISTS bench.counters (id text PRIMARY KEY, capacity int, used int)",
        "CREATE TABLE IF NOT EXISTS bench.holds (id text PRIMARY KEY, counter text, at timestamptz DEFAULT now())",
    ] {
        sqlx::query(ddl).execute(&pool).await.expect("bench schema");
    }
    let id = format!("r{round}-{}", std::process::id());
    sqlx::query("INSERT INTO bench.counters VALUES ($1, $2, 0)")
        .bind(&id)
        .bind(CAPACITY as i32)
        .execute(&pool)
        .await
        .expect("row");
    // The same number of attempts as the others would take minutes: a quarter is enough to
    // measure the rate.
    let n = (b.args.requests / 4).max(1000);
    let (p, counter) = (pool.clone(), id.clone());
    let run = b
        .measured(drive("postgres-row-lock", n, c, b.max(), move |i| {
            let (pool, id) = (p.clone(), counter.clone());
            async move {
                match row_lock_hold(&pool, &id, i).await {
                    Ok(true) => Outcome::Admitted,
                    Ok(false) => Outcome::Refused,
                    Err(e) => Outcome::Error(match e {
                        sqlx::Error::PoolTimedOut => "pool timeout".into(),
                        e => format!(
                            "postgres {}",
                            e.as_database_error()
                                .and_then(|d| d.code())
                                .unwrap_or_default()
                        ),
                    }),
                }
            }
        }))
        .await;
    let used: i32 = sqlx::query_scalar("SELECT used FROM bench.counters WHERE id = $1")
        .bind(&id)
        .fetch_one(&pool)
        .await
        .expect("used");
    let mut problems = Vec::new();
    if run.admitted > CAPACITY as usize || used as usize != run.admitted {
        problems.push(format!(
            "postgres-row-lock c={c}: {} admitted, the row counts {used}",
            run.admitted
        ));
    }
    (run, problems)
}

/// The usual design's hold: lock the counter row, check, count, record.
async fn row_lock_hold(pool: &sqlx::PgPool, id: &str, i: usize) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let (cap, used): (i32, i32) =
        sqlx::query_as("SELECT capacity, used FROM bench.counters WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    if used + 1 > cap {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query("UPDATE bench.counters SET used = used + 1 WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO bench.holds (id, counter) VALUES ($1, $2)")
        .bind(format!("{id}-{i}"))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// Availability reads of the whole horizon through `/api/v1`.
pub async fn http_availability(b: &Bench, c: usize) -> (Run, Vec<String>) {
    // One keep-alive connection per concurrent reader, opened before the clock starts (as
    // grpc-hold's are): otherwise a short run at 256 measures mostly TCP handshakes.
    let http = Http1::connect(&b.args.gateway, c).await.expect("gateway");
    let uri: http::Uri = "/api/v1/offices/BOGOR/availability".parse().expect("path");
    let run = b
        .measured(drive(
            "http-availability",
            b.args.requests,
            c,
            b.max(),
            move |_| {
                let (http, uri) = (http.clone(), uri.clone());
                async move {
                    match tokio::time::timeout(Duration::from_secs(10), http.get(&uri)).await {
                        Ok(Ok((status, body))) if status.is_success() => {
                            if body.starts_with(b"{\"") {
                                Outcome::Admitted
                            } else {
                                Outcome::Error("not JSON".into())
                            }
                        }
                        Ok(Ok((status, _))) => Outcome::Error(format!("HTTP {}", status.as_u16())),
                        Ok(Err(_)) => Outcome::Error("connection".into()),
                        Err(_) => Outcome::Error("timeout".into()),
                    }
                }
            },
        ))
        .await;
    (run, Vec::new())
}
