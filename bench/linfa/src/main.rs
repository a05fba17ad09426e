//! The Rust peer of cardseg's benchmark: the same k sweep with `linfa-clustering`.
//!
//! Reads the CSV (only the three clustering features), fills missing cells with the column
//! median (numpy's median) or drops such rows, MinMax-scales like scikit-learn
//! (`x * scale + min`), then for k = k_min..=k_max fits `linfa_clustering::KMeans`
//! (k-means++ initialisation, `n_runs` restarts keeping the lowest inertia, at most 300
//! iterations) and labels every row with the fitted centres. Optionally computes linfa's
//! silhouette (`linfa::metrics::SilhouetteScore`, in the `linfa` core crate, exact and
//! O(n²)); above `--silhouette-exact-max` rows it is computed on a uniform random
//! sample of `--silhouette-sample` rows, as scikit-learn's `sample_size` does.
//!
//! Tolerance: linfa stops when the Euclidean norm of the centre shift is below
//! `tolerance`, scikit-learn when the *squared* shift is at most `tol × mean feature
//! variance`. By default this program passes `sqrt(1e-4 × mean variance)` so both stop on
//! the same rule (`--linfa-default-tol` keeps linfa's own 1e-4 instead).
//!
//! Inertia is recomputed from the returned centres as the plain sum of squared
//! distances of every row to its nearest centre (linfa's `inertia()` is a per-row mean),
//! so it compares directly with scikit-learn's `inertia_` and cardseg's k_selection.csv.
//!
//! Usage: cardseg-linfa-bench --input F.csv [--missing median|drop] [--k-min 2]
//!        [--k-max 10] [--n-runs 10] [--seed 42] [--silhouette]
//!        [--silhouette-exact-max 20000] [--silhouette-sample 20000] [--linfa-default-tol]
//! Prints one JSON object on stdout.

use std::time::Instant;

use linfa::prelude::*;
use linfa_clustering::KMeans;
use ndarray::{Array1, Array2, Axis};
use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256Plus;

const FEATURES: [&str; 3] = ["BALANCE", "PURCHASES", "CREDIT_LIMIT"];

struct Opts {
    input: String,
    drop_missing: bool,
    k_min: usize,
    k_max: usize,
    n_runs: usize,
    seed: u64,
    silhouette: bool,
    sil_exact_max: usize,
    sil_sample: usize,
    default_tol: bool,
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        input: String::new(),
        drop_missing: false,
        k_min: 2,
        k_max: 10,
        n_runs: 10,
        seed: 42,
        silhouette: false,
        sil_exact_max: 20_000,
        sil_sample: 20_000,
        default_tol: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let num = |s: String| s.parse::<usize>().map_err(|e| format!("{s}: {e}"));
        match a.as_str() {
            "--input" => o.input = val("--input")?,
            "--missing" => match val("--missing")?.as_str() {
                "median" => o.drop_missing = false,
                "drop" => o.drop_missing = true,
                other => return Err(format!("--missing {other}: use median or drop")),
            },
            "--k-min" => o.k_min = num(val("--k-min")?)?,
            "--k-max" => o.k_max = num(val("--k-max")?)?,
            "--n-runs" => o.n_runs = num(val("--n-runs")?)?,
            "--seed" => o.seed = num(val("--seed")?)? as u64,
            "--silhouette" => o.silhouette = true,
            "--silhouette-exact-max" => o.sil_exact_max = num(val("--silhouette-exact-max")?)?,
            "--silhouette-sample" => o.sil_sample = num(val("--silhouette-sample")?)?,
            "--linfa-default-tol" => o.default_tol = true,
            "-h" | "--help" => {
                println!("see the comment at the top of bench/linfa/src/main.rs");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.input.is_empty() {
        return Err("--input is required".into());
    }
    if o.k_min < 2 || o.k_min > o.k_max {
        return Err("need 2 <= --k-min <= --k-max".into());
    }
    Ok(o)
}

/// The three feature columns, NaN for empty cells.
fn read_features(path: &str) -> Result<Vec<Vec<f64>>, String> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .buffer_capacity(1 << 16)
        .from_path(path)
        .map_err(|e| format!("{path}: {e}"))?;
    let header = rdr.byte_headers().map_err(|e| e.to_string())?.clone();
    let idx: Vec<usize> = FEATURES
        .iter()
        .map(|f| {
            header
                .iter()
                .position(|h| h == f.as_bytes())
                .ok_or(format!("{path}: no column {f}"))
        })
        .collect::<Result<_, _>>()?;
    let mut cols = vec![Vec::new(); FEATURES.len()];
    let mut rec = csv::ByteRecord::new();
    while rdr.read_byte_record(&mut rec).map_err(|e| e.to_string())? {
        for (c, &j) in idx.iter().enumerate() {
            let raw = rec.get(j).unwrap_or(b"").trim_ascii();
            let v = if raw.is_empty() {
                f64::NAN
            } else {
                std::str::from_utf8(raw)
                    .ok()
                    .and_then(|s| s.parse::<f64>().ok())
                    .ok_or(format!("{path}: bad number in {}", FEATURES[c]))?
            };
            cols[c].push(v);
        }
    }
    Ok(cols)
}

/// numpy's median of the non-missing values.
fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        let (lo, hi) = (s[n / 2 - 1], s[n / 2]);
        lo + (hi - lo) / 2.0
    }
}

fn sqdist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Nearest-centre labels and the plain inertia (sum of squared distances).
fn label_and_inertia(x: &Array2<f64>, centers: &Array2<f64>) -> (Vec<usize>, f64) {
    let c: Vec<&[f64]> = centers
        .outer_iter()
        .map(|r| r.to_slice().expect("contiguous"))
        .collect();
    let mut labels = Vec::with_capacity(x.nrows());
    let mut inertia = 0.0;
    for row in x.outer_iter() {
        let row = row.to_slice().expect("contiguous");
        let (mut best, mut bd) = (0, f64::INFINITY);
        for (j, cj) in c.iter().enumerate() {
            let d = sqdist(row, cj);
            if d < bd {
                best = j;
                bd = d;
            }
        }
        labels.push(best);
        inertia += bd;
    }
    (labels, inertia)
}

fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let t_all = Instant::now();
    let mut stages: Vec<(&str, f64)> = Vec::new();
    let mut t = Instant::now();
    let lap = |name: &'static str, t: &mut Instant, stages: &mut Vec<(&str, f64)>| {
        stages.push((name, t.elapsed().as_secs_f64()));
        *t = Instant::now();
    };

    let mut cols = match read_features(&o.input) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    lap("read", &mut t, &mut stages);

    let rows_in = cols[0].len();
    if o.drop_missing {
        let keep: Vec<bool> = (0..rows_in)
            .map(|i| cols.iter().all(|c| !c[i].is_nan()))
            .collect();
        for c in &mut cols {
            let mut i = 0;
            c.retain(|_| {
                i += 1;
                keep[i - 1]
            });
        }
    } else {
        for c in &mut cols {
            let m = median(c);
            c.iter_mut().filter(|v| v.is_nan()).for_each(|v| *v = m);
        }
    }
    lap("clean", &mut t, &mut stages);

    let n = cols[0].len();
    let d = cols.len();
    let mut x = Array2::<f64>::zeros((n, d));
    let mut mean_var = 0.0;
    for (j, c) in cols.iter().enumerate() {
        let (lo, hi) = c
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        let scale = 1.0 / (hi - lo);
        let min = 0.0 - lo * scale;
        for (i, &v) in c.iter().enumerate() {
            x[[i, j]] = v * scale + min;
        }
        let col = x.column(j);
        let mean = col.sum() / n as f64;
        mean_var += col.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
    }
    mean_var /= d as f64;
    drop(cols);
    lap("scale", &mut t, &mut stages);

    let tol = if o.default_tol {
        1e-4
    } else {
        (1e-4 * mean_var).sqrt()
    };
    let dataset = DatasetBase::from(x.clone());
    let mut fits = Vec::new();
    let mut fit_secs = Vec::new();
    for k in o.k_min..=o.k_max {
        let tk = Instant::now();
        let rng = Xoshiro256Plus::seed_from_u64(o.seed.wrapping_add(k as u64));
        let model = KMeans::params_with_rng(k, rng)
            .n_runs(o.n_runs)
            .max_n_iterations(300)
            .tolerance(tol)
            .fit(&dataset)
            .unwrap_or_else(|e| {
                eprintln!("error: k = {k}: {e}");
                std::process::exit(1);
            });
        fit_secs.push(tk.elapsed().as_secs_f64());
        fits.push((k, model.centroids().clone()));
    }
    lap("kmeans sweep", &mut t, &mut stages);

    // Labels and plain inertia from the fitted centres (one assignment pass per k).
    let labelled: Vec<(usize, Vec<usize>, f64)> = fits
        .iter()
        .map(|(k, c)| {
            let (l, i) = label_and_inertia(&x, c);
            (*k, l, i)
        })
        .collect();
    lap("labels+inertia", &mut t, &mut stages);

    let mut sil: Vec<Option<f64>> = vec![None; labelled.len()];
    let mut sil_method = "not run";
    if o.silhouette {
        // The rows the silhouette is computed on: all, or a uniform sample.
        let idx: Vec<usize> = if n <= o.sil_exact_max {
            sil_method = "exact";
            (0..n).collect()
        } else {
            sil_method = "sampled";
            let mut rng = Xoshiro256Plus::seed_from_u64(o.seed);
            let mut all: Vec<usize> = (0..n).collect();
            let m = o.sil_sample.min(n);
            for i in 0..m {
                let j = i + (rng.next_u64() % (n - i) as u64) as usize;
                all.swap(i, j);
            }
            all.truncate(m);
            all
        };
        let sub = x.select(Axis(0), &idx);
        for (s, (_, labels, _)) in sil.iter_mut().zip(&labelled) {
            let targets: Array1<usize> = idx.iter().map(|&i| labels[i]).collect();
            let ds = DatasetBase::new(sub.clone(), targets);
            *s = ds.silhouette_score().ok();
        }
    }
    lap("silhouette", &mut t, &mut stages);

    let total = t_all.elapsed().as_secs_f64();
    let stage_json: serde_json::Map<String, serde_json::Value> = stages
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
        .collect();
    let out = serde_json::json!({
        "tool": "linfa",
        "linfa_version": "0.8",
        "input": o.input,
        "rows_in": rows_in,
        "rows": n,
        "n_runs": o.n_runs,
        "tolerance": tol,
        "tolerance_rule": if o.default_tol { "linfa default 1e-4 on the centre-shift norm" } else { "sqrt(1e-4 x mean variance) on the centre-shift norm (= scikit-learn's rule)" },
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "stages": stage_json,
        "total": total,
        "k": labelled.iter().map(|(k, _, _)| k).collect::<Vec<_>>(),
        "inertia": labelled.iter().map(|(_, _, i)| i).collect::<Vec<_>>(),
        "fit_seconds": fit_secs,
        "silhouette": sil,
        "silhouette_method": sil_method,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
