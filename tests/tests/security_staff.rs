//! Staff accounts can be disabled, against the real processes: the account cannot sign in,
//! and the actor token it already holds stops working in identity at once and in quota and
//! booking within a minute.
use antrean_platform::actor::as_dev_admin;
use antrean_platform::status;
use antrean_proto::v1 as pb;
use antrean_proto::v1::booking_service_client::BookingServiceClient;
use antrean_proto::v1::identity_service_client::IdentityServiceClient;
use antrean_proto::v1::quota_service_client::QuotaServiceClient;
use antrean_tests::as_staff;
use antrean_tests::cluster::Cluster;
use std::time::{Duration, Instant};
use tonic::Code;
use tonic::transport::Endpoint;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_accounts_tokens_stop_working_within_a_minute() {
    let mut cluster = Cluster::new();
    cluster.start_all().await;
    let channel = |name: &str| {
        Endpoint::from_shared(cluster.url(name))
            .unwrap()
            .connect_lazy()
    };
    let mut identity = IdentityServiceClient::new(channel("identity"));
    let mut quota = QuotaServiceClient::new(channel("quota"));
    let mut booking = BookingServiceClient::new(channel("booking"));

    identity
        .create_staff(as_dev_admin(pb::CreateStaffRequest {
            username: "kepala.bogor".into(),
            display_name: "Kepala Bogor".into(),
            password: "kata-sandi-yang-panjang".into(),
            role: pb::StaffRole::OfficeHead as i32,
            office_code: "BOGOR".into(),
        }))
        .await
        .unwrap();
    let sign_in = || pb::AuthenticateStaffRequest {
        username: "kepala.bogor".into(),
        password: "kata-sandi-yang-panjang".into(),
    };
    let token = identity
        .authenticate_staff(sign_in())
        .await
        .unwrap()
        .into_inner()
        .access_token;
    let today = chrono::Utc::now().date_naive();
    let report = || pb::GetCapacityReportRequest {
        office_code: "BOGOR".into(),
        from: today.to_string(),
        to: (today + chrono::Days::new(7)).to_string(),
    };
    let board = || pb::GetStatsRequest {
        office_code: "BOGOR".into(),
        from: today.to_string(),
        to: (today + chrono::Days::new(7)).to_string(),
    };
    quota
        .get_capacity_report(as_staff(&token, report()))
        .await
        .unwrap();
    booking.get_stats(as_staff(&token, board())).await.unwrap();

    // An office head may not disable another head: that is the directorate's.
    let e = identity
        .set_staff_active(as_staff(
            &token,
            pb::SetStaffActiveRequest {
                username: "kepala.bogor".into(),
                active: false,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);

    let disabled = identity
        .set_staff_active(as_dev_admin(pb::SetStaffActiveRequest {
            username: "kepala.bogor".into(),
            active: false,
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(!disabled.active);
    let at = Instant::now();

    // No new sign-in.
    let e = identity.authenticate_staff(sign_in()).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    // Identity refuses the token at once.
    let e = identity
        .list_staff(as_staff(
            &token,
            pb::ListStaffRequest {
                office_code: "BOGOR".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status::reason(&e).as_deref(), Some("ACCOUNT_DISABLED"));

    // Quota and booking within a minute.
    let (mut quota_refused, mut booking_refused) = (false, false);
    while at.elapsed() < Duration::from_secs(60) && !(quota_refused && booking_refused) {
        if let Err(e) = quota.get_capacity_report(as_staff(&token, report())).await {
            assert_eq!(status::reason(&e).as_deref(), Some("ACCOUNT_DISABLED"));
            quota_refused = true;
        }
        if let Err(e) = booking.get_stats(as_staff(&token, board())).await {
            assert_eq!(status::reason(&e).as_deref(), Some("ACCOUNT_DISABLED"));
            booking_refused = true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        quota_refused && booking_refused,
        "still accepted after a minute: quota {quota_refused}, booking {booking_refused}"
    );

    // Enabled again, it signs in again.
    identity
        .set_staff_active(as_dev_admin(pb::SetStaffActiveRequest {
            username: "kepala.bogor".into(),
            active: true,
        }))
        .await
        .unwrap();
    identity.authenticate_staff(sign_in()).await.unwrap();
}
