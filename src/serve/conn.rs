//! The connection layer of `cardseg serve`: an accept loop with a connection limit, a
//! per-connection watchdog for the header-read and idle timeouts, and the byte budget
//! that request bodies reserve before they are read and scored.
//!
//! A request head hyper cannot parse never reaches the router: hyper writes a bodiless
//! 400, 414 or 431 of its own and ends the connection with the parse error, with no hook
//! to answer otherwise. The socket wrapper holds that automatic answer back (and the
//! shutdown after it), and once the connection reports the error, [`unparsed`] answers
//! with a JSON error, a request id, a metrics count and an access-log line instead.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::errors::ApiError;
use super::log::Access;
use super::metrics::UNPARSED;
use super::state::App;
use super::Limits;

/// Raises the soft open-files limit toward the hard one, so `max_connections` sockets
/// (plus the server's own files) fit; a lower hard limit is reported once.
pub fn raise_fd_limit(max_connections: usize) {
    let want = (max_connections as u64).saturating_add(64);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        if lim.rlim_cur < want {
            let new = libc::rlimit {
                rlim_cur: want.min(lim.rlim_max),
                rlim_max: lim.rlim_max,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &new);
            if new.rlim_cur < want {
                eprintln!(
                    "warning: the open-files limit is {} (hard), below --max-connections {max_connections}; connections beyond it are refused by the system",
                    lim.rlim_max
                );
            }
        }
    }
}

/// What a connection's watchdog sees: bytes moving, a request head in progress, requests
/// in flight.
struct Activity {
    start: Instant,
    /// Milliseconds since `start` of the last byte read or written.
    last_io: AtomicU64,
    /// Milliseconds since `start` (+1) of the first byte of a request head not yet
    /// complete; 0 when none.
    head_started: AtomicU64,
    in_flight: AtomicUsize,
    /// The status of hyper's automatic answer to an unparsable head, held back; 0 when none.
    unparsed: AtomicU16,
}

impl Activity {
    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

/// A socket that reports its traffic to the watchdog.
struct Tracked<S> {
    inner: S,
    act: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            let now = self.act.now();
            self.act.last_io.store(now, Relaxed);
            if self.act.in_flight.load(Relaxed) == 0 {
                let _ = self
                    .act
                    .head_started
                    .compare_exchange(0, now + 1, Relaxed, Relaxed);
            }
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if let Some(n) = self.hold_back(buf) {
            return Poll::Ready(Ok(n));
        }
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            if *n > 0 {
                self.act.last_io.store(self.act.now(), Relaxed);
            }
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // The JSON answer replacing hyper's automatic one still has to be written.
        if self.act.unparsed.load(Relaxed) != 0 {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            if let Some(n) = self.hold_back(first) {
                // An automatic answer is the last thing hyper writes on a connection.
                let rest: usize = bufs.iter().map(|b| b.len()).sum::<usize>() - first.len();
                return Poll::Ready(Ok(n + if n == first.len() { rest } else { 0 }));
            }
        }
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = &r {
            if *n > 0 {
                self.act.last_io.store(self.act.now(), Relaxed);
            }
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl<S: AsyncWrite + Unpin> Tracked<S> {
    /// Bytes of `buf` to report written without sending them: all of it once hyper's
    /// automatic answer has begun (recording its status), else none.
    fn hold_back(&self, buf: &[u8]) -> Option<usize> {
        if self.act.unparsed.load(Relaxed) != 0 {
            return Some(buf.len());
        }
        let status = automatic_answer(buf)?;
        self.act.unparsed.store(status, Relaxed);
        Some(buf.len())
    }
}

/// The status of `buf` when it is the head hyper writes by itself for a request it could
/// not parse: a 4xx head without the `x-request-id` every answer of the router carries.
/// Heads are written at the start of a write, so only the start is looked at.
fn automatic_answer(buf: &[u8]) -> Option<u16> {
    let rest = buf.strip_prefix(b"HTTP/1.1 4")?;
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = buf[..end].to_ascii_lowercase();
    if head.windows(13).any(|w| w == b"x-request-id:") {
        return None;
    }
    let digits = rest.get(..2)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(400 + u16::from(digits[0] - b'0') * 10 + u16::from(digits[1] - b'0'))
}

/// Counts a request in flight from its complete head to its response head.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(act: Arc<Activity>) -> Self {
        act.in_flight.fetch_add(1, Relaxed);
        act.head_started.store(0, Relaxed);
        InFlight(act)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.last_io.store(self.0.now(), Relaxed);
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

/// Why the watchdog closed a connection.
enum Expired {
    Header,
    Idle,
}

/// When the connection expires if nothing changes, or why it has already.
fn check(act: &Activity, limits: &Limits) -> Result<Duration, Expired> {
    if act.in_flight.load(Relaxed) > 0 {
        return Ok(limits.header_timeout.min(limits.idle_timeout));
    }
    let now = act.now();
    let head = act.head_started.load(Relaxed);
    let (since, limit, why) = if head > 0 {
        (head - 1, limits.header_timeout, Expired::Header)
    } else {
        (
            act.last_io.load(Relaxed),
            limits.idle_timeout,
            Expired::Idle,
        )
    };
    let deadline = since + limit.as_millis() as u64;
    if now >= deadline {
        Err(why)
    } else {
        Ok(Duration::from_millis(deadline - now))
    }
}

/// Most time the JSON answer to an unparsable request may take to be sent (and the
/// client to close after it).
const UNPARSED_WRITE: Duration = Duration::from_secs(5);
/// Most bytes read (and dropped) after that answer, waiting for the client to close.
const UNPARSED_DRAIN_BYTES: usize = 8 << 20;

/// What was wrong with a request head hyper refused, and what to send instead.
pub fn unparsed_message(status: u16, hyper_error: &str) -> String {
    match status {
        414 => "the request target (path and query) is longer than 65,534 bytes; send the customers in a POST /v1/score body".to_string(),
        431 => "the request head is too large: more than 100 header lines or about 400 KiB in all; send fewer and shorter headers".to_string(),
        _ => {
            let why = if hyper_error.starts_with("invalid content-length") {
                "Content-Length must be one decimal number of bytes (at most 20 digits; repeated headers must agree)"
            } else if hyper_error.contains("transfer-encoding") {
                "Transfer-Encoding must end with chunked, and a request cannot have both it and Content-Length"
            } else if hyper_error.starts_with("invalid HTTP header") {
                "each header line must be `Name: value` (a name of letters, digits and -, a colon, no control characters)"
            } else if hyper_error.starts_with("invalid HTTP version") {
                "the request line must end with HTTP/1.1 (or HTTP/1.0)"
            } else if hyper_error.starts_with("invalid HTTP method") {
                "the request line must start with a method such as GET or POST"
            } else if hyper_error.starts_with("invalid URI") {
                "the request target must be a path such as /v1/score"
            } else {
                "send `METHOD /path HTTP/1.1`, then `Name: value` header lines, then an empty line"
            };
            format!("the request could not be read as HTTP/1.1 ({hyper_error}): {why}")
        }
    }
}

/// Answers a request hyper could not parse (its automatic answer was held back) with a
/// JSON error of the same status, counts it under the route "unparsed", logs it, and
/// closes the connection.
async fn unparsed(
    app: &App,
    act: &Activity,
    mut tcp: TcpStream,
    status: u16,
    error: &hyper::Error,
) {
    let head = act.head_started.load(Relaxed);
    let elapsed = Duration::from_millis(act.now().saturating_sub(head.saturating_sub(1)));
    let elapsed = if head > 0 { elapsed } else { Duration::ZERO };
    let id = app.ids.next();
    let id = std::str::from_utf8(&id).unwrap_or("-");
    let code =
        axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_REQUEST);
    let message = unparsed_message(status, &error.to_string());
    let body = ApiError::new(code, message).body();
    let answer = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-request-id: {id}\r\nconnection: close\r\n\r\n",
        code.as_u16(),
        code.canonical_reason().unwrap_or("Bad Request"),
        body.len()
    );
    app.metrics.record(UNPARSED, code.as_u16(), elapsed);
    app.log.access(&Access {
        request_id: id,
        method: "-",
        route: UNPARSED,
        status: code.as_u16(),
        customers: 0,
        duration: elapsed,
        model_checksum: &app.current().checksum,
    });
    let _ = tokio::time::timeout(UNPARSED_WRITE, async {
        tcp.write_all(answer.as_bytes()).await?;
        tcp.write_all(&body).await?;
        tcp.shutdown().await?;
        // Closing with unread bytes (the rest of an oversized head) would reset the
        // connection and could discard the answer before the client reads it: read on
        // until the client closes, within the time and byte bounds.
        let mut sink = [0u8; 16 << 10];
        let mut left = UNPARSED_DRAIN_BYTES;
        while left > 0 {
            match tcp.read(&mut sink).await? {
                0 => break,
                n => left = left.saturating_sub(n),
            }
        }
        std::io::Result::Ok(())
    })
    .await;
}

/// Accepts connections until `shutdown` completes, then lets open ones finish their
/// requests (the caller bounds how long).
pub async fn serve_connections(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let open = Arc::new(AtomicUsize::new(0));
    let all_closed = Arc::new(tokio::sync::Notify::new());
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            () = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(_) => {
                    // Out of file descriptors or a connection reset before accept: wait a
                    // moment rather than spin.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        if open.load(Relaxed) >= limits.max_connections {
            app.metrics.connections_refused.fetch_add(1, Relaxed);
            drop(tcp);
            continue;
        }
        let _ = tcp.set_nodelay(true);
        open.fetch_add(1, Relaxed);
        app.metrics.connections_accepted.fetch_add(1, Relaxed);
        app.metrics.connections_open.fetch_add(1, Relaxed);
        let act = Arc::new(Activity {
            start: Instant::now(),
            last_io: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            unparsed: AtomicU16::new(0),
        });
        let io = TokioIo::new(Tracked {
            inner: tcp,
            act: act.clone(),
        });
        let svc_act = act.clone();
        let router = router.clone();
        let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let guard = InFlight::new(svc_act.clone());
            let mut router = router.clone();
            async move {
                use tower::Service;
                let r = router.call(req.map(Body::new)).await;
                drop(guard);
                r
            }
        });
        let mut stop = stop_rx.clone();
        let (open, all_closed, app) = (open.clone(), all_closed.clone(), app.clone());
        tokio::spawn(async move {
            let mut conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(io, svc);
            let mut stopping = false;
            loop {
                let wait = match check(&act, &limits) {
                    Ok(d) => d,
                    Err(Expired::Header) => {
                        app.metrics.connections_header_closed.fetch_add(1, Relaxed);
                        break;
                    }
                    Err(Expired::Idle) => {
                        app.metrics.connections_idle_closed.fetch_add(1, Relaxed);
                        break;
                    }
                };
                // A request head may start at any moment of an idle wait: look again
                // at least four times per header timeout.
                let wait = wait
                    .min(limits.header_timeout / 4)
                    .max(Duration::from_millis(20));
                tokio::select! {
                    r = &mut conn => {
                        let status = act.unparsed.load(Relaxed);
                        if let (Err(e), true) = (r, status != 0) {
                            let tcp = conn.into_parts().io.into_inner().inner;
                            unparsed(&app, &act, tcp, status, &e).await;
                        }
                        break;
                    }
                    r = stop.changed(), if !stopping => {
                        stopping = true;
                        if r.is_ok() {
                            std::pin::Pin::new(&mut conn).graceful_shutdown();
                        }
                    }
                    () = tokio::time::sleep(wait) => {}
                }
            }
            app.metrics.connections_open.fetch_sub(1, Relaxed);
            if open.fetch_sub(1, Relaxed) == 1 {
                all_closed.notify_waiters();
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while open.load(Relaxed) > 0 {
        let notified = all_closed.notified();
        if open.load(Relaxed) == 0 {
            break;
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), notified).await;
    }
}
