//! Office operations: calling order and fairness between appointments and walk-ins, walk-in
//! priority seats and their roll-over, forfeited bookings moved to the walk-in lane, and who
//! may do what where.
use antrean_platform::actor::Role;
use antrean_platform::status;
use antrean_proto::v1 as pb;
use antrean_tests::*;
use tonic::Code;

const DAY: &str = "2026-12-01";

/// Books and confirms one person per booking at Bogor on DAY, morning.
async fn book_people(s: &System, n: u32) -> Vec<pb::Booking> {
    let mut out = Vec::new();
    for i in 0..n {
        let birth = "1985-03-14";
        out.push(
            s.book(create(
                &format!("ops-{i}"),
                "BOGOR",
                DAY,
                pb::Session::Pagi,
                &format!("08131{:07}", 1_000 + i),
                vec![applicant(
                    &nik(birth, 100 + i),
                    &format!(
                        "Pemohon {}",
                        [
                            "Satu", "Dua", "Tiga", "Empat", "Lima", "Enam", "Tujuh", "Delapan",
                            "Sembilan", "Sepuluh"
                        ][i as usize]
                    ),
                    birth,
                )],
            ))
            .await,
        );
    }
    out
}

/// 07:00 WIB on DAY.
fn morning_of_the_day(s: &System) {
    s.clock.set("2026-12-01T00:00:00Z".parse().unwrap());
}

async fn check_in(s: &System, token: &str, code: &str) -> Result<pb::Booking, tonic::Status> {
    s.booking
        .clone()
        .check_in(as_staff(
            token,
            pb::CheckInRequest {
                booking_code: code.into(),
                office_code: "BOGOR".into(),
                at: None,
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn call(s: &System, token: &str, counter: &str) -> Result<pb::QueueTicket, tonic::Status> {
    s.booking
        .clone()
        .call_next(as_staff(
            token,
            pb::CallNextRequest {
                office_code: "BOGOR".into(),
                counter: counter.into(),
                pickup: false,
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn walk_in(
    s: &System,
    token: &str,
    name: &str,
    reason: &str,
) -> Result<pb::QueueTicket, tonic::Status> {
    s.booking
        .clone()
        .create_walk_in(as_staff(
            token,
            pb::CreateWalkInRequest {
                office_code: "BOGOR".into(),
                session: pb::Session::Pagi as i32,
                name: name.into(),
                priority_reason: reason.into(),
                forfeited_booking_code: String::new(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn set_priority(s: &System, token: &str, seats: u32, cutoff: &str) -> pb::PriorityQuota {
    s.booking
        .clone()
        .set_priority_capacity(as_staff(
            token,
            pb::SetPriorityCapacityRequest {
                office_code: "BOGOR".into(),
                date: DAY.into(),
                session: pb::Session::Pagi as i32,
                priority_capacity: seats,
                cutoff_local: cutoff.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn act(
    s: &System,
    token: &str,
    id: &str,
    what: &str,
) -> Result<pb::QueueTicket, tonic::Status> {
    let mut c = s.booking.clone();
    let req = || {
        as_staff(
            token,
            pb::TicketActionRequest {
                ticket_id: id.into(),
            },
        )
    };
    match what {
        "recall" => c.recall(req()).await,
        "skip" => c.skip(req()).await,
        _ => c.mark_served(req()).await,
    }
    .map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calling_interleaves_walk_ins_so_neither_lane_starves() {
    let s = start().await;
    let head = staff_token(Role::OfficeHead, "BOGOR");
    let clerk = staff_token(Role::OfficeStaff, "BOGOR");
    let booked = book_people(&s, 4).await;
    set_priority(&s, &head, 2, "").await;
    morning_of_the_day(&s);
    // Arrival order does not matter: the schedule (then the number) does.
    for b in booked.iter().rev() {
        let c = check_in(&s, &clerk, &b.booking_code).await.unwrap();
        assert_eq!(c.status, pb::BookingStatus::CheckedIn as i32);
    }
    let p1 = walk_in(&s, &clerk, "Ibu Sari", "pregnant").await.unwrap();
    assert_eq!((p1.queue_number.as_str(), p1.priority), ("P-001", true));
    assert_eq!(p1.priority_reason, "PREGNANT");
    walk_in(&s, &clerk, "Bapak Harun", "ELDERLY").await.unwrap();
    let full = walk_in(&s, &clerk, "Ibu Rina", "NURSING")
        .await
        .unwrap_err();
    assert_eq!(
        status::reason(&full).as_deref(),
        Some("PRIORITY_QUOTA_EXHAUSTED")
    );
    let bad = walk_in(&s, &clerk, "", "VIP").await.unwrap_err();
    let fields: Vec<String> = status::violations(&bad)
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["name", "priority_reason"]);

    let mut order = Vec::new();
    let mut tickets = Vec::new();
    for i in 0..6 {
        let t = call(&s, &clerk, &format!("Loket {}", 1 + i % 2))
            .await
            .unwrap();
        assert_eq!(t.state, "CALLED");
        order.push(t.queue_number.clone());
        tickets.push(t);
    }
    assert_eq!(
        order,
        ["A-001", "A-002", "P-001", "A-003", "A-004", "P-002"]
    );
    let empty = call(&s, &clerk, "Loket 1").await.unwrap_err();
    assert_eq!(empty.code(), Code::NotFound);
    assert_eq!(status::reason(&empty).as_deref(), Some("QUEUE_EMPTY"));

    // Serve, skip, recall.
    let served = act(&s, &clerk, &tickets[0].ticket_id, "served")
        .await
        .unwrap();
    assert_eq!(served.state, "SERVED");
    let b0 = s
        .booking
        .clone()
        .get_booking(pb::GetBookingRequest {
            key: Some(pb::get_booking_request::Key::BookingId(
                booked[0].booking_id.clone(),
            )),
            contact_phone: String::new(),
            office_code: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b0.status, pb::BookingStatus::Served as i32);
    assert_eq!(
        act(&s, &clerk, &tickets[1].ticket_id, "skip")
            .await
            .unwrap()
            .state,
        "SKIPPED"
    );
    let again = act(&s, &clerk, &tickets[2].ticket_id, "recall")
        .await
        .unwrap();
    assert_eq!((again.state.as_str(), again.recalls), ("CALLED", 1));
    let twice = act(&s, &clerk, &tickets[0].ticket_id, "served")
        .await
        .unwrap_err();
    assert_eq!(status::reason(&twice).as_deref(), Some("TICKET_NOT_CALLED"));

    // The public board: the last call per counter, no names.
    let board = s
        .booking
        .clone()
        .get_queue_board(pb::GetQueueBoardRequest {
            office_code: "bogor".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let shown: Vec<(&str, &str)> = board
        .called
        .iter()
        .map(|t| (t.counter.as_str(), t.queue_number.as_str()))
        .collect();
    // P-001 was recalled at Loket 1 after everything else: it is the newest call.
    assert_eq!(shown, [("Loket 1", "P-001"), ("Loket 2", "P-002")]);
    assert!(board.called.iter().all(|t| t.name.is_empty()));
    assert_eq!(
        (
            board.waiting_appointments,
            board.waiting_priority,
            board.served
        ),
        (0, 0, 1)
    );

    // Every call is in the audit trail.
    let pool = s.pool().await;
    let calls: i64 =
        sqlx::query_scalar("SELECT count(*) FROM booking.staff_actions WHERE action = 'CallNext'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(calls, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_calling_at_once_never_get_the_same_person() {
    let s = start().await;
    let clerk = staff_token(Role::OfficeStaff, "BOGOR");
    let booked = book_people(&s, 8).await;
    morning_of_the_day(&s);
    for b in &booked {
        check_in(&s, &clerk, &b.booking_code).await.unwrap();
    }
    let calls = futures::future::join_all((0..12).map(|i| {
        let (s, clerk) = (&s, &clerk);
        async move { call(s, clerk, &format!("Loket {i}")).await }
    }))
    .await;
    let mut numbers: Vec<String> = calls
        .iter()
        .filter_map(|c| c.as_ref().ok().map(|t| t.queue_number.clone()))
        .collect();
    numbers.sort();
    assert_eq!(
        numbers,
        (1..=8).map(|n| format!("A-{n:03}")).collect::<Vec<_>>()
    );
    assert_eq!(calls.iter().filter(|c| c.is_err()).count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unused_priority_seats_return_to_the_general_pool_at_the_cut_off() {
    let s = start().await;
    let head = staff_token(Role::OfficeHead, "BOGOR");
    let clerk = staff_token(Role::OfficeStaff, "BOGOR");
    let q = set_priority(&s, &head, 5, "09:00").await;
    assert_eq!(
        (q.priority_capacity, q.used, q.cutoff_local.as_str()),
        (5, 0, "09:00")
    );
    morning_of_the_day(&s);
    walk_in(&s, &clerk, "Bapak Harun", "DISABLED")
        .await
        .unwrap();
    assert_eq!(
        s.bookings.roll_over_priority().await.unwrap(),
        0,
        "before the cut-off"
    );
    s.clock.advance(chrono::Duration::minutes(121)); // 09:01 WIB
    assert_eq!(s.bookings.roll_over_priority().await.unwrap(), 1);
    assert_eq!(s.bookings.roll_over_priority().await.unwrap(), 0, "once");
    let pool = s.pool().await;
    let capacity: i32 = sqlx::query_scalar(
        "SELECT capacity FROM quota.session_quota
         WHERE office_code = 'BOGOR' AND date = '2026-12-01' AND session = 'PAGI'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(capacity, 75 + 4);
    let late = walk_in(&s, &clerk, "Ibu Rina", "NURSING")
        .await
        .unwrap_err();
    assert_eq!(
        status::reason(&late).as_deref(),
        Some("PRIORITY_QUOTA_EXHAUSTED")
    );
    let who: String = sqlx::query_scalar(
        "SELECT username FROM booking.staff_actions WHERE action = 'PriorityRollover'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(who, "sistem");
    let quota_audit: String = sqlx::query_scalar(
        "SELECT username FROM quota.staff_actions WHERE action = 'ADD_CAPACITY'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(quota_audit, "sistem");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_booking_is_forfeited_and_may_join_the_walk_in_lane() {
    let s = start().await;
    let clerk = staff_token(Role::OfficeStaff, "BOGOR");
    let booked = book_people(&s, 1).await;
    s.clock.set("2026-12-01T01:30:00Z".parse().unwrap()); // 08:30 WIB, scheduled 08:00
    let late = check_in(&s, &clerk, &booked[0].booking_code).await.unwrap();
    assert_eq!(late.status, pb::BookingStatus::Forfeited as i32);
    let moved = |code: String| {
        let (s, clerk) = (&s, &clerk);
        async move {
            s.booking
                .clone()
                .create_walk_in(as_staff(
                    clerk,
                    pb::CreateWalkInRequest {
                        office_code: "BOGOR".into(),
                        forfeited_booking_code: code,
                        ..Default::default()
                    },
                ))
                .await
                .map(|r| r.into_inner())
        }
    };
    let t = moved(booked[0].booking_code.clone()).await.unwrap();
    assert_eq!(
        (t.queue_number.as_str(), t.priority_reason.as_str()),
        ("P-001", "LATE")
    );
    assert_eq!(
        moved(booked[0].booking_code.clone())
            .await
            .unwrap()
            .ticket_id,
        t.ticket_id
    );
    assert_eq!(
        call(&s, &clerk, "Loket 1").await.unwrap().queue_number,
        "P-001"
    );
}

/// Every staff RPC x role x office: allowed calls may still fail for their own reasons, but
/// never with PERMISSION_DENIED or UNAUTHENTICATED; refused ones fail with exactly those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorisation_matrix_of_the_staff_rpcs() {
    let s = start().await;
    let booked = book_people(&s, 1).await;
    let code = booked[0].booking_code.clone();
    morning_of_the_day(&s);
    let mut identity = staff::client(&s).await;
    let roles = [
        ("none", String::new()),
        ("bogor staff", staff_token(Role::OfficeStaff, "BOGOR")),
        ("bogor head", staff_token(Role::OfficeHead, "BOGOR")),
        ("jakarta staff", staff_token(Role::OfficeStaff, "JAKPUS")),
        ("jakarta head", staff_token(Role::OfficeHead, "JAKPUS")),
        ("admin", staff_token(Role::DirectorateAdmin, "")),
    ];
    // (rpc, roles allowed on Bogor)
    let matrix: [(&str, &[&str]); 12] = [
        ("CheckIn", &["bogor staff", "bogor head", "admin"]),
        ("CallNext", &["bogor staff", "bogor head", "admin"]),
        ("CreateWalkIn", &["bogor staff", "bogor head", "admin"]),
        ("SetPriorityCapacity", &["bogor head", "admin"]),
        ("SetCapacity", &["bogor head", "admin"]),
        ("AddCapacity", &["bogor head", "admin"]),
        ("CloseDate", &["bogor head", "admin"]),
        ("OpenSpecialDate", &["bogor head", "admin"]),
        ("ListStaff", &["bogor head", "admin"]),
        ("CreateStaff(office staff)", &["bogor head", "admin"]),
        ("CreateStaff(head)", &["admin"]),
        ("ListStaff(national)", &["admin"]),
    ];
    let mut n = 0;
    for (rpc, allowed) in matrix {
        for (role, token) in &roles {
            n += 1;
            let mut b = s.booking.clone();
            let mut q = s.quota.clone();
            let result: Result<(), tonic::Status> = match rpc {
                "CheckIn" => b
                    .check_in(as_staff(
                        token,
                        pb::CheckInRequest {
                            booking_code: code.clone(),
                            office_code: "BOGOR".into(),
                            at: None,
                        },
                    ))
                    .await
                    .map(|_| ()),
                "CallNext" => b
                    .call_next(as_staff(
                        token,
                        pb::CallNextRequest {
                            office_code: "BOGOR".into(),
                            counter: "Loket 1".into(),
                            pickup: false,
                        },
                    ))
                    .await
                    .map(|_| ()),
                "CreateWalkIn" => b
                    .create_walk_in(as_staff(
                        token,
                        pb::CreateWalkInRequest {
                            office_code: "BOGOR".into(),
                            session: pb::Session::Pagi as i32,
                            name: "Ibu Sari".into(),
                            priority_reason: "PREGNANT".into(),
                            forfeited_booking_code: String::new(),
                        },
                    ))
                    .await
                    .map(|_| ()),
                "SetPriorityCapacity" => b
                    .set_priority_capacity(as_staff(
                        token,
                        pb::SetPriorityCapacityRequest {
                            office_code: "BOGOR".into(),
                            date: "2026-12-03".into(),
                            session: pb::Session::Pagi as i32,
                            priority_capacity: 10,
                            cutoff_local: String::new(),
                        },
                    ))
                    .await
                    .map(|_| ()),
                "SetCapacity" => q
                    .set_capacity(as_staff(
                        token,
                        pb::SetCapacityRequest {
                            office_code: "BOGOR".into(),
                            date: "2026-12-03".into(),
                            session: pb::Session::Pagi as i32,
                            capacity: 80,
                        },
                    ))
                    .await
                    .map(|_| ()),
                "AddCapacity" => q
                    .add_capacity(as_staff(
                        token,
                        pb::AddCapacityRequest {
                            office_code: "BOGOR".into(),
                            date: "2026-12-03".into(),
                            session: pb::Session::Pagi as i32,
                            seats: 2,
                            idempotency_key: format!("matrix-{n}"),
                        },
                    ))
                    .await
                    .map(|_| ()),
                "CloseDate" => q
                    .close_date(as_staff(
                        token,
                        pb::CloseDateRequest {
                            office_code: "BOGOR".into(),
                            date: "2026-12-04".into(),
                            reason: "Pemadaman listrik".into(),
                        },
                    ))
                    .await
                    .map(|_| ()),
                "OpenSpecialDate" => q
                    .open_special_date(as_staff(
                        token,
                        pb::OpenSpecialDateRequest {
                            office_code: "BOGOR".into(),
                            date: "2026-12-05".into(),
                            name: "Paspor Simpatik".into(),
                            pagi_capacity: 30,
                            siang_capacity: 0,
                        },
                    ))
                    .await
                    .map(|_| ()),
                "ListStaff" | "ListStaff(national)" => identity
                    .list_staff(as_staff(
                        token,
                        pb::ListStaffRequest {
                            office_code: if rpc == "ListStaff" {
                                "BOGOR".into()
                            } else {
                                String::new()
                            },
                        },
                    ))
                    .await
                    .map(|_| ()),
                _ => identity
                    .create_staff(as_staff(
                        token,
                        pb::CreateStaffRequest {
                            username: format!("u{n}"),
                            display_name: "Petugas".into(),
                            password: staff::PASSWORD.into(),
                            role: if rpc == "CreateStaff(head)" {
                                pb::StaffRole::OfficeHead
                            } else {
                                pb::StaffRole::OfficeStaff
                            } as i32,
                            office_code: "BOGOR".into(),
                        },
                    ))
                    .await
                    .map(|_| ()),
            };
            let code = result.err().map(|e| e.code());
            let refused = matches!(code, Some(Code::PermissionDenied | Code::Unauthenticated));
            if allowed.contains(role) {
                assert!(!refused, "{rpc} as {role} was refused: {code:?}");
            } else if token.is_empty() {
                assert_eq!(code, Some(Code::Unauthenticated), "{rpc} as {role}");
            } else {
                assert_eq!(code, Some(Code::PermissionDenied), "{rpc} as {role}");
            }
        }
    }
    // Ticket actions are checked against the ticket's office.
    let bogor = staff_token(Role::OfficeStaff, "BOGOR");
    let jakarta = staff_token(Role::OfficeStaff, "JAKPUS");
    // The allowed CheckIn and CallNext above checked the booking in and called it.
    let board = s
        .booking
        .clone()
        .get_queue_board(pb::GetQueueBoardRequest {
            office_code: "BOGOR".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let t = board.called[0].clone();
    for what in ["recall", "skip", "served"] {
        let e = act(&s, &jakarta, &t.ticket_id, what).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{what}");
        let e = act(&s, "", &t.ticket_id, what).await.unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{what}");
    }
    act(&s, &bogor, &t.ticket_id, "served").await.unwrap();
}
