//! Labels as Arrow arrays: the columns of labels.csv (and of `cardseg predict`'s output),
//! built from the library's [`Labels`] and outlier figures, for `Segmentation.labels` and
//! `Model.predict` alike, and handed to Python as an Arrow C stream capsule.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int32Builder, StringBuilder};
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{ArrayRef, RecordBatch, RecordBatchIterator};
use arrow_schema::{ArrowError, DataType, Field, Schema};
use cardseg::labels::{Label, Labels};
use cardseg::lifecycle::outliers::Outlier;
use cardseg::model::Model;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

/// One row per input row, in input order: the id (text, headed like labels.csv),
/// `segment` (the model's segment id, int32), `segment_name`, and with `outliers` the
/// distance, its percentile and the outlier flag (`outlier_of` gives a scored row's);
/// every cell but the id is null for a row that was not scored, and the percentile and
/// flag for a model without distance quantiles.
pub fn batch(
    model: &Model,
    labels: &Labels,
    outlier_of: &dyn Fn(&Label) -> Outlier,
    outliers: bool,
) -> Result<RecordBatch, ArrowError> {
    let n = labels.len();
    let text: usize = labels.iter().map(|l| l.id.len()).sum();
    if text > i32::MAX as usize {
        return Err(ArrowError::ComputeError(
            "the customer ids hold more than 2 GiB of text; write the labels to files with write()"
                .into(),
        ));
    }
    let mut ids = StringBuilder::with_capacity(n, text);
    let mut seg = Int32Builder::with_capacity(n);
    let mut names = StringBuilder::new();
    let mut dist = Float64Builder::with_capacity(if outliers { n } else { 0 });
    let mut pct = Float64Builder::with_capacity(if outliers { n } else { 0 });
    let mut flag = BooleanBuilder::with_capacity(if outliers { n } else { 0 });
    for l in labels.iter() {
        ids.append_value(l.id);
        match l.segment {
            Some(s) => {
                let meta = &model.segments[s as usize];
                seg.append_value(meta.id as i32);
                names.append_value(&meta.name);
                if outliers {
                    let o = outlier_of(&l);
                    dist.append_value(o.distance);
                    match (o.percentile, o.outlier) {
                        (Some(p), Some(f)) => {
                            pct.append_value(p);
                            flag.append_value(f);
                        }
                        _ => {
                            pct.append_null();
                            flag.append_null();
                        }
                    }
                }
            }
            None => {
                seg.append_null();
                names.append_null();
                if outliers {
                    dist.append_null();
                    pct.append_null();
                    flag.append_null();
                }
            }
        }
    }
    let mut fields = vec![
        Field::new(model.id_header(), DataType::Utf8, false),
        Field::new("segment", DataType::Int32, true),
        Field::new("segment_name", DataType::Utf8, true),
    ];
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(ids.finish()),
        Arc::new(seg.finish()),
        Arc::new(names.finish()),
    ];
    if outliers {
        fields.push(Field::new("distance", DataType::Float64, true));
        fields.push(Field::new("distance_percentile", DataType::Float64, true));
        fields.push(Field::new("outlier", DataType::Boolean, true));
        arrays.push(Arc::new(dist.finish()));
        arrays.push(Arc::new(pct.finish()));
        arrays.push(Arc::new(flag.finish()));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}

/// `batch` as an Arrow C stream in a capsule named `arrow_array_stream` (what
/// `pyarrow.RecordBatchReader._import_from_c_capsule` takes; the array buffers are not
/// copied).
pub fn capsule(py: Python<'_>, batch: RecordBatch) -> PyResult<Bound<'_, PyCapsule>> {
    let schema = batch.schema();
    let reader = RecordBatchIterator::new(vec![Ok(batch)], schema);
    let stream = FFI_ArrowArrayStream::new(Box::new(reader));
    PyCapsule::new(py, stream, Some(c"arrow_array_stream".to_owned()))
}
