//! Times cardseg's exact silhouette (`cluster::silhouette::exact_many`) on a scaled matrix
//! with labels read from a CSV, for the side-by-side with scikit-learn's
//! `silhouette_score` (bench/silhouette.py writes the CSV and times scikit-learn on it).
//!
//! Input CSV: a header, then one row per customer: the scaled features, then the label
//! (0-based or 1-based integers; k is the number of distinct labels after renumbering).
//!
//! Usage: cargo run --release --example silhouette_bench -- --input scaled.csv [--reps 1]
//! Prints one JSON object on stdout.

use std::time::Instant;

use cardseg::cluster::silhouette;
use cardseg::scale::Matrix;

fn main() {
    let mut input = None;
    let mut reps = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--input" => input = args.next(),
            "--reps" => reps = args.next().and_then(|v| v.parse().ok()).unwrap_or(1).max(1),
            _ => {
                eprintln!("usage: silhouette_bench --input scaled.csv [--reps N]");
                std::process::exit(2);
            }
        }
    }
    let Some(input) = input else {
        eprintln!("usage: silhouette_bench --input scaled.csv [--reps N]");
        std::process::exit(2);
    };

    let t = Instant::now();
    let mut rdr = csv::Reader::from_path(&input).unwrap_or_else(|e| fail(&format!("{input}: {e}")));
    let width = rdr.headers().map(|h| h.len()).unwrap_or(0);
    if width < 2 {
        fail("need at least one feature column and a label column");
    }
    let d = width - 1;
    let mut data = Vec::new();
    let mut raw_labels: Vec<i64> = Vec::new();
    for rec in rdr.records() {
        let rec = rec.unwrap_or_else(|e| fail(&e.to_string()));
        for j in 0..d {
            data.push(
                rec[j]
                    .trim()
                    .parse::<f64>()
                    .unwrap_or_else(|e| fail(&format!("{}: {e}", &rec[j]))),
            );
        }
        raw_labels.push(
            rec[d]
                .trim()
                .parse::<i64>()
                .unwrap_or_else(|e| fail(&format!("{}: {e}", &rec[d]))),
        );
    }
    let read_secs = t.elapsed().as_secs_f64();
    // Renumber labels densely to 0..k.
    let mut distinct = raw_labels.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let labels: Vec<u32> = raw_labels
        .iter()
        .map(|l| distinct.binary_search(l).expect("label present") as u32)
        .collect();
    let k = distinct.len();
    let n = labels.len();
    let x = Matrix { n, d, data };

    let mut secs = Vec::with_capacity(reps);
    let mut value = f64::NAN;
    for _ in 0..reps {
        let t = Instant::now();
        value = silhouette::exact_many(&x, &[(&labels, k)])[0];
        secs.push(t.elapsed().as_secs_f64());
    }
    let best = secs.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "{}",
        serde_json::json!({
            "tool": "cardseg exact_many",
            "rows": n,
            "d": d,
            "k": k,
            "threads": rayon::current_num_threads(),
            "read_seconds": read_secs,
            "seconds": secs,
            "best_seconds": best,
            "silhouette": value,
            "pairs_per_second": (n as f64) * (n as f64) / best,
        })
    );
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1);
}
