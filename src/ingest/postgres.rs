//! PostgreSQL: `--input postgres://user@host:port/db` with `--table NAME` or `--query
//! "SELECT ..."`.
//!
//! Rows are streamed with `COPY (query) TO STDOUT (FORMAT binary)` straight into the
//! table: one pass, never held twice, no text formatting on the server. Integers and
//! floats are numbers, `numeric` is converted through its exact decimal digits (so a
//! table gives the same doubles as the CSV file it was loaded from), text is a number
//! when it reads as one, other types (dates, json, enums ...) are read as text; NULL is
//! missing; text that is not a number in a feature column is an error naming the row.
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
use crate::ingest::builder::{TableBuilder, Val};
use crate::ingest::{redact, scrub, ReadSpec, Source};
use crate::table::Table;

/// A connection configuration with its password resolved, and what may be shown of it.
pub struct Connection {
    /// The driver's configuration, password included: never shown.
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
    /// Opens the connection; a failure names the source `name` and never the password.
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

/// How a column of the result is decoded from binary COPY.
#[derive(Clone, Copy, PartialEq)]
enum Wire {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Numeric,
    Text,
    /// Any other type: selected as `::text` (dates, json, enums, uuid ...).
    AsText,
    /// Another type that could not be cast (duplicate column names): never a number.
    Opaque,
}

fn wire_of(oid: u32) -> Wire {
    match oid {
        16 => Wire::Bool,
        21 => Wire::Int2,
        23 => Wire::Int4,
        20 => Wire::Int8,
        26 => Wire::Oid,
        700 => Wire::Float4,
        701 => Wire::Float8,
        1700 => Wire::Numeric,
        25 | 1043 | 1042 | 19 | 18 => Wire::Text,
        _ => Wire::AsText,
    }
}

/// A binary `numeric` as decimal text (`-123456e-4`), or None for NaN and infinities.
fn numeric_text(b: &[u8], out: &mut String) -> Option<()> {
    if b.len() < 8 {
        return None;
    }
    let ndigits = i16::from_be_bytes([b[0], b[1]]) as i64;
    let weight = i16::from_be_bytes([b[2], b[3]]) as i64;
    let sign = u16::from_be_bytes([b[4], b[5]]);
    if sign != 0 && sign != 0x4000 || b.len() < 8 + 2 * ndigits as usize {
        return None;
    }
    out.clear();
    if sign == 0x4000 {
        out.push('-');
    }
    if ndigits == 0 {
        out.push('0');
        return Some(());
    }
    for i in 0..ndigits as usize {
        let d = u16::from_be_bytes([b[8 + 2 * i], b[9 + 2 * i]]);
        if i == 0 {
            out.push_str(itoa::Buffer::new().format(d));
        } else {
            let mut buf = itoa::Buffer::new();
            let t = buf.format(d);
            out.extend(std::iter::repeat_n('0', 4 - t.len()));
            out.push_str(t);
        }
    }
    let exp = 4 * (weight - ndigits + 1);
    if exp != 0 {
        out.push('e');
        out.push_str(itoa::Buffer::new().format(exp));
    }
    Some(())
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Reads the table or query of a `postgres://` source into a [`Table`].
pub fn read(source: &Source, spec: &ReadSpec) -> Result<Table> {
    let name = source.source_name();
    let conn = configure(&source.input, source.timeout)?;
    let mut client = conn.connect(&name)?;
    let select = crate::ingest::sqlite::select_sql(source);
    let stmt = client
        .prepare(&select)
        .map_err(|e| conn.error(&name, "running the query", &e))?;
    let names: Vec<String> = stmt
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let mut wires: Vec<Wire> = stmt
        .columns()
        .iter()
        .map(|c| wire_of(c.type_().oid()))
        .collect();
    let mut b = TableBuilder::new(&name, names.clone(), spec, &source.limits)?;
    // Types without a numeric meaning are read as their text (when the names allow
    // selecting them one by one: duplicated names cannot be, and are reported as text).
    let unique = names.iter().collect::<std::collections::HashSet<_>>().len() == names.len();
    let copy = if wires.contains(&Wire::AsText) && unique {
        let cols: Vec<String> = names
            .iter()
            .zip(&wires)
            .map(|(n, w)| {
                if *w == Wire::AsText {
                    format!("q.{}::text", quote_ident(n))
                } else {
                    format!("q.{}", quote_ident(n))
                }
            })
            .collect();
        format!(
            "COPY (SELECT {} FROM ({select}) AS q) TO STDOUT WITH (FORMAT binary)",
            cols.join(", ")
        )
    } else {
        format!("COPY ({select}) TO STDOUT WITH (FORMAT binary)")
    };
    if !unique {
        wires
            .iter_mut()
            .filter(|w| **w == Wire::AsText)
            .for_each(|w| *w = Wire::Opaque);
    }
    let reader = client
        .copy_out(copy.as_str())
        .map_err(|e| conn.error(&name, "running the query", &e))?;
    let mut r = BufReader::with_capacity(
        1 << 20,
        CopyReader {
            inner: reader,
            secrets: conn.secrets.clone(),
        },
    );
    let ioerr = |e: std::io::Error| Error::input(&name, format!("reading rows failed: {e}"));
    let mut head = [0u8; 19];
    r.read_exact(&mut head).map_err(ioerr)?;
    if &head[..11] != b"PGCOPY\n\xff\r\n\0" {
        return Err(Error::input(
            &name,
            "the server's COPY answer is not binary COPY",
        ));
    }
    let ext = u32::from_be_bytes([head[15], head[16], head[17], head[18]]) as u64;
    std::io::copy(&mut (&mut r).take(ext), &mut std::io::sink()).map_err(ioerr)?;
    let wanted: Vec<bool> = (0..names.len())
        .map(|j| b.wanted(j) || spec.other_numeric)
        .collect();
    let mut field = Vec::with_capacity(256);
    let mut text = String::new();
    let mut row = 0u64;
    loop {
        let mut n2 = [0u8; 2];
        r.read_exact(&mut n2).map_err(ioerr)?;
        let count = i16::from_be_bytes(n2);
        if count == -1 {
            break;
        }
        if count as usize != names.len() {
            return Err(Error::input(
                &name,
                format!(
                    "row {}: {count} fields for {} columns",
                    row + 1,
                    names.len()
                ),
            ));
        }
        row += 1;
        for j in 0..names.len() {
            let mut n4 = [0u8; 4];
            r.read_exact(&mut n4).map_err(ioerr)?;
            let len = i32::from_be_bytes(n4);
            let val = if len < 0 {
                Val::Null
            } else {
                field.resize(len as usize, 0);
                r.read_exact(&mut field).map_err(ioerr)?;
                if !wanted[j] {
                    continue;
                }
                let f = field.as_slice();
                let bad = || {
                    Error::input(
                        &name,
                        format!("row {row}: column {}: a value of unexpected size", names[j]),
                    )
                };
                match wires[j] {
                    Wire::Bool => Val::Other(if f.first() == Some(&1) {
                        "true"
                    } else {
                        "false"
                    }),
                    Wire::Int2 => {
                        Val::Int(i16::from_be_bytes(f.try_into().map_err(|_| bad())?) as i64)
                    }
                    Wire::Int4 => {
                        Val::Int(i32::from_be_bytes(f.try_into().map_err(|_| bad())?) as i64)
                    }
                    Wire::Oid => {
                        Val::Int(u32::from_be_bytes(f.try_into().map_err(|_| bad())?) as i64)
                    }
                    Wire::Int8 => Val::Int(i64::from_be_bytes(f.try_into().map_err(|_| bad())?)),
                    Wire::Float4 => {
                        Val::Num(f32::from_be_bytes(f.try_into().map_err(|_| bad())?) as f64)
                    }
                    Wire::Float8 => Val::Num(f64::from_be_bytes(f.try_into().map_err(|_| bad())?)),
                    Wire::Numeric => match numeric_text(f, &mut text) {
                        Some(()) => Val::Num(text.parse::<f64>().unwrap_or(f64::INFINITY)),
                        None => Val::Num(f64::NAN),
                    },
                    Wire::Text | Wire::AsText => Val::Text(f),
                    Wire::Opaque => Val::Other("a value of a non-numeric type"),
                }
            };
            if wanted[j] {
                b.push(j, row, val)?;
            }
        }
        b.end_row();
    }
    drop(r);
    drop(client);
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_binary_to_text() {
        // 40.900749 = digits [40, 9007, 4900] with weight 0.
        let enc = |ndigits: i16, weight: i16, sign: u16, digits: &[u16]| {
            let mut v = Vec::new();
            v.extend(ndigits.to_be_bytes());
            v.extend(weight.to_be_bytes());
            v.extend(sign.to_be_bytes());
            v.extend(6i16.to_be_bytes());
            digits.iter().for_each(|d| v.extend(d.to_be_bytes()));
            v
        };
        let mut t = String::new();
        numeric_text(&enc(3, 0, 0, &[40, 9007, 4900]), &mut t).unwrap();
        assert_eq!(t.parse::<f64>().unwrap(), 40.900749);
        numeric_text(&enc(2, 1, 0x4000, &[12, 3400]), &mut t).unwrap();
        assert_eq!(t.parse::<f64>().unwrap(), -123400.0);
        numeric_text(&enc(0, 0, 0, &[]), &mut t).unwrap();
        assert_eq!(t, "0");
        numeric_text(&enc(1, -2, 0, &[5]), &mut t).unwrap();
        assert_eq!(t.parse::<f64>().unwrap(), 0.00000005);
        assert!(numeric_text(&enc(0, 0, 0xC000, &[]), &mut t).is_none());
    }

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
        assert_eq!(c.shown, "postgres://***@127.0.0.1:1/db");
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
