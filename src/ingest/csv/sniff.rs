//! What the first bytes say before any parsing: binary or text, which delimiter, where a
//! line ends.

use crate::error::{Error, Result};

/// Refuses files that are clearly not delimited text, with a hint about what they are.
pub(super) fn sniff_binary(head: &[u8], name: &str) -> Result<()> {
    let what = if head.starts_with(b"PAR1") {
        Some("a Parquet file")
    } else if head.starts_with(b"PK\x03\x04") {
        Some("a ZIP archive (unzip it first)")
    } else if head.starts_with(b"SQLite format 3\0") {
        Some("an SQLite database (use --input sqlite://PATH with --table or --query)")
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("a zstd-compressed file (decompress it first)")
    } else if head.starts_with(b"BZh") {
        Some("a bzip2-compressed file (decompress it first)")
    } else if head.starts_with(b"\xFD7zXZ\x00") {
        Some("an xz-compressed file (decompress it first)")
    } else if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        Some("UTF-16 text (save it as UTF-8 CSV)")
    } else if head.iter().take(8192).any(|&b| b == 0) {
        Some("binary data, not CSV text")
    } else {
        None
    };
    // A NUL in text is found where it is, which need not be the first line.
    let place = match head.iter().take(8192).position(|&b| b == 0) {
        Some(at) if what == Some("binary data, not CSV text") => {
            let (line, column) = line_and_byte(&head[..at]);
            format!("line {line}, byte {column}: a NUL byte; ")
        }
        _ => "line 1: ".to_string(),
    };
    match what {
        Some(w) if !(w.starts_with("a Parquet") && crate::ingest::is_parquet_name(name)) => {
            Err(Error::input(
                name,
                format!("{place}this looks like {w}; expected a CSV file"),
            ))
        }
        _ => Ok(()),
    }
}

/// The line (counted as [`LineEnds`] counts) and the byte within it, both from 1, of the
/// byte that follows `before`.
fn line_and_byte(before: &[u8]) -> (u64, usize) {
    let mut ends = LineEnds::default();
    let mut start = 0;
    for (i, b) in before.iter().enumerate() {
        ends.byte(*b);
        if is_eol(b) {
            start = i + 1;
        }
    }
    (ends.line(), before.len() - start + 1)
}

/// Picks the delimiter from the header line: a comma unless the line has none and has
/// semicolons, tabs or pipes (European and database exports).
pub(crate) fn sniff_delimiter(head: &[u8]) -> u8 {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = &head[..line_end];
    let count = |d: u8| line.iter().filter(|&&b| b == d).count();
    if count(b',') > 0 {
        return b',';
    }
    [b';', b'\t', b'|']
        .into_iter()
        .map(|d| (count(d), d))
        .filter(|(n, _)| *n > 0)
        .max_by_key(|(n, _)| *n)
        .map(|(_, d)| d)
        .unwrap_or(b',')
}

pub(super) fn is_eol(c: &u8) -> bool {
    matches!(c, b'\n' | b'\r')
}

/// Counts line ends as an editor numbers lines: `\r\n`, a lone `\r` and a lone `\n`
/// each end one line. Every reading path numbers records with it, so a file reports the
/// same line numbers whatever its line ends (the `csv` crate counts `\n` bytes only, and
/// from where a record starts it is one short in a CRLF file, the `\n` of the line before
/// not yet read).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct LineEnds {
    /// Line ends counted so far.
    pub(super) count: u64,
    /// Whether the last byte counted was `\r`: a `\n` right after it ends no new line.
    pub(super) after_cr: bool,
}

impl LineEnds {
    /// A count starting at `count` line ends, after a `\r` if `after_cr`.
    pub(super) fn new(count: u64, after_cr: bool) -> Self {
        LineEnds { count, after_cr }
    }

    /// Counts one byte.
    #[inline]
    pub(super) fn byte(&mut self, b: u8) {
        self.count += u64::from(b == b'\r' || (b == b'\n' && !self.after_cr));
        self.after_cr = b == b'\r';
    }

    /// Counts `bytes`.
    pub(super) fn feed(&mut self, bytes: &[u8]) {
        let Some(&last) = bytes.last() else {
            return;
        };
        let ends = bytes.iter().filter(|b| is_eol(b)).count() as u64;
        let pairs = bytes.windows(2).filter(|w| w == b"\r\n").count() as u64;
        let joined = u64::from(self.after_cr && bytes[0] == b'\n');
        self.count += ends - pairs - joined;
        self.after_cr = last == b'\r';
    }

    /// The line a record starting now is on (counted from 1).
    pub(super) fn line(&self) -> u64 {
        self.count + 1
    }
}
