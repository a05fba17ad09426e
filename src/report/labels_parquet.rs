//! Labels as Parquet (`--labels-format parquet`): the columns of labels.csv with their
//! types, a file a warehouse (DuckDB, Spark, BigQuery, Snowflake, pandas/pyarrow) loads
//! without parsing text.
//!
//! Schema: the id column (named as in labels.csv; `INT64` when every id is a canonical
//! 64-bit integer, as a Parquet or database input's integer ids and `--no-id` row numbers
//! are, otherwise `STRING`), `segment` (`INT32`, null when the customer was not scored),
//! `segment_name` (`STRING`), `distance` and `distance_percentile` (`DOUBLE`: the exact
//! 64-bit values, whatever `--full-precision` says), `outlier` (`BOOLEAN`). The key-value
//! metadata ([`crate::output::parquet_metadata`]) holds the checksum of the model that scored
//! them (`cardseg.model_checksum`), the cardseg version and the row count, so a table loaded
//! from it can be traced to its model.
//!
//! Compression: zstd when cardseg is built with it (the default), else snappy. Row groups
//! of [`ROW_GROUP`] rows are encoded one at a time into a spool and handed to the output
//! writer, so memory stays bounded whatever the number of customers.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use parquet::basic::{IntType, LogicalType, Repetition, Type as PhysicalType};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

use crate::error::{Error, Result};
use crate::labels::{Label, Labels};
use crate::lifecycle::outliers::Outlier;
use crate::model::Model;

/// Rows per row group: about 1M customers, a few tens of MB while one is encoded.
pub const ROW_GROUP: usize = 1 << 20;

/// A `Write + Send` buffer shared with the Parquet writer (which needs `Send`), drained
/// into the real output after every row group.
#[derive(Clone, Default)]
struct Spool(Arc<Mutex<Vec<u8>>>);

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("spool poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Spool {
    fn drain_into(&self, w: &mut dyn Write, path: &Path) -> Result<()> {
        let mut buf = self
            .0
            .lock()
            .map_err(|_| Error::io(path, "writing", std::io::Error::other("spool poisoned")))?;
        w.write_all(&buf).map_err(crate::output::werr(path))?;
        buf.clear();
        Ok(())
    }
}

/// Whether `id` is the canonical text of a 64-bit integer (`-12`, `0`, `345`; not `007`,
/// `+1` or `1.0`), so the id column can be typed INT64 without changing any id.
fn canonical_i64(id: &str) -> Option<i64> {
    let v: i64 = id.parse().ok()?;
    let (neg, digits) = match id.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, id),
    };
    let canonical = !digits.is_empty()
        && !digits.starts_with('+')
        && (digits == "0" && !neg || !digits.starts_with('0'));
    canonical.then_some(v)
}

fn column(
    name: &str,
    physical: PhysicalType,
    logical: Option<LogicalType>,
    rep: Repetition,
) -> std::result::Result<Arc<Type>, parquet::errors::ParquetError> {
    Ok(Arc::new(
        Type::primitive_type_builder(name, physical)
            .with_repetition(rep)
            .with_logical_type(logical)
            .build()?,
    ))
}

/// Writes the labels of every input row as Parquet to `w` (see the module doc).
pub fn write_label_parquet(
    w: &mut dyn Write,
    path: &Path,
    model: &Model,
    labels: &Labels,
    outlier_of: &dyn Fn(&Label) -> Outlier,
    model_checksum: &str,
) -> Result<()> {
    // The same record from `run` and `predict` (no command named), so that `predict` on the
    // training file reproduces the run's file byte for byte.
    let provenance = crate::output::Provenance::new("labels", Some(model_checksum))
        .with_rows(labels.iter().count() as u64);
    let perr = |e: parquet::errors::ParquetError| {
        Error::io(path, "writing", std::io::Error::other(e.to_string()))
    };
    let int_ids = labels.iter().all(|l| canonical_i64(l.id).is_some());
    let opt = Repetition::OPTIONAL;
    let string = || Some(LogicalType::String);
    let fields = vec![
        if int_ids {
            column(
                model.id_header(),
                PhysicalType::INT64,
                Some(LogicalType::Integer(IntType {
                    bit_width: 64,
                    is_signed: true,
                })),
                Repetition::REQUIRED,
            )
        } else {
            column(
                model.id_header(),
                PhysicalType::BYTE_ARRAY,
                string(),
                Repetition::REQUIRED,
            )
        }
        .map_err(perr)?,
        column(
            "segment",
            PhysicalType::INT32,
            Some(LogicalType::Integer(IntType {
                bit_width: 32,
                is_signed: true,
            })),
            opt,
        )
        .map_err(perr)?,
        column("segment_name", PhysicalType::BYTE_ARRAY, string(), opt).map_err(perr)?,
        column("distance", PhysicalType::DOUBLE, None, opt).map_err(perr)?,
        column("distance_percentile", PhysicalType::DOUBLE, None, opt).map_err(perr)?,
        column("outlier", PhysicalType::BOOLEAN, None, opt).map_err(perr)?,
    ];
    let schema = Arc::new(
        Type::group_type_builder("labels")
            .with_fields(fields)
            .build()
            .map_err(perr)?,
    );
    #[cfg(feature = "zstd")]
    let compression = parquet::basic::Compression::ZSTD(parquet::basic::ZstdLevel::default());
    #[cfg(not(feature = "zstd"))]
    let compression = parquet::basic::Compression::SNAPPY;
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(ROW_GROUP))
            .set_created_by(format!("cardseg {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(
                crate::output::parquet_metadata(&provenance)
                    .into_iter()
                    .map(|(k, v)| KeyValue::new(k, v))
                    .collect(),
            ))
            .build(),
    );
    let spool = Spool::default();
    let mut writer = SerializedFileWriter::new(spool.clone(), schema, props).map_err(perr)?;
    let names: Vec<ByteArray> = model
        .segments
        .iter()
        .map(|s| ByteArray::from(s.name.as_str()))
        .collect();
    let mut rows = labels.iter().peekable();
    let mut group = Group::default();
    while rows.peek().is_some() {
        group.clear();
        for l in rows.by_ref().take(ROW_GROUP) {
            if int_ids {
                group.int_ids.push(canonical_i64(l.id).unwrap_or_default());
            } else {
                group.text_ids.push(ByteArray::from(l.id));
            }
            match l.segment {
                Some(s) => {
                    let o = outlier_of(&l);
                    group.scored.push(1);
                    group.segment.push(model.segments[s as usize].id as i32);
                    group.name.push(names[s as usize].clone());
                    group.distance.push(o.distance);
                    match (o.percentile, o.outlier) {
                        (Some(p), Some(f)) => {
                            group.known.push(1);
                            group.percentile.push(p);
                            group.outlier.push(f);
                        }
                        _ => group.known.push(0),
                    }
                }
                None => {
                    group.scored.push(0);
                    group.known.push(0);
                }
            }
        }
        let mut rg = writer.next_row_group().map_err(perr)?;
        let mut i = 0;
        while let Some(mut col) = rg.next_column().map_err(perr)? {
            let (scored, known) = (Some(&group.scored[..]), Some(&group.known[..]));
            match i {
                0 if int_ids => col
                    .typed::<Int64Type>()
                    .write_batch(&group.int_ids, None, None),
                0 => col
                    .typed::<ByteArrayType>()
                    .write_batch(&group.text_ids, None, None),
                1 => col
                    .typed::<Int32Type>()
                    .write_batch(&group.segment, scored, None),
                2 => col
                    .typed::<ByteArrayType>()
                    .write_batch(&group.name, scored, None),
                3 => col
                    .typed::<DoubleType>()
                    .write_batch(&group.distance, scored, None),
                4 => col
                    .typed::<DoubleType>()
                    .write_batch(&group.percentile, known, None),
                _ => col
                    .typed::<BoolType>()
                    .write_batch(&group.outlier, known, None),
            }
            .map_err(perr)?;
            col.close().map_err(perr)?;
            i += 1;
        }
        rg.close().map_err(perr)?;
        spool.drain_into(w, path)?;
    }
    writer.close().map_err(perr)?;
    spool.drain_into(w, path)
}

/// One row group's columns (values of null cells left out, as Parquet stores them).
#[derive(Default)]
struct Group {
    int_ids: Vec<i64>,
    text_ids: Vec<ByteArray>,
    scored: Vec<i16>,
    known: Vec<i16>,
    segment: Vec<i32>,
    name: Vec<ByteArray>,
    distance: Vec<f64>,
    percentile: Vec<f64>,
    outlier: Vec<bool>,
}

impl Group {
    fn clear(&mut self) {
        self.int_ids.clear();
        self.text_ids.clear();
        self.scored.clear();
        self.known.clear();
        self.segment.clear();
        self.name.clear();
        self.distance.clear();
        self.percentile.clear();
        self.outlier.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_integers_become_int64_ids() {
        for (id, want) in [
            ("0", Some(0)),
            ("345", Some(345)),
            ("-12", Some(-12)),
            ("007", None),
            ("+1", None),
            ("-0", None),
            ("1.0", None),
            ("C10001", None),
            ("", None),
            ("99999999999999999999", None),
        ] {
            assert_eq!(canonical_i64(id), want, "{id}");
        }
    }
}
