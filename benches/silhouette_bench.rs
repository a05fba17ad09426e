//! Times cardseg's exact silhouette (`cluster::silhouette::exact_many`) on a scaled matrix
//! with labels read from a CSV, for the side-by-side with scikit-learn's
//! `silhouette_score` (bench/silhouette.py writes the CSV and times scikit-learn on it).
//!
//! Input CSV: a header, then one row per customer: the scaled features, then one or more
//! label columns (header names starting with "label"; 0-based or 1-based integers; k is
//! the number of distinct labels after renumbering). With several label columns (e.g.
//! the fits for k = 2..10) all silhouettes are computed in one `exact_many` call, as the
//! k sweep does, and `seconds` is the time of that one call.
//!
//! Usage: cargo bench --bench silhouette_bench -- --input scaled.csv [--reps 1]
//!        (or `bash bench/run.sh silhouette`, which writes the CSV)
//! Prints one JSON object on stdout. Without any argument (as `cargo test --all-targets`
//! runs it) it is a smoke run on 2,000 synthetic points with two labelings.

use std::time::Instant;

use cardseg::cluster::silhouette;
use cardseg::scale::Matrix;

fn main() {
    let mut input = None;
    let mut reps = 1usize;
    // `cargo bench` appends --bench; `cargo test` passes nothing: a smoke run.
    let _smoke_dir = (std::env::args().len() == 1).then(|| {
        let dir = tempfile::tempdir().unwrap_or_else(|e| fail(&e.to_string()));
        let path = dir.path().join("scaled.csv");
        std::fs::write(&path, smoke_csv(2_000)).unwrap_or_else(|e| fail(&e.to_string()));
        input = Some(path.to_string_lossy().into_owned());
        dir
    });
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
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
    let headers = rdr
        .headers()
        .unwrap_or_else(|e| fail(&format!("{input}: {e}")))
        .clone();
    let width = headers.len();
    let nlab = headers
        .iter()
        .rev()
        .take_while(|h| h.trim().to_ascii_lowercase().starts_with("label"))
        .count()
        .max(1);
    if width < nlab + 1 {
        fail("need at least one feature column and a label column");
    }
    let d = width - nlab;
    let mut data = Vec::new();
    let mut raw_labels: Vec<Vec<i64>> = vec![Vec::new(); nlab];
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
        for (l, raw) in raw_labels.iter_mut().enumerate() {
            raw.push(
                rec[d + l]
                    .trim()
                    .parse::<i64>()
                    .unwrap_or_else(|e| fail(&format!("{}: {e}", &rec[d + l]))),
            );
        }
    }
    let read_secs = t.elapsed().as_secs_f64();
    // Renumber each labeling densely to 0..k.
    let labelings: Vec<(Vec<u32>, usize)> = raw_labels
        .iter()
        .map(|raw| {
            let mut distinct = raw.clone();
            distinct.sort_unstable();
            distinct.dedup();
            let labels = raw
                .iter()
                .map(|l| distinct.binary_search(l).expect("label present") as u32)
                .collect();
            (labels, distinct.len())
        })
        .collect();
    let n = labelings[0].0.len();
    let ks: Vec<usize> = labelings.iter().map(|(_, k)| *k).collect();
    let lab: Vec<(&[u32], usize)> = labelings.iter().map(|(l, k)| (l.as_slice(), *k)).collect();
    let x = Matrix { n, d, data };

    let mut secs = Vec::with_capacity(reps);
    let mut values = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        values = silhouette::exact_many(&x, &lab);
        secs.push(t.elapsed().as_secs_f64());
    }
    let best = secs.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "{}",
        serde_json::json!({
            "tool": "cardseg exact_many",
            "rows": n,
            "d": d,
            "k": ks[0],
            "ks": ks,
            "threads": rayon::current_num_threads(),
            "read_seconds": read_secs,
            "seconds": secs,
            "best_seconds": best,
            "silhouette": values[0],
            "silhouettes": values,
            "pairs_per_second": (n as f64) * (n as f64) / best,
        })
    );
}

/// `n` points in three loose groups of the unit cube, with two labelings (by group, and
/// by group merged into two), as bench/silhouette.py writes them.
fn smoke_csv(n: usize) -> String {
    let mut rng = cardseg::rng::Rng::new(11);
    let mut text = String::from("f1,f2,f3,label_3,label_2\n");
    for i in 0..n {
        let g = i % 3;
        let c = 0.2 + 0.3 * g as f64;
        let mut v = [0.0; 3];
        for x in &mut v {
            *x = (c + 0.1 * rng.normal()).clamp(0.0, 1.0);
        }
        text.push_str(&format!("{},{},{},{g},{}\n", v[0], v[1], v[2], g.min(1)));
    }
    text
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1);
}
