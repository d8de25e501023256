//! One Redis, or a Redis Cluster, behind one handle (the quota's counters, the gateway's
//! shared limits). Every script a service runs touches one hash tag, so in a cluster it runs
//! on the node owning that slot, unchanged.
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

#[derive(Clone)]
pub enum RedisConn {
    Single(ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl RedisConn {
    /// `url` names one Redis, or several cluster nodes separated by commas
    /// (`redis://10.0.0.1:6379,redis://10.0.0.2:6379,redis://10.0.0.3:6379`). A single
    /// connection reconnects by itself after a restart or failover.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let nodes: Vec<&str> = url
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        Ok(if nodes.len() > 1 {
            let client = redis::cluster::ClusterClient::builder(nodes)
                .connection_timeout(Duration::from_secs(2))
                .response_timeout(Duration::from_secs(2))
                .retries(3)
                .build()?;
            RedisConn::Cluster(client.get_async_connection().await?)
        } else {
            let client = redis::Client::open(url)?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Duration::from_secs(2))
                .set_response_timeout(Duration::from_secs(2))
                .set_number_of_retries(2)
                .set_max_delay(500);
            RedisConn::Single(ConnectionManager::new_with_config(client, config).await?)
        })
    }

    pub async fn invoke<T: redis::FromRedisValue>(
        &self,
        inv: &redis::ScriptInvocation<'_>,
    ) -> redis::RedisResult<T> {
        match self.clone() {
            RedisConn::Single(mut c) => inv.invoke_async(&mut c).await,
            RedisConn::Cluster(mut c) => inv.invoke_async(&mut c).await,
        }
    }

    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        match self.clone() {
            RedisConn::Single(mut c) => cmd.query_async(&mut c).await,
            RedisConn::Cluster(mut c) => cmd.query_async(&mut c).await,
        }
    }
}
