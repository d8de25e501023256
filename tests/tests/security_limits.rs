//! Abuse limits shared by every gateway replica (Redis): two replicas behind a stand-in
//! proxy that passes the client's address in X-Forwarded-For, as an ingress does. Sign-ins,
//! code look-ups and cancellations hold their limits across both; another network is not
//! affected; a WhatsApp sender over its limit is told once and not acted on. Identity bounds
//! its password hashes: 200 parallel sign-ins keep it under 128 MiB and the excess is refused.
use antrean_platform::clock::Clock;
use antrean_proto::v1 as pb;
use antrean_proto::v1::identity_service_client::IdentityServiceClient;
use antrean_tests::cluster::Cluster;
use antrean_tests::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A reverse proxy on 127.0.0.1 spreading requests over `replicas` in turn, appending the
/// caller's address to X-Forwarded-For (what the test puts there is the "client").
async fn proxy(replicas: Vec<String>) -> String {
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, Method, Uri};
    struct P {
        replicas: Vec<String>,
        next: AtomicUsize,
        http: reqwest::Client,
    }
    async fn forward(
        State(p): State<Arc<P>>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> axum::response::Response {
        let i = p.next.fetch_add(1, Ordering::SeqCst) % p.replicas.len();
        let url = format!("{}{}", p.replicas[i], uri);
        let mut req = p.http.request(method, url).body(body);
        for (k, v) in headers.iter() {
            if k != "host" && k != "x-forwarded-for" && k != "content-length" {
                req = req.header(k, v);
            }
        }
        let client = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .map(|v| format!("{v}, 127.0.0.1"))
            .unwrap_or_else(|| "127.0.0.1".into());
        let r = req.header("x-forwarded-for", client).send().await.unwrap();
        let mut out = axum::response::Response::builder().status(r.status().as_u16());
        for (k, v) in r.headers() {
            out = out.header(k, v);
        }
        out.body(axum::body::Body::from(r.bytes().await.unwrap()))
            .unwrap()
    }
    let state = Arc::new(P {
        replicas,
        next: AtomicUsize::new(0),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    });
    let app = axum::Router::new().fallback(forward).with_state(state);
    let (listener, addr) = antrean_platform::testing::listener().await;
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Two gateway replicas sharing Redis and trusting the proxy, and the proxy's URL.
async fn two_replicas() -> (WhatsApp, String) {
    let trust = |c: &mut antrean_gateway::GatewayConfig| c.trusted_proxies = "127.0.0.1/32".into();
    let w = start_with_whatsapp_using(trust).await;
    let mut second = antrean_gateway::GatewayConfig::for_tests(
        w.system.database_url.clone(),
        w.system.identity_url.clone(),
        w.system.quota_url.clone(),
        w.system.booking_url.clone(),
        w.system.notification_url.clone(),
    );
    second.redis_key_prefix = w.app.config.redis_key_prefix.clone();
    trust(&mut second);
    let (_, url) = serve_gateway(second, &w.system).await;
    let front = proxy(vec![w.gateway.clone(), url]).await;
    (w, front)
}

async fn sign_in(http: &reqwest::Client, front: &str, client: &str, username: &str) -> u16 {
    http.post(format!("{front}/petugas/masuk"))
        .header("x-forwarded-for", client)
        .form(&[("username", username), ("password", "tebakan-salah")])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_and_look_ups_are_limited_across_two_replicas() {
    let (w, front) = two_replicas().await;
    let http = reqwest::Client::new();

    // One network: 30 sign-ins per 15 minutes, whichever replica answers.
    let mut statuses = Vec::new();
    for i in 0..36 {
        statuses.push(sign_in(&http, &front, "203.0.113.7", &format!("tamu{i}")).await);
    }
    let refused = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!(refused, 6, "{statuses:?}");
    assert!(statuses[..30].iter().all(|&s| s == 401), "{statuses:?}");
    // Another network is not affected; the same network from a neighbour address is (/24).
    assert_eq!(sign_in(&http, &front, "198.51.100.9", "tamu").await, 401);
    assert_eq!(sign_in(&http, &front, "203.0.113.200", "tamu").await, 429);

    // One username: 10 per 15 minutes, from any number of networks.
    let mut statuses = Vec::new();
    for i in 0..12 {
        let client = format!("192.0.2.{}", i * 20 % 250);
        let client = format!("10.{i}.0.1, {client}");
        statuses.push(sign_in(&http, &front, &client, "Kepala.Bogor").await);
    }
    assert_eq!(
        statuses.iter().filter(|&&s| s == 429).count(),
        2,
        "{statuses:?}"
    );

    // Look-ups by code: 20 a minute per network, across replicas, API and portal together
    // (sent together: each failure takes 300 ms, and the limit refills one every 3 s).
    let lookups = (0..24).map(|i| {
        let (http, front) = (http.clone(), front.clone());
        async move {
            if i % 2 == 0 {
                http.get(format!(
                    "{front}/api/v1/bookings/7K3M-9QX2-HT4R-D?phone=0812555{i:05}"
                ))
                .header("x-forwarded-for", "203.0.113.50")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
            } else {
                http.post(format!("{front}/cek"))
                    .header("x-forwarded-for", "203.0.113.51")
                    .form(&[("code", "7K3M-9QX2-HT4R-D"), ("phone", "081255500000")])
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        }
    });
    let statuses = futures::future::join_all(lookups).await;
    assert_eq!(
        statuses.iter().filter(|&&s| s == 429).count(),
        4,
        "{statuses:?}"
    );
    // Cancellations count with look-ups (the network is spent).
    let r = http
        .post(format!("{front}/batal"))
        .header("x-forwarded-for", "203.0.113.52")
        .form(&[("code", "7K3M-9QX2-HT4R-D"), ("phone", "081255500000")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().get("retry-after").is_some());

    // One phone: 30 look-ups an hour, from any network.
    let lookups = (0..32).map(|i| {
        let (http, front) = (http.clone(), front.clone());
        async move {
            http.get(format!(
                "{front}/api/v1/bookings/7K3M-9QX2-HT4R-D?phone=081277712345"
            ))
            .header("x-forwarded-for", format!("100.{i}.1.1"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
        }
    });
    let statuses = futures::future::join_all(lookups).await;
    assert_eq!(
        statuses.iter().filter(|&&s| s == 429).count(),
        2,
        "{statuses:?}"
    );
    drop(w);
}

#[tokio::test]
async fn a_whatsapp_sender_over_its_limit_is_told_once_and_not_acted_on() {
    let w = start_with_whatsapp_using(|c| c.whatsapp_rate_per_sender = 3).await;
    let phone = "6281277700099";
    for _ in 0..3 {
        let r = w.say(BOGOR_NUMBER, phone, "MENU").await;
        assert!(!r.contains("Terlalu banyak pesan"), "{r}");
    }
    let r = w.say(BOGOR_NUMBER, phone, "#TGLLAYANAN").await;
    assert!(r.contains("Terlalu banyak pesan"), "{r}");
    // Further messages are stored, not acted on, and not answered again.
    let before = w.replies_to(phone).len();
    let body = antrean_gateway::webhook::text_webhook(
        BOGOR_NUMBER,
        "+62 811-0000-000",
        phone,
        &w.wamid(),
        "#Budi#25011987#02122026",
        w.system.clock.now().timestamp(),
    );
    assert_eq!(w.post(&body).await, 200);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(w.replies_to(phone).len(), before);
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM booking.bookings")
        .fetch_one(&w.system.pool().await)
        .await
        .unwrap();
    assert_eq!(held, 0);
    // Another sender is served.
    let r = w.say(BOGOR_NUMBER, "6281277700098", "MENU").await;
    assert!(!r.contains("Terlalu banyak pesan"), "{r}");
}

/// Identity's peak resident memory (VmHWM) in KiB.
fn peak_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_parallel_sign_ins_keep_identity_under_128_mib() {
    let mut cluster = Cluster::of(&["identity"], false);
    // A short wait for a hashing slot, so the bound refuses some of the crowd however slowly
    // a loaded machine sends it (the default 2 s can outlast the whole crowd).
    cluster
        .env
        .insert("PASSWORD_HASH_WAIT_MS".into(), "100".into());
    cluster.start_all().await;
    let pid = cluster.services[0].child.as_ref().unwrap().id().unwrap();
    let channel = tonic::transport::Endpoint::from_shared(cluster.url("identity"))
        .unwrap()
        .connect_lazy();
    let client = IdentityServiceClient::new(channel);
    let calls = (0..200).map(|i| {
        let mut c = client.clone();
        async move {
            c.authenticate_staff(pb::AuthenticateStaffRequest {
                username: format!("tamu{i}"),
                password: "tebakan-salah".into(),
            })
            .await
            .unwrap_err()
            .code()
        }
    });
    let codes = futures::future::join_all(calls).await;
    let wrong = codes
        .iter()
        .filter(|&&c| c == tonic::Code::Unauthenticated)
        .count();
    let busy = codes
        .iter()
        .filter(|&&c| c == tonic::Code::ResourceExhausted)
        .count();
    assert_eq!(wrong + busy, 200, "{codes:?}");
    assert!(wrong >= 2 && busy > 0, "wrong {wrong}, busy {busy}");
    let peak = peak_kib(pid);
    assert!(peak < 128 * 1024, "identity peaked at {peak} KiB");
    // Still answering.
    let code = client
        .clone()
        .authenticate_staff(pb::AuthenticateStaffRequest {
            username: "tamu".into(),
            password: "x".into(),
        })
        .await
        .unwrap_err()
        .code();
    assert_eq!(code, tonic::Code::Unauthenticated);
}
