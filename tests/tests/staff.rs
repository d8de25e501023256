//! Staff accounts: who may create whom, signing in, lock-out, and the audit trail.
use antrean_platform::actor::with_token;
use antrean_platform::status;
use antrean_proto::v1 as pb;
use antrean_tests::staff::{self, PASSWORD};
use antrean_tests::*;
use tonic::Code;

fn new_staff(username: &str, role: pb::StaffRole, office: &str) -> pb::CreateStaffRequest {
    pb::CreateStaffRequest {
        username: username.into(),
        display_name: username.into(),
        password: PASSWORD.into(),
        role: role as i32,
        office_code: office.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_may_create_whom() {
    let s = start().await;
    let admin = staff::admin(&s).await;
    let head = staff::create(
        &s,
        &admin,
        "kepala.bogor",
        pb::StaffRole::OfficeHead,
        "BOGOR",
    )
    .await;
    let clerk = staff::create(
        &s,
        &head,
        "petugas.bogor",
        pb::StaffRole::OfficeStaff,
        "BOGOR",
    )
    .await;
    let mut id = staff::client(&s).await;
    let attempt = |token: &str, req: pb::CreateStaffRequest| {
        let req = with_token(tonic::Request::new(req), token);
        let mut id = id.clone();
        async move { id.create_staff(req).await.map(|_| ()).map_err(|e| e.code()) }
    };
    use pb::StaffRole::*;
    // Heads: office staff of their own office only.
    assert_eq!(
        attempt(&head.token, new_staff("p2.bogor", OfficeStaff, "BOGOR")).await,
        Ok(())
    );
    assert_eq!(
        attempt(&head.token, new_staff("p.jkt", OfficeStaff, "JAKPUS")).await,
        Err(Code::PermissionDenied)
    );
    assert_eq!(
        attempt(&head.token, new_staff("k2.bogor", OfficeHead, "BOGOR")).await,
        Err(Code::PermissionDenied)
    );
    // Office staff create nobody; without a token nobody does.
    assert_eq!(
        attempt(&clerk.token, new_staff("p3.bogor", OfficeStaff, "BOGOR")).await,
        Err(Code::PermissionDenied)
    );
    assert_eq!(
        attempt("", new_staff("p4.bogor", OfficeStaff, "BOGOR")).await,
        Err(Code::Unauthenticated)
    );
    // Admins: anyone anywhere; usernames are unique.
    assert_eq!(
        attempt(&admin.token, new_staff("k.jkt", OfficeHead, "JAKPUS")).await,
        Ok(())
    );
    assert_eq!(
        attempt(&admin.token, new_staff("K.JKT", OfficeHead, "JAKPUS")).await,
        Err(Code::AlreadyExists)
    );
    // Bad fields come back together, in Bahasa Indonesia.
    let bad = id
        .create_staff(with_token(
            tonic::Request::new(pb::CreateStaffRequest {
                username: "x".into(),
                display_name: "".into(),
                password: "pendek".into(),
                role: DirectorateAdmin as i32,
                office_code: "BOGOR".into(),
            }),
            &admin.token,
        ))
        .await
        .unwrap_err();
    let fields: Vec<String> = status::violations(&bad)
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(
        fields,
        ["username", "display_name", "password", "office_code"]
    );

    // Listing: heads see their office, admins everything.
    let list = |token: String, office: &str| {
        let req = with_token(
            tonic::Request::new(pb::ListStaffRequest {
                office_code: office.into(),
            }),
            &token,
        );
        let mut id = id.clone();
        async move { id.list_staff(req).await }
    };
    let bogor = list(head.token.clone(), "BOGOR")
        .await
        .unwrap()
        .into_inner()
        .staff;
    let names: Vec<&str> = bogor.iter().map(|s| s.username.as_str()).collect();
    assert_eq!(names, ["kepala.bogor", "p2.bogor", "petugas.bogor"]);
    assert!(bogor.iter().all(|s| s.access_token.is_empty()));
    assert_eq!(
        list(head.token.clone(), "JAKPUS").await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        list(clerk.token.clone(), "BOGOR").await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        list(admin.token.clone(), "")
            .await
            .unwrap()
            .into_inner()
            .staff
            .len(),
        5
    );

    // Every creation is in the audit trail with who did it.
    let pool = s.pool().await;
    let trail: Vec<(String, String)> = sqlx::query_as(
        "SELECT username, target FROM identity.staff_actions WHERE action = 'CreateStaff' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        trail,
        [
            ("antrean-identity create-admin", "admin.pusat"),
            ("admin.pusat", "kepala.bogor"),
            ("kepala.bogor", "petugas.bogor"),
            ("kepala.bogor", "p2.bogor"),
            ("admin.pusat", "k.jkt"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_checks_the_password_and_locks_after_five_failures() {
    let s = start().await;
    let admin = staff::admin(&s).await;
    staff::create(
        &s,
        &admin,
        "petugas.bogor",
        pb::StaffRole::OfficeStaff,
        "BOGOR",
    )
    .await;
    let id = staff::client(&s).await;
    let login = |user: &str, password: &str| {
        let req = pb::AuthenticateStaffRequest {
            username: user.into(),
            password: password.into(),
        };
        let mut id = id.clone();
        async move { id.authenticate_staff(req).await }
    };
    let ok = login("Petugas.Bogor", PASSWORD).await.unwrap().into_inner();
    assert_eq!(ok.office_code, "BOGOR");
    assert!(ok.access_token.starts_with("v1."));
    let token_ends = ok.access_expires_at.unwrap().seconds - s.clock_now().timestamp();
    assert_eq!(token_ends, 12 * 3600);
    // Unknown users and wrong passwords get the same answer.
    let unknown = login("tidak.ada", PASSWORD).await.unwrap_err();
    let wrong = login("petugas.bogor", "salah-salah-salah")
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::Unauthenticated);
    assert_eq!(unknown.message(), wrong.message());
    for _ in 0..3 {
        login("petugas.bogor", "salah-salah-salah")
            .await
            .unwrap_err();
    }
    let locked = login("petugas.bogor", "salah-salah-salah")
        .await
        .unwrap_err();
    assert_eq!(status::reason(&locked).as_deref(), Some("ACCOUNT_LOCKED"));
    // Even the right password waits out the lock.
    let still = login("petugas.bogor", PASSWORD).await.unwrap_err();
    assert_eq!(status::reason(&still).as_deref(), Some("ACCOUNT_LOCKED"));
    s.clock.advance(chrono::Duration::minutes(16));
    login("petugas.bogor", PASSWORD).await.unwrap();
}
