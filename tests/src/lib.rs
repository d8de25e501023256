//! Starts identity, quota and booking in this process, each on port 0, sharing one fresh
//! database, a Redis key prefix and one manual clock, talking to each other over real gRPC.
use antrean_booking::{BookingConfig, Bookings, grpc::BookingGrpc};
use antrean_identity::IdentityConfig;
use antrean_platform::clock::ManualClock;
use antrean_platform::grpc::{ServeOptions, serve};
use antrean_platform::testing;
use antrean_proto::v1 as pb;
use antrean_proto::v1::booking_service_client::BookingServiceClient;
use antrean_proto::v1::quota_service_client::QuotaServiceClient;
use antrean_quota::{QuotaConfig, grpc::QuotaGrpc};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tonic::transport::Channel;

pub struct System {
    pub booking: BookingServiceClient<Channel>,
    pub quota: QuotaServiceClient<Channel>,
    pub bookings: Arc<Bookings>,
    pub quota_service: Arc<antrean_quota::Quota>,
    pub clock: Arc<ManualClock>,
    pub database_url: String,
    /// `http://127.0.0.1:<port>` of the booking service.
    pub booking_url: String,
}

/// Monday 30 November 2026, 10:00 WIB.
pub fn monday_morning() -> DateTime<Utc> {
    "2026-11-30T03:00:00Z".parse().unwrap()
}

async fn spawn<S>(svc: S) -> String
where
    S: tonic::codegen::Service<http::Request<tonic::body::Body>, Error = std::convert::Infallible>
        + tonic::server::NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Response: axum::response::IntoResponse,
    S::Future: Send + 'static,
{
    let (listener, addr) = testing::listener().await;
    tokio::spawn(serve(
        listener,
        svc,
        ServeOptions::default(),
        std::future::pending(),
    ));
    format!("http://{addr}")
}

pub async fn start() -> System {
    antrean_platform::telemetry::init_for_tests();
    let db = testing::fresh_database_url();
    let clock = ManualClock::new(monday_morning());

    let identity = antrean_identity::build(&IdentityConfig::for_tests(db.clone()), clock.clone())
        .await
        .unwrap();
    let identity_url = spawn(identity.into_server()).await;

    let qc = QuotaConfig::for_tests(db.clone(), testing::redis_url(), testing::redis_prefix());
    let quota = Arc::new(antrean_quota::build(&qc, clock.clone()).await.unwrap());
    let quota_url = spawn(QuotaGrpc::new(quota.clone()).into_server()).await;

    let bc = BookingConfig::for_tests(db.clone(), identity_url, quota_url.clone());
    let bookings = Arc::new(antrean_booking::build(&bc, clock.clone()).await.unwrap());
    let booking_url = spawn(BookingGrpc::new(bookings.clone()).into_server()).await;

    System {
        booking: BookingServiceClient::connect(booking_url.clone())
            .await
            .unwrap(),
        booking_url,
        quota: QuotaServiceClient::connect(quota_url).await.unwrap(),
        bookings,
        quota_service: quota,
        clock,
        database_url: db,
    }
}

pub fn applicant(nik: &str, name: &str, birth: &str) -> pb::ApplicantInput {
    pb::ApplicantInput {
        nik: nik.into(),
        name: name.into(),
        birth_date: birth.into(),
        application_type: pb::ApplicationType::New as i32,
    }
}

/// A valid NIK for a man born on `birth` (YYYY-MM-DD), with serial `n`.
pub fn nik(birth: &str, n: u32) -> String {
    let (y, m, d) = (&birth[2..4], &birth[5..7], &birth[8..10]);
    format!("320101{d}{m}{y}{n:04}")
}

pub fn create(
    key: &str,
    office: &str,
    date: &str,
    session: pb::Session,
    phone: &str,
    applicants: Vec<pb::ApplicantInput>,
) -> pb::CreateBookingRequest {
    pb::CreateBookingRequest {
        idempotency_key: key.into(),
        channel: pb::Channel::Web as i32,
        office_code: office.into(),
        date: date.into(),
        session: session as i32,
        contact: Some(pb::ContactInput {
            phone: phone.into(),
            email: String::new(),
            whatsapp_user_id: String::new(),
        }),
        applicants,
    }
}

impl System {
    pub async fn remaining(&self, office: &str, date: &str, session: pb::Session) -> u32 {
        let d = self
            .quota
            .clone()
            .get_availability(pb::GetAvailabilityRequest {
                office_code: office.into(),
                from: date.into(),
                to: date.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .days
            .remove(0);
        d.sessions
            .iter()
            .find(|s| s.session == session as i32)
            .unwrap()
            .remaining
    }

    /// Creates and confirms; answers the confirmed booking.
    pub async fn book(&self, req: pb::CreateBookingRequest) -> pb::Booking {
        let mut c = self.booking.clone();
        let created = c.create_booking(req).await.unwrap().into_inner();
        c.confirm_booking(pb::ConfirmBookingRequest {
            booking_id: created.booking.unwrap().booking_id,
            confirmation_code: created.confirmation_code,
        })
        .await
        .unwrap()
        .into_inner()
    }

    pub async fn pool(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.database_url).await.unwrap()
    }
}
