//! SQLite: `--input sqlite://PATH` with `--table NAME` or `--query "SELECT ..."`.
//! `sqlite:///abs/path.db` is an absolute path, `sqlite://rel/path.db` a relative one.
//! The database is opened read-only and rows are streamed into the table; INTEGER and
//! REAL are numbers, TEXT is a number when it reads as one, NULL is missing.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};
use crate::ingest::builder::{TableBuilder, Val};
use crate::ingest::{query_text, quote_table, ReadSpec, Source};
use crate::table::Table;

/// The file path of a `sqlite://` URL.
pub fn path_of(url: &str) -> &str {
    &url["sqlite://".len()..]
}

/// The SELECT a database source runs (shared with PostgreSQL): the `--query` as given
/// (without the semicolons that end it, see [`query_text`]), or every column of
/// `--table`; empty with neither.
pub fn select_sql(source: &Source) -> String {
    match (&source.query, &source.table) {
        (Some(q), _) => query_text(q).to_string(),
        (None, Some(t)) => format!("SELECT * FROM {}", quote_table(t)),
        (None, None) => String::new(),
    }
}

/// Reads the table or query of a `sqlite://` source into a [`Table`].
pub fn read(source: &Source, spec: &ReadSpec) -> Result<Table> {
    let name = source.source_name();
    let path = path_of(&source.input);
    if path.is_empty() {
        return Err(Error::usage(
            "sqlite:// needs a path: sqlite:///abs/path.db or sqlite://relative/path.db",
        ));
    }
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::input(&name, format!("no such database file: {path}"))
        }
        _ => Error::input(&name, format!("cannot open {path}: {e}")),
    })?;
    if meta.is_dir() {
        return Err(Error::input(
            &name,
            "is a directory, not an SQLite database file",
        ));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| sql_error(&name, "opening", e))?;
    conn.busy_timeout(source.timeout)
        .map_err(|e| sql_error(&name, "opening", e))?;
    let sql = select_sql(source);
    let mut stmt = conn
        .prepare(&sql)
        .map_err(|e| sql_error(&name, "running the query", e))?;
    let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    let mut b = TableBuilder::new(&name, names, spec, &source.limits)?;
    let n = b.column_count();
    let wanted: Vec<usize> = (0..n)
        .filter(|&j| b.wanted(j) || spec.other_numeric)
        .collect();
    let mut rows = stmt
        .query([])
        .map_err(|e| sql_error(&name, "running the query", e))?;
    let mut row_no = 0u64;
    while let Some(row) = rows
        .next()
        .map_err(|e| sql_error(&name, "reading rows", e))?
    {
        row_no += 1;
        for &j in &wanted {
            let v = row
                .get_ref(j)
                .map_err(|e| sql_error(&name, "reading rows", e))?;
            let val = match v {
                ValueRef::Null => Val::Null,
                ValueRef::Integer(i) => Val::Int(i),
                ValueRef::Real(f) => Val::Num(f),
                ValueRef::Text(t) => Val::Text(t),
                ValueRef::Blob(_) => Val::Other("a BLOB"),
            };
            b.push(j, row_no, val)?;
        }
        b.end_row();
    }
    b.finish()
}

fn sql_error(name: &str, action: &str, e: rusqlite::Error) -> Error {
    let msg = match &e {
        rusqlite::Error::SqliteFailure(_, Some(m)) => m.clone(),
        other => other.to_string(),
    };
    let hint = if msg.contains("no such table") {
        "; check the table name (sqlite3 FILE .tables lists them)"
    } else if msg.contains("file is not a database") {
        "; is this an SQLite file?"
    } else {
        ""
    };
    Error::input(name, format!("{action} failed: {msg}{hint}"))
}
