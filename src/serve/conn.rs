//! The connection layer of `cardseg serve`: an accept loop with a connection limit, a
//! per-connection watchdog for the header-read and idle timeouts, and the byte budget
//! that request bodies reserve before they are read and scored.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::errors::ApiError;
use super::state::App;
use super::{Limits, BODY_TIMEOUT};

/// Budget unit: 1 KiB (keeps permit counts far below the semaphore's maximum).
const UNIT: usize = 1024;

/// The request memory budget: a semaphore weighted by bytes.
pub struct Budget {
    sem: Arc<Semaphore>,
    units: usize,
}

/// Bytes of the budget held by one request; returned when dropped.
pub struct Reservation {
    permit: Option<OwnedSemaphorePermit>,
    units: usize,
    app_in_use: Option<Arc<AtomicU64Ref>>,
}

/// The in-use gauge, shared so a reservation can update it when dropped.
pub struct AtomicU64Ref(Arc<App>);

impl Drop for Reservation {
    fn drop(&mut self) {
        if let (Some(_), Some(a)) = (self.permit.take(), &self.app_in_use) {
            a.0.metrics
                .budget_in_use
                .fetch_sub((self.units * UNIT) as u64, Relaxed);
        }
    }
}

impl Budget {
    /// A budget of `bytes` (`--memory-budget`), counted in KiB units.
    pub fn new(bytes: usize) -> Budget {
        let units = bytes.div_ceil(UNIT).clamp(1, Semaphore::MAX_PERMITS);
        Budget {
            sem: Arc::new(Semaphore::new(units)),
            units,
        }
    }

    fn too_big(&self, bytes: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "this request needs about {} MB to score, more than the server's whole request memory budget of {} MB (--memory-budget); split the batch",
                bytes.div_ceil(1 << 20),
                (self.units * UNIT) >> 20
            ),
        )
    }

    /// Waits (at most [`BODY_TIMEOUT`]) for `bytes` of the budget.
    async fn acquire(&self, bytes: usize, app: &Arc<App>) -> Result<Reservation, ApiError> {
        let units = bytes.div_ceil(UNIT).max(1);
        if units > self.units {
            app.metrics.budget_refused.fetch_add(1, Relaxed);
            return Err(self.too_big(bytes));
        }
        let permit = match self.sem.clone().try_acquire_many_owned(units as u32) {
            Ok(p) => p,
            Err(_) => {
                app.metrics.budget_waited.fetch_add(1, Relaxed);
                match tokio::time::timeout(
                    BODY_TIMEOUT,
                    self.sem.clone().acquire_many_owned(units as u32),
                )
                .await
                {
                    Ok(Ok(p)) => p,
                    _ => {
                        app.metrics.budget_refused.fetch_add(1, Relaxed);
                        return Err(ApiError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("the server is busy: its request memory budget stayed full for {} s; retry later", BODY_TIMEOUT.as_secs()),
                        ));
                    }
                }
            }
        };
        app.metrics
            .budget_in_use
            .fetch_add((units * UNIT) as u64, Relaxed);
        Ok(Reservation {
            permit: Some(permit),
            units,
            app_in_use: Some(Arc::new(AtomicU64Ref(app.clone()))),
        })
    }

    /// Reserves room for a body about to be read.
    pub async fn reserve(&self, bytes: usize, app: &Arc<App>) -> Result<Reservation, ApiError> {
        self.acquire(bytes, app).await
    }

    /// Grows a reservation to `bytes` (never shrinks it). When the extra room is not free
    /// at once, the reservation is given back and the whole amount awaited, so requests
    /// holding part of the budget can never wait for each other forever.
    pub async fn grow(
        &self,
        r: &mut Reservation,
        bytes: usize,
        app: &Arc<App>,
    ) -> Result<(), ApiError> {
        let want = bytes.div_ceil(UNIT).max(1);
        if want <= r.units {
            return Ok(());
        }
        if want > self.units {
            app.metrics.budget_refused.fetch_add(1, Relaxed);
            return Err(self.too_big(bytes));
        }
        let extra = want - r.units;
        if let Ok(p) = self.sem.clone().try_acquire_many_owned(extra as u32) {
            if let Some(held) = r.permit.as_mut() {
                held.merge(p);
            }
            r.units = want;
            app.metrics
                .budget_in_use
                .fetch_add((extra * UNIT) as u64, Relaxed);
            return Ok(());
        }
        *r = Reservation {
            permit: None,
            units: 0,
            app_in_use: None,
        };
        *r = self.acquire(bytes, app).await?;
        Ok(())
    }
}

/// A response body that keeps its request's budget reservation until it is sent.
pub struct ReservedBody {
    inner: Body,
    _reservation: Reservation,
}

impl ReservedBody {
    /// Ties `reservation` to `inner`: the room is given back when the body is dropped.
    pub fn new(inner: Body, reservation: Reservation) -> Self {
        ReservedBody {
            inner,
            _reservation: reservation,
        }
    }
}

impl http_body::Body for ReservedBody {
    type Data = Bytes;
    type Error = axum::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

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
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
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
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(io, svc);
            tokio::pin!(conn);
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
                    _ = conn.as_mut() => break,
                    r = stop.changed(), if !stopping => {
                        stopping = true;
                        if r.is_ok() {
                            conn.as_mut().graceful_shutdown();
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
