//! The one error type of the library. Every message is a single line that names the
//! file (or source), and where known the line, the column and the offending value, then
//! says what to do. `main.rs` prints it with `error:` in front and exits non-zero.
//!
//! "Single line" is enforced here, not left to each caller: every part of a message is
//! shown through [`one_line`], which escapes line breaks and other control characters
//! (a column name, a path or a value from hostile data may hold them) and shortens
//! enormous parts, keeping their start and their end (where the advice is).

use std::borrow::Cow;
use std::path::Path;

/// Library result.
pub type Result<T> = std::result::Result<T, Error>;

/// A parameter of a run that a message tells the user to change. The library and its
/// domain name none of the command line's flags: the front end in use registers how it
/// names them ([`name_params`]): the CLI as flags (`--features`), and without a
/// registration (the Python package) they read as keywords (`features=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// The clustering features.
    Features,
    /// The profiling features.
    ProfileFeatures,
    /// The missing-value policy.
    Missing,
    /// The feature scaler.
    Scaler,
    /// The smallest k of the sweep.
    KMin,
    /// The largest k of the sweep.
    KMax,
    /// The fixed number of segments.
    K,
    /// The customer id column.
    IdColumn,
    /// Numbering rows instead of reading an id column.
    NoId,
    /// The model a retrain continues.
    Previous,
    /// The drift threshold that fails the check.
    FailAbove,
    /// K-Means restarts per k.
    NInit,
    /// The customers the k sweep trains on.
    TrainSample,
    /// The distance percentile of outliers.
    OutlierPercentile,
    /// Outcome columns reported per segment.
    Outcome,
    /// Stability resamples.
    StabilityResamples,
    /// Customers per stability resample.
    StabilitySample,
    /// Customers in a sampled silhouette.
    SilhouetteSample,
    /// The widest table read.
    MaxColumns,
    /// The longest record read.
    MaxRecordMb,
    /// A database table to read.
    Table,
    /// A database query to read.
    Query,
    /// The environment variable holding an HTTP token.
    TokenEnv,
    /// The time limit of one HTTP answer.
    TimeoutSecs,
    /// The size limit of one HTTP answer.
    MaxDownloadMb,
    /// The page limit of an HTTP read.
    MaxPages,
    /// The size limit of an HTTP read, all pages.
    MaxTotalDownloadMb,
    /// The time limit of an HTTP read, all pages.
    TotalTimeoutSecs,
    /// The database table labels are written to.
    LabelsTable,
    /// Text columns profiled as categories.
    Categorical,
    /// Columns whose segment totals are reported.
    Additive,
    /// The PSI that raises a drift alert.
    PsiAlert,
    /// The change of a missing share that raises a drift alert.
    MissingChange,
    /// The share outside the training range that raises a drift alert.
    OutsideRange,
    /// The relative change of a segment's share that raises a drift alert.
    ShareChange,
    /// The relative median shift within a segment that raises a drift alert.
    Shift,
    /// The significance level of drift's tests.
    Alpha,
}

/// How a front end names a parameter, with a value or without.
pub type ParamNamer = fn(Param, Option<&dyn std::fmt::Display>) -> String;

static NAMER: std::sync::OnceLock<ParamNamer> = std::sync::OnceLock::new();

/// Registers how messages name parameters (once per process; the CLI calls it at start).
pub fn name_params(namer: ParamNamer) {
    let _ = NAMER.set(namer);
}

impl Param {
    /// The keyword a library caller passes (`k_min`), the default naming.
    pub fn keyword(self) -> &'static str {
        match self {
            Param::Features => "features",
            Param::ProfileFeatures => "profile_features",
            Param::Missing => "missing",
            Param::Scaler => "scaler",
            Param::KMin => "k_min",
            Param::KMax => "k_max",
            Param::K => "k",
            Param::IdColumn => "id_column",
            Param::NoId => "no_id",
            Param::Previous => "previous",
            Param::FailAbove => "fail_above",
            Param::NInit => "n_init",
            Param::TrainSample => "train_sample",
            Param::OutlierPercentile => "outlier_percentile",
            Param::Outcome => "outcome",
            Param::StabilityResamples => "stability_resamples",
            Param::StabilitySample => "stability_sample",
            Param::SilhouetteSample => "silhouette_sample",
            Param::MaxColumns => "max_columns",
            Param::MaxRecordMb => "max_record_mb",
            Param::Table => "table",
            Param::Query => "query",
            Param::TokenEnv => "token_env",
            Param::TimeoutSecs => "timeout_secs",
            Param::MaxDownloadMb => "max_download_mb",
            Param::MaxPages => "max_pages",
            Param::MaxTotalDownloadMb => "max_total_download_mb",
            Param::TotalTimeoutSecs => "total_timeout_secs",
            Param::LabelsTable => "labels_table",
            Param::Categorical => "categorical",
            Param::Additive => "additive",
            Param::PsiAlert => "psi_alert",
            Param::MissingChange => "missing_change",
            Param::OutsideRange => "outside_range",
            Param::ShareChange => "share_change",
            Param::Shift => "shift",
            Param::Alpha => "alpha",
        }
    }

    /// The parameter set to `value`, as the front end in use writes it (`--k-min 2`,
    /// `k_min=2`).
    pub fn with(self, value: impl std::fmt::Display) -> String {
        match NAMER.get() {
            Some(namer) => namer(self, Some(&value)),
            None => format!("{}={value}", self.keyword()),
        }
    }
}

impl std::fmt::Display for Param {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match NAMER.get() {
            Some(namer) => f.write_str(&namer(*self, None)),
            None => f.write_str(self.keyword()),
        }
    }
}

/// Every failure the library reports: each variant carries what its message needs to
/// point at the problem (source, line, column, path) and the advice to fix it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A problem with a data cell or record: the location is precise.
    #[error("{}:{line}: column {}: {}", one_line(.source_name), one_line(.column), one_line(.message))]
    Cell {
        /// The file or source the cell came from.
        source_name: String,
        /// Line of the file, counted from 1, as an editor shows it.
        line: u64,
        /// Header name of the cell's column.
        column: String,
        /// What is wrong with the value and what to do.
        message: String,
    },
    /// A problem with a cell of a source without lines (database, Parquet, JSON): the
    /// row is counted from 1 in the order the source returned rows.
    #[error("{}: row {row}: column {}: {}", one_line(.source_name), one_line(.column), one_line(.message))]
    RowCell {
        /// The source the cell came from (a database URL is redacted).
        source_name: String,
        /// Row counted from 1 in the order the source returned rows.
        row: u64,
        /// Name of the cell's column.
        column: String,
        /// What is wrong with the value and what to do.
        message: String,
    },
    /// A problem with a record as a whole (ragged row, bad quoting, invalid UTF-8).
    #[error("{}:{line}: {}", one_line(.source_name), one_line(.message))]
    Record {
        /// The file or source the record came from.
        source_name: String,
        /// Line of the file where the record starts, counted from 1.
        line: u64,
        /// What is wrong with the record and what to do.
        message: String,
    },
    /// A problem with an input as a whole (missing column, empty file, too few rows).
    #[error("{}: {}", one_line(.source_name), one_line(.message))]
    Input {
        /// The file or source as the user named it.
        source_name: String,
        /// What is wrong with the input and what to do.
        message: String,
    },
    /// Reading or writing a path failed at the operating-system level.
    #[error("{}: {action} failed: {}", one_line(.path), one_line(.reason))]
    Io {
        /// The path that could not be read or written.
        path: String,
        /// What cardseg was doing ("reading model", "writing report"), so the user
        /// knows which step failed.
        action: &'static str,
        /// The operating system's reason, without the errno suffix.
        reason: String,
    },
    /// A saved model that cannot be used (truncated, edited, newer format, wrong features).
    #[error("model {}: {}", one_line(.path), one_line(.message))]
    Model {
        /// The model file as the user named it.
        path: String,
        /// What is wrong with the model and what to do.
        message: String,
    },
    /// Parameters that do not make sense together (checked before any work is done).
    #[error("{}", one_line(.0))]
    Usage(
        /// The whole message: which parameters clash and what to pass instead.
        String,
    ),
    /// The work was stopped on request ([`crate::cancel::Cancel`]); nothing was written.
    #[error("stopped on request; nothing was written")]
    Cancelled,
    /// The output already exists and `--force` was not given.
    #[error("{} already exists and is not empty; choose another output or pass --force to replace it", one_line(.path))]
    OutputExists {
        /// The output directory or file that would be overwritten.
        path: String,
    },
}

impl Error {
    /// An [`Error::Io`] for `path`, with the common reasons spelled plainly instead of
    /// the operating system's wording.
    pub fn io(path: &Path, action: &'static str, err: std::io::Error) -> Self {
        let reason = match err.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            std::io::ErrorKind::NotADirectory => {
                "a part of the path is a file, not a directory".to_string()
            }
            _ => strip_os_error(&err.to_string()),
        };
        Error::Io {
            path: path.display().to_string(),
            action,
            reason,
        }
    }

    /// An [`Error::Input`]: a problem with `source_name` as a whole.
    pub fn input(source_name: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Input {
            source_name: source_name.into(),
            message: message.into(),
        }
    }

    /// An [`Error::Usage`]: parameters that do not make sense together.
    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage(message.into())
    }

    /// An [`Error::Model`]: the model file at `path` cannot be used.
    pub fn model(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Model {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Longest part of a message shown whole; longer parts keep their start and end.
const MAX_PART_CHARS: usize = 1000;

/// One part of an error message as one line: control characters and line separators
/// escaped (`\n`, `\r`, `\t`, `\u{..}`), and a part longer than 1,000 characters cut in
/// the middle.
pub fn one_line(s: &str) -> Cow<'_, str> {
    let count = s.chars().count();
    if count <= MAX_PART_CHARS && !s.chars().any(breaks_line) {
        return Cow::Borrowed(s);
    }
    let (head, tail) = (MAX_PART_CHARS * 2 / 3, MAX_PART_CHARS / 3);
    let mut out = String::with_capacity(s.len().min(4 * MAX_PART_CHARS));
    for (i, ch) in s.chars().enumerate() {
        if count > MAX_PART_CHARS && i == head {
            out.push_str(" ... ");
        }
        if count > MAX_PART_CHARS && i >= head && i < count - tail {
            continue;
        }
        if breaks_line(ch) {
            out.extend(ch.escape_default());
        } else {
            out.push(ch);
        }
    }
    Cow::Owned(out)
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
        if breaks_line(ch) {
            out.extend(ch.escape_default());
        } else {
            out.push(ch);
        }
    }
    out.push('"');
    out
}

/// Shows a number in an error message: as Rust writes it when that is short, else in
/// scientific notation (`1e300`, not its 301 digits).
pub fn show_number(v: f64) -> String {
    let plain = v.to_string();
    if plain.len() <= 40 {
        plain
    } else {
        format!("{v:e}")
    }
}

/// Characters escaped in messages: control characters, and the Unicode line and
/// paragraph separators, which many terminals, editors and Python's `splitlines` take
/// as line breaks.
fn breaks_line(ch: char) -> bool {
    ch.is_control() || matches!(ch, '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests {

    /// Without a front end's registration (the library, the Python package) parameters read
    /// as keywords; the CLI registers its flags in main.rs (tests/lifecycle.rs sees them).
    #[test]
    fn parameters_are_named_as_keywords_by_default() {
        assert_eq!(Param::KMin.with(2), "k_min=2");
        assert_eq!(Param::ProfileFeatures.to_string(), "profile_features");
        assert_eq!(
            format!("remove it from {}", Param::Features),
            "remove it from features"
        );
    }
    use super::*;

    #[test]
    fn messages_are_one_bounded_line() {
        let e = Error::input("a\nb.csv", "column X\r\nY not found");
        assert_eq!(e.to_string(), "a\\nb.csv: column X\\r\\nY not found");
        let e = Error::usage("x".repeat(5000) + " do this");
        let s = e.to_string();
        assert!(
            s.len() < 1100 && s.ends_with(" do this") && s.contains(" ... "),
            "{s}"
        );
        assert_eq!(one_line("plain"), "plain");
    }
}
