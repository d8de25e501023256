//! Application progress and pickup: staff move each checked-in applicant through the stages
//! (forward only, a stage may be skipped, picked up only once ready), every change audited and
//! told to the applicant by an approved template; `#STATUS` and the web look-up show it; a
//! ready passport gets a C- ticket in the office's pickup hours, called onto the display and
//! handed over by serving it; an uncollected one gets one reminder after 7 days; the dashboard
//! counts each stage and the median time into it. The console's screens run in Chromium.
use antrean_platform::actor::Role;
use antrean_platform::status::{self, Reason};
use antrean_proto::v1 as pb;
use antrean_tests::*;

const DAY: &str = "2026-12-01";
const PHONE: &str = "081355530001";
const DIGITS: &str = "6281355530001";

fn stage_messages(w: &WhatsApp) -> Vec<(String, String)> {
    w.cloud_api
        .messages_to(DIGITS)
        .into_iter()
        .filter(|m| m.body["template"]["name"] == "antrean_progres_paspor")
        .map(|m| {
            let p = &m.body["template"]["components"][0]["parameters"];
            (
                p[0]["text"].as_str().unwrap_or_default().to_owned(),
                p[3]["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn advance(
    s: &System,
    clerk: &str,
    code: &str,
    applicant: u32,
    stage: pb::ApplicationStage,
) -> Result<pb::Booking, tonic::Status> {
    s.booking
        .clone()
        .advance_stage(as_staff(
            clerk,
            pb::AdvanceStageRequest {
                office_code: "BOGOR".into(),
                booking_code: code.into(),
                applicant,
                stage: stage as i32,
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn pickup(
    s: &System,
    token: &str,
    code: &str,
) -> Result<tonic::Response<pb::QueueTicket>, tonic::Status> {
    s.booking
        .clone()
        .check_in_pickup(as_staff(
            token,
            pb::CheckInPickupRequest {
                office_code: "BOGOR".into(),
                booking_code: code.into(),
            },
        ))
        .await
}

async fn wait_messages(w: &WhatsApp, n: usize) -> Vec<(String, String)> {
    for _ in 0..200 {
        let m = stage_messages(w);
        if m.len() >= n {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    stage_messages(w)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_pickup_and_reminder_from_check_in_to_handover() {
    let w = start_with_whatsapp().await;
    let s = &w.system;
    let clerk = staff_token(Role::OfficeStaff, "BOGOR");
    let head = staff_token(Role::OfficeHead, "BOGOR");
    let b = s
        .book(create(
            "progress-1",
            "BOGOR",
            DAY,
            pb::Session::Pagi,
            PHONE,
            vec![
                applicant(&nik("1984-02-03", 1), "Wati Lestari", "1984-02-03"),
                applicant(&nik("1982-05-06", 2), "Agus Salim", "1982-05-06"),
            ],
        ))
        .await;
    let other = s
        .book(create(
            "progress-2",
            "BOGOR",
            DAY,
            pb::Session::Pagi,
            "081355530009",
            vec![applicant(
                &nik("1990-01-01", 3),
                "Belum Datang",
                "1990-01-01",
            )],
        ))
        .await;
    let code = b.booking_code.clone();

    // Nobody has been at the counter yet: refused.
    s.clock.set("2026-12-01T00:00:00Z".parse().unwrap()); // 07:00 WIB
    let e = advance(s, &clerk, &code, 1, pb::ApplicationStage::DocumentsChecked)
        .await
        .unwrap_err();
    assert_eq!(status::reason_of(&e), Some(Reason::StageNotAllowed));
    assert!(e.message().contains("belum check-in"), "{}", e.message());
    s.booking
        .clone()
        .check_in(as_staff(
            &clerk,
            pb::CheckInRequest {
                booking_code: code.clone(),
                office_code: "BOGOR".into(),
                at: None,
            },
        ))
        .await
        .unwrap();

    // Forward one by one, with the times the dashboard's medians read.
    let b1 = advance(s, &clerk, &code, 1, pb::ApplicationStage::DocumentsChecked)
        .await
        .unwrap();
    assert_eq!(
        b1.applicants[0].stage,
        pb::ApplicationStage::DocumentsChecked as i32
    );
    assert_eq!(b1.applicants[1].stage, pb::ApplicationStage::Waiting as i32);
    // The same stage again changes nothing and tells nobody twice.
    advance(s, &clerk, &code, 1, pb::ApplicationStage::DocumentsChecked)
        .await
        .unwrap();
    s.clock.advance(chrono::Duration::minutes(30));
    advance(s, &clerk, &code, 1, pb::ApplicationStage::PhotoInterview)
        .await
        .unwrap();
    // Backwards, picked up before ready, an unknown stage, a missing applicant, another
    // office, another office's staff: refused with the reason.
    for (applicant, stage, reason) in [
        (
            1,
            pb::ApplicationStage::DocumentsChecked,
            Some(Reason::StageNotAllowed),
        ),
        (
            1,
            pb::ApplicationStage::PickedUp,
            Some(Reason::StageNotAllowed),
        ),
        (
            1,
            pb::ApplicationStage::Unspecified,
            Some(Reason::InvalidArgument),
        ),
        (
            3,
            pb::ApplicationStage::Printing,
            Some(Reason::InvalidArgument),
        ),
    ] {
        let e = advance(s, &clerk, &code, applicant, stage)
            .await
            .unwrap_err();
        assert_eq!(
            status::reason_of(&e),
            reason,
            "{applicant} {stage:?}: {e:?}"
        );
    }
    let e = s
        .booking
        .clone()
        .advance_stage(as_staff(
            &staff_token(Role::OfficeStaff, "MAKASSAR"),
            pb::AdvanceStageRequest {
                office_code: "BOGOR".into(),
                booking_code: code.clone(),
                applicant: 1,
                stage: pb::ApplicationStage::Printing as i32,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied);
    s.clock.advance(chrono::Duration::minutes(10));
    advance(s, &clerk, &code, 1, pb::ApplicationStage::PaymentConfirmed)
        .await
        .unwrap();
    // Printing skipped: ready two days later.
    s.clock.advance(chrono::Duration::days(2));
    let ready = advance(s, &clerk, &code, 1, pb::ApplicationStage::ReadyForPickup)
        .await
        .unwrap();
    assert_eq!(ready.pickup_hours, "13:00-15:00 WIB");
    let e = advance(
        s,
        &clerk,
        &other.booking_code,
        1,
        pb::ApplicationStage::DocumentsChecked,
    )
    .await
    .unwrap_err();
    assert_eq!(status::reason_of(&e), Some(Reason::StageNotAllowed));

    // Told once per change, by the approved template.
    let told = wait_messages(&w, 4).await;
    let labels: Vec<&str> = told.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(
        labels,
        [
            "Berkas sudah diperiksa",
            "Foto dan wawancara selesai",
            "Pembayaran dikonfirmasi",
            "Paspor siap diambil"
        ]
    );
    assert!(told.iter().all(|(n, _)| n == "Wati Lestari"));
    let pool = s.pool().await;
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM booking.staff_actions WHERE action = 'AdvanceStage'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited, 4);

    // #STATUS and the web look-up show each applicant's progress and the pickup hours.
    let reply = w
        .say(BOGOR_NUMBER, DIGITS, &format!("#STATUS#{code}"))
        .await;
    for needle in [
        "Progres permohonan:",
        "- Wati Lestari: Paspor siap diambil",
        "- Agus Salim: Belum diproses",
        "Jam pengambilan paspor: 13:00-15:00 WIB",
    ] {
        assert!(reply.contains(needle), "{needle} not in {reply}");
    }
    let r = w
        .http
        .get(format!(
            "{}/api/v1/bookings/{code}?phone={PHONE}",
            w.gateway
        ))
        .send()
        .await
        .unwrap();
    let status_code = r.status().as_u16();
    let v: serde_json::Value = r.json().await.unwrap();
    w.check_response("/api/v1/bookings/{booking_code}", "get", status_code, &v);
    assert_eq!(v["applicants"][0]["stage"], "READY_FOR_PICKUP", "{v}");
    assert_eq!(v["applicants"][1]["stage"], "WAITING");
    assert!(v["applicants"][1]["stage_at"].is_null());
    assert_eq!(v["pickup_hours"], "13:00-15:00 WIB");

    // Pickup: outside the hours refused; the head moves them; one C- ticket, called in its
    // own lane, shown on the board, and serving it hands the passport over.
    s.clock.set("2026-12-03T03:00:00Z".parse().unwrap()); // 10:00 WIB
    let e = pickup(s, &clerk, &code).await.unwrap_err();
    assert_eq!(status::reason_of(&e), Some(Reason::PickupClosed));
    assert!(e.message().contains("13:00-15:00 WIB"), "{}", e.message());
    let e = s
        .booking
        .clone()
        .set_pickup_hours(as_staff(
            &clerk,
            pb::SetPickupHoursRequest {
                office_code: "BOGOR".into(),
                opens: "09:00".into(),
                closes: "11:00".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        tonic::Code::PermissionDenied,
        "staff cannot set hours"
    );
    let bad = s
        .booking
        .clone()
        .set_pickup_hours(as_staff(
            &head,
            pb::SetPickupHoursRequest {
                office_code: "BOGOR".into(),
                opens: "11:00".into(),
                closes: "09:00".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status::violations(&bad)[0].field, "closes");
    s.booking
        .clone()
        .set_pickup_hours(as_staff(
            &head,
            pb::SetPickupHoursRequest {
                office_code: "BOGOR".into(),
                opens: "09:00".into(),
                closes: "11:00".into(),
            },
        ))
        .await
        .unwrap();
    let t = pickup(s, &clerk, &code).await.unwrap().into_inner();
    assert_eq!((t.queue_number.as_str(), t.pickup), ("C-001", true));
    assert_eq!(t.name, "Wati Lestari");
    let again = pickup(s, &clerk, &code).await.unwrap().into_inner();
    assert_eq!(
        again.ticket_id, t.ticket_id,
        "the same ticket while it waits"
    );
    let e = s
        .booking
        .clone()
        .check_in_pickup(as_staff(
            &clerk,
            pb::CheckInPickupRequest {
                office_code: "BOGOR".into(),
                booking_code: other.booking_code.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status::reason_of(&e), Some(Reason::StageNotAllowed));
    let board = s
        .booking
        .clone()
        .get_queue_board(pb::GetQueueBoardRequest {
            office_code: "BOGOR".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((board.waiting_pickup, board.waiting_appointments), (1, 0));
    let called = s
        .booking
        .clone()
        .call_next(as_staff(
            &clerk,
            pb::CallNextRequest {
                office_code: "BOGOR".into(),
                counter: "Loket 5".into(),
                pickup: true,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(called.queue_number, "C-001");
    let board = s
        .booking
        .clone()
        .get_queue_board(pb::GetQueueBoardRequest {
            office_code: "BOGOR".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(board.called[0].queue_number, "C-001");
    assert_eq!(board.called[0].counter, "Loket 5");
    assert!(board.called[0].name.is_empty(), "the board shows no names");
    s.booking
        .clone()
        .mark_served(as_staff(
            &clerk,
            pb::TicketActionRequest {
                ticket_id: called.ticket_id.clone(),
            },
        ))
        .await
        .unwrap();
    let after = s
        .booking
        .clone()
        .get_booking(pb::GetBookingRequest {
            key: Some(pb::get_booking_request::Key::BookingCode(code.clone())),
            contact_phone: PHONE.into(),
            office_code: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        after.applicants[0].stage,
        pb::ApplicationStage::PickedUp as i32
    );
    assert_eq!(
        after.applicants[1].stage,
        pb::ApplicationStage::Waiting as i32
    );
    let told = wait_messages(&w, 5).await;
    assert_eq!(told.last().unwrap().1, "Paspor sudah diambil");

    // The second passport is ready and not collected: one reminder after 7 days.
    for stage in [
        pb::ApplicationStage::DocumentsChecked,
        pb::ApplicationStage::ReadyForPickup,
    ] {
        advance(s, &clerk, &code, 2, stage).await.unwrap();
    }
    let reminders = || {
        w.cloud_api
            .messages_to(DIGITS)
            .into_iter()
            .filter(|m| m.body["template"]["name"] == "antrean_pengingat_ambil_paspor")
            .count()
    };
    s.clock.advance(chrono::Duration::days(6));
    s.bookings.sweep().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(reminders(), 0, "not before 7 days");
    s.clock.advance(chrono::Duration::days(1));
    s.bookings.sweep().await.unwrap();
    s.bookings.sweep().await.unwrap();
    for _ in 0..200 {
        if reminders() > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(reminders(), 1, "one reminder");

    // The dashboard's figures: who stands where, and the median time into each stage.
    let stats = s
        .booking
        .clone()
        .get_stats(as_staff(
            &head,
            pb::GetStatsRequest {
                office_code: "BOGOR".into(),
                from: DAY.into(),
                to: DAY.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let of = |stage: pb::ApplicationStage| {
        stats
            .stages
            .iter()
            .find(|x| x.stage == stage as i32)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(of(pb::ApplicationStage::PickedUp).applicants, 1);
    assert_eq!(of(pb::ApplicationStage::ReadyForPickup).applicants, 1);
    let photo = of(pb::ApplicationStage::PhotoInterview);
    assert_eq!((photo.transitions, photo.median_seconds), (1, 30 * 60));
    assert_eq!(
        of(pb::ApplicationStage::PaymentConfirmed).median_seconds,
        10 * 60
    );
    assert_eq!(of(pb::ApplicationStage::ReadyForPickup).transitions, 2);
    assert!(stats.stages.iter().all(|x| x.office_code == "BOGOR"));
    // Every office: each office's rows and the nation's (office code "").
    let national = s
        .booking
        .clone()
        .get_stats(as_staff(
            &staff_token(Role::DirectorateAdmin, ""),
            pb::GetStatsRequest {
                office_code: String::new(),
                from: DAY.into(),
                to: DAY.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let nation = national
        .stages
        .iter()
        .find(|x| {
            x.office_code.is_empty() && x.stage == pb::ApplicationStage::PhotoInterview as i32
        })
        .cloned()
        .unwrap_or_default();
    assert_eq!((nation.transitions, nation.median_seconds), (1, 30 * 60));
    assert!(national.stages.iter().any(|x| x.office_code == "BOGOR"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stage_and_pickup_screens_in_chromium() {
    let w = start_with_whatsapp().await;
    let s = &w.system;
    let admin = staff::admin(s).await;
    staff::create(
        s,
        &admin,
        "kepala.bogor",
        pb::StaffRole::OfficeHead,
        "BOGOR",
    )
    .await;
    let b = s
        .book(create(
            "progress-browser",
            "BOGOR",
            DAY,
            pb::Session::Pagi,
            PHONE,
            vec![
                applicant(&nik("1984-02-03", 1), "Wati Lestari", "1984-02-03"),
                applicant(&nik("1982-05-06", 2), "Agus Salim", "1982-05-06"),
            ],
        ))
        .await;
    s.clock.set("2026-12-01T00:00:00Z".parse().unwrap()); // 07:00 WIB
    s.booking
        .clone()
        .check_in(as_staff(
            &staff_token(Role::OfficeStaff, "BOGOR"),
            pb::CheckInRequest {
                booking_code: b.booking_code.clone(),
                office_code: "BOGOR".into(),
                at: None,
            },
        ))
        .await
        .unwrap();
    run_browser_script(
        "progress.mjs",
        &[
            &w.gateway,
            "kepala.bogor",
            staff::PASSWORD,
            &b.booking_code,
            PHONE,
        ],
    )
    .await;
    // What the screens did went through the booking service, audited.
    let audited: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM booking.staff_actions
         WHERE action IN ('AdvanceStage', 'SetPickupHours', 'CheckInPickup') ORDER BY id",
    )
    .fetch_all(&s.pool().await)
    .await
    .unwrap();
    assert_eq!(
        audited,
        [
            "AdvanceStage",
            "AdvanceStage",
            "SetPickupHours",
            "CheckInPickup"
        ]
    );
}
