//! Parquet: a `.parquet` file, or a folder of `*.parquet` parts (as Spark, pandas and
//! DuckDB write them) read in sorted name order as one table.
//!
//! Read with the `parquet` crate's column readers (no Arrow): only the columns the run
//! needs are decoded. DOUBLE, FLOAT, INT32/INT64 (signed or not) and DECIMAL are numbers,
//! UTF-8 strings are numbers when they read as one, nulls are missing; booleans, dates,
//! timestamps and binary are never numbers. Snappy, zstd, gzip and LZ4 pages are read.
//! Page checksums (CRC32 in the page header, optional in the format) are verified when
//! present (the crate's `crc` feature): a damaged page is refused, not decoded.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::{ConvertedType, LogicalType, Repetition, Type as PhysicalType};
use parquet::column::reader::{get_typed_column_reader, ColumnReader};
use parquet::data_type::{ByteArray, ByteArrayType, DataType, DoubleType};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{ColumnDescriptor, Type};

use crate::error::{Error, Result};
use crate::ingest::builder::{TableBuilder, Val};
use crate::ingest::{Limits, ReadSpec};
use crate::table::{Spilled, Table};

/// Whether a folder holds `*.parquet` parts.
pub fn has_parts(dir: &Path) -> bool {
    parts(dir).map(|p| !p.is_empty()).unwrap_or(false)
}

/// The `*.parquet` files of a folder in name order (hidden files and `_SUCCESS`-style
/// markers are skipped).
fn parts(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            !name.starts_with(['.', '_']) && super::is_parquet_name(&name) && p.is_file()
        })
        .collect();
    out.sort();
    Ok(out)
}

/// How a column's values become table values.
#[derive(Clone, Copy)]
enum Conv {
    Float,
    Int {
        unsigned: bool,
    },
    Decimal {
        scale: i32,
    },
    /// IEEE half precision (FLOAT16), two little-endian bytes.
    Half,
    Text,
    Other(&'static str),
    Nested,
}

fn conv_of(col: &ColumnDescriptor) -> Conv {
    if col.max_rep_level() > 0 || col.path().parts().len() > 1 {
        return Conv::Nested;
    }
    let logical = col.logical_type_ref();
    let converted = col.converted_type();
    let decimal = match logical {
        Some(LogicalType::Decimal(d)) => Some(d.scale),
        _ if converted == ConvertedType::DECIMAL => Some(col.type_scale()),
        _ => None,
    };
    let temporal = matches!(
        logical,
        Some(LogicalType::Date | LogicalType::Time(_) | LogicalType::Timestamp(_))
    ) || matches!(
        converted,
        ConvertedType::DATE
            | ConvertedType::TIME_MILLIS
            | ConvertedType::TIME_MICROS
            | ConvertedType::TIMESTAMP_MILLIS
            | ConvertedType::TIMESTAMP_MICROS
            | ConvertedType::INTERVAL
    );
    match col.physical_type() {
        PhysicalType::BOOLEAN => Conv::Other("a boolean"),
        PhysicalType::INT96 => Conv::Other("an INT96 timestamp"),
        PhysicalType::FLOAT | PhysicalType::DOUBLE => Conv::Float,
        PhysicalType::INT32 | PhysicalType::INT64 => match decimal {
            Some(scale) => Conv::Decimal { scale },
            None if temporal => Conv::Other("a date or time"),
            None => {
                let unsigned = matches!(logical, Some(LogicalType::Integer(i)) if !i.is_signed)
                    || matches!(
                        converted,
                        ConvertedType::UINT_8
                            | ConvertedType::UINT_16
                            | ConvertedType::UINT_32
                            | ConvertedType::UINT_64
                    );
                Conv::Int { unsigned }
            }
        },
        PhysicalType::BYTE_ARRAY => match (decimal, logical) {
            (Some(scale), _) => Conv::Decimal { scale },
            (None, Some(LogicalType::Bson | LogicalType::Uuid)) => Conv::Other("binary"),
            _ => Conv::Text,
        },
        PhysicalType::FIXED_LEN_BYTE_ARRAY => match decimal {
            Some(scale) => Conv::Decimal { scale },
            None if logical == Some(&LogicalType::Float16) && col.type_length() == 2 => Conv::Half,
            None => Conv::Other("fixed-length binary"),
        },
    }
}

/// A decimal's unscaled big-endian two's-complement bytes as a number, rounded exactly
/// as its decimal text would be.
fn decimal_bytes(bytes: &[u8], scale: i32) -> Option<f64> {
    // A wide decimal (DECIMAL256 is 32 bytes) holding a value that fits 128 bits: its
    // leading bytes only repeat the sign.
    let mut bytes = bytes;
    while bytes.len() > 16 {
        let sign = if bytes[1] & 0x80 != 0 { 0xff } else { 0x00 };
        if bytes[0] != sign {
            return None;
        }
        bytes = &bytes[1..];
    }
    if bytes.is_empty() {
        return None;
    }
    let mut v: i128 = if bytes[0] & 0x80 != 0 { -1 } else { 0 };
    for b in bytes {
        v = (v << 8) | *b as i128;
    }
    Some(decimal(v, scale))
}

/// `unscaled × 10^-scale` as the double of its decimal text (public: Arrow decimals from
/// DataFrames are read by the same rule).
pub fn decimal(unscaled: i128, scale: i32) -> f64 {
    if scale == 0 {
        return unscaled as f64;
    }
    if (0..=22).contains(&scale) && unscaled.unsigned_abs() < (1u128 << 53) {
        // Both operands are exact, and IEEE division rounds once: the same double as
        // parsing the decimal text.
        return unscaled as f64 / 10f64.powi(scale);
    }
    format!("{unscaled}e{}", -scale).parse().unwrap_or(f64::NAN)
}

const BATCH: usize = 64 * 1024;

/// One batch of a column chunk: its values and, for a column that may hold nulls,
/// whether each row has a value (the next one) or is null.
type Batch<'a, V> = (&'a [V], Option<&'a mut dyn Iterator<Item = bool>>);

/// Reads one column chunk in batches, calling `f(index in chunk of the batch's first
/// row, batch)`; gives the number of rows.
fn read_chunk<T: DataType>(
    reader: ColumnReader,
    max_def: i16,
    mut f: impl FnMut(usize, Batch<'_, T::T>) -> Result<()>,
) -> std::result::Result<Result<usize>, parquet::errors::ParquetError> {
    let mut r = get_typed_column_reader::<T>(reader);
    let mut defs: Vec<i16> = Vec::with_capacity(BATCH);
    let mut vals: Vec<T::T> = Vec::with_capacity(BATCH);
    let mut at = 0usize;
    loop {
        defs.clear();
        vals.clear();
        let (records, values, levels) = r.read_records(BATCH, Some(&mut defs), None, &mut vals)?;
        if records == 0 {
            break;
        }
        let done = if max_def == 0 {
            f(at, (&vals[..values], None))
        } else {
            let mut present = defs[..levels].iter().map(|d| *d == max_def);
            f(at, (&vals[..values], Some(&mut present)))
        };
        if let Err(e) = done {
            return Ok(Err(e));
        }
        at += if max_def == 0 { values } else { levels };
    }
    Ok(Ok(at))
}

/// Reads a Parquet file or a folder of parts.
pub fn read_path(path: &Path, spec: &ReadSpec, limits: &Limits) -> Result<Table> {
    read_path_spilling(path, spec, limits, None).map(|(t, _)| t)
}

/// Parquet files of at least this many bytes in all keep the columns that are not
/// required in a temporary file ([`read_path_spilling`]): compressed Parquet is a
/// quarter or less of the values in memory, so this matches the CSV reader's bound.
pub const SPILL_MIN_BYTES: u64 = crate::ingest::csv::SPILL_MIN_BYTES / 4;

/// [`read_path`]; with `spill_dir`, input of [`SPILL_MIN_BYTES`] or more keeps the
/// loaded columns that are not required in an unnamed file there (row group by row
/// group, as they are decoded) instead of in memory, returned as the [`Spilled`].
pub fn read_path_spilling(
    path: &Path,
    spec: &ReadSpec,
    limits: &Limits,
    spill_dir: Option<&Path>,
) -> Result<(Table, Option<Spilled>)> {
    let name = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, "reading", e))?;
    let files = if meta.is_dir() {
        let p = parts(path).map_err(|e| Error::io(path, "listing", e))?;
        if p.is_empty() {
            return Err(Error::input(&name, "is a folder without *.parquet files"));
        }
        p
    } else {
        vec![path.to_path_buf()]
    };
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .sum();
    let spill = match spill_dir {
        Some(dir) if bytes >= SPILL_MIN_BYTES => Some(Spilled::create_in(dir)?),
        _ => None,
    };
    read_files(&name, &files, spec, limits, spill)
}

/// Reads `files` as one table named `name`, keeping the columns that are not required in
/// `spill` when given.
fn read_files(
    name: &str,
    files: &[PathBuf],
    spec: &ReadSpec,
    limits: &Limits,
    mut spill: Option<Spilled>,
) -> Result<(Table, Option<Spilled>)> {
    let mut builder: Option<TableBuilder> = None;
    let mut first_names: Vec<String> = Vec::new();
    let progress = crate::progress::Progress::steps(files.len() as u64, "reading");
    for file in files {
        let fname = file.display().to_string();
        let f = File::open(file).map_err(|e| Error::io(file, "opening", e))?;
        let reader = SerializedFileReader::new(f).map_err(|e| damaged(&fname, e))?;
        let md = reader.metadata();
        let schema = md.file_metadata().schema_descr();
        let cols: Vec<Arc<ColumnDescriptor>> = schema.columns().to_vec();
        let names: Vec<String> = cols
            .iter()
            .map(|c| {
                if c.path().parts().len() > 1 {
                    c.path().string()
                } else {
                    c.name().to_string()
                }
            })
            .collect();
        let b = match &mut builder {
            None => {
                first_names = names.clone();
                let b = builder.insert(TableBuilder::new(name, names, spec, limits)?);
                if let Some(sp) = spill.take() {
                    b.spill_to(sp);
                }
                b
            }
            Some(b) => {
                if names != first_names {
                    return Err(Error::input(
                        &fname,
                        format!(
                            "its columns ({}) differ from those of the first part ({}); every part of a folder needs the same columns",
                            names.join(", "),
                            first_names.join(", ")
                        ),
                    ));
                }
                b
            }
        };
        b.set_error_source(&fname);
        let convs: Vec<Conv> = cols.iter().map(|c| conv_of(c)).collect();
        for (j, c) in convs.iter().enumerate() {
            if matches!(c, Conv::Nested) && b.wanted(j) {
                b.unsupported(j, "a nested or repeated column")?;
            }
        }
        let mut file_rows = 0u64;
        for g in 0..md.num_row_groups() {
            let rg = reader.get_row_group(g).map_err(|e| damaged(&fname, e))?;
            let n = rg.metadata().num_rows().max(0) as u64;
            b.reserve(n as usize);
            for (j, conv) in convs.iter().enumerate() {
                if !b.wanted(j) && !spec.other_numeric || matches!(conv, Conv::Nested) {
                    continue;
                }
                let col = &cols[j];
                let max_def = col.max_def_level();
                let cr = rg.get_column_reader(j).map_err(|e| damaged(&fname, e))?;
                let base = file_rows + 1;
                let got = match (col.physical_type(), *conv) {
                    (PhysicalType::DOUBLE, _) => {
                        read_chunk::<DoubleType>(cr, max_def, |i, (vals, present)| {
                            b.push_batch(j, base + i as u64, vals, present, |x| Val::Num(*x))
                        })
                    }
                    (PhysicalType::FLOAT, _) => read_chunk::<parquet::data_type::FloatType>(
                        cr,
                        max_def,
                        |i, (vals, present)| {
                            b.push_batch(j, base + i as u64, vals, present, |x| Val::Num(*x as f64))
                        },
                    ),
                    (PhysicalType::INT32, c) => read_chunk::<parquet::data_type::Int32Type>(
                        cr,
                        max_def,
                        |i, (vals, present)| {
                            b.push_batch(j, base + i as u64, vals, present, |x| match c {
                                Conv::Decimal { scale } => Val::Num(decimal(*x as i128, scale)),
                                Conv::Int { unsigned: true } => Val::Int(*x as u32 as i64),
                                Conv::Other(what) => Val::Other(what),
                                _ => Val::Int(*x as i64),
                            })
                        },
                    ),
                    (PhysicalType::INT64, c) => read_chunk::<parquet::data_type::Int64Type>(
                        cr,
                        max_def,
                        |i, (vals, present)| {
                            b.push_batch(j, base + i as u64, vals, present, |x| match c {
                                Conv::Decimal { scale } => Val::Num(decimal(*x as i128, scale)),
                                Conv::Int { unsigned: true } => Val::UInt(*x as u64),
                                Conv::Other(what) => Val::Other(what),
                                _ => Val::Int(*x),
                            })
                        },
                    ),
                    (PhysicalType::BYTE_ARRAY, c) => {
                        read_chunk::<ByteArrayType>(cr, max_def, |i, (vals, present)| {
                            b.push_batch(j, base + i as u64, vals, present, |x| match c {
                                Conv::Decimal { scale } => match decimal_bytes(x.data(), scale) {
                                    Some(d) => Val::Num(d),
                                    None => Val::Other("an oversized decimal"),
                                },
                                Conv::Other(what) => Val::Other(what),
                                _ => Val::Text(x.data()),
                            })
                        })
                    }
                    (PhysicalType::FIXED_LEN_BYTE_ARRAY, c) => read_chunk::<
                        parquet::data_type::FixedLenByteArrayType,
                    >(
                        cr,
                        max_def,
                        |i, (vals, present)| {
                            b.push_batch(j, base + i as u64, vals, present, |x| match c {
                                Conv::Decimal { scale } => match decimal_bytes(x.data(), scale) {
                                    Some(d) => Val::Num(d),
                                    None => Val::Other("an oversized decimal"),
                                },
                                Conv::Half => match x.data() {
                                    &[a, b] => Val::Num(half::f16::from_le_bytes([a, b]).to_f64()),
                                    _ => Val::Other("fixed-length binary"),
                                },
                                Conv::Other(what) => Val::Other(what),
                                _ => Val::Other("fixed-length binary"),
                            })
                        },
                    ),
                    (PhysicalType::BOOLEAN, _) => read_chunk::<parquet::data_type::BoolType>(
                        cr,
                        max_def,
                        |i, (vals, present)| {
                            b.push_batch(j, base + i as u64, vals, present, |x| {
                                Val::Other(if *x { "true" } else { "false" })
                            })
                        },
                    ),
                    (PhysicalType::INT96, _) => read_chunk::<parquet::data_type::Int96Type>(
                        cr,
                        max_def,
                        |i, (vals, present)| {
                            b.push_batch(j, base + i as u64, vals, present, |_| {
                                Val::Other("an INT96 timestamp")
                            })
                        },
                    ),
                };
                let count = got.map_err(|e| {
                    damaged_at(
                        &fname,
                        &format!("row group {g}, column {}: ", first_names[j]),
                        e,
                    )
                })??;
                if count as u64 != n {
                    return Err(Error::input(
                        &fname,
                        format!("row group {g}: column {} has {count} values for {n} rows; the file is damaged", first_names[j]),
                    ));
                }
            }
            b.end_batch(n)?;
            file_rows += n;
        }
        progress.inc(1);
    }
    progress.finish();
    let mut b = builder.ok_or_else(|| Error::input(name, "has no Parquet files"))?;
    b.set_error_source(name);
    b.finish_spilling()
}

fn damaged(name: &str, e: parquet::errors::ParquetError) -> Error {
    damaged_at(name, "", e)
}

/// A reader error as one line naming the file and, when known, the row group and column
/// (`at`). A page whose CRC does not match its bytes (checked when the writer stored one,
/// as pyarrow and Spark can) was changed after it was written: refused, never read as
/// numbers.
fn damaged_at(name: &str, at: &str, e: parquet::errors::ParquetError) -> Error {
    let msg = e.to_string();
    if msg.contains("CRC checksum mismatch") {
        return Error::input(
            name,
            format!("{at}a page's checksum (CRC32) does not match its bytes: the file was damaged after it was written; copy or export it again"),
        );
    }
    let msg = msg.split_whitespace().collect::<Vec<_>>().join(" ");
    if msg.contains("Disabled feature") {
        return Error::input(
            name,
            format!("{msg}: this cardseg was built without that compression (rebuild with the default features, e.g. --features zstd)"),
        );
    }
    Error::input(
        name,
        format!(
            "{at}cannot read this Parquet file ({msg}); it is damaged or truncated: re-export it"
        ),
    )
}

/// Writes a table as Parquet: the id column as UTF-8 text (REQUIRED), every loaded
/// numeric column as an OPTIONAL DOUBLE (NaN becomes null), snappy-compressed, in row
/// groups of `row_group` rows, atomically (a temporary sibling renamed into place).
/// Used by `cardseg generate --out F.parquet`.
pub fn write_table(table: &Table, path: &Path, row_group: usize, force: bool) -> Result<()> {
    let mut w = TableWriter::create(table, path, row_group, force)?;
    w.write(table)?;
    w.finish()
}

/// A Parquet file written a table at a time (tables with the columns of the first),
/// committed by [`TableWriter::finish`]: memory stays one table's worth whatever the
/// file's size. Each table starts a row group, so tables of `row_group` rows give the
/// file [`write_table`] writes for them all at once.
pub struct TableWriter {
    path: PathBuf,
    tmp: tempfile::NamedTempFile,
    writer: SerializedFileWriter<std::io::BufWriter<File>>,
    row_group: usize,
    columns: Vec<String>,
}

fn werr(path: &Path) -> impl Fn(parquet::errors::ParquetError) -> Error + '_ {
    move |e| Error::io(path, "writing", std::io::Error::other(e.to_string()))
}

impl TableWriter {
    /// Starts `path` (refused if it exists, unless `force`) with the columns of `table`.
    pub fn create(table: &Table, path: &Path, row_group: usize, force: bool) -> Result<Self> {
        crate::output::check_file_target(path, force)?;
        let werr = werr(path);
        let mut fields = Vec::new();
        let id_name = table.id_column.clone().unwrap_or_else(|| "row".to_string());
        fields.push(Arc::new(
            Type::primitive_type_builder(&id_name, PhysicalType::BYTE_ARRAY)
                .with_repetition(Repetition::REQUIRED)
                .with_logical_type(Some(LogicalType::String))
                .build()
                .map_err(&werr)?,
        ));
        for c in &table.columns {
            fields.push(Arc::new(
                Type::primitive_type_builder(&c.name, PhysicalType::DOUBLE)
                    .with_repetition(Repetition::OPTIONAL)
                    .build()
                    .map_err(&werr)?,
            ));
        }
        let schema = Arc::new(
            Type::group_type_builder("schema")
                .with_fields(fields)
                .build()
                .map_err(&werr)?,
        );
        let row_group = row_group.max(1);
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(parquet::basic::Compression::SNAPPY)
                .set_max_row_group_row_count(Some(row_group))
                .build(),
        );
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".cardseg-tmp-parquet-")
            .tempfile_in(&parent)
            .map_err(|e| Error::io(&parent, "creating a file in", e))?;
        let file = tmp.reopen().map_err(|e| Error::io(path, "writing", e))?;
        let writer = SerializedFileWriter::new(
            std::io::BufWriter::with_capacity(1 << 20, file),
            schema,
            props,
        )
        .map_err(&werr)?;
        Ok(TableWriter {
            path: path.to_path_buf(),
            tmp,
            writer,
            row_group,
            columns: table.columns.iter().map(|c| c.name.clone()).collect(),
        })
    }

    /// Appends the rows of `table`, in row groups of at most `row_group` rows.
    pub fn write(&mut self, table: &Table) -> Result<()> {
        let path = self.path.clone();
        let werr = werr(&path);
        if !table
            .columns
            .iter()
            .map(|c| &c.name)
            .eq(self.columns.iter())
        {
            return Err(Error::io(
                &path,
                "writing",
                std::io::Error::other("a part's columns differ from the first part's"),
            ));
        }
        let n = table.rows();
        let mut start = 0;
        while start < n {
            let end = (start + self.row_group).min(n);
            let mut rg = self.writer.next_row_group().map_err(&werr)?;
            if let Some(mut col) = rg.next_column().map_err(&werr)? {
                let ids: Vec<ByteArray> = (start..end)
                    .map(|i| ByteArray::from(table.ids.get(i)))
                    .collect();
                col.typed::<ByteArrayType>()
                    .write_batch(&ids, None, None)
                    .map_err(&werr)?;
                col.close().map_err(&werr)?;
            }
            for c in &table.columns {
                if let Some(mut col) = rg.next_column().map_err(&werr)? {
                    let slice = &c.values[start..end];
                    let defs: Vec<i16> = slice.iter().map(|v| i16::from(!v.is_nan())).collect();
                    let vals: Vec<f64> = slice.iter().copied().filter(|v| !v.is_nan()).collect();
                    col.typed::<DoubleType>()
                        .write_batch(&vals, Some(&defs), None)
                        .map_err(&werr)?;
                    col.close().map_err(&werr)?;
                }
            }
            rg.close().map_err(&werr)?;
            start = end;
        }
        Ok(())
    }

    /// Completes the file and puts it in place.
    pub fn finish(self) -> Result<()> {
        let path = self.path;
        self.writer.close().map_err(werr(&path))?;
        {
            use std::os::unix::fs::PermissionsExt;
            let _ =
                std::fs::set_permissions(self.tmp.path(), std::fs::Permissions::from_mode(0o644));
        }
        self.tmp
            .persist(&path)
            .map_err(|e| Error::io(&path, "writing", e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: usize) -> Table {
        let mut ids = crate::table::Ids::default();
        let mut a = Vec::new();
        let mut b = Vec::new();
        let mut c = Vec::new();
        for i in 0..rows {
            ids.push(&format!("c{i}"));
            a.push(if i % 7 == 3 {
                f64::NAN
            } else {
                i as f64 * 0.25
            });
            b.push(-(i as f64) / 3.0);
            c.push(if i % 5 == 0 {
                f64::NAN
            } else {
                1e15 - i as f64
            });
        }
        let col = |name: &str, values: Vec<f64>| crate::table::Column {
            name: name.into(),
            values,
        };
        Table {
            source: "t".into(),
            id_column: Some("ID".into()),
            ids,
            columns: vec![col("C", c), col("A", a), col("B", b)],
            info: Vec::new(),
            row_based: true,
        }
    }

    #[test]
    fn columns_not_required_go_to_the_file_as_they_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let t = table(5000);
        // Row groups of 1,000: the file is written to group by group.
        write_table(&t, &path, 1000, false).unwrap();
        let spec = ReadSpec {
            id: crate::ingest::IdSpec::Column {
                name: "ID".into(),
                explicit: true,
            },
            required: vec!["B".into()],
            other_numeric: true,
            delimiter: None,
        };
        let limits = Limits::default();
        let whole = read_path(&path, &spec, &limits).unwrap();
        let sp = Spilled::create_in(dir.path()).unwrap();
        let (kept, sp) = read_files("t", &[path], &spec, &limits, Some(sp)).unwrap();
        let sp = sp.unwrap();
        let names = |t: &Table| t.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&whole), vec!["B", "C", "A"]);
        assert_eq!(names(&kept), vec!["B"]);
        assert_eq!(sp.names().collect::<Vec<_>>(), vec!["C", "A"]);
        assert_eq!(sp.position("A"), Some(2));
        assert_eq!(kept.ids, whole.ids);
        for c in &whole.columns {
            let back = match kept.column(&c.name) {
                Some(k) => k.values.clone(),
                None => sp.load(&c.name).unwrap().unwrap(),
            };
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&back), bits(&c.values), "{}", c.name);
        }
        for (w, k) in whole.info.iter().zip(&kept.info) {
            assert_eq!((w.kind, w.missing), (k.kind, k.missing));
        }
    }

    #[test]
    fn decimals_round_like_text() {
        assert_eq!(decimal(123456, 2), "1234.56".parse::<f64>().unwrap());
        assert_eq!(decimal(-5, 1), -0.5);
        assert_eq!(decimal(7, 0), 7.0);
        assert_eq!(decimal_bytes(&[0xff, 0x85], 1), Some(-12.3));
        // DECIMAL256 of small values: 32 bytes, the leading ones the sign.
        let mut wide = vec![0xffu8; 30];
        wide.extend([0xff, 0x85]);
        assert_eq!(decimal_bytes(&wide, 1), Some(-12.3));
        let mut wide = vec![0u8; 30];
        wide.extend([0x30, 0x39]);
        assert_eq!(decimal_bytes(&wide, 3), Some(12.345));
        // Beyond 128 bits: refused, not wrapped.
        let mut big = vec![0u8; 32];
        big[15] = 1;
        assert_eq!(decimal_bytes(&big, 0), None);
        let mut big = vec![0xffu8; 32];
        big[15] = 0x7f;
        assert_eq!(decimal_bytes(&big, 0), None);
        assert_eq!(decimal_bytes(&[0x30, 0x39], 3), Some(12.345));
        let big: i128 = 123_456_789_012_345_678_901;
        assert_eq!(
            decimal(big, 4),
            "12345678901234567.8901".parse::<f64>().unwrap()
        );
    }
}
