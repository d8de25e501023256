//! The quota unchanged on a three-master Redis Cluster: the flash crowd, and a restart of the
//! node that owns the day's slot while holds are live.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]
mod common;

use antrean_platform::testing::RedisCluster;
use antrean_proto::v1 as pb;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_flash_crowd_on_a_redis_cluster_takes_exactly_the_capacity() {
    let cluster = RedisCluster::start().await;
    let q = start_with_redis(cluster.url()).await;
    q.set_capacity("BOGOR", DATE, pb::Session::Pagi, 150).await;
    // The crowd meets a warm service, as a release minute does: the office's counters
    // built (the sold-out answers' next dates read the whole horizon) and the scripts
    // loaded. From cold, 500 holds at once on two loaded cores, while 30 days were built
    // and scripts loaded on three nodes, could wait out the cluster client's 2-second
    // response limit (UNAVAILABLE, never an oversell).
    q.client
        .clone()
        .get_availability(pb::GetAvailabilityRequest {
            office_code: "BOGOR".into(),
            from: String::new(),
            to: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(q.remaining("BOGOR", DATE, pb::Session::Pagi).await, 150);
    q.client
        .clone()
        .hold(hold("cluster-warm", "BOGOR", DATE, pb::Session::Pagi, 1))
        .await
        .unwrap();
    q.client
        .clone()
        .release(pb::ReleaseRequest {
            hold_id: "cluster-warm".into(),
        })
        .await
        .unwrap();
    let (admitted, refused) = crowd(&q, "cluster", None).await;
    check_exactly_capacity(&q, admitted, &refused).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_cluster_node_is_rebuilt_from_the_ledger() {
    let mut cluster = RedisCluster::start().await;
    let q = start_with_redis(cluster.url()).await;
    let mut c = q.client.clone();
    for (i, date) in ["2026-12-01", "2026-12-02", "2026-12-03"]
        .iter()
        .enumerate()
    {
        c.hold(hold(&format!("h{i}"), "JAKPUS", date, pb::Session::Pagi, 3))
            .await
            .unwrap();
    }
    // Restart the node holding 2 December's counters: they come back empty.
    let owner = cluster.owner("{JAKPUS:2026-12-02}");
    cluster.restart(owner).await;
    for date in ["2026-12-01", "2026-12-02", "2026-12-03"] {
        assert_eq!(
            q.remaining("JAKPUS", date, pb::Session::Pagi).await,
            72,
            "{date}"
        );
    }
    c.commit(pb::CommitRequest {
        hold_id: "h1".into(),
    })
    .await
    .unwrap();
    c.hold(hold("h4", "JAKPUS", "2026-12-02", pb::Session::Pagi, 5))
        .await
        .unwrap();
    assert_eq!(
        q.remaining("JAKPUS", "2026-12-02", pb::Session::Pagi).await,
        67
    );
    assert_eq!(q.ledger_seats("JAKPUS", "2026-12-02", "PAGI").await, 8);
}
