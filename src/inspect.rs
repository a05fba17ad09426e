//! `cardseg inspect`: what is in a customer table before segmenting it.

use serde::Serialize;

use crate::error::Result;
use crate::ingest::{self, IdSpec, ReadSpec};
use crate::table::{ColumnKind, Table};

/// What `inspect` finds in one column.
#[derive(Debug, Serialize)]
pub struct ColumnReport {
    /// Column header.
    pub name: String,
    /// Inferred type (numeric or text).
    pub kind: ColumnKind,
    /// Empty or missing cells.
    pub missing: u64,
    /// Missing cells as a share of the rows.
    pub missing_share: f64,
    /// Smallest value.
    pub min: Option<f64>,
    /// Mean value.
    pub mean: Option<f64>,
    /// Median value.
    pub median: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
    /// Standard deviation.
    pub std: Option<f64>,
    /// Negative values: amounts should have none.
    pub negatives: Option<u64>,
    /// Quantiles 1, 25, 75 and 99% (linear interpolation, as numpy and pandas).
    pub q01: Option<f64>,
    /// 25% quantile.
    pub q25: Option<f64>,
    /// 75% quantile.
    pub q75: Option<f64>,
    /// 99% quantile.
    pub q99: Option<f64>,
    /// Sample skewness, bias-adjusted (pandas' `skew`): above 1, a heavy right tail.
    pub skewness: Option<f64>,
    /// Share of the non-missing values that are exactly 0.
    pub zero_share: Option<f64>,
    /// The first of [`ColumnReport::warnings`] (kept for readers of the older report).
    pub warning: Option<String>,
    /// Every suspicious range found: a share or frequency above 1, negative amounts, a
    /// constant column.
    pub warnings: Vec<String>,
    /// For text columns: the first value that is not a number and its line.
    pub first_text: Option<String>,
}

/// What `cardseg inspect` reports about a table, as text or `--json`.
#[derive(Debug, Serialize)]
pub struct InspectReport {
    /// Input inspected.
    pub source: String,
    /// Data rows read.
    pub rows: u64,
    /// Columns read (the id column included).
    pub columns: usize,
    /// The id column, None when rows are numbered.
    pub id_column: Option<String>,
    /// Ids seen more than once.
    pub duplicate_ids: u64,
    /// Rows with an empty id.
    pub empty_ids: u64,
    /// One report per column, in file order.
    pub column_reports: Vec<ColumnReport>,
    /// Table-level warnings (an id column that is not unique).
    pub warnings: Vec<String>,
}

/// Columns whose values are shares or frequencies, so must lie in 0..1.
fn is_share(name: &str) -> bool {
    name.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .any(|w| {
            matches!(
                w.as_str(),
                "freq" | "frequency" | "share" | "prc" | "pct" | "fraction"
            )
        })
}

/// Bias-adjusted sample skewness (pandas' `Series.skew`), None below 3 values or when
/// the column is constant.
fn skewness(vals: &[f64], mean: f64) -> Option<f64> {
    let n = vals.len() as f64;
    if vals.len() < 3 {
        return None;
    }
    let m2 = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let m3 = vals.iter().map(|v| (v - mean).powi(3)).sum::<f64>() / n;
    if m2 <= 0.0 {
        return None;
    }
    let g1 = m3 / m2.powf(1.5);
    Some(g1 * (n * (n - 1.0)).sqrt() / (n - 2.0))
}

/// Columns where a negative value is unusual in card data (amounts, counts, limits).
fn negatives_unusual(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    [
        "BALANCE",
        "PURCHASE",
        "PAYMENT",
        "LIMIT",
        "CASH",
        "TRX",
        "TENURE",
        "FREQUENCY",
        "PRC",
    ]
    .iter()
    .any(|k| n.contains(k))
}

/// Reads an input (every column, text kept) and reports on it.
pub fn inspect(
    source: &ingest::Source,
    id: IdSpec,
    delimiter: Option<u8>,
) -> Result<InspectReport> {
    let table = ingest::read(
        source,
        &ReadSpec {
            id,
            required: vec![],
            other_numeric: true,
            delimiter,
        },
    )?;
    Ok(report(&table))
}

/// Reports on a table already read.
pub fn report(table: &Table) -> InspectReport {
    let rows = table.rows() as u64;
    let column_reports = table
        .info
        .iter()
        .map(|info| {
            let mut r = ColumnReport {
                name: info.name.clone(),
                kind: info.kind,
                missing: info.missing,
                missing_share: if rows == 0 {
                    0.0
                } else {
                    info.missing as f64 / rows as f64
                },
                min: None,
                mean: None,
                median: None,
                max: None,
                std: None,
                negatives: None,
                q01: None,
                q25: None,
                q75: None,
                q99: None,
                skewness: None,
                zero_share: None,
                warning: None,
                warnings: Vec::new(),
                first_text: info.first_text.as_ref().map(|(l, v)| {
                    format!(
                        "{v} on {} {l}",
                        if table.row_based { "row" } else { "line" }
                    )
                }),
            };
            if let Some(col) = table
                .column(&info.name)
                .filter(|_| info.kind == ColumnKind::Numeric)
            {
                let vals: Vec<f64> = col.values.iter().copied().filter(|v| !v.is_nan()).collect();
                if !vals.is_empty() {
                    let n = vals.len() as f64;
                    let mean = vals.iter().sum::<f64>() / n;
                    let var = if vals.len() > 1 {
                        vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0)
                    } else {
                        0.0
                    };
                    r.min = vals.iter().copied().reduce(f64::min);
                    r.max = vals.iter().copied().reduce(f64::max);
                    r.mean = Some(mean);
                    r.std = Some(var.sqrt());
                    r.median = crate::clean::median(&vals);
                    let neg = vals.iter().filter(|v| **v < 0.0).count() as u64;
                    r.negatives = Some(neg);
                    let mut sorted = vals.clone();
                    sorted.sort_unstable_by(f64::total_cmp);
                    let q = |p: f64| Some(crate::scale::quantile_sorted(&sorted, p));
                    (r.q01, r.q25, r.q75, r.q99) = (q(0.01), q(0.25), q(0.75), q(0.99));
                    r.skewness = skewness(&vals, mean);
                    r.zero_share = Some(vals.iter().filter(|v| **v == 0.0).count() as f64 / n);
                    if r.min == r.max {
                        r.warnings
                            .push("constant column: it cannot separate customers".into());
                    }
                    if neg > 0 && negatives_unusual(&info.name) {
                        r.warnings
                            .push(format!("{neg} negative values, unusual for this column"));
                    }
                    let above = vals.iter().filter(|v| **v > 1.0).count();
                    if above > 0 && is_share(&info.name) {
                        r.warnings.push(format!(
                            "{above} values above 1 (up to {}) in a share or frequency column, which should lie in 0..1",
                            crate::text::human(r.max.unwrap_or(f64::NAN))
                        ));
                    }
                    r.warning = r.warnings.first().cloned();
                }
            }
            r
        })
        .collect();
    let empty_ids = if table.id_column.is_some() {
        table.ids.iter().filter(|s| s.is_empty()).count() as u64
    } else {
        0
    };
    let duplicate_ids = if table.id_column.is_some() {
        table.ids.count_duplicates()
    } else {
        0
    };
    let mut warnings = Vec::new();
    let mut column_reports: Vec<ColumnReport> = column_reports;
    // A name the header repeats: only its first column is read, so the later ones have
    // no statistics and their type says nothing.
    let mut positions: std::collections::HashMap<&str, Vec<usize>> =
        std::collections::HashMap::new();
    for (j, info) in table.info.iter().enumerate() {
        positions.entry(info.name.as_str()).or_default().push(j);
    }
    for (j, info) in table.info.iter().enumerate() {
        let at = &positions[info.name.as_str()];
        if at.len() > 1 && at[0] == j {
            let places: Vec<String> = at.iter().map(|i| (i + 1).to_string()).collect();
            warnings.push(format!(
                "column name {} appears {} times (columns {}): only the first is read, so the others show no statistics; rename them",
                crate::text::quote_name(&info.name),
                at.len(),
                places.join(", ")
            ));
            for &i in &at[1..] {
                let c = &mut column_reports[i];
                c.warnings.push(format!(
                    "duplicate of column {}: not read (its type is not known)",
                    j + 1
                ));
                c.warning = c.warnings.first().cloned();
            }
        }
    }
    if let (Some(id), true) = (&table.id_column, duplicate_ids > 0) {
        warnings.push(crate::table::ids_not_unique(id, duplicate_ids));
    }
    InspectReport {
        source: table.source.clone(),
        rows,
        columns: table.info.len(),
        id_column: table.id_column.clone(),
        duplicate_ids,
        empty_ids,
        column_reports,
        warnings,
    }
}

/// The human table.
pub fn write_text(w: &mut dyn std::io::Write, r: &InspectReport) -> std::io::Result<()> {
    use crate::text::{human, thousands};
    writeln!(
        w,
        "{}: {} rows, {} columns",
        r.source,
        thousands(r.rows),
        r.columns
    )?;
    match &r.id_column {
        Some(id) => writeln!(
            w,
            "id column {id}: {} duplicate, {} empty",
            thousands(r.duplicate_ids),
            thousands(r.empty_ids)
        )?,
        None => writeln!(w, "no id column: rows are numbered from 1")?,
    }
    writeln!(
        w,
        "{:<34} {:>7} {:>8} {:>6} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "column", "type", "missing", "%", "min", "mean", "median", "max", "std"
    )?;
    let f = |v: Option<f64>| v.map(human).unwrap_or_else(|| "-".into());
    for c in &r.column_reports {
        let kind = match c.kind {
            ColumnKind::Numeric => "number",
            ColumnKind::Text => "text",
            ColumnKind::Empty => "empty",
        };
        let name: String = c
            .name
            .chars()
            .map(|ch| if ch.is_control() { ' ' } else { ch })
            .take(34)
            .collect();
        writeln!(
            w,
            "{:<34} {:>7} {:>8} {:>5.1}% {:>12} {:>12} {:>12} {:>12} {:>12}",
            name,
            kind,
            thousands(c.missing),
            c.missing_share * 100.0,
            f(c.min),
            f(c.mean),
            f(c.median),
            f(c.max),
            f(c.std)
        )?;
        for wn in &c.warnings {
            writeln!(w, "    warning: {wn}")?;
        }
    }
    writeln!(w)?;
    writeln!(
        w,
        "{:<34} {:>12} {:>12} {:>12} {:>12} {:>9} {:>7}",
        "distribution", "p1", "p25", "p75", "p99", "skewness", "zeros"
    )?;
    for c in r.column_reports.iter().filter(|c| c.q25.is_some()) {
        let name: String = c
            .name
            .chars()
            .map(|ch| if ch.is_control() { ' ' } else { ch })
            .take(34)
            .collect();
        writeln!(
            w,
            "{:<34} {:>12} {:>12} {:>12} {:>12} {:>9} {:>6.1}%",
            name,
            f(c.q01),
            f(c.q25),
            f(c.q75),
            f(c.q99),
            c.skewness
                .map(|s| format!("{s:.2}"))
                .unwrap_or_else(|| "-".into()),
            c.zero_share.unwrap_or(0.0) * 100.0
        )?;
    }
    for wn in &r.warnings {
        writeln!(w, "warning: {wn}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_stats() {
        let t = crate::ingest::csv::read_bytes(
            b"CUST_ID,BALANCE,NAME\na,1,x\nb,-3,y\na,,z\n,5,w\n",
            "t.csv",
            &ReadSpec {
                id: IdSpec::default_column(),
                required: vec![],
                other_numeric: true,
                delimiter: None,
            },
        )
        .unwrap();
        let r = report(&t);
        let dup = crate::ingest::csv::read_bytes(
            b"a,b,a\n1,2,1\n3,4,1\n",
            "d.csv",
            &ReadSpec {
                id: IdSpec::RowNumber,
                required: vec![],
                other_numeric: true,
                delimiter: None,
            },
        )
        .unwrap();
        let d = report(&dup);
        assert!(
            d.warnings[0].starts_with("column name \"a\" appears 2 times (columns 1, 3)"),
            "{:?}",
            d.warnings
        );
        assert!(d.column_reports[2].warnings[0].starts_with("duplicate of column 1"));
        assert_eq!(r.rows, 4);
        assert_eq!(r.duplicate_ids, 1);
        assert_eq!(r.empty_ids, 1);
        let b = &r.column_reports[1];
        assert_eq!(b.missing, 1);
        assert_eq!(b.min, Some(-3.0));
        assert_eq!(b.median, Some(1.0));
        assert_eq!(b.negatives, Some(1));
        assert!(b.warning.as_deref().unwrap().contains("negative"));
        assert_eq!(r.column_reports[2].kind, ColumnKind::Text);
        assert!(r.warnings[0].contains("not unique"), "{:?}", r.warnings);
    }

    #[test]
    fn quantiles_skewness_zeros_and_range_warnings() {
        let t = crate::ingest::csv::read_bytes(
            b"CUST_ID,PURCHASES_FREQUENCY,AMOUNT,K\na,0,0,7\nb,0.5,1,7\nc,1.5,2,7\nd,1,10,7\ne,0.25,100,7\n",
            "t.csv",
            &ReadSpec {
                id: IdSpec::default_column(),
                required: vec![],
                other_numeric: true,
                delimiter: None,
            },
        )
        .unwrap();
        let r = report(&t);
        assert!(r.warnings.is_empty());
        let f = &r.column_reports[1];
        assert!(f.warnings[0].contains("above 1"), "{:?}", f.warnings);
        let a = &r.column_reports[2];
        // numpy: np.percentile([0,1,2,10,100], [1,25,75,99]) = 0.04, 1, 10, 96.4
        assert!((a.q01.unwrap() - 0.04).abs() < 1e-12);
        assert_eq!(a.q25, Some(1.0));
        assert_eq!(a.q75, Some(10.0));
        assert!((a.q99.unwrap() - 96.4).abs() < 1e-9);
        assert_eq!(a.zero_share, Some(0.2));
        // pandas: pd.Series([0,1,2,10,100]).skew() = 2.1910695...
        assert!(
            (a.skewness.unwrap() - 2.191_069_504).abs() < 1e-8,
            "{:?}",
            a.skewness
        );
        assert!(a.warnings.is_empty());
        assert!(r.column_reports[3].warnings[0].contains("constant"));
    }
}
