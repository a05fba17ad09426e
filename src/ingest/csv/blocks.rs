//! The parallel reader of plain text: blocks read while the previous one is parsed,
//! cut into chunks at record boundaries (where the whole-file reader would have just
//! ended a record), chunks without quotes parsed on every core. From the first chunk
//! holding a quote on, where a quoted field may make a boundary ambiguous, the rest is
//! read record by record ([`super::records`]).

use std::io::Read;

use rayon::prelude::*;

use super::accumulate::{Accumulator, Layout, Part, Sink};
use super::errors::{empty_file, io_error, record_too_long, shift_error};
use super::records::{record_reader, sequential_rest};
use super::sniff::{is_eol, sniff_delimiter, LineEnds};
use crate::error::Result;
use crate::ingest::{Limits, ReadSpec};
use crate::table::{Spilled, Table};

/// What parsing a chunk on its own found.
enum Chunk {
    /// Parsed into its part; the line ends it holds.
    Done(u64),
    /// It holds a quote and was not parsed.
    Quoted,
}

/// Parses a chunk without quotes into `part`, splitting records and fields directly:
/// the same records, fields and line numbers as the record-by-record reader (which is
/// what `chunked_reading_equals_record_by_record_reading` checks), at a fraction of the
/// cost. Without quotes a record is the bytes up to the next `\r` or `\n`; line ends
/// between records are skipped as blank lines; the line of a record is 1 + the line ends
/// before it ([`LineEnds`]; `after_cr`: the byte before the chunk is a `\r`, so a `\n`
/// starting it ends no line). Line numbers are counted from the chunk's start: the
/// caller adds the lines before it. A quote anywhere stops it (a quoted field may hold
/// delimiters and line ends): [`Chunk::Quoted`]. Plain records are read in one pass
/// ([`Sink::plain_record`]); any other is split here and checked by [`Sink::record`].
fn parse_plain(chunk: &[u8], after_cr: bool, lay: &Layout, part: &mut Part) -> Result<Chunk> {
    if memchr::memchr(b'"', chunk).is_some() {
        return Ok(Chunk::Quoted);
    }
    // About 2 bytes a cell at the least: a wide table holds few rows per chunk.
    let rows_hint = chunk.len() / (2 * lay.names.len()).max(64) + 1;
    let mut sink = Sink::new(lay, part, rows_hint);
    // One more than the header's: enough to tell a row with too many fields, which is
    // then counted, not stored (a long line of delimiters costs no memory).
    let keep = lay.names.len() + 1;
    let delimiter = lay.delimiter;
    let mut lines = LineEnds::new(0, after_cr);
    let mut p = 0usize;
    let end = chunk.len();
    // Where each field ends (one scan finds fields and the end of the record).
    let mut ends: Vec<usize> = Vec::with_capacity(lay.names.len() + 1);
    loop {
        while p < end && is_eol(&chunk[p]) {
            lines.byte(chunk[p]);
            p += 1;
        }
        if p == end {
            break;
        }
        let line = lines.line();
        let start = p;
        let stop = match sink.plain_record(chunk, start) {
            Some(stop) => {
                if (stop - start) as u64 > lay.max_record {
                    return Err(record_too_long(lay.source_name, line, lay.max_record));
                }
                stop
            }
            None => {
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
                stop
            }
        };
        if stop < end {
            // The record's bytes hold no line end: only its last byte matters.
            lines.after_cr = false;
            lines.byte(chunk[stop]);
            p = stop + 1;
        } else {
            p = end;
        }
    }
    Ok(Chunk::Done(lines.count))
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

/// Fewest bytes asked for at once when the input's size is known (it may grow while
/// it is read).
const MIN_READ: usize = 64 << 10;

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
/// one), so a fresh reader started at `p`, given the line ends before `p` (and whether
/// `p` follows a `\r`), splits and numbers the rest identically, blank lines and all.
fn boundary(b: &[u8], p: usize) -> bool {
    p >= 2 && matches!(b[p - 1], b'\n' | b'\r') && !matches!(b[p - 2], b'\n' | b'\r')
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
    /// At a chunk holding a quote: its start in the region, and the line ends before it.
    Quoted(usize, LineEnds),
    /// At the end of the region; the line ends before it.
    End(LineEnds),
}

/// Parses `region` (whole records, starting at a chunk start after the line ends `at`)
/// in parallel chunks into `pool`, and merges them in file order into `acc`.
/// Returns where it stopped: at the first chunk holding a quote (which is not split
/// safely: a quoted field may hold a line end), or at the end of the region.
fn parse_region(
    region: &[u8],
    at: LineEnds,
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
    // Whether the byte before a chunk is a `\r` (a chunk start after the first follows
    // a line end in the region).
    let after_cr = |a: usize| {
        if a == 0 {
            at.after_cr
        } else {
            region[a - 1] == b'\r'
        }
    };
    let outcomes: Vec<Result<Chunk>> = pool[..spans.len()]
        .par_iter_mut()
        .zip(&spans)
        .map(|(part, &(a, b))| parse_plain(&region[a..b], after_cr(a), &lay, part))
        .collect();
    drop(lay);
    let mut offset = at.count;
    for ((outcome, part), &(a, _)) in outcomes.into_iter().zip(pool.iter_mut()).zip(&spans) {
        match outcome {
            Err(e) => return Err(shift_error(e, offset)),
            Ok(Chunk::Quoted) => return Ok(After::Quoted(a, LineEnds::new(offset, after_cr(a)))),
            Ok(Chunk::Done(ends)) => {
                part.shift_lines(offset);
                acc.merge(part)?;
                offset += ends;
            }
        }
    }
    Ok(After::End(LineEnds::new(offset, after_cr(region.len()))))
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
    // Bytes to ask for next: a block, or less when the size of the input says it ends
    // sooner (one byte more, to see the end): a small file costs no block of memory.
    let want = |read: usize| match size_hint {
        Some(total) => {
            let left = usize::try_from(total.saturating_sub(read as u64)).unwrap_or(usize::MAX);
            sizes.block.min(left.saturating_add(1).max(MIN_READ))
        }
        None => sizes.block,
    };
    let mut buf = Vec::new();
    let mut eof = fill(input, &mut buf, want(0)).map_err(|e| io_error(e, source_name))?;
    let mut read_bytes = buf.len();
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
        let before = buf.len();
        let more = buf.len().max(want(read_bytes));
        eof = fill(input, &mut buf, more).map_err(|e| io_error(e, source_name))?;
        read_bytes += buf.len() - before;
    }
    let mut hdr = record_reader(delimiter, true, &buf[start..]);
    let mut acc = Accumulator::new(&mut hdr, source_name, spec, delimiter, limits)?;
    acc.spill = spill;
    let pos = hdr.position().clone();
    drop(hdr);
    let mut from = start + pos.byte() as usize;
    let mut at = LineEnds::default();
    at.feed(&buf[start..from]);
    if let Some(total) = size_hint {
        let sample = &buf[from..];
        let rows_seen = memchr::memchr_iter(b'\n', sample).count();
        if rows_seen > 0 {
            let per_row = sample.len() as f64 / rows_seen as f64;
            let guess = (total as f64 / per_row * 1.02) as u64;
            acc.reserve(guess.min(total / 2) as usize);
        }
    }
    if matches!(delimiter, b'\n' | b'\r' | b'"') {
        return sequential_rest(acc, &buf[from..], input, at);
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
                None => return sequential_rest(acc, &buf[from..], input, at),
            }
        };
        let mut next = std::mem::take(&mut spare);
        next.clear();
        let ask = want(read_bytes);
        let tail = buf.len() - end;
        let (after, read) = rayon::join(
            || parse_region(&buf[from..end], at, &mut acc, &mut pool, sizes.chunks),
            || {
                if eof {
                    return Ok(true);
                }
                next.reserve(ask + tail);
                next.extend_from_slice(&buf[end..]);
                fill(input, &mut next, ask)
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
            After::End(ends) => at = ends,
        }
        if eof {
            return acc.finish();
        }
        eof = read?;
        read_bytes += next.len() - tail;
        spare = std::mem::replace(&mut buf, next);
        from = 0;
    }
}
