//! MinMax scaling to [0, 1] with scikit-learn's exact arithmetic (`x * scale + min`),
//! so scaled values, and therefore distances and inertia, agree to the last bit.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::table::Table;

/// Row-major matrix of scaled features: row i is `data[i*d..(i+1)*d]`. Row-major keeps a
/// customer's few features in one cache line for the distance kernels.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub n: usize,
    pub d: usize,
    pub data: Vec<f64>,
}

impl Matrix {
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.d..(i + 1) * self.d]
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MinMaxScaler {
    pub features: Vec<String>,
    pub data_min: Vec<f64>,
    pub data_max: Vec<f64>,
    /// `1 / (max - min)`, as scikit-learn's `scale_`.
    pub scale: Vec<f64>,
    /// `-min * scale`, as scikit-learn's `min_`.
    pub min: Vec<f64>,
}

impl MinMaxScaler {
    /// Learns min and max of each feature; a constant feature is an error, since it
    /// cannot separate customers and would divide by zero.
    pub fn fit(table: &Table, features: &[String]) -> Result<Self> {
        let mut s = MinMaxScaler {
            features: features.to_vec(),
            data_min: Vec::new(),
            data_max: Vec::new(),
            scale: Vec::new(),
            min: Vec::new(),
        };
        for name in features {
            let col = table
                .column(name)
                .ok_or_else(|| Error::input(&table.source, format!("column {name} was not loaded")))?;
            let (lo, hi) = col
                .values
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            if lo.is_nan() || hi.is_nan() || !lo.is_finite() || !hi.is_finite() {
                return Err(Error::input(&table.source, format!("column {name} has no usable values")));
            }
            let range = hi - lo;
            if range == 0.0 {
                return Err(Error::input(
                    &table.source,
                    format!("feature {name} has the same value ({lo}) for every customer, so it cannot separate segments; remove it from --features"),
                ));
            }
            if !range.is_finite() {
                return Err(Error::input(
                    &table.source,
                    format!("feature {name} spans {lo} to {hi}, a range too wide to scale in 64-bit arithmetic; check the data for wrong units or corrupt values"),
                ));
            }
            let scale = 1.0 / range;
            s.data_min.push(lo);
            s.data_max.push(hi);
            s.scale.push(scale);
            s.min.push(0.0 - lo * scale);
        }
        Ok(s)
    }

    /// Scales the named columns of `table` into a row-major matrix. Missing cells must
    /// have been filled first.
    pub fn transform(&self, table: &Table) -> Result<Matrix> {
        let cols: Vec<&[f64]> = self
            .features
            .iter()
            .map(|f| {
                table
                    .column(f)
                    .map(|c| c.values.as_slice())
                    .ok_or_else(|| Error::input(&table.source, format!("column {f} was not loaded")))
            })
            .collect::<Result<_>>()?;
        Ok(self.transform_columns(&cols))
    }

    pub fn transform_columns(&self, cols: &[&[f64]]) -> Matrix {
        let d = cols.len();
        let n = cols.first().map(|c| c.len()).unwrap_or(0);
        let mut data = vec![0.0; n * d];
        for (j, col) in cols.iter().enumerate() {
            let (s, m) = (self.scale[j], self.min[j]);
            for (i, &v) in col.iter().enumerate() {
                data[i * d + j] = v * s + m;
            }
        }
        Matrix { n, d, data }
    }

    /// Back to original units (centroids in the report).
    pub fn inverse(&self, j: usize, v: f64) -> f64 {
        (v - self.min[j]) / self.scale[j]
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
    fn constant_column_is_a_clear_error() {
        let t = table(b"CUST_ID,A,B\nx,10,3\ny,20,3\n");
        let e = MinMaxScaler::fit(&t, &["A".into(), "B".into()]).unwrap_err().to_string();
        assert!(e.contains("feature B has the same value (3)"), "{e}");
    }
}
