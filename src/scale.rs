//! Feature scaling. Every scaler transforms a value as `g(x) * scale + min` in f64, in
//! that order: `g` is the identity for minmax (scikit-learn's exact arithmetic, so
//! scaled values, distances and inertia agree to the last bit), standard and robust, and
//! `sign(x) * ln(1 + |x|)` for log-minmax. Exports and other engines apply exactly this.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::table::Table;

/// Row-major matrix of scaled features: row i is `data[i*d..(i+1)*d]`. Row-major keeps a
/// customer's few features in one cache line for the distance kernels.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// Number of rows (customers).
    pub n: usize,
    /// Number of columns (features).
    pub d: usize,
    /// The `n * d` values, row after row.
    pub data: Vec<f64>,
}

impl Matrix {
    /// The features of customer `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.d..(i + 1) * self.d]
    }
}

/// Which scaler (`--scaler`). Stored in the model as `kind`; absent means minmax, so
/// models written before scalers had kinds load unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScalerKind {
    /// `(x - min) / (max - min)`, as scikit-learn's MinMaxScaler (the default).
    #[default]
    Minmax,
    /// `(x - mean) / std` (population std), as scikit-learn's StandardScaler.
    Standard,
    /// `(x - median) / IQR` (quartiles by linear interpolation), as RobustScaler.
    Robust,
    /// MinMax of `sign(x) * ln(1 + |x|)`, for heavy-tailed amounts.
    LogMinmax,
}

impl ScalerKind {
    /// The default (minmax) is not written into the model, so default outputs stay
    /// byte-identical to models written before scaler kinds existed.
    pub fn is_minmax(&self) -> bool {
        *self == ScalerKind::Minmax
    }
    /// The name `--scaler` takes and the model stores.
    pub fn as_str(&self) -> &'static str {
        match self {
            ScalerKind::Minmax => "minmax",
            ScalerKind::Standard => "standard",
            ScalerKind::Robust => "robust",
            ScalerKind::LogMinmax => "log-minmax",
        }
    }
}

impl std::fmt::Display for ScalerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ScalerKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "minmax" => Ok(ScalerKind::Minmax),
            "standard" => Ok(ScalerKind::Standard),
            "robust" => Ok(ScalerKind::Robust),
            "log-minmax" => Ok(ScalerKind::LogMinmax),
            _ => Err(format!(
                "{} takes minmax, standard, robust or log-minmax, not {s:?}",
                crate::error::Param::Scaler
            )),
        }
    }
}

/// `sign(x) * ln(1 + |x|)`, computed as `(1.0 + x.abs()).ln()` (not `ln_1p`) so SQL's
/// `SIGN(x) * LN(1 + ABS(x))` is the same expression; 0 for 0.
pub fn signed_log(x: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else if x < 0.0 {
        -(1.0 + x.abs()).ln()
    } else {
        (1.0 + x.abs()).ln()
    }
}

/// Quantile `q` (0..=1) of sorted values by linear interpolation, as numpy's default.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let h = (n - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let frac = h - lo as f64;
    sorted[lo] + frac * (sorted[hi] - sorted[lo])
}

/// What a scaler is fitted from, per feature: min and max always; the mean and
/// population standard deviation (standard), the median and interquartile range (robust).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FitStats {
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mean (standard).
    #[serde(default)]
    pub mean: Option<f64>,
    /// Population standard deviation (standard).
    #[serde(default)]
    pub std: Option<f64>,
    /// Median, numpy's linear quantile (robust).
    #[serde(default)]
    pub median: Option<f64>,
    /// Third minus first quartile, numpy's linear quantiles (robust).
    #[serde(default)]
    pub iqr: Option<f64>,
}

/// Largest magnitude a model holds in a scaled centroid, a scaler value or a fill value:
/// beyond it squared distances can overflow 64-bit arithmetic, so scores would be
/// infinite or meaningless. A scaler that would need more is refused when fitted.
pub const MAX_MAGNITUDE: f64 = 1e100;

/// The fitted scaler of every feature (the name stays from when MinMax was the only kind).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MinMaxScaler {
    /// minmax when absent (models written before scaler kinds existed).
    #[serde(default, skip_serializing_if = "ScalerKind::is_minmax")]
    pub kind: ScalerKind,
    /// The features scaled, in column order of the scaled matrix.
    pub features: Vec<String>,
    /// Smallest training value of each feature in raw units, whatever the kind (as
    /// scikit-learn's `data_min_`); loading a model checks `scale` against the range.
    pub data_min: Vec<f64>,
    /// Largest training value of each feature in raw units (scikit-learn's `data_max_`).
    pub data_max: Vec<f64>,
    /// minmax: `1 / (max - min)`, as scikit-learn's `scale_`; standard: `1 / std`;
    /// robust: `1 / IQR`; log-minmax: `1 / (g(max) - g(min))`.
    pub scale: Vec<f64>,
    /// minmax: `-min * scale`, as scikit-learn's `min_`; standard: `-mean / std`;
    /// robust: `-median / IQR`; log-minmax: `-g(min) * scale`.
    pub min: Vec<f64>,
}

impl MinMaxScaler {
    /// Learns min and max of each feature; a constant feature is an error, since it
    /// cannot separate customers and would divide by zero.
    pub fn fit(table: &Table, features: &[String]) -> Result<Self> {
        Self::fit_kind(table, features, ScalerKind::Minmax)
    }

    /// Fits a scaler of the given kind (see [`ScalerKind`]).
    pub fn fit_kind(table: &Table, features: &[String], kind: ScalerKind) -> Result<Self> {
        let mut stats = Vec::with_capacity(features.len());
        for name in features {
            let col = table.column(name).ok_or_else(|| {
                Error::input(&table.source, format!("column {name} was not loaded"))
            })?;
            let (lo, hi) = col
                .values
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v), hi.max(v))
                });
            let mut s = FitStats {
                min: lo,
                max: hi,
                ..FitStats::default()
            };
            match kind {
                ScalerKind::Standard => {
                    let n = col.values.len() as f64;
                    let mean = col.values.iter().sum::<f64>() / n;
                    let var = col
                        .values
                        .iter()
                        .map(|v| (v - mean) * (v - mean))
                        .sum::<f64>()
                        / n;
                    s.mean = Some(mean);
                    s.std = Some(var.sqrt());
                }
                ScalerKind::Robust => {
                    let mut sorted = col.values.clone();
                    sorted.sort_unstable_by(f64::total_cmp);
                    s.median = Some(quantile_sorted(&sorted, 0.5));
                    s.iqr = Some(quantile_sorted(&sorted, 0.75) - quantile_sorted(&sorted, 0.25));
                }
                ScalerKind::Minmax | ScalerKind::LogMinmax => {}
            }
            stats.push(s);
        }
        Self::from_stats(&table.source, features, kind, &stats)
    }

    /// A scaler from each feature's statistics computed elsewhere (an engine that holds
    /// the rows, such as Spark): the arithmetic and the checks of [`Self::fit_kind`].
    /// `source` names the data in messages.
    pub fn from_stats(
        source: &str,
        features: &[String],
        kind: ScalerKind,
        stats: &[FitStats],
    ) -> Result<Self> {
        let mut s = MinMaxScaler {
            kind,
            features: features.to_vec(),
            data_min: Vec::new(),
            data_max: Vec::new(),
            scale: Vec::new(),
            min: Vec::new(),
        };
        if stats.len() != features.len() {
            return Err(Error::input(
                source,
                format!(
                    "scaler statistics for {} features, but {} features are scaled",
                    stats.len(),
                    features.len()
                ),
            ));
        }
        for (name, st) in features.iter().zip(stats) {
            let (lo, hi) = (st.min, st.max);
            if lo.is_nan() || hi.is_nan() || !lo.is_finite() || !hi.is_finite() {
                return Err(Error::input(
                    source,
                    format!("column {name} has no usable values"),
                ));
            }
            let range = hi - lo;
            if range == 0.0 {
                return Err(Error::input(
                    source,
                    format!("feature {name} has the same value ({lo}) for every customer, so it cannot separate segments; remove it from {}", crate::error::Param::Features),
                ));
            }
            if !range.is_finite() {
                return Err(Error::input(
                    source,
                    format!("feature {name} spans {lo} to {hi}, a range too wide to scale in 64-bit arithmetic; check the data for wrong units or corrupt values"),
                ));
            }
            let scale = 1.0 / range;
            if !scale.is_finite() {
                return Err(Error::input(
                    source,
                    format!("feature {name} varies by only {range:e} (from {lo:e} to {hi:e}), too little to scale in 64-bit arithmetic; remove it from {} or check its units", crate::error::Param::Features),
                ));
            }
            s.data_min.push(lo);
            s.data_max.push(hi);
            let missing = |what: &str| {
                Error::input(
                    source,
                    format!("the {kind} scaler needs the {what} of feature {name}"),
                )
            };
            let (scale, min) = match kind {
                ScalerKind::Minmax => (scale, 0.0 - lo * scale),
                ScalerKind::LogMinmax => {
                    let (glo, ghi) = (signed_log(lo), signed_log(hi));
                    let scale = 1.0 / (ghi - glo);
                    (scale, 0.0 - glo * scale)
                }
                ScalerKind::Standard => {
                    let mean = st.mean.ok_or_else(|| missing("mean"))?;
                    let std = st.std.ok_or_else(|| missing("standard deviation"))?;
                    if std == 0.0 || !(1.0 / std).is_finite() {
                        return Err(Error::input(
                            source,
                            format!("feature {name} has a standard deviation too small to scale (its values span {lo:.3e} to {hi:.3e}); express the column in smaller units (multiply it by a power of ten) or remove it from {}", crate::error::Param::Features),
                        ));
                    }
                    (1.0 / std, -mean / std)
                }
                ScalerKind::Robust => {
                    let median = st.median.ok_or_else(|| missing("median"))?;
                    let iqr = st.iqr.ok_or_else(|| missing("interquartile range"))?;
                    // As scikit-learn: a zero IQR scales by 1 (only the median is removed).
                    let iqr = if iqr == 0.0 || !(1.0 / iqr).is_finite() {
                        1.0
                    } else {
                        iqr
                    };
                    (1.0 / iqr, -median / iqr)
                }
            };
            if !(scale.is_finite() && min.is_finite())
                || scale.abs() > MAX_MAGNITUDE
                || min.abs() > MAX_MAGNITUDE
            {
                return Err(Error::input(
                    source,
                    format!("feature {name} varies by only {range:.3e} (from {lo:.3e} to {hi:.3e}), too little for the {kind} scaler (a model holds scales and offsets up to {MAX_MAGNITUDE:e}); express the column in smaller units (multiply it by a power of ten) or remove it from {}", crate::error::Param::Features),
                ));
            }
            s.scale.push(scale);
            s.min.push(min);
        }
        Ok(s)
    }

    /// Scales one value of feature `j`: `g(v) * scale + min`.
    pub fn transform_value(&self, j: usize, v: f64) -> f64 {
        let g = if self.kind == ScalerKind::LogMinmax {
            signed_log(v)
        } else {
            v
        };
        g * self.scale[j] + self.min[j]
    }

    /// Scales the named columns of `table` into a row-major matrix. Missing cells must
    /// have been filled first.
    pub fn transform(&self, table: &Table) -> Result<Matrix> {
        let cols: Vec<&[f64]> = self
            .features
            .iter()
            .map(|f| {
                table.column(f).map(|c| c.values.as_slice()).ok_or_else(|| {
                    Error::input(&table.source, format!("column {f} was not loaded"))
                })
            })
            .collect::<Result<_>>()?;
        Ok(self.transform_columns(&cols))
    }

    /// Scales columns given as slices (in the order of `features`) into a row-major
    /// matrix, for callers that hold columns outside a [`Table`].
    pub fn transform_columns(&self, cols: &[&[f64]]) -> Matrix {
        let d = cols.len();
        let n = cols.first().map(|c| c.len()).unwrap_or(0);
        let mut data = vec![0.0; n * d];
        let log = self.kind == ScalerKind::LogMinmax;
        // Blocks of rows side by side; each cell is its own value's, whatever the split.
        use rayon::prelude::*;
        const BLOCK: usize = 1 << 14;
        data.par_chunks_mut((BLOCK * d).max(1))
            .enumerate()
            .for_each(|(b, block)| {
                let first = b * BLOCK;
                for (j, col) in cols.iter().enumerate() {
                    let (s, m) = (self.scale[j], self.min[j]);
                    let col = &col[first..first + block.len() / d];
                    let cells = block.iter_mut().skip(j).step_by(d);
                    if log {
                        cells
                            .zip(col)
                            .for_each(|(x, &v)| *x = signed_log(v) * s + m);
                    } else {
                        cells.zip(col).for_each(|(x, &v)| *x = v * s + m);
                    }
                }
            });
        Matrix { n, d, data }
    }

    /// Back to original units (centroids in the report).
    pub fn inverse(&self, j: usize, v: f64) -> f64 {
        let g = (v - self.min[j]) / self.scale[j];
        if self.kind == ScalerKind::LogMinmax {
            g.signum() * (g.abs().exp() - 1.0)
        } else {
            g
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(data: &[u8]) -> Table {
        crate::ingest::csv::read_bytes(
            data,
            "t.csv",
            &crate::ingest::ReadSpec {
                id: crate::ingest::IdSpec::default_column(),
                required: vec!["A".into(), "B".into()],
                other_numeric: false,
                delimiter: None,
            },
        )
        .unwrap()
    }

    #[test]
    fn scales_to_unit_interval() {
        let t = table(b"CUST_ID,A,B\nx,10,-1\ny,20,1\nz,15,0\n");
        let s = MinMaxScaler::fit(&t, &["A".into(), "B".into()]).unwrap();
        let m = s.transform(&t).unwrap();
        assert_eq!(m.data, vec![0.0, 0.0, 1.0, 1.0, 0.5, 0.5]);
        assert!((s.inverse(0, 0.5) - 15.0).abs() < 1e-12);
    }

    #[test]
    fn a_feature_too_narrow_for_a_model_is_refused_naming_it() {
        let t = table(b"CUST_ID,A,B\nx,1e-200,1\ny,3e-200,2\nz,2e-200,4\nw,0,3\n");
        let f = ["A".to_string(), "B".to_string()];
        for kind in [
            ScalerKind::Minmax,
            ScalerKind::LogMinmax,
            ScalerKind::Robust,
            ScalerKind::Standard,
        ] {
            let e = MinMaxScaler::fit_kind(&t, &f, kind)
                .err()
                .unwrap()
                .to_string();
            assert!(e.starts_with("t.csv: feature A "), "{kind}: {e}");
            assert!(e.contains("power of ten"), "{kind}: {e}");
        }
        // Narrow but within what a model holds: scaled as usual.
        let t = table(b"CUST_ID,A,B\nx,1e-50,1\ny,3e-50,2\nz,2e-50,4\nw,0,3\n");
        assert!(MinMaxScaler::fit_kind(&t, &f, ScalerKind::Minmax).is_ok());
    }

    #[test]
    fn other_kinds_follow_scikit_learn_and_the_log_contract() {
        let t = table(b"CUST_ID,A,B\nx,1,-3\ny,2,0\nz,3,5\nw,10,1\n");
        let f = ["A".to_string(), "B".to_string()];
        let s = MinMaxScaler::fit_kind(&t, &f, ScalerKind::Standard).unwrap();
        // A: mean 4, population std sqrt(((9+4+1+36)/4)) = sqrt(12.5).
        let std = 12.5f64.sqrt();
        assert_eq!(s.scale[0], 1.0 / std);
        assert_eq!(s.min[0], -4.0 / std);
        let s = MinMaxScaler::fit_kind(&t, &f, ScalerKind::Robust).unwrap();
        // A sorted 1,2,3,10: q25 = 1.75, median 2.5, q75 = 4.75 (numpy linear).
        assert_eq!(s.scale[0], 1.0 / 3.0);
        assert_eq!(s.min[0], -2.5 / 3.0);
        let s = MinMaxScaler::fit_kind(&t, &f, ScalerKind::LogMinmax).unwrap();
        let m = s.transform(&t).unwrap();
        // B = -3 is the minimum: g = -ln 4 → 0; B = 5 → 1; B = 0 → g = 0.
        assert_eq!(m.data[1], 0.0);
        assert!((m.data[5] - 1.0).abs() < 1e-15);
        let g0 = (0.0 - -(4.0f64).ln()) / ((6.0f64).ln() + (4.0f64).ln());
        assert!((m.data[3] - g0).abs() < 1e-15);
        assert!((s.inverse(1, m.data[7]) - 1.0).abs() < 1e-12);
        assert_eq!(signed_log(-0.0), 0.0);
        assert_eq!(signed_log(-1.0), -(2.0f64).ln());
        assert!("nope".parse::<ScalerKind>().is_err());
        assert_eq!(
            "log-minmax".parse::<ScalerKind>(),
            Ok(ScalerKind::LogMinmax)
        );
    }

    #[test]
    fn statistics_computed_elsewhere_give_the_fitted_scaler() {
        let t = table(b"CUST_ID,A,B\nx,1,-3\ny,2,0\nz,3,5\nw,10,1\n");
        let f = ["A".to_string(), "B".to_string()];
        let stats = |a: FitStats, b: FitStats| [a, b];
        let mm = |min, max| FitStats {
            min,
            max,
            ..FitStats::default()
        };
        for kind in [ScalerKind::Minmax, ScalerKind::LogMinmax] {
            let got = MinMaxScaler::from_stats("t", &f, kind, &stats(mm(1.0, 10.0), mm(-3.0, 5.0)));
            assert_eq!(got.unwrap(), MinMaxScaler::fit_kind(&t, &f, kind).unwrap());
        }
        let robust = MinMaxScaler::fit_kind(&t, &f, ScalerKind::Robust).unwrap();
        let with = |s: FitStats, median, iqr| FitStats {
            median: Some(median),
            iqr: Some(iqr),
            ..s
        };
        let got = MinMaxScaler::from_stats(
            "t",
            &f,
            ScalerKind::Robust,
            &stats(
                with(mm(1.0, 10.0), 2.5, 3.0),
                with(mm(-3.0, 5.0), 0.5, 2.75),
            ),
        );
        assert_eq!(got.unwrap(), robust);
        let e = MinMaxScaler::from_stats(
            "t",
            &f,
            ScalerKind::Standard,
            &stats(mm(1.0, 10.0), mm(-3.0, 5.0)),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("the standard scaler needs the mean of feature A"),
            "{e}"
        );
        let e = MinMaxScaler::from_stats(
            "t",
            &f,
            ScalerKind::Minmax,
            &stats(mm(1.0, 10.0), mm(4.0, 4.0)),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("feature B has the same value (4)"), "{e}");
    }

    #[test]
    fn constant_column_is_a_clear_error() {
        let t = table(b"CUST_ID,A,B\nx,10,3\ny,20,3\n");
        let e = MinMaxScaler::fit(&t, &["A".into(), "B".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("feature B has the same value (3)"), "{e}");
    }

    #[test]
    fn subnormal_range_is_a_clear_error() {
        let t = table(b"CUST_ID,A,B\nx,0,3\ny,5e-324,4\n");
        let e = MinMaxScaler::fit(&t, &["A".into(), "B".into()])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("feature A varies by only") && e.contains("too little"),
            "{e}"
        );
    }
}
