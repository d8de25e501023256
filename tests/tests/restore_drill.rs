//! The restore drill (`make restore-drill`; docs/backup.md): the five services run as real
//! processes and take bookings (groups, cancellations, a hold not yet confirmed, two offices);
//! the ledger is dumped with `pg_dump` while they run, restored with `pg_restore` into a
//! fresh database, and the services start on it with an empty Redis. Every booking (status,
//! code, queue numbers, times) and every availability figure must read the same as before,
//! and the rebuilt seat counters must sell exactly the seats left, no more.
use antrean_platform::actor::as_dev_admin;
use antrean_platform::testing;
use antrean_proto::v1 as pb;
use antrean_proto::v1::booking_service_client::BookingServiceClient;
use antrean_proto::v1::quota_service_client::QuotaServiceClient;
use antrean_tests::cluster::Cluster;
use antrean_tests::{applicant, create, nik};
use tokio::process::Command;
use tonic::transport::{Channel, Endpoint};

/// Spare seats left in the session the drill fills after the restore.
const SPARE: u32 = 2;

struct Clients {
    booking: BookingServiceClient<Channel>,
    quota: QuotaServiceClient<Channel>,
}

fn clients(cluster: &Cluster) -> Clients {
    let channel = |url: String| Endpoint::from_shared(url).unwrap().connect_lazy();
    Clients {
        booking: BookingServiceClient::new(channel(cluster.url("booking"))),
        quota: QuotaServiceClient::new(channel(cluster.url("quota"))),
    }
}

/// The first `n` open days of `office` with a morning session.
async fn open_days(quota: &mut QuotaServiceClient<Channel>, office: &str, n: usize) -> Vec<String> {
    quota
        .get_availability(pb::GetAvailabilityRequest {
            office_code: office.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .days
        .into_iter()
        .filter(|d| {
            d.open
                && d.sessions
                    .iter()
                    .any(|s| s.session == pb::Session::Pagi as i32)
        })
        .take(n)
        .map(|d| d.date)
        .collect()
}

/// Books `people` applicants; confirms unless `hold_only`. Answers the booking id.
async fn book(
    c: &mut Clients,
    n: u32,
    office: &str,
    date: &str,
    session: pb::Session,
    people: u32,
    hold_only: bool,
) -> Result<String, tonic::Status> {
    let birth = "1988-04-09";
    let applicants = (0..people)
        .map(|i| {
            applicant(
                &nik(birth, n * 10 + i + 1),
                &format!("Pemohon {}", letters(n * 10 + i)),
                birth,
            )
        })
        .collect();
    let phone = format!("0812{:08}", 55_000_000 + n);
    let created = c
        .booking
        .create_booking(create(
            &format!("drill-{n}"),
            office,
            date,
            session,
            &phone,
            applicants,
        ))
        .await?
        .into_inner();
    let id = created.booking.unwrap().booking_id;
    if !hold_only {
        c.booking
            .confirm_booking(pb::ConfirmBookingRequest {
                booking_id: id.clone(),
                confirmation_code: created.confirmation_code,
            })
            .await?;
    }
    Ok(id)
}

/// `n` in letters (names hold no digits).
fn letters(mut n: u32) -> String {
    let mut out = String::new();
    loop {
        out.insert(0, char::from(b'A' + (n % 26) as u8));
        n /= 26;
        if n == 0 {
            return out;
        }
    }
}

/// What the services answer about the bookings and the offices' days.
#[derive(Debug, PartialEq)]
struct Snapshot {
    bookings: Vec<pb::Booking>,
    days: Vec<pb::DayAvailability>,
}

async fn snapshot(c: &mut Clients, ids: &[String]) -> Snapshot {
    let mut bookings = Vec::new();
    for id in ids {
        bookings.push(
            c.booking
                .get_booking(pb::GetBookingRequest {
                    key: Some(pb::get_booking_request::Key::BookingId(id.clone())),
                    contact_phone: String::new(),
                    office_code: String::new(),
                })
                .await
                .unwrap()
                .into_inner(),
        );
    }
    let mut days = Vec::new();
    for office in ["BOGOR", "MAKASSAR"] {
        days.extend(
            c.quota
                .get_availability(pb::GetAvailabilityRequest {
                    office_code: office.into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .days,
        );
    }
    Snapshot { bookings, days }
}

async fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().await.unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dumped_ledger_restores_into_the_same_bookings_and_availability() {
    let mut cluster = Cluster::of(
        &["identity", "quota", "notification", "booking", "gateway"],
        false,
    );
    cluster.start_all().await;
    let mut c = clients(&cluster);
    let bogor = open_days(&mut c.quota, "BOGOR", 2).await;
    let makassar = open_days(&mut c.quota, "MAKASSAR", 1).await;
    let (full_day, other_day) = (&bogor[0], &bogor[1]);

    // Bookings of one to three people on three days of two offices, in both sessions.
    let mut ids = Vec::new();
    let mut booked_pagi = 0;
    for n in 0..18u32 {
        let people = n % 3 + 1;
        let (office, date, session) = match n % 4 {
            0 | 1 => ("BOGOR", full_day, pb::Session::Pagi),
            2 => ("BOGOR", other_day, pb::Session::Siang),
            _ => ("MAKASSAR", &makassar[0], pb::Session::Pagi),
        };
        if office == "BOGOR" && date == full_day {
            booked_pagi += people;
        }
        ids.push(
            book(&mut c, n, office, date, session, people, false)
                .await
                .unwrap(),
        );
    }
    // Two cancelled (their seats back), one held and not yet confirmed (its seats held).
    for n in [4u32, 5] {
        let b = c
            .booking
            .get_booking(pb::GetBookingRequest {
                key: Some(pb::get_booking_request::Key::BookingId(
                    ids[n as usize].clone(),
                )),
                contact_phone: String::new(),
                office_code: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        c.booking
            .cancel_booking(pb::CancelBookingRequest {
                booking_code: b.booking_code,
                contact_phone: format!("0812{:08}", 55_000_000 + n),
            })
            .await
            .unwrap();
    }
    ids.push(
        book(&mut c, 40, "BOGOR", other_day, pb::Session::Pagi, 2, true)
            .await
            .unwrap(),
    );
    // The morning of the first day keeps exactly SPARE seats.
    let cancelled_pagi: u32 = [4u32, 5]
        .iter()
        .filter(|n| *n % 4 < 2)
        .map(|n| n % 3 + 1)
        .sum();
    c.quota
        .set_capacity(as_dev_admin(pb::SetCapacityRequest {
            office_code: "BOGOR".into(),
            date: full_day.clone(),
            session: pb::Session::Pagi as i32,
            capacity: booked_pagi - cancelled_pagi + SPARE,
        }))
        .await
        .unwrap();
    let before = snapshot(&mut c, &ids).await;
    assert_eq!(before.bookings.len(), 19);
    let statuses = |s: &Snapshot, status: pb::BookingStatus| {
        s.bookings
            .iter()
            .filter(|b| b.status == status as i32)
            .count()
    };
    assert_eq!(statuses(&before, pb::BookingStatus::Confirmed), 16);
    assert_eq!(statuses(&before, pb::BookingStatus::Cancelled), 2);
    assert_eq!(statuses(&before, pb::BookingStatus::Held), 1);
    assert!(
        before
            .bookings
            .iter()
            .all(|b| b.status != pb::BookingStatus::Confirmed as i32
                || b.applicants.iter().all(|a| !a.queue_number.is_empty())),
        "every confirmed applicant has a queue number"
    );

    // The dump, taken while the services run, as a backup job would.
    let dump = cluster.logs.join("ledger.dump");
    let source = cluster.env["DATABASE_URL"].clone();
    run(
        "pg_dump",
        &["--format=custom", "--file", dump.to_str().unwrap(), &source],
    )
    .await;
    for i in 0..cluster.services.len() {
        cluster.stop(i).await;
    }

    // A fresh database and an empty Redis (a key prefix nothing has written).
    let restored = testing::fresh_database_url();
    let name = restored.rsplit('/').next().unwrap();
    let admin = format!("{}/postgres", &restored[..restored.rfind('/').unwrap()]);
    run(
        "psql",
        &[&admin, "-qc", &format!("CREATE DATABASE \"{name}\"")],
    )
    .await;
    run(
        "pg_restore",
        &[
            "--exit-on-error",
            "--no-owner",
            "--dbname",
            &restored,
            dump.to_str().unwrap(),
        ],
    )
    .await;
    cluster.env.insert("DATABASE_URL".into(), restored);
    cluster
        .env
        .insert("REDIS_KEY_PREFIX".into(), testing::redis_prefix());
    cluster.start_all().await;
    let mut c = clients(&cluster);

    let after = snapshot(&mut c, &ids).await;
    for (b, a) in before.bookings.iter().zip(&after.bookings) {
        assert_eq!(b, a, "booking {} differs after the restore", b.booking_id);
    }
    assert_eq!(
        before.days, after.days,
        "availability differs after the restore"
    );
    assert_eq!(before, after);

    // The counters rebuilt from the restored ledger sell exactly what is left.
    let mut sold = 0;
    let mut refused = 0;
    for n in 50..(50 + SPARE + 2) {
        match book(&mut c, n, "BOGOR", full_day, pb::Session::Pagi, 1, false).await {
            Ok(_) => sold += 1,
            Err(s) if antrean_platform::status::reason(&s).as_deref() == Some("SOLD_OUT") => {
                refused += 1
            }
            Err(s) => panic!("booking after the restore failed: {s:?}"),
        }
    }
    assert_eq!((sold, refused), (SPARE, 2));
    for i in 0..cluster.services.len() {
        cluster.stop(i).await;
    }
}
