//! Service identity against the real processes: every gRPC port wants a certificate from the
//! platform CA (plaintext, no certificate and another CA's certificate fail the handshake),
//! each RPC is open only to the identities its allow-list names (PERMISSION_DENIED, logged
//! with the caller), health and reflection answer any authenticated caller and the plaintext
//! health port answers probes, and a renewed certificate is served without a restart.
use antrean_proto::v1 as pb;
use antrean_proto::v1::booking_service_client::BookingServiceClient;
use antrean_proto::v1::identity_service_client::IdentityServiceClient;
use antrean_proto::v1::notification_service_client::NotificationServiceClient;
use antrean_proto::v1::quota_service_client::QuotaServiceClient;
use antrean_tests::cluster::{Cluster, first_morning_in_bogor, tls_endpoint, wait_serving};
use antrean_tests::{applicant, create, devca, nik};
use std::time::Duration;
use tonic::Code;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

async fn health(channel: tonic::transport::Channel) -> Result<i32, tonic::Status> {
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .map(|r| r.into_inner().status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_grpc_port_refuses_strangers_and_callers_off_the_allow_list() {
    let mut cluster = Cluster::with_tls();
    cluster.start_all().await;
    let dir = cluster.tls.clone().unwrap();
    let foreign = cluster.logs.join("foreign");
    devca::generate_foreign(&foreign, "booking").unwrap();
    let ca = Certificate::from_pem(std::fs::read(dir.join("ca.crt")).unwrap());

    for s in &cluster.services {
        // Plaintext HTTP/2 to a TLS port: no answer.
        let plain = Endpoint::from_shared(format!("http://127.0.0.1:{}", s.port))
            .unwrap()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(5))
            .connect_lazy();
        assert!(
            health(plain).await.is_err(),
            "{}: plaintext answered",
            s.name
        );

        // TLS, but no client certificate: the handshake fails.
        let anonymous = ClientTlsConfig::new()
            .ca_certificate(ca.clone())
            .domain_name("localhost");
        let err = health(tls_endpoint(s.port, anonymous).connect_lazy()).await;
        assert!(
            err.is_err(),
            "{}: a caller without a certificate answered",
            s.name
        );

        // A certificate named "booking" from another CA: refused just the same.
        let read = |f: &str| std::fs::read(foreign.join(f)).unwrap();
        let impostor = ClientTlsConfig::new()
            .ca_certificate(ca.clone())
            .identity(Identity::from_pem(read("booking.crt"), read("booking.key")))
            .domain_name("localhost");
        let err = health(tls_endpoint(s.port, impostor).connect_lazy()).await;
        assert!(
            err.is_err(),
            "{}: another CA's certificate answered",
            s.name
        );

        // Any identity of the platform: health and reflection.
        for who in ["operator", "channel", s.name] {
            let status = health(cluster.channel_as(who, s.name)).await.unwrap();
            assert_eq!(status, 1, "{}: health for {who}", s.name);
        }
        let mut reflection =
            tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(
                cluster.channel_as("operator", s.name),
            );
        let request = tonic_reflection::pb::v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
                    String::new(),
                ),
            ),
        };
        let mut answers = reflection
            .server_reflection_info(futures::stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        assert!(answers.message().await.unwrap().is_some());

        // Probes without a certificate: the plaintext port serves health only.
        let probe = Endpoint::from_shared(format!("http://127.0.0.1:{}", s.health_port))
            .unwrap()
            .connect_lazy();
        assert_eq!(health(probe.clone()).await.unwrap(), 1);
        let err = QuotaServiceClient::new(probe)
            .list_offices(pb::ListOfficesRequest::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unimplemented, "{}", s.name);
    }

    let quota = |who: &str| QuotaServiceClient::new(cluster.channel_as(who, "quota"));
    let identity = |who: &str| IdentityServiceClient::new(cluster.channel_as(who, "identity"));
    let booking = |who: &str| BookingServiceClient::new(cluster.channel_as(who, "booking"));
    let notification =
        |who: &str| NotificationServiceClient::new(cluster.channel_as(who, "notification"));
    let denied = |r: Result<(), tonic::Status>, what: &str| match r {
        Err(s) if s.code() == Code::PermissionDenied => {}
        other => panic!("{what}: expected PERMISSION_DENIED, got {other:?}"),
    };
    let passed = |r: Result<(), tonic::Status>, what: &str| {
        if let Err(s) = r {
            assert_ne!(s.code(), Code::PermissionDenied, "{what}: {s:?}");
        }
    };

    // Only booking moves seats: freeing a committed hold from anywhere else was an oversell.
    for who in ["channel", "gateway", "operator", "notification", "identity"] {
        let release = pb::ReleaseRequest {
            hold_id: "h".into(),
        };
        denied(
            quota(who).release(release).await.map(drop),
            &format!("Release as {who}"),
        );
        let commit = pb::CommitRequest {
            hold_id: "h".into(),
        };
        denied(
            quota(who).commit(commit).await.map(drop),
            &format!("Commit as {who}"),
        );
    }
    let release = pb::ReleaseRequest {
        hold_id: "no-such-hold".into(),
    };
    passed(
        quota("booking").release(release).await.map(drop),
        "Release as booking",
    );

    // Contacts are read by booking and notification only.
    for who in ["channel", "gateway", "operator", "quota"] {
        let req = pb::GetContactRequest {
            contact_id: "00000000-0000-0000-0000-000000000000".into(),
        };
        denied(
            identity(who).get_contact(req).await.map(drop),
            &format!("GetContact as {who}"),
        );
    }
    for who in ["booking", "notification"] {
        let req = pb::GetContactRequest {
            contact_id: "00000000-0000-0000-0000-000000000000".into(),
        };
        passed(
            identity(who).get_contact(req).await.map(drop),
            &format!("GetContact as {who}"),
        );
    }

    // Staff RPCs are not a channel's; sending messages is not an operator's.
    denied(
        booking("channel")
            .call_next(pb::CallNextRequest {
                office_code: "BOGOR".into(),
                counter: "1".into(),
                pickup: false,
            })
            .await
            .map(drop),
        "CallNext as channel",
    );
    denied(
        notification("channel")
            .send(pb::SendRequest::default())
            .await
            .map(drop),
        "Send as channel",
    );
    denied(
        booking("operator")
            .create_booking(pb::CreateBookingRequest::default())
            .await
            .map(drop),
        "CreateBooking as operator",
    );

    // A channel books: booking reaches identity, quota and notification over mutual TLS.
    let date = first_morning_in_bogor(&mut quota("channel")).await;
    let birth = "1991-02-03";
    let req = create(
        "mtls-1",
        "BOGOR",
        &date,
        pb::Session::Pagi,
        "081277700001",
        vec![applicant(&nik(birth, 7), "Siti Aminah", birth)],
    );
    let created = booking("channel")
        .create_booking(req)
        .await
        .unwrap()
        .into_inner();
    assert!(created.booking.is_some());

    // Refusals are logged with the caller's identity.
    let log = cluster.log("quota");
    assert!(
        log.lines().any(|l| l.contains("RPC refused")
            && l.contains("channel")
            && l.contains("QuotaService/Release")),
        "{log}"
    );
}

/// The certificate a TLS server presents, read from a handshake.
async fn served_certificate(cluster: &Cluster, port: u16) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let dir = cluster.tls.clone().unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(dir.join("ca.crt")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let chain: Vec<_> = CertificateDer::pem_file_iter(dir.join("operator.crt"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("operator.key")).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .unwrap();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

fn certificate_in(cluster: &Cluster, name: &str) -> Vec<u8> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let dir = cluster.tls.clone().unwrap();
    CertificateDer::from_pem_file(dir.join(format!("{name}.crt")))
        .unwrap()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let mut cluster = Cluster::of(&["quota"], true);
    cluster.env.insert("TLS_RELOAD_SECONDS".into(), "1".into());
    cluster.start_all().await;
    let port = cluster.service("quota").port;
    let first = certificate_in(&cluster, "quota");
    assert_eq!(served_certificate(&cluster, port).await, first);

    devca::renew(cluster.tls.as_ref().unwrap(), "quota").unwrap();
    let renewed = certificate_in(&cluster, "quota");
    assert_ne!(renewed, first);
    let mut served = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        served = served_certificate(&cluster, port).await;
        if served == renewed {
            break;
        }
    }
    assert_eq!(served, renewed, "the renewed certificate was not picked up");
    // Still serving, to callers with the old and the new certificates alike.
    wait_serving(cluster.service("quota").health_port, "quota").await;
    assert_eq!(
        health(cluster.channel_as("booking", "quota"))
            .await
            .unwrap(),
        1
    );
}

/// A client's renewed certificate is used without a restart: its channel connects again with
/// the new files. (The renewal here also changes the name, so the server's allow-list shows
/// which certificate came: `booking` may not schedule releases, `operator` may, with a token.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_renewed_certificate_is_used_without_a_restart() {
    let mut cluster = Cluster::of(&["quota"], true);
    cluster.start_all().await;
    let dir = cluster.tls.clone().unwrap();
    let mine = cluster.logs.join("client");
    std::fs::create_dir_all(&mine).unwrap();
    for (from, to) in [("booking.crt", "me.crt"), ("booking.key", "me.key")] {
        std::fs::copy(dir.join(from), mine.join(to)).unwrap();
    }
    let args = antrean_platform::tls::TlsArgs {
        ca_file: Some(dir.join("ca.crt")),
        cert_file: Some(mine.join("me.crt")),
        key_file: Some(mine.join("me.key")),
        health_addr: None,
        reload_seconds: 1,
    };
    let tls = args.load().unwrap().unwrap();
    let channel = antrean_platform::grpc::traced_channel(
        &format!("http://127.0.0.1:{}", cluster.service("quota").port),
        Some(&tls),
    )
    .unwrap();
    let mut quota = QuotaServiceClient::new(channel);
    let schedule = || pb::ScheduleReleaseRequest {
        office_code: "BOGOR".into(),
        ..Default::default()
    };
    let mut code = Code::Ok;
    for _ in 0..50 {
        code = quota.schedule_release(schedule()).await.unwrap_err().code();
        if code != Code::Unavailable {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(code, Code::PermissionDenied, "as booking");

    // The files are replaced in place, as a mounted Secret's are on renewal.
    for (from, to) in [("operator.key", "me.key"), ("operator.crt", "me.crt")] {
        let tmp = mine.join(format!(".{to}"));
        std::fs::copy(dir.join(from), &tmp).unwrap();
        std::fs::rename(&tmp, mine.join(to)).unwrap();
    }
    let mut now_operator = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let code = quota.schedule_release(schedule()).await.unwrap_err().code();
        if code == Code::Unauthenticated {
            now_operator = true;
            break;
        }
    }
    assert!(now_operator, "the channel kept the old certificate");
}
