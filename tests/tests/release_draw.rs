//! The release draw: a date's first minutes decide nothing by speed. Entries instead of
//! holds inside the window, exactly the capacity admitted in whole groups, one outcome
//! message per entrant, an order anyone can recompute, and no second admission when a draw
//! is run again, by another replica or after a crash mid-way.
use antrean_platform::actor::as_dev_admin;
use antrean_platform::clock::Clock;
use antrean_proto::v1 as pb;
use antrean_tests::*;
use chrono::Duration;
use futures::StreamExt;
use serde_json::Value;
use std::path::PathBuf;

const DAY: &str = "2026-12-02";

/// The workspace's binaries sit next to this test's `deps/` directory.
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        path.exists(),
        "{} is missing: `make test` builds the binaries before the suite",
        path.display()
    );
    path
}

/// Opens DAY at Bogor now, with a draw window of five minutes and `seats` seats in the
/// morning (none in the afternoon).
async fn open_with_draw(s: &System, seats: u32) {
    for (session, capacity) in [(pb::Session::Pagi, seats), (pb::Session::Siang, 0)] {
        s.quota
            .clone()
            .set_capacity(as_dev_admin(pb::SetCapacityRequest {
                office_code: "BOGOR".into(),
                date: DAY.into(),
                session: session as i32,
                capacity,
            }))
            .await
            .unwrap();
    }
    s.quota
        .clone()
        .schedule_release(as_dev_admin(pb::ScheduleReleaseRequest {
            office_code: "BOGOR".into(),
            date: DAY.into(),
            opens_at: Some(antrean_platform::domain::to_timestamp(s.clock.now())),
            draw_window_seconds: 300,
        }))
        .await
        .unwrap();
}

/// Entry `i`: a WhatsApp sender (proven by the webhook) with a group of 1-5 people.
fn entry(i: usize) -> pb::CreateBookingRequest {
    let people = 1 + (i * 7 % 5);
    let birth = format!("19{:02}-0{}-1{}", 60 + i % 40, 1 + i % 9, i % 10);
    create(
        &format!("draw-{i}"),
        "BOGOR",
        DAY,
        pb::Session::Pagi,
        &format!("0815{:08}", 20_000_000 + i),
        (0..people)
            .map(|p| {
                applicant(
                    "",
                    &format!("Peserta {} {}", letters(i), letters(p)),
                    &birth,
                )
            })
            .collect(),
    )
}

/// `i` in letters (names take no digits): 0 -> "a", 27 -> "bb".
fn letters(mut i: usize) -> String {
    let mut out = String::new();
    loop {
        out.push((b'a' + (i % 26) as u8) as char);
        i /= 26;
        if i == 0 {
            return out;
        }
    }
}

async fn enter(s: &System, n: usize) -> Vec<pb::DrawEntry> {
    futures::stream::iter(0..n)
        .map(|i| {
            let mut c = s.booking.clone();
            async move {
                let r = c.create_booking(entry(i)).await.unwrap().into_inner();
                assert!(r.booking.is_none(), "entry {i} was held, not entered");
                r.entry.unwrap()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

async fn outcomes(s: &System) -> Vec<(String, i32, Option<String>)> {
    sqlx::query_as(
        "SELECT id::text, seats, outcome FROM booking.draw_entries WHERE date = $1 ORDER BY position",
    )
    .bind(chrono::NaiveDate::parse_from_str(DAY, "%Y-%m-%d").unwrap())
    .fetch_all(&s.pool().await)
    .await
    .unwrap()
}

async fn outcome_messages(s: &System) -> i64 {
    sqlx::query_scalar(
        "SELECT count(DISTINCT idempotency_key) FROM notification.outbox
         WHERE idempotency_key LIKE 'draw:%:outcome'",
    )
    .fetch_one(&s.pool().await)
    .await
    .unwrap()
}

async fn confirmed_seats(s: &System) -> i64 {
    sqlx::query_scalar(
        "SELECT COALESCE(sum(confirmed), 0)::bigint FROM quota.session_quota
         WHERE office_code = 'BOGOR' AND date = $1",
    )
    .bind(chrono::NaiveDate::parse_from_str(DAY, "%Y-%m-%d").unwrap())
    .fetch_one(&s.pool().await)
    .await
    .unwrap()
}

async fn publication(w: &WhatsApp) -> Value {
    let r = w
        .http
        .get(format!("{}/api/v1/draws/BOGOR/{DAY}", w.gateway))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.unwrap();
    w.check_response("/api/v1/draws/{office_code}/{date}", "get", 200, &v);
    v
}

fn verify(draw: &Value) -> (bool, String) {
    let file = std::env::temp_dir().join(format!(
        "antrean-draw-{}-{}.json",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::write(&file, draw.to_string()).unwrap();
    let out = std::process::Command::new(binary("antrean-draw"))
        .arg("verify")
        .arg(&file)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    h.finish()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_entries_for_150_seats_admit_exactly_150_in_whole_groups() {
    let w = start_with_whatsapp().await;
    let s = &w.system;
    open_with_draw(s, 150).await;
    // Before the window: the seed's hash is public, the seed is not.
    let before = publication(&w).await;
    assert_eq!(before["state"], "OPEN");
    assert_eq!(before["seed_sha256"].as_str().unwrap().len(), 64);
    assert!(before["seed"].is_null() && before["entries_sha256"].is_null());

    let entries = enter(s, 2000).await;
    assert_eq!(entries.len(), 2000);
    // A repeat of a sender answers the same entry; no seat is held during the window.
    let again = s
        .booking
        .clone()
        .create_booking(entry(7))
        .await
        .unwrap()
        .into_inner()
        .entry
        .unwrap();
    let first = entries
        .iter()
        .find(|e| e.date == DAY && e.seats == again.seats && e.entry_id == again.entry_id);
    assert!(first.is_some(), "a repeat is the same entry");
    assert_eq!(s.remaining("BOGOR", DAY, pb::Session::Pagi).await, 150);
    assert_eq!(confirmed_seats(s).await, 0);

    // The window closes; during the settle time nobody outside the draw holds.
    s.clock.advance(Duration::seconds(301));
    let late = s
        .booking
        .clone()
        .create_booking(entry(5000))
        .await
        .unwrap_err();
    assert_eq!(
        antrean_platform::status::reason(&late).as_deref(),
        Some("DRAW_RUNNING")
    );
    assert_eq!(s.bookings.run_due_draws().await.unwrap(), 1);

    let decided = outcomes(s).await;
    assert_eq!(decided.len(), 2000);
    assert!(
        decided.iter().all(|(_, _, o)| o.is_some()),
        "every entry decided"
    );
    let won: i32 = decided
        .iter()
        .filter(|(_, _, o)| o.as_deref() == Some("WON"))
        .map(|(_, seats, _)| seats)
        .sum();
    assert_eq!(won, 150, "exactly the capacity, in whole groups");
    assert_eq!(confirmed_seats(s).await, 150);
    assert_eq!(s.remaining("BOGOR", DAY, pb::Session::Pagi).await, 0);
    // A group that no longer fitted was passed over for smaller ones behind it, and waits.
    let waitlisted = decided
        .iter()
        .filter(|(_, _, o)| o.as_deref() == Some("WAITLISTED"))
        .count();
    assert_eq!(
        waitlisted
            + decided
                .iter()
                .filter(|(_, _, o)| o.as_deref() == Some("WON"))
                .count(),
        2000
    );
    let waiting: i64 =
        sqlx::query_scalar("SELECT count(*) FROM booking.waitlist_entries WHERE state = 'WAITING'")
            .fetch_one(&s.pool().await)
            .await
            .unwrap();
    assert_eq!(waiting as usize, waitlisted);
    // Exactly one outcome message per entrant, as an approved template.
    assert_eq!(outcome_messages(s).await, 2000);
    // Run again (a second replica, or the next round): nothing changes.
    assert_eq!(s.bookings.run_due_draws().await.unwrap(), 0);
    assert!(
        !s.bookings
            .run_draw("BOGOR", DAY.parse().unwrap())
            .await
            .unwrap()
    );
    assert_eq!(confirmed_seats(s).await, 150);
    assert_eq!(outcome_messages(s).await, 2000);

    // The publication verifies; a tampered one does not.
    let published = publication(&w).await;
    assert_eq!(published["state"], "DONE");
    assert_eq!(published["seed_sha256"], before["seed_sha256"]);
    assert_eq!(published["entry_count"], 2000);
    let (ok, out) = verify(&published);
    assert!(ok, "{out}");
    assert!(out.contains("2000 entries"), "{out}");
    let mut tampered = published.clone();
    let list = tampered["entries"].as_array_mut().unwrap();
    let (a, b) = (list[0]["position"].clone(), list[1]["position"].clone());
    list[0]["position"] = b;
    list[1]["position"] = a;
    let (ok, out) = verify(&tampered);
    assert!(!ok && out.contains("MISMATCH"), "{out}");
    let mut other_seed = published.clone();
    other_seed["seed"] = Value::String("00".repeat(32));
    assert!(!verify(&other_seed).0);
    // No personal data in the publication: pseudonymous ids, sessions, sizes, outcomes.
    assert!(!published.to_string().contains("Peserta"));
    for e in published["entries"].as_array().unwrap() {
        let mut keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["entry_id", "outcome", "position", "seats", "session"]
        );
    }

    // After the settle time (90 s after the close), first come first served again (the
    // session is full now).
    s.clock.advance(Duration::seconds(90));
    let after = s
        .booking
        .clone()
        .create_booking(entry(5001))
        .await
        .unwrap_err();
    assert_eq!(
        antrean_platform::status::reason(&after).as_deref(),
        Some("SOLD_OUT")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draw_stopped_mid_way_and_resumed_by_another_replica_admits_nobody_twice() {
    let w = start_with_whatsapp().await;
    let s = &w.system;
    open_with_draw(s, 40).await;
    enter(s, 120).await;
    s.clock.advance(Duration::seconds(301));
    // A replica runs the draw and dies part-way.
    let first = s.bookings.clone();
    let run = tokio::spawn(async move { first.run_draw("BOGOR", DAY.parse().unwrap()).await });
    // Wherever it happens to be: inside an admission, between hold and booking, while
    // telling the outcomes.
    let stop_after = 100 + rand_suffix() % 500;
    tokio::time::sleep(std::time::Duration::from_millis(stop_after)).await;
    run.abort();
    let _ = run.await;
    // Its lease holds off everyone else until it lapses.
    let mut second = BookingConfigFor::replica(s).await;
    let resumed_early = second
        .run_draw("BOGOR", DAY.parse().unwrap())
        .await
        .unwrap();
    let done: String = sqlx::query_scalar("SELECT state FROM booking.draws WHERE date = $1")
        .bind(chrono::NaiveDate::parse_from_str(DAY, "%Y-%m-%d").unwrap())
        .fetch_one(&s.pool().await)
        .await
        .unwrap();
    if !resumed_early && done != "DONE" {
        sqlx::query("UPDATE booking.draws SET lease_until = now() - interval '1 second'")
            .execute(&s.pool().await)
            .await
            .unwrap();
        assert!(
            second
                .run_draw("BOGOR", DAY.parse().unwrap())
                .await
                .unwrap()
        );
    }
    let decided = outcomes(s).await;
    assert!(decided.iter().all(|(_, _, o)| o.is_some()));
    let won: i32 = decided
        .iter()
        .filter(|(_, _, o)| o.as_deref() == Some("WON"))
        .map(|(_, seats, _)| seats)
        .sum();
    assert_eq!(won, 40);
    assert_eq!(confirmed_seats(s).await, 40);
    let bookings: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM booking.bookings WHERE idempotency_key LIKE 'draw:%'",
    )
    .fetch_one(&s.pool().await)
    .await
    .unwrap();
    let winners = decided
        .iter()
        .filter(|(_, _, o)| o.as_deref() == Some("WON"))
        .count();
    assert_eq!(bookings as usize, winners, "one booking per winner");
    assert_eq!(outcome_messages(s).await, 120);
    let (ok, out) = verify(&publication(&w).await);
    assert!(ok, "{out}");
    // And a third run changes nothing.
    assert!(
        !second
            .run_draw("BOGOR", DAY.parse().unwrap())
            .await
            .unwrap()
    );
    assert_eq!(confirmed_seats(s).await, 40);
    second.forget();
}

/// A second booking-service replica on the same database, quota and identity.
struct BookingConfigFor {
    bookings: std::sync::Arc<antrean_booking::Bookings>,
}

impl BookingConfigFor {
    async fn replica(s: &System) -> Self {
        let mut bc = antrean_booking::BookingConfig::for_tests(
            s.database_url.clone(),
            s.identity_url.clone(),
            s.quota_url.clone(),
        );
        bc.notification_url = s.notification_url.clone();
        bc.draw_beacon_url = format!("{}/beacon", s.cloud_api_url);
        Self {
            bookings: std::sync::Arc::new(
                antrean_booking::build(&bc, s.clock.clone()).await.unwrap(),
            ),
        }
    }

    async fn run_draw(
        &mut self,
        office: &str,
        date: chrono::NaiveDate,
    ) -> Result<bool, antrean_booking::error::BookingError> {
        self.bookings.run_draw(office, date).await
    }

    fn forget(self) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_by_whatsapp_and_the_api_follow_the_booking_rules() {
    let w = start_with_whatsapp().await;
    let s = &w.system;
    // Before the release: refused, saying when it opens.
    let opens = s.clock.now() + Duration::minutes(10);
    s.quota
        .clone()
        .schedule_release(as_dev_admin(pb::ScheduleReleaseRequest {
            office_code: "BOGOR".into(),
            date: DAY.into(),
            opens_at: Some(antrean_platform::domain::to_timestamp(opens)),
            draw_window_seconds: 300,
        }))
        .await
        .unwrap();
    let reply = w
        .say(
            BOGOR_NUMBER,
            "6281355550001",
            "#Rina Kartika#15061991#02122026#PAGI",
        )
        .await;
    assert!(
        reply.contains("belum dibuka") && reply.contains("10:10 WIB"),
        "{reply}"
    );
    s.clock.advance(Duration::minutes(10));

    // WhatsApp: the classic format enters the draw.
    let reply = w
        .say(
            BOGOR_NUMBER,
            "6281355550001",
            "#Rina Kartika#15061991#02122026#PAGI",
        )
        .await;
    assert!(
        reply.contains("undian") && reply.contains("10:15 WIB"),
        "{reply}"
    );
    // The web, with a verified phone: 202 with the entry and when it is drawn.
    let token = w.contact_token("081355550002").await;
    let body = serde_json::json!({"office_code": "BOGOR", "date": DAY, "session": "PAGI",
        "applicants": [{"nik": nik("1990-02-02", 77), "name": "Andi Wijaya",
                        "birth_date": "1990-02-02", "application_type": "NEW"}]});
    let post = |key: &'static str, body: Value, token: String| {
        let (http, url) = (w.http.clone(), format!("{}/api/v1/bookings", w.gateway));
        async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, v) = post("e1", body.clone(), token.clone()).await;
    assert_eq!(status, 202, "{v}");
    w.check_response("/api/v1/bookings", "post", status, &v);
    assert!(v["entry_id"].is_string() && v["draw_at"].is_string(), "{v}");
    // The same person from another phone: one entry per person.
    let other = w.contact_token("081355550003").await;
    let (status, v) = post("e2", body.clone(), other).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("ALREADY_ENTERED")),
        "{v}"
    );
    // Five people per phone: four booked elsewhere leave room for one, not two.
    let family = w.contact_token("081355550004").await;
    let people = |n: u32, first: u32| -> Value {
        Value::Array(
            (0..n)
                .map(|k| {
                    serde_json::json!({"nik": nik("1985-05-05", first + k), "name": "Keluarga Besar",
                        "birth_date": "1985-05-05", "application_type": "NEW"})
                })
                .collect(),
        )
    };
    let booked = serde_json::json!({"office_code": "BOGOR", "date": "2026-12-03",
        "session": "PAGI", "applicants": people(4, 1)});
    let (status, v) = post("f1", booked, family.clone()).await;
    assert_eq!(status, 201, "{v}");
    let two = serde_json::json!({"office_code": "BOGOR", "date": DAY,
        "session": "PAGI", "applicants": people(2, 11)});
    let (status, v) = post("f2", two, family).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("LIMIT_REACHED")),
        "{v}"
    );
    // Without a token, nothing.
    let r = w
        .http
        .post(format!("{}/api/v1/bookings", w.gateway))
        .header("Idempotency-Key", "e3")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    // The window closes. A message received inside it that waited in the gateway's queue
    // still enters; one received after the close does not.
    let closes = s.clock.now() + Duration::seconds(300);
    s.clock.advance(Duration::seconds(301));
    let mut queued = create(
        "queued-1",
        "BOGOR",
        DAY,
        pb::Session::Pagi,
        "081355550005",
        vec![applicant("", "Dewi Lestari", "1993-03-03")],
    );
    queued.received_at = Some(antrean_platform::domain::to_timestamp(
        closes - Duration::seconds(1),
    ));
    let r = s
        .booking
        .clone()
        .create_booking(queued)
        .await
        .unwrap()
        .into_inner();
    assert!(r.entry.is_some(), "received in the window: an entry");
    let mut late = create(
        "late-1",
        "BOGOR",
        DAY,
        pb::Session::Pagi,
        "081355550006",
        vec![applicant("", "Budi Terlambat", "1993-03-04")],
    );
    late.received_at = Some(antrean_platform::domain::to_timestamp(closes));
    let e = s.booking.clone().create_booking(late).await.unwrap_err();
    assert_eq!(
        antrean_platform::status::reason(&e).as_deref(),
        Some("DRAW_RUNNING")
    );
    // While entries still arrive the list is not frozen; five quiet seconds later it is.
    assert_eq!(s.bookings.run_due_draws().await.unwrap(), 0);
    s.clock.advance(Duration::seconds(6));
    assert_eq!(s.bookings.run_due_draws().await.unwrap(), 1);
    assert_eq!(outcome_messages(s).await, 3);
    let won = w
        .cloud_api
        .wait_for_recipient("6281355550001", 3, std::time::Duration::from_secs(8))
        .await;
    let last = &won.last().unwrap().body;
    assert_eq!(last["template"]["name"], "antrean_undian_menang", "{last}");
    // The web entrant never wrote on WhatsApp: the outcome reaches them as a template.
    let web = w
        .cloud_api
        .wait_for_recipient("6281355550002", 2, std::time::Duration::from_secs(8))
        .await;
    assert_eq!(
        web.last().unwrap().body["template"]["name"],
        "antrean_undian_menang"
    );
}
