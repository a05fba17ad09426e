//! Unit tests of the profile: radix medians against grouped medians, and the figures
//! of a small table.

use super::*;

/// The radix medians are the medians of grouping and selecting, bit for bit, on
/// columns built to reach every level: heavy ties, one repeated value, values apart
/// only in their last bits, signed zeros, negatives, missing values, empty segments.
#[test]
fn radix_medians_equal_grouped_medians() {
    let mut rng = crate::rng::Rng::new(7);
    let n = 150_000;
    let columns: Vec<(&str, Vec<f64>)> = vec![
        ("uniform", (0..n).map(|_| rng.uniform() * 1e4).collect()),
        (
            "ties",
            (0..n).map(|_| (rng.uniform() * 5.0).floor()).collect(),
        ),
        ("constant", vec![12.0; n]),
        (
            "last bits",
            (0..n)
                .map(|_| f64::from_bits(1.0f64.to_bits() + (rng.uniform() * 3e5) as u64))
                .collect(),
        ),
        (
            "signed",
            (0..n)
                .map(|i| match i % 5 {
                    0 => 0.0,
                    1 => -0.0,
                    2 => f64::NAN,
                    3 => -rng.uniform(),
                    _ => rng.uniform() * 1e-300,
                })
                .collect(),
        ),
        (
            "mostly missing",
            (0..n)
                .map(|i| if i % 1000 == 3 { i as f64 } else { f64::NAN })
                .collect(),
        ),
    ];
    for k in [1usize, 2, 5, 9] {
        // Segment k-1 stays empty when k > 2.
        let labels: Vec<u32> = (0..n)
            .map(|_| (rng.uniform() * (k.max(3) - 1) as f64) as u32 % k as u32)
            .collect();
        for (name, values) in &columns {
            let f = column_figures(values, &labels, k);
            let mut counts = vec![0u64; k + 1];
            for (&v, &l) in values.iter().zip(&labels) {
                if !v.is_nan() {
                    counts[l as usize] += 1;
                    counts[k] += 1;
                }
            }
            let reference = crate::stats::medians_by_grouping(values, &labels, k, &counts);
            let bits =
                |m: &[Option<f64>]| m.iter().map(|v| v.map(f64::to_bits)).collect::<Vec<_>>();
            assert_eq!(bits(&f.medians), bits(&reference), "{name}, k = {k}");
            assert_eq!(f.counts, counts, "{name}, k = {k}");
            // Sums and spreads summed in row order, as two plain passes give them.
            let (sums, m2) = row_order_sums(values, &labels, k);
            let bits = |m: &[f64]| m.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&f.sums), bits(&sums), "{name}, k = {k}");
            assert_eq!(bits(&f.m2), bits(&m2), "{name}, k = {k}");
            // The small path (grouping) gives the same figures as the radix path.
            let small = column_figures(&values[..1000], &labels[..1000], k);
            let (sums, m2) = row_order_sums(&values[..1000], &labels[..1000], k);
            assert_eq!(bits(&small.sums), bits(&sums), "{name}, k = {k}");
            assert_eq!(bits(&small.m2), bits(&m2), "{name}, k = {k}");
        }
    }
}

/// Sums and sums of squared deviations from the mean per group (segments, then all),
/// each summed in row order over the non-missing values: the obvious reference.
fn row_order_sums(values: &[f64], labels: &[u32], k: usize) -> (Vec<f64>, Vec<f64>) {
    let mut sums = vec![0.0f64; k + 1];
    let mut counts = vec![0u64; k + 1];
    for (&v, &l) in values.iter().zip(labels) {
        if !v.is_nan() {
            for g in [l as usize, k] {
                sums[g] += v;
                counts[g] += 1;
            }
        }
    }
    let means: Vec<f64> = (0..=k).map(|g| sums[g] / counts[g].max(1) as f64).collect();
    let mut m2 = vec![0.0f64; k + 1];
    for (&v, &l) in values.iter().zip(labels) {
        if !v.is_nan() {
            for g in [l as usize, k] {
                let d = v - means[g];
                m2[g] += d * d;
            }
        }
    }
    (sums, m2)
}

/// Box figures by selection equal those read off a full sort.
#[test]
fn box_figures_equal_a_sorted_reference() {
    let mut rng = crate::rng::Rng::new(21);
    let n = 3000;
    let k = 3;
    let values: Vec<f64> = (0..n)
        .map(|i| match i % 9 {
            0 => f64::NAN,
            1 => 0.0,
            2 => -0.0,
            3 => 1e6 * rng.uniform(),
            _ => rng.normal(),
        })
        .collect();
    let labels: Vec<u32> = (0..n).map(|_| rng.below(k as u64) as u32).collect();
    let rows: Vec<usize> = (0..n).filter(|i| i % 3 != 1).collect();
    let boxes = box_stats(&values, &labels, k, &rows);
    for (g, b) in boxes.iter().enumerate() {
        let mut v: Vec<f64> = rows
            .iter()
            .filter(|&&i| g == k || labels[i] as usize == g)
            .map(|&i| values[i])
            .filter(|v| !v.is_nan())
            .collect();
        v.sort_by(f64::total_cmp);
        let q = |p: f64| crate::scale::quantile_sorted(&v, p);
        let (q1, q3) = (q(0.25), q(0.75));
        let (lo, hi) = (q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1));
        let expected = BoxStats {
            n: v.len() as u64,
            q1,
            median: q(0.5),
            q3,
            lower: v.iter().copied().find(|x| *x >= lo).unwrap_or(q1),
            upper: v.iter().rev().copied().find(|x| *x <= hi).unwrap_or(q3),
            min: v[0],
            max: v[v.len() - 1],
        };
        assert_eq!(b.as_ref(), Some(&expected), "group {g}");
    }
}

/// A code column's values, gathered in one pass, are the sorted distinct values (signed
/// zeros as one value, written as the first in sorted order), and a column with many
/// values falls back to sorting them.
#[test]
fn code_values_equal_sorted_distinct_values() {
    let mut rng = crate::rng::Rng::new(4);
    let n = 5000;
    let labels: Vec<u32> = (0..n).map(|_| rng.below(3) as u32).collect();
    let few: Vec<f64> = (0..n)
        .map(|i| [3.0, 1.0, 0.0, -0.0, f64::NAN, 7.0, 1.0][i % 7])
        .collect();
    let zero_first: Vec<f64> = (0..n).map(|i| [0.0, -0.0, 2.0][i % 3]).collect();
    let many: Vec<f64> = (0..n).map(|_| rng.below(200) as f64).collect();
    for values in [&few, &zero_first, &many] {
        let mut distinct: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        let mut value_labels: Vec<String> = distinct.iter().map(|v| code_label(*v)).collect();
        value_labels.push("(missing)".into());
        let codes: Vec<u32> = values
            .iter()
            .map(|v| {
                if v.is_nan() {
                    distinct.len() as u32
                } else {
                    distinct.partition_point(|d| d < v) as u32
                }
            })
            .collect();
        let expected = category_figures(&value_labels, &codes, &labels, 3);
        let got = numeric_category_figures(values, &labels, 3);
        assert_eq!(got.values, expected.values);
        assert_eq!(got.counts, expected.counts);
    }
}

#[test]
fn means_medians_indexes_and_ratios() {
    let t = crate::ingest::csv::read_bytes(
        b"CUST_ID,BALANCE,CREDIT_LIMIT\na,100,1000\nb,300,1000\nc,1000,2000\nd,,2000\n",
        "t.csv",
        &crate::ingest::ReadSpec {
            id: crate::ingest::IdSpec::default_column(),
            required: vec![],
            other_numeric: true,
            delimiter: None,
        },
    )
    .unwrap();
    let p = profile(&t, &[0, 0, 1, 1], 2);
    let s0 = &p.segments[0];
    assert_eq!(s0.customers, 2);
    assert_eq!(s0.stat("BALANCE").unwrap().mean, Some(200.0));
    assert_eq!(s0.stat("BALANCE").unwrap().median, Some(200.0));
    // Portfolio mean balance = 1400 / 3; segment 0 index = 200 / (1400/3) * 100.
    let idx = s0.stat("BALANCE").unwrap().index.unwrap();
    assert!((idx - 200.0 / (1400.0 / 3.0) * 100.0).abs() < 1e-9);
    // Utilisation = sum balance / sum limit (missing balance counts as absent).
    assert_eq!(
        s0.indicator("utilisation").unwrap().value,
        Some(400.0 / 2000.0)
    );
    assert!(s0.indicator("tenure").is_none());
    assert_eq!(p.portfolio.customers, 4);
    assert!((p.segments.iter().map(|s| s.share).sum::<f64>() - 1.0).abs() < 1e-12);
}
