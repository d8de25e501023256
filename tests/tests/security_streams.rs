//! Bounded live streams: a queue display of an unknown office is refused, screens beyond the
//! cap are answered 503, and SIGTERM's drain ends every open stream so the gateway stops.
use antrean_tests::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn display_streams_are_bounded_and_drained_on_shutdown() {
    let system = start().await;
    let mut config = antrean_gateway::GatewayConfig::for_tests(
        system.database_url.clone(),
        system.identity_url.clone(),
        system.quota_url.clone(),
        system.booking_url.clone(),
        system.notification_url.clone(),
    );
    config.live_streams_max = 3;
    let app = antrean_gateway::build(config, system.clock.clone())
        .await
        .unwrap();
    let (listener, addr) = antrean_platform::testing::listener().await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(antrean_gateway::serve(app.clone(), listener, async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let url = |office: &str| format!("http://{addr}/layar/{office}/events");

    let r = http.get(url("ATLANTIS")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // Three screens on Bogor: each gets the board.
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut r = http.get(url("BOGOR")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let first = tokio::time::timeout(Duration::from_secs(5), r.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(String::from_utf8_lossy(&first).contains("data:"));
        open.push(r);
    }
    // A fourth is over the cap.
    let r = http.get(url("MAKASSAR")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 503);

    // Shutdown ends the streams and the server returns.
    stop.send(()).unwrap();
    for mut r in open {
        let end = tokio::time::timeout(Duration::from_secs(5), async {
            while let Ok(Some(_)) = r.chunk().await {}
        })
        .await;
        assert!(end.is_ok(), "a stream stayed open after shutdown");
    }
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the gateway did not stop")
        .unwrap()
        .unwrap();
}
