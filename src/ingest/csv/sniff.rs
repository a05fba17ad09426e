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
    match what {
        Some(w) if !(w.starts_with("a Parquet") && name.ends_with(".parquet")) => {
            Err(Error::input(
                name,
                format!("line 1: this looks like {w}; expected a CSV file"),
            ))
        }
        _ => Ok(()),
    }
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
