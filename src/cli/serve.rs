use std::net::SocketAddr;
use std::path::PathBuf;

use cardseg::serve::{
    Access, Config, Limits, LogFormat, MetricsAccess, Policy, TokenSource, DEFAULT_MAX_BODY,
};

/// `--log-format`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum LogFormatArg {
    /// One JSON object per line.
    Json,
    /// `time key=value ...` per line.
    Text,
}

#[derive(clap::Args)]
pub struct Args {
    /// A model.json written by `cardseg run` (reloaded on SIGHUP).
    #[arg(long)]
    pub model: PathBuf,
    /// Address to listen on; port 0 picks a free port (the chosen one is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Name of an environment variable holding a bearer token that every request except
    /// the probes (/healthz, /livez, /readyz) and /openapi.json must send
    /// (Authorization: Bearer TOKEN).
    #[arg(long, value_name = "VAR", conflicts_with = "token_file")]
    pub token_env: Option<String>,
    /// A file of bearer tokens, one per line (blank lines and # comments skipped), any of
    /// which is accepted; read again on SIGHUP, so tokens rotate without a restart.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// A file of tokens (one per line) for GET /metrics only: scrapers get these, scoring
    /// tokens do not open /metrics. Read again on SIGHUP.
    #[arg(long, value_name = "PATH", conflicts_with = "public_metrics")]
    pub metrics_token_file: Option<PathBuf>,
    /// GET /metrics needs no token (for a scraper on a private network).
    #[arg(long)]
    pub public_metrics: bool,
    /// Serve only the model with this checksum (sha256:HEX, as in model.json and
    /// /v1/model): at start and on every SIGHUP reload.
    #[arg(long, value_name = "SHA")]
    pub expect_checksum: Option<String>,
    /// Accept a SIGHUP reload whose model has other features, another id column or
    /// another scaler kind (refused by default: callers' requests would no longer fit).
    #[arg(long)]
    pub allow_schema_change: bool,
    /// After SIGTERM, keep answering this many seconds (with /readyz at 503 and every
    /// answer closing its connection) before no longer accepting connections.
    #[arg(long, value_name = "SECS", default_value_t = 5.0, value_parser = drain_seconds)]
    pub drain_seconds: f64,
    /// How the access log and the events are written on stderr.
    #[arg(long, value_enum, default_value = "json")]
    pub log_format: LogFormatArg,
    /// Largest request body accepted, in bytes, or with a K, M or G suffix (powers of
    /// 1024); larger bodies get 413. Default 16M.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_BODY, value_parser = byte_size, hide_default_value = true)]
    pub max_body: usize,
    /// Seconds a client may take to send a request head once it has started it; slower
    /// connections are closed.
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout: u64,
    /// Seconds a connection may stay open with no request in flight and nothing sent;
    /// then the server closes it.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub idle_timeout: u64,
    /// Most client connections open at once; more are closed as soon as they are accepted.
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Memory that request bodies and their scoring may hold at once, across all requests
    /// (K, M or G suffix); a request waits for room (up to 30 s, then 503), and one larger
    /// than the whole budget gets 413. Default 1G.
    #[arg(long, value_name = "BYTES", default_value_t = cardseg::serve::DEFAULT_MEMORY_BUDGET, value_parser = byte_size, hide_default_value = true)]
    pub memory_budget: usize,
}

/// `cardseg serve`: reads the token (if any) from its variable, then serves the model
/// until the process is stopped.
pub fn exec(args: Args, report: super::Report) -> cardseg::Result<()> {
    let token = match &args.token_env {
        None => None,
        Some(var) => match std::env::var(var) {
            Ok(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
            Ok(_) => return Err(cardseg::Error::usage(format!("--token-env {var}: the variable is empty; put the token in it"))),
            Err(_) => {
                return Err(cardseg::Error::usage(format!(
                    "--token-env {var}: no such environment variable (or not valid UTF-8); export {var}=TOKEN first"
                )))
            }
        },
    };
    if let Some(c) = &args.expect_checksum {
        let hex = c.trim().trim_start_matches("sha256:");
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(cardseg::Error::usage(format!(
                "--expect-checksum {c:?}: give the model's checksum, sha256: and 64 hex digits (it is in model.json and GET /v1/model)"
            )));
        }
    }
    let scoring = match (token, args.token_file) {
        (Some(t), _) => Some(TokenSource::Value(t)),
        (None, Some(p)) => Some(TokenSource::File(p)),
        (None, None) => None,
    };
    let metrics = match (args.metrics_token_file, args.public_metrics) {
        (Some(p), _) => MetricsAccess::File(p),
        (None, true) => MetricsAccess::Public,
        (None, false) => MetricsAccess::Scoring,
    };
    cardseg::serve::run(Config {
        model_path: args.model,
        addr: args.addr,
        policy: Policy {
            access: Access { scoring, metrics },
            expect_checksum: args.expect_checksum,
            allow_schema_change: args.allow_schema_change,
        },
        drain: std::time::Duration::from_secs_f64(args.drain_seconds),
        log_format: match args.log_format {
            LogFormatArg::Json => LogFormat::Json,
            LogFormatArg::Text => LogFormat::Text,
        },
        max_body: args.max_body,
        ready_json: report.json,
        limits: Limits {
            header_timeout: std::time::Duration::from_secs(args.header_timeout),
            idle_timeout: std::time::Duration::from_secs(args.idle_timeout),
            max_connections: args.max_connections as usize,
            memory_budget: args.memory_budget,
        },
    })
}

/// Seconds of drain: 0 to 3600, fractions allowed.
fn drain_seconds(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| (0.0..=3600.0).contains(v))
        .ok_or_else(|| format!("{s:?}: give a number of seconds from 0 to 3600 (e.g. 5 or 0.5)"))
}

/// "1048576", "512K", "16M", "1G" → bytes; at least 1 byte, at most 4 GiB.
fn byte_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (digits, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c.to_ascii_uppercase()),
        _ => (t, 'B'),
    };
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        _ => {
            return Err(format!(
                "{s:?}: use a number of bytes, optionally with K, M or G (e.g. 16M)"
            ))
        }
    };
    let n: u64 = digits.trim().parse().map_err(|_| {
        format!("{s:?}: use a number of bytes, optionally with K, M or G (e.g. 16M)")
    })?;
    let bytes = n
        .checked_shl(shift)
        .filter(|b| (1..=(4u64 << 30)).contains(b) && b >> shift == n);
    bytes
        .map(|b| b as usize)
        .ok_or_else(|| format!("{s:?}: the size must be between 1 byte and 4G"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn byte_sizes() {
        assert_eq!(super::byte_size("100"), Ok(100));
        assert_eq!(super::byte_size("16M"), Ok(16 << 20));
        assert_eq!(super::byte_size("2k"), Ok(2048));
        assert!(super::byte_size("0").is_err());
        assert!(super::byte_size("5G").is_err());
        assert!(super::byte_size("1.5M").is_err());
        assert!(super::byte_size("12X").is_err());
    }
}
