use std::net::SocketAddr;
use std::path::PathBuf;

use cardseg::serve::{Config, Limits, DEFAULT_MAX_BODY};

#[derive(clap::Args)]
pub struct Args {
    /// A model.json written by `cardseg run` (reloaded on SIGHUP).
    #[arg(long)]
    pub model: PathBuf,
    /// Address to listen on; port 0 picks a free port (the chosen one is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Name of an environment variable holding a bearer token that every request except
    /// GET /healthz must send (Authorization: Bearer TOKEN).
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
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
pub fn exec(args: Args) -> cardseg::Result<()> {
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
    cardseg::serve::run(Config {
        model_path: args.model,
        addr: args.addr,
        token,
        max_body: args.max_body,
        limits: Limits {
            header_timeout: std::time::Duration::from_secs(args.header_timeout),
            idle_timeout: std::time::Duration::from_secs(args.idle_timeout),
            max_connections: args.max_connections as usize,
            memory_budget: args.memory_budget,
        },
    })
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
