//! `make bench`: the running system under a flash crowd and whole bookings, side by side with
//! the baselines of the same shape, on the same machine.
//!
//! Scenarios, each at several concurrencies, bounded in attempts and time, loopback only:
//! - [`crowd`]: `grpc-hold`, N applicants holding one seat each on one office/date/session
//!   of capacity 150 through `QuotaService/Hold`; its baselines `redis-script` (the quota's
//!   own Lua hold script straight against Redis) and `postgres-row-lock` (the usual design:
//!   `SELECT ... FOR UPDATE`, update, insert); `grpc-floor`, the health check through the
//!   same server stack (the cost of any RPC); `tonic-bare`, the same check of a tonic server
//!   with no layers on a thread of the generator (the cost of one tonic RPC, both ends);
//!   `http-availability`, reads through `/api/v1`;
//! - [`flows`]: `grpc-booking` (create + confirm across 30 offices) and `whatsapp` (signed
//!   classic-format webhooks, each conversation through to its confirmation reply at a Cloud
//!   API stand-in served by this process).
//!
//! [`conn`] holds the generator's own HTTP/1.1 and HTTP/2 connections, [`drive`] runs the
//! closed loop, [`memory`] reads the services' memory from `/proc`,
//! [`report`] writes `docs/performance-results.md` and the plots. Broken invariants
//! (oversold seats, lost bookings, missing or double replies) fail the run; missed speed
//! targets are reported, not failed.
mod conn;
mod crowd;
mod draw;
mod drive;
mod flows;
mod memory;
mod report;

use antrean_proto::v1 as pb;
use antrean_proto::v1::booking_service_client::BookingServiceClient;
use antrean_proto::v1::quota_service_client::QuotaServiceClient;
use chrono::NaiveDate;
use clap::Parser;
use drive::Run;
use memory::Services;
use std::time::Duration;
use tonic::transport::Channel;

#[global_allocator]
static ALLOCATOR: antrean_platform::Allocator = antrean_platform::Allocator {};

/// Every scenario; `--scenarios` names some of them.
const SCENARIOS: &str = "grpc-hold,grpc-floor,tonic-bare,redis-script,postgres-row-lock,http-availability,grpc-booking,whatsapp,whatsapp-intake,whatsapp-intake-paced,draw";

#[derive(Debug, Parser)]
#[command(
    name = "antrean-bench",
    about = "antrean's load generator and its baselines"
)]
pub struct Args {
    #[arg(long, default_value = "http://127.0.0.1:50052")]
    quota: String,
    #[arg(long, default_value = "http://127.0.0.1:50053")]
    booking: String,
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    identity: String,
    /// Entries of the release-draw scenario (half by WhatsApp, half through the API).
    #[arg(long, default_value_t = 20_000)]
    draw_entries: usize,
    /// WhatsApp webhooks offered per second in the release-draw scenario.
    #[arg(long, default_value_t = 2_000.0)]
    draw_rate: f64,
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
    /// Where the Cloud API stand-in listens (the notification service's
    /// WHATSAPP_SANDBOX_URL must point here).
    #[arg(long, default_value = "127.0.0.1:18090")]
    cloud_api: String,
    /// Directory of the services' pid files (`make up` writes `.run/<service>.pid`).
    #[arg(long, default_value = ".run")]
    pids: String,
    /// Attempts per run of the flash crowd, its baselines and the reads.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Bookings (create + confirm) per run of `grpc-booking`.
    #[arg(long, default_value_t = 2_000)]
    bookings: usize,
    /// Conversations per run of `whatsapp`.
    #[arg(long, default_value_t = 1_000)]
    conversations: usize,
    /// Messages per run of `whatsapp-intake`.
    #[arg(long, default_value_t = 10_000)]
    intake: usize,
    /// Webhooks per second offered by `whatsapp-intake-paced` (an open loop, once per run).
    #[arg(long, default_value_t = 2_000.0)]
    intake_rate: f64,
    /// Offices the bookings and conversations are spread over.
    #[arg(long, default_value_t = 30)]
    offices: usize,
    /// Comma-separated concurrencies.
    #[arg(long, default_value = "16,64,256")]
    concurrency: String,
    /// Comma-separated scenarios to run (default: all).
    #[arg(long, default_value = SCENARIOS)]
    scenarios: String,
    /// Longest time one run may take, seconds.
    #[arg(long, default_value_t = 60)]
    max_seconds: u64,
    /// Runs of each short scenario per load (the flash crowd, its baselines and the reads,
    /// each well under a few seconds), interleaved; the report keeps the run of median
    /// throughput, so one noisy second of a shared host does not decide a ratio.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    #[arg(long, default_value = "docs")]
    out: String,
}

/// An office the bookings go to, with its open dates.
#[derive(Debug, Clone)]
pub struct FlowOffice {
    pub code: String,
    pub phone_number_id: String,
    pub dates: Vec<NaiveDate>,
}

pub struct Bench {
    pub args: Args,
    quota: QuotaServiceClient<Channel>,
    booking: BookingServiceClient<Channel>,
    offices: Vec<pb::Office>,
    pub flow_offices: Vec<FlowOffice>,
    pub services: Option<Services>,
    pub cloud: antrean_gateway::sandbox::Sandbox,
    http: reqwest::Client,
    /// PostgreSQL, to wait for its background work before a run (see [`Bench::settle`]).
    pg: sqlx::PgPool,
    /// Numbers the webhooks' message ids across runs (the gateway drops repeated ids).
    webhook_seq: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Bench {
    pub fn max(&self) -> Duration {
        Duration::from_secs(self.args.max_seconds)
    }
    pub fn quota(&self) -> QuotaServiceClient<Channel> {
        self.quota.clone()
    }
    pub fn booking(&self) -> BookingServiceClient<Channel> {
        self.booking.clone()
    }
    pub fn webhooks(&self) -> flows::Webhooks {
        flows::Webhooks {
            http: self.http.clone(),
            url: format!("{}/webhooks/whatsapp", self.args.gateway),
            seq: self.webhook_seq.clone(),
            cloud: self.cloud.clone(),
        }
    }

    /// Waits (at most 20 s) until no autovacuum worker runs and the system is idle: the
    /// vacuum and analyze that follow one scenario's writes, and the replies and deliveries
    /// the services still work off after it, would otherwise take a core from the next one.
    /// Idle is the services, Redis and PostgreSQL together taking at most 4% of one core
    /// over half a second (their background loops poll).
    async fn settle(&self) {
        let quiet_by = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < quiet_by {
            let busy: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'",
            )
            .fetch_one(&self.pg)
            .await
            .unwrap_or(0);
            if busy == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let Some(services) = &self.services else {
            return;
        };
        while std::time::Instant::now() < quiet_by {
            let before = services.system_cpu();
            tokio::time::sleep(Duration::from_millis(500)).await;
            if services.system_cpu() - before <= 0.02 {
                return;
            }
        }
    }

    /// Runs `f` once PostgreSQL is quiet, while watching the services' memory and CPU.
    pub async fn measured(&self, f: impl std::future::Future<Output = Run>) -> Run {
        self.settle().await;
        let watch = self.services.as_ref().map(Services::watch);
        let mut run = f.await;
        if let Some(w) = watch {
            run.memory = Some(w.finish().await);
        }
        run.print();
        run
    }

    /// Days of `office` from `from` to `to` (empty: the whole bookable horizon).
    async fn availability(&self, office: &str, from: &str, to: &str) -> Vec<pb::DayAvailability> {
        self.quota()
            .get_availability(pb::GetAvailabilityRequest {
                office_code: office.into(),
                from: from.into(),
                to: to.into(),
            })
            .await
            .expect("availability")
            .into_inner()
            .days
    }

    pub async fn session_counts(
        &self,
        office: &str,
        date: &str,
        session: pb::Session,
    ) -> pb::SessionAvailability {
        let days = self.availability(office, date, date).await;
        days.into_iter()
            .flat_map(|d| d.sessions)
            .find(|s| s.session == session as i32)
            .expect("session")
    }

    /// An open date nobody held or booked, at an office the bookings do not use.
    pub async fn untouched_day(&self, round: usize) -> (String, String) {
        let spare = &self.offices[self.flow_offices.len().min(self.offices.len() - 1)..];
        for k in 0..spare.len() {
            let office = &spare[(round + k) % spare.len()].code;
            for d in self
                .availability(office, "", "")
                .await
                .iter()
                .filter(|d| d.open)
            {
                if d.sessions.iter().all(|s| s.held == 0 && s.confirmed == 0) {
                    return (office.clone(), d.date.clone());
                }
            }
        }
        panic!("no untouched office/date left for the flash crowd")
    }

    /// Every session of every office: confirmed + held never above capacity. Answers the
    /// problems and the confirmed seats in all.
    async fn check_capacity(&self) -> (Vec<String>, u64) {
        let mut problems = Vec::new();
        let mut confirmed = 0;
        for o in &self.offices {
            for d in self.availability(&o.code, "", "").await {
                for s in &d.sessions {
                    confirmed += u64::from(s.confirmed);
                    if s.confirmed + s.held > s.capacity {
                        problems.push(format!(
                            "{} {} {:?}: {} confirmed + {} held > capacity {}",
                            o.code,
                            d.date,
                            s.session(),
                            s.confirmed,
                            s.held,
                            s.capacity
                        ));
                    }
                }
            }
        }
        (problems, confirmed)
    }
}

/// The loads of `--concurrency`, each once: the report keys its tables by load, so a load
/// listed twice would show its first run's figures twice.
fn concurrencies(list: &str) -> anyhow::Result<Vec<usize>> {
    let mut cs = Vec::new();
    for c in list.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let n: usize = c
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| anyhow::anyhow!("--concurrency: {c:?} is not a positive number"))?;
        anyhow::ensure!(
            !cs.contains(&n),
            "--concurrency lists {n} twice; run the bench again to repeat a load"
        );
        cs.push(n);
    }
    anyhow::ensure!(!cs.is_empty(), "--concurrency names no load");
    Ok(cs)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cs = concurrencies(&args.concurrency)?;
    anyhow::ensure!(args.repeat >= 1, "--repeat: at least one run per load");
    let wanted: Vec<String> = args.scenarios.split(',').map(|s| s.trim().into()).collect();
    if let Some(w) = wanted
        .iter()
        .find(|w| !SCENARIOS.split(',').any(|k| k == w.as_str()))
    {
        anyhow::bail!("--scenarios: no scenario {w:?}; the scenarios are {SCENARIOS}");
    }
    // The report is written at the end: a directory it cannot be written to fails now.
    std::fs::create_dir_all(&args.out).map_err(|e| anyhow::anyhow!("--out {}: {e}", args.out))?;
    let on = |s: &str| wanted.iter().any(|w| w == s);

    let cloud_listener = tokio::net::TcpListener::bind(&args.cloud_api).await?;
    let cloud = antrean_gateway::sandbox::spawn(cloud_listener);
    let mut quota = QuotaServiceClient::connect(args.quota.clone()).await?;
    let booking = BookingServiceClient::connect(args.booking.clone()).await?;
    let offices = quota
        .list_offices(pb::ListOfficesRequest {})
        .await?
        .into_inner()
        .offices;
    let services = Services::from_dir(&args.pids);
    if services.is_none() {
        eprintln!(
            "no running services in {}/*.pid: memory is not measured",
            args.pids
        );
    }
    let idle = services.as_ref().map(Services::resident);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(10))
        .build()?;
    let database = args.database.clone();
    let mut bench = Bench {
        args,
        quota,
        booking,
        offices,
        flow_offices: Vec::new(),
        services,
        cloud,
        http,
        webhook_seq: Default::default(),
        pg: sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy(&database)?,
    };
    let n = bench.args.offices.min(bench.offices.len());
    for o in bench.offices[..n].iter().cloned() {
        let dates = bench
            .availability(&o.code, "", "")
            .await
            .into_iter()
            .filter(|d| d.open)
            .filter_map(|d| d.date.parse().ok())
            .collect();
        bench.flow_offices.push(FlowOffice {
            code: o.code.clone(),
            phone_number_id: o.whatsapp.map(|w| w.phone_number_id).unwrap_or_default(),
            dates,
        });
    }
    let (_, confirmed_before) = bench.check_capacity().await;

    let mut runs: Vec<Run> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let (mut booked_seats, mut base, mut intake_base) = (0u64, 0usize, 0usize);
    for (round, &c) in cs.iter().enumerate() {
        let mut done: Vec<(Run, Vec<String>)> = Vec::new();
        let mut short: Vec<Vec<Run>> = Vec::new();
        for rep in 0..bench.args.repeat {
            // Each repetition its own untouched day, Redis key and counter row.
            let day = round * bench.args.repeat + rep;
            let mut reps: Vec<(Run, Vec<String>)> = Vec::new();
            if on("grpc-hold") {
                reps.push(crowd::grpc_hold(&bench, c, day).await);
            }
            if on("grpc-floor") {
                reps.push(crowd::grpc_floor(&bench, c).await);
            }
            if on("tonic-bare") {
                reps.push(crowd::tonic_bare(&bench, c).await);
            }
            if on("redis-script") {
                reps.push(crowd::redis_script(&bench, c, day).await);
            }
            if on("postgres-row-lock") {
                reps.push(crowd::postgres_row_lock(&bench, c, day).await);
            }
            if on("http-availability") {
                reps.push(crowd::http_availability(&bench, c).await);
            }
            short.resize_with(reps.len(), Vec::new);
            for (i, (r, p)) in reps.into_iter().enumerate() {
                short[i].push(r);
                problems.extend(p);
            }
        }
        for reps in short {
            done.push((drive::median_run(reps), Vec::new()));
        }
        if on("grpc-booking") {
            let (r, p) = flows::grpc_booking(&bench, c, base).await;
            booked_seats += r.admitted as u64;
            base += bench.args.bookings;
            done.push((r, p));
        }
        if on("whatsapp") {
            let ([conversation, webhook], p) = flows::whatsapp(&bench, c, 1_000_000 + base).await;
            booked_seats += conversation.admitted as u64;
            base += bench.args.conversations;
            done.push((conversation, p));
            done.push((webhook, Vec::new()));
        }
        if on("whatsapp-intake") {
            let ([accept, replies], p) =
                flows::whatsapp_intake(&bench, drive::Load::Workers(c), intake_base).await;
            intake_base += bench.args.intake;
            done.push((accept, p));
            done.push((replies, Vec::new()));
        }
        for (r, p) in done {
            runs.push(r);
            problems.extend(p);
        }
    }
    if on("whatsapp-intake-paced") {
        let rate = drive::Load::Rate(bench.args.intake_rate);
        let ([accept, replies], p) = flows::whatsapp_intake(&bench, rate, intake_base).await;
        runs.extend([accept, replies]);
        problems.extend(p);
    }
    if on("draw") {
        let (draw_runs, p) =
            draw::draw(&bench, bench.args.draw_entries, bench.args.draw_rate, 64).await;
        booked_seats += draw_runs[2].admitted as u64;
        runs.extend(draw_runs);
        problems.extend(p);
    }
    let (capacity_problems, confirmed_after) = bench.check_capacity().await;
    problems.extend(capacity_problems);
    if confirmed_after - confirmed_before != booked_seats {
        problems.push(format!(
            "the quota counts {} newly confirmed seats, the bookings confirmed {booked_seats}",
            confirmed_after - confirmed_before
        ));
    }
    let after = bench.services.as_ref().map(Services::resident);
    let md = report::write(
        &bench.args.out,
        bench.args.repeat,
        &runs,
        &cs,
        idle.as_deref(),
        after.as_deref(),
        &problems,
    )?;
    println!("{md}");
    if !problems.is_empty() {
        anyhow::bail!(
            "{} invariants broken (listed in {}/performance-results.md)",
            problems.len(),
            bench.args.out
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::concurrencies;

    #[test]
    fn each_load_is_listed_once_as_a_positive_number() {
        assert_eq!(concurrencies("16, 64,256").unwrap(), [16, 64, 256]);
        for bad in ["256,256", "16,x", "0", "", " , "] {
            assert!(concurrencies(bad).is_err(), "{bad:?} accepted");
        }
        let twice = concurrencies("16,64,16").unwrap_err().to_string();
        assert!(twice.contains("16 twice"), "{twice}");
    }
}
