//! Helpdesk bookings (CHANNEL_STAFF): office staff book at their office for an applicant who
//! cannot, from the console, with the same rules as any booking; confirmed at once, the code
//! and schedule sent to the applicant's phone, audited; nobody else can book as staff.
use antrean_platform::actor::Role;
use antrean_proto::v1 as pb;
use antrean_tests::*;

const PHONE: &str = "081355506006";
const DIGITS: &str = "6281355506006";

fn form<'a>(nik0: &'a str, nik1: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("kantor", "BOGOR"),
        ("tanggal", "2026-12-02"),
        ("sesi", "SIANG"),
        ("hp", PHONE),
        ("nama_0", "Mbah Surip"),
        ("nik_0", nik0),
        ("lahir_0", "1950-01-02"),
        ("jenis_0", "REPLACEMENT"),
        ("nama_1", "Siti Surip"),
        ("nik_1", nik1),
        ("lahir_1", "1953-03-04"),
        ("jenis_1", "NEW"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_book_for_an_applicant_from_the_console_with_the_same_rules() {
    let w = start_with_whatsapp().await;
    let s = &w.system;
    let admin = staff::admin(s).await;
    staff::create(
        s,
        &admin,
        "petugas.bogor",
        pb::StaffRole::OfficeStaff,
        "BOGOR",
    )
    .await;
    let clerk = StaffBrowser::sign_in(&w.gateway, "petugas.bogor").await;
    let (nik0, nik1) = (nik("1950-01-02", 1), nik("1953-03-04", 2));

    let (status, page) = clerk.post("/petugas/booking", &form(&nik0, &nik1)).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("dibuat untuk 2026-12-02 sesi SIANG"),
        "{page}"
    );
    assert!(
        page.contains("B-001 Mbah Surip") && page.contains("B-002 Siti Surip"),
        "{page}"
    );
    let pool = s.pool().await;
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT channel, status, booking_code FROM booking.bookings")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str()),
        ("CHANNEL_STAFF", "CONFIRMED")
    );
    // The applicant gets the code and schedule on their phone.
    let sent = s
        .cloud_api
        .wait_for_recipient(DIGITS, 1, std::time::Duration::from_secs(8))
        .await;
    assert_eq!(
        sent[0].body["template"]["name"],
        "antrean_booking_terkonfirmasi"
    );
    // The same form sent again books nothing more.
    let (_, page) = clerk.post("/petugas/booking", &form(&nik0, &nik1)).await;
    assert!(page.contains("B-001 Mbah Surip"), "{page}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM booking.bookings")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
    // The same rules: a person with an active booking cannot get a second one.
    let mut again = form(&nik0, &nik1);
    again.retain(|(k, _)| !k.ends_with("_1"));
    again.iter_mut().for_each(|f| {
        if f.0 == "tanggal" {
            f.1 = "2026-12-03";
        }
    });
    let (_, page) = clerk.post("/petugas/booking", &again).await;
    assert!(
        page.contains("class=\"alert\"") && page.contains("aktif"),
        "{page}"
    );
    let audited: Vec<(String, String)> = sqlx::query_as(
        "SELECT action, username FROM booking.staff_actions WHERE action = 'CreateBookingForApplicant'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        audited,
        [(
            "CreateBookingForApplicant".to_owned(),
            "petugas.bogor".to_owned()
        )]
    );

    // Over gRPC: CHANNEL_STAFF needs a staff token for that office.
    let mut req = create(
        "staff-grpc",
        "BOGOR",
        "2026-12-02",
        pb::Session::Pagi,
        "081355506007",
        vec![applicant(
            &nik("1960-05-06", 3),
            "Tanpa Token",
            "1960-05-06",
        )],
    );
    req.channel = pb::Channel::Staff as i32;
    let refused = s
        .booking
        .clone()
        .create_booking(req.clone())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let other = staff_token(Role::OfficeStaff, "MAKASSAR");
    let refused = s
        .booking
        .clone()
        .create_booking(as_staff(&other, req.clone()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let own = staff_token(Role::OfficeStaff, "BOGOR");
    let made = s
        .booking
        .clone()
        .create_booking(as_staff(&own, req))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        made.booking.unwrap().status,
        pb::BookingStatus::Confirmed as i32
    );
}
