//! The one error type of the library. Every message is a single line that names the
//! file (or source), and where known the line, the column and the offending value, then
//! says what to do. `main.rs` prints it with `error:` in front and exits non-zero.

use std::path::Path;

/// Library result.
pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A problem with a data cell or record: the location is precise.
    #[error("{source_name}:{line}: column {column}: {message}")]
    Cell {
        source_name: String,
        line: u64,
        column: String,
        message: String,
    },
    /// A problem with a cell of a source without lines (database, Parquet, JSON): the
    /// row is counted from 1 in the order the source returned rows.
    #[error("{source_name}: row {row}: column {column}: {message}")]
    RowCell {
        source_name: String,
        row: u64,
        column: String,
        message: String,
    },
    /// A problem with a record as a whole (ragged row, bad quoting, invalid UTF-8).
    #[error("{source_name}:{line}: {message}")]
    Record {
        source_name: String,
        line: u64,
        message: String,
    },
    /// A problem with an input as a whole (missing column, empty file, too few rows).
    #[error("{source_name}: {message}")]
    Input {
        source_name: String,
        message: String,
    },
    /// Reading or writing a path failed at the operating-system level.
    #[error("{path}: {action} failed: {reason}")]
    Io {
        path: String,
        action: &'static str,
        reason: String,
    },
    /// A saved model that cannot be used (truncated, edited, newer format, wrong features).
    #[error("model {path}: {message}")]
    Model { path: String, message: String },
    /// Parameters that do not make sense together (checked before any work is done).
    #[error("{0}")]
    Usage(String),
    /// The output already exists and `--force` was not given.
    #[error("{path} already exists and is not empty; choose another output or pass --force to replace it")]
    OutputExists { path: String },
}

impl Error {
    pub fn io(path: &Path, action: &'static str, err: std::io::Error) -> Self {
        let reason = match err.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => strip_os_error(&err.to_string()),
        };
        Error::Io {
            path: path.display().to_string(),
            action,
            reason,
        }
    }

    pub fn input(source_name: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Input {
            source_name: source_name.into(),
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage(message.into())
    }

    pub fn model(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Model {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// "Is a directory (os error 21)" reads better without the errno suffix.
fn strip_os_error(s: &str) -> String {
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// Shows a data value in an error message: quoted, control characters escaped, and cut
/// short so an enormous cell cannot flood the terminal.
pub fn show_value(raw: &[u8]) -> String {
    const MAX: usize = 40;
    let text = String::from_utf8_lossy(raw);
    let mut out = String::from("\"");
    for (i, ch) in text.chars().enumerate() {
        if i == MAX {
            out.push_str("...");
            break;
        }
        if ch.is_control() {
            out.extend(ch.escape_default());
        } else {
            out.push(ch);
        }
    }
    out.push('"');
    out
}
