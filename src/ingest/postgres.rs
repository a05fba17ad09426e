//! PostgreSQL: `--input postgres://user@host:port/db` with `--table NAME` or `--query
//! "SELECT ..."`.
//!
//! Rows are streamed with `COPY (query) TO STDOUT (FORMAT csv, HEADER)` straight into
//! the CSV reader: one pass, never held twice. Integers, floats and numeric/decimal come
//! as their exact text, so a table gives the same numbers as the CSV file it was loaded
//! from; NULL is missing; text that is not a number in a feature column is an error
//! naming the row.
//!
//! The password comes from the URL, else `PGPASSWORD`, else the `.pgpass` file
//! (`PGPASSFILE` or `~/.pgpass`, ignored unless only its owner can read it, like libpq).
//! Connections are made without TLS (loopback, a Unix socket or an SSH tunnel);
//! `sslmode=require` is refused rather than silently ignored.

use std::io::{BufReader, Read};
use std::str::FromStr;
use std::time::Duration;

use postgres::config::{Host, SslMode};
use postgres::{Client, Config, NoTls};

use crate::error::{Error, Result};
use crate::ingest::{csv, redact, scrub, ReadSpec, Source};
use crate::table::Table;

/// A connection configuration with its password resolved, and what may be shown of it.
pub struct Connection {
    pub config: Config,
    /// The redacted URL.
    pub shown: String,
    /// Secrets to scrub from any message (the password).
    pub secrets: Vec<String>,
}

/// Parses a `postgres://` URL and finds the password (URL, `PGPASSWORD`, `.pgpass`).
pub fn configure(url: &str, timeout: Duration) -> Result<Connection> {
    let shown = redact(url);
    let mut config = Config::from_str(url).map_err(|e| {
        Error::input(
            &shown,
            format!(
                "not a valid PostgreSQL URL ({}); write postgres://user@host:port/database",
                describe(&e)
            ),
        )
    })?;
    if config.get_ssl_mode() == SslMode::Require {
        return Err(Error::input(
            &shown,
            "sslmode=require: cardseg connects to PostgreSQL without TLS (use it on loopback, a Unix socket or an SSH tunnel, with sslmode=disable or prefer)",
        ));
    }
    config.ssl_mode(SslMode::Disable);
    if config.get_user().is_none() {
        let user = std::env::var("PGUSER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "postgres".into());
        config.user(&user);
    }
    if config.get_hosts().is_empty() {
        config.host("localhost");
    }
    if config.get_password().is_none() {
        if let Some(pw) = std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()) {
            config.password(pw);
        } else if let Some(pw) = pgpass_lookup(&config) {
            config.password(pw);
        }
    }
    config.connect_timeout(timeout);
    config.application_name("cardseg");
    let secrets = config
        .get_password()
        .map(|p| vec![String::from_utf8_lossy(p).into_owned()])
        .unwrap_or_default();
    Ok(Connection {
        config,
        shown,
        secrets,
    })
}

impl Connection {
    pub fn connect(&self, name: &str) -> Result<Client> {
        self.config
            .connect(NoTls)
            .map_err(|e| self.error(name, "connecting", &e))
    }

    /// One line naming the source, the action and the server's reason, without secrets.
    pub fn error(&self, name: &str, action: &str, e: &postgres::Error) -> Error {
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        let mut msg = describe(e);
        if msg.contains("password authentication failed")
            || msg.contains("no password")
            || msg.contains("password missing")
        {
            msg.push_str(" (the password comes from the URL, PGPASSWORD or ~/.pgpass)");
        } else if msg.contains("Connection refused") {
            msg.push_str(" (is the server running and listening on that host and port?)");
        }
        Error::input(name, scrub(&format!("{action} failed: {msg}"), &secrets))
    }
}

/// The whole story of a driver error on one line: the server's message (with its detail
/// and hint) or the chain of causes.
pub fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = db.message().to_string();
        if let Some(d) = db.detail() {
            s.push_str(&format!(" ({d})"));
        }
        if let Some(h) = db.hint() {
            s.push_str(&format!("; hint: {h}"));
        }
        return one_line(&s);
    }
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    one_line(&s)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Finds the password in the `.pgpass` file for this host, port, database and user.
fn pgpass_lookup(config: &Config) -> Option<String> {
    let path = std::env::var_os("PGPASSFILE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".pgpass")))?;
    let meta = std::fs::metadata(&path).ok()?;
    {
        use std::os::unix::fs::PermissionsExt;
        if !meta.is_file() || meta.permissions().mode() & 0o077 != 0 {
            return None;
        }
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(_)) | None => "localhost".to_string(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let user = config.get_user().unwrap_or_default().to_string();
    let db = config
        .get_dbname()
        .map(str::to_string)
        .unwrap_or_else(|| user.clone());
    let want = [host.as_str(), port.as_str(), db.as_str(), user.as_str()];
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_pgpass(line);
        if fields.len() != 5 {
            continue;
        }
        if fields[..4]
            .iter()
            .zip(want)
            .all(|(f, w)| f == "*" || f == w)
        {
            return Some(fields[4].clone());
        }
    }
    None
}

/// Splits a `.pgpass` line on unescaped colons (`\:` and `\\` are escapes).
fn split_pgpass(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    fields.last_mut().unwrap().push(n);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

/// Passes the full, scrubbed server message through the CSV reader's I/O errors.
struct CopyReader<R> {
    inner: R,
    secrets: Vec<String>,
}

impl<R: Read> Read for CopyReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let msg = match e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<postgres::Error>())
            {
                Some(pg) => describe(pg),
                None => e.to_string(),
            };
            let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
            std::io::Error::other(scrub(&msg, &secrets))
        })
    }
}

pub fn read(source: &Source, spec: &ReadSpec) -> Result<Table> {
    let name = source.source_name();
    let conn = configure(&source.input, source.timeout)?;
    let mut client = conn.connect(&name)?;
    let select = crate::ingest::sqlite::select_sql(source);
    let copy = format!("COPY ({select}) TO STDOUT WITH (FORMAT csv, HEADER true)");
    let reader = client
        .copy_out(copy.as_str())
        .map_err(|e| conn.error(&name, "running the query", &e))?;
    let reader = CopyReader {
        inner: reader,
        secrets: conn.secrets.clone(),
    };
    let spec = ReadSpec {
        delimiter: Some(b','),
        ..spec.clone()
    };
    let result = csv::read_from(BufReader::with_capacity(1 << 20, reader), &name, &spec);
    let mut table = result.map_err(|e| lines_to_rows(e, &name))?;
    // Header line 1 is not a row: line n is row n - 1.
    for info in &mut table.info {
        if let Some((line, _)) = &mut info.first_text {
            *line = line.saturating_sub(1);
        }
    }
    table.row_based = true;
    drop(client);
    Ok(table)
}

/// The CSV reader counts file lines; rows of a query are one line each after the header.
fn lines_to_rows(e: Error, name: &str) -> Error {
    match e {
        Error::Cell {
            source_name,
            line,
            column,
            message,
        } => Error::RowCell {
            source_name,
            row: line.saturating_sub(1),
            column,
            message: message
                .replace("leave the cell empty", "make it NULL")
                .replace("leave it empty", "make it NULL"),
        },
        Error::Record {
            source_name,
            line,
            message,
        } => Error::input(
            source_name,
            format!("row {}: {message}", line.saturating_sub(1)),
        ),
        Error::Io { reason, .. } => Error::input(name, format!("reading rows failed: {reason}")),
        Error::Input {
            source_name,
            message,
        } => Error::input(
            source_name,
            message
                .replace(
                    "has a header line but no customer rows",
                    "has no customer rows",
                )
                .replace("line 1: ", ""),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgpass_lines() {
        assert_eq!(
            split_pgpass(r"h:5432:db:u:pa\:ss\\w:rd"),
            vec!["h", "5432", "db", "u", r"pa:ss\w:rd"]
        );
        assert_eq!(split_pgpass("*:*:*:u:pw").len(), 5);
    }

    #[test]
    fn url_password_is_hidden() {
        let c = configure(
            "postgres://u:topsecret@127.0.0.1:1/db",
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(c.shown, "postgres://u:***@127.0.0.1:1/db");
        assert_eq!(c.secrets, vec!["topsecret".to_string()]);
        let e = configure(
            "postgres://u:pw@h/db?sslmode=require",
            Duration::from_secs(1),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("without TLS") && !e.contains(":pw@"), "{e}");
    }
}
