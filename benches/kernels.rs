//! Criterion micro-benchmarks of cardseg's kernels, small enough that
//! `cargo test --release --all-targets` (which runs each once) stays quick:
//! the assignment pass (`kmeans::final_assign`), one fused Lloyd iteration
//! (`lloyd::lloyd_step`), k-means++ seeding
//! (`kmeans::kmeans_plusplus`), the exact silhouette (`silhouette::exact_many`, 5,000
//! points, one k and k = 2..10 at once), CSV parsing (`ingest::csv::read_bytes`, 100,000 generated rows)
//! the whole k sweep on a real-file-sized input (`kmeans::fit_sweep`, 8,950 rows, k = 2..10,
//! 10 restarts each, with and without the swap search, on both cores and on one), the
//! refinement of large inputs on every row (`lloyd::refine`, 400,000 rows, k = 8)
//! and the profile's per-segment medians (`stats::radix_medians` against grouping and
//! selecting, 10,000,000 values in 4 segments).
//!
//! Run: cargo bench --bench kernels [-- FILTER]

use std::hint::black_box;

use cardseg::cluster::{kmeans, lloyd, silhouette};
use cardseg::ingest::{IdSpec, ReadSpec};
use cardseg::rng::Rng;
use cardseg::scale::Matrix;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Scaled-looking customers: a few skewed blobs in [0, 1]^3.
fn matrix(n: usize, seed: u64) -> Matrix {
    let d = 3;
    let mut rng = Rng::new(seed);
    let mut data = Vec::with_capacity(n * d);
    for _ in 0..n {
        let blob = rng.below(5) as f64 / 5.0;
        for _ in 0..d {
            data.push((blob + 0.08 * rng.normal().abs()).clamp(0.0, 1.0));
        }
    }
    Matrix { n, d, data }
}

fn assignment(c: &mut Criterion) {
    let x = matrix(100_000, 1);
    let centers = kmeans::kmeans_plusplus(&x, 10, &mut Rng::new(42), false);
    let mut labels = vec![0u32; x.n];
    let mut g = c.benchmark_group("final_assign 100k x 3, k=10");
    g.throughput(Throughput::Elements(x.n as u64));
    g.sample_size(20);
    g.bench_function("one thread", |b| {
        b.iter(|| {
            black_box(kmeans::final_assign(
                black_box(&x),
                &centers,
                &mut labels,
                false,
            ))
        })
    });
    g.bench_function("parallel", |b| {
        b.iter(|| {
            black_box(kmeans::final_assign(
                black_box(&x),
                &centers,
                &mut labels,
                true,
            ))
        })
    });
    g.finish();
    let mut g = c.benchmark_group("lloyd_step 100k x 3, k=10");
    g.throughput(Throughput::Elements(x.n as u64));
    g.sample_size(20);
    g.bench_function("one thread", |b| {
        b.iter(|| {
            black_box(lloyd::lloyd_step(
                black_box(&x),
                &centers,
                &mut labels,
                false,
            ))
        })
    });
    g.finish();
}

fn seeding(c: &mut Criterion) {
    let x = matrix(100_000, 2);
    let mut g = c.benchmark_group("kmeans_plusplus 100k x 3");
    g.throughput(Throughput::Elements(x.n as u64));
    g.sample_size(10);
    g.bench_function("k=10 one thread", |b| {
        b.iter(|| {
            black_box(kmeans::kmeans_plusplus(
                black_box(&x),
                10,
                &mut Rng::new(42),
                false,
            ))
        })
    });
    g.finish();
}

fn silhouette_exact(c: &mut Criterion) {
    let x = matrix(5_000, 3);
    let centers = kmeans::kmeans_plusplus(&x, 5, &mut Rng::new(42), false);
    let mut labels = vec![0u32; x.n];
    kmeans::final_assign(&x, &centers, &mut labels, false);
    let mut g = c.benchmark_group("silhouette exact_many 5k x 3");
    g.throughput(Throughput::Elements((x.n * x.n) as u64));
    g.sample_size(10);
    g.bench_function("k=5", |b| {
        b.iter(|| black_box(silhouette::exact_many(black_box(&x), &[(&labels, 5)])))
    });
    // The k sweep's case: the labelings of k = 2..=10 at once (one distance per pair for
    // all of them, over the common refinement of the nine partitions).
    let all: Vec<(Vec<u32>, usize)> = (2..=10)
        .map(|k| {
            let centers = kmeans::kmeans_plusplus(&x, k, &mut Rng::new(42), false);
            let mut labels = vec![0u32; x.n];
            kmeans::final_assign(&x, &centers, &mut labels, false);
            (labels, k)
        })
        .collect();
    let all: Vec<(&[u32], usize)> = all.iter().map(|(l, k)| (l.as_slice(), *k)).collect();
    g.bench_function("k=2..10 at once", |b| {
        b.iter(|| black_box(silhouette::exact_many(black_box(&x), &all)))
    });
    g.finish();
}

fn csv_parse(c: &mut Criterion) {
    let mut buf = Vec::new();
    cardseg::generate::generate(100_000, 42, &mut buf, &|_| {}).expect("generate into memory");
    let spec = ReadSpec {
        id: IdSpec::default_column(),
        required: cardseg::DEFAULT_FEATURES
            .iter()
            .chain(&cardseg::DEFAULT_PROFILE_FEATURES)
            .map(|s| s.to_string())
            .collect(),
        other_numeric: true,
        delimiter: None,
    };
    let mut g = c.benchmark_group("read_bytes 100k generated rows");
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.sample_size(10);
    g.bench_function("all numeric columns", |b| {
        b.iter(|| {
            black_box(
                cardseg::ingest::csv::read_bytes(black_box(&buf), "bench.csv", &spec)
                    .expect("parses"),
            )
        })
    });
    g.finish();
}

fn medians(c: &mut Criterion) {
    use cardseg::stats;
    // Ten million, as at the scale where the copy made by grouping stops fitting in cache.
    let n = 10_000_000;
    let k = 4;
    let mut rng = Rng::new(9);
    // Money-like values with a tenth of zeros, and their segments.
    let values: Vec<f64> = (0..n)
        .map(|_| {
            if rng.below(10) == 0 {
                0.0
            } else {
                (rng.normal().abs() * 2e3 * 1e6).round() / 1e6
            }
        })
        .collect();
    let labels: Vec<u32> = (0..n).map(|_| rng.below(k as u64) as u32).collect();
    let mut counts = vec![0u64; k + 1];
    let mut hist = vec![0u32; k * stats::BINS];
    for (&v, &l) in values.iter().zip(&labels) {
        counts[l as usize] += 1;
        counts[k] += 1;
        hist[l as usize * stats::BINS + stats::top_bin(v)] += 1;
    }
    let mut g = c.benchmark_group("segment medians 10M values, k=4");
    g.sample_size(10);
    g.bench_function("radix selection (histogram given)", |b| {
        b.iter(|| {
            black_box(stats::radix_medians(
                black_box(&values),
                Some(&labels),
                k,
                &counts,
                hist.clone(),
            ))
        })
    });
    g.bench_function("grouping + select", |b| {
        b.iter(|| {
            black_box(stats::medians_by_grouping(
                black_box(&values),
                &labels,
                k,
                &counts,
            ))
        })
    });
    g.finish();
}

/// The k sweep at the real file's size: where its time goes (restarts against swap search)
/// and whether the two cores help (a per-fit start-up cost would show as one thread
/// beating two).
fn sweep(c: &mut Criterion) {
    let x = matrix(8_950, 3);
    let ks: Vec<usize> = (2..=10).collect();
    let p = kmeans::KMeansParams::default();
    let no_swap = kmeans::KMeansParams {
        swap_trials: 0,
        ..p.clone()
    };
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let cancel = cardseg::cancel::Cancel::default();
    let fit = |p: &kmeans::KMeansParams| {
        kmeans::fit_sweep(black_box(&x), &ks, p, &|| {}, &cancel).unwrap()
    };
    let mut g = c.benchmark_group("k sweep 8950 x 3, k=2..10, n_init=10");
    g.sample_size(10);
    g.bench_function("parallel", |b| b.iter(|| black_box(fit(&p))));
    g.bench_function("one thread", |b| {
        b.iter(|| one.install(|| black_box(fit(&p))))
    });
    g.bench_function("parallel, no swap search", |b| {
        b.iter(|| black_box(fit(&no_swap)))
    });
    g.finish();
}

/// The refinement of large inputs on every row (`lloyd::refine`) from a stage-like start
/// (the fixed point of a tenth of the rows), at a size CI runs in a blink: full passes,
/// active-set passes and the exact means at the end, on both cores and on one.
fn refinement(c: &mut Criterion) {
    let x = matrix(400_000, 5);
    let k = 8;
    let sub = Matrix {
        n: 40_000,
        d: x.d,
        data: x.data[..40_000 * x.d].to_vec(),
    };
    let seed = kmeans::kmeans_plusplus(&sub, k, &mut Rng::new(7), false);
    let start = lloyd::refine(&sub, seed, 300, 0.0)
        .expect("no empty segment")
        .centers;
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let run = || lloyd::refine(black_box(&x), start.clone(), 300, 0.0).expect("no empty segment");
    let mut g = c.benchmark_group("lloyd::refine 400k x 3, k=8, from a 40k-row fixed point");
    g.throughput(Throughput::Elements(x.n as u64));
    g.sample_size(10);
    g.bench_function("parallel", |b| b.iter(|| black_box(run())));
    g.bench_function("one thread", |b| {
        b.iter(|| one.install(|| black_box(run())))
    });
    g.finish();
}

criterion_group!(
    kernels,
    sweep,
    refinement,
    assignment,
    seeding,
    silhouette_exact,
    csv_parse,
    medians
);
criterion_main!(kernels);
