//! Reading record by record with the `csv` crate: gzip streams, and plain text from
//! its first quote on. The input goes through a [`Tape`], which bounds the bytes of one
//! record and keeps them for the check of quoted fields that span lines.

use std::io::Read;

use super::accumulate::{Accumulator, Layout, Part, Sink};
use super::errors::{csv_error, record_too_long, RecordTooLong};
use super::sniff::{is_eol, LineEnds};
use crate::error::{Error, Result};
use crate::ingest::plan::short_name;
use crate::table::{Spilled, Table};

/// The `csv` reader every path uses: same quoting rules, so a chunk parsed on its own
/// splits fields exactly as the whole file read in one go would. Field counts are
/// checked by [`parse_records`] (not by the crate) so every path words them the same.
pub(super) fn record_reader<R: Read>(delimiter: u8, headers: bool, input: R) -> ::csv::Reader<R> {
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
pub(super) struct Tape<R> {
    pub(super) inner: R,
    /// The input's bytes from offset `start` to `fed`.
    pub(super) kept: Vec<u8>,
    pub(super) start: u64,
    pub(super) fed: u64,
    /// Where the record being read starts (the end of the one before), and its line in
    /// the file.
    pub(super) record: u64,
    pub(super) line: u64,
    pub(super) max_record: u64,
}

/// The `csv` reader holds at most this many bytes it has read from its input but not
/// parsed yet (its buffer is 64 KiB): a record is certainly longer than the limit once
/// the input has given this much more than the limit since the record began.
const TAPE_SLACK: u64 = 1 << 20;

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
    pub(super) fn new(inner: R, max_record: u64) -> Self {
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
    pub(super) fn next_record(&mut self, end: u64, line: u64) {
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
    pub(super) fn bytes(&self, from: u64, to: u64) -> &[u8] {
        &self.kept[(from - self.start) as usize..(to - self.start) as usize]
    }
}

/// Parses every record `rdr` still has. `before` holds the line ends before the point
/// where this reader's input starts; records are numbered by [`LineEnds`] over the bytes
/// read (header included), not by the `csv` crate, which counts `\n` bytes only. Stops
/// at the first error, which is therefore the first error of this run of records.
pub(super) fn parse_records<R: Read>(
    rdr: &mut ::csv::Reader<Tape<R>>,
    lay: &Layout,
    before: LineEnds,
    rows_hint: usize,
) -> Result<Part> {
    let mut part = Part::new(lay.columns, lay.names.len());
    let mut sink = Sink::new(lay, &mut part, rows_hint);
    let mut record = ::csv::ByteRecord::new();
    let at = rdr.position().byte();
    // Nothing was dropped from the tape yet: it holds every byte read so far.
    let mut lines = before;
    lines.feed(rdr.get_ref().bytes(0, at));
    rdr.get_mut().next_record(at, lines.line());
    loop {
        match rdr.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(e, lay.source_name, before.count)),
        }
        let start = record.position().map_or(rdr.get_ref().record, |p| p.byte());
        let end = rdr.position().clone();
        let raw = rdr
            .get_ref()
            .bytes(start.max(rdr.get_ref().record), end.byte());
        let ends = raw.iter().rev().take_while(|b| is_eol(b)).count();
        let starts = raw.iter().take_while(|b| is_eol(b)).count();
        lines.feed(&raw[..starts]);
        let line = lines.line();
        lines.feed(&raw[starts..]);
        if raw.len().saturating_sub(ends + starts) as u64 > lay.max_record {
            return Err(record_too_long(lay.source_name, line, lay.max_record));
        }
        if record.len() == lay.names.len()
            && (record.as_slice().contains(&b'\n') || record.as_slice().contains(&b'\r'))
        {
            check_quotes(raw, lay.delimiter, lay.names, lay.source_name, line)?;
        }
        rdr.get_mut().next_record(end.byte(), lines.line());
        sink.record(line, record.len(), record.iter())?;
    }
    Ok(part)
}

/// Reads `head` and then the rest of `input` record by record, from a chunk start after
/// the line ends `before`.
pub(super) fn sequential_rest(
    mut acc: Accumulator,
    head: &[u8],
    input: &mut (dyn Read + Send),
    before: LineEnds,
) -> Result<(Table, Option<Spilled>)> {
    let tape = Tape::new(head.chain(input), acc.max_record);
    let mut rdr = record_reader(acc.delimiter, false, tape);
    let part = parse_records(&mut rdr, &acc.layout(), before, 0)?;
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
pub(super) fn unclosed_field(raw: &[u8], delimiter: u8) -> Option<usize> {
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
