//! Criterion benchmarks of the profile stage's kernels on one million generated customers
//! in five segments, small enough that `cargo test --release --all-targets` (which runs
//! each once) stays quick: the figures of numeric columns (`profile::column_figures`: sums,
//! zero shares, spreads and medians in two streaming passes and a short third), the drift
//! quantiles of the features per segment (`SegmentFeature::of`) and the distance quantiles
//! per segment (`outliers::quantiles`), each of the last two by selection against the full
//! sort they replaced (same numbers, checked here before timing).
//!
//! Run: cargo bench --bench profile [-- FILTER]

use std::hint::black_box;

use cardseg::model::baseline::{sorted_quantile, SegmentFeature, SEGMENT_LEVELS};
use cardseg::rng::Rng;
use cardseg::{lifecycle::outliers, profile};
use criterion::{criterion_group, criterion_main, Criterion};

const N: usize = 1_000_000;
const K: usize = 5;

/// Segment labels with unequal shares, as a segmentation gives them.
fn labels(rng: &mut Rng) -> Vec<u32> {
    (0..N)
        .map(|_| match rng.below(100) {
            0..=44 => 0,
            45..=69 => 1,
            70..=84 => 2,
            85..=95 => 3,
            _ => 4,
        })
        .collect()
}

/// Customer-like columns: money with a share of zeros, frequencies in [0, 1] and a
/// whole-month tenure; one in twenty cells of the last money column missing.
fn columns(rng: &mut Rng, labels: &[u32]) -> Vec<Vec<f64>> {
    let mut cols = Vec::new();
    for c in 0..4 {
        cols.push(
            labels
                .iter()
                .map(|&l| {
                    if c == 3 && rng.below(20) == 0 {
                        f64::NAN
                    } else if rng.below(4) == 0 {
                        0.0
                    } else {
                        ((rng.normal().abs() * 1e3 * (l + 1) as f64) * 1e6).round() / 1e6
                    }
                })
                .collect(),
        );
    }
    for _ in 0..3 {
        cols.push(
            (0..N)
                .map(|_| (rng.uniform() * 1e6).round() / 1e6)
                .collect(),
        );
    }
    cols.push((0..N).map(|_| 6.0 + rng.below(7) as f64).collect());
    cols
}

/// The values of each segment, in row order.
fn grouped(values: &[f64], labels: &[u32]) -> Vec<Vec<f64>> {
    let mut per = vec![Vec::new(); K];
    for (&v, &l) in values.iter().zip(labels) {
        per[l as usize].push(v);
    }
    per
}

/// The drift quantiles as a full sort gives them: the reference.
fn segment_feature_by_sort(values: &mut [f64]) -> (Vec<f64>, f64, f64) {
    values.sort_unstable_by(f64::total_cmp);
    let q: Vec<f64> = SEGMENT_LEVELS
        .iter()
        .map(|&p| sorted_quantile(values, p))
        .collect();
    let med = q[4];
    let below = values.partition_point(|v| *v < med) as f64;
    let above = (values.len() - values.partition_point(|v| *v <= med)) as f64;
    (q, below, above)
}

/// The distance quantiles as a full sort gives them: the reference.
fn distance_quantiles_by_sort(d: &mut [f64]) -> Vec<f64> {
    d.sort_unstable_by(f64::total_cmp);
    let n = d.len();
    (0..outliers::QUANTILES)
        .map(|i| {
            let pos = (n - 1) as f64 * f64::from(outliers::level(i)) / 1000.0;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            let frac = pos - lo as f64;
            if frac == 0.0 {
                d[lo]
            } else {
                d[lo] + (d[hi] - d[lo]) * frac
            }
        })
        .collect()
}

fn profile_stage(c: &mut Criterion) {
    let mut rng = Rng::new(17);
    let labels = labels(&mut rng);
    let cols = columns(&mut rng, &labels);
    let distances: Vec<f64> = (0..N).map(|_| rng.normal().abs() * 0.3).collect();
    let features: Vec<Vec<Vec<f64>>> = cols[..3].iter().map(|c| grouped(c, &labels)).collect();
    let by_segment = grouped(&distances, &labels);

    // Selection gives the numbers the sort gives, bit for bit.
    for per in &features {
        for seg in per {
            let s = SegmentFeature::of("f", &mut seg.clone()).unwrap();
            let (q, below, above) = segment_feature_by_sort(&mut seg.clone());
            assert_eq!(s.quantiles, q);
            let m = seg.len() as f64;
            assert_eq!((s.below_median, s.above_median), (below / m, above / m));
        }
    }
    for seg in &by_segment {
        assert_eq!(
            outliers::quantiles(&mut seg.clone()).unwrap(),
            distance_quantiles_by_sort(&mut seg.clone())
        );
    }

    let mut g = c.benchmark_group("profile 1M customers, k=5");
    g.sample_size(10);
    g.bench_function("column figures, 8 columns", |b| {
        b.iter(|| {
            for col in &cols {
                black_box(profile::column_figures(black_box(col), &labels, K));
            }
        })
    });
    g.bench_function("drift quantiles, 3 features, selection", |b| {
        b.iter_batched(
            || features.clone(),
            |mut f| {
                for per in &mut f {
                    for seg in per {
                        black_box(SegmentFeature::of("f", seg));
                    }
                }
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.bench_function("drift quantiles, 3 features, full sort", |b| {
        b.iter_batched(
            || features.clone(),
            |mut f| {
                for per in &mut f {
                    for seg in per {
                        black_box(segment_feature_by_sort(seg));
                    }
                }
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.bench_function("distance quantiles, selection", |b| {
        b.iter_batched(
            || by_segment.clone(),
            |mut d| {
                for seg in &mut d {
                    black_box(outliers::quantiles(seg));
                }
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.bench_function("distance quantiles, full sort", |b| {
        b.iter_batched(
            || by_segment.clone(),
            |mut d| {
                for seg in &mut d {
                    black_box(distance_quantiles_by_sort(seg));
                }
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(profile_benches, profile_stage);
criterion_main!(profile_benches);
