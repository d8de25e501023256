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
