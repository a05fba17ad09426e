//! Scoring new customers with a saved model: the saved fill values, scaler and centroids,
//! through the same kernels as training, so the training file gets its labels back
//! byte for byte.

use std::path::Path;

use crate::cluster::kmeans;
use crate::error::Result;
use crate::export::{LabelRow, LabelTarget, LabelWriter};
use crate::ingest::{self, IdSpec, ReadSpec, Source};
use crate::model::Model;
use crate::output::write_file_atomic;
use crate::table::Table;

/// Labels for every row of `table`: Some(segment index) or None when a feature is
/// missing and the model's policy is to drop such customers.
pub fn score_table(model: &Model, table: &Table) -> Result<Vec<Option<u32>>> {
    let n = table.rows();
    let mut cols: Vec<Vec<f64>> = Vec::with_capacity(model.features.len());
    let mut unscorable = vec![false; n];
    for f in &model.features {
        let mut values = table.column(f).map(|c| c.values.clone()).ok_or_else(|| {
            crate::error::Error::input(&table.source, format!("column {f} was not loaded"))
        })?;
        match model.fill_value(f) {
            Some(fill) => crate::clean::apply_fill(&mut values, fill),
            None => values
                .iter()
                .zip(unscorable.iter_mut())
                .filter(|(v, _)| v.is_nan())
                .for_each(|(_, u)| *u = true),
        }
        cols.push(values);
    }
    let views: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
    let mut x = model.scaler.transform_columns(&views);
    // Unscorable rows get a harmless value; their label is discarded below.
    for (i, u) in unscorable.iter().enumerate() {
        if *u {
            x.data[i * x.d..(i + 1) * x.d]
                .iter_mut()
                .for_each(|v| *v = 0.0);
        }
    }
    let labels = kmeans::assign(&x, &model.centers_flat());
    Ok(labels
        .into_iter()
        .zip(unscorable)
        .map(|(l, u)| (!u).then_some(l))
        .collect())
}

/// Reads `input` with the model's id column and features.
pub fn read_for_model(model: &Model, source: &Source, delimiter: Option<u8>) -> Result<Table> {
    let id = match &model.id_column {
        Some(c) => IdSpec::Column {
            name: c.clone(),
            explicit: true,
        },
        None => IdSpec::RowNumber,
    };
    ingest::read(
        source,
        &ReadSpec {
            id,
            required: model.features.clone(),
            other_numeric: false,
            delimiter,
        },
    )
}

pub struct PredictSummary {
    pub rows: usize,
    pub unscored: usize,
    pub counts: Vec<u64>,
}

/// What `cardseg predict` is asked to do.
pub struct PredictJob<'a> {
    pub model: &'a Model,
    /// The model file's checksum (stored with database labels).
    pub checksum: &'a str,
    pub source: &'a Source,
    pub out: &'a Path,
    pub force: bool,
    pub delimiter: Option<u8>,
    pub write_labels: Option<&'a LabelTarget>,
}

/// `cardseg predict`: labels for every customer of the source, written atomically to
/// `out` and, with `write_labels`, into a database table in one transaction. The
/// database is written first: when it fails, the labels file is not written either.
pub fn predict(job: &PredictJob) -> Result<PredictSummary> {
    let (model, out, force) = (job.model, job.out, job.force);
    crate::output::check_target(out, force)?;
    job.source.check()?;
    let writer = job.write_labels.map(LabelWriter::connect).transpose()?;
    let table = read_for_model(model, job.source, job.delimiter)?;
    let labels = score_table(model, &table)?;
    if let Some(w) = writer {
        let scored_at = crate::export::now_rfc3339();
        let segs = &model.segments;
        let mut rows = (0..table.rows()).map(|i| LabelRow {
            id: table.ids.get(i),
            segment: labels[i].map(|s| (segs[s as usize].id, segs[s as usize].name.as_str())),
        });
        w.write(&mut rows, job.checksum, &scored_at)?;
    }
    write_file_atomic(out, force, |w| {
        crate::report::files::write_label_rows(
            w,
            out,
            model,
            table.rows(),
            &|i| table.ids.get(i).to_string(),
            &|i| labels[i],
        )
    })?;
    let mut counts = vec![0u64; model.k];
    for l in labels.iter().flatten() {
        counts[*l as usize] += 1;
    }
    Ok(PredictSummary {
        rows: table.rows(),
        unscored: labels.iter().filter(|l| l.is_none()).count(),
        counts,
    })
}
