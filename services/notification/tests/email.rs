//! E-mail through a real SMTP conversation with a small sink server on loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]
use antrean_notification::{NotificationConfig, grpc::NotificationGrpc};
use antrean_platform::grpc::{ServeOptions, serve};
use antrean_platform::testing;
use antrean_proto::v1 as pb;
use antrean_proto::v1::notification_service_client::NotificationServiceClient;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A minimal SMTP server: records each message; answers the first `transient` DATA commands
/// with 451 and any recipient containing "unknown" with 550.
#[derive(Clone, Default)]
struct Sink {
    mails: Arc<Mutex<Vec<String>>>,
    transient: Arc<Mutex<u32>>,
}

impl Sink {
    async fn start(transient: u32) -> (Self, u16) {
        let sink = Sink::default();
        *sink.transient.lock().unwrap() = transient;
        let (listener, addr) = testing::listener().await;
        let s = sink.clone();
        tokio::spawn(async move {
            loop {
                let (sock, _) = listener.accept().await.unwrap();
                let s = s.clone();
                tokio::spawn(async move {
                    let (r, mut w) = sock.into_split();
                    let mut lines = BufReader::new(r).lines();
                    w.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let cmd = line.to_ascii_uppercase();
                        let answer: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                            b"250 sink\r\n"
                        } else if cmd.starts_with("RCPT") && cmd.contains("UNKNOWN") {
                            b"550 5.1.1 no such user\r\n"
                        } else if cmd.starts_with("DATA") {
                            let fail = {
                                let mut t = s.transient.lock().unwrap();
                                if *t > 0 {
                                    *t -= 1;
                                    true
                                } else {
                                    false
                                }
                            };
                            if fail {
                                b"451 4.3.0 try again later\r\n"
                            } else {
                                w.write_all(b"354 go ahead\r\n").await.unwrap();
                                let mut mail = String::new();
                                while let Ok(Some(l)) = lines.next_line().await {
                                    if l == "." {
                                        break;
                                    }
                                    mail.push_str(&l);
                                    mail.push('\n');
                                }
                                s.mails.lock().unwrap().push(mail);
                                b"250 2.0.0 queued as SINK1\r\n"
                            }
                        } else if cmd.starts_with("QUIT") {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            break;
                        } else {
                            b"250 ok\r\n"
                        };
                        w.write_all(answer).await.unwrap();
                    }
                });
            }
        });
        (sink, addr.port())
    }
}

async fn start(smtp_port: u16) -> NotificationServiceClient<tonic::transport::Channel> {
    antrean_platform::telemetry::init_for_tests();
    let mut c =
        NotificationConfig::for_tests(testing::fresh_database_url(), "http://127.0.0.1:9".into());
    c.smtp_url = format!("smtp://127.0.0.1:{smtp_port}");
    let n = antrean_notification::build(&c, antrean_platform::clock::system())
        .await
        .unwrap();
    n.worker.clone().spawn();
    let (listener, addr) = testing::listener().await;
    tokio::spawn(serve(
        listener,
        NotificationGrpc::new(n.outbox).into_server(),
        ServeOptions::default(),
        std::future::pending(),
    ));
    NotificationServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

fn mail(key: &str, to: &str) -> pb::SendRequest {
    pb::SendRequest {
        idempotency_key: key.into(),
        channel: pb::Channel::Email as i32,
        recipient: Some(pb::Recipient {
            email: to.into(),
            ..Default::default()
        }),
        sender_phone_number_id: String::new(),
        template: "booking_held".into(),
        parameters: [
            ("name", "Budi Santoso"),
            ("office_name", "Kantor Imigrasi Kelas I Non TPI Bogor"),
            ("date", "Selasa, 1 Desember 2026"),
            ("session", "PAGI"),
            ("code", "123456"),
            ("expires_local", "10:15 WIB"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    }
}

async fn wait_state(
    c: &mut NotificationServiceClient<tonic::transport::Channel>,
    id: &str,
    want: pb::DeliveryState,
) -> pb::Message {
    for _ in 0..300 {
        let m = c
            .get_message(pb::GetMessageRequest {
                message_id: id.into(),
            })
            .await
            .unwrap()
            .into_inner();
        if m.state == want as i32 {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never {want:?}");
}

#[tokio::test]
async fn an_email_goes_out_after_a_temporary_refusal() {
    let (sink, port) = Sink::start(1).await;
    let mut c = start(port).await;
    let m = c
        .send(mail("e1", "budi@contoh.id"))
        .await
        .unwrap()
        .into_inner();
    let m = wait_state(&mut c, &m.message_id, pb::DeliveryState::Sent).await;
    assert_eq!(m.attempts, 2);
    let mails = sink.mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("budi@contoh.id"));
    assert!(
        mails[0].contains("Subject: Kode konfirmasi antrean paspor"),
        "{}",
        mails[0]
    );
    assert!(mails[0].contains("123456"));
}

#[tokio::test]
async fn a_refused_recipient_fails_without_retry() {
    let (sink, port) = Sink::start(0).await;
    let mut c = start(port).await;
    let m = c
        .send(mail("e2", "unknown@contoh.id"))
        .await
        .unwrap()
        .into_inner();
    let m = wait_state(&mut c, &m.message_id, pb::DeliveryState::Failed).await;
    assert_eq!(m.attempts, 1);
    assert!(m.last_error.contains("550"), "{}", m.last_error);
    assert!(sink.mails.lock().unwrap().is_empty());
    let e = c.send(mail("e3", "bukan-email")).await.unwrap_err();
    assert_eq!(
        antrean_platform::status::violations(&e)[0].field,
        "recipient.email"
    );
}
