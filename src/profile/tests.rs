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
        }
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
