//! Counters for `GET /metrics`, rendered in the Prometheus text format (version 0.0.4).
//! Routes are a fixed set (unknown paths count as "other", request heads that could not be
//! parsed as "unparsed"), so label cardinality is bounded.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

/// Route labels: every path the router answers, then "other" (unknown paths) and
/// [`UNPARSED`]. The router's routes, the OpenAPI document and the metrics all come from
/// this list (tests check each against it).
pub const ROUTES: [&str; 9] = [
    "/v1/score",
    "/v1/model",
    "/healthz",
    "/metrics",
    "/livez",
    "/readyz",
    "/openapi.json",
    "other",
    UNPARSED,
];

/// The route label of requests whose head could not be parsed (no path is known).
pub const UNPARSED: &str = "unparsed";

/// Where "other" is in [`ROUTES`].
const OTHER: usize = ROUTES.len() - 2;

/// The paths the router answers: [`ROUTES`] without "other" and "unparsed".
pub fn known_paths() -> &'static [&'static str] {
    &ROUTES[..OTHER]
}

/// Why a SIGHUP reload was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The file did not load or verify.
    Invalid,
    /// Its checksum is not the one `--expect-checksum` pins.
    Checksum,
    /// Its features, id column or scaler kind differ (without `--allow-schema-change`).
    Schema,
}

impl Refusal {
    const ALL: [Refusal; 3] = [Refusal::Invalid, Refusal::Checksum, Refusal::Schema];
    fn label(self) -> &'static str {
        match self {
            Refusal::Invalid => "invalid",
            Refusal::Checksum => "checksum",
            Refusal::Schema => "schema",
        }
    }
}

/// What the metrics say about the model being served.
pub struct ModelLabels<'a> {
    /// Its checksum.
    pub checksum: &'a str,
    /// Its generation in a chain of retrains.
    pub generation: u32,
    /// The cardseg version that trained it.
    pub cardseg_version: &'a str,
    /// When its file was written (Unix seconds), if known.
    pub written_unix: Option<u64>,
    /// When it was loaded (Unix seconds).
    pub loaded_unix: u64,
}

/// A Prometheus label value: backslash, double quote and newline escaped.
fn label_value(o: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
}

/// RFC 3339 UTC with seconds, from Unix seconds.
fn unix_time(secs: u64) -> String {
    let mut s = String::with_capacity(24);
    super::log::push_time(&mut s, std::time::UNIX_EPOCH + Duration::from_secs(secs));
    // push_time writes milliseconds, always .000 here.
    s.replace(".000Z", "Z")
}

/// The process's resident memory (bytes), CPU time (seconds) and open file descriptors,
/// from /proc/self (None where it cannot be read).
fn process_stats() -> (Option<u64>, Option<f64>, Option<u64>) {
    // SAFETY: sysconf has no preconditions.
    let (page, ticks) = unsafe {
        (
            libc::sysconf(libc::_SC_PAGESIZE),
            libc::sysconf(libc::_SC_CLK_TCK),
        )
    };
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * page.max(1) as u64);
    // Fields after the command name (which may hold spaces, so split after its ')').
    let cpu = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = f.get(11)?.parse().ok()?;
            let stime: u64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) as f64 / ticks.max(1) as f64)
        });
    let fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count().saturating_sub(1) as u64);
    (rss, cpu, fds)
}

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The route label of a request path ("other" for unknown paths, so an attacker cannot
/// grow the label set).
pub fn route_label(path: &str) -> &'static str {
    ROUTES[route_index(path)]
}

/// A label passes as itself ("unparsed" is never a request path: those start with '/').
fn route_index(path: &str) -> usize {
    ROUTES.iter().position(|r| *r == path).unwrap_or(OTHER)
}

#[derive(Default)]
struct Histogram {
    /// Per bucket (not cumulative); the last slot is +Inf.
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

/// Every counter of the server, shared by all requests (atomics; the per-status counts
/// behind a mutex).
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(usize, u16), u64>>,
    latency: [Histogram; ROUTES.len()],
    customers_scored: AtomicU64,
    customers_unscored: AtomicU64,
    client_errors: AtomicU64,
    server_errors: AtomicU64,
    panics: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    /// Refused reloads by [`Refusal`] (in the order of `Refusal::ALL`).
    reload_refusals: [AtomicU64; 3],
    /// Customers scored with at least one feature filled in (imputed).
    customers_imputed: AtomicU64,
    /// Connection layer: client connections open now.
    pub connections_open: AtomicU64,
    /// Connections accepted (under `--max-connections`).
    pub connections_accepted: AtomicU64,
    /// Connections closed at once because `--max-connections` were open.
    pub connections_refused: AtomicU64,
    /// Connections closed after `--idle-timeout` without a request.
    pub connections_idle_closed: AtomicU64,
    /// Connections closed because a request head took longer than `--header-timeout`.
    pub connections_header_closed: AtomicU64,
    /// Request memory budget: bytes reserved now.
    pub budget_in_use: AtomicU64,
    /// Requests that had to wait for room in the budget.
    pub budget_waited: AtomicU64,
    /// Requests refused for want of room (503) or larger than the whole budget (413).
    pub budget_refused: AtomicU64,
    /// The configured limits, exported as gauges (set once at start).
    pub limits: Mutex<Vec<(&'static str, &'static str, u64)>>,
}

impl Metrics {
    /// Counts one answer of `path` with `status`, and its latency.
    pub fn record(&self, path: &str, status: u16, elapsed: Duration) {
        let r = route_index(path);
        {
            let mut m = self.requests.lock().unwrap_or_else(|e| e.into_inner());
            *m.entry((r, status)).or_insert(0) += 1;
        }
        let secs = elapsed.as_secs_f64();
        let b = BUCKETS
            .iter()
            .position(|&ub| secs <= ub)
            .unwrap_or(BUCKETS.len());
        let h = &self.latency[r];
        h.counts[b].fetch_add(1, Relaxed);
        h.sum_nanos
            .fetch_add(elapsed.as_nanos().min(u64::MAX as u128) as u64, Relaxed);
        if (400..500).contains(&status) {
            self.client_errors.fetch_add(1, Relaxed);
        } else if status >= 500 {
            self.server_errors.fetch_add(1, Relaxed);
        }
    }
    /// Counts the customers of one scoring request: scored and not.
    pub fn scored(&self, scored: usize, unscored: usize) {
        self.customers_scored.fetch_add(scored as u64, Relaxed);
        self.customers_unscored.fetch_add(unscored as u64, Relaxed);
    }
    /// Counts customers scored with a feature filled in.
    pub fn imputed(&self, n: usize) {
        self.customers_imputed.fetch_add(n as u64, Relaxed);
    }
    /// Counts a handler that panicked (answered 500).
    pub fn panicked(&self) {
        self.panics.fetch_add(1, Relaxed);
    }
    /// Counts a SIGHUP reload, swapped in (`ok`) or refused.
    pub fn reloaded(&self, ok: bool) {
        if ok {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        }
        .fetch_add(1, Relaxed);
    }

    /// Counts a refused reload by its reason.
    pub fn refused(&self, why: Refusal) {
        let i = Refusal::ALL.iter().position(|r| *r == why).unwrap_or(0);
        self.reload_refusals[i].fetch_add(1, Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self, model: &ModelLabels<'_>) -> String {
        let (checksum, loaded_unix) = (model.checksum, model.loaded_unix);
        let mut o = String::with_capacity(4096);
        o.push_str("# HELP cardseg_http_requests_total HTTP requests answered, by route and status code.\n");
        o.push_str("# TYPE cardseg_http_requests_total counter\n");
        {
            let m = self.requests.lock().unwrap_or_else(|e| e.into_inner());
            for ((r, status), n) in m.iter() {
                let _ = writeln!(
                    o,
                    "cardseg_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                    ROUTES[*r]
                );
            }
        }
        o.push_str("# HELP cardseg_http_errors_total HTTP responses with an error status, by class (client: 4xx, server: 5xx).\n");
        o.push_str("# TYPE cardseg_http_errors_total counter\n");
        let _ = writeln!(
            o,
            "cardseg_http_errors_total{{class=\"client\"}} {}",
            self.client_errors.load(Relaxed)
        );
        let _ = writeln!(
            o,
            "cardseg_http_errors_total{{class=\"server\"}} {}",
            self.server_errors.load(Relaxed)
        );
        o.push_str("# HELP cardseg_http_request_duration_seconds Time from request to response head, by route.\n");
        o.push_str("# TYPE cardseg_http_request_duration_seconds histogram\n");
        for (r, h) in self.latency.iter().enumerate() {
            let route = ROUTES[r];
            let mut cumulative = 0u64;
            for (i, ub) in BUCKETS.iter().enumerate() {
                cumulative += h.counts[i].load(Relaxed);
                let _ = writeln!(o, "cardseg_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{ub}\"}} {cumulative}");
            }
            cumulative += h.counts[BUCKETS.len()].load(Relaxed);
            let _ = writeln!(o, "cardseg_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {cumulative}");
            let sum = h.sum_nanos.load(Relaxed) as f64 / 1e9;
            let _ = writeln!(
                o,
                "cardseg_http_request_duration_seconds_sum{{route=\"{route}\"}} {sum}"
            );
            let _ = writeln!(
                o,
                "cardseg_http_request_duration_seconds_count{{route=\"{route}\"}} {cumulative}"
            );
        }
        o.push_str("# HELP cardseg_customers_scored_total Customers given a segment.\n");
        o.push_str("# TYPE cardseg_customers_scored_total counter\n");
        let _ = writeln!(
            o,
            "cardseg_customers_scored_total {}",
            self.customers_scored.load(Relaxed)
        );
        o.push_str("# HELP cardseg_customers_unscored_total Customers left without a segment (missing features under the drop policy).\n");
        o.push_str("# TYPE cardseg_customers_unscored_total counter\n");
        let _ = writeln!(
            o,
            "cardseg_customers_unscored_total {}",
            self.customers_unscored.load(Relaxed)
        );
        o.push_str("# HELP cardseg_customers_imputed_total Customers scored with at least one missing feature filled with the model's fill value (marked \"imputed\" in the answer).\n");
        o.push_str("# TYPE cardseg_customers_imputed_total counter\n");
        let _ = writeln!(
            o,
            "cardseg_customers_imputed_total {}",
            self.customers_imputed.load(Relaxed)
        );
        let gauges: [(&str, &str, &str, &AtomicU64); 2] = [
            ("cardseg_connections_open", "gauge", "Client connections open now.", &self.connections_open),
            ("cardseg_request_memory_reserved_bytes", "gauge", "Bytes of the request memory budget (--memory-budget) reserved by requests being read or scored.", &self.budget_in_use),
        ];
        let counters: [(&str, &str, &str, &AtomicU64); 3] = [
            (
                "cardseg_connections_accepted_total",
                "counter",
                "Client connections accepted.",
                &self.connections_accepted,
            ),
            (
                "cardseg_connections_refused_total",
                "counter",
                "Connections closed at once because --max-connections were open.",
                &self.connections_refused,
            ),
            (
                "cardseg_request_memory_waits_total",
                "counter",
                "Requests that waited for room in the request memory budget.",
                &self.budget_waited,
            ),
        ];
        for (name, kind, help, v) in gauges.iter().chain(&counters) {
            let _ = writeln!(
                o,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                v.load(Relaxed)
            );
        }
        o.push_str("# HELP cardseg_connections_timed_out_total Connections closed by the server: no complete request head within --header-timeout, or idle past --idle-timeout.\n");
        o.push_str("# TYPE cardseg_connections_timed_out_total counter\n");
        let _ = writeln!(
            o,
            "cardseg_connections_timed_out_total{{reason=\"header\"}} {}",
            self.connections_header_closed.load(Relaxed)
        );
        let _ = writeln!(
            o,
            "cardseg_connections_timed_out_total{{reason=\"idle\"}} {}",
            self.connections_idle_closed.load(Relaxed)
        );
        o.push_str("# HELP cardseg_request_memory_refused_total Requests answered 503 because the request memory budget stayed full (or 413: larger than the whole budget).\n");
        o.push_str("# TYPE cardseg_request_memory_refused_total counter\n");
        let _ = writeln!(
            o,
            "cardseg_request_memory_refused_total {}",
            self.budget_refused.load(Relaxed)
        );
        for (name, help, v) in self.limits.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        o.push_str("# HELP cardseg_panics_total Requests that hit an internal error (answered 500; the server keeps running).\n");
        o.push_str("# TYPE cardseg_panics_total counter\n");
        let _ = writeln!(o, "cardseg_panics_total {}", self.panics.load(Relaxed));
        o.push_str("# HELP cardseg_model_reloads_total Model reloads on SIGHUP, by result.\n");
        o.push_str("# TYPE cardseg_model_reloads_total counter\n");
        let _ = writeln!(
            o,
            "cardseg_model_reloads_total{{result=\"ok\"}} {}",
            self.reloads_ok.load(Relaxed)
        );
        let _ = writeln!(
            o,
            "cardseg_model_reloads_total{{result=\"refused\"}} {}",
            self.reloads_failed.load(Relaxed)
        );
        o.push_str("# HELP cardseg_model_reload_refusals_total Model reloads on SIGHUP refused, by reason (invalid: did not load or verify; checksum: not the --expect-checksum one; schema: other features, id column or scaler kind).\n");
        o.push_str("# TYPE cardseg_model_reload_refusals_total counter\n");
        for (r, n) in Refusal::ALL.iter().zip(&self.reload_refusals) {
            let _ = writeln!(
                o,
                "cardseg_model_reload_refusals_total{{reason=\"{}\"}} {}",
                r.label(),
                n.load(Relaxed)
            );
        }
        o.push_str("# HELP cardseg_model_info The model being served (value 1): its checksum, generation in a chain of retrains, the cardseg version that trained it and when its file was written (trained_at).\n");
        o.push_str("# TYPE cardseg_model_info gauge\n");
        let _ = write!(
            o,
            "cardseg_model_info{{checksum=\"{checksum}\",generation=\"{}\",cardseg_version=\"",
            model.generation
        );
        label_value(&mut o, model.cardseg_version);
        o.push_str("\",trained_at=\"");
        if let Some(t) = model.written_unix {
            o.push_str(&unix_time(t));
        }
        o.push_str("\"} 1\n");
        o.push_str("# HELP cardseg_build_info The cardseg binary serving (value 1).\n");
        o.push_str("# TYPE cardseg_build_info gauge\n");
        let _ = writeln!(
            o,
            "cardseg_build_info{{version=\"{}\",os=\"{}\",arch=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH
        );
        let (rss, cpu, fds) = process_stats();
        if let Some(v) = rss {
            o.push_str("# HELP process_resident_memory_bytes Resident memory of the server process.\n# TYPE process_resident_memory_bytes gauge\n");
            let _ = writeln!(o, "process_resident_memory_bytes {v}");
        }
        if let Some(v) = cpu {
            o.push_str("# HELP process_cpu_seconds_total CPU time of the server process (user and system).\n# TYPE process_cpu_seconds_total counter\n");
            let _ = writeln!(o, "process_cpu_seconds_total {v}");
        }
        if let Some(v) = fds {
            o.push_str("# HELP process_open_fds Open file descriptors of the server process.\n# TYPE process_open_fds gauge\n");
            let _ = writeln!(o, "process_open_fds {v}");
        }
        o.push_str("# HELP cardseg_model_loaded_timestamp_seconds When the model being served was loaded (Unix time).\n");
        o.push_str("# TYPE cardseg_model_loaded_timestamp_seconds gauge\n");
        let _ = writeln!(o, "cardseg_model_loaded_timestamp_seconds {loaded_unix}");
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_routes_are_bounded() {
        let m = Metrics::default();
        m.record("/v1/score", 200, Duration::from_micros(300));
        m.record("/v1/score", 400, Duration::from_millis(3));
        m.record("/random/path", 404, Duration::from_micros(50));
        m.scored(7, 1);
        m.refused(Refusal::Schema);
        let t = m.render(&ModelLabels {
            checksum: "sha256:x",
            generation: 3,
            cardseg_version: "0.1.0 \"dev\"",
            written_unix: Some(1_700_000_000),
            loaded_unix: 5,
        });
        assert!(t.contains("cardseg_model_info{checksum=\"sha256:x\",generation=\"3\",cardseg_version=\"0.1.0 \\\"dev\\\"\",trained_at=\"2023-11-14T22:13:20Z\"} 1"), "{t}");
        assert!(
            t.contains("cardseg_model_reload_refusals_total{reason=\"schema\"} 1"),
            "{t}"
        );
        assert!(t.contains("cardseg_build_info{version=\""), "{t}");
        for name in [
            "process_resident_memory_bytes ",
            "process_cpu_seconds_total ",
            "process_open_fds ",
        ] {
            assert!(t.contains(name), "{name}: {t}");
        }
        assert!(
            t.contains("cardseg_http_requests_total{route=\"/v1/score\",status=\"200\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("cardseg_http_requests_total{route=\"other\",status=\"404\"} 1"),
            "{t}"
        );
        assert!(
            t.contains(
                "cardseg_http_request_duration_seconds_bucket{route=\"/v1/score\",le=\"0.0005\"} 1"
            ),
            "{t}"
        );
        assert!(
            t.contains(
                "cardseg_http_request_duration_seconds_bucket{route=\"/v1/score\",le=\"+Inf\"} 2"
            ),
            "{t}"
        );
        assert!(
            t.contains("cardseg_http_errors_total{class=\"client\"} 2"),
            "{t}"
        );
        assert!(t.contains("cardseg_customers_scored_total 7"), "{t}");
        assert!(!t.contains("random"), "{t}");
    }
}
