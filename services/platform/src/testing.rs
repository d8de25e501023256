//! Helpers for integration tests against the real PostgreSQL and Redis.
//!
//! Each test gets its own database (`antrean_t_<uuid>`) and its own Redis key prefix, so
//! tests run in parallel without seeing each other. `make test` drops leftover test
//! databases before it starts.
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
