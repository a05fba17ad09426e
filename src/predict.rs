//! Scoring new customers with a saved model: the saved fill values, scaler and centroids,
//! through the same kernels as training, so the training file gets its labels back
//! byte for byte.

use std::path::Path;

use crate::cluster::kmeans;
use crate::error::Result;
use crate::ingest::{self, IdSpec, ReadSpec, Source};
use crate::model::Model;
use crate::output::write_file_atomic;
use crate::table::Table;
use crate::writeback::{LabelRow, LabelTarget, LabelWriter};

/// What scoring a batch gives for each customer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scores {
    /// Segment index (0-based; the id is `model.segments[index].id`), or None when a feature is
    /// missing and the model's policy is to drop such customers.
    pub labels: Vec<Option<u32>>,
    /// With `distances`: Euclidean distance (scaled units) to the customer's centroid and
    /// to the second-nearest centroid; NaN for unscored customers. Empty otherwise.
    pub distances: Vec<(f64, f64)>,
}

/// Scores a batch of customers given as columns: `cols[j]` holds feature
/// `model.features[j]` for every customer, NaN where it is missing. This is the one
/// scoring path of `predict` and `serve`: the saved fill values (or unscorable with the
/// drop policy), `scaler.transform_columns`, then `kmeans::assign` against `centers`
/// (`model.centers_flat()`, passed in so a server computes it once per model).
pub fn score_columns(
    model: &Model,
    centers: &[f64],
    mut cols: Vec<Vec<f64>>,
    distances: bool,
) -> Scores {
    let n = cols.first().map(Vec::len).unwrap_or(0);
    debug_assert_eq!(cols.len(), model.features.len());
    debug_assert!(cols.iter().all(|c| c.len() == n));
    let mut unscorable = vec![false; n];
    for (f, values) in model.features.iter().zip(cols.iter_mut()) {
        match model.fill_value(f) {
            Some(fill) => crate::clean::apply_fill(values, fill),
            None => values
                .iter()
                .zip(unscorable.iter_mut())
                .filter(|(v, _)| v.is_nan())
                .for_each(|(_, u)| *u = true),
        }
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
    let labels = kmeans::assign(&x, centers);
    let distances = if distances {
        (0..x.n)
            .map(|i| {
                if unscorable[i] {
                    return (f64::NAN, f64::NAN);
                }
                // nearest_two runs the same `nearest` kernel as `assign`, so its label is
                // the same; the distances are what it adds.
                let (_, best, second) = crate::cluster::nearest_two(x.row(i), centers);
                (best.sqrt(), second.sqrt())
            })
            .collect()
    } else {
        Vec::new()
    };
    Scores {
        labels: labels
            .into_iter()
            .zip(unscorable)
            .map(|(l, u)| (!u).then_some(l))
            .collect(),
        distances,
    }
}

/// The model's feature columns of `table`, copied for [`score_columns`].
pub fn feature_columns(model: &Model, table: &Table) -> Result<Vec<Vec<f64>>> {
    model
        .features
        .iter()
        .map(|f| {
            table.column(f).map(|c| c.values.clone()).ok_or_else(|| {
                crate::error::Error::input(&table.source, format!("column {f} was not loaded"))
            })
        })
        .collect()
}

/// Labels for every row of `table`: Some(segment index) or None when a feature is
/// missing and the model's policy is to drop such customers.
pub fn score_table(model: &Model, table: &Table) -> Result<Vec<Option<u32>>> {
    let cols = feature_columns(model, table)?;
    Ok(score_columns(model, &model.centers_flat(), cols, false).labels)
}

/// Like [`score_table`], with each customer's distance to its centroid.
pub fn score_table_with_distances(model: &Model, table: &Table) -> Result<Scores> {
    let cols = feature_columns(model, table)?;
    Ok(score_columns(model, &model.centers_flat(), cols, true))
}

/// What to read for scoring with `model`: its id column (required when the model has
/// one) and its features.
pub fn read_spec(model: &Model, delimiter: Option<u8>) -> ReadSpec {
    let id = match &model.id_column {
        Some(c) => IdSpec::Column {
            name: c.clone(),
            explicit: true,
        },
        None => IdSpec::RowNumber,
    };
    ReadSpec {
        id,
        required: model.features.clone(),
        other_numeric: false,
        delimiter,
    }
}

/// Reads `input` with the model's id column and features.
pub fn read_for_model(model: &Model, source: &Source, delimiter: Option<u8>) -> Result<Table> {
    ingest::read(source, &read_spec(model, delimiter))
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
    /// Write CSV cells as they are (`--raw-csv`): no formula neutralisation.
    pub raw_csv: bool,
    /// The id column of this input (`--id-column NAME`, or row numbers for `--no-id`)
    /// when it differs from the model's; `None` uses the model's.
    pub id: Option<IdSpec>,
}

/// The labels file is CSV: a name ending in another format's extension (`.parquet`,
/// `.json`, `.xlsx`, `.gz`, ...) is refused rather than filled with CSV text.
fn check_out_extension(out: &Path) -> Result<()> {
    let ext = out
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        None | Some("csv") | Some("txt") => Ok(()),
        Some(other) => Err(crate::error::Error::usage(format!(
            "--out {}: predict writes CSV, not .{other}; give a name ending in .csv",
            out.display()
        ))),
    }
}

/// `cardseg predict`: labels for every customer of the source, written atomically to
/// `out` and, with `write_labels`, into a database table in one transaction. The
/// database is written first: when it fails, the labels file is not written either.
pub fn predict(job: &PredictJob) -> Result<PredictSummary> {
    let (model, out, force) = (job.model, job.out, job.force);
    check_out_extension(out)?;
    crate::output::check_target(out, force)?;
    let input = crate::output::local_input(&job.source.input);
    crate::output::refuse_inputs(out, &input.iter().map(|p| p.as_path()).collect::<Vec<_>>())?;
    job.source.check()?;
    let writer = job.write_labels.map(LabelWriter::connect).transpose()?;
    let mut spec = read_spec(model, job.delimiter);
    // Another id column than the training data's: read it, and name it in the labels.
    let renamed;
    let model = match &job.id {
        Some(id) => {
            spec.id = id.clone();
            let mut m = model.clone();
            m.id_column = match id {
                IdSpec::Column { name, .. } => Some(name.clone()),
                IdSpec::RowNumber => None,
            };
            renamed = m;
            &renamed
        }
        None => model,
    };
    let table = ingest::read(job.source, &spec)?;
    let Scores { labels, distances } = score_table_with_distances(model, &table)?;
    if let Some(w) = writer {
        let scored_at = crate::writeback::now_rfc3339();
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
            &|i| table.ids.get(i),
            &|i| labels[i],
            &|i| {
                crate::lifecycle::outliers::Outlier::of(
                    model,
                    labels[i].unwrap_or(0) as usize,
                    distances[i].0,
                )
            },
            job.raw_csv,
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
