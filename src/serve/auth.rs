//! Who may call which route of `cardseg serve`: the bearer tokens of the scoring routes
//! (one from `--token-env`, or any of those in `--token-file`) and of `GET /metrics`
//! (the same, none with `--public-metrics`, or those of `--metrics-token-file`). Token
//! files are read again on SIGHUP, so a token is rotated by adding the new one, reloading,
//! moving the clients over, then removing the old one and reloading again.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Largest token file read (a few hundred tokens).
const MAX_TOKEN_FILE: u64 = 64 << 10;

/// A token, compared by its digest.
pub type TokenDigest = [u8; 32];

/// SHA-256 of `bytes`: tokens are compared by digest.
pub fn sha256(bytes: &[u8]) -> TokenDigest {
    Sha256::digest(bytes).into()
}

/// Compares two digests in time independent of where they differ. Comparing digests
/// rather than the tokens also hides the token's length.
pub fn digests_equal(a: &TokenDigest, b: &TokenDigest) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Where the scoring token(s) come from.
#[derive(Debug, Clone)]
pub enum TokenSource {
    /// One token, read from an environment variable at start (`--token-env`).
    Value(String),
    /// Tokens in a file, one per line, read again on SIGHUP (`--token-file`).
    File(PathBuf),
}

/// Who may read `GET /metrics`.
#[derive(Debug, Clone, Default)]
pub enum MetricsAccess {
    /// Whoever may score (the default).
    #[default]
    Scoring,
    /// Anyone (`--public-metrics`).
    Public,
    /// Only the holders of a token in this file, not the scoring tokens
    /// (`--metrics-token-file`); read again on SIGHUP.
    File(PathBuf),
}

/// The access rules of the server.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The scoring token(s); None serves without a token.
    pub scoring: Option<TokenSource>,
    /// Who may read the metrics.
    pub metrics: MetricsAccess,
}

impl Access {
    /// True when some token comes from a file (so SIGHUP reads the files again).
    pub fn has_files(&self) -> bool {
        matches!(self.scoring, Some(TokenSource::File(_)))
            || matches!(self.metrics, MetricsAccess::File(_))
    }
}

/// The digests each kind of route accepts (None: no token needed).
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    /// Every route but the probes, the OpenAPI document and the metrics.
    pub scoring: Option<Vec<TokenDigest>>,
    /// `GET /metrics`.
    pub metrics: Option<Vec<TokenDigest>>,
}

impl Tokens {
    /// Reads the tokens `access` names (token files are read now).
    pub fn load(access: &Access) -> Result<Tokens> {
        let scoring = match &access.scoring {
            None => None,
            Some(TokenSource::Value(t)) => Some(vec![sha256(t.as_bytes())]),
            Some(TokenSource::File(p)) => Some(read_token_file(p)?),
        };
        let metrics = match &access.metrics {
            MetricsAccess::Scoring => scoring.clone(),
            MetricsAccess::Public => None,
            MetricsAccess::File(p) => Some(read_token_file(p)?),
        };
        Ok(Tokens { scoring, metrics })
    }

    /// The tokens `path` needs; None when it needs none.
    pub fn for_path(&self, path: &str) -> Option<&[TokenDigest]> {
        match path {
            "/healthz" | "/livez" | "/readyz" | "/openapi.json" => None,
            "/metrics" => self.metrics.as_deref(),
            _ => self.scoring.as_deref(),
        }
    }
}

/// True when `presented` is one of `wanted` (every one is compared, so the time does not
/// tell which matched).
pub fn accepts(wanted: &[TokenDigest], presented: &TokenDigest) -> bool {
    wanted
        .iter()
        .fold(false, |ok, w| digests_equal(w, presented) | ok)
}

/// The tokens of a token file: one per line; blank lines and lines starting with `#` are
/// skipped, spaces around a token are not part of it.
pub fn read_token_file(path: &Path) -> Result<Vec<TokenDigest>> {
    let shown = path.display();
    let bytes = crate::readback::read_small(path, MAX_TOKEN_FILE, "reading the token file")?
        .ok_or_else(|| {
            Error::usage(format!(
                "{shown}: the token file is larger than {} KiB; put one token per line",
                MAX_TOKEN_FILE >> 10
            ))
        })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Error::usage(format!(
            "{shown}: the token file is not UTF-8 text; put one token per line"
        ))
    })?;
    let tokens: Vec<TokenDigest> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|t| sha256(t.as_bytes()))
        .collect();
    if tokens.is_empty() {
        return Err(Error::usage(format!(
            "{shown}: the token file holds no token; put one token per line"
        )));
    }
    Ok(tokens)
}

/// A warning when a token file can be read by other users than its owner.
pub fn permission_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "warning: {} can be read by other users (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_digests() {
        assert!(digests_equal(&sha256(b"abc"), &sha256(b"abc")));
        assert!(!digests_equal(&sha256(b"abc"), &sha256(b"abd")));
        assert!(!digests_equal(&sha256(b"abc"), &sha256(b"abcabc")));
        let two = [sha256(b"old"), sha256(b"new")];
        assert!(accepts(&two, &sha256(b"new")) && accepts(&two, &sha256(b"old")));
        assert!(!accepts(&two, &sha256(b"other")));
    }

    #[test]
    fn token_files_hold_one_token_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tokens");
        std::fs::write(&p, "# rotated monthly\n  first \n\nsecond\n").unwrap();
        let t = read_token_file(&p).unwrap();
        assert_eq!(t, vec![sha256(b"first"), sha256(b"second")]);
        std::fs::write(&p, "# nothing\n\n").unwrap();
        let e = read_token_file(&p).unwrap_err().to_string();
        assert!(e.contains("holds no token"), "{e}");
        let access = Access {
            scoring: Some(TokenSource::Value("s".into())),
            metrics: MetricsAccess::Public,
        };
        let tokens = Tokens::load(&access).unwrap();
        assert!(tokens.for_path("/metrics").is_none());
        assert!(tokens.for_path("/readyz").is_none());
        assert_eq!(tokens.for_path("/v1/score"), Some(&[sha256(b"s")][..]));
    }
}
