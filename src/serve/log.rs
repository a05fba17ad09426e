//! The log of `cardseg serve` on stderr: one access-log line per request and one line per
//! server event (start, reload, drain, stop), as JSON objects (the default: log collectors
//! parse them without a pattern) or as `key=value` text (`--log-format text`).
//!
//! Access lines are formatted straight into one shared buffer (no allocation per request)
//! and written in batches: when [`FLUSH_BYTES`] have gathered, every [`FLUSH_EVERY`] (the
//! server's flusher), and before every event line, so lines keep their order and never
//! interleave, and a request costs no `write` system call of its own. A line's fields are
//! numbers, fixed route labels, HTTP method tokens, checksums or request ids checked by
//! [`valid_request_id`], none of which needs JSON escaping.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Access lines are written once this many bytes have gathered.
pub const FLUSH_BYTES: usize = 32 << 10;
/// ... or after this long at most.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// The server's log on stderr: its format and the access lines not yet written.
pub struct Log {
    /// How lines are written.
    pub format: LogFormat,
    pending: Mutex<String>,
    /// Held while writing, so batches and events reach stderr in order.
    writer: Mutex<()>,
}

impl Log {
    /// A log in `format`.
    pub fn new(format: LogFormat) -> Log {
        Log {
            format,
            pending: Mutex::new(String::with_capacity(FLUSH_BYTES + 1024)),
            writer: Mutex::new(()),
        }
    }

    /// Adds the access line of one request (written with the next batch).
    pub fn access(&self, a: &Access<'_>) {
        let full = {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            self.format.write_access(&mut p, a, SystemTime::now());
            p.len() >= FLUSH_BYTES
        };
        if full {
            self.flush();
        }
    }

    /// Writes the access lines gathered so far.
    pub fn flush(&self) {
        let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if p.is_empty() {
            return;
        }
        let _ = std::io::stderr().write_all(p.as_bytes());
        p.clear();
    }

    /// Writes one event line, after the access lines before it.
    pub fn event(&self, message: &str) {
        self.flush();
        let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        self.format.event(message);
    }
}

/// How the log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One JSON object per line.
    #[default]
    Json,
    /// `time key=value ...` per line.
    Text,
}

/// What one access-log line says about a request.
pub struct Access<'a> {
    /// The request id (the client's `X-Request-Id`, or one the server made).
    pub request_id: &'a str,
    /// The request method.
    pub method: &'a str,
    /// The route label (unknown paths are "other").
    pub route: &'static str,
    /// The answer's status code.
    pub status: u16,
    /// Customers in the request (scoring requests; 0 otherwise).
    pub customers: usize,
    /// Time from the request head to the answer's head.
    pub duration: Duration,
    /// The model that answered.
    pub model_checksum: &'a str,
}

impl LogFormat {
    /// Writes one line about a server event (`message` is escaped as needed).
    pub fn event(self, message: &str) {
        let mut line = String::with_capacity(message.len() + 64);
        line.push_str(match self {
            LogFormat::Json => "{\"time\":\"",
            LogFormat::Text => "",
        });
        push_time(&mut line, SystemTime::now());
        match self {
            LogFormat::Json => {
                line.push_str("\",\"event\":");
                line.push_str(&serde_json::to_string(message).unwrap_or_default());
                line.push('}');
            }
            LogFormat::Text => {
                line.push(' ');
                line.push_str(message);
            }
        }
        line.push('\n');
        let _ = std::io::stderr().write_all(line.as_bytes());
    }

    /// The access-log line of one request answered at `now`, newline included.
    #[cfg(test)]
    pub fn access_line(self, a: &Access<'_>, now: SystemTime) -> String {
        let mut line = String::new();
        self.write_access(&mut line, a, now);
        line
    }

    /// Appends the access-log line of one request answered at `now`, newline included.
    pub fn write_access(self, line: &mut String, a: &Access<'_>, now: SystemTime) {
        let micros = a.duration.as_micros().min(u64::MAX as u128) as u64;
        let (ms, frac) = (micros / 1000, micros % 1000);
        match self {
            LogFormat::Json => {
                line.push_str("{\"time\":\"");
                push_time(line, now);
                let _ = write!(
                    line,
                    "\",\"request_id\":\"{}\",\"method\":\"{}\",\"route\":\"{}\",\"status\":{},\"customers\":{},\"duration_ms\":{ms}.{frac:03},\"model_checksum\":\"{}\"}}",
                    a.request_id, a.method, a.route, a.status, a.customers, a.model_checksum
                );
            }
            LogFormat::Text => {
                push_time(line, now);
                let _ = write!(
                    line,
                    " request_id={} method={} route={} status={} customers={} duration_ms={ms}.{frac:03} model_checksum={}",
                    a.request_id, a.method, a.route, a.status, a.customers, a.model_checksum
                );
            }
        }
        line.push('\n');
    }
}

/// Longest client request id kept; a longer one is replaced by a generated id.
pub const MAX_REQUEST_ID: usize = 128;

/// A client's `X-Request-Id` is kept when it is 1 to [`MAX_REQUEST_ID`] characters of
/// letters, digits and `-_.:/+=@`: safe in a JSON string, a log line and a header
/// without escaping.
pub fn valid_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(b))
}

/// Makes request ids: a per-process random prefix and a counter, as 32 hex digits.
pub struct RequestIds {
    prefix: u64,
    next: AtomicU64,
}

impl Default for RequestIds {
    fn default() -> Self {
        let mut seed = [0u8; 8];
        let from_os = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut seed));
        let prefix = if from_os.is_ok() {
            u64::from_le_bytes(seed)
        } else {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            nanos ^ (u64::from(std::process::id()) << 32)
        };
        RequestIds {
            prefix,
            next: AtomicU64::new(1),
        }
    }
}

impl RequestIds {
    /// The next id: 32 lowercase hex digits.
    pub fn next(&self) -> [u8; 32] {
        let n = self.next.fetch_add(1, Relaxed);
        let mut out = [0u8; 32];
        for (i, v) in [self.prefix, n].into_iter().enumerate() {
            for j in 0..16 {
                let nibble = (v >> (60 - 4 * j)) & 0xf;
                out[i * 16 + j] = b"0123456789abcdef"[nibble as usize];
            }
        }
        out
    }
}

/// Appends `t` as an RFC 3339 UTC time with milliseconds (`2026-12-06T23:59:59.123Z`).
pub fn push_time(out: &mut String, t: SystemTime) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = crate::text::civil_from_days(days);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(secs * 1000 + millis)
    }

    #[test]
    fn times_are_rfc3339_utc_with_milliseconds() {
        for (secs, want) in [
            (0, "1970-01-01T00:00:00.007Z"),
            (951_782_400, "2000-02-29T00:00:00.007Z"),
            (1_700_000_000, "2023-11-14T22:13:20.007Z"),
            (4_107_542_399, "2100-02-28T23:59:59.007Z"),
        ] {
            let mut s = String::new();
            push_time(&mut s, at(secs, 7));
            assert_eq!(s, want);
        }
    }

    #[test]
    fn access_lines_are_json_or_text() {
        let a = Access {
            request_id: "abc-1",
            method: "POST",
            route: "/v1/score",
            status: 200,
            customers: 3,
            duration: Duration::from_micros(1234),
            model_checksum: "sha256:x",
        };
        let line = LogFormat::Json.access_line(&a, at(1_700_000_000, 5));
        assert!(line.ends_with("}\n"), "{line}");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["time"], "2023-11-14T22:13:20.005Z");
        assert_eq!(v["request_id"], "abc-1");
        assert_eq!(v["route"], "/v1/score");
        assert_eq!(v["status"], 200);
        assert_eq!(v["customers"], 3);
        assert_eq!(v["duration_ms"], 1.234);
        assert_eq!(v["model_checksum"], "sha256:x");
        let text = LogFormat::Text.access_line(&a, at(1_700_000_000, 5));
        assert_eq!(text, "2023-11-14T22:13:20.005Z request_id=abc-1 method=POST route=/v1/score status=200 customers=3 duration_ms=1.234 model_checksum=sha256:x\n");
    }

    #[test]
    fn access_lines_gather_until_flushed_and_keep_their_order() {
        let log = Log::new(LogFormat::Text);
        let a = Access {
            request_id: "x",
            method: "GET",
            route: "/livez",
            status: 200,
            customers: 0,
            duration: Duration::ZERO,
            model_checksum: "sha256:x",
        };
        log.access(&a);
        log.access(&a);
        assert_eq!(
            log.pending.lock().unwrap().matches("request_id=x").count(),
            2
        );
        log.flush();
        assert!(log.pending.lock().unwrap().is_empty());
        // A full batch is written at once.
        for _ in 0..FLUSH_BYTES / 64 {
            log.access(&a);
        }
        assert!(log.pending.lock().unwrap().len() < FLUSH_BYTES);
    }

    #[test]
    fn request_ids_are_checked_and_generated_unique() {
        assert!(valid_request_id(b"0f8c-Ab_1.2:3/4+5=6@x"));
        for bad in [
            &b""[..],
            b"a b",
            b"a\"b",
            b"a\\b",
            b"\xc3\xa9",
            &[b'a'; 129],
        ] {
            assert!(!valid_request_id(bad), "{bad:?}");
        }
        let ids = RequestIds::default();
        let (a, b) = (ids.next(), ids.next());
        assert_ne!(a, b);
        assert!(valid_request_id(&a) && a.iter().all(u8::is_ascii_hexdigit));
    }
}
