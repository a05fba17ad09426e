//! CSV (and gzip-compressed CSV) ingestion with the `csv` crate.
//!
//! Numbers are parsed strictly: an empty cell is missing; anything else must be a finite
//! decimal number no larger than [`MAX_ABS`] in magnitude. NaN, infinity, thousands
//! separators and values beyond that are refused with the line, column and value,
//! because silently reading them would skew every centroid (or overflow the sums of the
//! profile into infinities).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::error::{show_value, Error, Result};
use crate::ingest::plan::{plan, short_name, Plan, Slot, Wording};
use crate::ingest::ReadSpec;
use crate::progress::Progress;
use crate::table::{ColumnInfo, ColumnKind, Ids, Table};

/// Reads a CSV file (plain or gzip) from disk.
pub fn read_path(path: &Path, spec: &ReadSpec) -> Result<Table> {
    let name = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, "reading", e))?;
    if meta.is_dir() {
        return Err(Error::input(
            name,
            "is a directory without *.parquet parts; give the path of a CSV or Parquet file",
        ));
    }
    let file = File::open(path).map_err(|e| Error::io(path, "opening", e))?;
    let progress = Progress::bytes(meta.len(), "reading");
    let counted = progress.wrap_read(file);
    let mut buffered = BufReader::with_capacity(1 << 20, counted);
    let head = buffered
        .fill_buf()
        .map_err(|e| Error::io(path, "reading", e))?
        .to_vec();
    let table = if head.starts_with(&[0x1f, 0x8b]) {
        let decoder = flate2::read::MultiGzDecoder::new(buffered);
        read_from(BufReader::with_capacity(1 << 20, decoder), &name, spec)?
    } else {
        sniff_binary(&head, &name)?;
        read_from(buffered, &name, spec)?
    };
    progress.finish();
    Ok(table)
}

/// Refuses files that are clearly not delimited text, with a hint about what they are.
fn sniff_binary(head: &[u8], name: &str) -> Result<()> {
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
fn sniff_delimiter(head: &[u8]) -> u8 {
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

/// The outcome of parsing one numeric cell.
#[derive(Debug, PartialEq)]
pub enum Cell {
    Missing,
    Value(f64),
    Bad(&'static str),
}

/// Largest magnitude accepted for a number. Far above any card amount, and low enough
/// that sums, means and variances over billions of customers stay finite and exact to
/// the cent; a larger value is a unit error or a corrupt cell. Sources that read binary
/// numbers (not text) check theirs with [`check_value`].
pub const MAX_ABS: f64 = 1e15;

/// Judges a number read by any source: finite and within [`MAX_ABS`].
pub fn check_value(v: f64) -> Cell {
    if v.is_nan() || v.is_infinite() {
        Cell::Bad("is not a finite number (NaN and infinity are not accepted); leave the cell empty to mark it missing")
    } else if v.abs() > MAX_ABS {
        Cell::Bad("is larger than 1e15 in magnitude, beyond any amount cardseg accepts (64-bit sums of such values lose precision or overflow); check the data for wrong units or corrupt values")
    } else {
        Cell::Value(v)
    }
}

/// Strict number parsing shared by every text source (CSV, JSON strings, SQL text).
pub fn parse_number(raw: &[u8]) -> Cell {
    let s = raw.trim_ascii();
    if s.is_empty() {
        return Cell::Missing;
    }
    if !s
        .iter()
        .all(|b| matches!(b, b'0'..=b'9' | b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        let lower = String::from_utf8_lossy(s).to_ascii_lowercase();
        let lower = lower.trim_start_matches(['+', '-']);
        if lower == "nan" || lower.starts_with("inf") {
            return Cell::Bad("is not a finite number (NaN and infinity are not accepted); leave the cell empty to mark it missing");
        }
        if s.contains(&b',') && s.iter().any(u8::is_ascii_digit) {
            return Cell::Bad("is not a number (thousands separators and decimal commas are not accepted; write 1234.5)");
        }
        return Cell::Bad("is not a number; fix the cell, or leave it empty to mark it missing");
    }
    // SAFETY-free: the bytes are all ASCII, so this is valid UTF-8.
    let text = std::str::from_utf8(s).unwrap_or("");
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => check_value(v),
        Ok(_) => Cell::Bad("is outside the range of a 64-bit number"),
        Err(_) => Cell::Bad("is not a number; fix the cell, or leave it empty to mark it missing"),
    }
}

/// Reads CSV from any reader. `source_name` is used in messages.
pub fn read_from<R: BufRead>(mut input: R, source_name: &str, spec: &ReadSpec) -> Result<Table> {
    let head = input.fill_buf().map_err(|e| io_error(e, source_name))?;
    if head.starts_with(b"\xEF\xBB\xBF") {
        input.consume(3);
    }
    let head = input.fill_buf().map_err(|e| io_error(e, source_name))?;
    if head.is_empty() {
        return Err(Error::input(
            source_name,
            "the file is empty; expected a header line with column names, then one row per customer",
        ));
    }
    let delimiter = spec.delimiter.unwrap_or_else(|| sniff_delimiter(head));
    let mut rdr = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(false)
        .buffer_capacity(1 << 16)
        .from_reader(input);
    let header = rdr
        .byte_headers()
        .map_err(|e| csv_error(e, source_name))?
        .clone();
    let mut names = Vec::with_capacity(header.len());
    for (j, raw) in header.iter().enumerate() {
        let name = std::str::from_utf8(raw).map_err(|_| Error::Record {
            source_name: source_name.to_string(),
            line: 1,
            message: format!(
                "header field {} is not valid UTF-8 text; save the file as UTF-8",
                j + 1
            ),
        })?;
        names.push(name.trim().to_string());
    }
    if names.iter().all(|n| n.is_empty()) {
        return Err(Error::input(
            source_name,
            "line 1: the header has no column names; the first line must name the columns",
        ));
    }

    let duplicate = |want: &str, hits: &[usize]| {
        format!(
            "line 1: column {want} appears {} times in the header (fields {}); rename or remove the copies",
            hits.len(),
            hits.iter().map(|h| (h + 1).to_string()).collect::<Vec<_>>().join(", ")
        )
    };
    let words = Wording {
        place: "line 1: ",
        listing: "the header has",
        duplicate: &duplicate,
    };
    let Plan {
        mut slots,
        id_column,
        mut columns,
    } = plan(source_name, &names, spec, &words)?;

    let mut info: Vec<ColumnInfo> = names
        .iter()
        .map(|n| ColumnInfo {
            name: n.clone(),
            kind: ColumnKind::Numeric,
            missing: 0,
            first_text: None,
        })
        .collect();
    let mut text_cols = vec![false; names.len()];
    let mut ids = Ids::with_capacity(1024);
    let mut record = ::csv::ByteRecord::new();
    let mut rows: u64 = 0;
    loop {
        match rdr.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(e, source_name)),
        }
        let line = record.position().map(|p| p.line()).unwrap_or(rows + 2);
        if record.as_slice().contains(&b'\n') || record.as_slice().contains(&b'\r') {
            check_quotes(&record, delimiter, &names, source_name, line)?;
        }
        rows += 1;
        if id_column.is_none() {
            ids.push(itoa::Buffer::new().format(rows));
        }
        for (j, raw) in record.iter().enumerate() {
            let empty = raw.trim_ascii().is_empty();
            if empty {
                info[j].missing += 1;
            }
            match slots[j] {
                Slot::Skip => {
                    if !empty && !text_cols[j] {
                        text_cols[j] = true;
                        info[j].first_text = Some((line, show_value(raw)));
                    }
                }
                Slot::Id => {
                    let id = std::str::from_utf8(raw).map_err(|_| Error::Cell {
                        source_name: source_name.to_string(),
                        line,
                        column: names[j].clone(),
                        message: format!(
                            "customer id {} is not valid UTF-8 text; save the file as UTF-8",
                            show_value(raw)
                        ),
                    })?;
                    ids.push(id.trim());
                }
                Slot::Load { col, required } => match parse_number(raw) {
                    Cell::Missing => columns[col].values.push(f64::NAN),
                    Cell::Value(v) => columns[col].values.push(v),
                    Cell::Bad(why) => {
                        if required {
                            return Err(Error::Cell {
                                source_name: source_name.to_string(),
                                line,
                                column: names[j].clone(),
                                message: format!("{} {why}", show_value(raw)),
                            });
                        }
                        slots[j] = Slot::Skip;
                        text_cols[j] = true;
                        info[j].first_text = Some((line, show_value(raw)));
                        columns[col].values = Vec::new();
                        columns[col].name.clear();
                    }
                },
            }
        }
    }
    if rows == 0 {
        return Err(Error::input(
            source_name,
            "has a header line but no customer rows",
        ));
    }
    for (j, ci) in info.iter_mut().enumerate() {
        if text_cols[j] {
            ci.kind = ColumnKind::Text;
        } else if ci.missing == rows {
            ci.kind = ColumnKind::Empty;
        }
        if matches!(slots[j], Slot::Id) {
            ci.kind = ColumnKind::Text;
        }
    }
    columns.retain(|c| !c.name.is_empty());
    // Header order, whatever order the caller asked for them in.
    columns.sort_by_key(|c| {
        names
            .iter()
            .position(|n| *n == c.name)
            .unwrap_or(usize::MAX)
    });
    Ok(Table {
        source: source_name.to_string(),
        id_column,
        ids,
        columns,
        info,
        row_based: false,
    })
}

/// Refuses a record with a field that spans lines, one of which holds a whole row's worth
/// of delimiters: that is customers swallowed by a quote that opens and is not closed
/// where the field ends (the parser reads on to the next quote or the end of the file),
/// which would otherwise lose those customers without a word.
fn check_quotes(
    record: &::csv::ByteRecord,
    delimiter: u8,
    names: &[String],
    source_name: &str,
    line: u64,
) -> Result<()> {
    let columns = names.len();
    if columns < 2 {
        return Ok(());
    }
    for (j, field) in record.iter().enumerate() {
        let swallowed = field
            .split(|&b| b == b'\n' || b == b'\r')
            .skip(1)
            .any(|l| l.iter().filter(|&&b| b == delimiter).count() >= columns - 1);
        if swallowed {
            return Err(Error::Cell {
                source_name: source_name.to_string(),
                line,
                column: short_name(&names[j]),
                message: "a quote opens in this field and is not closed where the field ends, so the lines after it were read as part of this one value; close the quote or remove it".into(),
            });
        }
    }
    Ok(())
}

/// A column name as quoted in a message: at most 40 characters.
fn csv_error(e: ::csv::Error, source_name: &str) -> Error {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
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
        ::csv::ErrorKind::Io(io) => io_error(io, source_name),
        other => Error::Record {
            source_name: source_name.to_string(),
            line,
            message: format!("cannot read this CSV record: {other:?}"),
        },
    }
}

/// A read error: damaged compressed data gets its own advice.
fn io_error(io: std::io::Error, source_name: &str) -> Error {
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

/// Reads a CSV file into a table from a generic byte source (tests, HTTP bodies).
pub fn read_bytes(bytes: &[u8], source_name: &str, spec: &ReadSpec) -> Result<Table> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let decoder = flate2::read::MultiGzDecoder::new(bytes);
        return read_from(BufReader::new(decoder), source_name, spec);
    }
    sniff_binary(bytes, source_name)?;
    read_from(BufReader::new(bytes), source_name, spec)
}

#[allow(dead_code)]
fn _assert_read<R: Read>(_: R) {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::IdSpec;

    fn spec(required: &[&str]) -> ReadSpec {
        ReadSpec {
            id: IdSpec::default_column(),
            required: required.iter().map(|s| s.to_string()).collect(),
            other_numeric: true,
            delimiter: None,
        }
    }

    #[test]
    fn strict_numbers() {
        assert_eq!(parse_number(b" 1.5 "), Cell::Value(1.5));
        assert_eq!(parse_number(b"-2e3"), Cell::Value(-2000.0));
        assert_eq!(parse_number(b""), Cell::Missing);
        assert_eq!(parse_number(b"   "), Cell::Missing);
        assert!(matches!(parse_number(b"NaN"), Cell::Bad(_)));
        assert!(matches!(parse_number(b"-inf"), Cell::Bad(_)));
        assert!(matches!(parse_number(b"1,234.5"), Cell::Bad(_)));
        assert!(matches!(parse_number(b"1e400"), Cell::Bad(_)));
        assert!(matches!(parse_number(b"1e300"), Cell::Bad(_)));
        assert!(matches!(parse_number(b"-2e15"), Cell::Bad(_)));
        assert_eq!(parse_number(b"-1e15"), Cell::Value(-1e15));
        assert!(matches!(parse_number(b"12abc"), Cell::Bad(_)));
        assert!(matches!(parse_number(b"--1"), Cell::Bad(_)));
    }

    #[test]
    fn bom_crlf_and_text_columns() {
        let data = b"\xEF\xBB\xBFCUST_ID,A,NAME,B\r\nc1,1,x,\r\nc2,2.5,y,4\r\n";
        let t = read_bytes(data, "t.csv", &spec(&["A"])).unwrap();
        assert_eq!(t.rows(), 2);
        assert_eq!(t.ids.get(1), "c2");
        assert_eq!(t.column("A").unwrap().values, vec![1.0, 2.5]);
        assert!(t.column("NAME").is_none());
        let b = &t.column("B").unwrap().values;
        assert!(b[0].is_nan() && b[1] == 4.0);
        assert_eq!(t.info[2].kind, ColumnKind::Text);
    }

    #[test]
    fn semicolon_files_are_sniffed() {
        let t = read_bytes(b"CUST_ID;A\nx;1\n", "t.csv", &spec(&["A"])).unwrap();
        assert_eq!(t.column("A").unwrap().values, vec![1.0]);
    }

    #[test]
    fn errors_name_line_column_and_value() {
        let e = read_bytes(b"CUST_ID,A\nx,1\ny,abc\n", "t.csv", &spec(&["A"]))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t.csv:3: column A: \"abc\" is not a number"),
            "{e}"
        );
        let e = read_bytes(b"CUST_ID,A\nx,1,2\n", "t.csv", &spec(&["A"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.csv:2:") && e.contains("3 fields"), "{e}");
        let e = read_bytes(b"CUST_ID,B\nx,1\n", "t.csv", &spec(&["A"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("column A not found"), "{e}");
        let e = read_bytes(b"", "t.csv", &spec(&["A"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty"), "{e}");
        let e = read_bytes(b"CUST_ID,A\n", "t.csv", &spec(&["A"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no customer rows"), "{e}");
    }

    #[test]
    fn unclosed_quotes_do_not_swallow_customers() {
        let e = read_bytes(
            b"CUST_ID,A,NOTE\nx,1,ok\ny,2,\"open\nz,3,ok\nw,4,ok\n",
            "t.csv",
            &spec(&["A"]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("t.csv:3: column NOTE: a quote opens"), "{e}");
        // A quoted field may span lines when it is text, not rows.
        let t = read_bytes(
            b"CUST_ID,A,NOTE\nx,1,\"two\nlines\"\ny,2,ok\n",
            "t.csv",
            &spec(&["A"]),
        )
        .unwrap();
        assert_eq!(t.rows(), 2);
    }

    #[test]
    fn default_id_column_may_be_absent() {
        let t = read_bytes(b"A\n1\n2\n", "t.csv", &spec(&["A"])).unwrap();
        assert_eq!(t.id_column, None);
        assert_eq!(t.ids.get(1), "2");
    }
}
