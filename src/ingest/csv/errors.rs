//! The CSV reader's error lines: every one names the file, the line and what to do, built
//! in one place so the three reading paths word them alike.

use std::path::Path;

use crate::error::Error;

/// What the record reader's tape reports when a record outgrows the limit.
#[derive(Debug)]
pub(super) struct RecordTooLong {
    pub(super) line: u64,
    pub(super) limit: u64,
}

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a record longer than {} bytes", self.limit)
    }
}

impl std::error::Error for RecordTooLong {}

/// The error of a record longer than `limit` bytes, starting on `line`.
pub(super) fn record_too_long(source_name: &str, line: u64, limit: u64) -> Error {
    let shown = if limit.is_multiple_of(1 << 20) {
        format!("{} MiB", limit >> 20)
    } else {
        format!("{limit} bytes")
    };
    Error::Record {
        source_name: source_name.to_string(),
        line,
        message: format!(
            "this row is longer than {shown}, the most cardseg reads as one row (a quote that is never closed, or data that is not CSV); if the row is real, raise the limit with --max-record-mb"
        ),
    }
}

pub(super) fn empty_file(source_name: &str) -> Error {
    Error::input(
        source_name,
        "the file is empty; expected a header line with column names, then one row per customer",
    )
}

/// A `csv` crate error as one of ours, its line shifted by `offset` (the lines before
/// the point where this reader started); a record too long is reported on the line the
/// tape holds, which already counts from the start of the file.
pub(super) fn csv_error(e: ::csv::Error, source_name: &str, offset: u64) -> Error {
    let line = e.position().map(|p| p.line() + offset).unwrap_or(0);
    match e.into_kind() {
        ::csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => Error::Record {
            source_name: source_name.to_string(),
            line,
            message: format!(
                "this row has {len} fields but the header has {expected_len}; every row needs one field per column (look for a stray delimiter or quote)"
            ),
        },
        ::csv::ErrorKind::Io(io) => match io.get_ref().and_then(|e| e.downcast_ref::<RecordTooLong>()) {
            Some(t) => record_too_long(source_name, t.line, t.limit),
            None => io_error(io, source_name),
        },
        other => Error::Record {
            source_name: source_name.to_string(),
            line,
            message: format!("cannot read this CSV record: {other:?}"),
        },
    }
}

/// A read error: damaged compressed data gets its own advice.
pub(super) fn io_error(io: std::io::Error, source_name: &str) -> Error {
    let msg = io.to_string();
    if msg.contains("invalid gzip")
        || msg.contains("corrupt deflate")
        || io.kind() == std::io::ErrorKind::UnexpectedEof
    {
        Error::input(
            source_name,
            format!("the compressed data is damaged or truncated ({msg}); re-export the file"),
        )
    } else {
        Error::io(Path::new(source_name), "reading", io)
    }
}

/// Adds `by` to the line number of an error found in a chunk parsed on its own.
pub(super) fn shift_error(e: Error, by: u64) -> Error {
    match e {
        Error::Cell {
            source_name,
            line,
            column,
            message,
        } => Error::Cell {
            source_name,
            line: line + by,
            column,
            message,
        },
        Error::Record {
            source_name,
            line,
            message,
        } => Error::Record {
            source_name,
            line: line + by,
            message,
        },
        other => other,
    }
}
