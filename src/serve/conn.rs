//! The connection layer of `cardseg serve`: an accept loop with a connection limit, a
//! per-connection watchdog for the header-read and idle timeouts, and the byte budget
//! that request bodies reserve before they are read and scored.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;

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
