//! The small-input stages of `cardseg run` on a real-file-sized input (8,950 customers ×
//! 3 features): the k sweep (`kmeans::fit_sweep`, k = 2..10, 10 restarts each, swap
//! search on), the exact silhouettes of every k at once (`silhouette::scores`) and the
//! stability resamples (`stability::measure`, 20 resamples of half the customers at
//! k = 4, 3 restarts each), on both cores and on one.
//!
//! The input is the CC GENERAL file when `CARDSEG_BENCH_CSV` names it (scaled as `run`
//! scales it: median fill, min-max), otherwise generated customers of the same size, so
//! the bench runs anywhere; the figures in bench/RESULTS.md say which.
//!
//! Run: CARDSEG_BENCH_CSV=../shared/data/cc_general.csv cargo bench --bench small_run

use std::hint::black_box;

use cardseg::cancel::Cancel;
use cardseg::clean::{clean, MissingPolicy};
use cardseg::cluster::{kmeans, silhouette, stability};
use cardseg::ingest::{read, IdSpec, ReadSpec, Source};
use cardseg::rng::Rng;
use cardseg::scale::{Matrix, MinMaxScaler};
use criterion::{criterion_group, criterion_main, Criterion};

/// Customers of the real file's size: skewed blobs in [0, 1]^3.
fn generated(n: usize, seed: u64) -> Matrix {
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

/// The scaled default features of the file `CARDSEG_BENCH_CSV` names, or generated rows.
fn input() -> (Matrix, &'static str) {
    let Some(path) = std::env::var_os("CARDSEG_BENCH_CSV") else {
        return (generated(8_950, 3), "generated");
    };
    let features: Vec<String> = cardseg::DEFAULT_FEATURES
        .iter()
        .map(|s| s.to_string())
        .collect();
    let spec = ReadSpec {
        id: IdSpec::default_column(),
        required: features.clone(),
        other_numeric: false,
        delimiter: None,
    };
    let source = Source::new(path.to_string_lossy().into_owned());
    let mut table = read(&source, &spec).expect("CARDSEG_BENCH_CSV reads");
    clean(&mut table, &features, MissingPolicy::Median).expect("cleans");
    let scaler = MinMaxScaler::fit(&table, &features).expect("scales");
    (scaler.transform(&table).expect("scales"), "CC GENERAL")
}

fn stages(c: &mut Criterion) {
    let (x, what) = input();
    let ks: Vec<usize> = (2..=10).collect();
    let p = kmeans::KMeansParams {
        k: 2,
        n_init: 10,
        seed: 42,
        ..Default::default()
    };
    let cancel = Cancel::default();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    let sweep = || kmeans::fit_sweep(&x, &ks, &p, &|| {}, &cancel).expect("fits");
    let fits = sweep();
    let views: Vec<(&[u32], &[f64], usize)> = fits
        .iter()
        .map(|f| (f.labels.as_slice(), f.centroids.as_slice(), f.k))
        .collect();
    let k4 = &fits[2];
    let title = format!("small run stages, {what} {} x {}", x.n, x.d);
    let mut g = c.benchmark_group(title);
    g.sample_size(10);
    g.bench_function("k sweep k=2..10 n_init=10, parallel", |b| {
        b.iter(|| black_box(sweep()))
    });
    g.bench_function("k sweep k=2..10 n_init=10, one thread", |b| {
        b.iter(|| one.install(|| black_box(sweep())))
    });
    g.bench_function("exact silhouettes k=2..10", |b| {
        b.iter(|| {
            black_box(silhouette::scores(
                &x,
                &views,
                silhouette::EXACT_MAX_ROWS,
                silhouette::SAMPLE_SIZE,
                42,
            ))
        })
    });
    let measure = || {
        let plan = stability::Plan {
            k: 4,
            n_init: 3,
            resamples: 20,
            cap: 20_000,
            seed: 42,
        };
        stability::measure(&x, &k4.labels, &plan)
            .expect("measures")
            .expect("resamples")
    };
    g.bench_function("stability k=4, 20 resamples, parallel", |b| {
        b.iter(|| black_box(measure()))
    });
    g.bench_function("stability k=4, 20 resamples, one thread", |b| {
        b.iter(|| one.install(|| black_box(measure())))
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
