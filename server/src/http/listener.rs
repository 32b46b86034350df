//! The accept loop: every connection is served by hyper with a time limit on each request
//! head (and on the silence between requests), a deadline on each request body, and a cap on
//! open connections; connections beyond the cap get a short `503` and are closed, so the
//! listener never stalls and file descriptors stay bounded.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::rt::{Sleep, Timer};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt as _;

/// The limits of the HTTP listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open connections served at once; more are answered `503` and closed.
    pub max_connections: usize,
    /// Time to send a request's head (request line and headers), from its first byte; on a
    /// fresh connection, from the connect.
    pub header_timeout: Duration,
    /// Silence allowed on a kept-alive connection between two requests.
    pub keep_alive_idle: Duration,
    /// Time to send a request's body, from the end of its head.
    pub body_timeout: Duration,
    /// Open WebSockets, in all.
    pub max_websockets: usize,
    /// Open WebSockets of one user.
    pub max_websockets_per_user: usize,
    /// How often an open WebSocket is pinged: proxies and NAT close connections that stay
    /// silent (nginx after 60 s by default), and a board with nothing new is silent.
    pub websocket_ping: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            keep_alive_idle: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            websocket_ping: Duration::from_secs(25),
            max_websockets: 512,
            max_websockets_per_user: 16,
        }
    }
}

/// Connections beyond the cap that are being answered `503` at once; beyond this many too,
/// a connection is closed without an answer.
const MAX_REFUSING: usize = 256;

/// What a refused connection reads.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
retry-after: 1\r\nconnection: close\r\ncontent-length: 76\r\n\r\n\
{\"error\":\"unavailable\",\"message\":\"the server has too many open connections\"}";

/// Serves `app` on `listener` until `shutdown` flips to `true`, then stops accepting, lets
/// every open connection finish its request, and returns.
pub async fn serve(listener: TcpListener, app: Router, limits: Limits, mut shutdown: watch::Receiver<bool>) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let mut accept_errors = 0u64;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                accept_failed(&e, &mut accept_errors).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        match open.clone().try_acquire_owned() {
            Ok(permit) => {
                let conn = Connection { app: app.clone(), limits, peer, shutdown: shutdown.clone() };
                tokio::spawn(conn.serve(stream, permit));
            }
            Err(_) => match refusing.clone().try_acquire_owned() {
                Ok(permit) => {
                    tokio::spawn(refuse(stream, permit));
                }
                Err(_) => drop(stream),
            },
        }
    }
    // Every connection holds a permit until it ends: all of them back means all ended.
    let _ = open.acquire_many(limits.max_connections as u32).await;
}

/// Out of file descriptors (or another passing failure): wait a moment instead of spinning,
/// and say so in the log now and then rather than for every attempt.
async fn accept_failed(error: &std::io::Error, count: &mut u64) {
    if count.is_power_of_two() || *count == 0 {
        tracing::warn!(%error, failures = *count + 1, "cannot accept connections");
    }
    *count += 1;
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// Answers `503` whatever was asked, reading what the client sent first and a little after:
/// closing a socket with unread bytes resets it, and the client would lose the answer.
async fn refuse(mut stream: TcpStream, _permit: OwnedSemaphorePermit) {
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_millis(50), stream.read(&mut sink)).await;
    if tokio::time::timeout(Duration::from_secs(1), stream.write_all(REFUSAL)).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_millis(200), async {
        for _ in 0..16 {
            if matches!(stream.read(&mut sink).await, Ok(0) | Err(_)) {
                break;
            }
        }
    })
    .await;
}

struct Connection {
    app: Router,
    limits: Limits,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
}

impl Connection {
    async fn serve(mut self, stream: TcpStream, _permit: OwnedSemaphorePermit) {
        let activity = Arc::new(Activity::default());
        let io = TokioIo::new(CountingIo { inner: stream, activity: activity.clone() });
        let (peer, body_timeout) = (self.peer, self.limits.body_timeout);
        let service = self.app.clone().map_request(move |mut request: axum::http::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request.map(|body| axum::body::Body::new(DeadlineBody::new(body, body_timeout)))
        });
        // HTTP/1 only, with hyper's own builder: hyper bounds no HTTP/2 request head in time,
        // and hyper-util's auto builder first waits for the opening bytes to tell the
        // versions apart, with no time limit at all (an idle connection stayed forever).
        // Browsers never speak cleartext HTTP/2; a TLS proxy in front speaks it to them.
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(HeadTimer { activity, limits: self.limits })
            .header_read_timeout(self.limits.header_timeout)
            .max_buf_size(64 * 1024);
        let conn = builder.serve_connection(io, TowerToHyperService::new(service)).with_upgrades();
        tokio::pin!(conn);
        let stopping = async { self.shutdown.wait_for(|s| *s).await.map(|_| ()) };
        tokio::select! {
            result = conn.as_mut() => return log_end(result),
            _ = stopping => {}
        }
        // Shutting down: finish the request in flight, then close.
        conn.as_mut().graceful_shutdown();
        log_end(conn.await);
    }
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended with an error");
    }
}

/// What moved on a connection: bytes read, and how many request heads hyper waited for.
#[derive(Debug, Default)]
struct Activity {
    read: AtomicU64,
    heads: AtomicU64,
}

/// The socket, counting what it reads (so the head timer sees a request begin).
struct CountingIo {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for CountingIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            self.activity.read.fetch_add(n as u64, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for CountingIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// hyper times a request head from the moment it waits for one, so by itself a kept-alive
/// connection would be closed after the header timeout of silence. This timer (hyper's
/// HTTP/1 server uses a timer for nothing else) allows `keep_alive_idle` of silence before a
/// second or later request, and the header timeout from that request's first byte.
#[derive(Debug, Clone)]
struct HeadTimer {
    activity: Arc<Activity>,
    limits: Limits,
}

impl Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        Box::pin(HeadSleep::fixed(tokio::time::Instant::now() + duration))
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn Sleep>> {
        let first = self.activity.heads.fetch_add(1, Ordering::Relaxed) == 0;
        if first {
            return Box::pin(HeadSleep::fixed(deadline.into()));
        }
        let now = tokio::time::Instant::now();
        Box::pin(HeadSleep {
            sleep: Box::pin(tokio::time::sleep_until(now + self.limits.keep_alive_idle)),
            idle: Some(Idle {
                activity: self.activity.clone(),
                read_at_start: self.activity.read.load(Ordering::Relaxed),
                header_timeout: self.limits.header_timeout,
            }),
        })
    }

    fn now(&self) -> std::time::Instant {
        std::time::Instant::now()
    }
}

/// A head's deadline; while `idle` is set, it waits for the request's first byte.
struct HeadSleep {
    sleep: Pin<Box<tokio::time::Sleep>>,
    idle: Option<Idle>,
}

struct Idle {
    activity: Arc<Activity>,
    read_at_start: u64,
    header_timeout: Duration,
}

impl HeadSleep {
    fn fixed(deadline: tokio::time::Instant) -> Self {
        Self { sleep: Box::pin(tokio::time::sleep_until(deadline)), idle: None }
    }
}

impl Sleep for HeadSleep {}

impl Future for HeadSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // hyper polls this whenever the connection wakes, so also when bytes arrive.
        if let Some(idle) = &self.idle
            && idle.activity.read.load(Ordering::Relaxed) > idle.read_at_start
        {
            let deadline = tokio::time::Instant::now() + idle.header_timeout;
            self.idle = None;
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}

/// A request body that fails once its deadline passed: a client cannot hold a handler (and
/// its buffer) by sending a body a byte at a time.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl DeadlineBody {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        Self { inner, deadline: Box::pin(tokio::time::sleep(timeout)) }
    }
}

/// The error of a body that took too long.
#[derive(Debug, thiserror::Error)]
#[error("the request body took too long to arrive")]
pub struct BodyTimeout;

impl http_body::Body for DeadlineBody {
    type Data = bytes::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::REFUSAL;

    #[test]
    fn the_refusal_says_its_length() {
        let text = std::str::from_utf8(REFUSAL).expect("text");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        assert!(serde_json::from_str::<serde_json::Value>(body).is_ok());
    }
}
