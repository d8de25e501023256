//! Helpers for integration tests against the real PostgreSQL and Redis.
//!
//! Each test gets its own database (`antrean_t_<uuid>`) and its own Redis key prefix, so
//! tests run in parallel without seeing each other. `make test` drops leftover test
//! databases before it starts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test support: a test that cannot get its database should fail loudly"
)]
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// `DATABASE_URL` of the server tests use (default: local trust auth).
pub fn admin_database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A URL naming a fresh, not yet existing database; the service creates it on connect.
pub fn fresh_database_url() -> String {
    let base = admin_database_url();
    let cut = base.rfind('/').map_or(base.len(), |i| i);
    let name = format!("antrean_t_{}", uuid::Uuid::new_v4().simple());
    format!("{}/{}", &base[..cut], name)
}

/// `REDIS_URL` for tests (default: the local server).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL")
        .or_else(|_| std::env::var("REDIS_URL"))
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A key prefix no other test uses.
pub fn redis_prefix() -> String {
    format!("t{}:", uuid::Uuid::new_v4().simple())
}

/// Binds port 0 on loopback.
pub async fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    (l, addr)
}

/// A private `redis-server` on a free loopback port, for tests that flush, stop or restart
/// Redis. Killed when dropped.
pub struct RedisServer {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl RedisServer {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut s = Self { port, child: None };
        s.restart().await;
        s
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port, empty.
    pub async fn restart(&mut self) {
        self.stop();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        self.child = Some(child);
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A local Redis Cluster of three masters on free loopback ports (no replicas), for tests.
/// Each node keeps its cluster configuration in a temporary directory, so a restarted node
/// rejoins with its slots (and, like any Redis here, no data). Killed when dropped.
pub struct RedisCluster {
    pub ports: Vec<u16>,
    dir: std::path::PathBuf,
    children: Vec<Option<std::process::Child>>,
}

impl RedisCluster {
    pub async fn start() -> Self {
        let dir =
            std::env::temp_dir().join(format!("antrean-cluster-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        // All three listeners stay open until the ports are chosen, so they differ.
        let listeners: Vec<std::net::TcpListener> = (0..3)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("port"))
            .collect();
        let ports: Vec<u16> = listeners
            .iter()
            .map(|l| {
                let p = l.local_addr().expect("addr").port();
                // Cluster buses use port + 10000: keep it in range.
                if p > 55_000 { 0 } else { p }
            })
            .collect();
        drop(listeners);
        let ports = if ports.contains(&0) {
            return Box::pin(Self::start()).await;
        } else {
            ports
        };
        let mut c = Self {
            children: ports.iter().map(|_| None).collect(),
            ports,
            dir,
        };
        for i in 0..3 {
            c.start_node(i).await;
        }
        // Another process may have taken a port between choosing and binding it: then our
        // node exited and something else answers there. Start again on other ports.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if !c.own_nodes() {
            drop(c);
            return Box::pin(Self::start()).await;
        }
        let nodes: Vec<String> = c.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let out = std::process::Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli");
        assert!(
            out.status.success(),
            "cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        c.wait_ok().await;
        c
    }

    async fn start_node(&mut self, i: usize) {
        let port = self.ports[i];
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--cluster-enabled",
                "yes",
                "--cluster-node-timeout",
                "2000",
                "--cluster-config-file",
                &format!("nodes-{port}.conf"),
                "--dir",
                self.dir.to_str().expect("utf-8 path"),
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        self.children[i] = Some(child);
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("cluster node {port} did not start");
    }

    /// Every node is our running redis-server with cluster support.
    fn own_nodes(&mut self) -> bool {
        self.children
            .iter_mut()
            .all(|c| c.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None))))
            && self.ports.iter().all(|p| {
                std::process::Command::new("redis-cli")
                    .args(["-p", &p.to_string(), "cluster", "myid"])
                    .output()
                    .is_ok_and(|o| {
                        let id = String::from_utf8_lossy(&o.stdout);
                        id.trim().len() == 40 && id.trim().bytes().all(|b| b.is_ascii_hexdigit())
                    })
            })
    }

    /// Waits until every node reports `cluster_state:ok`.
    pub async fn wait_ok(&self) {
        for _ in 0..300 {
            let ok = self.ports.iter().all(|p| {
                std::process::Command::new("redis-cli")
                    .args(["-p", &p.to_string(), "cluster", "info"])
                    .output()
                    .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok"))
            });
            if ok {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("cluster never became ok");
    }

    /// `REDIS_URL` naming every node.
    pub fn url(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The node that owns `key`'s slot.
    pub fn owner(&self, key: &str) -> usize {
        for (i, p) in self.ports.iter().enumerate() {
            let out = std::process::Command::new("redis-cli")
                .args(["-p", &p.to_string(), "cluster", "keyslot", key])
                .output()
                .expect("redis-cli");
            let slot: u16 = String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or(0);
            let nodes = std::process::Command::new("redis-cli")
                .args(["-p", &p.to_string(), "cluster", "nodes"])
                .output()
                .expect("redis-cli");
            for line in String::from_utf8_lossy(&nodes.stdout).lines() {
                if !line.contains("myself") {
                    continue;
                }
                for range in line.split_whitespace().skip(8) {
                    let (a, b) = range.split_once('-').unwrap_or((range, range));
                    if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>())
                        && (a..=b).contains(&slot)
                    {
                        return i;
                    }
                }
            }
        }
        panic!("no owner for {key}");
    }

    /// Restarts node `i`: it comes back empty with its slots.
    pub async fn restart(&mut self, i: usize) {
        if let Some(mut c) = self.children[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.start_node(i).await;
        self.wait_ok().await;
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for c in self.children.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
