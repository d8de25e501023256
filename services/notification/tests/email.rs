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
use antrean_platform::testing::{self, SmtpSink};
use antrean_proto::v1 as pb;
use antrean_proto::v1::notification_service_client::NotificationServiceClient;
use std::time::Duration;

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
        attachment: None,
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
    let sink = SmtpSink::start(1).await;
    let port = sink.port;
    let mut c = start(port).await;
    let m = c
        .send(mail("e1", "budi@contoh.id"))
        .await
        .unwrap()
        .into_inner();
    let m = wait_state(&mut c, &m.message_id, pb::DeliveryState::Sent).await;
    assert_eq!(m.attempts, 2);
    let mails = sink.mails();
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
    let sink = SmtpSink::start(0).await;
    let port = sink.port;
    let mut c = start(port).await;
    let m = c
        .send(mail("e2", "unknown@contoh.id"))
        .await
        .unwrap()
        .into_inner();
    let m = wait_state(&mut c, &m.message_id, pb::DeliveryState::Failed).await;
    assert_eq!(m.attempts, 1);
    assert!(m.last_error.contains("550"), "{}", m.last_error);
    assert!(sink.mails().is_empty());
    let e = c.send(mail("e3", "bukan-email")).await.unwrap_err();
    assert_eq!(
        antrean_platform::status::violations(&e)[0].field,
        "recipient.email"
    );
}

#[tokio::test]
async fn a_pdf_goes_as_an_attachment_of_the_email_only() {
    let sink = SmtpSink::start(0).await;
    let mut c = start(sink.port).await;
    // A PDF long enough for several base64 lines, with every byte value.
    let mut pdf = b"%PDF-1.7\n".to_vec();
    pdf.extend((0..=255u8).cycle().take(3000));
    let attachment = pb::Attachment {
        filename: "bukti-booking-7K3M9QX2HT4RD.pdf".into(),
        content_type: "application/pdf".into(),
        content: pdf.clone(),
    };
    let mut with = mail("a1", "budi@contoh.id");
    with.attachment = Some(attachment.clone());
    let m = c.send(with).await.unwrap().into_inner();
    wait_state(&mut c, &m.message_id, pb::DeliveryState::Sent).await;
    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("multipart/mixed"), "{}", mails[0]);
    assert!(mails[0].contains("application/pdf"), "{}", mails[0]);
    assert!(mails[0].contains("123456"), "the text is still there");
    assert_eq!(
        testing::mail_attachment(&mails[0], "bukti-booking-7K3M9QX2HT4RD.pdf").unwrap(),
        pdf
    );

    // Not for WhatsApp; only a named PDF; at most 2 MiB.
    let mut wa = mail("a2", "budi@contoh.id");
    wa.channel = pb::Channel::Whatsapp as i32;
    wa.recipient = Some(pb::Recipient {
        phone: "+6281234567890".into(),
        ..Default::default()
    });
    wa.sender_phone_number_id = "100004200000000".into();
    wa.attachment = Some(attachment.clone());
    let e = c.send(wa).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        antrean_platform::status::violations(&e)[0].field,
        "attachment"
    );
    for (bad, field) in [
        (
            pb::Attachment {
                filename: "../etc/passwd.pdf".into(),
                ..attachment.clone()
            },
            "attachment.filename",
        ),
        (
            pb::Attachment {
                content_type: "text/html".into(),
                ..attachment.clone()
            },
            "attachment.content_type",
        ),
        (
            pb::Attachment {
                content: b"<html>".to_vec(),
                ..attachment.clone()
            },
            "attachment.content_type",
        ),
        (
            pb::Attachment {
                content: [b"%PDF-".as_slice(), &vec![0u8; 2 * 1024 * 1024]].concat(),
                ..attachment.clone()
            },
            "attachment.content",
        ),
    ] {
        let mut m = mail("a3", "budi@contoh.id");
        m.attachment = Some(bad);
        let e = c.send(m).await.unwrap_err();
        let fields: Vec<String> = antrean_platform::status::violations(&e)
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, [field]);
    }
}
