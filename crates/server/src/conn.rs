//! Connections: the accept loop with a cap on open connections, each connection's header-read
//! and idle timeouts, the request-body timeout, and the descriptor budget that keeps
//! descriptors in reserve for storage.
//!
//! A connection over the cap is accepted, answered `503` problem+json (`code`
//! `too_many_connections`, `Retry-After: 1`, `Connection: close`) and closed; when more than
//! [`REFUSALS_IN_FLIGHT_MAX`] refusals are already being answered, it is closed unanswered.
//! A connection that does not complete a request head within the header timeout (counted from
//! the connection's start or the request's first byte), or stays idle between requests past the
//! idle timeout, is closed without an answer. A body that keeps the server waiting too long is
//! answered `408` (`body_timeout`) and the connection closed.

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::limits::{
    ACCEPT_ERROR_BACKOFF_MS, BODY_PROGRESS_BYTES, CONNECTIONS_MIN, ConnectionLimits,
    REFUSAL_MS_MAX, REFUSALS_IN_FLIGHT_MAX, SHUTDOWN_DRAIN_MS_MAX,
};
use crate::{ApiError, AppState};

/// The connection cap after the descriptor budget, and how it was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdBudget {
    /// `RLIMIT_NOFILE`'s soft limit after raising it (`None`: unknown on this platform).
    pub fds_soft: Option<u64>,
    /// Descriptors open when the server started (engine files, the listener, ...).
    pub fds_open: u64,
    /// Connections served at once.
    pub connections_max: usize,
    /// The limit could not hold the configured reserve as well as `CONNECTIONS_MIN` connections.
    pub reserve_short: bool,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit in force after.
#[cfg(unix)]
pub fn raise_fd_limit() -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
        } else {
            tracing::warn!(error = %std::io::Error::last_os_error(), soft = limit.rlim_cur, hard = limit.rlim_max, "could not raise the descriptor limit");
        }
    }
    #[allow(
        clippy::useless_conversion,
        reason = "rlim_t is not u64 on every platform"
    )]
    let soft = u64::try_from(limit.rlim_cur).unwrap_or(u64::MAX);
    Ok(soft)
}

#[cfg(not(unix))]
pub fn raise_fd_limit() -> std::io::Result<u64> {
    Err(std::io::Error::other(
        "descriptor limits are only known on unix",
    ))
}

/// Descriptors this process has open now (Linux `/proc/self/fd`, else `/dev/fd`).
pub fn open_fds() -> Option<u64> {
    for dir in ["/proc/self/fd", "/dev/fd"] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            // The directory handle itself is one of the entries.
            return Some((entries.count() as u64).saturating_sub(1));
        }
    }
    None
}

/// The connection cap: the configured maximum, lowered so that the descriptors open now, the
/// reserve, the refusals in flight and the connections together fit the soft limit. When the
/// limit is too low for the reserve, a quarter of what is free is served and `reserve_short`
/// says so (the server logs it at startup).
#[must_use]
pub fn fd_budget(limits: &ConnectionLimits, fds_soft: Option<u64>, fds_open: u64) -> FdBudget {
    let configured = limits.connections_max.max(CONNECTIONS_MIN);
    let Some(soft) = fds_soft else {
        return FdBudget {
            fds_soft,
            fds_open,
            connections_max: configured,
            reserve_short: false,
        };
    };
    let free = soft.saturating_sub(fds_open);
    let kept = limits.fds_reserved as u64 + REFUSALS_IN_FLIGHT_MAX as u64;
    let (available, reserve_short) = match free.checked_sub(kept) {
        Some(left) if left >= CONNECTIONS_MIN as u64 => (left, false),
        _ => (free / 4, true),
    };
    let available = usize::try_from(available).unwrap_or(usize::MAX);
    FdBudget {
        fds_soft,
        fds_open,
        connections_max: configured.min(available).max(CONNECTIONS_MIN),
        reserve_short,
    }
}

/// Accepts connections until `shutdown` resolves, then asks each to close after its request in
/// flight and waits for them (at most [`SHUTDOWN_DRAIN_MS_MAX`]).
pub(crate) async fn accept_loop(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    budget: FdBudget,
    shutdown: impl Future<Output = ()>,
) {
    let cap = budget.connections_max;
    let slots = Arc::new(Semaphore::new(cap));
    let refusals = Arc::new(Semaphore::new(REFUSALS_IN_FLIGHT_MAX));
    let (closing_tx, closing_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, addr) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // EMFILE/ENFILE and aborted handshakes: keep serving the connections we have.
                metrics::counter!("steward_http_accept_errors_total").increment(1);
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(ACCEPT_ERROR_BACKOFF_MS)).await;
                continue;
            }
        };
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let (router, closing) = (router.clone(), closing_rx.clone());
                tokio::spawn(async move {
                    serve_connection(stream, addr, router, limits, closing).await;
                    drop(slot);
                });
            }
            Err(_) => {
                metrics::counter!("steward_http_connections_refused_total").increment(1);
                match refusals.clone().try_acquire_owned() {
                    Ok(permit) => {
                        tokio::spawn(async move {
                            refuse(stream).await;
                            drop(permit);
                        });
                    }
                    Err(_) => drop(stream),
                }
            }
        }
    }
    drop(listener);
    let _ = closing_tx.send(true);
    let all = u32::try_from(cap).unwrap_or(u32::MAX);
    if tokio::time::timeout(
        Duration::from_millis(SHUTDOWN_DRAIN_MS_MAX),
        slots.acquire_many(all),
    )
    .await
    .is_err()
    {
        tracing::warn!(
            waited_ms = SHUTDOWN_DRAIN_MS_MAX,
            "connections still open at shutdown; closing them"
        );
    }
}

const REFUSAL_BODY: &str = r#"{"type":"https://steward.dev/problems/too_many_connections","title":"Service Unavailable","status":503,"code":"too_many_connections","detail":"the server is at its connection limit; retry later"}"#;

/// Answers a connection over the cap with a 503 and closes it. Reads what the client sent
/// until it closes (bounded), so the close does not reset the connection under the answer.
async fn refuse(mut stream: TcpStream) {
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{REFUSAL_BODY}",
        REFUSAL_BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_millis(REFUSAL_MS_MAX), async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut read = 0usize;
        while read < 64 * 1024 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => read += n,
            }
        }
        Ok::<(), std::io::Error>(())
    })
    .await;
}

/// What a connection is doing, for its timeouts.
struct Activity {
    state: Mutex<ActivityState>,
    changed: Notify,
}

struct ActivityState {
    /// Requests whose response has not been fully written.
    requests: usize,
    /// When the current request head started (or the connection, for its first request).
    head_since: Option<Instant>,
    /// When the connection last became idle.
    idle_since: Instant,
}

impl Activity {
    fn new(now: Instant) -> Activity {
        Activity {
            state: Mutex::new(ActivityState {
                requests: 0,
                head_since: Some(now),
                idle_since: now,
            }),
            changed: Notify::new(),
        }
    }

    /// Bytes arrived: on an idle connection they start a request head.
    fn on_read(&self) {
        let mut state = self.state.lock();
        if state.requests == 0 && state.head_since.is_none() {
            state.head_since = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    fn begin_request(self: &Arc<Self>) -> RequestGuard {
        let mut state = self.state.lock();
        state.requests += 1;
        state.head_since = None;
        drop(state);
        self.changed.notify_one();
        RequestGuard(self.clone())
    }

    /// When the connection is to be closed if nothing changes; `None` while a request is in progress.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<(Instant, &'static str)> {
        let state = self.state.lock();
        if state.requests > 0 {
            return None;
        }
        Some(match state.head_since {
            Some(since) => (since + limits.header_read_timeout, "header_read"),
            None => (state.idle_since + limits.idle_timeout, "idle"),
        })
    }
}

/// Held from the moment a request head is parsed until its response body is written or dropped.
struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let mut state = self.0.state.lock();
        state.requests = state.requests.saturating_sub(1);
        if state.requests == 0 {
            state.idle_since = Instant::now();
        }
        drop(state);
        self.0.changed.notify_one();
    }
}

/// The socket, telling the connection's [`Activity`] when bytes arrive.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
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

/// A response body that holds its request's guard until written or dropped.
struct Tracked {
    body: Body,
    _guard: RequestGuard,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

async fn serve_connection(
    stream: TcpStream,
    addr: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    mut closing: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new(Instant::now()));
    let io = TokioIo::new(Watched {
        stream,
        activity: activity.clone(),
    });
    let requests = activity.clone();
    let service =
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            let guard = requests.begin_request();
            // The client address goes into each decision's context (`context.source_ip`).
            request.extensions_mut().insert(ConnectInfo(addr));
            let router = router.clone();
            async move {
                let response = match router.oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                Ok::<_, Infallible>(response.map(|body| {
                    Body::new(Tracked {
                        body,
                        _guard: guard,
                    })
                }))
            }
        });
    let connection = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
    tokio::pin!(connection);
    let mut shutting_down = *closing.borrow();
    if shutting_down {
        connection.as_mut().graceful_shutdown();
    }
    let far = Duration::from_secs(24 * 3600);
    loop {
        let deadline = activity.deadline(&limits);
        let wake = deadline.map_or_else(|| Instant::now() + far, |(at, _)| at);
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(error) = served {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            changed = closing.changed(), if !shutting_down => {
                if changed.is_err() || *closing.borrow() {
                    shutting_down = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
            () = activity.changed.notified() => {}
            () = tokio::time::sleep_until(wake) => {
                if let Some((at, reason)) = activity.deadline(&limits)
                    && at <= Instant::now()
                {
                    metrics::counter!("steward_http_connections_timed_out_total", "reason" => reason).increment(1);
                    tracing::debug!(reason, "closing a connection past its timeout");
                    return;
                }
            }
        }
    }
}

/// The request body, failing once it keeps the server waiting longer than the body timeout
/// for the next [`BODY_PROGRESS_BYTES`] (only time spent waiting for the client counts).
struct TimedBody {
    body: Body,
    timeout: Duration,
    fired: Arc<AtomicBool>,
    /// Time waited on the client in the current window.
    waited: Duration,
    window_bytes: u64,
    pending_since: Option<Instant>,
    sleep: Option<Pin<Box<Sleep>>>,
}

/// The error a timed-out body returns to whoever reads it.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimedOut;

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if this.fired.load(Ordering::Relaxed) {
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))));
        }
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Pending => {
                let now = Instant::now();
                let since = *this.pending_since.get_or_insert(now);
                let deadline = since + this.timeout.saturating_sub(this.waited);
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if sleep.deadline() != deadline {
                    sleep.as_mut().reset(deadline);
                }
                if sleep.as_mut().poll(cx).is_ready() {
                    this.fired.store(true, Ordering::Relaxed);
                    return Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))));
                }
                Poll::Pending
            }
            Poll::Ready(frame) => {
                if let Some(since) = this.pending_since.take() {
                    this.waited += since.elapsed();
                }
                if let Some(Ok(data)) = frame.as_ref().map(|f| {
                    f.as_ref()
                        .map(|f| f.data_ref().map_or(0, |d| d.len() as u64))
                }) {
                    this.window_bytes += data;
                    if this.window_bytes >= BODY_PROGRESS_BYTES {
                        this.window_bytes = 0;
                        this.waited = Duration::ZERO;
                    }
                }
                Poll::Ready(frame)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Middleware: every request body gets the body timeout; a request whose body timed out is
/// answered 408 problem+json (`body_timeout`) whatever its handler made of the error, and the
/// connection is closed.
pub(crate) async fn body_deadline(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let timeout = state.connection_limits().body_read_timeout;
    let fired = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        Body::new(TimedBody {
            body,
            timeout,
            fired: fired.clone(),
            waited: Duration::ZERO,
            window_bytes: 0,
            pending_since: None,
            sleep: None,
        })
    });
    let response = next.run(request).await;
    if !fired.load(Ordering::Relaxed) {
        return response;
    }
    metrics::counter!("steward_http_body_timeouts_total").increment(1);
    tracing::info!("request body timed out");
    let mut response = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "body_timeout",
        "the request body did not arrive in time",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
