//! Mutual TLS between antrean's processes (docs/security.md, "Service identity").
//!
//! Every process holds a certificate from the platform CA whose subject common name is its
//! identity (`identity`, `quota`, `booking`, `notification`, `gateway`, `channel`,
//! `operator`). A gRPC server accepts only clients presenting a certificate the CA signed and
//! hands the caller's identity to [`crate::grpc`]'s allow-list check as a [`Peer`]; a client
//! presents its own certificate and checks the server's against the CA and the name it dialled.
//!
//! Renewal needs no restart: the server re-reads its certificate and key when the files change
//! (checked at most every `TLS_RELOAD_SECONDS`, on a handshake), and client channels re-create their
//! connections with the new files ([`Tls::renewed`]). Kubernetes' mounted Secrets change files
//! in place, which is all cert-manager's renewal needs.
use anyhow::Context as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Longest a client may take to finish its TLS handshake before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The TLS settings every gRPC service and client shares (flattened into each one's config).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// The platform CA's certificate (PEM). With the certificate and key below it turns on
    /// mutual TLS: servers accept only callers with a certificate this CA signed.
    #[arg(long = "tls-ca-file", env = "TLS_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// This process's certificate (PEM, the chain up to the CA); its common name is the
    /// identity the allow-lists name.
    #[arg(long = "tls-cert-file", env = "TLS_CERT_FILE")]
    pub cert_file: Option<PathBuf>,
    /// The private key of the certificate (PEM, PKCS#8, SEC1 or PKCS#1).
    #[arg(long = "tls-key-file", env = "TLS_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// A plaintext gRPC port serving only grpc.health.v1, for probes that cannot present a
    /// certificate (Kubernetes' gRPC probes); off when empty.
    #[arg(long = "grpc-health-addr", env = "GRPC_HEALTH_ADDR")]
    pub health_addr: Option<String>,
    /// How often, at most, the files are looked at for a renewed certificate.
    #[arg(
        long = "tls-reload-seconds",
        env = "TLS_RELOAD_SECONDS",
        default_value_t = 30
    )]
    pub reload_seconds: u64,
}

impl TlsArgs {
    /// The files of a directory laid out as `make up` writes them: `ca.crt`, `<name>.crt`,
    /// `<name>.key`.
    pub fn from_dir(dir: &Path, name: &str) -> Self {
        Self {
            ca_file: Some(dir.join("ca.crt")),
            cert_file: Some(dir.join(format!("{name}.crt"))),
            key_file: Some(dir.join(format!("{name}.key"))),
            health_addr: None,
            reload_seconds: 30,
        }
    }

    /// Mutual TLS when all three files are set, plaintext when none is; an error naming the
    /// missing setting when only some are, or when a file cannot be read.
    pub fn load(&self) -> anyhow::Result<Option<Tls>> {
        let (ca, cert, key) = match (&self.ca_file, &self.cert_file, &self.key_file) {
            (None, None, None) => return Ok(None),
            (Some(ca), Some(cert), Some(key)) => (ca, cert, key),
            _ => anyhow::bail!(
                "TLS_CA_FILE, TLS_CERT_FILE and TLS_KEY_FILE go together: set all three or none"
            ),
        };
        let files = Files {
            ca: ca.clone(),
            cert: cert.clone(),
            key: key.clone(),
        };
        let loaded = files.load()?;
        Ok(Some(Tls {
            inner: Arc::new(Shared {
                files,
                reload: Duration::from_secs(self.reload_seconds.max(1)),
                current: Mutex::new(loaded),
            }),
        }))
    }
}

#[derive(Debug, Clone)]
struct Files {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// What a file looked like when it was read: a change of either means it was replaced.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    std::fs::metadata(path)
        .ok()
        .and_then(|m| Some((m.modified().ok()?, m.len())))
}

/// The files' contents as last read.
struct Loaded {
    ca_pem: Vec<u8>,
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    key: Arc<CertifiedKey>,
    identity: String,
    stamps: [Stamp; 3],
    /// When these files were read.
    loaded_at: Instant,
    /// When the files were last looked at.
    checked: Instant,
}

impl Files {
    fn stamps(&self) -> [Stamp; 3] {
        [stamp(&self.ca), stamp(&self.cert), stamp(&self.key)]
    }

    fn load(&self) -> anyhow::Result<Loaded> {
        let stamps = self.stamps();
        let read = |p: &PathBuf, what: &str| {
            std::fs::read(p).with_context(|| format!("{what} {}", p.display()))
        };
        let ca_pem = read(&self.ca, "TLS_CA_FILE")?;
        let cert_pem = read(&self.cert, "TLS_CERT_FILE")?;
        let key_pem = read(&self.key, "TLS_KEY_FILE")?;
        anyhow::ensure!(
            CertificateDer::pem_slice_iter(&ca_pem).any(|c| c.is_ok()),
            "TLS_CA_FILE {}: no certificate in it",
            self.ca.display()
        );
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<_, _>>()
            .with_context(|| format!("TLS_CERT_FILE {}", self.cert.display()))?;
        let leaf = chain.first().with_context(|| {
            format!(
                "TLS_CERT_FILE {}: no certificate in it",
                self.cert.display()
            )
        })?;
        let identity = identity_of(leaf).with_context(|| {
            format!(
                "TLS_CERT_FILE {}: the certificate has no subject common name",
                self.cert.display()
            )
        })?;
        if let Some(expiry) = not_after(leaf) {
            // Loaded at startup, before `/metrics` is served: the recorder must exist already.
            crate::metrics::install();
            metrics::gauge!("tls_certificate_expiry_timestamp_seconds", "identity" => identity.clone())
                .set(expiry.as_secs_f64());
        }
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .with_context(|| format!("TLS_KEY_FILE {}", self.key.display()))?;
        let signer = rustls::crypto::ring::sign::any_supported_type(&key)
            .with_context(|| format!("TLS_KEY_FILE {}", self.key.display()))?;
        Ok(Loaded {
            ca_pem,
            cert_pem,
            key_pem,
            key: Arc::new(CertifiedKey::new(chain, signer)),
            identity,
            stamps,
            loaded_at: Instant::now(),
            checked: Instant::now(),
        })
    }
}

struct Shared {
    files: Files,
    reload: Duration,
    current: Mutex<Loaded>,
}

impl Shared {
    /// The current files, re-read first when `reload` has passed and they changed.
    /// A renewal that cannot be read (half written) keeps the last good one and says so.
    fn refresh(&self) -> std::sync::MutexGuard<'_, Loaded> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current.checked.elapsed() >= self.reload {
            current.checked = Instant::now();
            if self.files.stamps() != current.stamps {
                match self.files.load() {
                    Ok(loaded) => {
                        tracing::info!(identity = %loaded.identity, "TLS certificate reloaded");
                        *current = loaded;
                    }
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "TLS files changed but cannot be read; keeping the last ones")
                    }
                }
            }
        }
        current
    }
}

/// This process's TLS material, re-read when renewed.
#[derive(Clone)]
pub struct Tls {
    inner: Arc<Shared>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.inner.files.cert)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// The identity this process presents (its certificate's common name).
    pub fn identity(&self) -> String {
        self.inner.refresh().identity.clone()
    }

    /// The rustls configuration of a gRPC server: a client certificate from the CA required,
    /// HTTP/2 only, the server's own certificate re-read on renewal.
    pub fn server_config(&self) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(&self.inner.refresh().ca_pem) {
            roots.add(ca?)?;
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::new(Resolver(self.inner.clone())));
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }

    /// The TLS configuration of a channel to `server_name` (the name its certificate must
    /// carry): this process's certificate, the CA as the only root.
    pub fn client_config(&self, server_name: &str) -> tonic::transport::ClientTlsConfig {
        let current = self.inner.refresh();
        tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(&current.ca_pem))
            .identity(tonic::transport::Identity::from_pem(
                &current.cert_pem,
                &current.key_pem,
            ))
            .domain_name(server_name)
    }

    /// How often the files are looked at for a renewal.
    pub fn reload_interval(&self) -> Duration {
        self.inner.reload
    }

    /// Whether the files were renewed since `seen` (a value this method returned before, or
    /// `None` the first time); answers the stamp to pass next time.
    pub fn renewed(&self, seen: Option<Instant>) -> (bool, Instant) {
        let loaded_at = self.inner.refresh().loaded_at;
        (seen.is_some_and(|s| s != loaded_at), loaded_at)
    }
}

#[derive(Debug)]
struct Resolver(Arc<Shared>);

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.refresh().key.clone())
    }
}

/// When a certificate expires, as time since the Unix epoch.
pub fn not_after(der: &CertificateDer<'_>) -> Option<Duration> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(der.as_ref()).ok()?;
    Some(cert.tbs_certificate.validity.not_after.to_unix_duration())
}

/// The identity a certificate names: its subject's common name.
pub fn identity_of(der: &CertificateDer<'_>) -> Option<String> {
    use x509_cert::der::Decode;
    use x509_cert::der::asn1::{PrintableStringRef, Utf8StringRef};
    let cert = x509_cert::Certificate::from_der(der.as_ref()).ok()?;
    let cn = x509_cert::der::asn1::ObjectIdentifier::new_unwrap("2.5.4.3");
    cert.tbs_certificate
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid == cn)
        .and_then(|atv| {
            atv.value
                .decode_as::<Utf8StringRef<'_>>()
                .map(|s| s.as_str().to_owned())
                .or_else(|_| {
                    atv.value
                        .decode_as::<PrintableStringRef<'_>>()
                        .map(|s| s.as_str().to_owned())
                })
                .ok()
        })
}

/// Who is on the other end of a mutual-TLS connection: in every request's extensions.
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    /// The common name of the certificate the caller presented (the CA signed it).
    pub identity: Arc<str>,
}

/// A server connection after its handshake, with the caller it proved to be.
pub struct TlsConn {
    stream: tokio_rustls::server::TlsStream<TcpStream>,
    peer: Peer,
}

impl tonic::transport::server::Connected for TlsConn {
    type ConnectInfo = Peer;
    fn connect_info(&self) -> Peer {
        self.peer.clone()
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The connections of `listener` after their handshakes, each shaken hands with in its own
/// task (a slow or silent client holds up nobody) and dropped after [`HANDSHAKE_TIMEOUT`].
/// A refused handshake (no certificate, another CA's) is logged with the peer's address.
/// Accepting stops when the stream is dropped.
pub fn incoming(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
) -> tokio_stream::wrappers::ReceiverStream<std::io::Result<TlsConn>> {
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                () = tx.closed() => return,
            };
            let (tcp, addr) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let stream =
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => s,
                        // A port probe (connect, then close) is not worth a warning.
                        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                            tracing::debug!(peer = %addr, "connection closed before TLS");
                            return;
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(peer = %addr, error = %e, "TLS handshake refused");
                            return;
                        }
                        Err(_) => {
                            tracing::warn!(peer = %addr, "TLS handshake timed out");
                            return;
                        }
                    };
                let identity = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(identity_of);
                let Some(identity) = identity else {
                    tracing::warn!(peer = %addr, "TLS client certificate names no identity");
                    return;
                };
                let peer = Peer {
                    addr,
                    identity: identity.into(),
                };
                let _ = tx.send(Ok(TlsConn { stream, peer })).await;
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}
