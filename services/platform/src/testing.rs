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

/// An SMTP server on loopback standing in for the mail relay, as strict as a real one where
/// it matters: it advertises and enforces `SIZE`, refuses lines over 998 characters (RFC 5322)
/// and bare 8-bit data without `8BITMIME`, answers the first `transient` DATA commands with
/// 451 and any recipient containing "unknown" with 550, and records every accepted message
/// (dot-unstuffed, lines joined by '\n').
#[derive(Clone, Default)]
pub struct SmtpSink {
    pub mails: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    transient: std::sync::Arc<std::sync::Mutex<u32>>,
    pub port: u16,
}

impl SmtpSink {
    /// The largest message accepted, as `SIZE` advertises.
    pub const MAX_BYTES: usize = 10 * 1024 * 1024;

    pub async fn start(transient: u32) -> Self {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let (listener, addr) = listener().await;
        let sink = SmtpSink {
            port: addr.port(),
            ..Default::default()
        };
        *sink.transient.lock().unwrap() = transient;
        let s = sink.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let (r, mut w) = sock.into_split();
                    let mut lines = BufReader::new(r).lines();
                    let _ = w.write_all(b"220 sink ESMTP\r\n").await;
                    while let Ok(Some(line)) = lines.next_line().await {
                        let cmd = line.to_ascii_uppercase();
                        let answer: Vec<u8> = if cmd.starts_with("EHLO") {
                            format!("250-sink\r\n250 SIZE {}\r\n", Self::MAX_BYTES).into_bytes()
                        } else if cmd.starts_with("HELO") {
                            b"250 sink\r\n".to_vec()
                        } else if cmd.starts_with("RCPT") && cmd.contains("UNKNOWN") {
                            b"550 5.1.1 no such user\r\n".to_vec()
                        } else if cmd.starts_with("DATA") {
                            let fail = {
                                let mut t = s.transient.lock().unwrap();
                                let fail = *t > 0;
                                *t = t.saturating_sub(1);
                                fail
                            };
                            if fail {
                                b"451 4.3.0 try again later\r\n".to_vec()
                            } else {
                                let _ = w.write_all(b"354 go ahead\r\n").await;
                                let (mut mail, mut size, mut bad) = (String::new(), 0, None);
                                while let Ok(Some(l)) = lines.next_line().await {
                                    if l == "." {
                                        break;
                                    }
                                    size += l.len() + 2;
                                    if l.len() > 998 {
                                        bad = Some("500 5.5.2 line too long");
                                    } else if !l.is_ascii() {
                                        bad = Some("554 5.6.0 8-bit data without 8BITMIME");
                                    }
                                    mail.push_str(l.strip_prefix('.').unwrap_or(&l));
                                    mail.push('\n');
                                }
                                match bad {
                                    _ if size > Self::MAX_BYTES => {
                                        b"552 5.3.4 message too big\r\n".to_vec()
                                    }
                                    Some(why) => format!("{why}\r\n").into_bytes(),
                                    None => {
                                        s.mails.lock().unwrap().push(mail);
                                        b"250 2.0.0 queued as SINK1\r\n".to_vec()
                                    }
                                }
                            }
                        } else if cmd.starts_with("QUIT") {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            break;
                        } else {
                            b"250 ok\r\n".to_vec()
                        };
                        if w.write_all(&answer).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        sink
    }

    /// `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The messages accepted so far.
    pub fn mails(&self) -> Vec<String> {
        self.mails.lock().unwrap().clone()
    }

    /// Waits up to `timeout` for a message containing `needle`.
    pub async fn wait_for(&self, needle: &str, timeout: std::time::Duration) -> Option<String> {
        let until = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(m) = self.mails().into_iter().find(|m| m.contains(needle)) {
                return Some(m);
            }
            if tokio::time::Instant::now() > until {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
}

/// The content of the MIME part of `mail` (as [`SmtpSink`] records it) whose
/// `Content-Disposition` names `filename`, base64-decoded.
pub fn mail_attachment(mail: &str, filename: &str) -> Option<Vec<u8>> {
    let at = mail.find(&format!("filename=\"{filename}\""))?;
    // The part's body starts after the blank line ending its headers and runs to the next
    // boundary line.
    let body_start = at + mail[at..].find("\n\n")? + 2;
    let body = &mail[body_start..];
    let end = body.find("\n--").unwrap_or(body.len());
    let text: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::new();
    for chunk in text.trim_end_matches('=').as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c)? << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    Some(out)
}
