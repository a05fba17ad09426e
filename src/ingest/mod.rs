//! Reading customer data. Every source produces the same [`Table`], so inspection,
//! cleaning and the pipeline do not care where the rows came from.
//!
//! Sources, chosen by the form of `--input`:
//! - a CSV file, plain or gzip ([`csv`]; numbers in text are parsed by [`number`]);
//! - a Parquet file, or a folder of `*.parquet` parts read in name order ([`parquet`]);
//! - `sqlite://PATH` with `--table` or `--query` ([`sqlite`]);
//! - `postgres://user@host:port/db` with `--table` or `--query` ([`postgres`]);
//! - an `http://` or `https://` URL answering CSV or JSON ([`http`]).
//!
//! Credentials never reach a message: [`redact`] hides the user information of a URL
//! (user name and password) and secret query parameters, and the table's `source`
//! (printed by errors, stored in `model.json`) is always the redacted form.

pub mod builder;
pub mod categories;
pub mod csv;
pub mod http;
pub mod number;
pub mod parquet;
mod plan;
pub mod postgres;
pub mod sqlite;

use std::time::Duration;

use crate::error::{Error, Param, Result};
use crate::table::Table;

/// The id column the caller asked for.
#[derive(Debug, Clone)]
pub enum IdSpec {
    /// Use this column; `explicit` is false for the built-in default, which may be absent
    /// (rows are then numbered from 1).
    Column {
        /// Header name of the id column.
        name: String,
        /// True when the user named the column, so its absence is an error.
        explicit: bool,
    },
    /// Number rows from 1.
    RowNumber,
}

impl IdSpec {
    /// The built-in default (`CUST_ID` when present, else row numbers).
    pub fn default_column() -> Self {
        IdSpec::Column {
            name: crate::DEFAULT_ID_COLUMN.to_string(),
            explicit: false,
        }
    }

    /// A column the user or a saved model named: it must exist.
    pub fn named(name: impl Into<String>) -> Self {
        IdSpec::Column {
            name: name.into(),
            explicit: true,
        }
    }

    /// The id a saved model was trained with: its column, or row numbers.
    pub fn saved(id_column: Option<&str>) -> Self {
        id_column.map_or(IdSpec::RowNumber, IdSpec::named)
    }

    /// `--id-column NAME` / `--no-id`: None when neither was given (the caller's default).
    pub fn from_flags(id_column: Option<&str>, no_id: bool) -> Option<Self> {
        match (id_column, no_id) {
            (Some(name), _) => Some(IdSpec::named(name)),
            (None, true) => Some(IdSpec::RowNumber),
            (None, false) => None,
        }
    }
}

/// What to load from a source.
#[derive(Debug, Clone)]
pub struct ReadSpec {
    /// Where customer ids come from.
    pub id: IdSpec,
    /// Columns that must exist and be numeric: an error otherwise, naming line and value.
    pub required: Vec<String>,
    /// Also load every other column whose cells are all numbers (profiling, inspection).
    pub other_numeric: bool,
    /// Field delimiter; None sniffs it from the header line.
    pub delimiter: Option<u8>,
}

/// Default time limit of a network source (connect, and each HTTP request as a whole).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default size limit of one HTTP response.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
/// Default limit on the pages one HTTP read follows: a server that hands out endless
/// distinct `next` links must not keep a run going for ever.
pub const DEFAULT_MAX_PAGES: u64 = 100_000;
/// Default limit on the bytes of all pages of one HTTP read together (4 GiB): the
/// per-response limit alone lets endless small pages add up without bound.
pub const DEFAULT_MAX_TOTAL_BYTES: u64 = 4 << 30;
/// Default wall-time limit of one HTTP read, all pages together (one hour): the
/// per-request timeout alone lets endless quick pages run for ever.
pub const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(3600);

/// Default of [`Limits::max_columns`]: far above any customer table (CC GENERAL has 18
/// columns, wide warehouse extracts a few hundred), far below the hundred thousand
/// columns that make a small file cost minutes and gigabytes.
pub const DEFAULT_MAX_COLUMNS: usize = 10_000;
/// Default of [`Limits::max_record_bytes`]: 16 MiB, room for multi-megabyte quoted notes,
/// while a gigabyte line (a gzip bomb, a quote never closed) stops long before memory runs
/// out. Reading a record costs up to about 17 times its size (a line of delimiters: 8
/// bytes of field bounds per byte, doubled while growing), some 300 MB at this default.
pub const DEFAULT_MAX_RECORD_BYTES: u64 = 16 << 20;

/// How much one input may make a reader do, so a small hostile file gets one clear error
/// instead of minutes of work or an aborted allocation. Checked by the CSV reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most columns a header may name (`--max-columns`); refused before any per-column
    /// memory is set aside.
    pub max_columns: usize,
    /// Most bytes one record (a row, or the header) may span, quoted line breaks and all
    /// (`--max-record-mb`).
    pub max_record_bytes: u64,
}

impl Limits {
    /// Refuses a source naming more than [`Limits::max_columns`] columns, before anything
    /// is set aside per column; `place` locates the header ("line 1: " in a CSV file).
    pub fn check_columns(&self, source: &str, columns: usize, place: &str) -> Result<()> {
        if columns > self.max_columns {
            return Err(Error::input(
                source,
                format!(
                    "{place}the table has {columns} columns, more than the {} cardseg reads; if it really is this wide, raise the limit with {}",
                    self.max_columns,
                    crate::error::Param::MaxColumns
                ),
            ));
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_columns: DEFAULT_MAX_COLUMNS,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

/// Where to read customers from: `--input` and the flags that go with it. Its `Debug`
/// output shows the input redacted, so no password reaches a log by accident.
#[derive(Clone)]
pub struct Source {
    /// A path, or a `sqlite://`, `postgres://`, `http://` or `https://` URL.
    pub input: String,
    /// SQL query (SQLite, PostgreSQL).
    pub query: Option<String>,
    /// Table name (SQLite, PostgreSQL).
    pub table: Option<String>,
    /// Environment variable holding a bearer token (HTTP).
    pub token_env: Option<String>,
    /// Connect timeout (databases) and whole-request timeout (HTTP).
    pub timeout: Duration,
    /// Largest HTTP response accepted, in bytes.
    pub max_bytes: u64,
    /// Most pages one HTTP read follows (`--max-pages`).
    pub max_pages: u64,
    /// Most bytes of all HTTP pages together (`--max-total-download-mb`).
    pub max_total_bytes: u64,
    /// Wall-time limit of one HTTP read, all pages together (`--total-timeout-secs`).
    pub total_timeout: Duration,
    /// Bounds on columns and record size (CSV inputs).
    pub limits: Limits,
}

/// The kind of source `--input` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A CSV file, gzip-compressed or not (anything not recognised as another kind).
    Csv,
    /// A `.parquet` file, a file starting with Parquet's magic bytes, or a folder of parts.
    Parquet,
    /// A `sqlite://PATH` URL.
    Sqlite,
    /// A `postgres://` or `postgresql://` URL.
    Postgres,
    /// An `http://` or `https://` URL.
    Http,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("input", &self.display())
            .field("query", &self.query)
            .field("table", &self.table)
            .field("token_env", &self.token_env)
            .field("timeout", &self.timeout)
            .field("max_bytes", &self.max_bytes)
            .field("max_pages", &self.max_pages)
            .field("max_total_bytes", &self.max_total_bytes)
            .field("total_timeout", &self.total_timeout)
            .field("limits", &self.limits)
            .finish()
    }
}

impl Source {
    /// A source reading `input` with no query, table or token and the default limits.
    pub fn new(input: impl Into<String>) -> Self {
        Source {
            input: input.into(),
            query: None,
            table: None,
            token_env: None,
            timeout: DEFAULT_TIMEOUT,
            max_bytes: DEFAULT_MAX_BYTES,
            max_pages: DEFAULT_MAX_PAGES,
            max_total_bytes: DEFAULT_MAX_TOTAL_BYTES,
            total_timeout: DEFAULT_TOTAL_TIMEOUT,
            limits: Limits::default(),
        }
    }

    /// The kind of source the input names (see [`kind_of`]).
    pub fn kind(&self) -> Kind {
        kind_of(&self.input)
    }

    /// The input as it may be shown: credentials replaced by `***`.
    pub fn display(&self) -> String {
        redact(&self.input)
    }

    /// Checks that the flags fit the kind of input, before any work is done.
    pub fn check(&self) -> Result<()> {
        let kind = self.kind();
        let shown = self.display();
        let sql = matches!(kind, Kind::Sqlite | Kind::Postgres);
        let (query, table) = (Param::Query, Param::Table);
        if self.query.is_some() && self.table.is_some() {
            return Err(Error::usage(format!(
                "give either {query} or {table}, not both"
            )));
        }
        if !sql && (self.query.is_some() || self.table.is_some()) {
            return Err(Error::usage(format!(
                "{query} and {table} apply to sqlite:// and postgres:// inputs, not to {shown}"
            )));
        }
        if sql && self.query.is_none() && self.table.is_none() {
            return Err(Error::usage(format!(
                "{shown}: name what to read with {} or {}",
                table.with("NAME"),
                query.with("\"SELECT ...\"")
            )));
        }
        if let Some(q) = &self.query {
            if query_text(q).is_empty() {
                return Err(Error::usage(format!("{query} is empty")));
            }
        }
        if let Some(t) = &self.table {
            check_table_name(t, &table.to_string())?;
        }
        if self.token_env.is_some() && kind != Kind::Http {
            return Err(Error::usage(format!(
                "{} applies to http:// and https:// inputs, not to {shown}",
                Param::TokenEnv
            )));
        }
        if self.timeout.is_zero() {
            return Err(Error::usage(format!(
                "{} must be at least 1",
                Param::TimeoutSecs
            )));
        }
        Ok(())
    }

    /// The name errors print and `model.json` stores: the redacted input, plus the table
    /// or "query" for databases.
    pub fn source_name(&self) -> String {
        let shown = self.display();
        match (&self.table, &self.query) {
            (Some(t), _) => format!("{shown} (table {t})"),
            (None, Some(_)) => format!("{shown} (query)"),
            _ => shown,
        }
    }
}

/// A `--query` as it is run: without surrounding whitespace and without the semicolons
/// that may end it (`SELECT ...;;`, `SELECT ... ; `), which drivers refuse as a second,
/// empty statement.
pub fn query_text(query: &str) -> &str {
    query
        .trim_end_matches(|c: char| c == ';' || c.is_whitespace())
        .trim_start()
}

/// Whether a file name says Parquet (`.parquet` or `.parq`, in any case): the one test
/// behind every reader and writer, so what `generate` writes as Parquet is what the readers
/// read as Parquet.
pub fn is_parquet_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.ends_with(".parquet") || name.ends_with(".parq")
}

/// Whether a file name says gzip (`.gz`, in any case): such an output is written
/// compressed (the readers recognise gzip by its first bytes).
pub fn is_gzip_name(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".gz")
}

/// Which reader an input string goes to.
pub fn kind_of(input: &str) -> Kind {
    let lower = input.get(..16).unwrap_or(input).to_ascii_lowercase();
    if lower.starts_with("sqlite://") {
        return Kind::Sqlite;
    }
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        return Kind::Postgres;
    }
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Kind::Http;
    }
    let path = std::path::Path::new(input);
    if is_parquet_name(input) || path.is_dir() && parquet::has_parts(path) {
        return Kind::Parquet;
    }
    // A Parquet file under another name is recognised by its magic bytes.
    let mut magic = [0u8; 4];
    if std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && &magic == b"PAR1"
    {
        return Kind::Parquet;
    }
    Kind::Csv
}

/// Table and column names given on the command line: letters, digits and underscores,
/// optionally qualified by a schema (`schema.table`). They are quoted in SQL, so no
/// name can change the statement.
pub fn check_table_name(name: &str, flag: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.split('.').count() <= 2
        && name.split('.').all(|part| {
            !part.is_empty()
                && part.len() <= 63
                && !part.starts_with(|c: char| c.is_ascii_digit())
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "{flag} {name:?}: a table name is letters, digits and underscores, optionally schema.table; use {} for anything else",
            Param::Query
        )))
    }
}

/// Quotes a (possibly schema-qualified) table name checked by [`check_table_name`].
pub fn quote_table(name: &str) -> String {
    name.split('.')
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(".")
}

/// Query parameters whose values are secrets.
fn secret_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "pwd",
        "token",
        "secret",
        "key",
        "signature",
        "sig",
        "auth",
        "credential",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// Hides the credentials of a URL: its whole user information becomes `***`
/// (`postgres://user:secret@host/db` is shown `postgres://***@host/db`, and so is
/// `https://TOKEN@host/...`, where the user name is the secret), and secret query
/// parameters (`?password=`, `api_key=`, `token=` ...) become `***`. Paths and other
/// strings come back unchanged.
pub fn redact(input: &str) -> String {
    let Some(scheme_end) = input.find("://") else {
        return input.to_string();
    };
    let (scheme, rest) = input.split_at(scheme_end + 3);
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    let authority = match authority.rfind('@') {
        Some(at) => format!("***{}", &authority[at..]),
        None => authority.to_string(),
    };
    let tail = match tail.find('?') {
        Some(q) => {
            let (path, query) = tail.split_at(q + 1);
            let (query, fragment) = match query.find('#') {
                Some(h) => query.split_at(h),
                None => (query, ""),
            };
            let params: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if secret_param(k) => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}{}{fragment}", params.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}{authority}{tail}")
}

/// The parts of a URL's user information (`user:password@`), the whole and each side:
/// secrets to scrub from messages that come from drivers and servers.
pub fn userinfo_secrets(input: &str) -> Vec<String> {
    let Some(scheme_end) = input.find("://") else {
        return Vec::new();
    };
    let rest = &input[scheme_end + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let Some(at) = authority.rfind('@') else {
        return Vec::new();
    };
    let userinfo = &authority[..at];
    let mut out = vec![userinfo.to_string()];
    if let Some((user, password)) = userinfo.split_once(':') {
        out.push(user.to_string());
        out.push(password.to_string());
    }
    out.retain(|s| !s.is_empty());
    // Longest first, so a part never leaves pieces of the whole behind.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

/// Removes every occurrence of the given secrets from a message (a last line of defence
/// for texts that come from drivers and servers).
pub fn scrub(message: &str, secrets: &[&str]) -> String {
    let mut out = message.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 3) {
        out = out.replace(s, "***");
    }
    out
}

/// Reads any supported source into a table.
pub fn read(source: &Source, spec: &ReadSpec) -> Result<Table> {
    check_spec(spec)?;
    source.check()?;
    match source.kind() {
        Kind::Csv => csv::read_path(std::path::Path::new(&source.input), spec, &source.limits),
        Kind::Parquet => {
            parquet::read_path(std::path::Path::new(&source.input), spec, &source.limits)
        }
        Kind::Sqlite => sqlite::read(source, spec),
        Kind::Postgres => postgres::read(source, spec),
        Kind::Http => http::read(source, spec),
    }
}

/// Like [`read`], but a large plain CSV file keeps its columns that are not required in
/// a temporary file in `spill_dir` instead of memory (see [`csv::read_path_spilling`]).
pub fn read_spilling(
    source: &Source,
    spec: &ReadSpec,
    spill_dir: &std::path::Path,
) -> Result<(Table, Option<crate::table::Spilled>)> {
    check_spec(spec)?;
    source.check()?;
    match source.kind() {
        Kind::Csv => csv::read_path_spilling(
            std::path::Path::new(&source.input),
            spec,
            &source.limits,
            Some(spill_dir),
        ),
        Kind::Parquet => parquet::read_path_spilling(
            std::path::Path::new(&source.input),
            spec,
            &source.limits,
            Some(spill_dir),
        ),
        _ => read(source, spec).map(|t| (t, None)),
    }
}

/// Refuses a read spec no source can satisfy (an empty column name, the id column also
/// a feature): every reader calls it first, the Python package's Arrow reader too.
pub fn check_spec(spec: &ReadSpec) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for name in &spec.required {
        if name.trim().is_empty() {
            return Err(Error::usage(
                "an empty column name was given in a column list",
            ));
        }
        if let IdSpec::Column { name: id, .. } = &spec.id {
            if id == name {
                return Err(Error::usage(format!(
                    "column {name} is the id column and cannot also be a feature"
                )));
            }
        }
        seen.insert(name.as_str());
    }
    Ok(())
}

/// Reads a small file whole (a model, naming rules), at most `limit` bytes: None when
/// it is larger. Bounded by reading, not by the size the file system reports, which is 0
/// for devices and pipes (`/dev/zero` would otherwise fill the memory).
pub fn read_bounded(
    path: &std::path::Path,
    limit: u64,
    action: &'static str,
) -> Result<Option<Vec<u8>>> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, action, e))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, action, e))?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction() {
        assert_eq!(
            redact("postgres://u:s3cret@h:5432/db"),
            "postgres://***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://***@h/db");
        assert_eq!(redact("http://TOKEN@h:1/d.json"), "http://***@h:1/d.json");
        assert_eq!(redact("http://TOKEN:@h/d.json"), "http://***@h/d.json");
        assert_eq!(redact("http://a@b:c@h/x?u=v@w"), "http://***@h/x?u=v@w");
        assert_eq!(
            userinfo_secrets("http://tok:pw@h/x"),
            vec!["tok:pw".to_string(), "tok".into(), "pw".into()]
        );
        assert_eq!(
            userinfo_secrets("http://TOKEN:@h/x"),
            vec!["TOKEN:", "TOKEN"]
        );
        assert!(userinfo_secrets("http://h/x?a=b@c").is_empty());
        assert_eq!(
            redact("postgres://h/db?password=x&sslmode=disable"),
            "postgres://h/db?password=***&sslmode=disable"
        );
        assert_eq!(
            redact("https://api/x?api_key=abc&page=2#f"),
            "https://api/x?api_key=***&page=2#f"
        );
        assert_eq!(redact("https://a:b@c"), "https://***@c");
        assert_eq!(redact("data/cc.csv"), "data/cc.csv");
        assert_eq!(redact("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db");
    }

    #[test]
    fn debug_output_is_redacted() {
        let s = Source::new("postgres://u:hunter22@h/db");
        assert!(!format!("{s:?}").contains("hunter22"));
        let t = crate::writeback::LabelTarget::new("postgres://u:hunter22@h/db");
        assert!(!format!("{t:?}").contains("hunter22"));
    }

    #[test]
    fn kinds_and_flags() {
        assert_eq!(kind_of("sqlite:///x.db"), Kind::Sqlite);
        assert_eq!(kind_of("postgresql://h/db"), Kind::Postgres);
        assert_eq!(kind_of("HTTP://h/x"), Kind::Http);
        assert_eq!(kind_of("x.parquet"), Kind::Parquet);
        assert_eq!(kind_of("x.csv.gz"), Kind::Csv);
        assert_eq!(kind_of("X.PARQUET"), Kind::Parquet);
        assert!(is_parquet_name("a/b.Parq") && !is_parquet_name("b.parquet.gz"));
        assert!(is_gzip_name("b.CSV.GZ") && !is_gzip_name("b.csv"));
        let mut s = Source::new("x.csv");
        s.table = Some("t".into());
        assert!(s
            .check()
            .unwrap_err()
            .to_string()
            .contains("query and table apply"));
        let s = Source::new("sqlite://x.db");
        assert!(s.check().unwrap_err().to_string().contains("table=NAME"));
        assert!(check_table_name("public.cc_general", "--table").is_ok());
        assert!(check_table_name("x; drop table y", "--table").is_err());
        assert_eq!(quote_table("public.cc"), "\"public\".\"cc\"");
        assert_eq!(query_text(" SELECT 1 ;; ;\n\t"), "SELECT 1");
        assert_eq!(query_text("SELECT ';'"), "SELECT ';'");
        let mut s = Source::new("sqlite://x.db");
        s.query = Some(" ; ;; ".into());
        assert!(s
            .check()
            .unwrap_err()
            .to_string()
            .contains("query is empty"));
    }
}
