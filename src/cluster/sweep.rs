//! The k sweep: for every k, `n_init` k-means++ restarts run with the small-input
//! kernels, the promising ones are finished (Lloyd to a fixed point, then Hartigan), a
//! swap search tries to leave the best basin, and on large inputs the winner is
//! refined on every row.
//!
//! Determinism: every restart and swap trial draws from its own stream derived from
//! (seed, k, restart or trial), and parallel results are combined in a fixed order, so
//! results are identical whatever the number of threads.

use std::collections::HashMap;

use rayon::prelude::*;

use super::lloyd::lloyd_from;
use super::params::{KMeansFit, KMeansParams, KMeansValidParams};
use super::simd::dispatch_d;
use super::small::Small;
use super::{search_cumulative, sqdist, CHUNK};
use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::rng::{sample_indices, Rng};
use crate::scale::Matrix;

/// Above this many rows the restarts, Hartigan polish and swap search run on a random
/// sample of this size, and each k's best centres are then refined by Lloyd on all rows.
/// The search for a good basin needs the shape of the data, not every customer; the
/// refinement makes the centres exact for the full data.
pub const SAMPLE_FIT_ROWS: usize = 25_000;
/// Sizes of the random samples Lloyd runs on between the search on [`SAMPLE_FIT_ROWS`] rows
/// and the refinement on every row, each used when the input has at least four times as
/// many rows. Centres converged on a sample are close to those of all rows, so the
/// passes over every row are fewer. But a small stage can carry Lloyd to another local
/// optimum than all rows would, so one stage, big enough for its optimum to be that of
/// all rows in practice (the measurements behind both: bench/RESULTS.md); and a second,
/// larger stage from ten million rows up: its centres are close enough to those of all
/// rows that the refinement on every row makes one to three passes over them instead of
/// up to a dozen.
pub const STAGE_ROWS: [usize; 2] = [500_000, 2_000_000];
/// Lloyd results within this relative distance of the best get the Hartigan polish;
/// Hartigan gains are small, so runs further behind cannot overtake.
const POLISH_MARGIN: f64 = 1e-3;

/// Fits K-Means for one k.
pub fn fit(x: &Matrix, p: &KMeansParams) -> Result<KMeansFit> {
    Ok(fit_sweep(x, &[p.k], p, &|| {}, &Cancel::default())?.remove(0))
}

/// Fits K-Means for every k in `ks` (each with `n_init` restarts), sharing the work
/// across threads: restarts run side by side, and large inputs are searched on a sample,
/// then refined on every row. The parameters, with each k, are checked before any work.
///
/// `on_run_done` is called after each restart. Once `cancel` is set, restarts not yet
/// started are skipped and the sweep returns [`Error::Cancelled`].
pub fn fit_sweep(
    x: &Matrix,
    ks: &[usize],
    base: &KMeansParams,
    on_run_done: &(dyn Fn() + Sync),
    cancel: &Cancel,
) -> Result<Vec<KMeansFit>> {
    let Some(&k0) = ks.first() else {
        return Ok(Vec::new());
    };
    for &k in ks {
        KMeansParams { k, ..base.clone() }
            .check()?
            .check_rows(x.n)?;
    }
    let base = KMeansParams {
        k: k0,
        ..base.clone()
    }
    .check()?;
    if x.n > SAMPLE_FIT_ROWS {
        return fit_sweep_sampled(x, ks, &base, on_run_done, cancel);
    }
    let var = mean_variance(x);
    let tols = Tols {
        coarse: base.tol * var,
        fine: base.tol * var,
    };
    let tasks: Vec<(usize, usize)> = ks
        .iter()
        .flat_map(|&k| (0..base.n_init).map(move |r| (k, r)))
        .collect();
    // At most SAMPLE_FIT_ROWS rows here: the restarts run side by side, each on one
    // thread, with the SIMD kernels of `small` (same results as `lloyd_from`,
    // `hartigan_refine` and `final_assign`, several times faster at this size).
    let s = Small::new(x);
    let run = |&(k, r): &(usize, usize)| -> Result<KMeansFit> {
        cancel.check()?;
        let out = run_once(&s, k, &base, r, tols.coarse);
        on_run_done();
        Ok(out)
    };
    let runs: Vec<KMeansFit> = tasks.par_iter().map(run).collect::<Result<_>>()?;
    // Restarts stop at the coarse tolerance; those that could still win (within
    // POLISH_MARGIN of their k's best) are finished: Lloyd to a fixed point, then Hartigan.
    // A finish depends only on the centres it starts from, so restarts that converged to
    // the same centres share one.
    let best_coarse = pick_best(runs.clone());
    let promising: Vec<bool> = runs
        .iter()
        .map(|f| {
            let bc = best_coarse
                .iter()
                .find(|b| b.k == f.k)
                .map_or(f64::INFINITY, |b| b.inertia);
            f.inertia <= bc * (1.0 + POLISH_MARGIN)
        })
        .collect();
    drop(best_coarse);
    let mut finished = Finished::default();
    finished.add(
        &s,
        runs.iter()
            .zip(&promising)
            .filter(|(_, &p)| p)
            .map(|(f, _)| f),
        tols.fine,
        base.max_iter,
    );
    let runs: Vec<KMeansFit> = runs
        .into_iter()
        .zip(&promising)
        .map(|(f, &p)| if p { finished.get(&f) } else { f })
        .collect();
    cancel.check()?;
    let best: Vec<KMeansFit> = pick_best(runs)
        .into_par_iter()
        .map(|b| {
            let mut own = finished.of_k(b.k);
            swap_search(&s, b, &base, tols, &mut own)
        })
        .collect();
    for b in &best {
        if let Some(c) = b.counts.iter().position(|&c| c == 0) {
            return Err(Error::usage(format!(
                "k = {}: segment {c} is empty because the customers have fewer than {} distinct combinations of the features; lower k",
                b.k, b.k
            )));
        }
    }
    Ok(best)
}

/// Large inputs: the full search on a sample, then Lloyd on every row from the sample's
/// best centres to a fixed point ([`super::lloyd::refine`]: the same iterates as
/// [`super::hamerly::hamerly`], but late iterations scan only the rows near a
/// boundary). The returned fits carry no labels (at 10 million rows, one label vector
/// per k would cost more memory than the data); callers label with
/// [`super::scan::assign`].
fn fit_sweep_sampled(
    x: &Matrix,
    ks: &[usize],
    base: &KMeansValidParams,
    on_run_done: &(dyn Fn() + Sync),
    cancel: &Cancel,
) -> Result<Vec<KMeansFit>> {
    let idx = sample_indices(x.n, SAMPLE_FIT_ROWS, base.seed ^ 0x5A4D_F17E);
    let d = x.d;
    let mut data = Vec::with_capacity(idx.len() * d);
    for &i in &idx {
        data.extend_from_slice(x.row(i));
    }
    let sample = Matrix {
        n: idx.len(),
        d,
        data,
    };
    drop(idx);
    let on_sample = fit_sweep(&sample, ks, base, on_run_done, cancel)?;
    drop(sample);
    let tol = base.tol * mean_variance(x);
    // Larger samples in between: most Lloyd iterations happen on them instead of on
    // every row (see STAGE_ROWS).
    let stages: Vec<Matrix> = STAGE_ROWS
        .iter()
        .filter(|&&m| m.saturating_mul(4) <= x.n)
        .map(|&m| {
            let idx = sample_indices(x.n, m, base.seed ^ 0x3417_A6E5);
            let mut data = Vec::with_capacity(idx.len() * d);
            for &i in &idx {
                data.extend_from_slice(x.row(i));
            }
            Matrix {
                n: idx.len(),
                d,
                data,
            }
        })
        .collect();
    let mut out = Vec::with_capacity(on_sample.len());
    for f in on_sample {
        cancel.check()?;
        let mut start = f.centroids.clone();
        for st in &stages {
            let tol_st = base.tol * mean_variance(st);
            if let Some(r) = super::lloyd::refine(st, start.clone(), base.max_iter, tol_st) {
                start = r.centers;
            }
        }
        let mut full = match super::lloyd::refine(x, start, base.max_iter, tol) {
            Some(r) => KMeansFit {
                k: f.k,
                d,
                centroids: r.centers,
                labels: Vec::new(),
                counts: r.counts,
                inertia: r.inertia,
                n_iter: r.n_iter,
                best_init: 0,
            },
            // A segment emptied: the general path relocates it.
            None => lloyd_from(x, f.centroids, base.max_iter, tol, true),
        };
        full.best_init = f.best_init;
        full.labels = Vec::new();
        if let Some(c) = full.counts.iter().position(|&c| c == 0) {
            return Err(Error::usage(format!(
                "k = {}: segment {c} is empty; the customers have fewer than {} distinct combinations of the features; lower k",
                full.k, full.k
            )));
        }
        out.push(full);
    }
    Ok(out)
}

/// The lowest-inertia run of each k (the first on ties); runs arrive grouped by k.
fn pick_best(runs: Vec<KMeansFit>) -> Vec<KMeansFit> {
    let mut best: Vec<KMeansFit> = Vec::new();
    for fit in runs {
        match best.last_mut() {
            Some(b) if b.k == fit.k => {
                if fit.inertia < b.inertia {
                    *b = fit;
                }
            }
            _ => best.push(fit),
        }
    }
    best
}

/// Mean of the per-feature variances (scikit-learn's `_tolerance`).
fn mean_variance(x: &Matrix) -> f64 {
    let (n, d) = (x.n, x.d);
    if n == 0 {
        return 0.0;
    }
    let mut total = 0.0;
    for j in 0..d {
        let mean = x.data.iter().skip(j).step_by(d).sum::<f64>() / n as f64;
        let var = x
            .data
            .iter()
            .skip(j)
            .step_by(d)
            .map(|v| (v - mean) * (v - mean))
            .sum::<f64>()
            / n as f64;
        total += var;
    }
    total / d as f64
}

fn run_once(s: &Small, k: usize, p: &KMeansValidParams, restart: usize, tol: f64) -> KMeansFit {
    let mut rng = Rng::derive(p.seed, &[k as u64, restart as u64]);
    let centers = s.plusplus(k, &mut rng);
    let mut fit = s.lloyd(centers, p.max_iter, tol);
    fit.best_init = restart;
    fit
}

/// The two convergence tolerances (absolute, already scaled by the data's variance).
#[derive(Clone, Copy)]
struct Tols {
    /// Where restarts and swap trials stop. Equal to `fine` today: stopping early at
    /// scikit-learn's 1e-4 ranked restarts worse and lost the best basin on the real
    /// file (k = 10), for a 6% saving; kept separate to tune per input size.
    coarse: f64,
    /// Where the finalists stop (0: a fixed point).
    fine: f64,
}

/// Finished fits by the bits of the centres they started from (and k): [`finish`] is a
/// function of those alone, so each distinct start is finished once.
#[derive(Default)]
struct Finished(HashMap<(usize, Vec<u64>), KMeansFit>);

impl Finished {
    fn key(f: &KMeansFit) -> (usize, Vec<u64>) {
        (f.k, f.centroids.iter().map(|v| v.to_bits()).collect())
    }

    /// Finishes (in parallel) every fit of `fits` whose start is not known yet.
    fn add<'f>(
        &mut self,
        s: &Small,
        fits: impl Iterator<Item = &'f KMeansFit>,
        tol: f64,
        max_iter: usize,
    ) {
        let mut todo: Vec<&KMeansFit> = Vec::new();
        let mut keys = std::collections::HashSet::new();
        for f in fits {
            let key = Self::key(f);
            if !self.0.contains_key(&key) && keys.insert(key) {
                todo.push(f);
            }
        }
        let done: Vec<KMeansFit> = todo
            .par_iter()
            .map(|&f| finish(s, f.clone(), tol, max_iter))
            .collect();
        for (f, r) in todo.into_iter().zip(done) {
            self.0.insert(Self::key(f), r);
        }
    }

    /// The finished `f` (which [`Finished::add`] saw), with its own restart number.
    fn get(&self, f: &KMeansFit) -> KMeansFit {
        KMeansFit {
            best_init: f.best_init,
            ..self.0[&Self::key(f)].clone()
        }
    }

    /// The finished fits of one k.
    fn of_k(&self, k: usize) -> Finished {
        Finished(
            self.0
                .iter()
                .filter(|(key, _)| key.0 == k)
                .map(|(key, f)| (key.clone(), f.clone()))
                .collect(),
        )
    }
}

/// Finishes a promising fit: Lloyd from its centres to `tol`, then Hartigan polish,
/// then labels, sizes and inertia recomputed.
///
/// When the polish moves no customer and its centres (the exact means of Lloyd's
/// labels) are Lloyd's to the bit, the recomputation would scan for the very centres
/// Lloyd's last assignment scanned for: its labels, sizes and inertia stand.
fn finish(s: &Small, f: KMeansFit, tol: f64, max_iter: usize) -> KMeansFit {
    let best_init = f.best_init;
    let mut f = s.lloyd(f.centroids, max_iter, tol);
    f.best_init = best_init;
    let before = f.labels.clone();
    let centroids = s.hartigan(&mut f.labels, f.k);
    let same = f.labels == before
        && centroids
            .iter()
            .zip(&f.centroids)
            .all(|(a, b)| a.to_bits() == b.to_bits());
    f.centroids = centroids;
    if !same {
        let (inertia, counts) = s.assign(&f.centroids, &mut f.labels);
        f.inertia = inertia;
        f.counts = counts;
    }
    f
}

/// Swap search (after Kanungo et al.): from the best solution, move one centroid to a
/// customer drawn in proportion to its squared distance (the k-means++ rule), re-run
/// Lloyd + Hartigan, and keep the result if inertia drops. Random restarts rarely
/// escape a basin that is almost as good as the best one; a swap does, cheaply.
/// Trials of a round run in parallel, each with its own stream, and the best wins
/// (first on ties), so the result does not depend on the thread count.
fn swap_search(
    s: &Small,
    mut cur: KMeansFit,
    p: &KMeansValidParams,
    tols: Tols,
    finished: &mut Finished,
) -> KMeansFit {
    let x = s.x;
    let (d, k) = (x.d, cur.k);
    if k < 2 || p.swap_trials == 0 {
        return cur;
    }
    for round in 0..p.swap_rounds {
        let dist: Vec<f64> = (0..x.n)
            .map(|i| {
                let c = cur.labels[i] as usize;
                dispatch_d!(d, sqdist(x.row(i), &cur.centroids[c * d..(c + 1) * d], d))
            })
            .collect();
        let chunk_totals: Vec<f64> = dist.chunks(CHUNK).map(|c| c.iter().sum()).collect();
        let total: f64 = chunk_totals.iter().sum();
        if total.is_nan() || total <= 0.0 {
            break;
        }
        let trial = |t: usize| {
            let mut rng = Rng::derive(p.seed, &[0x5A_u64, k as u64, round as u64, t as u64]);
            let mut centers = cur.centroids.clone();
            let drop = rng.below(k as u64) as usize;
            let pick = search_cumulative(&dist, &chunk_totals, rng.uniform() * total);
            centers[drop * d..(drop + 1) * d].copy_from_slice(x.row(pick));
            s.lloyd(centers, p.max_iter, tols.coarse)
        };
        let coarse: Vec<KMeansFit> = (0..p.swap_trials).into_par_iter().map(trial).collect();
        // The promising trials are finished (once per distinct centres).
        let promising = |f: &KMeansFit| f.inertia <= cur.inertia * (1.0 + POLISH_MARGIN);
        finished.add(
            s,
            coarse.iter().filter(|f| promising(f)),
            tols.fine,
            p.max_iter,
        );
        let cands: Vec<KMeansFit> = coarse
            .into_iter()
            .map(|f| if promising(&f) { finished.get(&f) } else { f })
            .collect();
        let mut improved = false;
        for c in cands {
            if c.counts.iter().all(|&n| n > 0) && c.inertia < cur.inertia * (1.0 - 1e-12) {
                cur = KMeansFit {
                    best_init: cur.best_init,
                    ..c
                };
                improved = true;
            }
        }
        if !improved {
            break;
        }
    }
    cur
}
