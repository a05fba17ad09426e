//! CSV (and gzip-compressed CSV) ingestion with the `csv` crate.
//!
//! The reader has three parts: [`blocks`] cuts plain text into blocks and chunks at
//! record boundaries and parses chunks without quotes in parallel; [`records`] reads
//! record by record with the `csv` crate (gzip streams, and text from the first quote
//! on), within the record-size limit; [`accumulate`] checks each record the same way
//! whichever path split it and merges the parts in file order into a [`Table`]. Numbers
//! are parsed by [`crate::ingest::number`].

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::error::{Error, Result};
use crate::ingest::{Limits, ReadSpec};
use crate::progress::Progress;
use crate::table::{Spilled, Table};

mod accumulate;
mod blocks;
mod errors;
mod fast;
mod records;
mod sniff;
#[cfg(test)]
mod tests;

use accumulate::Accumulator;
use errors::{empty_file, io_error};
use records::{parse_records, record_reader, Tape};
use sniff::sniff_binary;
pub(crate) use sniff::sniff_delimiter;

/// Re-exported from [`crate::ingest::number`], where number parsing lives now, for
/// callers that still name it here (`serve::parse`).
pub use blocks::{read_chunked, Chunking, BLOCK_ENV};

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
    let part = parse_records(&mut rdr, &acc.layout(), sniff::LineEnds::default(), 0)?;
    acc.merge(&part)?;
    acc.finish().map(|(t, _)| t)
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
