//! What `cardseg run` is asked to do ([`RunConfig`]), its defaults and its checks, all
//! before any data is read, so a bad flag fails fast.

use std::path::PathBuf;

use crate::clean::MissingPolicy;
use crate::cluster::select_k::KRule;
use crate::cluster::silhouette;
use crate::defaults;
use crate::error::{Error, Result};
use crate::ingest::{IdSpec, ReadSpec, Source};
use crate::profile::ProfileOptions;
use crate::scale::ScalerKind;
use crate::table::Table;
use crate::writeback::LabelTarget;

/// `--k`: choose k by the k rule, or a fixed number of segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KChoice {
    /// Not given: chosen by the k rule, except with `--previous`, where the previous
    /// model's k holds (the sweep still runs and its recommendation is reported).
    #[default]
    Unset,
    /// Chosen by the k rule over the sweep (with `--previous`: re-chosen, and said so).
    Auto,
    /// Exactly this many segments.
    Fixed(usize),
}

impl std::fmt::Display for KChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KChoice::Auto | KChoice::Unset => f.write_str("auto"),
            KChoice::Fixed(k) => write!(f, "{k}"),
        }
    }
}

impl std::str::FromStr for KChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s == "auto" {
            return Ok(KChoice::Auto);
        }
        s.parse::<usize>().map(KChoice::Fixed).map_err(|_| {
            format!(
                "{} takes \"auto\" or a whole number, not {s:?}",
                crate::error::Param::K
            )
        })
    }
}

/// Everything `cardseg run` is asked to do.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Where the customers come from (file, folder, database or URL).
    pub source: Source,
    /// The output directory (created; refused when it holds anything, unless `force`).
    pub out: PathBuf,
    /// Clustering features: the columns K-Means sees, scaled.
    pub features: Vec<String>,
    /// Profiling features imputed like the clustering ones (shown, not clustered).
    pub profile_features: Vec<String>,
    /// Which column identifies a customer (or row numbers).
    pub id: IdSpec,
    /// What to do with a missing value in a used column.
    pub missing: MissingPolicy,
    /// The number of segments, or auto.
    pub k: KChoice,
    /// Smallest k of the sweep.
    pub k_min: usize,
    /// Largest k of the sweep.
    pub k_max: usize,
    /// How auto picks k from the sweep.
    pub k_rule: KRule,
    /// K-Means restarts per k (the lowest inertia is kept).
    pub n_init: usize,
    /// Seed of every random choice: same input and seed, byte-identical outputs.
    pub seed: u64,
    /// Replace an existing output directory (atomically).
    pub force: bool,
    /// Naming rules (TOML) replacing the built-in ones.
    pub naming_rules: Option<PathBuf>,
    /// Write CSV cells as they are (`--raw-csv`): no formula neutralisation.
    pub raw_csv: bool,
    /// Digits of the distances and percentiles in labels.csv (`--full-precision`: all).
    pub precision: crate::text::Precision,
    /// `--labels-format`: labels.csv or labels.parquet.
    pub labels_format: crate::report::files::LabelsFormat,
    /// Rows up to which silhouettes are exact; above, a sampled estimate.
    pub silhouette_exact_max: usize,
    /// Sample size of the sampled silhouette.
    pub silhouette_sample: usize,
    /// CSV field delimiter; None sniffs it from the header.
    pub delimiter: Option<u8>,
    /// Write dashboard.html.
    pub dashboard: bool,
    /// Extra files to place in the output directory (the demo's generated input).
    pub extra_files: Vec<(String, Vec<u8>)>,
    /// Also store the labels in this database table (`--write-labels`).
    pub write_labels: Option<LabelTarget>,
    /// `--train-sample N`: K-Means, the k sweep and the silhouettes run on a uniform
    /// sample of N customers (seeded by `seed`); fill values, the scaler range and the
    /// labels still cover every customer.
    pub train_sample: Option<usize>,
    /// `--scaler`: how features are scaled before K-Means.
    pub scaler: ScalerKind,
    /// `--categorical`: exactly these columns are profiled as a category mix (None:
    /// low-cardinality integer codes are detected).
    pub categorical: Option<Vec<String>>,
    /// `--additive`: exactly these columns are additive amounts ("holds X% of all").
    pub additive: Option<Vec<String>>,
    /// The model this run continues (`--previous`): segment ids and names carry over.
    pub previous: Option<PathBuf>,
    /// Distance percentile above which a customer is flagged (`--outlier-percentile`).
    pub outlier_percentile: f64,
    /// Set by the caller to stop the run between units of work (Ctrl-C in Python).
    pub cancel: crate::cancel::Cancel,
    /// `--outcome`: numeric or 0/1 columns (default, revenue, churn) reported per segment
    /// with a 95% interval; never clustered, never imputed.
    pub outcome: Vec<String>,
    /// `--stability-resamples`: subsamples the chosen k is fitted again on to measure how
    /// reproducible the segments are (0: not measured).
    pub stability_resamples: usize,
    /// `--stability-sample`: at most this many customers per resample.
    pub stability_sample: usize,
    /// `--stability-detail`: also write `stability.csv` (each resample's customers and
    /// labels) so the figures can be recomputed elsewhere.
    pub stability_detail: bool,
    /// Statistics of every row computed by an engine that holds them (Spark); the table
    /// the run is given is then a uniform sample of those rows.
    pub external: Option<Box<super::external::External>>,
}

impl RunConfig {
    /// A run of `input` into `out` with every default (src/defaults.rs), as the CLI has them.
    pub fn new(input: impl Into<String>, out: impl Into<PathBuf>) -> Self {
        RunConfig {
            source: Source::new(input),
            out: out.into(),
            features: crate::DEFAULT_FEATURES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            profile_features: crate::DEFAULT_PROFILE_FEATURES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            id: IdSpec::default_column(),
            missing: MissingPolicy::default(),
            k: KChoice::default(),
            k_min: defaults::K_MIN,
            k_max: defaults::K_MAX,
            k_rule: KRule::default(),
            n_init: defaults::N_INIT,
            seed: defaults::SEED,
            force: false,
            naming_rules: None,
            raw_csv: false,
            precision: crate::text::Precision::Compact,
            labels_format: crate::report::files::LabelsFormat::Csv,
            silhouette_exact_max: silhouette::EXACT_MAX_ROWS,
            silhouette_sample: silhouette::SAMPLE_SIZE,
            delimiter: None,
            dashboard: true,
            extra_files: Vec::new(),
            write_labels: None,
            train_sample: None,
            scaler: ScalerKind::default(),
            categorical: None,
            additive: None,
            previous: None,
            outlier_percentile: defaults::OUTLIER_PERCENTILE,
            cancel: crate::cancel::Cancel::default(),
            outcome: Vec::new(),
            stability_resamples: defaults::STABILITY_RESAMPLES,
            stability_sample: defaults::STABILITY_SAMPLE,
            stability_detail: false,
            external: None,
        }
    }

    /// Validates parameters before any data is read.
    pub fn check(&self) -> Result<()> {
        use crate::error::Param;
        if self.features.is_empty() {
            return Err(Error::usage(format!(
                "{} needs at least one column",
                Param::Features
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for f in &self.features {
            if !seen.insert(f) {
                return Err(Error::usage(format!(
                    "feature {f} is listed twice in {}",
                    Param::Features
                )));
            }
        }
        if self.k_min < 2 {
            return Err(Error::usage(format!(
                "{} must be at least 2 (one segment is no segmentation)",
                Param::KMin
            )));
        }
        if self.k_min > self.k_max {
            return Err(Error::usage(format!(
                "{} is larger than {}; swap them",
                Param::KMin.with(self.k_min),
                Param::KMax.with(self.k_max)
            )));
        }
        if self.k_max > 1000 {
            return Err(Error::usage(format!(
                "{} above 1000 is not a segmentation; lower it",
                Param::KMax
            )));
        }
        if let KChoice::Fixed(k) = self.k {
            if k < 2 {
                return Err(Error::usage(format!(
                    "{}: k must be at least 2, or auto",
                    Param::K.with(k)
                )));
            }
            if k > 1000 {
                return Err(Error::usage(format!(
                    "{} above 1000 is not a segmentation; lower it",
                    Param::K
                )));
            }
        }
        if self.n_init == 0 || self.n_init > 1000 {
            return Err(Error::usage(format!(
                "{} must be between 1 and 1000",
                Param::NInit
            )));
        }
        if let Some(m) = self.train_sample {
            let k_top = self.ks().last().copied().unwrap_or(2);
            if m <= k_top {
                return Err(Error::usage(format!(
                    "{} is too small: K-Means needs more customers than segments (k goes up to {k_top})",
                    Param::TrainSample.with(m)
                )));
            }
        }
        if !(self.outlier_percentile.is_finite()
            && (0.0..=100.0).contains(&self.outlier_percentile))
        {
            return Err(Error::usage(format!(
                "{}: give a percentile between 0 and 100, e.g. 99.5",
                Param::OutlierPercentile.with(self.outlier_percentile)
            )));
        }
        for o in &self.outcome {
            if self.features.contains(o) {
                return Err(Error::usage(format!(
                    "{o} is both a clustering feature and an {}; outcomes are reported per segment, never clustered: remove it from one of them",
                    Param::Outcome
                )));
            }
        }
        if self.stability_resamples > 1000 {
            return Err(Error::usage(format!(
                "{} must be between 0 and 1000",
                Param::StabilityResamples
            )));
        }
        if self.stability_resamples > 0 && self.stability_sample < 100 {
            return Err(Error::usage(format!(
                "{} must be at least 100",
                Param::StabilitySample
            )));
        }
        if self.silhouette_sample < 100 {
            return Err(Error::usage(format!(
                "{} must be at least 100",
                Param::SilhouetteSample
            )));
        }
        self.check_names()
    }

    /// Column names a model must hold, checked with the bound every reader of a model
    /// applies ([`crate::model::check_column_name`]), before any data is read.
    fn check_names(&self) -> Result<()> {
        use crate::error::Param;
        let id = match &self.id {
            IdSpec::Column { name, .. } => Some(name),
            IdSpec::RowNumber => None,
        };
        let named = self
            .features
            .iter()
            .map(|n| (Param::Features.to_string(), n))
            .chain(
                self.profile_features
                    .iter()
                    .map(|n| (Param::ProfileFeatures.to_string(), n)),
            )
            .chain(id.map(|n| ("the id column".to_string(), n)));
        for (what, name) in named {
            if let Some(problem) = crate::model::check_column_name(name) {
                return Err(Error::usage(format!(
                    "{what}: {problem}; rename the column (for example in a view) or leave it out"
                )));
            }
        }
        Ok(())
    }

    pub(crate) fn ks(&self) -> Vec<usize> {
        let mut ks: Vec<usize> = (self.k_min..=self.k_max).collect();
        if let KChoice::Fixed(k) = self.k {
            if !ks.contains(&k) {
                ks.push(k);
                ks.sort_unstable();
            }
        }
        ks
    }
}

impl RunConfig {
    /// Every file the run reads or writes besides its output directory: the input, the
    /// naming rules, the previous model and its labels, a `--write-labels` SQLite file.
    /// The output may not be, hold or sit inside any of them.
    pub fn inputs(&self) -> crate::output::Inputs {
        self.inputs_besides_source().source(&self.source.input)
    }

    /// [`RunConfig::inputs`] but the source: for a table already in memory.
    pub fn inputs_besides_source(&self) -> crate::output::Inputs {
        let previous_labels = self
            .previous
            .as_ref()
            .and_then(|p| p.parent())
            .map(|d| d.join("labels.csv"));
        let mut inputs = crate::output::Inputs::none()
            .maybe(self.naming_rules.as_deref())
            .maybe(self.previous.as_deref())
            .maybe(previous_labels.as_deref());
        if let Some(t) = &self.write_labels {
            inputs = inputs.source(&t.url);
        }
        inputs
    }

    /// Whether the profiling features are the built-in defaults (the CC GENERAL
    /// columns), which are used when present and skipped when absent.
    pub fn profile_features_defaulted(&self) -> bool {
        self.profile_features
            .iter()
            .map(String::as_str)
            .eq(crate::DEFAULT_PROFILE_FEATURES)
    }

    /// The configuration for `table`: default profiling features it lacks are dropped
    /// (named ones must exist, and reading already checked them).
    pub(crate) fn resolved(&self, table: &Table) -> std::borrow::Cow<'_, RunConfig> {
        if !self.profile_features_defaulted()
            || self.profile_features.iter().all(|p| numeric_in(table, p))
        {
            return std::borrow::Cow::Borrowed(self);
        }
        let mut cfg = self.clone();
        cfg.profile_features.retain(|p| numeric_in(table, p));
        std::borrow::Cow::Owned(cfg)
    }

    /// Columns profiled as numbers whatever their values: the clustering features, the
    /// profiling features and the outcomes.
    pub fn numeric_columns(&self) -> Vec<String> {
        let mut v = self.used_columns();
        for o in &self.outcome {
            if !v.contains(o) {
                v.push(o.clone());
            }
        }
        v
    }

    /// Whether the user named `column` (as a feature, profiling feature, outcome or
    /// category).
    pub fn names_column(&self, column: &str) -> bool {
        let is = |v: &Vec<String>| v.iter().any(|c| c == column);
        is(&self.features)
            || (!self.profile_features_defaulted() && is(&self.profile_features))
            || is(&self.outcome)
            || self.categorical.as_ref().is_some_and(is)
    }

    /// Clustering features, then profiling features not already among them.
    pub fn used_columns(&self) -> Vec<String> {
        let mut used = self.features.clone();
        for p in &self.profile_features {
            if !used.contains(p) {
                used.push(p.clone());
            }
        }
        used
    }

    /// How the profile reads columns (`--categorical`, `--additive`).
    pub fn profile_options(&self) -> ProfileOptions {
        ProfileOptions {
            features: self.numeric_columns(),
            categorical: self.categorical.clone(),
            additive: self.additive.clone(),
            box_rows: Vec::new(),
        }
    }

    /// What to read: the id, the used columns and outcomes (required; default profiling
    /// features only when present) and every other numeric column.
    pub fn read_spec(&self) -> ReadSpec {
        let mut required = if self.profile_features_defaulted() {
            self.features.clone()
        } else {
            self.used_columns()
        };
        for o in &self.outcome {
            if !required.contains(o) {
                required.push(o.clone());
            }
        }
        ReadSpec {
            id: self.id.clone(),
            required,
            other_numeric: true,
            delimiter: self.delimiter,
        }
    }
}

fn numeric_in(table: &Table, name: &str) -> bool {
    table
        .info
        .iter()
        .any(|i| i.name == name && i.kind == crate::table::ColumnKind::Numeric)
}

/// Every header name, each quoted, for messages.
fn quoted_names(table: &Table) -> String {
    let quoted: Vec<String> = table
        .header_names()
        .into_iter()
        .map(crate::text::quote_name)
        .collect();
    quoted.join(", ")
}

/// `--categorical` and `--additive` must name columns of the input.
pub(crate) fn check_column_lists(cfg: &RunConfig, table: &Table) -> Result<()> {
    use crate::error::Param;
    let outcome = Param::Outcome;
    for o in &cfg.outcome {
        if !numeric_in(table, o) {
            let known = table.info.iter().any(|i| i.name == *o);
            return Err(Error::usage(if known {
                format!("{outcome} names {o}, which is not a numeric column of {}; give a 0/1 flag or an amount", table.source)
            } else {
                format!(
                    "{outcome} names {o}, which {} has no column of; columns: {}",
                    table.source,
                    quoted_names(table)
                )
            }));
        }
    }
    for (flag, list) in [
        (Param::Categorical, &cfg.categorical),
        (Param::Additive, &cfg.additive),
    ] {
        for c in list.iter().flatten() {
            let known = table.info.iter().any(|i| i.name == *c);
            if !known {
                return Err(Error::usage(format!(
                    "{flag} names {c}, which {} has no column of; columns: {}",
                    table.source,
                    quoted_names(table)
                )));
            }
            if flag == Param::Additive
                && table.column(c).is_none()
                && !table
                    .info
                    .iter()
                    .any(|i| i.name == *c && i.kind == crate::table::ColumnKind::Numeric)
            {
                return Err(Error::usage(format!(
                    "{flag} names {c}, which is not a numeric column"
                )));
            }
        }
    }
    Ok(())
}
