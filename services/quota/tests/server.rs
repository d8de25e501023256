//! The standard server every service runs: health, reflection, graceful shutdown.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]
mod common;

use antrean_platform::clock::ManualClock;
use antrean_platform::grpc::{ServeOptions, serve};
use antrean_platform::testing;
use antrean_proto::v1 as pb;
use antrean_proto::v1::quota_service_client::QuotaServiceClient;
use antrean_quota::{QuotaConfig, grpc::QuotaGrpc};
use std::sync::Arc;
use std::time::Duration;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

#[tokio::test]
async fn health_reflection_and_a_graceful_drain() {
    antrean_platform::telemetry::init_for_tests();
    let config = QuotaConfig::for_tests(
        testing::fresh_database_url(),
        testing::redis_url(),
        testing::redis_prefix(),
    );
    let clock = ManualClock::new(common::monday_morning());
    let quota = Arc::new(antrean_quota::build(&config, clock).await.unwrap());
    let (listener, addr) = testing::listener().await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = ServeOptions {
        drain_delay: Duration::from_millis(400),
        ..ServeOptions::default()
    };
    let server = tokio::spawn(serve(
        listener,
        QuotaGrpc::new(quota, antrean_platform::actor::Tokens::dev()).into_server(),
        options,
        async move {
            let _ = stopped.await;
        },
    ));
    let url = format!("http://{addr}");
    let channel = tonic::transport::Endpoint::from_shared(url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());
    let check = |svc: &str| HealthCheckRequest {
        service: svc.into(),
    };
    let status = health
        .check(check("antrean.v1.QuotaService"))
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);

    let mut reflection = ServerReflectionClient::new(channel.clone());
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("no service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"antrean.v1.QuotaService".to_owned()),
        "{names:?}"
    );
    assert!(names.contains(&"grpc.health.v1.Health".to_owned()));

    // SIGTERM: health turns NOT_SERVING first, requests still complete while draining.
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let status = health
        .check(check("antrean.v1.QuotaService"))
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::NotServing as i32);
    let mut quota_client = QuotaServiceClient::new(channel);
    quota_client
        .list_offices(pb::ListOfficesRequest {})
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server stopped after draining")
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}
