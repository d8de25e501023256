//! Holds expire, commit and release; sold-out, closed and out-of-horizon answers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]
mod common;

use antrean_platform::status;
use antrean_proto::v1 as pb;
use chrono::Duration;
use common::*;
use tonic::Code;

const DATE: &str = "2026-12-01";

#[tokio::test]
async fn an_expired_hold_gives_its_seats_back_and_cannot_commit() {
    let q = start().await;
    let mut c = q.client.clone();
    let mut req = hold("h1", "BOGOR", DATE, pb::Session::Pagi, 3);
    req.ttl_seconds = 60;
    let a = c.hold(req).await.unwrap().into_inner();
    assert_eq!(a.remaining, 72);
    assert_eq!(
        a.expires_at.unwrap().seconds,
        monday_morning().timestamp() + 60
    );
    q.clock.advance(Duration::seconds(61));
    assert_eq!(q.remaining("BOGOR", DATE, pb::Session::Pagi).await, 75);
    let e = c
        .commit(pb::CommitRequest {
            hold_id: "h1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(status::reason(&e).as_deref(), Some("HOLD_EXPIRED"));
    assert_eq!(
        q.quota.sweep().await.unwrap(),
        0,
        "commit already marked it"
    );
    assert_eq!(q.ledger_seats("BOGOR", DATE, "PAGI").await, 0);
}

#[tokio::test]
async fn commit_is_idempotent_and_release_returns_committed_seats() {
    let q = start().await;
    let mut c = q.client.clone();
    c.hold(hold("h2", "BOGOR", DATE, pb::Session::Siang, 2))
        .await
        .unwrap();
    let commit = || pb::CommitRequest {
        hold_id: "h2".into(),
    };
    let first = c.commit(commit()).await.unwrap().into_inner();
    let again = c.commit(commit()).await.unwrap().into_inner();
    assert_eq!(first, again);
    assert_eq!((first.seats, first.capacity), (2, 75));
    // Committed seats stay taken after the hold's TTL.
    q.clock.advance(Duration::hours(1));
    assert_eq!(q.remaining("BOGOR", DATE, pb::Session::Siang).await, 73);
    let r = c
        .release(pb::ReleaseRequest {
            hold_id: "h2".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.released);
    assert_eq!(q.remaining("BOGOR", DATE, pb::Session::Siang).await, 75);
    let r = c
        .release(pb::ReleaseRequest {
            hold_id: "h2".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!r.released, "a second release changes nothing");
    assert_eq!(q.remaining("BOGOR", DATE, pb::Session::Siang).await, 75);
    let e = c.commit(commit()).await.unwrap_err();
    assert_eq!(status::reason(&e).as_deref(), Some("HOLD_RELEASED"));
}

#[tokio::test]
async fn a_session_selling_out_looks_up_the_next_dates_before_its_first_refusal() {
    antrean_platform::metrics::install();
    let q = start().await;
    let mut c = q.client.clone();
    q.set_capacity("BOGOR", DATE, pb::Session::Pagi, 10).await;
    let lookups = "quota_next_dates_lookups_total";
    let before = counted(lookups);
    // Eight seats leave a fifth of the capacity: nothing is looked up yet.
    for i in 0..8 {
        c.hold(hold(&format!("a{i}"), "BOGOR", DATE, pb::Session::Pagi, 1))
            .await
            .unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(counted(lookups), before);
    // The ninth leaves a tenth: the next free dates for one seat are looked up in the
    // background, once, however many admissions follow.
    for i in 8..10 {
        c.hold(hold(&format!("a{i}"), "BOGOR", DATE, pb::Session::Pagi, 1))
            .await
            .unwrap();
    }
    let waited = std::time::Instant::now();
    while counted(lookups) == before && waited.elapsed().as_secs() < 5 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(counted(lookups), before + 1);
    // The refusals answer from that lookup.
    for i in 0..3 {
        let e = c
            .hold(hold(&format!("b{i}"), "BOGOR", DATE, pb::Session::Pagi, 1))
            .await
            .unwrap_err();
        assert_eq!(status::reason(&e).as_deref(), Some("SOLD_OUT"));
        assert_eq!(
            status::metadata(&e)["next_dates"],
            "2026-12-02,2026-12-03,2026-12-04,2026-12-07,2026-12-08"
        );
    }
    assert_eq!(counted(lookups), before + 1);
}

#[tokio::test]
async fn sold_out_answers_remaining_and_next_dates() {
    let q = start().await;
    let mut c = q.client.clone();
    q.set_capacity("BOGOR", DATE, pb::Session::Pagi, 4).await;
    c.hold(hold("a", "BOGOR", DATE, pb::Session::Pagi, 3))
        .await
        .unwrap();
    let e = c
        .hold(hold("b", "BOGOR", DATE, pb::Session::Pagi, 2))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    assert_eq!(status::reason(&e).as_deref(), Some("SOLD_OUT"));
    let meta = status::metadata(&e);
    assert_eq!(meta["remaining"], "1");
    // Tuesday 1 December is full for two; Wednesday onward are free, weekends skipped.
    assert_eq!(
        meta["next_dates"],
        "2026-12-02,2026-12-03,2026-12-04,2026-12-07,2026-12-08"
    );
    assert!(
        e.message()
            .starts_with("Kuota Selasa, 1 Desember 2026 sesi PAGI tidak cukup (sisa 1).")
            && e.message().contains("Rabu, 2 Desember 2026"),
        "{}",
        e.message()
    );
    // The message kept encoded reaches the caller as grpc-message, and nothing else does.
    assert!(e.metadata().get("antrean-grpc-message").is_none());
    // One seat still fits.
    c.hold(hold("c", "BOGOR", DATE, pb::Session::Pagi, 1))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_hold_id_reused_for_other_content_is_refused() {
    let q = start().await;
    let mut c = q.client.clone();
    c.hold(hold("x", "BOGOR", DATE, pb::Session::Pagi, 1))
        .await
        .unwrap();
    let e = c
        .hold(hold("x", "BOGOR", DATE, pb::Session::Pagi, 2))
        .await
        .unwrap_err();
    assert_eq!(status::reason(&e).as_deref(), Some("HOLD_ID_REUSED"));
    let e = c
        .hold(hold("x", "DEPOK", DATE, pb::Session::Pagi, 1))
        .await
        .unwrap_err();
    assert_eq!(status::reason(&e).as_deref(), Some("HOLD_ID_REUSED"));
    assert_eq!(q.remaining("DEPOK", DATE, pb::Session::Pagi).await, 75);
}

#[tokio::test]
async fn closed_days_and_the_horizon_are_enforced() {
    let q = start().await;
    let mut c = q.client.clone();
    let reason = |e: &tonic::Status| status::reason(e).unwrap();
    // Saturday.
    let e = c
        .hold(hold("w", "BOGOR", "2026-12-05", pb::Session::Pagi, 1))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), reason(&e)),
        (Code::FailedPrecondition, "DATE_CLOSED".into())
    );
    assert_eq!(status::metadata(&e)["closed_reason"], "WEEKEND");
    // Christmas.
    let e = c
        .hold(hold("n", "BOGOR", "2026-12-25", pb::Session::Pagi, 1))
        .await
        .unwrap_err();
    assert_eq!(status::metadata(&e)["closed_reason"], "HOLIDAY");
    assert!(e.message().contains("Hari Raya Natal"), "{}", e.message());
    // Today and beyond 30 days.
    for date in ["2026-11-30", "2026-12-31"] {
        let e = c
            .hold(hold("t", "BOGOR", date, pb::Session::Pagi, 1))
            .await
            .unwrap_err();
        assert_eq!(reason(&e), "OUTSIDE_HORIZON");
        assert_eq!(status::metadata(&e)["first_date"], "2026-12-01");
        assert_eq!(status::metadata(&e)["last_date"], "2026-12-30");
    }
}

#[tokio::test]
async fn bad_requests_name_every_bad_field() {
    let q = start().await;
    let e = q
        .client
        .clone()
        .hold(pb::HoldRequest {
            hold_id: "".into(),
            office_code: "BOGOR".into(),
            date: "01-12-2026".into(),
            session: 0,
            seats: 6,
            ttl_seconds: 0,
            draw_admission: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let fields: Vec<String> = status::violations(&e)
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["hold_id", "date", "session", "seats"]);
    let e = q
        .client
        .clone()
        .hold(hold("u", "NOWHERE", DATE, pb::Session::Pagi, 1))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
}

#[tokio::test]
async fn capacity_changes_and_special_days() {
    let q = start().await;
    let mut c = q.client.clone();
    c.hold(hold("p1", "BOGOR", DATE, pb::Session::Pagi, 5))
        .await
        .unwrap();
    c.commit(pb::CommitRequest {
        hold_id: "p1".into(),
    })
    .await
    .unwrap();
    c.hold(hold("p2", "BOGOR", DATE, pb::Session::Pagi, 2))
        .await
        .unwrap();
    // Lowering below what is taken cancels nothing and stops new holds.
    q.set_capacity("BOGOR", DATE, pb::Session::Pagi, 4).await;
    assert_eq!(q.remaining("BOGOR", DATE, pb::Session::Pagi).await, 0);
    let e = c
        .hold(hold("p3", "BOGOR", DATE, pb::Session::Pagi, 1))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    // The hold admitted before the change still confirms.
    c.commit(pb::CommitRequest {
        hold_id: "p2".into(),
    })
    .await
    .unwrap();
    // Raising works at once.
    q.set_capacity("BOGOR", DATE, pb::Session::Pagi, 10).await;
    assert_eq!(q.remaining("BOGOR", DATE, pb::Session::Pagi).await, 3);
    c.hold(hold("p3", "BOGOR", DATE, pb::Session::Pagi, 3))
        .await
        .unwrap();

    // A Saturday Paspor Simpatik with its own capacity; no afternoon session.
    let day = c
        .open_special_date(antrean_platform::actor::as_dev_admin(
            pb::OpenSpecialDateRequest {
                office_code: "BOGOR".into(),
                date: "2026-12-12".into(),
                name: "Paspor Simpatik".into(),
                pagi_capacity: 30,
                siang_capacity: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(day.open && day.special_event);
    assert_eq!(day.note, "Paspor Simpatik");
    c.hold(hold("s1", "BOGOR", "2026-12-12", pb::Session::Pagi, 2))
        .await
        .unwrap();
    assert_eq!(
        q.remaining("BOGOR", "2026-12-12", pb::Session::Pagi).await,
        28
    );
    let e = c
        .hold(hold("s2", "BOGOR", "2026-12-12", pb::Session::Siang, 1))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);

    // Closing keeps bookings and says how many seats are confirmed.
    let closed = c
        .close_date(antrean_platform::actor::as_dev_admin(
            pb::CloseDateRequest {
                office_code: "BOGOR".into(),
                date: DATE.into(),
                reason: "Pemadaman listrik".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.confirmed_seats, 7);
    assert!(!closed.day.unwrap().open);
    let e = c
        .hold(hold("p4", "BOGOR", DATE, pb::Session::Siang, 1))
        .await
        .unwrap_err();
    assert_eq!(status::metadata(&e)["closed_reason"], "CLOSED_BY_OFFICE");
    assert!(e.message().contains("Pemadaman listrik"));
}

#[tokio::test]
async fn the_horizon_follows_each_offices_local_date() {
    let q = start().await;
    // 16:30 UTC on Monday 30 November: 23:30 WIB Monday, but already 00:30 WITA/01:30 WIT
    // on Tuesday. Jakarta may still book Tuesday; Makassar and Jayapura start on Wednesday.
    q.clock.set("2026-11-30T16:30:00Z".parse().unwrap());
    let first = |office: &'static str| {
        let mut c = q.client.clone();
        async move {
            c.next_available_dates(pb::NextAvailableDatesRequest {
                office_code: office.into(),
                seats: 1,
                limit: 1,
                session: 0,
                from: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .days[0]
                .date
                .clone()
        }
    };
    assert_eq!(first("JAKPUS").await, "2026-12-01");
    assert_eq!(first("MAKASSAR").await, "2026-12-02");
    assert_eq!(first("JAYAPURA").await, "2026-12-02");
    let office = q
        .client
        .clone()
        .get_office(pb::GetOfficeRequest {
            office_code: "jayapura".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(office.timezone_abbreviation, "WIT");
    assert_eq!(office.today, "2026-12-01");
}

#[tokio::test]
async fn seed_covers_thirty_offices_in_three_zones() {
    let q = start().await;
    let offices = q
        .client
        .clone()
        .list_offices(pb::ListOfficesRequest {})
        .await
        .unwrap()
        .into_inner()
        .offices;
    assert!(offices.len() >= 30);
    for code in [
        "BOGOR",
        "JAKPUS",
        "JAKTIM",
        "JAKUT",
        "JAKSEL",
        "JAKBAR",
        "TANGERANG",
        "DEPOK",
        "BEKASI",
        "SUKABUMI",
        "YOGYAKARTA",
        "SEMARANG",
        "SURABAYA",
        "DENPASAR",
        "MAKASSAR",
        "JAYAPURA",
    ] {
        assert!(offices.iter().any(|o| o.code == code), "{code} missing");
    }
    for zone in ["WIB", "WITA", "WIT"] {
        assert!(offices.iter().any(|o| o.timezone_abbreviation == zone));
    }
    let ids: std::collections::HashSet<_> = offices
        .iter()
        .map(|o| o.whatsapp.as_ref().unwrap().phone_number_id.clone())
        .collect();
    assert_eq!(ids.len(), offices.len(), "each office has its own number");
    let bogor = q
        .client
        .clone()
        .get_office_by_phone_number_id(pb::GetOfficeByPhoneNumberIdRequest {
            phone_number_id: offices[0]
                .whatsapp
                .as_ref()
                .unwrap()
                .phone_number_id
                .clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bogor.code, offices[0].code);
}

#[tokio::test]
async fn counters_live_by_the_services_clock_not_redis_s() {
    let q = start().await;
    // Monday 2 March 2020, 10:00 WIB: years before Redis's own clock. Counters built now
    // for Tuesday in Makassar (WITA) live until Friday 00:00 WITA on this clock: 85 hours.
    q.clock.set("2020-03-02T03:00:00Z".parse().unwrap());
    let mut c = q.client.clone();
    for id in ["lama-1", "lama-2"] {
        let a = c
            .hold(hold(id, "MAKASSAR", "2020-03-03", pb::Session::Pagi, 1))
            .await
            .unwrap_or_else(|e| panic!("{id}: {e:?}"))
            .into_inner();
        assert_eq!(a.hold_id, id);
    }
    let mut redis = redis::Client::open(q.config.redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let key = format!("{}q:{{MAKASSAR:2020-03-03}}:day", q.config.redis_key_prefix);
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    let lifetime = 85 * 3_600_000;
    assert!(
        ttl > lifetime - 60_000 && ttl <= lifetime,
        "{key} lives {ttl} ms"
    );
}
