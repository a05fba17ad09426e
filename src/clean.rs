//! Missing values: median (default), mean, or dropping the customer. Only the columns the
//! pipeline uses are cleaned; other columns keep their gaps and are summarised around them.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Param, Result};
use crate::table::Table;

/// What to do with a missing value of a column the pipeline uses (`--missing`); saved in
/// the model so new customers are treated as the training customers were.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MissingPolicy {
    /// Fill with the column's median (the default: robust to the long tails of balances).
    #[default]
    Median,
    /// Fill with the column's mean.
    Mean,
    /// Drop the customer.
    Drop,
}

impl std::str::FromStr for MissingPolicy {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "median" => Ok(Self::Median),
            "mean" => Ok(Self::Mean),
            "drop" => Ok(Self::Drop),
            _ => Err(format!(
                "unknown missing-value policy {s:?}: use median, mean or drop"
            )),
        }
    }
}

impl std::fmt::Display for MissingPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Median => "median",
            Self::Mean => "mean",
            Self::Drop => "drop",
        })
    }
}

/// What cleaning did to one column.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ColumnCleaning {
    /// The column's header name.
    pub column: String,
    /// Missing cells found in it.
    pub missing: u64,
    /// The value filled in (None with the drop policy).
    pub fill_value: Option<f64>,
}

/// What cleaning did to the table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CleanReport {
    /// The policy applied.
    pub policy: MissingPolicy,
    /// Customers before cleaning.
    pub rows_in: u64,
    /// Customers after cleaning (fewer than `rows_in` only with the drop policy).
    pub rows_out: u64,
    /// Every cleaned column, in the order cleaned.
    pub columns: Vec<ColumnCleaning>,
    /// With the drop policy: for each input row, whether it was kept.
    #[serde(skip)]
    pub kept: Option<Vec<bool>>,
    /// With the drop policy: the ids of every input row, so outputs can list all customers.
    #[serde(skip)]
    pub original_ids: Option<crate::table::Ids>,
}

/// The fill statistics, kept at their old path for callers.
pub use crate::stats::{mean, median, median_in_place};

/// Fills or drops missing cells of `columns` in place.
pub fn clean(table: &mut Table, columns: &[String], policy: MissingPolicy) -> Result<CleanReport> {
    let rows = table.rows();
    let mut report = CleanReport {
        policy,
        rows_in: rows as u64,
        rows_out: rows as u64,
        columns: Vec::new(),
        kept: None,
        original_ids: None,
    };
    let mut keep = vec![true; rows];
    let idx: Vec<Option<usize>> = columns.iter().map(|c| table.column_index(c)).collect();
    // Each column's missing count and fill value, side by side (they depend on that
    // column alone); then, in column order, the checks and the fills, as one column at a
    // time gives them (a column named twice is measured again after its first fill).
    let figures_of = |values: &[f64]| -> (u64, Option<f64>) {
        let missing = values.iter().filter(|v| v.is_nan()).count() as u64;
        if missing == rows as u64 {
            return (missing, None);
        }
        let fill_value = match policy {
            MissingPolicy::Median => median(values),
            MissingPolicy::Mean => mean(values),
            MissingPolicy::Drop => None,
        };
        (missing, fill_value)
    };
    let figures: Vec<Option<(u64, Option<f64>)>> = {
        use rayon::prelude::*;
        idx.par_iter()
            .map(|i| i.map(|i| figures_of(&table.columns[i].values)))
            .collect()
    };
    for (j, (name, figures)) in columns.iter().zip(figures).enumerate() {
        let i = idx[j]
            .ok_or_else(|| Error::input(&table.source, format!("column {name} was not loaded")))?;
        let (missing, fill_value) = match figures {
            Some(f) if !idx[..j].contains(&Some(i)) => f,
            _ => figures_of(&table.columns[i].values),
        };
        if missing == rows as u64 {
            return Err(Error::input(
                &table.source,
                format!("column {name} is empty in every row; it cannot be used as a feature"),
            ));
        }
        let col = &mut table.columns[i];
        if missing > 0 {
            match fill_value {
                Some(fill) => col
                    .values
                    .iter_mut()
                    .filter(|v| v.is_nan())
                    .for_each(|v| *v = fill),
                None => col
                    .values
                    .iter()
                    .zip(keep.iter_mut())
                    .filter(|(v, _)| v.is_nan())
                    .for_each(|(_, k)| *k = false),
            }
        }
        report.columns.push(ColumnCleaning {
            column: name.clone(),
            missing,
            fill_value,
        });
    }
    if policy == MissingPolicy::Drop {
        let kept = keep.iter().filter(|k| **k).count();
        if kept == 0 {
            return Err(Error::input(
                &table.source,
                format!(
                    "every row has a missing value in a used column, so {} leaves nothing; use {}",
                    Param::Missing.with("drop"),
                    Param::Missing.with("median")
                ),
            ));
        }
        if kept < rows {
            report.original_ids = Some(table.retain_rows(&keep));
        }
        report.rows_out = kept as u64;
        report.kept = Some(keep);
    }
    Ok(report)
}

/// Fills missing cells with saved values (scoring new customers with a model).
pub fn apply_fill(values: &mut [f64], fill: f64) {
    values
        .iter_mut()
        .filter(|v| v.is_nan())
        .for_each(|v| *v = fill);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        crate::ingest::csv::read_bytes(
            b"CUST_ID,A,B\nx,1,\ny,,10\nz,5,20\nw,7,30\n",
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
    fn impute_median_and_mean() {
        let mut t = table();
        let r = clean(&mut t, &["A".into(), "B".into()], MissingPolicy::Median).unwrap();
        assert_eq!(t.column("A").unwrap().values, vec![1.0, 5.0, 5.0, 7.0]);
        assert_eq!(t.column("B").unwrap().values, vec![20.0, 10.0, 20.0, 30.0]);
        assert_eq!(r.columns[0].missing, 1);
        let mut t = table();
        clean(&mut t, &["A".into()], MissingPolicy::Mean).unwrap();
        assert_eq!(t.column("A").unwrap().values[1], 13.0 / 3.0);
    }

    #[test]
    fn drop_removes_rows() {
        let mut t = table();
        let r = clean(&mut t, &["A".into(), "B".into()], MissingPolicy::Drop).unwrap();
        assert_eq!(r.rows_out, 2);
        assert_eq!(t.ids.iter().collect::<Vec<_>>(), vec!["z", "w"]);
        assert_eq!(t.column("B").unwrap().values, vec![20.0, 30.0]);
    }
}
