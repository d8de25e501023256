//! Rolling restarts with real processes: the four gRPC services run as their own binaries
//! (built by `make test` before the suite), bookings flow from concurrent clients, and each
//! service in turn gets SIGTERM and is started again. Clients retry unavailable calls with the
//! same idempotency key, as the gateway does. No confirmed booking may be lost, none may exist
//! twice, and the seats sold may never exceed the capacity.
use antrean_platform::testing;
use antrean_proto::v1 as pb;
use antrean_proto::v1::booking_service_client::BookingServiceClient;
use antrean_proto::v1::quota_service_client::QuotaServiceClient;
use antrean_tests::cluster::{Cluster, binary, first_morning_in_bogor};
use antrean_tests::{applicant, create, nik};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::process::Command;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

const CAPACITY: u32 = 400;
const CLIENTS: usize = 6;

fn retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded
    )
}

/// Transient failures the clients met (and retried through).
static RETRIED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Calls `f` until it answers something other than a transient failure (two minutes at most).
async fn with_retries<T, F, Fut>(mut f: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    for _ in 0..1200 {
        match f().await {
            Err(s) if retryable(s.code()) => {
                RETRIED.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            other => return other,
        }
    }
    panic!("a call kept failing for two minutes");
}

/// `n` written in letters (names may not hold digits): 0 -> "A", 27 -> "BB".
fn letters(mut n: usize) -> String {
    let mut out = String::new();
    loop {
        out.insert(0, (b'A' + (n % 26) as u8) as char);
        n /= 26;
        if n == 0 {
            return out;
        }
    }
}

enum Outcome {
    Confirmed(String),
    SoldOut,
}

async fn book_one(
    client: &BookingServiceClient<Channel>,
    n: usize,
    date: &str,
) -> Result<Outcome, tonic::Status> {
    let birth = "1990-05-17";
    let req = create(
        &format!("restart-{n}"),
        "BOGOR",
        date,
        pb::Session::Pagi,
        &format!("0812{:08}", 30_000_000 + n),
        vec![applicant(
            &nik(birth, n as u32 + 1),
            &format!("Pemohon {}", letters(n)),
            birth,
        )],
    );
    let created = with_retries(|| {
        let mut c = client.clone();
        let req = req.clone();
        async move { c.create_booking(req).await }
    })
    .await;
    let created = match created {
        Ok(r) => r.into_inner(),
        Err(s) if antrean_platform::status::reason(&s).as_deref() == Some("SOLD_OUT") => {
            return Ok(Outcome::SoldOut);
        }
        Err(s) => return Err(s),
    };
    let id = created.booking.unwrap().booking_id;
    let confirm = pb::ConfirmBookingRequest {
        booking_id: id.clone(),
        confirmation_code: created.confirmation_code,
    };
    let confirmed = with_retries(|| {
        let mut c = client.clone();
        let req = confirm.clone();
        async move { c.confirm_booking(req).await }
    })
    .await?
    .into_inner();
    assert_eq!(confirmed.status, pb::BookingStatus::Confirmed as i32);
    Ok(Outcome::Confirmed(id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_each_service_under_load_loses_and_oversells_nothing() {
    let mut cluster = Cluster::new();
    for i in 0..cluster.services.len() {
        cluster.start(i).await;
    }
    let channel = |url: String| Endpoint::from_shared(url).unwrap().connect_lazy();
    let mut quota = QuotaServiceClient::new(channel(cluster.url("quota")));
    let booking = BookingServiceClient::new(channel(cluster.url("booking")));

    // The first bookable morning, at a known capacity.
    let date = first_morning_in_bogor(&mut quota).await;
    quota
        .set_capacity(antrean_platform::actor::as_dev_admin(
            pb::SetCapacityRequest {
                office_code: "BOGOR".into(),
                date: date.clone(),
                session: pb::Session::Pagi as i32,
                capacity: CAPACITY,
            },
        ))
        .await
        .unwrap();

    let restarting = Arc::new(AtomicBool::new(true));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (booking, date, restarting, next) = (
                booking.clone(),
                date.clone(),
                restarting.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                let (mut confirmed, mut sold_out) = (Vec::new(), 0);
                // Until the restarts are over and a little beyond the capacity.
                while restarting.load(Ordering::SeqCst)
                    || next.load(Ordering::SeqCst) < CAPACITY as usize + 20
                {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    match book_one(&booking, n, &date).await {
                        Ok(Outcome::Confirmed(id)) => confirmed.push(id),
                        Ok(Outcome::SoldOut) => sold_out += 1,
                        Err(s) => panic!("booking {n} failed: {s:?}"),
                    }
                    tokio::time::sleep(Duration::from_millis(40)).await;
                }
                (confirmed, sold_out)
            })
        })
        .collect();

    // Each service in turn, while bookings flow.
    for i in 0..cluster.services.len() {
        tokio::time::sleep(Duration::from_millis(700)).await;
        cluster.stop(i).await;
        cluster.start(i).await;
    }
    restarting.store(false, Ordering::SeqCst);

    let mut confirmed = Vec::new();
    let mut sold_out = 0;
    for c in clients {
        let (ids, s) = c.await.unwrap();
        confirmed.extend(ids);
        sold_out += s;
    }
    let attempts = next.load(Ordering::SeqCst);
    assert_eq!(confirmed.len() + sold_out, attempts);
    // The restarts really happened under load: clients met them and retried.
    let retried = RETRIED.load(Ordering::SeqCst);
    eprintln!("{attempts} attempts, {sold_out} sold out, {retried} calls retried");
    assert!(retried > 0, "no call met a restart");
    assert!(
        sold_out > 0,
        "the load never reached the capacity ({attempts} attempts)"
    );

    // Nothing lost, nothing twice: the ledger holds exactly the bookings clients saw confirmed.
    let pool = sqlx::PgPool::connect(&cluster.env["DATABASE_URL"])
        .await
        .unwrap();
    let in_ledger: Vec<String> = sqlx::query_scalar(
        "SELECT id::text FROM booking.bookings WHERE status = 'CONFIRMED' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    confirmed.sort();
    assert_eq!(in_ledger, confirmed);
    // Nothing oversold: every seat sold, none beyond the capacity, and the counters agree.
    assert_eq!(confirmed.len(), CAPACITY as usize);
    let day = quota
        .get_availability(pb::GetAvailabilityRequest {
            office_code: "BOGOR".into(),
            from: date.clone(),
            to: date.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .days
        .remove(0);
    let pagi = day
        .sessions
        .iter()
        .find(|s| s.session == pb::Session::Pagi as i32)
        .unwrap();
    assert_eq!(pagi.remaining, 0);

    for i in 0..cluster.services.len() {
        cluster.stop(i).await;
    }
}

#[tokio::test]
async fn the_migration_job_command_prepares_every_schema_and_can_run_again() {
    let db = testing::fresh_database_url();
    for _ in 0..2 {
        for name in ["identity", "quota", "booking", "notification", "gateway"] {
            let out = Command::new(binary(&format!("antrean-{name}")))
                .arg("migrate")
                .env("DATABASE_URL", &db)
                .output()
                .await
                .unwrap();
            assert!(
                out.status.success(),
                "{name} migrate: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let said = String::from_utf8_lossy(&out.stdout);
            assert!(said.starts_with(&format!("{name}: ")), "{said}");
        }
    }
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let offices: i64 = sqlx::query_scalar("SELECT count(*) FROM quota.offices")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(offices, 36);
    let traceparent: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns
          WHERE table_schema = 'notification' AND table_name = 'outbox'
            AND column_name = 'traceparent')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(traceparent);
}
