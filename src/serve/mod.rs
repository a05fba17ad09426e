//! `cardseg serve`: a small HTTP/1 scoring service over a saved model.
//!
//! Routes: `POST /v1/score` (JSON or CSV in), `GET /v1/model`, `GET /healthz`,
//! `GET /livez`, `GET /readyz`, `GET /metrics`, `GET /openapi.json` (the list is
//! [`metrics::ROUTES`]; `openapi` documents each). Scoring goes through
//! [`crate::predict::score_columns`], the same code path as `cardseg predict`, so both
//! give every customer the same segment.
//!
//! Operations: SIGHUP reads the token files again and reloads the model file (a file that
//! fails to load, is not the `--expect-checksum` one, or changes the features, id column or
//! scaler kind, is refused and the old model keeps serving); SIGTERM or Ctrl-C turn
//! `/readyz` to 503 at once, keep serving for the drain period (every answer closing its
//! connection), then stop accepting connections and let in-flight requests finish (for
//! at most [`SHUTDOWN_GRACE`]). Every error is a JSON `{"error": "..."}` with a fitting
//! status, a request head hyper cannot parse included (`conn`); a panic in a handler is answered 500 and counted, and the server keeps
//! running. Every answer is logged on stderr (`log`).
//!
//! Connections (see [`Limits`]): at most `max_connections` are open (more are closed at
//! once and counted); a connection that sends part of a request head and stalls is closed
//! after `header_timeout`, one that sends nothing after `idle_timeout`; request bodies and
//! the work of scoring them reserve room in a byte budget (`memory_budget`) before they are
//! read and scored, so concurrent large (or small gzip) bodies wait their turn instead of
//! exhausting memory.
//!
//! Files: `state` holds the loaded model and the SIGHUP reload, `errors` the one
//! [`ApiError`] type, `body` reads and bounds request bodies, `score` turns parsed rows
//! into answers, `layers` is the middleware (token, panics, request ids, metrics, access
//! log), `auth` the tokens, `log` the log lines, `router` the routes and handlers,
//! `openapi` the API's OpenAPI document, `conn` the connection layer and the memory budget.

mod auth;
mod body;
mod budget;
mod conn;
mod csv_answer;
mod errors;
mod layers;
mod log;
pub mod metrics;
mod openapi;
pub mod parse;
mod router;
mod score;
mod state;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

pub use auth::{Access, MetricsAccess, TokenSource};
pub use body::BodyKind;
pub use errors::ApiError;
pub use log::LogFormat;
pub use score::{score_csv, score_json, Scored};
pub use state::{normalize_checksum, schema_change, Loaded, Policy};

use crate::error::{Error, Result};
use crate::model::Model;
use auth::Tokens;
use router::router;
use state::{reload, App};

/// Most customers one JSON request may carry (CSV bodies are bounded by `--max-body`).
pub const MAX_CUSTOMERS_PER_REQUEST: usize = 10_000;
/// Default `--max-body`: 16 MiB, room for 10,000 full CC GENERAL records as JSON.
pub const DEFAULT_MAX_BODY: usize = 16 << 20;
/// A request body must arrive within this time (slow clients get 408).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `--drain-seconds`: after SIGTERM, how long the server keeps answering (with
/// `/readyz` at 503) so load balancers take it out of rotation before it stops accepting.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(5);
/// After the drain, in-flight requests get this long to finish before the process exits.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Bodies up to this size are scored on the async worker; larger ones on the blocking pool.
const INLINE_BYTES: usize = 64 << 10;
/// Bytes of memory one byte of a (decompressed) CSV body costs while it is parsed and
/// scored: the text, the f64 columns (8 bytes per cell of often 2-3 bytes), ids and the
/// answer. Measured: about 6.5 on 15 MB of short numeric rows; 12 leaves headroom
/// (tests/serve.rs checks that concurrent requests stay within the budget).
pub const CSV_COST_FACTOR: usize = 12;
/// The same for JSON bodies (keys repeat, so values are a smaller share of the text).
pub const JSON_COST_FACTOR: usize = 4;

/// Connection-layer limits of `cardseg serve` (each a flag; see the README).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A request head must be complete this long after its first byte.
    pub header_timeout: Duration,
    /// A connection with no request in flight and no bytes moving is closed after this.
    pub idle_timeout: Duration,
    /// Most client connections open at once; more are closed right after accept.
    pub max_connections: usize,
    /// Bytes that request bodies and their scoring may hold at once, across requests.
    pub memory_budget: usize,
}

/// Default `--header-timeout`.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `--idle-timeout`.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `--max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Default `--memory-budget`: 1 GiB.
pub const DEFAULT_MEMORY_BUDGET: usize = 1 << 30;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            memory_budget: DEFAULT_MEMORY_BUDGET,
        }
    }
}

/// What `cardseg serve` was asked to do.
#[derive(Debug, Clone)]
pub struct Config {
    /// The model file (`--model`), read again on SIGHUP.
    pub model_path: PathBuf,
    /// Where to listen (`--addr`); port 0 picks a free port.
    pub addr: SocketAddr,
    /// Tokens, the pinned checksum, and whether a reload may change the schema.
    pub policy: Policy,
    /// Largest request body accepted, in bytes (`--max-body`).
    pub max_body: usize,
    /// The connection-layer limits.
    pub limits: Limits,
    /// How long to keep answering after SIGTERM (`--drain-seconds`).
    pub drain: Duration,
    /// How log lines are written (`--log-format`).
    pub log_format: LogFormat,
    /// Print the readiness line as one JSON object (`--json`) instead of text.
    pub ready_json: bool,
}

/// Loads the model, binds `config.addr`, prints `listening on http://ADDR`, and serves
/// until SIGTERM or Ctrl-C.
pub fn run(mut config: Config) -> Result<()> {
    let (model, checksum) = Model::load(&config.model_path)?;
    if let Some(want) = &mut config.policy.expect_checksum {
        *want = normalize_checksum(want);
        if &checksum != want {
            return Err(Error::model(
                config.model_path.display().to_string(),
                format!("has checksum {checksum}, and --expect-checksum pins {want}; serve the pinned model or change the pin"),
            ));
        }
    }
    let tokens = Tokens::load(&config.policy.access)?;
    if model.distance_quantiles.is_empty() {
        config
            .log_format
            .event(crate::lifecycle::outliers::NO_QUANTILES_NOTICE);
    }
    let loaded = Loaded::new(model, checksum, &config.model_path, config.max_body);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("cardseg-serve")
        .build()
        .map_err(|e| Error::io(Path::new("tokio runtime"), "starting", e))?;
    let result = rt.block_on(serve(config, loaded, tokens));
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn serve(config: Config, loaded: Loaded, tokens: Tokens) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let shown_addr = config.addr.to_string();
    let sig_err = |e| Error::io(Path::new("signal handler"), "installing", e);
    // Installed before anything is printed, so a signal sent as soon as the server says
    // it is listening is handled, never the default action.
    let mut hup = signal(SignalKind::hangup()).map_err(sig_err)?;
    let mut term = signal(SignalKind::terminate()).map_err(sig_err)?;
    let mut int = signal(SignalKind::interrupt()).map_err(sig_err)?;

    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| Error::io(Path::new(&shown_addr), "binding", e))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::io(Path::new(&shown_addr), "binding", e))?;
    let drain = config.drain;
    let app = Arc::new(App::new(
        loaded,
        config.model_path.clone(),
        config.max_body,
        config.limits.memory_budget,
        tokens,
        config.log_format,
        config.policy.clone(),
    ));
    let log = &app.log;
    if let Some(w) = exposure_warning(&local, config.policy.access.scoring.is_some()) {
        log.event(&w);
    }
    for file in [
        match &config.policy.access.scoring {
            Some(TokenSource::File(p)) => Some(p),
            _ => None,
        },
        match &config.policy.access.metrics {
            MetricsAccess::File(p) => Some(p),
            _ => None,
        },
    ]
    .into_iter()
    .flatten()
    {
        if let Some(w) = auth::permission_warning(file) {
            log.event(&w);
        }
    }
    conn::raise_fd_limit(config.limits.max_connections);
    {
        let l = &config.limits;
        *app.metrics.limits.lock().unwrap_or_else(|e| e.into_inner()) = vec![
            (
                "cardseg_limit_max_connections",
                "Configured --max-connections.",
                l.max_connections as u64,
            ),
            (
                "cardseg_limit_header_timeout_seconds",
                "Configured --header-timeout.",
                l.header_timeout.as_secs(),
            ),
            (
                "cardseg_limit_idle_timeout_seconds",
                "Configured --idle-timeout.",
                l.idle_timeout.as_secs(),
            ),
            (
                "cardseg_limit_memory_budget_bytes",
                "Configured --memory-budget.",
                l.memory_budget as u64,
            ),
            (
                "cardseg_limit_max_body_bytes",
                "Configured --max-body.",
                config.max_body as u64,
            ),
        ];
    }
    {
        let l = app.current();
        log.event(&format!(
            "serving model {} ({}, k={}, features {})",
            config.model_path.display(),
            l.checksum,
            l.model.k,
            l.model.features.join(",")
        ));
    }

    let flusher = app.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(crate::serve::log::FLUSH_EVERY);
        loop {
            every.tick().await;
            flusher.log.flush();
        }
    });
    let reloader = app.clone();
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            reload(&reloader).await;
        }
    });

    let shutdown_started = Arc::new(tokio::sync::Notify::new());
    let started = shutdown_started.clone();
    let drainer = app.clone();
    // SIGTERM: /readyz turns 503 at once; the server keeps answering (each answer closing
    // its connection) for the drain period, or until a second signal, then stops accepting.
    let signal_future = async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        drainer.draining.store(true, Relaxed);
        drainer.log.event(&format!(
            "{name}: shutting down; /readyz answers 503, still serving for {} s (drain), then finishing in-flight requests",
            drain.as_secs_f64()
        ));
        tokio::select! {
            () = tokio::time::sleep(drain) => {},
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        drainer
            .log
            .event("drain over: no longer accepting connections; finishing in-flight requests");
        started.notify_one();
    };
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        if config.ready_json {
            let checksum = app.current().checksum.clone();
            let line = serde_json::json!({
                "command": "serve",
                "listening": format!("http://{local}"),
                "model_checksum": checksum,
                "cardseg_version": env!("CARGO_PKG_VERSION"),
            });
            let _ = writeln!(out, "{line}");
        } else {
            let _ = writeln!(out, "listening on http://{local}");
        }
        let _ = out.flush();
    }
    let server = conn::serve_connections(
        listener,
        router(app.clone()),
        config.limits,
        app.clone(),
        signal_future,
    );
    tokio::select! {
        () = server => {},
        _ = async {
            shutdown_started.notified().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            app.log.event(&format!("shutdown: requests still in flight after {} s; exiting anyway", SHUTDOWN_GRACE.as_secs()));
        }
    }
    app.log.event("stopped");
    Ok(())
}

/// The start-up warning for a server that other machines can reach without a token.
pub fn exposure_warning(addr: &SocketAddr, has_token: bool) -> Option<String> {
    (!addr.ip().is_loopback() && !has_token).then(|| {
        format!(
            "warning: serving on {addr}, which other machines can reach, without a token; anyone who can connect can score customers and read the model (set --token-file or --token-env, and put a TLS proxy in front)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposure_warning_only_for_reachable_addresses_without_a_token() {
        assert!(exposure_warning(&"127.0.0.1:1".parse().unwrap(), false).is_none());
        assert!(exposure_warning(&"[::1]:1".parse().unwrap(), false).is_none());
        assert!(exposure_warning(&"0.0.0.0:1".parse().unwrap(), true).is_none());
        let w = exposure_warning(&"0.0.0.0:8080".parse().unwrap(), false).unwrap();
        assert!(
            w.starts_with("warning: serving on 0.0.0.0:8080") && w.contains("--token-env"),
            "{w}"
        );
    }
}
