//! Scoring new customers with a saved model: the saved fill values, scaler and centroids,
//! through the same kernels as training, so the training file gets its labels back
//! byte for byte.

use std::path::Path;

use crate::error::Result;
use crate::ingest::{self, IdSpec, ReadSpec, Source};
use crate::labels::Labels;
use crate::model::Model;
use crate::output::{Inputs, StagedFile};
use crate::report::files::LabelsFormat;
use crate::table::Table;
use crate::writeback::{LabelRow, LabelTarget, LabelWriter};

pub use crate::score::{
    feature_columns, score_columns, score_table, score_table_with_distances, Scores,
};

/// What to read for scoring with `model`: its id column (required when the model has
/// one) and its features.
pub fn read_spec(model: &Model, delimiter: Option<u8>) -> ReadSpec {
    model.read_spec(delimiter, false)
}

/// Reads `input` with the model's id column and features.
pub fn read_for_model(model: &Model, source: &Source, delimiter: Option<u8>) -> Result<Table> {
    ingest::read(source, &read_spec(model, delimiter))
}

/// What `predict` did, for its closing message.
pub struct PredictSummary {
    /// Customers read.
    pub rows: usize,
    /// Customers left without a segment (a missing feature under the drop policy).
    pub unscored: usize,
    /// Customers per segment (segment order).
    pub counts: Vec<u64>,
    /// What the command should warn about (ids that repeat), if anything.
    pub warning: Option<String>,
}

/// What `cardseg predict` is asked to do.
pub struct PredictJob<'a> {
    /// The model scoring the customers.
    pub model: &'a Model,
    /// The model file's checksum (stored with database labels).
    pub checksum: &'a str,
    /// The customers to score.
    pub source: &'a Source,
    /// The labels file to write.
    pub out: &'a Path,
    /// Replace an existing labels file.
    pub force: bool,
    /// CSV delimiter, when not detected.
    pub delimiter: Option<u8>,
    /// Also write the labels to a database (`--write-labels`).
    pub write_labels: Option<&'a LabelTarget>,
    /// Write CSV cells as they are (`--raw-csv`): no formula neutralisation.
    pub raw_csv: bool,
    /// Digits of the distances and percentiles (`--full-precision`: all).
    pub precision: crate::text::Precision,
    /// CSV or Parquet (`--labels-format`).
    pub format: crate::report::files::LabelsFormat,
    /// The id column of this input (`--id-column NAME`, or row numbers for `--no-id`)
    /// when it differs from the model's; `None` uses the model's.
    pub id: Option<IdSpec>,
    /// The model file, when the model came from one: the labels may not replace it.
    pub model_path: Option<&'a Path>,
}

/// The labels file's name matches its format: a CSV file's name ends in `.csv`, `.txt` or
/// nothing, a Parquet file's in `.parquet`; any other extension (`.json`, `.xlsx`, `.gz`,
/// ...) is refused rather than filled with the wrong content.
fn check_out_extension(out: &Path, format: LabelsFormat) -> Result<()> {
    let ext = out
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match (format, ext.as_deref()) {
        (LabelsFormat::Csv, None | Some("csv") | Some("txt")) => Ok(()),
        (LabelsFormat::Parquet, Some("parquet")) => Ok(()),
        (LabelsFormat::Csv, Some("parquet")) => Err(crate::error::Error::usage(format!(
            "--out {}: predict writes CSV unless --labels-format parquet; add that flag, or give a name ending in .csv",
            out.display()
        ))),
        (LabelsFormat::Csv, Some(other)) => Err(crate::error::Error::usage(format!(
            "--out {}: predict writes CSV, not .{other}; give a name ending in .csv",
            out.display()
        ))),
        (LabelsFormat::Parquet, _) => Err(crate::error::Error::usage(format!(
            "--out {}: with --labels-format parquet predict writes Parquet; give a name ending in .parquet",
            out.display()
        ))),
    }
}

/// `cardseg predict`: labels for every customer of the source, written atomically to
/// `out` and, with `write_labels`, into a database table in one transaction. The labels
/// file is staged (checked, its temporary file created) before the database is touched,
/// so an output that cannot be written refuses the command with the table unchanged; the
/// database is written before the file: when it fails, the labels file is not written
/// either.
pub fn predict(job: &PredictJob) -> Result<PredictSummary> {
    let (model, out, force) = (job.model, job.out, job.force);
    let mut inputs = Inputs::none()
        .source(&job.source.input)
        .maybe(job.model_path);
    if let Some(t) = job.write_labels {
        t.check()?;
        inputs = inputs.source(&t.url);
    }
    if !crate::output::is_stdout(out) {
        inputs.check(out)?;
        check_out_extension(out, job.format)?;
    }
    crate::output::check_output(out, force, &inputs)?;
    job.source.check()?;
    let staged = StagedFile::create(out, force, &inputs)?;
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
    let warning = crate::writeback::check_ids(&table, job.write_labels.is_some())?;
    let Scores { labels, distances } = score_table_with_distances(model, &table)?;
    let scored = Labels::per_row(&table.ids, &labels);
    if let Some(w) = writer {
        let scored_at = crate::writeback::now_rfc3339();
        w.write(&mut LabelRow::all(&scored, model), job.checksum, &scored_at)?;
    }
    let outlier_of = |l: &crate::labels::Label| {
        crate::lifecycle::outliers::Outlier::of(
            model,
            l.segment.unwrap_or(0) as usize,
            distances[l.row].0,
        )
    };
    let provenance = crate::output::Provenance::new("predict", Some(job.checksum))
        .with_rows(table.rows() as u64);
    staged.write(&provenance, |w| match job.format {
        LabelsFormat::Csv => crate::report::files::write_label_rows(
            w,
            out,
            model,
            &scored,
            &outlier_of,
            crate::report::files::LabelStyle {
                raw_csv: job.raw_csv,
                precision: job.precision,
            },
        ),
        LabelsFormat::Parquet => crate::report::labels_parquet::write_label_parquet(
            w,
            out,
            model,
            &scored,
            &outlier_of,
            job.checksum,
        ),
    })?;
    let mut counts = vec![0u64; model.k];
    for l in labels.iter().flatten() {
        counts[*l as usize] += 1;
    }
    Ok(PredictSummary {
        rows: table.rows(),
        unscored: labels.iter().filter(|l| l.is_none()).count(),
        counts,
        warning,
    })
}
