//! Writing a run's outputs: customer labels, the k sweep, the segment profile, the
//! executive summary, the model and the dashboard.

pub mod files;
pub mod labels_parquet;
pub mod summary;
pub mod terminal;

use crate::error::Result;
use crate::output::{write_file, OutputDir};
use crate::segmentation::{Segmentation, Sink};
use summary::Summary;

/// The report files of a run (labels, k sweep, segment profile, summary, migration, model)
/// written into a (staging) output directory. Text cells are neutralised against
/// spreadsheet formulas unless `raw_csv`.
pub struct ReportFiles<'a> {
    /// Where the files go.
    pub out: &'a OutputDir,
    /// The summary, built once and shared with the dashboard.
    pub summary: &'a Summary,
    /// Write CSV cells as they are.
    pub raw_csv: bool,
    /// Digits of the numbers in labels.csv.
    pub precision: crate::text::Precision,
    /// labels.csv or labels.parquet.
    pub labels_format: files::LabelsFormat,
    /// Write the labels file (not when the labels are written where the rows are, by Spark).
    pub labels_csv: bool,
}

impl Sink for ReportFiles<'_> {
    fn publish(&mut self, seg: &Segmentation) -> Result<()> {
        let style = files::LabelStyle {
            raw_csv: self.raw_csv,
            precision: self.precision,
        };
        let labels = self.labels_csv.then_some(self.labels_format);
        write_all(self.out, seg, self.summary, style, labels)
    }
}

fn write_all(
    out: &OutputDir,
    r: &Segmentation,
    summary: &Summary,
    style: files::LabelStyle,
    labels: Option<files::LabelsFormat>,
) -> Result<()> {
    let raw_csv = style.raw_csv;
    let (model_text, checksum) = r.model.to_json()?;
    match labels {
        Some(files::LabelsFormat::Csv) => files::write_labels(&out.file("labels.csv"), r, style)?,
        Some(files::LabelsFormat::Parquet) => {
            files::write_labels_parquet(&out.file("labels.parquet"), r, &checksum)?
        }
        None => {}
    }
    files::write_k_selection(&out.file("k_selection.csv"), &r.model)?;
    files::write_segments_csv(&out.file("segments.csv"), r, raw_csv)?;
    crate::output::write_json(&out.file("segments.json"), &files::segments_json(r))?;
    let path = out.file("summary.md");
    write_file(&path, |w| {
        summary::write_markdown(w, summary).map_err(crate::output::werr(&path))
    })?;
    crate::output::write_json(&out.file("summary.json"), summary)?;
    if r.model
        .stability
        .as_ref()
        .is_some_and(|s| !s.detail.is_empty())
    {
        files::write_stability_detail(&out.file("stability.csv"), r)?;
    }
    if let Some(m) = r.changes.as_ref().and_then(|c| c.migration.as_ref()) {
        crate::lifecycle::migration::write_files(out, m, raw_csv)?;
    }
    let path = out.file("model.json");
    write_file(&path, |w| {
        w.write_all(model_text.as_bytes())
            .map_err(crate::output::werr(&path))
    })
}
