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
use crate::ingest::{Limits, ReadSpec};
use crate::progress::Progress;
use crate::table::{Column, ColumnInfo, ColumnKind, Ids, Spilled, Table};
use rayon::prelude::*;

/// Reads a CSV file (plain or gzip) from disk, within `limits`.
pub fn read_path(path: &Path, spec: &ReadSpec, limits: &Limits) -> Result<Table> {
    read_path_spilling(path, spec, limits, None).map(|(t, _)| t)
}

/// Files at least this large keep the columns that are not required in a temporary
/// file while they are read, when the caller gives a place for it.
pub const SPILL_MIN_BYTES: u64 = 64 << 20;

/// Reads a CSV file; with `spill_dir`, a plain file of [`SPILL_MIN_BYTES`] or more keeps
/// its columns that are not required (the ones only the profile reads) in a temporary
/// file there rather than in memory: they are then absent from the table and held by
/// the [`Spilled`] returned.
pub fn read_path_spilling(
    path: &Path,
    spec: &ReadSpec,
    limits: &Limits,
    spill_dir: Option<&Path>,
) -> Result<(Table, Option<Spilled>)> {
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
    let read = if head.starts_with(&[0x1f, 0x8b]) {
        let decoder = flate2::read::MultiGzDecoder::new(buffered);
        (
            read_from(
                BufReader::with_capacity(1 << 20, decoder),
                &name,
                spec,
                limits,
            )?,
            None,
        )
    } else {
        sniff_binary(&head, &name)?;
        let spill = match spill_dir {
            Some(dir) if meta.len() >= SPILL_MIN_BYTES => Some(Spilled::create_in(dir)?),
            _ => None,
        };
        read_chunked(
            &mut buffered,
            &name,
            spec,
            limits,
            Some(meta.len()),
            Chunking::default(),
            spill,
        )?
    };
    progress.finish();
    Ok(read)
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
    if let Some(v) = fast_decimal(s) {
        return check_value(v);
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

/// Powers of ten exactly representable as `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Plain decimals (`[+-]digits[.digits]`, at most 19 digits) the quick way: the digits
/// as an integer `m` below 2^53 over a power of ten up to 10^22. Both are exact in
/// `f64` and IEEE division rounds correctly, so `m / 10^f` is the correctly rounded
/// value, bit for bit what `str::parse::<f64>` gives (this is its own fast path, without
/// the UTF-8 check and the general grammar). None sends anything else to the general path.
#[inline]
fn fast_decimal(s: &[u8]) -> Option<f64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    let mut m: u64 = 0;
    let mut count = 0usize;
    let mut frac: Option<usize> = None;
    for (i, &b) in digits.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                m = m * 10 + u64::from(b - b'0');
                count += 1;
            }
            b'.' if frac.is_none() => frac = Some(digits.len() - i - 1),
            _ => return None,
        }
    }
    // 20 bytes with a dot are 19 digits at most: no overflow above.
    if count == 0 || count > 19 || m > (1u64 << 53) {
        return None;
    }
    let f = frac.unwrap_or(0);
    if f >= POW10.len() {
        return None;
    }
    let v = m as f64 / POW10[f];
    Some(if neg { -v } else { v })
}

/// Reads CSV from any reader, one record after the other. `source_name` is used in
/// messages. Used for gzip streams; plain text goes through [`read_chunked`].
pub fn read_from<R: BufRead>(
    mut input: R,
    source_name: &str,
    spec: &ReadSpec,
    limits: &Limits,
) -> Result<Table> {
    let head = input.fill_buf().map_err(|e| io_error(e, source_name))?;
    if head.starts_with(b"\xEF\xBB\xBF") {
        input.consume(3);
    }
    let head = input.fill_buf().map_err(|e| io_error(e, source_name))?;
    if head.is_empty() {
        return Err(empty_file(source_name));
    }
    let delimiter = spec.delimiter.unwrap_or_else(|| sniff_delimiter(head));
    let mut rdr = record_reader(delimiter, true, Tape::new(input, limits.max_record_bytes));
    let mut acc = Accumulator::new(&mut rdr, source_name, spec, delimiter, limits)?;
    let part = parse_records(&mut rdr, &acc.layout(), 0, 0)?;
    acc.merge(&part)?;
    acc.finish().map(|(t, _)| t)
}

/// The `csv` reader every path uses: same quoting rules, so a chunk parsed on its own
/// splits fields exactly as the whole file read in one go would. Field counts are
/// checked by [`parse_records`] (not by the crate) so every path words them the same.
fn record_reader<R: Read>(delimiter: u8, headers: bool, input: R) -> ::csv::Reader<R> {
    ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(headers)
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_reader(input)
}

/// The input of a record-by-record reader. It keeps the bytes of the record being read
/// (a quoted field that spans lines is checked on them, see [`check_quotes`]) and stops a
/// record that outgrows the limit before the `csv` reader's buffers do, so a gigabyte
/// line in a small gzip file is one clear error, not an aborted allocation.
struct Tape<R> {
    inner: R,
    /// The input's bytes from offset `start` to `fed`.
    kept: Vec<u8>,
    start: u64,
    fed: u64,
    /// Where the record being read starts (the end of the one before), and its line.
    record: u64,
    line: u64,
    max_record: u64,
}

/// The `csv` reader holds at most this many bytes it has read from its input but not
/// parsed yet (its buffer is 64 KiB): a record is certainly longer than the limit once
/// the input has given this much more than the limit since the record began.
const TAPE_SLACK: u64 = 1 << 20;

/// What a [`Tape`] reports when a record outgrows the limit.
#[derive(Debug)]
struct RecordTooLong {
    line: u64,
    limit: u64,
}

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a record longer than {} bytes", self.limit)
    }
}

impl std::error::Error for RecordTooLong {}

impl<R: Read> Read for Tape<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.fed - self.record > self.max_record + TAPE_SLACK {
            return Err(std::io::Error::other(RecordTooLong {
                line: self.line,
                limit: self.max_record,
            }));
        }
        let n = self.inner.read(out)?;
        self.kept.extend_from_slice(&out[..n]);
        self.fed += n as u64;
        Ok(n)
    }
}

impl<R> Tape<R> {
    fn new(inner: R, max_record: u64) -> Self {
        Tape {
            inner,
            kept: Vec::new(),
            start: 0,
            fed: 0,
            record: 0,
            line: 1,
            max_record,
        }
    }

    /// The records read so far end at byte `end`; the next starts on `line`. Bytes
    /// before `end` are dropped now and then (in bulk: the buffer is not shifted per record).
    fn next_record(&mut self, end: u64, line: u64) {
        self.record = end;
        self.line = line;
        let done = (end - self.start) as usize;
        if done >= 1 << 20 && done * 2 >= self.kept.len() {
            self.kept.drain(..done);
            self.start = end;
        }
    }

    /// The input's bytes from offset `from` to `to`, both after the last record end
    /// passed to [`Tape::next_record`] and at most what was read.
    fn bytes(&self, from: u64, to: u64) -> &[u8] {
        &self.kept[(from - self.start) as usize..(to - self.start) as usize]
    }
}

/// The error of a record longer than `limit` bytes, starting on `line`.
fn record_too_long(source_name: &str, line: u64, limit: u64) -> Error {
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

fn empty_file(source_name: &str) -> Error {
    Error::input(
        source_name,
        "the file is empty; expected a header line with column names, then one row per customer",
    )
}

/// How the columns of the file are read: fixed once the header is known, except that a
/// column that is not required turns to text (and stops being loaded) at its first cell
/// that is not a number.
#[derive(Clone)]
struct Layout<'a> {
    source_name: &'a str,
    names: &'a [String],
    slots: Vec<Slot>,
    /// How many columns are loaded.
    columns: usize,
    delimiter: u8,
    /// Longest record accepted, in bytes (without its line end).
    max_record: u64,
}

/// What one run of records (a chunk, or the rest of a stream) holds, with line numbers
/// already absolute. Merged in file order by [`Accumulator::merge`].
struct Part {
    rows: u64,
    ids: Ids,
    /// Per loaded column (the plan's `col` numbers); empty for a column whose
    /// first non-number cell came in this part.
    values: Vec<Vec<f64>>,
    /// Per header column: empty cells.
    missing: Vec<u64>,
    /// Per header column: the first cell that makes it text (for a skipped column, its
    /// first non-empty cell; for a loaded one, its first cell that is not a number).
    first: Vec<Option<(u64, String)>>,
}

/// Collects the records of one run into a [`Part`], with the same checks in the same
/// order for every way of splitting records.
struct Sink<'l, 'a, 'p> {
    lay: &'l Layout<'a>,
    slots: Vec<Slot>,
    part: &'p mut Part,
}

impl Part {
    fn new(columns: usize, names: usize) -> Self {
        Part {
            rows: 0,
            ids: Ids::default(),
            values: vec![Vec::new(); columns],
            missing: vec![0; names],
            first: vec![None; names],
        }
    }

    /// Empties the part for the next chunk, keeping its memory (no page faults, no
    /// returning memory to the system and asking for it again block after block).
    fn reset(&mut self, rows_hint: usize) {
        self.rows = 0;
        self.ids.clear();
        self.ids.reserve(rows_hint, 0);
        for v in &mut self.values {
            v.clear();
            v.reserve(rows_hint);
        }
        self.missing.iter_mut().for_each(|m| *m = 0);
        self.first.iter_mut().for_each(|f| *f = None);
    }

    /// Adds `by` to every line number held.
    fn shift_lines(&mut self, by: u64) {
        for (line, _) in self.first.iter_mut().flatten() {
            *line += by;
        }
    }
}

/// Adds `by` to the line number of an error found in a chunk parsed on its own.
fn shift_error(e: Error, by: u64) -> Error {
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

impl<'l, 'a, 'p> Sink<'l, 'a, 'p> {
    fn new(lay: &'l Layout<'a>, part: &'p mut Part, rows_hint: usize) -> Self {
        part.reset(rows_hint);
        Sink {
            lay,
            slots: lay.slots.clone(),
            part,
        }
    }

    /// One record of `count` fields starting on `line`.
    #[inline]
    fn record<'f>(
        &mut self,
        line: u64,
        count: usize,
        fields: impl Iterator<Item = &'f [u8]>,
    ) -> Result<()> {
        let source_name = self.lay.source_name;
        let names = self.lay.names;
        if count != names.len() {
            return Err(Error::Record {
                source_name: source_name.to_string(),
                line,
                message: format!(
                    "this row has {count} fields but the header has {}; every row needs one field per column (look for a stray delimiter or quote)",
                    names.len()
                ),
            });
        }
        let part = &mut *self.part;
        part.rows += 1;
        for (j, raw) in fields.enumerate() {
            let empty = raw.trim_ascii().is_empty();
            if empty {
                part.missing[j] += 1;
            }
            match self.slots[j] {
                Slot::Skip => {
                    if !empty && part.first[j].is_none() {
                        part.first[j] = Some((line, show_value(raw)));
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
                    part.ids.push(id.trim());
                }
                Slot::Load { col, required } => match parse_number(raw) {
                    Cell::Missing => part.values[col].push(f64::NAN),
                    Cell::Value(v) => part.values[col].push(v),
                    Cell::Bad(why) => {
                        if required {
                            return Err(Error::Cell {
                                source_name: source_name.to_string(),
                                line,
                                column: names[j].clone(),
                                message: format!("{} {why}", show_value(raw)),
                            });
                        }
                        self.slots[j] = Slot::Skip;
                        part.first[j] = Some((line, show_value(raw)));
                        part.values[col] = Vec::new();
                    }
                },
            }
        }
        Ok(())
    }
}

/// Parses every record `rdr` still has. `offset` is added to the reader's line numbers
/// (the lines before the point where this reader started). Stops at the first error,
/// which is therefore the first error of this run of records.
fn parse_records<R: Read>(
    rdr: &mut ::csv::Reader<Tape<R>>,
    lay: &Layout,
    offset: u64,
    rows_hint: usize,
) -> Result<Part> {
    let mut part = Part::new(lay.columns, lay.names.len());
    let mut sink = Sink::new(lay, &mut part, rows_hint);
    let mut record = ::csv::ByteRecord::new();
    let at = rdr.position().clone();
    rdr.get_mut().next_record(at.byte(), at.line());
    loop {
        match rdr.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(e, lay.source_name, offset)),
        }
        let line = record
            .position()
            .map(|p| p.line())
            .unwrap_or(sink.part.rows + 2)
            + offset;
        let start = record.position().map_or(rdr.get_ref().record, |p| p.byte());
        let end = rdr.position().clone();
        let raw = rdr
            .get_ref()
            .bytes(start.max(rdr.get_ref().record), end.byte());
        let ends = raw.iter().rev().take_while(|b| is_eol(b)).count();
        let starts = raw.iter().take_while(|b| is_eol(b)).count();
        if raw.len().saturating_sub(ends + starts) as u64 > lay.max_record {
            return Err(record_too_long(lay.source_name, line, lay.max_record));
        }
        if record.len() == lay.names.len()
            && (record.as_slice().contains(&b'\n') || record.as_slice().contains(&b'\r'))
        {
            check_quotes(raw, lay.delimiter, lay.names, lay.source_name, line)?;
        }
        rdr.get_mut().next_record(end.byte(), end.line());
        sink.record(line, record.len(), record.iter())?;
    }
    Ok(part)
}

/// What parsing a chunk on its own found.
enum Chunk {
    /// Parsed into its part; the `\n` bytes it holds.
    Done(u64),
    /// It holds a quote and was not parsed.
    Quoted,
}

/// Parses a chunk without quotes into `part`, splitting records and fields directly:
/// the same records, fields and line numbers as the `csv` reader (which is what
/// `chunked_reading_equals_record_by_record_reading` checks), at a fraction of the cost.
/// Without quotes a record is the bytes up to the next `\r` or `\n`; line ends between
/// records are skipped as blank lines; the line of a record is 1 + the `\n` bytes
/// consumed when the record before it ended (a record ended by `\r` leaves its `\n` to
/// be skipped later, as the `csv` reader does). Line numbers are counted from the
/// chunk's start: the caller adds the lines before it. A quote anywhere stops it (a
/// quoted field may hold delimiters and line ends): [`Chunk::Quoted`].
fn parse_plain(chunk: &[u8], lay: &Layout, part: &mut Part) -> Result<Chunk> {
    // About 2 bytes a cell at the least: a wide table holds few rows per chunk.
    let rows_hint = chunk.len() / (2 * lay.names.len()).max(64) + 1;
    let mut sink = Sink::new(lay, part, rows_hint);
    // One more than the header's: enough to tell a row with too many fields, which is
    // then counted, not stored (a long line of delimiters costs no memory).
    let keep = lay.names.len() + 1;
    let delimiter = lay.delimiter;
    let mut newlines = 0u64;
    let mut p = 0usize;
    let end = chunk.len();
    // Where each field ends (one scan finds fields and the end of the record).
    let mut ends: Vec<usize> = Vec::with_capacity(lay.names.len() + 1);
    loop {
        let line = 1 + newlines;
        while p < end && is_eol(&chunk[p]) {
            newlines += u64::from(chunk[p] == b'\n');
            p += 1;
        }
        if p == end {
            break;
        }
        let start = p;
        ends.clear();
        let mut count = 1usize;
        while p < end {
            let c = chunk[p];
            if c == delimiter {
                if ends.len() < keep {
                    ends.push(p);
                }
                count += 1;
            } else if c == b'\n' || c == b'\r' {
                break;
            } else if c == b'"' {
                return Ok(Chunk::Quoted);
            }
            p += 1;
        }
        let stop = p;
        if (stop - start) as u64 > lay.max_record {
            return Err(record_too_long(lay.source_name, line, lay.max_record));
        }
        ends.push(stop);
        let mut from = start;
        let fields = ends.iter().map(|&e| {
            let f = &chunk[from..e];
            from = e + 1;
            f
        });
        sink.record(line, count, fields)?;
        if stop < end {
            newlines += u64::from(chunk[stop] == b'\n');
            p = stop + 1;
        } else {
            p = end;
        }
    }
    Ok(Chunk::Done(newlines))
}

/// The table being built: header facts, then parts merged in file order.
struct Accumulator<'a> {
    source_name: &'a str,
    names: Vec<String>,
    slots: Vec<Slot>,
    id_column: Option<String>,
    columns: Vec<Column>,
    info: Vec<ColumnInfo>,
    text_cols: Vec<bool>,
    ids: Ids,
    rows: u64,
    delimiter: u8,
    /// Where columns that are not required go instead of memory, if anywhere.
    spill: Option<Spilled>,
    /// Longest record accepted, in bytes.
    max_record: u64,
}

impl<'a> Accumulator<'a> {
    /// Reads the header from `rdr` and resolves the columns `spec` asks for.
    fn new<R: Read>(
        rdr: &mut ::csv::Reader<R>,
        source_name: &'a str,
        spec: &ReadSpec,
        delimiter: u8,
        limits: &Limits,
    ) -> Result<Self> {
        let header = rdr
            .byte_headers()
            .map_err(|e| csv_error(e, source_name, 0))?
            .clone();
        if rdr.position().byte() > limits.max_record_bytes {
            return Err(record_too_long(source_name, 1, limits.max_record_bytes));
        }
        // Before anything is set aside per column: a small file naming 100,000 columns
        // would otherwise cost minutes and gigabytes.
        if header.len() > limits.max_columns {
            return Err(Error::input(
                source_name,
                format!(
                    "line 1: the header has {} columns, more than the {} cardseg reads; if the table really is this wide, raise the limit with --max-columns",
                    header.len(),
                    limits.max_columns
                ),
            ));
        }
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
            slots,
            id_column,
            columns,
        } = plan(source_name, &names, spec, &words)?;
        let info = names
            .iter()
            .map(|n| ColumnInfo {
                name: n.clone(),
                kind: ColumnKind::Numeric,
                missing: 0,
                first_text: None,
            })
            .collect();
        Ok(Accumulator {
            source_name,
            text_cols: vec![false; names.len()],
            names,
            slots,
            id_column,
            columns,
            info,
            ids: Ids::default(),
            rows: 0,
            delimiter,
            spill: None,
            max_record: limits.max_record_bytes,
        })
    }

    fn layout(&self) -> Layout<'_> {
        Layout {
            source_name: self.source_name,
            names: &self.names,
            slots: self.slots.clone(),
            columns: self.columns.len(),
            delimiter: self.delimiter,
            max_record: self.max_record,
        }
    }

    /// Reserves room for about `rows` more customers (a guess from the file size; pages
    /// never written are never resident).
    fn reserve(&mut self, rows: usize) {
        for (j, slot) in self.slots.iter().enumerate() {
            match slot {
                Slot::Load {
                    required: false, ..
                } if self.spill.is_some() => {}
                Slot::Load { col, .. } => self.columns[*col].values.reserve(rows),
                Slot::Id => self.ids.reserve(rows, rows * self.names[j].len().max(8)),
                Slot::Skip => {}
            }
        }
    }

    /// Appends the next part in file order. The part may have been parsed with an older
    /// layout (a column that turned to text since): its values for such columns are
    /// ignored, which is what reading the rows one by one would have done.
    fn merge(&mut self, part: &Part) -> Result<()> {
        for (j, first) in part.first.iter().enumerate() {
            self.info[j].missing += part.missing[j];
            if let Some(first) = first {
                if !self.text_cols[j] {
                    self.text_cols[j] = true;
                    self.info[j].first_text = Some(first.clone());
                    if let Slot::Load { col, .. } = self.slots[j] {
                        self.slots[j] = Slot::Skip;
                        if let Some(spill) = &mut self.spill {
                            spill.forget(&self.columns[col].name);
                        }
                        self.columns[col].values = Vec::new();
                        self.columns[col].name.clear();
                    }
                }
            }
        }
        for slot in &self.slots {
            match (slot, &mut self.spill) {
                (
                    Slot::Load {
                        col,
                        required: false,
                    },
                    Some(spill),
                ) => {
                    spill.append(&self.columns[*col].name, &part.values[*col])?;
                }
                (Slot::Load { col, .. }, _) => self.columns[*col]
                    .values
                    .extend_from_slice(&part.values[*col]),
                _ => {}
            }
        }
        if self.id_column.is_some() {
            self.ids.append(&part.ids);
        }
        self.rows += part.rows;
        Ok(())
    }

    fn finish(mut self) -> Result<(Table, Option<Spilled>)> {
        let rows = self.rows;
        if rows == 0 {
            return Err(Error::input(
                self.source_name,
                "has a header line but no customer rows",
            ));
        }
        if self.id_column.is_none() {
            let mut ids = Ids::with_capacity(rows as usize);
            let mut b = itoa::Buffer::new();
            for r in 1..=rows {
                ids.push(b.format(r));
            }
            self.ids = ids;
        }
        for (j, ci) in self.info.iter_mut().enumerate() {
            if self.text_cols[j] {
                ci.kind = ColumnKind::Text;
            } else if ci.missing == rows {
                ci.kind = ColumnKind::Empty;
            }
            if matches!(self.slots[j], Slot::Id) {
                ci.kind = ColumnKind::Text;
            }
        }
        let names = self.names;
        let mut columns = self.columns;
        let spill = self.spill;
        columns
            .retain(|c| !c.name.is_empty() && !spill.as_ref().is_some_and(|s| s.contains(&c.name)));
        for c in &mut columns {
            c.values.shrink_to_fit();
        }
        // Header order, whatever order the caller asked for them in (the first column of
        // each name, as a search from the start finds it; one pass, not one per column).
        let mut at = std::collections::HashMap::with_capacity(names.len());
        for (j, n) in names.iter().enumerate() {
            at.entry(n.as_str()).or_insert(j);
        }
        columns.sort_by_cached_key(|c| at.get(c.name.as_str()).copied().unwrap_or(usize::MAX));
        self.ids.shrink_to_fit();
        let table = Table {
            source: self.source_name.to_string(),
            id_column: self.id_column,
            ids: self.ids,
            columns,
            info: self.info,
            row_based: false,
        };
        Ok((table, spill))
    }
}

/// Sizes of the chunked reader: bytes read per block, and chunks per block (parsed in
/// parallel). Tests shrink them to put chunk boundaries everywhere.
#[derive(Debug, Clone, Copy)]
pub struct Chunking {
    /// Bytes read per block (16 MiB).
    pub block: usize,
    /// Chunks each block is split into, parsed in parallel.
    pub chunks: usize,
}

/// Hidden setting for tests of the real binary: the block size in bytes (at least 16),
/// so a small file crosses many block boundaries. Not documented for users: results
/// never depend on it, only where the blocks fall.
pub const BLOCK_ENV: &str = "CARDSEG_CSV_BLOCK_BYTES";

impl Default for Chunking {
    fn default() -> Self {
        let block = std::env::var(BLOCK_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .map_or(16 << 20, |b| b.max(16));
        Chunking {
            block,
            chunks: 4 * rayon::current_num_threads().max(1),
        }
    }
}

/// Fills `buf` from `input` until it holds `want` more bytes or the input ends; true at
/// the end of the input.
fn fill(input: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
    let target = buf.len() + want;
    buf.reserve(want);
    while buf.len() < target {
        let start = buf.len();
        buf.resize(target, 0);
        match input.read(&mut buf[start..]) {
            Ok(0) => {
                buf.truncate(start);
                return Ok(true);
            }
            Ok(n) => buf.truncate(start + n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => buf.truncate(start),
            Err(e) => {
                buf.truncate(start);
                return Err(e);
            }
        }
    }
    Ok(false)
}

/// Whether a chunk may start at `p`: just after a line end (`\n` or `\r`) that ends a
/// non-blank record. There the `csv` reader reading the whole file has just finished
/// that record (a `\r\n` record ends at the `\r`; the `\n` is skipped with the next
/// one), and it numbers lines by the `\n` bytes consumed so far, so a fresh reader
/// started at `p` with the `\n` count before `p` as line offset splits and numbers the
/// rest identically, blank lines and all.
fn boundary(b: &[u8], p: usize) -> bool {
    p >= 2 && matches!(b[p - 1], b'\n' | b'\r') && !matches!(b[p - 2], b'\n' | b'\r')
}

fn is_eol(c: &u8) -> bool {
    matches!(c, b'\n' | b'\r')
}

/// The first chunk start at or after `from` (the end of `b` when there is none).
fn next_boundary(b: &[u8], from: usize) -> usize {
    let mut p = from;
    while p < b.len() {
        match b[p..].iter().position(is_eol) {
            Some(i) => {
                p += i + 1;
                if boundary(b, p) {
                    return p;
                }
            }
            None => return b.len(),
        }
    }
    b.len()
}

/// The last chunk start in `b` after `from`, if any.
fn last_boundary(b: &[u8], from: usize) -> Option<usize> {
    let mut end = b.len();
    while end > from {
        let i = b[from..end].iter().rposition(is_eol)? + from;
        if i + 1 > from && boundary(b, i + 1) {
            return Some(i + 1);
        }
        end = i;
    }
    None
}

/// Where parsing a region stopped.
enum After {
    /// At a chunk holding a quote: its start in the region, and its line offset.
    Quoted(usize, u64),
    /// At the end of the region; the line offset there.
    End(u64),
}

/// Parses `region` (whole records, starting at a chunk start whose line offset is
/// `offset`) in parallel chunks into `pool`, and merges them in file order into `acc`.
/// Returns where it stopped: at the first chunk holding a quote (which is not split
/// safely: a quoted field may hold a line end), or at the end of the region.
fn parse_region(
    region: &[u8],
    offset: u64,
    acc: &mut Accumulator,
    pool: &mut Vec<Part>,
    chunks: usize,
) -> Result<After> {
    let mut cuts = vec![0usize];
    for c in 1..chunks.max(1) {
        let target = region.len() * c / chunks;
        let p = next_boundary(region, target.max(*cuts.last().unwrap_or(&0)));
        if p < region.len() && p > *cuts.last().unwrap_or(&0) {
            cuts.push(p);
        }
    }
    cuts.push(region.len());
    let spans: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
    while pool.len() < spans.len() {
        pool.push(Part::new(acc.columns.len(), acc.names.len()));
    }
    let lay = acc.layout();
    let outcomes: Vec<Result<Chunk>> = pool[..spans.len()]
        .par_iter_mut()
        .zip(&spans)
        .map(|(part, &(a, b))| parse_plain(&region[a..b], &lay, part))
        .collect();
    drop(lay);
    let mut offset = offset;
    for ((outcome, part), &(a, _)) in outcomes.into_iter().zip(pool.iter_mut()).zip(&spans) {
        match outcome {
            Err(e) => return Err(shift_error(e, offset)),
            Ok(Chunk::Quoted) => return Ok(After::Quoted(a, offset)),
            Ok(Chunk::Done(newlines)) => {
                part.shift_lines(offset);
                acc.merge(part)?;
                offset += newlines;
            }
        }
    }
    Ok(After::End(offset))
}

/// Reads plain CSV text in blocks, each split at record boundaries into chunks parsed in
/// parallel while the next block is read. Results, and the error reported (the first in
/// file order), are exactly those of reading record by record: every chunk starts where
/// the whole-file reader would have just ended a record, and parts are merged in order.
/// Text from the first chunk holding a quote on is read record by record.
#[allow(clippy::too_many_arguments)]
pub fn read_chunked(
    input: &mut (dyn Read + Send),
    source_name: &str,
    spec: &ReadSpec,
    limits: &Limits,
    size_hint: Option<u64>,
    sizes: Chunking,
    spill: Option<Spilled>,
) -> Result<(Table, Option<Spilled>)> {
    let mut buf = Vec::new();
    let mut eof = fill(input, &mut buf, sizes.block).map_err(|e| io_error(e, source_name))?;
    let start = if buf.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    if buf.len() == start {
        return Err(empty_file(source_name));
    }
    let delimiter = spec
        .delimiter
        .unwrap_or_else(|| sniff_delimiter(&buf[start..]));
    // The header must be whole in the buffer: read on until the header reader stops
    // before its end (or the input ends).
    while !eof {
        let mut hdr = record_reader(delimiter, true, &buf[start..]);
        let _ = hdr.byte_headers();
        if start + (hdr.position().byte() as usize) < buf.len() {
            break;
        }
        if (buf.len() - start) as u64 > limits.max_record_bytes {
            return Err(record_too_long(source_name, 1, limits.max_record_bytes));
        }
        let more = buf.len().max(sizes.block);
        eof = fill(input, &mut buf, more).map_err(|e| io_error(e, source_name))?;
    }
    let mut hdr = record_reader(delimiter, true, &buf[start..]);
    let mut acc = Accumulator::new(&mut hdr, source_name, spec, delimiter, limits)?;
    acc.spill = spill;
    let pos = hdr.position().clone();
    drop(hdr);
    let mut from = start + pos.byte() as usize;
    let mut offset = pos.line() - 1;
    if let Some(total) = size_hint {
        let sample = &buf[from..];
        let rows_seen = sample.iter().filter(|&&c| c == b'\n').count();
        if rows_seen > 0 {
            let per_row = sample.len() as f64 / rows_seen as f64;
            let guess = (total as f64 / per_row * 1.02) as u64;
            acc.reserve(guess.min(total / 2) as usize);
        }
    }
    if matches!(delimiter, b'\n' | b'\r' | b'"') {
        return sequential_rest(acc, &buf[from..], input, offset);
    }
    let mut pool = Vec::new();
    // The two block buffers take turns (allocating a fresh one per block leaves freed
    // blocks in the allocator's arenas, tens of MB of resident memory for nothing).
    let mut spare: Vec<u8> = Vec::new();
    loop {
        let end = if eof {
            buf.len()
        } else {
            match last_boundary(&buf, from) {
                Some(e) => e,
                None => return sequential_rest(acc, &buf[from..], input, offset),
            }
        };
        let mut next = std::mem::take(&mut spare);
        next.clear();
        let (after, read) = rayon::join(
            || parse_region(&buf[from..end], offset, &mut acc, &mut pool, sizes.chunks),
            || {
                if eof {
                    return Ok(true);
                }
                next.reserve(sizes.block + buf.len() - end);
                next.extend_from_slice(&buf[end..]);
                fill(input, &mut next, sizes.block)
            },
        );
        let after = after?;
        let read = read.map_err(|e| io_error(e, source_name));
        match after {
            After::Quoted(q, off) if eof => {
                return sequential_rest(acc, &buf[from + q..], input, off)
            }
            After::Quoted(q, off) => {
                // `next` already holds the bytes after `end` and the next block.
                read?;
                let head: Vec<u8> = buf[from + q..end].iter().chain(&next).copied().collect();
                drop(buf);
                drop(next);
                return sequential_rest(acc, &head, input, off);
            }
            After::End(off) => offset = off,
        }
        if eof {
            return acc.finish();
        }
        eof = read?;
        spare = std::mem::replace(&mut buf, next);
        from = 0;
    }
}

/// Reads `head` and then the rest of `input` record by record, from a chunk start whose
/// line offset is `offset`.
fn sequential_rest(
    mut acc: Accumulator,
    head: &[u8],
    input: &mut (dyn Read + Send),
    offset: u64,
) -> Result<(Table, Option<Spilled>)> {
    let tape = Tape::new(head.chain(input), acc.max_record);
    let mut rdr = record_reader(acc.delimiter, false, tape);
    let part = parse_records(&mut rdr, &acc.layout(), offset, 0)?;
    acc.merge(&part)?;
    acc.finish()
}

/// Refuses a record (its bytes as read, `raw`) with a quoted field that spans lines and
/// is not closed where the field ends: its quote is never closed, or it is closed by a
/// quote followed by more text (`"open ... ,"note"` reads on through the lines between).
/// Those are customers swallowed into one value, which would otherwise be lost without a
/// word. A quoted field closed properly is read whatever it holds, rows of CSV included,
/// as the `csv` crate and pandas read it.
fn check_quotes(
    raw: &[u8],
    delimiter: u8,
    names: &[String],
    source_name: &str,
    line: u64,
) -> Result<()> {
    match unclosed_field(raw, delimiter) {
        None => Ok(()),
        Some(j) => Err(Error::Cell {
            source_name: source_name.to_string(),
            line,
            column: short_name(&names[j.min(names.len().saturating_sub(1))]),
            message: "a quote opens in this field and is not closed where the field ends, so the lines after it were read as part of this one value; close the quote or remove it".into(),
        }),
    }
}

/// The field of a raw record, split as the `csv` reader splits it (a quote opens a
/// quoted field only at the start of a field, `""` inside is a quote), whose quoted part
/// holds a line end and does not end with a closing quote followed by a delimiter, a
/// line end or the end of the input.
fn unclosed_field(raw: &[u8], delimiter: u8) -> Option<usize> {
    #[derive(PartialEq)]
    enum S {
        Start,
        Plain,
        Quoted,
        QuoteInQuoted,
    }
    if matches!(delimiter, b'"' | b'\n' | b'\r') {
        return None;
    }
    let from = raw.iter().take_while(|b| is_eol(b)).count();
    let (mut s, mut j, mut spans) = (S::Start, 0usize, false);
    for &b in &raw[from..] {
        s = match s {
            S::Start | S::Plain | S::QuoteInQuoted if b == delimiter => {
                j += 1;
                spans = false;
                S::Start
            }
            S::Start | S::Plain | S::QuoteInQuoted if is_eol(&b) => return None,
            S::Start if b == b'"' => S::Quoted,
            S::Start | S::Plain => S::Plain,
            S::Quoted if b == b'"' => S::QuoteInQuoted,
            S::Quoted => {
                spans |= is_eol(&b);
                S::Quoted
            }
            S::QuoteInQuoted if b == b'"' => S::Quoted,
            S::QuoteInQuoted if spans => return Some(j),
            S::QuoteInQuoted => S::Plain,
        };
    }
    (s == S::Quoted && spans).then_some(j)
}

/// A column name as quoted in a message: at most 40 characters.
fn csv_error(e: ::csv::Error, source_name: &str, offset: u64) -> Error {
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
            Some(t) => record_too_long(source_name, t.line + offset, t.limit),
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

/// Reads a CSV file into a table from a generic byte source (tests, HTTP bodies), with
/// the default limits.
pub fn read_bytes(bytes: &[u8], source_name: &str, spec: &ReadSpec) -> Result<Table> {
    read_bytes_with(
        bytes,
        source_name,
        spec,
        &Limits::default(),
        Chunking::default(),
    )
}

/// [`read_bytes`] within `limits` and with the block sizes `sizes` (tests put block
/// boundaries everywhere with small ones; results never depend on them).
pub fn read_bytes_with(
    bytes: &[u8],
    source_name: &str,
    spec: &ReadSpec,
    limits: &Limits,
    sizes: Chunking,
) -> Result<Table> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let decoder = flate2::read::MultiGzDecoder::new(bytes);
        return read_from(BufReader::new(decoder), source_name, spec, limits);
    }
    sniff_binary(bytes, source_name)?;
    read_chunked(
        &mut &bytes[..],
        source_name,
        spec,
        limits,
        Some(bytes.len() as u64),
        sizes,
        None,
    )
    .map(|(t, _)| t)
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
        assert!(matches!(parse_number(b"."), Cell::Bad(_)));
        assert!(matches!(parse_number(b"1.2.3"), Cell::Bad(_)));
        assert!(matches!(parse_number(b"-"), Cell::Bad(_)));
    }

    /// The quick decimal path gives exactly what `str::parse::<f64>` gives, including
    /// signed zeros, leading zeros, bare dots and numbers at its digit limits.
    #[test]
    fn fast_decimals_equal_std_parse() {
        let mut cases: Vec<String> = [
            "0",
            "-0",
            "+0",
            "-0.0",
            "0.1",
            ".5",
            "5.",
            "-.5",
            "007.250",
            "1234567890123456789",
            "9007199254740993",
            "9007199254740992",
            "0.30000000000000004",
            "123456.789012",
            "0.0000000000000000000001",
            "1e5",
            "+12.5",
            "99999999999999999999",
            "3328.717012",
            "0.864511",
            "1000000000000000",
            "-999999999999999.9",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = (x % 19 + 1) as usize;
            let m = x >> 5;
            let mut t = format!("{m}");
            t.truncate(digits);
            let dot = ((x >> 50) as usize) % (t.len() + 1);
            t.insert(dot, '.');
            if x & 1 == 1 {
                t.insert(0, '-');
            }
            cases.push(t);
        }
        for c in &cases {
            let want = c.parse::<f64>().ok();
            let got = fast_decimal(c.as_bytes());
            if let Some(g) = got {
                assert_eq!(Some(g.to_bits()), want.map(f64::to_bits), "{c}");
            }
            match (parse_number(c.as_bytes()), want) {
                (Cell::Value(v), Some(w)) => assert_eq!(v.to_bits(), w.to_bits(), "{c}"),
                (Cell::Bad(_), _) => {}
                (other, w) => panic!("{c}: {other:?} vs {w:?}"),
            }
        }
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
        // Closed where the field ends, it is read whatever it holds, rows of CSV included.
        let t = read_bytes(
            b"CUST_ID,A,NOTE\nx,1,\"a,1,b\nc,2,d\r\ne,3,\"\"f\"\"\n\"\ny,2,ok\n",
            "t.csv",
            &spec(&["A"]),
        )
        .unwrap();
        assert_eq!(t.rows(), 2);
        assert_eq!(t.ids.get(1), "y");
        // Closed by a quote followed by more text: the lines between were swallowed.
        let e = read_bytes(
            b"CUST_ID,A,NOTE\nx,1,\"open\ny,2,\"note\"\nz,3,ok\n",
            "t.csv",
            &spec(&["A"]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("t.csv:2: column NOTE: a quote opens"), "{e}");
        assert_eq!(unclosed_field(b"a,\"b\"c,d", b','), None);
        assert_eq!(unclosed_field(b"a,\"b\nx\"c,d", b','), Some(1));
        assert_eq!(unclosed_field(b"\"a\nb", b','), Some(0));
        assert_eq!(unclosed_field(b"\"a\nb\"\r\n", b','), None);
    }

    #[test]
    fn limits_refuse_wide_headers_and_long_records() {
        let limits = Limits {
            max_columns: 3,
            max_record_bytes: 20,
        };
        let read = |data: &[u8], block: usize| {
            read_bytes_with(
                data,
                "t.csv",
                &spec(&["A"]),
                &limits,
                Chunking { block, chunks: 2 },
            )
            .map(|t| t.rows())
            .map_err(|e| e.to_string())
        };
        for block in [16, 1 << 20] {
            let e = read(b"CUST_ID,A,B,C\nx,1,2,3\n", block).unwrap_err();
            assert!(
                e.contains("4 columns") && e.contains("--max-columns"),
                "{e}"
            );
            assert_eq!(read(b"CUST_ID,A,B\nx,1,2\ny,2,3\n", block), Ok(2));
            let e = read(b"CUST_ID,A,B\nx,1,2\ny,2,123456789012345678901\n", block).unwrap_err();
            assert!(
                e.starts_with("t.csv:3: this row is longer than 20 bytes"),
                "{e}"
            );
            let e = read(
                b"CUST_ID,A,B\nx,1,2\ny,2,\"1234567890\n12345678901\"\n",
                block,
            )
            .unwrap_err();
            assert!(
                e.starts_with("t.csv:3: this row is longer than 20 bytes"),
                "{e}"
            );
            let e = read(b"CUST_ID,A,BBBBBBBBBBBBBBBBBBBBBB\nx,1,2\n", block).unwrap_err();
            assert!(e.starts_with("t.csv:1: this row is longer"), "{e}");
        }
    }

    /// Reads `data` record by record (the reference) and in chunks of every size in
    /// `blocks`, and checks both give the same table, or the same error.
    fn same_chunked(data: &[u8], spec: &ReadSpec, blocks: &[usize]) -> String {
        let whole = match read_from(BufReader::new(data), "t.csv", spec, &Limits::default()) {
            Ok(t) => format!("{t:?}"),
            Err(e) => format!("error: {e}"),
        };
        for &block in blocks {
            for chunks in [1, 3, 8] {
                let got = match read_chunked(
                    &mut &data[..],
                    "t.csv",
                    spec,
                    &Limits::default(),
                    Some(data.len() as u64),
                    Chunking { block, chunks },
                    None,
                ) {
                    Ok((t, _)) => format!("{t:?}"),
                    Err(e) => format!("error: {e}"),
                };
                assert_eq!(
                    got,
                    whole,
                    "block {block}, {chunks} chunks, input {:?}",
                    String::from_utf8_lossy(data)
                );
            }
        }
        whole
    }

    #[test]
    fn chunks_split_at_records_not_inside_quotes() {
        let mut data = b"CUST_ID,A,NOTE\n".to_vec();
        for i in 0..400 {
            let note = match i % 7 {
                0 => "\"two\nlines, with a comma\"".to_string(),
                3 => "\"say \"\"hi\"\"\r\nthere\"".to_string(),
                _ => format!("n{i}"),
            };
            data.extend_from_slice(format!("c{i},{i}.5,{note}\n").as_bytes());
        }
        let t = same_chunked(&data, &spec(&["A"]), &[16, 64, 100, 1000, 1 << 20]);
        assert!(t.contains("c399"), "{t}");
        // Quotes only late in the file: chunks first, then record by record.
        let mut data = b"CUST_ID,A\n".to_vec();
        for i in 0..300 {
            data.extend_from_slice(format!("c{i},{i}\n").as_bytes());
        }
        data.extend_from_slice(b"\"q\nq\",7\nlast,8\n");
        let t = same_chunked(&data, &spec(&["A"]), &[32, 200, 1 << 20]);
        assert!(t.contains("c299q\\nqlast"), "{t}");
    }

    #[test]
    fn errors_from_later_chunks_keep_line_and_column() {
        let mut data = b"CUST_ID,A,B\n".to_vec();
        for i in 0..1000 {
            let b = match i {
                700 => "x7".to_string(),
                900 => "1,2".to_string(),
                _ => format!("{i}"),
            };
            data.extend_from_slice(format!("c{i},{i},{b}\n").as_bytes());
        }
        let e = same_chunked(&data, &spec(&["A", "B"]), &[50, 999, 4096, 1 << 20]);
        assert_eq!(
            e,
            "error: t.csv:702: column B: \"x7\" is not a number; fix the cell, or leave it empty to mark it missing"
        );
        // The first error in file order wins, even when a later chunk fails too.
        let e = same_chunked(&data[..data.len() - 1], &spec(&["A"]), &[50, 4096]);
        assert!(e.contains("t.csv:902:") && e.contains("4 fields"), "{e}");
        // Not required: B turns to text at its first non-number, whatever chunk it is in.
        let mut fixed = data.clone();
        let at = fixed.windows(4).position(|w| w == b"1,2\n").unwrap();
        fixed[at + 1] = b'.';
        let t = same_chunked(&fixed, &spec(&["A"]), &[50, 4096]);
        assert!(t.contains("first_text: Some((702, \"\\\"x7\\\"\"))"), "{t}");
    }

    #[test]
    fn chunked_reading_equals_record_by_record_reading() {
        // Random small files over an alphabet with every troublesome byte: CR, LF,
        // quotes, blank lines, bad numbers, spaces, short and long rows.
        let alphabet: &[&[u8]] = &[
            b"1", b"2.5", b"-3", b"", b" ", b"x", b",", b"\n", b"\r\n", b"\r", b"\"", b"\n\n",
            b"1e3", b"\xff", b"7", b"8", b"9,",
        ];
        let mut x: u64 = 12345;
        for case in 0..600 {
            let mut data = b"CUST_ID,A,B\n".to_vec();
            let rows = 1 + case % 40;
            for r in 0..rows {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if x.is_multiple_of(5) {
                    let mut piece = alphabet[(x >> 8) as usize % alphabet.len()];
                    if case % 3 == 0 && piece == b"\"" {
                        // Some files without any quote: chunked from start to end.
                        piece = b"\r\r\n";
                    }
                    data.extend_from_slice(format!("c{r},").as_bytes());
                    data.extend_from_slice(piece);
                    data.extend_from_slice(b",1\n");
                } else if x.is_multiple_of(7) {
                    data.extend_from_slice(format!("c{r},{},\r\n", r).as_bytes());
                } else {
                    data.extend_from_slice(format!("c{r},{r}.25,{}\n", x % 100).as_bytes());
                }
            }
            let required: &[&str] = if case % 2 == 0 { &["A"] } else { &["A", "B"] };
            same_chunked(&data, &spec(required), &[8, 33, 1 << 20]);
        }
    }

    #[test]
    fn default_id_column_may_be_absent() {
        let t = read_bytes(b"A\n1\n2\n", "t.csv", &spec(&["A"])).unwrap();
        assert_eq!(t.id_column, None);
        assert_eq!(t.ids.get(1), "2");
    }
}
