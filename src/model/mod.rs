//! The saved model: everything `predict` and `serve` need to score new customers
//! exactly as the training run labelled its own (fill values, scaler, centroids in
//! segment order, names), plus the figures that justify it.
//!
//! File layout: `{"format": "cardseg-model", "format_version": N, "checksum":
//! "sha256:…", "model": {…}}`. The checksum is SHA-256 of the `model` object serialized
//! canonically (compact JSON, keys sorted). On loading it is checked against the model's
//! text as spelled in the file (white space between tokens removed), not against the
//! parsed values, so any edit is caught, even a digit changed beyond the precision of a
//! 64-bit number, which would parse to the same value.

pub mod baseline;

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clean::{ColumnCleaning, MissingPolicy};
use crate::cluster::select_k::KRule;
use crate::cluster::silhouette::Score;
use crate::error::{Error, Result};
use crate::scale::MinMaxScaler;

/// The `format` tag of a model file, so a stray JSON file is refused rather than misread.
pub const FORMAT: &str = "cardseg-model";
/// Bumped when a change would make older cardseg read the file wrongly: the newest
/// format this cardseg reads. Version 2 adds a scaler `kind` other than minmax; a model
/// with the default minmax scaler is still written as version 1, byte for byte as before,
/// while an older cardseg refuses a version-2 file instead of scoring it as minmax.
pub const FORMAT_VERSION: u64 = 2;
/// Models are small; anything larger is not one of ours.
pub const MAX_MODEL_BYTES: u64 = 64 << 20;
/// Longest column name (feature, profiling feature, id column) a model holds, in bytes:
/// checked by `run` before any work and by every reader of a model, with
/// [`check_column_name`], so a model that is written can always be read.
pub const MAX_COLUMN_NAME_BYTES: usize = 256;
/// Longest segment name: a rule's name or two features' words, plus up to four
/// qualifiers that each name a column, so names made from any accepted columns fit.
pub const MAX_SEGMENT_NAME_BYTES: usize = 6 * MAX_COLUMN_NAME_BYTES + 500;
/// Largest magnitude accepted for a scaled centroid, a scaler value or a fill value
/// (the scaler refuses to fit beyond it).
pub use crate::scale::MAX_MAGNITUDE;

/// Why `name` cannot be a column name in a model (None: it can): empty, holding a NUL
/// character (which SQL engines and XML cannot hold), or longer than
/// [`MAX_COLUMN_NAME_BYTES`].
pub fn check_column_name(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("a column name is empty".into())
    } else if name.contains('\0') {
        Some(format!(
            "the column name {} contains a NUL character, which SQL engines and XML cannot hold",
            crate::error::show_value(name.as_bytes())
        ))
    } else if name.len() > MAX_COLUMN_NAME_BYTES {
        Some(format!(
            "the column name {} is {} bytes long; a model holds column names of at most {MAX_COLUMN_NAME_BYTES} bytes",
            crate::error::show_value(name.as_bytes()),
            name.len()
        ))
    } else {
        None
    }
}

/// One segment as the model records it: what `predict` and `serve` return with a label,
/// so scored customers carry the same name and advice as the training report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SegmentMeta {
    /// Segment id shown in every output (1..=k unless the model continues a previous one).
    pub id: u32,
    /// Business name of the segment, unique within the model.
    pub name: String,
    /// Why the name fits: the profile figures it rests on.
    pub rationale: String,
    /// The suggested marketing action for the segment.
    pub action: String,
    /// Training customers in the segment.
    pub customers: u64,
    /// Those customers as a fraction (0 to 1) of all training customers.
    pub share: f64,
}

/// One k of the sweep: the figures the elbow and silhouette rules choose from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KRow {
    /// Number of segments tried.
    pub k: usize,
    /// Within-segment sum of squared distances (scaled units) of the best fit at this k.
    pub inertia: f64,
    /// Mean silhouette of that fit (exact or sampled).
    pub silhouette: Score,
}

/// How the number of segments was chosen, kept with the model so the choice can be
/// audited and explained in the report without re-running the sweep.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KSelection {
    /// The rule asked for (`--k-rule`).
    pub rule: KRule,
    /// Smallest k swept.
    pub k_min: usize,
    /// Largest k swept.
    pub k_max: usize,
    /// The knee of the inertia curve (Kneedle), if it has one.
    pub knee: Option<usize>,
    /// The k with the highest silhouette, if any silhouette could be computed.
    pub best_silhouette: Option<usize>,
    /// The k the model uses.
    pub chosen: usize,
    /// One sentence for people: why `chosen` was taken, with the alternatives.
    pub reason: String,
    /// Every k swept, in ascending order.
    pub sweep: Vec<KRow>,
}

/// A trained segmentation, as saved in `model.json`: enough to label new customers
/// exactly as the training run labelled its own, and the evidence for its choices.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Model {
    /// The cardseg version that trained the model, for support and audits.
    pub cardseg_version: String,
    /// The training input's id column; new data must have it too. None: ids were row numbers.
    pub id_column: Option<String>,
    /// Clustering features, in the order of the scaler and the centroids.
    pub features: Vec<String>,
    /// Extra columns profiled per segment (not clustered on).
    pub profile_features: Vec<String>,
    /// How missing values were handled; new data is handled the same way.
    pub missing_policy: MissingPolicy,
    /// Missing counts in the training data and the values filled in.
    pub cleaning: Vec<ColumnCleaning>,
    /// The scaler fitted on the training data; new data is scaled with it, never refitted.
    pub scaler: MinMaxScaler,
    /// Number of segments.
    pub k: usize,
    /// Centroids in scaled units, in segment order (row s is `segments[s]`, whose id is
    /// s + 1 unless the model continues a previous one).
    pub centroids_scaled: Vec<Vec<f64>>,
    /// The same centroids in the input's units.
    pub centroids: Vec<Vec<f64>>,
    /// Segment names, advice and sizes, in segment order.
    pub segments: Vec<SegmentMeta>,
    /// Customers the model was trained on (after `--missing drop` removed any).
    pub training_rows: u64,
    /// Where the training data came from (file path or redacted URL).
    pub training_source: String,
    /// Within-segment sum of squared distances (scaled units) of the final fit.
    pub inertia: f64,
    /// Mean silhouette of the final fit.
    pub silhouette: Score,
    /// How `k` was chosen.
    pub k_selection: KSelection,
    /// Seed of every random choice of the run, so it can be repeated byte for byte.
    pub seed: u64,
    /// K-Means restarts per k; the fit with the lowest inertia is kept.
    pub n_init: usize,
    /// With `run --train-sample N`: the number of customers K-Means and the k sweep were
    /// trained on (a uniform sample); fill values, scaler and labels cover all
    /// `training_rows`, and `inertia` is that of every customer. Absent: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_sample: Option<u64>,
    /// Where this model comes from in a chain of retrains (`run --previous`). Absent in
    /// models written before lineage existed.
    #[serde(default)]
    pub lineage: Option<baseline::Lineage>,
    /// Per feature, the training distribution `cardseg drift` compares new data with
    /// (raw values as read, before missing values are filled). Empty in older models.
    #[serde(default)]
    pub feature_distributions: Vec<baseline::FeatureDistribution>,
    /// Per segment (in segment order), quantiles of its training customers' distances to
    /// the centroid (scaled units) at the levels of `lifecycle::outliers::level`, for
    /// outlier percentiles.
    /// Empty in older models.
    #[serde(default)]
    pub distance_quantiles: Vec<Vec<f64>>,
    /// Customers whose distance percentile is above this are flagged as outliers.
    #[serde(default = "baseline::default_percentile")]
    pub outlier_percentile: f64,
    /// How reproducible the segments were at training (None when not measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stability: Option<crate::cluster::stability::Stability>,
    /// Per segment: training share and each feature's quantiles within the segment, for
    /// drift per segment. Empty in older models (drift then says it needs a retrain).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segment_distributions: Vec<baseline::SegmentDistribution>,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    format: String,
    format_version: u64,
    checksum: String,
    model: serde_json::Value,
}

/// The `model` member of a file, as spelled there.
#[derive(Deserialize)]
struct RawModel<'a> {
    #[serde(borrow)]
    model: &'a serde_json::value::RawValue,
}

fn canonical_checksum(model: &serde_json::Value) -> String {
    // serde_json's Value keeps keys sorted, so this text is canonical.
    let text = serde_json::to_string(model).unwrap_or_default();
    sha256_hex(text.as_bytes())
}

/// The checksum of JSON text as spelled: white space between tokens is dropped, every
/// other byte counts. For the pretty text cardseg writes, this is the canonical text.
fn spelled_checksum(raw: &str) -> String {
    let mut compact = Vec::with_capacity(raw.len());
    let (mut inside, mut escaped) = (false, false);
    for &b in raw.as_bytes() {
        if inside {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                inside = false;
            }
            compact.push(b);
        } else if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            inside = b == b'"';
            compact.push(b);
        }
    }
    sha256_hex(&compact)
}

/// A number as messages show it: the shortest text that reads back as the same value.
fn show_number(v: f64) -> String {
    if v.is_finite() && format!("{v}").len() > 24 {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(71);
    hex.push_str("sha256:");
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

impl Model {
    /// What to read to score customers with this model: its id column (required when it
    /// had one) and its features; `other_numeric` also loads every other numeric column.
    pub fn read_spec(&self, delimiter: Option<u8>, other_numeric: bool) -> crate::ingest::ReadSpec {
        crate::ingest::ReadSpec {
            id: crate::ingest::IdSpec::saved(self.id_column.as_deref()),
            required: self.features.clone(),
            other_numeric,
            delimiter,
        }
    }

    /// Header of the id column in label files: the input's id column, or "row".
    pub fn id_header(&self) -> &str {
        self.id_column.as_deref().unwrap_or("row")
    }

    /// The model as file text (pretty JSON, sorted keys) and its checksum.
    pub fn to_json(&self) -> Result<(String, String)> {
        let value = serde_json::to_value(self)
            .map_err(|e| Error::usage(format!("cannot serialize the model: {e}")))?;
        let checksum = canonical_checksum(&value);
        let env = serde_json::json!({
            "format": FORMAT,
            "format_version": self.format_version(),
            "checksum": checksum,
            "model": value,
        });
        let mut text = serde_json::to_string_pretty(&env)
            .map_err(|e| Error::usage(format!("cannot serialize the model: {e}")))?;
        text.push('\n');
        Ok((text, checksum))
    }

    /// Loads and verifies a model file; each failure says what is wrong and what to do.
    /// Returns the model and its checksum.
    pub fn load(path: &Path) -> Result<(Model, String)> {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, "reading model", e))?;
        if meta.is_dir() {
            return Err(Error::model(
                &shown,
                "is a directory; give the model.json file inside the run's output directory",
            ));
        }
        // The size in the metadata is 0 for devices and pipes: the read itself is bounded.
        let too_large = || {
            Error::model(
                &shown,
                "is far larger than any cardseg model; check the path",
            )
        };
        if meta.len() > MAX_MODEL_BYTES {
            return Err(too_large());
        }
        // A regular file only (a FIFO would block the open for good), read with a bound.
        let bytes = crate::readback::read_small(path, MAX_MODEL_BYTES, "reading model")
            .map_err(|e| match e {
                Error::Input { message, .. } => Error::model(&shown, message),
                other => other,
            })?
            .ok_or_else(too_large)?;
        Self::from_bytes(&bytes, &shown)
    }

    /// Verifies and parses model file text (what [`Model::load`] read); `shown` names the
    /// model in error messages. Returns the model and its checksum.
    pub fn from_bytes(bytes: &[u8], shown: &str) -> Result<(Model, String)> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::model(
                shown,
                "is empty; re-create it with cardseg run",
            ));
        }
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            if e.is_eof() {
                Error::model(shown, "is truncated (the JSON ends early); re-create it with cardseg run")
            } else {
                Error::model(
                    shown,
                    format!("is not valid model JSON (line {} column {}); re-create it with cardseg run", e.line(), e.column()),
                )
            }
        })?;
        let format = value.get("format").and_then(|f| f.as_str());
        if format != Some(FORMAT) {
            return Err(Error::model(shown, "is not a cardseg model file (no \"format\": \"cardseg-model\"); give the model.json written by cardseg run"));
        }
        let version = value.get("format_version").and_then(|v| v.as_u64()).ok_or_else(|| {
            Error::model(shown, "has no valid format_version; the file was edited or damaged; re-create it with cardseg run")
        })?;
        if version == 0 {
            return Err(Error::model(shown, "has format_version 0, which no cardseg writes; the file was edited or damaged; re-create it with cardseg run"));
        }
        if version > FORMAT_VERSION {
            return Err(Error::model(
                shown,
                format!(
                    "was written by a newer cardseg (model format {version}; this cardseg {} reads up to {FORMAT_VERSION}); upgrade cardseg",
                    env!("CARGO_PKG_VERSION")
                ),
            ));
        }
        let env: Envelope = serde_json::from_value(value).map_err(|e| {
            Error::model(
                shown,
                format!("is damaged ({e}); re-create it with cardseg run"),
            )
        })?;
        let raw: RawModel = serde_json::from_slice(bytes).map_err(|e| {
            Error::model(
                shown,
                format!("is damaged ({e}); re-create it with cardseg run"),
            )
        })?;
        let actual = spelled_checksum(raw.model.get());
        if actual != env.checksum {
            return Err(Error::model(
                shown,
                "checksum mismatch: the file was edited or corrupted after cardseg wrote it; re-create it with cardseg run",
            ));
        }
        // The path (`scaler.scale[1]`) tells which field of a re-signed or foreign model is
        // wrong; serde_json alone names only the type it expected.
        let model: Model = serde_path_to_error::deserialize(env.model).map_err(|e| {
            let path = e.path().to_string();
            let e = e.into_inner();
            let at = if path.is_empty() || path == "." {
                String::new()
            } else {
                format!(" at {path}")
            };
            Error::model(
                shown,
                format!("has unexpected content{at} ({e}); re-create it with cardseg run"),
            )
        })?;
        model.validate(shown)?;
        Ok((model, actual))
    }

    /// Internal consistency and sanity, so a model that passed the checksum but was
    /// produced by a buggy or foreign writer (or edited and re-signed) cannot make scoring
    /// index out of bounds, overflow, or carry names no consumer accepts. Every reader of a
    /// model (predict, serve, export, drift, dashboard, `run --previous`, Python) and
    /// `run` before it writes one go through this one check; `shown` names the model.
    pub fn validate(&self, shown: &str) -> Result<()> {
        match self.problem() {
            None => Ok(()),
            Some(what) => Err(Error::model(
                shown,
                format!("is inconsistent: {what}; re-create it with cardseg run"),
            )),
        }
    }

    /// What makes the model unusable, if anything (see [`Model::validate`]).
    pub fn problem(&self) -> Option<String> {
        const MAX_FEATURES: usize = 10_000;
        const MAX_K: usize = 1_000;
        const MAX_TEXT_BYTES: usize = 10_000;
        // Fresh ids of `run --previous` grow by at most k per generation.
        const MAX_SEGMENT_ID: usize = 1_000_000;
        let d = self.features.len();
        if d == 0 {
            return Some("no features".into());
        }
        // Sanity bounds (the checksum proves integrity, not sanity): far above what any run
        // writes, far below what would make loading or answers huge.
        if d > MAX_FEATURES {
            return Some(format!("{d} features, more than {MAX_FEATURES}"));
        }
        if self.k > MAX_K {
            return Some(format!("k is {}, more than {MAX_K}", self.k));
        }
        let names = self
            .features
            .iter()
            .chain(&self.profile_features)
            .chain(self.id_column.iter());
        for n in names {
            if let Some(p) = check_column_name(n) {
                return Some(p);
            }
        }
        let mut seen = std::collections::HashSet::with_capacity(d);
        if let Some(f) = self.features.iter().find(|f| !seen.insert(f.as_str())) {
            return Some(format!(
                "feature {f} is listed twice; each feature is one column of the centroids"
            ));
        }
        if self.k == 0
            || self.centroids_scaled.len() != self.k
            || self.centroids.len() != self.k
            || self.segments.len() != self.k
        {
            return Some("the number of centroids or segments does not match k".into());
        }
        if self
            .centroids_scaled
            .iter()
            .chain(&self.centroids)
            .any(|c| c.len() != d)
        {
            return Some("a centroid has the wrong length".into());
        }
        let sane = |v: f64| v.is_finite() && v.abs() <= MAX_MAGNITUDE;
        for (c, row) in self.centroids_scaled.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                if !sane(v) {
                    return Some(format!(
                        "centroid {} has the value {} for feature {}, which is not a finite number of sane size (|x| <= 1e100)",
                        c + 1,
                        show_number(v),
                        self.features[j]
                    ));
                }
            }
        }
        if self.centroids.iter().flatten().any(|v| !v.is_finite()) {
            return Some("a centroid has a non-finite value".into());
        }
        let s = &self.scaler;
        if s.features != self.features
            || s.scale.len() != d
            || s.min.len() != d
            || s.data_min.len() != d
            || s.data_max.len() != d
        {
            return Some("the scaler does not match the features".into());
        }
        for (j, f) in self.features.iter().enumerate() {
            for (what, v) in [("scale", s.scale[j]), ("offset (min)", s.min[j])] {
                if !sane(v) {
                    return Some(format!(
                        "the scaler's {what} of feature {f} is {}, not a finite number of sane size (|x| <= 1e100)",
                        show_number(v)
                    ));
                }
            }
        }
        let mut ids: Vec<u32> = self.segments.iter().map(|s| s.id).collect();
        ids.sort_unstable();
        if ids.contains(&0) || ids.windows(2).any(|w| w[0] == w[1]) {
            return Some("segment ids must be distinct and positive".into());
        }
        if !self.distance_quantiles.is_empty()
            && (self.distance_quantiles.len() != self.k
                || self.distance_quantiles.iter().any(|q| {
                    q.len() != baseline::QUANTILES
                        || q.iter().any(|v| !v.is_finite())
                        || q.windows(2).any(|w| w[0] > w[1])
                }))
        {
            return Some("the distance quantiles do not match the segments".into());
        }
        if !(0.0..=100.0).contains(&self.outlier_percentile) {
            return Some("the outlier percentile is not between 0 and 100".into());
        }
        // A scale is positive, and maps the training range to a width of at most 1e30 (1
        // for min-max; range / spread, or a log range, for other scalers, always far
        // below): a scale of 1e300 would put every customer in one segment.
        for j in 0..d {
            let width = s.scale[j] * (s.data_max[j] - s.data_min[j]);
            if s.scale[j] <= 0.0 || !(width.is_finite() && width > 0.0 && width <= 1e30) {
                return Some(format!(
                    "the scale of feature {} ({}) does not fit its training range",
                    self.features[j], s.scale[j]
                ));
            }
        }
        if let Some(p) = self.centroid_problem() {
            return Some(p);
        }
        for (i, seg) in self.segments.iter().enumerate() {
            // Ids are 1..k, or carried over by `run --previous` (fresh ids above the
            // previous ones): bounded so a re-signed model cannot claim absurd ids.
            if seg.id as usize > MAX_SEGMENT_ID {
                return Some(format!(
                    "segment {} has id {}; ids are at most {MAX_SEGMENT_ID}",
                    i + 1,
                    seg.id
                ));
            }
            if seg.name.is_empty() || seg.name.contains('\0') {
                return Some(format!(
                    "segment {}'s name is empty or holds a NUL character",
                    i + 1
                ));
            }
            if seg.name.len() > MAX_SEGMENT_NAME_BYTES
                || seg.action.len() > MAX_TEXT_BYTES
                || seg.rationale.len() > MAX_TEXT_BYTES
            {
                return Some(format!(
                    "segment {}'s name, rationale or action is too long (at most {MAX_SEGMENT_NAME_BYTES} bytes for a name, {MAX_TEXT_BYTES} for the others)",
                    i + 1
                ));
            }
        }
        for f in &self.features {
            if self.missing_policy == MissingPolicy::Drop {
                continue;
            }
            match self.fill_value(f) {
                None => return Some(format!("no fill value for feature {f}")),
                Some(v) if !sane(v) => {
                    return Some(format!(
                        "the fill value of feature {f} is {}, not a finite number of sane size (|x| <= 1e100)",
                        show_number(v)
                    ))
                }
                Some(_) => {}
            }
        }
        None
    }

    /// Where the scaler and the centroids contradict each other (see [`Model::problem`],
    /// which calls this once the scales are known to be positive and finite). A model
    /// `run` writes agrees with itself: its training range scales to [0, 1] (min-max
    /// kinds) or around 0 (standard: the mean, robust: the median lie inside it); every
    /// scaled centroid, a mean of scaled training customers, lies inside the scaled
    /// range; and `centroids` is the scaler's inverse of `centroids_scaled`. A model
    /// edited in one place and re-signed would otherwise score customers into segments
    /// whose names, sizes and profiles belong to others.
    fn centroid_problem(&self) -> Option<String> {
        // Far above the rounding of the inverse (a few units in the last place of the
        // training range's magnitude), far below any meaningful change.
        const TOLERANCE: f64 = 1e-9;
        let s = &self.scaler;
        let min_max = matches!(
            s.kind,
            crate::scale::ScalerKind::Minmax | crate::scale::ScalerKind::LogMinmax
        );
        for (j, f) in self.features.iter().enumerate() {
            let (lo, hi) = (
                s.transform_value(j, s.data_min[j]),
                s.transform_value(j, s.data_max[j]),
            );
            let width = hi - lo;
            // Scaling a value far from 0 over a narrow range cancels digits: the slack
            // grows with the offset that is cancelled.
            let slack = TOLERANCE * (width + s.min[j].abs());
            let fits = if min_max {
                lo.abs() <= slack && (hi - 1.0).abs() <= slack
            } else {
                lo <= slack && hi >= -slack
            };
            if !fits {
                return Some(format!(
                    "the scaler's offset of feature {f} ({}) does not fit its training range ({} to {})",
                    show_number(s.min[j]),
                    show_number(s.data_min[j]),
                    show_number(s.data_max[j])
                ));
            }
            let magnitude = s.data_min[j].abs().max(s.data_max[j].abs());
            for (c, (scaled, raw)) in self
                .centroids_scaled
                .iter()
                .zip(&self.centroids)
                .enumerate()
            {
                let v = scaled[j];
                if !(v >= lo - width && v <= hi + width) {
                    return Some(format!(
                        "centroid {} has the scaled value {} for feature {f}, far outside the training range ({} to {} scaled)",
                        c + 1,
                        show_number(v),
                        show_number(lo),
                        show_number(hi)
                    ));
                }
                let back = s.inverse(j, v);
                // Written so that NaN and infinity disagree too.
                let agrees = (raw[j] - back).abs() <= TOLERANCE * magnitude.max(back.abs());
                if !agrees {
                    return Some(format!(
                        "centroid {} of feature {f} is {} in the input's units, but its scaled value {} stands for {}; centroids and centroids_scaled must be the same centroids",
                        c + 1,
                        show_number(raw[j]),
                        show_number(v),
                        show_number(back)
                    ));
                }
            }
        }
        None
    }

    /// The format version this model is written with: 1 unless it needs version 2
    /// (a scaler kind other than minmax), so older cardseg refuses what it cannot score.
    pub fn format_version(&self) -> u64 {
        if self.scaler.kind.is_minmax() {
            1
        } else {
            2
        }
    }

    /// Segment index of a segment id (ids are 1..=k unless the model continues a
    /// previous one with `run --previous`).
    pub fn index_of_id(&self, id: u32) -> Option<usize> {
        self.segments.iter().position(|s| s.id == id)
    }

    /// The value filled into a missing cell of `feature`; None with the drop policy or
    /// when `feature` is not one of the model's features.
    pub fn fill_value(&self, feature: &str) -> Option<f64> {
        self.cleaning
            .iter()
            .find(|c| c.column == feature)
            .and_then(|c| c.fill_value)
    }

    /// Centroids flattened row-major (the layout the kernels use).
    pub fn centers_flat(&self) -> Vec<f64> {
        self.centroids_scaled.iter().flatten().copied().collect()
    }
}
