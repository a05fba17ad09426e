//! Criterion benchmark of labels.csv's numbers: distances to 6 significant digits and
//! percentiles to 2 decimals (`text::push_significant`, `text::push_decimals`), as
//! `cardseg run` and `predict` write them for every customer, against `core::fmt`
//! formatting of the same cells, which they must match byte for byte (checked here
//! before timing). Small enough that `cargo test --release --all-targets` (which runs it
//! once) stays quick.
//!
//! Run: cargo bench --bench labels [-- FILTER]

use std::hint::black_box;
use std::io::Write;

use cardseg::rng::Rng;
use cardseg::text::{push_decimals, push_significant, DISTANCE_DIGITS, PERCENTILE_DECIMALS};
use criterion::{criterion_group, criterion_main, Criterion};

const N: usize = 200_000;

/// Distances as a segmentation gives them (mostly 0.01-2, a tail above) and percentiles
/// in [0, 100].
fn cells() -> (Vec<f64>, Vec<f64>) {
    let mut rng = Rng::new(11);
    let d = (0..N)
        .map(|_| rng.normal().abs() * 0.3 + rng.uniform() * 1e-3)
        .collect();
    let p = (0..N).map(|_| rng.uniform() * 100.0).collect();
    (d, p)
}

/// The cells through `core::fmt`: `{v:.d$}` with the digits `push_significant` picks,
/// trailing zeros dropped.
fn reference(out: &mut Vec<u8>, d: &[f64], p: &[f64]) {
    let trim = |out: &mut Vec<u8>, start: usize| {
        if out[start..].contains(&b'.') {
            while out.last() == Some(&b'0') {
                out.pop();
            }
            if out.last() == Some(&b'.') {
                out.pop();
            }
        }
    };
    for (&d, &p) in d.iter().zip(p) {
        let start = out.len();
        let e = d.abs().log10().floor() as i32;
        let digits = (DISTANCE_DIGITS as i32 - 1 - e).max(0) as usize;
        let _ = write!(out, "{d:.digits$}");
        trim(out, start);
        out.push(b',');
        let start = out.len();
        let decimals = PERCENTILE_DECIMALS;
        let _ = write!(out, "{p:.decimals$}");
        trim(out, start);
        out.push(b'\n');
    }
}

fn cardseg_cells(out: &mut Vec<u8>, d: &[f64], p: &[f64]) {
    for (&d, &p) in d.iter().zip(p) {
        push_significant(out, d, DISTANCE_DIGITS);
        out.push(b',');
        push_decimals(out, p, PERCENTILE_DECIMALS);
        out.push(b'\n');
    }
}

fn bench(c: &mut Criterion) {
    let (d, p) = cells();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    reference(&mut a, &d, &p);
    cardseg_cells(&mut b, &d, &p);
    assert!(a == b, "the label cells differ from core::fmt's");
    let mut g = c.benchmark_group("label_cells_200k");
    g.sample_size(10);
    g.bench_function("cardseg", |bch| {
        bch.iter(|| {
            let mut out = Vec::with_capacity(N * 20);
            cardseg_cells(&mut out, black_box(&d), black_box(&p));
            out
        })
    });
    g.bench_function("core_fmt", |bch| {
        bch.iter(|| {
            let mut out = Vec::with_capacity(N * 20);
            reference(&mut out, black_box(&d), black_box(&p));
            out
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
