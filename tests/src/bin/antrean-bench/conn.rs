//! The generator's own connections, one per concurrent worker where a worker talks HTTP/1.1,
//! and plain HTTP/2 connections under the generated tonic clients: nothing between a request
//! and its connection (no pool to check out of, no buffer task to hop through). The generator shares the two cores with the system it measures, so what it
//! spends on its own side is taken from the services.
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// An HTTP/2 connection a generated client runs on:
/// `QuotaServiceClient::new(H2::connect(addr).await?)`.
#[derive(Clone)]
pub struct H2 {
    send: http2::SendRequest<tonic::body::Body>,
    authority: http::uri::Authority,
}

impl H2 {
    /// Connects to `url` (`http://host:port`).
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let addr = authority(url)?;
        let (send, conn) =
            http2::handshake(TokioExecutor::new(), TokioIo::new(tcp(&addr).await?)).await?;
        tokio::spawn(conn);
        Ok(Self {
            send,
            authority: addr.parse()?,
        })
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for H2 {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = hyper::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.send.poll_ready(cx)
    }

    /// The generated client sends the method's path alone; HTTP/2 wants the origin too.
    fn call(&mut self, mut req: http::Request<tonic::body::Body>) -> Self::Future {
        let mut uri = std::mem::take(req.uri_mut()).into_parts();
        uri.scheme = Some(http::uri::Scheme::HTTP);
        uri.authority = Some(self.authority.clone());
        *req.uri_mut() = http::Uri::from_parts(uri).expect("a path with an origin is a URI");
        Box::pin(self.send.send_request(req))
    }
}

/// Keep-alive HTTP/1.1 connections to one server, each used by one request at a time.
#[derive(Clone)]
pub struct Http1 {
    idle: Arc<Mutex<Vec<http1::SendRequest<Empty<Bytes>>>>>,
    host: http::HeaderValue,
}

impl Http1 {
    /// Opens `n` connections to `url` (`http://host:port`).
    pub async fn connect(url: &str, n: usize) -> anyhow::Result<Self> {
        let addr = authority(url)?;
        let mut idle = Vec::with_capacity(n);
        for _ in 0..n {
            let (send, conn) = http1::handshake(TokioIo::new(tcp(&addr).await?)).await?;
            tokio::spawn(conn);
            idle.push(send);
        }
        Ok(Self {
            idle: Arc::new(Mutex::new(idle)),
            host: http::HeaderValue::from_str(&addr)?,
        })
    }

    /// GET `uri` (its path) on an idle connection: the status and the whole body. A
    /// connection that failed is not put back.
    pub async fn get(&self, uri: &http::Uri) -> anyhow::Result<(http::StatusCode, Bytes)> {
        let mut send = self
            .idle
            .lock()
            .expect("poisoned")
            .pop()
            .ok_or_else(|| anyhow::anyhow!("no idle connection"))?;
        let req = http::Request::get(uri.clone())
            .header(http::header::HOST, self.host.clone())
            .body(Empty::new())?;
        send.ready().await?;
        let res = send.send_request(req).await?;
        let status = res.status();
        let body = res.into_body().collect().await?.to_bytes();
        self.idle.lock().expect("poisoned").push(send);
        Ok((status, body))
    }
}

/// A TCP connection to `addr`, with TCP_NODELAY as the services set it.
async fn tcp(addr: &str) -> anyhow::Result<tokio::net::TcpStream> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// `host:port` of `http://host:port[/]`.
fn authority(url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("{url}: expected http://host:port"))?;
    Ok(rest.trim_end_matches('/').to_owned())
}
