//! Writing labels back to a database: `--write-labels sqlite://PATH` or
//! `postgres://user@host:port/db`, into `--labels-table` (default `cardseg_labels`).
//!
//! The table is created when absent with the columns `customer_id` (primary key),
//! `segment`, `segment_name`, `model_checksum` and `scored_at` (UTC, RFC 3339), and each
//! customer's row is replaced (upsert). Everything happens in ONE transaction: when any
//! step fails (a constraint, a trigger, a lost connection) nothing of the write is
//! visible and the table stays as it was. Customers that could not be scored (dropped
//! for missing values) get a NULL segment, like their empty cells in `labels.csv`.
//!
//! The connection is opened before any work, so a wrong URL or password fails fast.

use std::io::Write;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::ingest::{self, check_table_name, quote_table, redact, Kind};
use crate::labels::Labels;
use crate::model::Model;
use crate::segmentation::{Segmentation, Sink};

/// Table the labels go to when `--labels-table` is not given.
pub const DEFAULT_TABLE: &str = "cardseg_labels";

/// Where labels go. `Debug` shows the URL redacted.
#[derive(Clone)]
pub struct LabelTarget {
    /// Database URL (sqlite:// or postgres://); it may hold a password, so it is never shown as is.
    pub url: String,
    /// Table to write (checked as a plain identifier).
    pub table: String,
    /// Connection timeout, so an unreachable server fails instead of hanging.
    pub timeout: Duration,
}

impl std::fmt::Debug for LabelTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabelTarget")
            .field("url", &redact(&self.url))
            .field("table", &self.table)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl LabelTarget {
    /// A target with the default table and timeout.
    pub fn new(url: impl Into<String>) -> Self {
        LabelTarget {
            url: url.into(),
            table: DEFAULT_TABLE.to_string(),
            timeout: ingest::DEFAULT_TIMEOUT,
        }
    }

    /// The target as it may be shown (password hidden) with its table.
    pub fn display(&self) -> String {
        format!("{} (table {})", redact(&self.url), self.table)
    }

    /// Refuses a bad table name or a URL that is not SQLite or PostgreSQL before any
    /// scoring starts, and an SQLite path that names no file: `:memory:` would take the
    /// labels and drop them when the connection closes, and SQLite reads `file:...` as a
    /// URI whose parameters (`mode=memory`, `vfs=`, ...) could do the same.
    pub fn check(&self) -> Result<()> {
        check_table_name(&self.table, &crate::error::Param::LabelsTable.to_string())?;
        match ingest::kind_of(&self.url) {
            Kind::Sqlite => {
                let path = ingest::sqlite::path_of(&self.url);
                if path.is_empty() {
                    return Err(Error::usage(
                        "sqlite:// needs a path: sqlite:///abs/path.db or sqlite://relative/path.db",
                    ));
                }
                let not_a_file = if path == ":memory:" {
                    Some("an in-memory database, which keeps nothing once cardseg exits")
                } else if path
                    .get(..5)
                    .is_some_and(|p| p.eq_ignore_ascii_case("file:"))
                {
                    Some("an SQLite URI, whose parameters can make the database in-memory or read-only")
                } else {
                    None
                };
                if let Some(what) = not_a_file {
                    return Err(Error::usage(format!(
                        "--write-labels takes a database file, not {what} ({}); give the file's path: sqlite:///abs/path.db or sqlite://relative/path.db",
                        redact(&self.url)
                    )));
                }
                Ok(())
            }
            Kind::Postgres => Ok(()),
            _ => Err(Error::usage(format!(
                "--write-labels {}: give a sqlite://PATH or postgres://user@host:port/db URL",
                redact(&self.url)
            ))),
        }
    }
}

/// One customer's label: `segment` is the 1-based segment id and its name, or None.
pub struct LabelRow<'a> {
    /// The customer id.
    pub id: &'a str,
    /// Segment id (1-based, as in the model) and name; None for an unscored customer.
    pub segment: Option<(u32, &'a str)>,
}

impl<'a> LabelRow<'a> {
    /// The rows of every label, with the segment ids and names of `model`.
    pub fn all(labels: &Labels<'a>, model: &'a Model) -> impl Iterator<Item = LabelRow<'a>> + 'a {
        let segs = &model.segments;
        labels.iter().map(move |l| LabelRow {
            id: l.id,
            segment: l
                .segment
                .map(|s| (segs[s as usize].id, segs[s as usize].name.as_str())),
        })
    }
}

enum Conn {
    Sqlite(String, Duration),
    Postgres(Box<(postgres::Client, ingest::postgres::Connection)>),
}

/// An open connection, ready for [`LabelWriter::write`].
pub struct LabelWriter {
    conn: Conn,
    table: String,
    name: String,
}

/// A run's labels written into a database table, as one [`Sink`] of the run: the
/// connection is opened before any work (a wrong URL fails fast) and used once.
pub struct LabelTable(Option<LabelWriter>);

impl LabelTable {
    /// A sink over an open connection.
    pub fn new(writer: LabelWriter) -> Self {
        LabelTable(Some(writer))
    }
}

impl Sink for LabelTable {
    fn publish(&mut self, seg: &Segmentation) -> Result<()> {
        let writer = self
            .0
            .take()
            .ok_or_else(|| Error::usage("the label table was already written".to_string()))?;
        let scored_at = now_rfc3339();
        writer.write(
            &mut LabelRow::all(&seg.labels(), &seg.model),
            &seg.checksum,
            &scored_at,
        )?;
        Ok(())
    }
}

/// The current time in UTC as RFC 3339 (`2024-05-01T12:34:56Z`).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    rfc3339(secs)
}

/// Seconds since the Unix epoch as an RFC 3339 UTC timestamp (civil-from-days).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (y, m, d) = crate::text::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        tod / 3600,
        tod % 3600 / 60,
        tod % 60
    )
}

impl LabelWriter {
    /// Opens the connection (and creates an SQLite file if absent).
    pub fn connect(target: &LabelTarget) -> Result<Self> {
        target.check()?;
        let name = target.display();
        let conn = match ingest::kind_of(&target.url) {
            Kind::Sqlite => {
                let path = ingest::sqlite::path_of(&target.url);
                // An existing file must be a database now; a new one is created only when
                // the labels are written, so a failed run leaves no empty file behind.
                let p = std::path::Path::new(path);
                if p.exists() {
                    let c = open_sqlite(path, target.timeout, &name)?;
                    c.query_row("PRAGMA schema_version", [], |_| Ok(()))
                        .map_err(|e| sqlite_error(&name, "opening", e))?;
                } else {
                    let parent = match p.parent() {
                        Some(d) if !d.as_os_str().is_empty() => d,
                        _ => std::path::Path::new("."),
                    };
                    if !parent.is_dir() {
                        return Err(Error::input(
                            &name,
                            format!("the folder {} does not exist", parent.display()),
                        ));
                    }
                }
                Conn::Sqlite(path.to_string(), target.timeout)
            }
            _ => {
                let cfg = ingest::postgres::configure(&target.url, target.timeout)?;
                let client = cfg.connect(&name)?;
                Conn::Postgres(Box::new((client, cfg)))
            }
        };
        Ok(LabelWriter {
            conn,
            table: target.table.clone(),
            name,
        })
    }

    /// Upserts every row in one transaction; returns the number of rows written.
    pub fn write(
        self,
        rows: &mut dyn Iterator<Item = LabelRow<'_>>,
        checksum: &str,
        scored_at: &str,
    ) -> Result<u64> {
        let table = quote_table(&self.table);
        let name = self.name;
        match self.conn {
            Conn::Sqlite(path, timeout) => {
                let mut c = open_sqlite(&path, timeout, &name)?;
                let tx = c
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(|e| sqlite_error(&name, "starting the transaction", e))?;
                tx.execute_batch(&format!(
                    "CREATE TABLE IF NOT EXISTS {table} (customer_id TEXT PRIMARY KEY NOT NULL, segment INTEGER, segment_name TEXT, model_checksum TEXT NOT NULL, scored_at TEXT NOT NULL)"
                ))
                .map_err(|e| sqlite_error(&name, "creating the table", e))?;
                let mut n = 0u64;
                {
                    let mut stmt = tx
                        .prepare(&format!(
                            "INSERT INTO {table} (customer_id, segment, segment_name, model_checksum, scored_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                             ON CONFLICT (customer_id) DO UPDATE SET segment = excluded.segment, segment_name = excluded.segment_name, \
                             model_checksum = excluded.model_checksum, scored_at = excluded.scored_at"
                        ))
                        .map_err(|e| sqlite_error(&name, "preparing the upsert", e))?;
                    for r in rows {
                        let (seg, seg_name) = match r.segment {
                            Some((s, nm)) => (Some(s), Some(nm)),
                            None => (None, None),
                        };
                        stmt.execute(rusqlite::params![r.id, seg, seg_name, checksum, scored_at])
                            .map_err(|e| {
                                sqlite_error(
                                    &name,
                                    &format!("writing the label of customer {:?}", r.id),
                                    e,
                                )
                            })?;
                        n += 1;
                    }
                }
                tx.commit()
                    .map_err(|e| sqlite_error(&name, "committing", e))?;
                Ok(n)
            }
            Conn::Postgres(pg) => {
                let (mut client, cfg) = *pg;
                let pe = |action: &str, e: postgres::Error| cfg.error(&name, action, &e);
                let mut tx = client
                    .transaction()
                    .map_err(|e| pe("starting the transaction", e))?;
                tx.batch_execute(&format!(
                    "CREATE TABLE IF NOT EXISTS {table} (customer_id text PRIMARY KEY, segment integer, segment_name text, model_checksum text NOT NULL, scored_at timestamptz NOT NULL);
                     CREATE TEMP TABLE cardseg_stage (ord bigint NOT NULL, customer_id text NOT NULL, segment integer, segment_name text) ON COMMIT DROP;"
                ))
                .map_err(|e| pe("creating the table", e))?;
                let mut n = 0u64;
                {
                    let mut w = tx
                        .copy_in("COPY cardseg_stage (ord, customer_id, segment, segment_name) FROM STDIN WITH (FORMAT csv)")
                        .map_err(|e| pe("sending the labels", e))?;
                    let mut buf = std::io::BufWriter::with_capacity(1 << 20, &mut w);
                    let mut csv = ::csv::WriterBuilder::new().from_writer(&mut buf);
                    let mut ord = itoa::Buffer::new();
                    let mut seg = itoa::Buffer::new();
                    for r in rows {
                        let ord = ord.format(n);
                        let res = match r.segment {
                            Some((s, nm)) => csv.write_record([ord, r.id, seg.format(s), nm]),
                            None => csv.write_record([ord, r.id, "", ""]),
                        };
                        res.map_err(|e| {
                            Error::input(&name, format!("sending the labels failed: {e}"))
                        })?;
                        n += 1;
                    }
                    csv.flush().map_err(|e| {
                        Error::input(&name, format!("sending the labels failed: {e}"))
                    })?;
                    drop(csv);
                    buf.flush().map_err(|e| {
                        Error::input(&name, format!("sending the labels failed: {e}"))
                    })?;
                    drop(buf);
                    w.finish().map_err(|e| pe("sending the labels", e))?;
                }
                tx.execute(
                    &format!(
                        "INSERT INTO {table} (customer_id, segment, segment_name, model_checksum, scored_at) \
                         SELECT DISTINCT ON (customer_id) customer_id, segment, segment_name, $1::text, $2::text::timestamptz \
                         FROM cardseg_stage ORDER BY customer_id, ord DESC \
                         ON CONFLICT (customer_id) DO UPDATE SET segment = EXCLUDED.segment, segment_name = EXCLUDED.segment_name, \
                         model_checksum = EXCLUDED.model_checksum, scored_at = EXCLUDED.scored_at"
                    ),
                    &[&checksum, &scored_at],
                )
                .map_err(|e| pe("writing the labels", e))?;
                tx.commit().map_err(|e| pe("committing", e))?;
                Ok(n)
            }
        }
    }
}

fn open_sqlite(path: &str, timeout: Duration, name: &str) -> Result<rusqlite::Connection> {
    let c = rusqlite::Connection::open(path).map_err(|e| sqlite_error(name, "opening", e))?;
    c.busy_timeout(timeout)
        .map_err(|e| sqlite_error(name, "opening", e))?;
    Ok(c)
}

fn sqlite_error(name: &str, action: &str, e: rusqlite::Error) -> Error {
    let msg = match &e {
        rusqlite::Error::SqliteFailure(_, Some(m)) => m.clone(),
        other => other.to_string(),
    };
    Error::input(
        name,
        format!("{action} failed: {msg}; the labels table is unchanged"),
    )
}

/// Ids for a database keyed by customer: `--write-labels` upserts one row per id, so a
/// repeated id would silently keep one of its labels, and an empty id would be one
/// customer's key for every row without one; both are refused before anything is
/// written. Without a database, the labels file lists every row, and repeated ids are
/// only worth a warning (returned).
pub fn check_ids(table: &crate::table::Table, to_database: bool) -> Result<Option<String>> {
    let Some(column) = &table.id_column else {
        return Ok(None);
    };
    let fix = "--write-labels keeps one label per customer id; remove or fix those rows, or leave out --write-labels";
    if to_database {
        if let Some(row) = table.ids.iter().position(str::is_empty) {
            return Err(crate::error::Error::input(
                &table.source,
                format!(
                    "row {} (data rows counted from 1): column {column} has no customer id; {fix}",
                    row + 1
                ),
            ));
        }
        if let Some((first, again)) = table.ids.first_duplicate() {
            return Err(crate::error::Error::input(
                &table.source,
                format!(
                    "column {column}: customer id {} appears in rows {} and {} (data rows counted from 1); {fix}",
                    crate::error::show_value(table.ids.get(again).as_bytes()),
                    first + 1,
                    again + 1
                ),
            ));
        }
        return Ok(None);
    }
    let repeats = table.ids.count_duplicates();
    Ok((repeats > 0).then(|| crate::table::ids_not_unique(column, repeats)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
    }

    #[test]
    fn sqlite_upsert_and_atomicity() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("l.db").display());
        let t = LabelTarget::new(&url);
        let rows = [
            ("a", Some((1, "One"))),
            ("b", None),
            ("a", Some((2, "Two"))),
        ];
        let mut it = rows.iter().map(|(id, s)| LabelRow { id, segment: *s });
        let n = LabelWriter::connect(&t)
            .unwrap()
            .write(&mut it, "sha256:x", "2024-01-01T00:00:00Z")
            .unwrap();
        assert_eq!(n, 3);
        let c = rusqlite::Connection::open(dir.path().join("l.db")).unwrap();
        let seg: i64 = c
            .query_row(
                "SELECT segment FROM cardseg_labels WHERE customer_id = 'a'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(seg, 2);
        // A trigger that fails on the second row: nothing of the write stays.
        c.execute_batch("CREATE TRIGGER stop BEFORE UPDATE ON cardseg_labels WHEN NEW.customer_id = 'b' BEGIN SELECT RAISE(ABORT, 'refused'); END;").unwrap();
        let rows = [("a", Some((3, "Three"))), ("b", Some((3, "Three")))];
        let mut it = rows.iter().map(|(id, s)| LabelRow { id, segment: *s });
        let e = LabelWriter::connect(&t)
            .unwrap()
            .write(&mut it, "sha256:y", "2024-01-02T00:00:00Z")
            .unwrap_err()
            .to_string();
        assert!(e.contains("refused") && e.contains("unchanged"), "{e}");
        let seg: i64 = c
            .query_row(
                "SELECT segment FROM cardseg_labels WHERE customer_id = 'a'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(seg, 2);
        assert!(LabelTarget {
            table: "x;y".into(),
            ..t.clone()
        }
        .check()
        .is_err());
        assert!(LabelTarget::new("labels.csv").check().is_err());
    }

    #[test]
    fn paths_that_keep_no_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let uri = format!(
            "sqlite://file:{}?mode=rwc",
            dir.path().join("u.db").display()
        );
        for url in [
            "sqlite://:memory:",
            "SQLITE://:memory:",
            &uri,
            "sqlite://FILE:x.db",
            "sqlite://",
        ] {
            let e = LabelTarget::new(url).check().unwrap_err().to_string();
            assert!(e.contains("path"), "{url}: {e}");
            assert!(
                LabelWriter::connect(&LabelTarget::new(url)).is_err(),
                "{url}"
            );
        }
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
        let plain = format!("sqlite://{}", dir.path().join("file.db").display());
        LabelTarget::new(plain).check().unwrap();
        LabelTarget::new("sqlite://memory.db").check().unwrap();
    }
}
