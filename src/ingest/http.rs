//! HTTP(S) APIs: `--input http://...` or `https://...` answering CSV or JSON.
//!
//! JSON is an array of customer objects, or a page object `{"data": [...], "next":
//! URL}` (also `items`, `results`, `rows` or `customers` for the array); pages are
//! followed through `next` and through a `Link: <URL>; rel="next"` header, relative
//! links resolved against the page. Numbers and numeric strings are numbers, `null` and
//! absent keys are missing; columns come in the order keys first appear.
//!
//! A bearer token is read from the environment variable named by `--token-env` and sent
//! only to the origin of `--input` (never to another host a page links to, never
//! printed). Every request has a time limit (`--timeout-secs`) and every response a size
//! limit (`--max-download-mb`); the read as a whole has limits on pages (`--max-pages`),
//! bytes (`--max-total-download-mb`) and wall time (`--total-timeout-secs`), so a server
//! that hands out endless distinct `next` links stops with one clear error instead of
//! running on. Each limit hit names the URL, the limit and the flag that raises it.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::{Error, Param, Result};
use crate::ingest::builder::{TableBuilder, Val};
use crate::ingest::{csv, redact, scrub, userinfo_secrets, Limits, ReadSpec, Source};
use crate::table::Table;

/// Reads an `http://` or `https://` source: one CSV answer, or JSON pages followed to
/// the last one.
pub fn read(source: &Source, spec: &ReadSpec) -> Result<Table> {
    let name = source.source_name();
    let token = match &source.token_env {
        Some(var) => match std::env::var(var) {
            Ok(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
            _ => {
                return Err(Error::usage(format!(
                    "{}: the environment variable {var} is not set or empty; export the API token in it",
                    Param::TokenEnv.with(var)
                )))
            }
        },
        None => None,
    };
    // The token, and the user information of the URL (often a token as the user name).
    let mut secrets: Vec<String> = token.iter().cloned().collect();
    secrets.extend(userinfo_secrets(&source.input));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(source.timeout))
        .http_status_as_error(false)
        .user_agent(concat!("cardseg/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let origin = origin_of(&source.input);
    let mut url = source.input.clone();
    let mut seen = std::collections::HashSet::new();
    let mut json = JsonRows::default();
    let mut pages = 0u64;
    let mut total_bytes = 0u64;
    let started = std::time::Instant::now();
    loop {
        if pages >= source.max_pages {
            return Err(limit_hit(
                &name,
                Limit::Pages,
                pages,
                total_bytes,
                started,
                source,
            ));
        }
        let remaining_time = source.total_timeout.saturating_sub(started.elapsed());
        if remaining_time.is_zero() {
            return Err(limit_hit(
                &name,
                Limit::Time,
                pages,
                total_bytes,
                started,
                source,
            ));
        }
        pages += 1;
        if !seen.insert(url.clone()) {
            return Err(Error::input(
                &name,
                format!(
                    "page {pages} links back to {} (a loop of next links)",
                    redact(&url)
                ),
            ));
        }
        let page_name = if pages == 1 {
            name.clone()
        } else {
            format!("{name} page {pages} ({})", redact(&url))
        };
        let mut req = agent
            .get(&url)
            .header("Accept", "application/json, text/csv;q=0.9, */*;q=0.1");
        if let (Some(t), true) = (&token, origin_of(&url) == origin) {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        // The request may use at most what is left of the read's total time; when that
        // is the tighter limit, its expiry is reported as the total limit.
        let total_bound = remaining_time < source.timeout;
        let req = req
            .config()
            .timeout_global(Some(remaining_time.min(source.timeout)))
            .build();
        let timed_out = |e: &ureq::Error| {
            matches!(e, ureq::Error::Timeout(_))
                || matches!(e, ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut
                    || io.kind() == std::io::ErrorKind::WouldBlock)
        };
        let mut resp = req.call().map_err(|e| {
            if total_bound && timed_out(&e) {
                limit_hit(&name, Limit::Time, pages - 1, total_bytes, started, source)
            } else {
                http_error(&page_name, e, source, &secrets)
            }
        })?;
        let status = resp.status();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let link_next = resp
            .headers()
            .get_all("link")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(next_from_link);
        // One response may use at most what is left of the read's total bytes; when
        // that is the tighter limit, exceeding it is reported as the total limit.
        let remaining_bytes = source.max_total_bytes.saturating_sub(total_bytes);
        let bytes_bound = remaining_bytes < source.max_bytes;
        // A body over `limit` (read, or decompressed from gzip sent without
        // `Content-Encoding`): the read's total limit when that is the tighter one, else
        // the per-answer limit.
        let too_big = |limit: u64| {
            if bytes_bound {
                limit_hit(
                    &name,
                    Limit::Bytes,
                    pages - 1,
                    source.max_total_bytes,
                    started,
                    source,
                )
            } else {
                http_error(
                    &page_name,
                    ureq::Error::BodyExceedsLimit(limit),
                    source,
                    &secrets,
                )
            }
        };
        let body = resp
            .body_mut()
            .with_config()
            .limit(remaining_bytes.min(source.max_bytes))
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(limit) => too_big(limit),
                e if total_bound && timed_out(&e) => {
                    limit_hit(&name, Limit::Time, pages - 1, total_bytes, started, source)
                }
                e => http_error(&page_name, e, source, &secrets),
            })?;
        total_bytes += body.len() as u64;
        if !status.is_success() {
            let snippet: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            let snippet = scrub(
                &snippet.split_whitespace().collect::<Vec<_>>().join(" "),
                &secrets.iter().map(String::as_str).collect::<Vec<_>>(),
            );
            let hint = match status.as_u16() {
                401 | 403 => format!(
                    " (check the token: {} names the variable that holds it)",
                    Param::TokenEnv
                ),
                404 => " (check the URL)".into(),
                429 => " (rate limited: try again later)".into(),
                _ => String::new(),
            };
            return Err(Error::input(
                &page_name,
                format!(
                    "the server answered HTTP {status}{hint}{}",
                    if snippet.is_empty() {
                        String::new()
                    } else {
                        format!(": {snippet}")
                    }
                ),
            ));
        }
        let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
        let is_json = ctype.contains("json")
            || (!ctype.contains("csv") && matches!(first, Some(b'[' | b'{')));
        if !is_json {
            if pages > 1 {
                return Err(Error::input(
                    &page_name,
                    "a next page is not JSON; paging is supported for JSON answers",
                ));
            }
            let mut spec = spec.clone();
            if spec.delimiter.is_none() && ctype.contains("tab-separated") {
                spec.delimiter = Some(b'\t');
            }
            if body.starts_with(&[0x1f, 0x8b]) {
                // gzip sent without `Content-Encoding`: its decompressed bytes count
                // against the same limits as a declared encoding's, or a few MB on the
                // wire become gigabytes in memory.
                let limit = remaining_bytes.min(source.max_bytes);
                let over = std::cell::Cell::new(false);
                let capped = Capped {
                    inner: flate2::read::MultiGzDecoder::new(&body[..]),
                    left: limit,
                    over: &over,
                };
                let read = csv::read_from(
                    std::io::BufReader::new(capped),
                    &name,
                    &spec,
                    &source.limits,
                );
                if !over.get() {
                    return read;
                }
                return Err(too_big(limit));
            }
            return csv::read_bytes_with(
                &body,
                &name,
                &spec,
                &source.limits,
                csv::Chunking::default(),
            );
        }
        let next = json
            .add_page(&body)
            .map_err(|m| Error::input(&page_name, m))?;
        match next.or(link_next) {
            Some(n) if !n.trim().is_empty() => url = resolve(&url, n.trim()),
            _ => break,
        }
    }
    json.into_table(&name, spec, &source.limits)
}

/// A reader that fails once more than `left` bytes come through it, and says so in
/// `over`, so the caller can tell the limit from a damaged stream.
struct Capped<'a, R> {
    inner: R,
    left: u64,
    over: &'a std::cell::Cell<bool>,
}

impl<R: std::io::Read> std::io::Read for Capped<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            self.over.set(true);
            return Err(std::io::Error::other("the answer is larger than the limit"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Which limit of a whole HTTP read stopped it.
#[derive(Clone, Copy)]
enum Limit {
    Pages,
    Bytes,
    Time,
}

/// The one error line for a limit of the whole read: the URL (as `name`), how far the
/// read got (`pages` complete pages, `bytes` read), the limit and the flag that raises it.
fn limit_hit(
    name: &str,
    limit: Limit,
    pages: u64,
    bytes: u64,
    started: std::time::Instant,
    source: &Source,
) -> Error {
    let got = format!(
        "{pages} complete page{} ({:.1} MB, {} s)",
        if pages == 1 { "" } else { "s" },
        bytes as f64 / (1u64 << 20) as f64,
        started.elapsed().as_secs()
    );
    let what = match limit {
        Limit::Pages => format!(
            "the limit of {} pages per HTTP read ({p}) was reached and the server still sends a next link; raise {p} if the data really has more pages",
            source.max_pages,
            p = Param::MaxPages
        ),
        Limit::Bytes => format!(
            "the limit of {} MB per HTTP read, all pages together ({p}), was reached; raise {p} if the data really is that large",
            source.max_total_bytes >> 20,
            p = Param::MaxTotalDownloadMb
        ),
        Limit::Time => format!(
            "the limit of {} s per HTTP read, all pages together ({p}), was reached; raise {p} if the server is just slow",
            source.total_timeout.as_secs(),
            p = Param::TotalTimeoutSecs
        ),
    };
    Error::input(name, format!("stopped after {got}: {what}"))
}

/// `scheme://host:port` of a URL, lowercased.
fn origin_of(url: &str) -> String {
    let Some(i) = url.find("://") else {
        return String::new();
    };
    let rest = &url[i + 3..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit('@').next().unwrap_or(authority);
    format!(
        "{}://{}",
        url[..i].to_ascii_lowercase(),
        host.to_ascii_lowercase()
    )
}

/// Resolves a next-page link against the page it came from.
fn resolve(base: &str, link: &str) -> String {
    if link.contains("://") {
        return link.to_string();
    }
    let origin_end = base.find("://").map(|i| {
        let rest = &base[i + 3..];
        i + 3 + rest.find(['/', '?', '#']).unwrap_or(rest.len())
    });
    let Some(oe) = origin_end else {
        return link.to_string();
    };
    let origin = &base[..oe];
    if let Some(rest) = link.strip_prefix("//") {
        let scheme = &base[..base.find("://").unwrap_or(0)];
        return format!("{scheme}://{rest}");
    }
    if link.starts_with('/') {
        return format!("{origin}{link}");
    }
    let path_and_query = &base[oe..];
    let path = &path_and_query[..path_and_query
        .find(['?', '#'])
        .unwrap_or(path_and_query.len())];
    if link.starts_with('?') {
        return format!("{origin}{path}{link}");
    }
    let dir = &path[..path.rfind('/').map(|i| i + 1).unwrap_or(0)];
    let dir = if dir.is_empty() { "/" } else { dir };
    format!("{origin}{dir}{link}")
}

/// The `rel="next"` target of a `Link` header, if any.
fn next_from_link(header: &str) -> Option<String> {
    for part in header.split(',') {
        let mut pieces = part.split(';');
        let target = pieces.next()?.trim();
        let is_next = pieces.any(|p| {
            let p = p.trim().to_ascii_lowercase();
            p == "rel=\"next\""
                || p == "rel=next"
                || p.starts_with("rel=\"next ")
                || p.contains(" next\"")
        });
        if is_next && target.starts_with('<') && target.ends_with('>') {
            return Some(target[1..target.len() - 1].to_string());
        }
    }
    None
}

fn http_error(name: &str, e: ureq::Error, source: &Source, secrets: &[String]) -> Error {
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let msg = match &e {
        ureq::Error::Timeout(_) => format!(
            "no complete answer within {} s ({}); the server is slow or not answering",
            source.timeout.as_secs(),
            Param::TimeoutSecs
        ),
        ureq::Error::BodyExceedsLimit(_) => format!(
            "the answer is larger than the limit of {} MB ({})",
            source.max_bytes >> 20,
            Param::MaxDownloadMb
        ),
        ureq::Error::HostNotFound => "host not found (check the URL)".to_string(),
        ureq::Error::ConnectionFailed => "cannot connect (is the server running?)".to_string(),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused (is the server running and listening on that port?)".to_string()
        }
        ureq::Error::Io(io)
            if io.kind() == std::io::ErrorKind::TimedOut
                || io.kind() == std::io::ErrorKind::WouldBlock =>
        {
            format!(
                "no complete answer within {} s ({}); the server is slow or not answering",
                source.timeout.as_secs(),
                Param::TimeoutSecs
            )
        }
        other => {
            let s = other.to_string();
            if s.contains("rustls") || s.contains("https") && !cfg!(feature = "https") {
                format!("{s} (this cardseg was built without HTTPS support: build with --features https)")
            } else {
                s
            }
        }
    };
    Error::input(name, scrub(&format!("request failed: {msg}"), &secrets))
}

/// One JSON value as a cell.
#[derive(Debug, Clone)]
enum JCell {
    Null,
    Num(f64),
    Int(i64),
    UInt(u64),
    Str(String),
    Bool(bool),
    Nested,
}

/// Rows gathered from every page, keys in order of first appearance.
#[derive(Default)]
struct JsonRows {
    keys: Vec<String>,
    index: HashMap<String, usize>,
    rows: Vec<Vec<(u32, JCell)>>,
}

impl JsonRows {
    /// Parses one page; returns its `next` link.
    fn add_page(&mut self, body: &[u8]) -> std::result::Result<Option<String>, String> {
        let mut de = serde_json::Deserializer::from_slice(body);
        let before = self.rows.len();
        let next = PageSeed(self)
            .deserialize(&mut de)
            .and_then(|n| de.end().map(|_| n))
            .map_err(|e| {
                let row = self.rows.len() - before + 1;
                format!("not valid customer JSON near JSON line {}, column {} (row {row} of the page): {e}", e.line(), e.column())
            })?;
        Ok(next)
    }

    fn into_table(self, name: &str, spec: &ReadSpec, limits: &Limits) -> Result<Table> {
        let mut b = TableBuilder::new(name, self.keys.clone(), spec, limits)?;
        let n = self.keys.len();
        let mut dense: Vec<Option<&JCell>> = vec![None; n];
        for (r, row) in self.rows.iter().enumerate() {
            dense.iter_mut().for_each(|d| *d = None);
            for (k, c) in row {
                dense[*k as usize] = Some(c);
            }
            for (j, cell) in dense.iter().enumerate() {
                let v = match cell {
                    None | Some(JCell::Null) => Val::Null,
                    Some(JCell::Num(f)) => Val::Num(*f),
                    Some(JCell::Int(i)) => Val::Int(*i),
                    Some(JCell::UInt(u)) => Val::UInt(*u),
                    Some(JCell::Str(s)) => Val::Text(s.as_bytes()),
                    Some(JCell::Bool(x)) => Val::Other(if *x { "true" } else { "false" }),
                    Some(JCell::Nested) => Val::Other("a nested JSON object or array"),
                };
                b.push(j, r as u64 + 1, v)?;
            }
            b.end_row();
        }
        b.finish()
    }
}

const ROW_KEYS: [&str; 5] = ["data", "items", "results", "rows", "customers"];

struct PageSeed<'a>(&'a mut JsonRows);

impl<'de> DeserializeSeed<'de> for PageSeed<'_> {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_> {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(
            "an array of customer objects, or an object with a \"data\" array and a \"next\" link",
        )
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> std::result::Result<Self::Value, A::Error> {
        RowsVisitor(self.0).visit_seq(seq)?;
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut next = None;
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if ROW_KEYS.contains(&key.as_str()) && !found {
                map.next_value_seed(RowsSeed(self.0))?;
                found = true;
            } else if key == "next" || key == "next_url" || key == "nextPage" {
                next = map.next_value::<Option<String>>()?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if !found {
            return Err(de::Error::custom(
                "the object has no \"data\" array of customers",
            ));
        }
        Ok(next)
    }
}

struct RowsSeed<'a>(&'a mut JsonRows);

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(RowsVisitor(self.0))
    }
}

struct RowsVisitor<'a>(&'a mut JsonRows);

impl<'de> Visitor<'de> for RowsVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of customer objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while let Some(row) = seq.next_element_seed(RowSeed(self.0))? {
            self.0.rows.push(row);
        }
        Ok(())
    }
}

struct RowSeed<'a>(&'a mut JsonRows);

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = Vec<(u32, JCell)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = Vec<(u32, JCell)>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a customer object ({\"column\": value, ...})")
    }
    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut row = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let cell = map.next_value::<JCellDe>()?.0;
            let k = match self.0.index.get(&key) {
                Some(k) => *k,
                None => {
                    let k = self.0.keys.len();
                    self.0.keys.push(key.clone());
                    self.0.index.insert(key, k);
                    k
                }
            };
            row.push((k as u32, cell));
        }
        Ok(row)
    }
}

struct JCellDe(JCell);

impl<'de> de::Deserialize<'de> for JCellDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(JCellVisitor)
    }
}

struct JCellVisitor;

impl<'de> Visitor<'de> for JCellVisitor {
    type Value = JCellDe;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> std::result::Result<JCellDe, E> {
        Ok(JCellDe(JCell::Null))
    }
    fn visit_none<E>(self) -> std::result::Result<JCellDe, E> {
        Ok(JCellDe(JCell::Null))
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<JCellDe, E> {
        Ok(JCellDe(JCell::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<JCellDe, E> {
        Ok(JCellDe(JCell::Int(v)))
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<JCellDe, E> {
        Ok(JCellDe(
            i64::try_from(v).map(JCell::Int).unwrap_or(JCell::UInt(v)),
        ))
    }
    fn visit_f64<E>(self, v: f64) -> std::result::Result<JCellDe, E> {
        Ok(JCellDe(JCell::Num(v)))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<JCellDe, E> {
        Ok(JCellDe(JCell::Str(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> std::result::Result<JCellDe, E> {
        Ok(JCellDe(JCell::Str(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<JCellDe, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(JCellDe(JCell::Nested))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<JCellDe, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(JCellDe(JCell::Nested))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::IdSpec;

    fn spec(required: &[&str]) -> ReadSpec {
        ReadSpec {
            id: IdSpec::default_column(),
            required: required.iter().map(|s| s.to_string()).collect(),
            other_numeric: true,
            delimiter: None,
        }
    }

    #[test]
    fn json_pages_keep_key_order_and_types() {
        let mut j = JsonRows::default();
        let next = j
            .add_page(br#"{"data": [{"CUST_ID": "a", "Z": 1, "A": "2.5", "N": null}, {"A": 3, "CUST_ID": 7, "B": true}], "next": "/p2"}"#)
            .unwrap();
        assert_eq!(next.as_deref(), Some("/p2"));
        assert_eq!(
            j.add_page(br#"[{"CUST_ID": "c", "Z": 1e2, "A": {"x": 1}}]"#)
                .unwrap(),
            None
        );
        assert_eq!(j.keys, vec!["CUST_ID", "Z", "A", "N", "B"]);
        let t = j
            .into_table("api", &spec(&["Z"]), &Limits::default())
            .unwrap();
        assert_eq!(t.ids.iter().collect::<Vec<_>>(), vec!["a", "7", "c"]);
        let z = &t.column("Z").unwrap().values;
        assert!(z[0] == 1.0 && z[1].is_nan() && z[2] == 100.0);
        assert!(
            t.column("A").is_none(),
            "A has a nested value, so it is text"
        );
        assert_eq!(t.info[3].kind, crate::table::ColumnKind::Empty);

        let mut j = JsonRows::default();
        j.add_page(br#"[{"CUST_ID": "a", "Z": 1}, {"CUST_ID": "b", "Z": "x1"}]"#)
            .unwrap();
        let e = j
            .into_table("api", &spec(&["Z"]), &Limits::default())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("api: row 2: column Z: \"x1\" is text"), "{e}");
        // Objects, arrays and booleans are no ids (their shown text is shared).
        for (id, what) in [
            ("{\"x\": 1}", "a nested JSON object or array"),
            ("[1]", "a nested JSON object or array"),
            ("false", "the boolean false"),
        ] {
            let mut j = JsonRows::default();
            j.add_page(
                format!(r#"[{{"CUST_ID": 1, "Z": 1}}, {{"CUST_ID": {id}, "Z": 2}}]"#).as_bytes(),
            )
            .unwrap();
            let e = j
                .into_table("api", &spec(&["Z"]), &Limits::default())
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!("api: row 2: column CUST_ID: {what} is not an id; an id is a string or a number")),
                "{e}"
            );
        }
        let e = JsonRows::default().add_page(b"{\"oops\": 1}").unwrap_err();
        assert!(e.contains("no \"data\" array"), "{e}");
        let e = JsonRows::default().add_page(b"[1, 2]").unwrap_err();
        assert!(e.contains("customer object"), "{e}");
    }

    #[test]
    fn links() {
        assert_eq!(
            next_from_link(r#"<https://a/x?page=2>; rel="next", <https://a/x?page=9>; rel="last""#)
                .as_deref(),
            Some("https://a/x?page=2")
        );
        assert_eq!(next_from_link(r#"<https://a/x?page=1>; rel="prev""#), None);
        assert_eq!(
            resolve("http://h:1/api/v1/c?page=1", "?page=2"),
            "http://h:1/api/v1/c?page=2"
        );
        assert_eq!(
            resolve("http://h:1/api/v1/c?page=1", "/other"),
            "http://h:1/other"
        );
        assert_eq!(
            resolve("http://h:1/api/v1/c", "d?x=1"),
            "http://h:1/api/v1/d?x=1"
        );
        assert_eq!(resolve("http://h:1/a", "http://z/b"), "http://z/b");
        assert_eq!(origin_of("HTTP://u:p@Host:80/x"), "http://host:80");
    }
}
