//! Delivery through a real HTTP server playing the WhatsApp Cloud API.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]
use antrean_gateway::sandbox::{self, Failure, Sandbox};
use antrean_notification::{Notification, NotificationConfig, grpc::NotificationGrpc};
use antrean_platform::clock::{ManualClock, SharedClock};
use antrean_platform::grpc::{ServeOptions, serve};
use antrean_platform::testing;
use antrean_proto::v1 as pb;
use antrean_proto::v1::notification_service_client::NotificationServiceClient;
use std::time::Duration;
use tonic::transport::Channel;

const OFFICE_NUMBER: &str = "100004200000000";

struct T {
    client: NotificationServiceClient<Channel>,
    api: Sandbox,
    n: Notification,
}

async fn start_with(clock: SharedClock, workers: bool) -> T {
    antrean_platform::telemetry::init_for_tests();
    let (l, addr) = testing::listener().await;
    let api = sandbox::spawn(l);
    // The messages of these tests are replies: their users wrote to the office first.
    for user in std::iter::once("6281234567890".to_owned())
        .chain((0..100).map(|n| format!("62812000000{n:02}")))
        .chain((0..100).map(|n| format!("62813000000{n:02}")))
    {
        api.user_wrote(OFFICE_NUMBER, &user);
    }
    let config =
        NotificationConfig::for_tests(testing::fresh_database_url(), format!("http://{addr}"));
    let n = antrean_notification::build(&config, clock).await.unwrap();
    if workers {
        n.worker.clone().spawn();
    }
    let (listener, addr) = testing::listener().await;
    tokio::spawn(serve(
        listener,
        NotificationGrpc::new(n.outbox.clone()).into_server(),
        ServeOptions::default(),
        std::future::pending(),
    ));
    T {
        client: NotificationServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap(),
        api,
        n,
    }
}

async fn start() -> T {
    start_with(antrean_platform::clock::system(), true).await
}

fn send(key: &str, phone: &str, text: &str) -> pb::SendRequest {
    pb::SendRequest {
        idempotency_key: key.into(),
        channel: pb::Channel::Whatsapp as i32,
        recipient: Some(pb::Recipient {
            phone: phone.into(),
            ..Default::default()
        }),
        sender_phone_number_id: OFFICE_NUMBER.into(),
        template: "error".into(),
        parameters: [
            ("message", text),
            ("format", "#TGLLAYANAN"),
            ("example", "#TGLLAYANAN"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
        attachment: None,
    }
}

async fn state_of(t: &T, id: &str, want: pb::DeliveryState) -> pb::Message {
    for _ in 0..200 {
        let m = t
            .client
            .clone()
            .get_message(pb::GetMessageRequest {
                message_id: id.into(),
            })
            .await
            .unwrap()
            .into_inner();
        if m.state == want as i32 {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("message {id} never reached {want:?}");
}

#[tokio::test]
async fn a_message_is_sent_once_with_the_token_and_becomes_sent() {
    let t = start().await;
    let mut c = t.client.clone();
    let a = c
        .send(send("k1", "+6281234567890", "Halo"))
        .await
        .unwrap()
        .into_inner();
    let b = c
        .send(send("k1", "+6281234567890", "Halo"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a.message_id, b.message_id, "same key, same message");
    assert_eq!(a.state, pb::DeliveryState::Queued as i32);
    let m = state_of(&t, &a.message_id, pb::DeliveryState::Sent).await;
    let got = t.api.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(m.provider_message_id, got[0].wamid);
    assert_eq!(got[0].to, "6281234567890");
    assert_eq!(got[0].phone_number_id, "100004200000000");
    assert_eq!(got[0].authorization, "Bearer test-token");
    assert_eq!(got[0].body["type"], "text");
    assert!(
        got[0].body["text"]["body"]
            .as_str()
            .unwrap()
            .starts_with("Halo")
    );
    // The move to SENT is in the message's delivery history.
    let events: Vec<String> = sqlx::query_scalar(
        "SELECT state FROM delivery_events WHERE message_id = $1::uuid ORDER BY at, state",
    )
    .bind(&a.message_id)
    .fetch_all(t.n.outbox.pool())
    .await
    .unwrap();
    assert_eq!(events, ["SENT"]);
}

#[tokio::test]
async fn server_errors_throttling_and_timeouts_are_retried() {
    let t = start().await;
    t.api.fail_next(Failure {
        status: 500,
        count: 1,
        code: None,
        delay_ms: 0,
    });
    t.api.fail_next(Failure {
        status: 429,
        count: 1,
        code: Some(130_429),
        delay_ms: 0,
    });
    // Longer than the 1 s client timeout of the test configuration.
    t.api.fail_next(Failure {
        status: 200,
        count: 1,
        code: None,
        delay_ms: 1500,
    });
    let a = t
        .client
        .clone()
        .send(send("k2", "+6281234567890", "Coba"))
        .await
        .unwrap()
        .into_inner();
    let m = state_of(&t, &a.message_id, pb::DeliveryState::Sent).await;
    assert_eq!(m.attempts, 4);
    // The timed-out call may have been accepted late by the sandbox: the Cloud API does not
    // deduplicate either, which is why delivery is at least once.
    assert!(!t.api.messages().is_empty());
    assert_eq!(t.api.calls(), 4);
}

#[tokio::test]
async fn permanent_errors_fail_without_retry() {
    let t = start().await;
    t.api.fail_next(Failure {
        status: 400,
        count: 1,
        code: Some(131_026),
        delay_ms: 0,
    });
    let a = t
        .client
        .clone()
        .send(send("k3", "+6281234567890", "X"))
        .await
        .unwrap()
        .into_inner();
    let m = state_of(&t, &a.message_id, pb::DeliveryState::Failed).await;
    assert!(m.last_error.contains("131026"), "{}", m.last_error);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(t.api.calls(), 1);
}

#[tokio::test]
async fn one_persons_messages_keep_their_order_through_retries() {
    let t = start().await;
    t.api.fail_next(Failure {
        status: 503,
        count: 2,
        code: None,
        delay_ms: 0,
    });
    let mut c = t.client.clone();
    for i in 1..=3 {
        c.send(send(
            &format!("o{i}"),
            "+6281234567890",
            &format!("pesan {i}"),
        ))
        .await
        .unwrap();
    }
    let got = t.api.wait_for(3, Duration::from_secs(10)).await;
    let order: Vec<&str> = got
        .iter()
        .map(|m| {
            m.body["text"]["body"]
                .as_str()
                .unwrap()
                .split('\n')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(order, ["pesan 1", "pesan 2", "pesan 3"]);
}

#[tokio::test]
async fn statuses_only_move_forward() {
    let t = start().await;
    let mut c = t.client.clone();
    let a = c
        .send(send("k4", "+6281234567890", "S"))
        .await
        .unwrap()
        .into_inner();
    let m = state_of(&t, &a.message_id, pb::DeliveryState::Sent).await;
    let status = |s: pb::DeliveryState| pb::RecordStatusRequest {
        provider_message_id: m.provider_message_id.clone(),
        state: s as i32,
        at: None,
        error: String::new(),
    };
    let r = c
        .record_status(status(pb::DeliveryState::Read))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.state, pb::DeliveryState::Read as i32);
    let r = c
        .record_status(status(pb::DeliveryState::Delivered))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.state,
        pb::DeliveryState::Read as i32,
        "a late 'delivered' changes nothing"
    );
    let e = c
        .record_status(pb::RecordStatusRequest {
            provider_message_id: "wamid.unknown".into(),
            state: pb::DeliveryState::Read as i32,
            at: None,
            error: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn a_worker_that_dies_mid_delivery_loses_nothing() {
    let clock = ManualClock::new("2026-11-30T03:00:00Z".parse().unwrap());
    let t = start_with(clock.clone(), false).await;
    let a = t
        .client
        .clone()
        .send(send("k5", "+6281234567890", "Z"))
        .await
        .unwrap()
        .into_inner();
    // A worker claims the message and dies before calling the API.
    let claimed = t.n.outbox.claim(10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        t.n.worker.round().await.unwrap(),
        0,
        "leased to the dead worker"
    );
    // A restarted worker takes it over once the lease runs out.
    clock.advance(chrono::Duration::seconds(31));
    assert_eq!(t.n.worker.round().await.unwrap(), 1);
    let m = state_of(&t, &a.message_id, pb::DeliveryState::Sent).await;
    assert_eq!(m.attempts, 2);
    assert_eq!(t.api.messages().len(), 1);
}

#[tokio::test]
async fn messages_sent_together_are_each_stored_once_and_their_round_recorded_together() {
    let t = start_with(antrean_platform::clock::system(), false).await;
    // 24 messages, each sent twice at once (a retried RPC racing the first): the sends share
    // inserts, and each key keeps the first message.
    let sends = (0..48).map(|i| {
        let mut c = t.client.clone();
        let n = i % 24;
        async move {
            let phone = format!("+62812000000{n:02}");
            let m = c
                .send(send(&format!("batch-{n}"), &phone, &format!("pesan {n}")))
                .await
                .unwrap()
                .into_inner();
            (n, m)
        }
    });
    let answered = futures::future::join_all(sends).await;
    let mut ids = std::collections::HashMap::new();
    for (n, m) in &answered {
        assert_eq!(m.state, pb::DeliveryState::Queued as i32);
        let first = ids.entry(*n).or_insert_with(|| m.message_id.clone());
        assert_eq!(
            *first, m.message_id,
            "both sends of key {n} answer one message"
        );
    }
    let pool = t.n.outbox.pool();
    let stored: Vec<(String, String)> = sqlx::query_as(
        "SELECT idempotency_key, payload->'text'->>'body' FROM outbox ORDER BY idempotency_key",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(stored.len(), 24);
    for (key, body) in &stored {
        let n = key.strip_prefix("batch-").unwrap();
        assert!(body.starts_with(&format!("pesan {n}\n")), "{key}: {body}");
    }
    // One round delivers all 24; one of them is refused for good.
    t.api.fail_next(Failure {
        status: 400,
        count: 1,
        code: Some(131_026),
        delay_ms: 0,
    });
    assert_eq!(t.n.worker.round().await.unwrap(), 24);
    let states: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT o.state, count(DISTINCT o.id), count(e.id) FROM outbox o
         JOIN delivery_events e ON e.message_id = o.id AND e.state = o.state
         GROUP BY o.state ORDER BY o.state",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(
        states,
        [("FAILED".to_owned(), 1, 1), ("SENT".to_owned(), 23, 23)]
    );
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM delivery_events")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(events, 24, "one event per delivery attempt");
    assert_eq!(t.api.messages().len(), 23);
    // Every message sent has its provider id recorded.
    let unmarked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE state = 'SENT' AND provider_message_id IS NULL",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(unmarked, 0);
}

#[tokio::test]
async fn concurrent_claims_share_out_each_recipients_oldest_message_once() {
    let t = start_with(antrean_platform::clock::system(), false).await;
    let mut first = std::collections::HashMap::new();
    for round in 0..3 {
        for r in 0..10 {
            let m = t
                .client
                .clone()
                .send(send(
                    &format!("c{round}-{r}"),
                    &format!("+62813000000{r:02}"),
                    "antre",
                ))
                .await
                .unwrap()
                .into_inner();
            first.entry(r).or_insert(m.message_id);
        }
    }
    let (a, b) = tokio::join!(t.n.outbox.claim(64), t.n.outbox.claim(64));
    let mut claimed: Vec<String> = a
        .unwrap()
        .into_iter()
        .chain(b.unwrap())
        .map(|m| m.id.to_string())
        .collect();
    claimed.sort();
    let mut heads: Vec<String> = first.into_values().collect();
    heads.sort();
    assert_eq!(
        claimed, heads,
        "each recipient's oldest, once between the two"
    );
    assert!(
        t.n.outbox.claim(64).await.unwrap().is_empty(),
        "the heads are leased and hold their recipients back"
    );
}

#[tokio::test]
async fn a_stopping_worker_records_the_round_under_way_first() {
    let t = start_with(antrean_platform::clock::system(), false).await;
    let a = t
        .client
        .clone()
        .send(send("k6", "+6281234567890", "S"))
        .await
        .unwrap()
        .into_inner();
    // The Cloud API takes its time to accept; the service is told to stop meanwhile.
    t.api.fail_next(Failure {
        status: 200,
        count: 1,
        code: None,
        delay_ms: 400,
    });
    let running = t.n.worker.clone().spawn();
    for _ in 0..200 {
        if t.api.calls() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(t.api.calls(), 1, "the delivery is under way");
    t.n.worker.stop();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the worker stops after its round")
        .unwrap();
    let m = t
        .client
        .clone()
        .get_message(pb::GetMessageRequest {
            message_id: a.message_id,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        m.state,
        pb::DeliveryState::Sent as i32,
        "recorded before it stopped"
    );
    assert_eq!(t.api.messages().len(), 1);
}

#[tokio::test]
async fn bad_requests_name_their_fields() {
    let t = start().await;
    let mut bad = send("", "0812", "x");
    bad.template = "nope".into();
    let e = t.client.clone().send(bad).await.unwrap_err();
    let fields: Vec<String> = antrean_platform::status::violations(&e)
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["idempotency_key", "recipient.phone"]);
    let mut bad = send("k6", "+6281234567890", "x");
    bad.template = "nope".into();
    let e = t.client.clone().send(bad).await.unwrap_err();
    assert_eq!(
        antrean_platform::status::violations(&e)[0].field,
        "template"
    );
}

#[tokio::test]
async fn free_form_text_outside_the_24_hour_window_fails_and_a_template_goes() {
    let t = start().await;
    let mut c = t.client.clone();
    // Never wrote: free-form text is refused by the Cloud API (131047), never retried.
    let id = c
        .send(send("w1", "+6281299990001", "Halo"))
        .await
        .unwrap()
        .into_inner()
        .message_id;
    let m = state_of(&t, &id, pb::DeliveryState::Failed).await;
    assert!(m.last_error.contains("131047"), "{}", m.last_error);
    // An approved template reaches the same user.
    let code = c
        .send(pb::SendRequest {
            idempotency_key: "w2".into(),
            channel: pb::Channel::Whatsapp as i32,
            recipient: Some(pb::Recipient {
                phone: "+6281299990001".into(),
                ..Default::default()
            }),
            sender_phone_number_id: OFFICE_NUMBER.into(),
            template: "verification_code".into(),
            parameters: [("code", "123456"), ("minutes", "10")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            attachment: None,
        })
        .await
        .unwrap()
        .into_inner()
        .message_id;
    state_of(&t, &code, pb::DeliveryState::Sent).await;
    // Once the user writes, text goes; 24 hours later it is refused again.
    t.api.user_wrote(OFFICE_NUMBER, "6281299990001");
    let id = c
        .send(send("w3", "+6281299990001", "Halo lagi"))
        .await
        .unwrap()
        .into_inner()
        .message_id;
    state_of(&t, &id, pb::DeliveryState::Sent).await;
    t.api.advance(sandbox::SERVICE_WINDOW);
    let id = c
        .send(send("w4", "+6281299990001", "Sehari kemudian"))
        .await
        .unwrap()
        .into_inner()
        .message_id;
    let m = state_of(&t, &id, pb::DeliveryState::Failed).await;
    assert!(m.last_error.contains("131047"), "{}", m.last_error);
}
