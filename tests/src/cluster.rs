//! The services as real processes (the binaries `make test` builds before the suite), on
//! free ports, sharing one fresh database and a Redis key prefix: for the tests that stop
//! and start processes or check what a process refuses. With [`Cluster::with_tls`] every gRPC
//! hop is mutual TLS with certificates from a development CA made for the cluster, and each
//! service also serves health on a plaintext port, as in Kubernetes.
use antrean_platform::testing;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::{Child, Command};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic_health::pb::health_client::HealthClient;

/// A workspace binary: they sit next to the test's `deps/` directory.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: `make test` builds the service binaries before the suite",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

pub struct Service {
    pub name: &'static str,
    /// gRPC, or the gateway's HTTP (which also answers `/metrics`).
    pub port: u16,
    /// `/metrics` of a gRPC service.
    pub metrics_port: u16,
    /// The plaintext health port (with TLS).
    pub health_port: u16,
    pub child: Option<Child>,
}

pub struct Cluster {
    /// The environment every process gets.
    pub env: HashMap<String, String>,
    pub services: Vec<Service>,
    pub logs: PathBuf,
    /// The certificates (`ca.crt`, `<name>.crt`, `<name>.key`) with TLS.
    pub tls: Option<PathBuf>,
}

impl Cluster {
    /// identity, quota, notification and booking over plaintext gRPC.
    pub fn new() -> Self {
        Self::of(&["identity", "quota", "notification", "booking"], false)
    }

    /// The same over mutual TLS.
    pub fn with_tls() -> Self {
        Self::of(&["identity", "quota", "notification", "booking"], true)
    }

    pub fn of(names: &[&'static str], tls: bool) -> Self {
        let services: Vec<Service> = names
            .iter()
            .map(|&name| Service {
                name,
                port: free_port(),
                metrics_port: free_port(),
                health_port: free_port(),
                child: None,
            })
            .collect();
        let mut env = HashMap::from([
            ("DATABASE_URL".to_owned(), testing::fresh_database_url()),
            ("REDIS_URL".to_owned(), testing::redis_url()),
            ("REDIS_KEY_PREFIX".to_owned(), testing::redis_prefix()),
            ("SHUTDOWN_DRAIN_SECONDS".to_owned(), "1".to_owned()),
            ("RUST_LOG".to_owned(), "warn".to_owned()),
            ("LOG_FORMAT".to_owned(), "text".to_owned()),
        ]);
        for s in &services {
            let upper = s.name.to_uppercase();
            env.insert(format!("{upper}_ADDR"), format!("127.0.0.1:{}", s.port));
            env.insert(
                format!("{upper}_URL"),
                format!("http://127.0.0.1:{}", s.port),
            );
            // Any free port: a port chosen here could be taken by another test before the
            // service binds it. `expose_metrics` fixes them where a test scrapes.
            env.insert(format!("{upper}_METRICS_ADDR"), "127.0.0.1:0".to_owned());
            if s.name == "gateway" {
                // The gateway's sandboxes stand in for the Cloud API and the draw beacon.
                let base = format!("http://127.0.0.1:{}/sandbox", s.port);
                env.insert("WHATSAPP_SANDBOX_URL".into(), format!("{base}/whatsapp"));
                env.insert("DRAW_BEACON_URL".into(), format!("{base}/beacon"));
            }
        }
        let logs = std::env::temp_dir().join(format!(
            "antrean-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&logs).expect("a log directory");
        let tls = tls.then(|| {
            let dir = logs.join("tls");
            crate::devca::generate(&dir, &crate::devca::NAMES).expect("certificates");
            dir
        });
        Self {
            env,
            services,
            logs,
            tls,
        }
    }

    pub fn url(&self, name: &str) -> String {
        self.env[&format!("{}_URL", name.to_uppercase())].clone()
    }

    pub fn service(&self, name: &str) -> &Service {
        self.services
            .iter()
            .find(|s| s.name == name)
            .expect("a service of the cluster")
    }

    /// Gives each gRPC service a known `/metrics` port (before starting), for tests that
    /// scrape them.
    pub fn expose_metrics(&mut self) {
        for s in &self.services {
            self.env.insert(
                format!("{}_METRICS_ADDR", s.name.to_uppercase()),
                format!("127.0.0.1:{}", s.metrics_port),
            );
        }
    }

    /// Where a service answers `/metrics` (after [`Cluster::expose_metrics`]).
    pub fn metrics_url(&self, name: &str) -> String {
        let s = self.service(name);
        let port = if name == "gateway" {
            s.port
        } else {
            s.metrics_port
        };
        format!("http://127.0.0.1:{port}/metrics")
    }

    /// Starts every service, in order.
    pub async fn start_all(&mut self) {
        for i in 0..self.services.len() {
            self.start(i).await;
        }
    }

    /// The environment of one service's process.
    fn env_of(&self, s: &Service) -> HashMap<String, String> {
        let mut env = self.env.clone();
        if let Some(dir) = &self.tls {
            let path = |f: String| dir.join(f).display().to_string();
            env.insert("TLS_CA_FILE".into(), path("ca.crt".into()));
            env.insert("TLS_CERT_FILE".into(), path(format!("{}.crt", s.name)));
            env.insert("TLS_KEY_FILE".into(), path(format!("{}.key", s.name)));
            env.insert(
                "GRPC_HEALTH_ADDR".into(),
                format!("127.0.0.1:{}", s.health_port),
            );
        }
        env
    }

    pub async fn start(&mut self, i: usize) {
        let env = self.env_of(&self.services[i]);
        let s = &mut self.services[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("{}.log", s.name)))
            .expect("a log file");
        let child = Command::new(binary(&format!("antrean-{}", s.name)))
            .envs(&env)
            .stdout(log.try_clone().expect("a log file"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("the service starts");
        s.child = Some(child);
        if s.name == "gateway" {
            wait_http(s.port).await;
            return;
        }
        let port = if self.tls.is_some() {
            s.health_port
        } else {
            s.port
        };
        wait_serving(port, s.name).await;
    }

    /// SIGTERM, then the process must drain and exit cleanly by itself.
    pub async fn stop(&mut self, i: usize) {
        let s = &mut self.services[i];
        let mut child = s.child.take().expect("a running service");
        let pid = child.id().expect("a pid").to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .expect("kill runs");
        assert!(killed.success());
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} did not stop within 30 s of SIGTERM", s.name))
            .expect("the exit status");
        assert!(status.success(), "{} exited with {status}", s.name);
    }

    /// What a service's log says so far.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.logs.join(format!("{name}.log"))).unwrap_or_default()
    }

    /// A channel to `service` presenting the certificate of `identity` (mutual TLS).
    pub fn channel_as(&self, identity: &str, service: &str) -> Channel {
        let dir = self.tls.as_ref().expect("a cluster with TLS");
        let read = |f: &str| std::fs::read(dir.join(f)).expect("a certificate file");
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read("ca.crt")))
            .identity(Identity::from_pem(
                read(&format!("{identity}.crt")),
                read(&format!("{identity}.key")),
            ))
            .domain_name("localhost");
        tls_endpoint(self.service(service).port, tls).connect_lazy()
    }
}

impl Default for Cluster {
    fn default() -> Self {
        Self::new()
    }
}

/// The first bookable day Bogor is open with a morning session. Processes run on the real
/// clock, so it may be any day of the week.
pub async fn first_morning_in_bogor(
    quota: &mut antrean_proto::v1::quota_service_client::QuotaServiceClient<Channel>,
) -> String {
    use antrean_proto::v1 as pb;
    quota
        .get_availability(pb::GetAvailabilityRequest {
            office_code: "BOGOR".into(),
            ..Default::default()
        })
        .await
        .expect("availability")
        .into_inner()
        .days
        .into_iter()
        .find(|d| {
            d.open
                && d.sessions
                    .iter()
                    .any(|s| s.session == pb::Session::Pagi as i32)
        })
        .expect("a bookable day")
        .date
}

/// An endpoint to a local port with the given TLS settings.
pub fn tls_endpoint(port: u16, tls: ClientTlsConfig) -> Endpoint {
    Endpoint::from_shared(format!("https://127.0.0.1:{port}"))
        .and_then(|e| e.tls_config(tls))
        .expect("a TLS endpoint")
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(10))
}

/// Waits until the gateway's `/healthz` answers.
pub async fn wait_http(port: u16) {
    let url = format!("http://127.0.0.1:{port}/healthz");
    for _ in 0..600 {
        if let Ok(r) = reqwest::get(&url).await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the gateway did not answer /healthz on port {port}");
}

/// Waits until a plaintext gRPC health port answers SERVING.
pub async fn wait_serving(port: u16, name: &str) {
    for _ in 0..600 {
        if let Ok(channel) = Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .expect("a URL")
            .connect()
            .await
            && let Ok(r) = HealthClient::new(channel)
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await
            && r.into_inner().status == 1
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name} did not become SERVING on port {port}");
}
