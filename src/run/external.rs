//! Statistics a run takes from an engine that holds every row (Spark): the fill values,
//! the scaler's statistics and, once that engine has refined the centroids on every row,
//! the fit and the per-segment figures. The run then reads only the uniform sample it is
//! handed (the k sweep, the silhouette, stability, the dashboard's rows) and builds the
//! model, the profile and the names from these figures, as it would from its own.

use serde::{Deserialize, Serialize};

use crate::clean::{apply_fill, CleanReport, ColumnCleaning, MissingPolicy};
use crate::cluster::kmeans::KMeansFit;
use crate::error::{Error, Result};
use crate::model::KRow;
use crate::profile::{self, Figures, Outcome, ProfileOptions};
use crate::scale::FitStats;
use crate::table::Table;

/// What the engine computed on every row (see the module documentation).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct External {
    /// Rows of the whole data before cleaning.
    pub rows_in: u64,
    /// Rows kept (fewer than `rows_in` only with the drop policy, whose dropped rows the
    /// engine leaves out of the sample too).
    pub rows_out: u64,
    /// Every used column's missing count and fill value, in the order `clean` reports.
    pub cleaning: Vec<ColumnCleaning>,
    /// Per feature, what the scaler is fitted from.
    pub scaler: Vec<FitStats>,
    /// After the refinement on every row: the fit and its figures.
    #[serde(default)]
    pub refined: Option<Refined>,
    /// With a previous run: the customer flows counted on every row.
    #[serde(default)]
    pub migration: Option<crate::lifecycle::migration::Counted>,
    /// The drift baseline of every row read, per feature (used instead of the sample's).
    #[serde(default)]
    pub feature_distributions: Option<Vec<crate::model::baseline::FeatureDistribution>>,
}

/// The chosen k's fit on every row, and the figures of every row per segment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refined {
    /// The k sweep made on the sample (inertia and silhouette per k).
    pub sweep: Vec<KRow>,
    /// k × d centroids in scaled units, in segment order (largest segment first).
    pub centroids: Vec<f64>,
    /// Customers per segment.
    pub counts: Vec<u64>,
    /// Sum of squared distances of every customer to its centroid.
    pub inertia: f64,
    /// Per segment, the distance quantiles of `model::baseline::quantiles`.
    pub distance_quantiles: Vec<Vec<f64>>,
    /// Figures of the columns profiled as numbers.
    pub numeric: Vec<NumericStats>,
    /// Figures of the columns profiled as categories.
    #[serde(default)]
    pub categories: Vec<CategoryStats>,
    /// Figures of the outcome columns.
    #[serde(default)]
    pub outcomes: Vec<OutcomeStats>,
    /// Customers per value of the text columns profiled as categories.
    #[serde(default)]
    pub texts: Vec<TextStats>,
    /// The per-segment drift baseline of every row, in segment order (used instead of
    /// the sample's).
    #[serde(default)]
    pub segment_distributions: Option<Vec<crate::model::baseline::SegmentDistribution>>,
}

/// A text column's customers per value and group (segments, then the portfolio).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TextStats {
    /// The column.
    pub column: String,
    /// Its distinct values as the readers name them ("(missing)" for an empty cell).
    pub values: Vec<String>,
    /// `counts[g][v]`: customers of group `g` with value `values[v]`.
    pub counts: Vec<Vec<u64>>,
}

/// A numeric column's figures per group (segments, then the portfolio).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NumericStats {
    /// The column.
    pub column: String,
    /// Sums of the non-missing values.
    pub sums: Vec<f64>,
    /// Non-missing values.
    pub counts: Vec<u64>,
    /// Medians (the definition of `stats::median`).
    pub medians: Vec<Option<f64>>,
    /// Non-zero values.
    pub nonzero: Vec<u64>,
    /// Sums of squared deviations from the group's mean.
    pub m2: Vec<f64>,
    /// The column's smallest value.
    pub min: f64,
    /// The column's largest value.
    pub max: f64,
}

/// A numeric code column's customers per value and group (segments, then the portfolio).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CategoryStats {
    /// The column.
    pub column: String,
    /// Its distinct values (None: missing).
    pub values: Vec<Option<f64>>,
    /// `counts[g][v]`: customers of group `g` with value `values[v]`.
    pub counts: Vec<Vec<u64>>,
}

/// An outcome column's sums per group (segments, then the portfolio).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutcomeStats {
    /// The column.
    pub column: String,
    /// Whether every value is 0 or 1 (a rate).
    pub binary: bool,
    /// Customers with a value.
    pub n: Vec<u64>,
    /// Sums of their values.
    pub sum: Vec<f64>,
    /// Sums of squared deviations from the group's mean.
    pub m2: Vec<f64>,
}

impl External {
    /// Fills the used columns of the sample with the engine's fill values; the report is
    /// the whole data's.
    pub(crate) fn clean(&self, table: &mut Table, policy: MissingPolicy) -> Result<CleanReport> {
        for c in &self.cleaning {
            let idx = table.column_index(&c.column).ok_or_else(|| {
                Error::input(&table.source, format!("column {} was not loaded", c.column))
            })?;
            if let Some(fill) = c.fill_value {
                apply_fill(&mut table.columns[idx].values, fill);
            }
        }
        Ok(CleanReport {
            policy,
            rows_in: self.rows_in,
            rows_out: self.rows_out,
            columns: self.cleaning.clone(),
            kept: None,
            original_ids: None,
        })
    }
}

impl Refined {
    /// The fit, as the sweep would have returned it (labels are the caller's).
    pub(crate) fn fit(&self, source: &str, d: usize) -> Result<KMeansFit> {
        let k = self.counts.len();
        if k == 0 || self.centroids.len() != k * d || self.distance_quantiles.len() != k {
            return Err(Error::input(
                source,
                format!(
                    "refined fit with {} centroid values, {} counts and {} quantile lists for {d} features",
                    self.centroids.len(),
                    k,
                    self.distance_quantiles.len()
                ),
            ));
        }
        Ok(KMeansFit {
            k,
            d,
            centroids: self.centroids.clone(),
            labels: Vec::new(),
            counts: self.counts.clone(),
            inertia: self.inertia,
            n_iter: 0,
            best_init: 0,
        })
    }

    /// The figures of column `name`, with box plots from the sample's rows when the
    /// options ask for them.
    pub(crate) fn figures_of(
        &self,
        table: &Table,
        name: &str,
        labels: &[u32],
        opts: &ProfileOptions,
    ) -> Result<Figures> {
        let k = self.counts.len();
        let groups = k + 1;
        if let Some(s) = self.numeric.iter().find(|s| s.column == name) {
            let sized = [s.sums.len(), s.counts.len(), s.medians.len()];
            if sized
                .iter()
                .chain([&s.nonzero.len(), &s.m2.len()])
                .any(|&l| l != groups)
            {
                return Err(Error::input(
                    &table.source,
                    format!("the figures of column {name} are not for {k} segments"),
                ));
            }
            let boxes = match table.column(name) {
                Some(c) if !opts.box_rows.is_empty() => {
                    profile::box_stats(&c.values, labels, k, &opts.box_rows)
                }
                _ => Vec::new(),
            };
            return Ok(Figures::Numeric(profile::ColumnFigures::from_parts(
                s.sums.clone(),
                s.counts.clone(),
                s.medians.clone(),
                s.nonzero.clone(),
                s.m2.clone(),
                s.min,
                s.max,
                boxes,
            )));
        }
        if let Some(c) = self.categories.iter().find(|c| c.column == name) {
            if c.counts.len() != groups {
                return Err(Error::input(
                    &table.source,
                    format!("the category counts of column {name} are not for {k} segments"),
                ));
            }
            let labels_of: Vec<String> = c
                .values
                .iter()
                .map(|v| v.map_or_else(|| "(missing)".to_string(), profile::code_label))
                .collect();
            return Ok(Figures::Category(profile::category_figures_from_counts(
                &labels_of,
                c.counts.clone(),
            )));
        }
        Err(Error::input(
            &table.source,
            format!("no figures were computed for column {name}"),
        ))
    }

    /// Attaches the category mixes of the text columns to `profile`.
    pub(crate) fn attach_texts(&self, profile: &mut crate::profile::Profile) {
        let groups = self.counts.len() + 1;
        for t in self.texts.iter().filter(|t| t.counts.len() == groups) {
            let f = profile::category_figures_from_counts(&t.values, t.counts.clone());
            profile.attach_categories(&t.column, &f);
        }
    }

    /// The figures of outcome `column`.
    pub(crate) fn outcome(&self, source: &str, column: &str) -> Result<Vec<Outcome>> {
        let groups = self.counts.len() + 1;
        let o = self
            .outcomes
            .iter()
            .find(|o| o.column == column)
            .filter(|o| o.n.len() == groups && o.sum.len() == groups && o.m2.len() == groups)
            .ok_or_else(|| {
                Error::input(
                    source,
                    format!("no figures were computed for outcome {column}"),
                )
            })?;
        Ok(profile::outcome_from_sums(
            column, o.binary, &o.n, &o.sum, &o.m2,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::KRow;

    /// The profile assembled from figures computed elsewhere equals the one computed
    /// from the rows, when the figures are those of the rows.
    #[test]
    fn figures_from_elsewhere_assemble_the_profile_of_the_rows() {
        let values = [1.0, 4.0, f64::NAN, 2.0, 8.0, 0.0, 3.0];
        let labels = [0u32, 1, 0, 0, 1, 1, 0];
        let k = 2;
        let direct = profile::column_figures(&values, &labels, k);
        let want = profile::assemble(&["X"], std::slice::from_ref(&direct), &labels, k);
        let group = |g: Option<u32>| -> Vec<f64> {
            values
                .iter()
                .zip(&labels)
                .filter(|(v, l)| !v.is_nan() && g.is_none_or(|g| **l == g))
                .map(|(v, _)| *v)
                .collect()
        };
        let groups: Vec<Vec<f64>> = vec![group(Some(0)), group(Some(1)), group(None)];
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let numeric = NumericStats {
            column: "X".into(),
            sums: groups.iter().map(|v| v.iter().sum()).collect(),
            counts: groups.iter().map(|v| v.len() as u64).collect(),
            medians: groups.iter().map(|v| crate::stats::median(v)).collect(),
            nonzero: groups
                .iter()
                .map(|v| v.iter().filter(|x| **x != 0.0).count() as u64)
                .collect(),
            m2: groups
                .iter()
                .map(|v| v.iter().map(|x| (x - mean(v)) * (x - mean(v))).sum())
                .collect(),
            min: 0.0,
            max: 8.0,
        };
        let refined = Refined {
            sweep: Vec::<KRow>::new(),
            centroids: vec![0.0, 1.0],
            counts: vec![4, 3],
            inertia: 0.0,
            distance_quantiles: vec![Vec::new(), Vec::new()],
            numeric: vec![numeric],
            categories: Vec::new(),
            outcomes: Vec::new(),
            texts: Vec::new(),
            segment_distributions: None,
        };
        let table = crate::ingest::csv::read_bytes(
            b"CUST_ID,X\nx,1\n",
            "t.csv",
            &crate::ingest::ReadSpec {
                id: crate::ingest::IdSpec::default_column(),
                required: vec!["X".into()],
                other_numeric: false,
                delimiter: None,
            },
        )
        .unwrap();
        let f = refined
            .figures_of(&table, "X", &labels, &ProfileOptions::default())
            .unwrap();
        let got = profile::assemble_all_sized(
            &["X"],
            vec![f],
            &refined.counts,
            &ProfileOptions::default(),
        );
        assert_eq!(got, want);
        let e = refined
            .figures_of(&table, "Y", &labels, &ProfileOptions::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("no figures were computed for column Y"), "{e}");
    }
}
