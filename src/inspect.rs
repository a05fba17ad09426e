//! `cardseg inspect`: what is in a customer table before segmenting it.

use serde::Serialize;

use crate::error::Result;
use crate::ingest::{self, IdSpec, ReadSpec};
use crate::table::{ColumnKind, Ids, Table};

#[derive(Debug, Serialize)]
pub struct ColumnReport {
    pub name: String,
    pub kind: ColumnKind,
    pub missing: u64,
    pub missing_share: f64,
    pub min: Option<f64>,
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub max: Option<f64>,
    pub std: Option<f64>,
    pub negatives: Option<u64>,
    /// Set when the column holds values that look wrong for it (e.g. negatives in an
    /// amount column).
    pub warning: Option<String>,
    /// For text columns: the first value that is not a number and its line.
    pub first_text: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct InspectReport {
    pub source: String,
    pub rows: u64,
    pub columns: usize,
    pub id_column: Option<String>,
    pub duplicate_ids: u64,
    pub empty_ids: u64,
    pub column_reports: Vec<ColumnReport>,
}

/// Counts rows whose id already appeared (sorting hashes: no per-id allocation).
pub fn count_duplicate_ids(ids: &Ids) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    let hasher = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
    let mut keyed: Vec<(u64, u32)> = (0..ids.len())
        .map(|i| (hasher.hash_one(ids.get(i)), i as u32))
        .collect();
    keyed.sort_unstable();
    let mut dups = 0;
    let mut i = 0;
    while i < keyed.len() {
        let mut j = i + 1;
        while j < keyed.len() && keyed[j].0 == keyed[i].0 {
            j += 1;
        }
        if j - i > 1 {
            // Same hash: count exact duplicates within the run.
            let mut group: Vec<&str> = keyed[i..j]
                .iter()
                .map(|(_, r)| ids.get(*r as usize))
                .collect();
            group.sort_unstable();
            dups += group.windows(2).filter(|w| w[0] == w[1]).count() as u64;
        }
        i = j;
    }
    dups
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
                warning: None,
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
                    if neg > 0 && negatives_unusual(&info.name) {
                        r.warning = Some(format!("{neg} negative values, unusual for this column"));
                    }
                    if r.min == r.max {
                        r.warning = Some("constant column: it cannot separate customers".into());
                    }
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
    InspectReport {
        source: table.source.clone(),
        rows,
        columns: table.info.len(),
        id_column: table.id_column.clone(),
        duplicate_ids: if table.id_column.is_some() {
            count_duplicate_ids(&table.ids)
        } else {
            0
        },
        empty_ids,
        column_reports,
    }
}

/// The human table.
pub fn write_text(w: &mut dyn std::io::Write, r: &InspectReport) -> std::io::Result<()> {
    use crate::report::{human, thousands};
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
        if let Some(wn) = &c.warning {
            writeln!(w, "    warning: {wn}")?;
        }
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
    }
}
