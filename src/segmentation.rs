//! [`Segmentation`]: what segmenting a customer table produces — the cleaned table, the model,
//! the profile, every customer's segment and distance — handed by the run to whoever consumes
//! it (the report, the dashboard, the database write-back), as ripgrep's searcher hands its
//! matches to a sink. Consumers read it; none of them calls back into the run.

use crate::clean::CleanReport;
use crate::labels::Labels;
use crate::lifecycle::continuity::Changes;
use crate::lifecycle::outliers::Outlier;
use crate::model::Model;
use crate::naming::Basis;
use crate::profile::Profile;
use crate::table::Table;

/// A segmented customer table, in memory.
pub struct Segmentation {
    /// The customers kept for segmentation, cleaned (missing values filled or rows dropped).
    pub table: Table,
    /// What cleaning did, including which input rows were kept.
    pub clean: CleanReport,
    /// The saved model: features, scaler, centroids, names, k selection.
    pub model: Model,
    /// SHA-256 of the model file's bytes (ties labels written to a database to the model).
    pub checksum: String,
    /// Per-segment statistics of every loaded column.
    pub profile: Profile,
    /// 0-based segment index of every kept row (the id is `model.segments[index].id`).
    pub labels: Vec<u32>,
    /// Distance of every kept row to its segment's centroid (scaled units).
    pub distances: Vec<f64>,
    /// What changed since the previous model (monthly retrains with `--previous`).
    pub changes: Option<Changes>,
    /// Rows whose id already appeared.
    pub duplicate_ids: u64,
    /// Which naming rules named the segments (credit-card archetypes, custom rules, or
    /// none: names from the distinguishing features).
    pub naming_basis: Basis,
}

impl Segmentation {
    /// Every input row's segment, in input order: customers dropped for missing values come
    /// with none, as in labels.csv.
    pub fn labels(&self) -> Labels<'_> {
        match (&self.clean.kept, &self.clean.original_ids) {
            (Some(kept), Some(ids)) => Labels::kept(ids, kept, &self.labels),
            _ => Labels::all(&self.table.ids, &self.labels),
        }
    }

    /// Outlier figures of kept row `j`.
    pub fn outlier(&self, j: usize) -> Outlier {
        Outlier::of(&self.model, self.labels[j] as usize, self.distances[j])
    }
}

/// Where a finished segmentation goes: the report files, the dashboard, a database table.
/// The run segments in memory and then hands the result to the sinks the caller chose
/// (ripgrep's `Sink`), so the CLI, the Python package and future outputs pick what is
/// written without running the pipeline differently.
pub trait Sink {
    /// Writes (or stages, for outputs committed together) what this sink makes of `seg`.
    fn publish(&mut self, seg: &Segmentation) -> crate::error::Result<()>;
}
