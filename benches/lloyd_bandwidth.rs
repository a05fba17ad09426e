//! Is one Lloyd pass memory-bound? Times, in the same process and on the same matrix,
//! interleaved, a plain streaming read of the scaled matrix (a parallel sum over every
//! value, chunked like the K-Means kernels) against:
//! (a) `cluster::lloyd::lloyd_step`, one real Lloyd iteration: nearest of k centres for
//!     every row (labels written) and, in the same pass, per-centre sums, counts, inertia;
//! (b) the assignment pass alone, `cluster::kmeans::final_assign` (labels, inertia, counts);
//! (c) `final_assign` followed by a separate centroid-update pass (the unfused iteration).
//! `CARDSEG_NO_SIMD=1` forces the portable build of the distance kernel and
//! `CARDSEG_NO_AVX512=1` the AVX2 one (all give bit-identical results), to compare them.
//!
//! Data: `--rows N` synthetic customers (default 10,000,000; three features drawn as a
//! mixture of skewed blobs in [0, 1]), or `--input FILE.csv` read, median-imputed and
//! MinMax-scaled through the library like `cardseg run` does. Centres: k-means++ seeding
//! (`kmeans::kmeans_plusplus`, timed too) with k = `--k` (default 10).
//!
//! Usage: cargo bench --bench lloyd_bandwidth -- [--rows N | --input F.csv] [--k 10]
//!        [--reps 5]   (or `bash bench/run.sh lloyd`)
//! Prints human lines on stderr and one JSON object on stdout. Without any argument (as
//! `cargo test --all-targets` runs it) it is a smoke run: 20,000 rows, k = 4, one rep.

use std::hint::black_box;
use std::time::Instant;

use cardseg::cluster::kmeans::{self, CHUNK};
use cardseg::cluster::lloyd;
use cardseg::rng::Rng;
use cardseg::scale::{Matrix, MinMaxScaler};
use rayon::prelude::*;

struct Opts {
    rows: usize,
    input: Option<String>,
    k: usize,
    reps: usize,
}

fn parse() -> Opts {
    let mut o = Opts {
        rows: 10_000_000,
        input: None,
        k: 10,
        reps: 5,
    };
    // `cargo bench` appends --bench; `cargo test` passes nothing: a smoke run.
    if std::env::args().len() == 1 {
        o.rows = 20_000;
        o.k = 4;
        o.reps = 1;
    }
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    while let Some(a) = args.next() {
        let v = args.next();
        match (a.as_str(), v) {
            ("--rows", Some(v)) => o.rows = v.parse().unwrap_or(o.rows),
            ("--input", Some(v)) => o.input = Some(v),
            ("--k", Some(v)) => o.k = v.parse().unwrap_or(o.k),
            ("--reps", Some(v)) => o.reps = v.parse().unwrap_or(o.reps).max(1),
            _ => {
                eprintln!("usage: lloyd_bandwidth [--rows N | --input F.csv] [--k 10] [--reps 5]");
                std::process::exit(2);
            }
        }
    }
    o
}

/// Synthetic scaled customers: a few skewed blobs, clipped to [0, 1].
fn synthetic(n: usize, d: usize) -> Matrix {
    let blocks: Vec<Vec<f64>> = (0..n.div_ceil(1 << 16))
        .into_par_iter()
        .map(|b| {
            let mut rng = Rng::derive(7, &[b as u64]);
            let rows = (n - b * (1 << 16)).min(1 << 16);
            let mut out = Vec::with_capacity(rows * d);
            for _ in 0..rows {
                let blob = rng.below(5) as f64 / 5.0;
                for _ in 0..d {
                    out.push((blob + 0.08 * rng.normal().abs()).clamp(0.0, 1.0));
                }
            }
            out
        })
        .collect();
    Matrix {
        n,
        d,
        data: blocks.concat(),
    }
}

fn from_csv(path: &str) -> Matrix {
    let features: Vec<String> = cardseg::DEFAULT_FEATURES
        .iter()
        .map(|s| s.to_string())
        .collect();
    let spec = cardseg::ingest::ReadSpec {
        id: cardseg::ingest::IdSpec::default_column(),
        required: features.clone(),
        other_numeric: false,
        delimiter: None,
    };
    let fail = |e: cardseg::Error| -> ! {
        eprintln!("error: {e}");
        std::process::exit(1)
    };
    let mut table = cardseg::ingest::read(&cardseg::ingest::Source::new(path), &spec)
        .unwrap_or_else(|e| fail(e));
    cardseg::clean::clean(&mut table, &features, cardseg::clean::MissingPolicy::Median)
        .unwrap_or_else(|e| fail(e));
    let scaler = MinMaxScaler::fit(&table, &features).unwrap_or_else(|e| fail(e));
    scaler.transform(&table).unwrap_or_else(|e| fail(e))
}

/// The memory floor: every value of the matrix read once, summed per fixed chunk.
fn stream_sum(x: &Matrix) -> f64 {
    x.data
        .par_chunks(CHUNK * x.d)
        .map(|c| c.iter().sum::<f64>())
        .sum()
}

/// A separate centroid-update pass (sums and counts per label), as a Lloyd iteration
/// that is not fused with the assignment would do.
fn centroid_update(x: &Matrix, labels: &[u32], k: usize) -> Vec<f64> {
    let d = x.d;
    let parts: Vec<(Vec<f64>, Vec<u64>)> = x
        .data
        .par_chunks(CHUNK * d)
        .zip(labels.par_chunks(CHUNK))
        .map(|(rows, lab)| {
            let mut sums = vec![0.0; k * d];
            let mut counts = vec![0u64; k];
            for (row, &l) in rows.chunks_exact(d).zip(lab) {
                let l = l as usize;
                counts[l] += 1;
                for j in 0..d {
                    sums[l * d + j] += row[j];
                }
            }
            (sums, counts)
        })
        .collect();
    let mut sums = vec![0.0; k * d];
    let mut counts = vec![0u64; k];
    for (s, c) in parts {
        sums.iter_mut().zip(s).for_each(|(a, b)| *a += b);
        counts.iter_mut().zip(c).for_each(|(a, b)| *a += b);
    }
    for c in 0..k {
        for j in 0..d {
            sums[c * d + j] /= counts[c].max(1) as f64;
        }
    }
    sums
}

fn stats(v: &[f64]) -> (f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (s[0], s[s.len() / 2])
}

fn main() {
    let o = parse();
    let t = Instant::now();
    let x = match &o.input {
        Some(p) => from_csv(p),
        None => synthetic(o.rows, 3),
    };
    let prep = t.elapsed().as_secs_f64();
    let (n, d, k) = (x.n, x.d, o.k);
    let bytes = (n * d * 8) as f64;
    let label_bytes = (n * 4) as f64;
    eprintln!(
        "matrix {n} x {d} f64 = {:.0} MB ({:.2} s to prepare), k = {k}, {} threads",
        bytes / 1e6,
        prep,
        rayon::current_num_threads()
    );

    let t = Instant::now();
    let centers = kmeans::kmeans_plusplus(&x, k, &mut Rng::new(42), true);
    let seed_secs = t.elapsed().as_secs_f64();
    eprintln!("k-means++ seeding (k = {k}): {seed_secs:.3} s");

    let mut labels = vec![0u32; n];
    // Warm-up: touch the labels and the matrix once.
    black_box(kmeans::final_assign(&x, &centers, &mut labels, true));
    black_box(stream_sum(&x));

    let (mut stream, mut assign, mut iter) = (Vec::new(), Vec::new(), Vec::new());
    let mut fused = Vec::new();
    for _ in 0..o.reps {
        let t = Instant::now();
        black_box(lloyd::lloyd_step(
            black_box(&x),
            &centers,
            &mut labels,
            true,
        ));
        fused.push(t.elapsed().as_secs_f64());

        // Interleaved, so load changes hit every measurement alike.
        let t = Instant::now();
        black_box(stream_sum(black_box(&x)));
        stream.push(t.elapsed().as_secs_f64());

        let t = Instant::now();
        black_box(kmeans::final_assign(
            black_box(&x),
            &centers,
            &mut labels,
            true,
        ));
        assign.push(t.elapsed().as_secs_f64());

        let t = Instant::now();
        black_box(kmeans::final_assign(
            black_box(&x),
            &centers,
            &mut labels,
            true,
        ));
        black_box(centroid_update(&x, &labels, k));
        iter.push(t.elapsed().as_secs_f64());
    }
    let (s_min, s_med) = stats(&stream);
    let (a_min, a_med) = stats(&assign);
    let (i_min, i_med) = stats(&iter);
    let (f_min, f_med) = stats(&fused);
    let gbs = |b: f64, s: f64| b / s / 1e9;
    eprintln!(
        "streaming read of the matrix:        min {s_min:.4} s  median {s_med:.4} s  ({:.2} GB/s)",
        gbs(bytes, s_min)
    );
    eprintln!(
        "final_assign (assignment pass):      min {a_min:.4} s  median {a_med:.4} s  ({:.2} GB/s effective, {:.1}x the streaming read)",
        gbs(bytes + label_bytes, a_min),
        a_min / s_min
    );
    eprintln!(
        "final_assign + centroid-update pass: min {i_min:.4} s  median {i_med:.4} s  ({:.1}x the streaming read)",
        i_min / s_min
    );
    eprintln!(
        "lloyd_step (fused Lloyd iteration):  min {f_min:.4} s  median {f_med:.4} s  ({:.1}x the streaming read)",
        f_min / s_min
    );
    eprintln!(
        "distance evaluations per second in final_assign: {:.2e} ({:.2} ns per row)",
        (n * k) as f64 / a_min,
        a_min / n as f64 * 1e9
    );
    println!(
        "{}",
        serde_json::json!({
            "rows": n, "d": d, "k": k,
            "threads": rayon::current_num_threads(),
            "matrix_bytes": bytes,
            "source": o.input.clone().unwrap_or_else(|| "synthetic".into()),
            "seeding_seconds": seed_secs,
            "stream_read_seconds": stream,
            "final_assign_seconds": assign,
            "assign_plus_update_seconds": iter,
            "lloyd_step_seconds": fused,
            "lloyd_step_over_stream": f_min / s_min,
            "stream_gb_per_s": gbs(bytes, s_min),
            "assign_gb_per_s": gbs(bytes + label_bytes, a_min),
            "assign_over_stream": a_min / s_min,
            "iteration_over_stream": i_min / s_min,
            "ns_per_row_assign": a_min / n as f64 * 1e9,
            "simd": lloyd::kernel_name(),
        })
    );
}
