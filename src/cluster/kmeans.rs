//! K-Means, written by hand because it is the product's edge: greedy k-means++ seeding
//! (scikit-learn's algorithm, with 2 + ln k local trials), `n_init` restarts keeping the
//! lowest inertia, Lloyd iterations with scikit-learn's tolerance rule, empty clusters
//! re-seeded with the farthest points, and a final assignment pass so labels always
//! match the centres.
//!
//! Determinism: every reduction is done over fixed chunks of rows and summed in chunk
//! order, and every restart draws from its own stream derived from (seed, k, restart),
//! so results are identical whatever the number of threads.

use rayon::prelude::*;

use super::lloyd::chunked;
use super::small::Small;
use super::{dim, dispatch_d, half_separations, move_to_means, set_exact_means, sqdist};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::scale::Matrix;

/// Rows per chunk of every parallel pass. Fixed, so sums do not depend on thread count.
pub const CHUNK: usize = 4096;
/// Below this many rows a restart runs on one thread and restarts run side by side.
const INNER_PARALLEL_ROWS: usize = 100_000;
/// Above this many rows the restarts, Hartigan polish and swap search run on a random
/// sample of this size, and each k's best centres are then refined by Lloyd on all rows.
/// The search for a good basin needs the shape of the data, not every customer; the
/// refinement makes the centres exact for the full data.
pub const SAMPLE_FIT_ROWS: usize = 25_000;
/// Sizes of the random samples Lloyd runs on between the search on [`SAMPLE_FIT_ROWS`] rows
/// and the refinement on every row, each used when the input has at least four times as
/// many rows. Centres converged on a sample are close to those of all rows, so the
/// passes over every row are fewer. On 10M generated rows, sweep k = 2..10: no stage
/// 3.71 s; 500k 2.57 s; 100k then 500k 2.40-2.42 s; 100k then 400k 2.57-2.77 s; 100k,
/// 400k then 1.6M 2.91 s; 250k then 2.5M 3.11 s. But a small stage can carry Lloyd to
/// another local optimum than all rows would: with a 100k stage, 1M generated rows ended
/// at k = 7 with 0.012% more inertia than scikit-learn (without it, below at every k).
/// So one stage, big enough for its optimum to be that of all rows in practice.
pub const STAGE_ROWS: [usize; 1] = [500_000];
/// Lloyd results within this relative distance of the best get the Hartigan polish;
/// Hartigan gains are small, so runs further behind cannot overtake.
const POLISH_MARGIN: f64 = 1e-3;

#[derive(Debug, Clone, PartialEq)]
pub struct KMeansParams {
    pub k: usize,
    pub n_init: usize,
    pub max_iter: usize,
    /// Relative tolerance: multiplied by the mean feature variance, as in scikit-learn.
    /// The default 0 iterates to a fixed point (no label changes), where scikit-learn
    /// stops at 1e-4: Lloyd steps never raise inertia, so going on can only lower it.
    pub tol: f64,
    pub seed: u64,
    /// Swap-search trials per round after the restarts (0 turns it off).
    pub swap_trials: usize,
    /// At most this many swap rounds; a round without improvement ends the search.
    pub swap_rounds: usize,
}

impl Default for KMeansParams {
    fn default() -> Self {
        KMeansParams {
            k: 3,
            n_init: 10,
            max_iter: 300,
            tol: 0.0,
            seed: 42,
            swap_trials: 8,
            swap_rounds: 4,
        }
    }
}

impl KMeansParams {
    /// Validates the parameters against the number of rows before any work starts.
    pub fn check(&self, n: usize) -> Result<()> {
        if self.k == 0 {
            return Err(Error::usage("k must be at least 1"));
        }
        if self.n_init == 0 {
            return Err(Error::usage("--n-init must be at least 1"));
        }
        if self.max_iter == 0 {
            return Err(Error::usage("max_iter must be at least 1"));
        }
        if !(self.tol >= 0.0 && self.tol.is_finite()) {
            return Err(Error::usage("tol must be a finite number >= 0"));
        }
        if self.k > n {
            return Err(Error::usage(format!(
                "k = {} but there are only {n} customers; lower k (or --k-max)",
                self.k
            )));
        }
        Ok(())
    }
}

/// A fitted K-Means model, before segment renumbering.
#[derive(Debug, Clone)]
pub struct KMeansFit {
    pub k: usize,
    pub d: usize,
    /// k × d, row-major, in scaled units.
    pub centroids: Vec<f64>,
    pub labels: Vec<u32>,
    pub counts: Vec<u64>,
    pub inertia: f64,
    pub n_iter: usize,
    /// Which restart won.
    pub best_init: usize,
}

/// Fits K-Means for one k.
pub fn fit(x: &Matrix, p: &KMeansParams) -> Result<KMeansFit> {
    Ok(fit_sweep(x, &[p.k], p, &|| {})?.remove(0))
}

/// Fits K-Means for every k in `ks` (each with `n_init` restarts), sharing the work
/// across threads: restarts of small inputs run side by side, large inputs are split by rows.
pub fn fit_sweep(
    x: &Matrix,
    ks: &[usize],
    base: &KMeansParams,
    on_run_done: &(dyn Fn() + Sync),
) -> Result<Vec<KMeansFit>> {
    for &k in ks {
        KMeansParams { k, ..base.clone() }.check(x.n)?;
    }
    if x.n > SAMPLE_FIT_ROWS {
        return fit_sweep_sampled(x, ks, base, on_run_done);
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
    // Inputs that reach here have at most SAMPLE_FIT_ROWS rows: restarts run side by side.
    let inner = false;
    // Restarts, polish and swaps use the SIMD kernels of `small` (same results as
    // `lloyd_from`, `hartigan_refine` and `final_assign`, several times faster here).
    let s = Small::new(x);
    let run = |&(k, r): &(usize, usize)| {
        let out = run_once(&s, k, base, r, tols.coarse);
        on_run_done();
        out
    };
    let runs: Vec<KMeansFit> = if inner {
        tasks.iter().map(run).collect()
    } else {
        tasks.par_iter().map(run).collect()
    };
    // Restarts stop at scikit-learn's tolerance; those that could still win (within
    // POLISH_MARGIN of their k's best; on large inputs only the best) are finished: Lloyd
    // to a fixed point, then Hartigan.
    let best_coarse = pick_best(runs.clone());
    let margin = if inner { 0.0 } else { POLISH_MARGIN };
    let finish_one = |f: KMeansFit| {
        let bc = best_coarse
            .iter()
            .find(|b| b.k == f.k)
            .map_or(f64::INFINITY, |b| b.inertia);
        if f.inertia <= bc * (1.0 + margin) {
            finish(&s, f, tols.fine, base.max_iter)
        } else {
            f
        }
    };
    let runs: Vec<KMeansFit> = if inner {
        runs.into_iter().map(finish_one).collect()
    } else {
        runs.into_par_iter().map(finish_one).collect()
    };
    drop(best_coarse);
    let best: Vec<KMeansFit> = if inner {
        pick_best(runs)
            .into_iter()
            .map(|b| swap_search(&s, b, base, tols, true))
            .collect()
    } else {
        pick_best(runs)
            .into_par_iter()
            .map(|b| swap_search(&s, b, base, tols, false))
            .collect()
    };
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
/// [`hamerly`], but late iterations scan only the rows near a boundary). The returned fits carry no labels
/// (at 10 million rows, one label vector per k would cost more memory than the data);
/// callers label with [`assign`].
fn fit_sweep_sampled(
    x: &Matrix,
    ks: &[usize],
    base: &KMeansParams,
    on_run_done: &(dyn Fn() + Sync),
) -> Result<Vec<KMeansFit>> {
    let idx =
        crate::cluster::silhouette::sample_indices(x.n, SAMPLE_FIT_ROWS, base.seed ^ 0x5A4D_F17E);
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
    let on_sample = fit_sweep(&sample, ks, base, on_run_done)?;
    drop(sample);
    let tol = base.tol * mean_variance(x);
    // Larger samples in between: most Lloyd iterations happen on them instead of on
    // every row (see STAGE_ROWS).
    let stages: Vec<Matrix> = STAGE_ROWS
        .iter()
        .filter(|&&m| m.saturating_mul(4) <= x.n)
        .map(|&m| {
            let idx = crate::cluster::silhouette::sample_indices(x.n, m, base.seed ^ 0x3417_A6E5);
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

/// Hartigan's single-point moves from a Lloyd fixed point: move a customer to another
/// segment whenever that lowers the total inertia once both centroids are updated
/// (gain n_b/(n_b+1)·|x−c_b|² < n_a/(n_a−1)·|x−c_a|²). Lloyd cannot see these moves, so
/// this reaches lower minima; every Hartigan optimum is also a Lloyd fixed point.
/// Sequential by design (each move changes the centroids the next row sees), hence
/// deterministic. Returns the centroids recomputed exactly from the final labels.
pub(super) fn hartigan_refine(x: &Matrix, labels: &mut [u32], k: usize) -> Vec<f64> {
    let d = x.d;
    let mut sums = vec![0.0; k * d];
    let mut counts = vec![0u64; k];
    for (row, &l) in x.data.chunks_exact(d).zip(labels.iter()) {
        let l = l as usize;
        counts[l] += 1;
        for j in 0..d {
            sums[l * d + j] += row[j];
        }
    }
    let mut centers = vec![0.0; k * d];
    let update = |centers: &mut [f64], sums: &[f64], counts: &[u64], c: usize| {
        for j in 0..d {
            centers[c * d + j] = if counts[c] > 0 {
                sums[c * d + j] / counts[c] as f64
            } else {
                0.0
            };
        }
    };
    for c in 0..k {
        update(&mut centers, &sums, &counts, c);
    }
    for _pass in 0..50 {
        let mut moved = 0u64;
        for (i, row) in x.data.chunks_exact(d).enumerate() {
            let a = labels[i] as usize;
            if counts[a] <= 1 {
                continue;
            }
            let na = counts[a] as f64;
            let cost_out =
                dispatch_d!(d, sqdist(row, &centers[a * d..(a + 1) * d], d)) * na / (na - 1.0);
            let mut best = (a, cost_out * (1.0 - 1e-12));
            for b in 0..k {
                if b == a {
                    continue;
                }
                let nb = counts[b] as f64;
                let cost_in =
                    dispatch_d!(d, sqdist(row, &centers[b * d..(b + 1) * d], d)) * nb / (nb + 1.0);
                if cost_in < best.1 {
                    best = (b, cost_in);
                }
            }
            let b = best.0;
            if b != a {
                for j in 0..d {
                    sums[a * d + j] -= row[j];
                    sums[b * d + j] += row[j];
                }
                counts[a] -= 1;
                counts[b] += 1;
                update(&mut centers, &sums, &counts, a);
                update(&mut centers, &sums, &counts, b);
                labels[i] = b as u32;
                moved += 1;
            }
        }
        if moved == 0 {
            break;
        }
    }
    // Exact means of the final partition (the running sums carry rounding).
    sums.iter_mut().for_each(|s| *s = 0.0);
    for (row, &l) in x.data.chunks_exact(d).zip(labels.iter()) {
        for j in 0..d {
            sums[l as usize * d + j] += row[j];
        }
    }
    for c in 0..k {
        update(&mut centers, &sums, &counts, c);
    }
    centers
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

/// Maps a chunked pass over rows, in parallel or not; results come back in chunk order.
fn map_chunks<T: Send>(
    data: &[f64],
    d: usize,
    parallel: bool,
    f: impl Fn(usize, &[f64]) -> T + Sync + Send,
) -> Vec<T> {
    if parallel {
        data.par_chunks(CHUNK * d)
            .enumerate()
            .map(|(c, rows)| f(c * CHUNK, rows))
            .collect()
    } else {
        data.chunks(CHUNK * d)
            .enumerate()
            .map(|(c, rows)| f(c * CHUNK, rows))
            .collect()
    }
}

fn run_once(s: &Small, k: usize, p: &KMeansParams, restart: usize, tol: f64) -> KMeansFit {
    let mut rng = Rng::derive(p.seed, &[k as u64, restart as u64]);
    let centers = s.plusplus(k, &mut rng);
    let mut fit = s.lloyd(centers, p.max_iter, tol);
    fit.best_init = restart;
    fit
}

/// Lloyd iterations from given centres to a fixed point (or `tol`), then, if asked,
/// Hartigan polish, then a final assignment pass.
pub(super) fn lloyd_from(
    x: &Matrix,
    centers: Vec<f64>,
    max_iter: usize,
    tol: f64,
    parallel: bool,
) -> KMeansFit {
    let d = x.d;
    let k = centers.len() / d;
    let (centers, mut labels, n_iter) = hamerly(x, centers, max_iter, tol, parallel);
    let (inertia, counts) = final_assign(x, &centers, &mut labels, parallel);
    KMeansFit {
        k,
        d,
        centroids: centers,
        labels,
        counts,
        inertia,
        n_iter,
        best_init: 0,
    }
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

/// Finishes a promising fit: Lloyd from its centres to `tol`, then Hartigan polish,
/// then labels, sizes and inertia recomputed.
fn finish(s: &Small, f: KMeansFit, tol: f64, max_iter: usize) -> KMeansFit {
    let best_init = f.best_init;
    let mut f = s.lloyd(f.centroids, max_iter, tol);
    f.best_init = best_init;
    f.centroids = s.hartigan(&mut f.labels, f.k);
    let (inertia, counts) = s.assign(&f.centroids, &mut f.labels);
    f.inertia = inertia;
    f.counts = counts;
    f
}

/// Per-row state of Hamerly's algorithm: an upper bound on the distance to the assigned
/// centre and a lower bound on the distance to every other centre.
struct Bounds {
    upper: Vec<f64>,
    lower: Vec<f64>,
}

/// What one chunk of rows changed in an iteration: moved rows' contributions to the
/// per-centre sums and counts (applied in chunk order, so results are deterministic).
pub(super) struct Delta {
    pub(super) sums: Vec<f64>,
    pub(super) counts: Vec<i64>,
    pub(super) changed: u64,
}

impl Delta {
    pub(super) fn new(k: usize, d: usize) -> Self {
        Delta {
            sums: vec![0.0; k * d],
            counts: vec![0; k],
            changed: 0,
        }
    }

    /// Records a row moving from `from` (None on the first pass) to `to`.
    #[inline(always)]
    pub(super) fn moved(&mut self, row: &[f64], from: Option<usize>, to: usize, d: usize) {
        if let Some(a) = from {
            self.counts[a] -= 1;
            for j in 0..d {
                self.sums[a * d + j] -= row[j];
            }
            self.changed += 1;
        }
        self.counts[to] += 1;
        for j in 0..d {
            self.sums[to * d + j] += row[j];
        }
    }
}

/// Lloyd's algorithm with Hamerly's bounds (Hamerly 2010): the same iterates as plain
/// Lloyd, but a row whose bounds prove its centre cannot have changed is skipped, so
/// late iterations, where few customers move, cost little. Iterates until no label
/// changes (or the summed squared centre shift is <= `tol`, or `max_iter`). Returns
/// the centres (exact means of the final labels), the labels and the iteration count.
fn hamerly(
    x: &Matrix,
    mut centers: Vec<f64>,
    max_iter: usize,
    tol: f64,
    parallel: bool,
) -> (Vec<f64>, Vec<u32>, usize) {
    let (n, d) = (x.n, x.d);
    let k = centers.len() / d;
    let mut labels = vec![0u32; n];
    let mut b = Bounds {
        upper: vec![0.0; n],
        lower: vec![0.0; n],
    };
    let mut sums = vec![0.0f64; k * d];
    let mut counts = vec![0i64; k];
    let mut n_iter = 0;
    let mut init = true;
    let mut half_sep = vec![0.0f64; k];
    let mut moved = vec![0.0f64; k];
    let mut drift = Drift::of(&vec![0.0; k]);
    loop {
        // Assignment pass (a full scan of every row on the first pass).
        let deltas = hamerly_pass(
            x,
            &centers,
            &mut labels,
            &mut b,
            &half_sep,
            &drift,
            init,
            parallel,
        );
        for dl in &deltas {
            for (a, v) in sums.iter_mut().zip(&dl.sums) {
                *a += v;
            }
            for (a, v) in counts.iter_mut().zip(&dl.counts) {
                *a += v;
            }
        }
        let changed: u64 = deltas.iter().map(|dl| dl.changed).sum();
        n_iter += 1;
        if (!init && changed == 0) || n_iter > max_iter {
            break;
        }
        init = false;
        if counts.iter().any(|&c| c <= 0) {
            // Empty segments: scikit-learn's relocation, then a fresh full pass.
            let empty: Vec<usize> = (0..k).filter(|&c| counts[c] <= 0).collect();
            let mut s2 = vec![0.0; k * d];
            let mut c2 = vec![0u64; k];
            for (row, &l) in x.data.chunks_exact(d).zip(&labels) {
                c2[l as usize] += 1;
                for j in 0..d {
                    s2[l as usize * d + j] += row[j];
                }
            }
            relocate_empty(x, &centers, &mut labels, &empty, &mut s2, &mut c2);
            for c in 0..k {
                if c2[c] > 0 {
                    for j in 0..d {
                        centers[c * d + j] = s2[c * d + j] / c2[c] as f64;
                    }
                }
            }
            sums.iter_mut().for_each(|v| *v = 0.0);
            counts.iter_mut().for_each(|v| *v = 0);
            init = true;
            continue;
        }
        // Move the centres to the means and loosen the bounds by how far they moved.
        let shift = move_to_means(&mut centers, &sums, &counts, &mut moved, d);
        if shift <= tol {
            break;
        }
        half_separations(&centers, d, &mut half_sep);
        drift = Drift::of(&moved);
    }
    // Exact means of the final labels (the running sums carry rounding).
    set_exact_means(x, &labels, &mut centers);
    (centers, labels, n_iter)
}

/// How far the centres moved in the last update: bounds are loosened by it lazily, in
/// the same pass that tests them (one sweep over the rows per iteration, not two).
pub(super) struct Drift {
    pub(super) moved: Vec<f64>,
    /// The centre that moved most, its move, and the second largest move.
    pub(super) r1: usize,
    pub(super) max1: f64,
    pub(super) max2: f64,
}

impl Drift {
    /// The drift of centres that moved by `moved` (first centre on ties; tied moves give
    /// the same largest and second largest either way).
    pub(super) fn of(moved: &[f64]) -> Drift {
        let (mut r1, mut max1, mut max2) = (0usize, 0.0f64, 0.0f64);
        for (c, &m) in moved.iter().enumerate() {
            if m > max1 {
                max2 = max1;
                max1 = m;
                r1 = c;
            } else if m > max2 {
                max2 = m;
            }
        }
        Drift {
            moved: moved.to_vec(),
            r1,
            max1,
            max2,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn hamerly_pass(
    x: &Matrix,
    centers: &[f64],
    labels: &mut [u32],
    b: &mut Bounds,
    half_sep: &[f64],
    drift: &Drift,
    init: bool,
    parallel: bool,
) -> Vec<Delta> {
    let d = x.d;
    let work = |rows: &[f64], lab: &mut [u32], up: &mut [f64], lo: &mut [f64]| -> Delta {
        dispatch_d!(
            d,
            hamerly_chunk(rows, centers, lab, up, lo, half_sep, drift, init, d)
        )
    };
    if parallel {
        x.data
            .par_chunks(CHUNK * d)
            .zip(labels.par_chunks_mut(CHUNK))
            .zip(b.upper.par_chunks_mut(CHUNK))
            .zip(b.lower.par_chunks_mut(CHUNK))
            .map(|(((r, l), u), lo)| work(r, l, u, lo))
            .collect()
    } else {
        x.data
            .chunks(CHUNK * d)
            .zip(labels.chunks_mut(CHUNK))
            .zip(b.upper.chunks_mut(CHUNK))
            .zip(b.lower.chunks_mut(CHUNK))
            .map(|(((r, l), u), lo)| work(r, l, u, lo))
            .collect()
    }
}

/// One Hamerly iteration over consecutive rows (also the active-row pass of
/// [`super::lloyd::refine`]): the bounds are loosened by `drift`, rows they prove settled
/// are skipped, the others get a full scan; moved rows' contributions in row order.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn hamerly_chunk<const D: usize>(
    rows: &[f64],
    centers: &[f64],
    labels: &mut [u32],
    upper: &mut [f64],
    lower: &mut [f64],
    half_sep: &[f64],
    drift: &Drift,
    init: bool,
    d: usize,
) -> Delta {
    let d = dim::<D>(d);
    let k = centers.len() / d;
    let mut delta = Delta::new(k, d);
    for (i, row) in rows.chunks_exact(d).enumerate() {
        let a = labels[i] as usize;
        if !init {
            upper[i] += drift.moved[a];
            lower[i] -= if a == drift.r1 {
                drift.max2
            } else {
                drift.max1
            };
            let m = half_sep[a].max(lower[i]);
            if upper[i] <= m {
                continue;
            }
            upper[i] = sqdist::<D>(row, &centers[a * d..(a + 1) * d], d).sqrt();
            if upper[i] <= m {
                continue;
            }
        }
        // Full scan: nearest and second nearest.
        let (mut b1, mut d1, mut d2) = (0usize, f64::INFINITY, f64::INFINITY);
        for (c, center) in centers.chunks_exact(d).enumerate() {
            let dist = sqdist::<D>(row, center, d);
            if dist < d1 {
                d2 = d1;
                d1 = dist;
                b1 = c;
            } else if dist < d2 {
                d2 = dist;
            }
        }
        upper[i] = d1.sqrt();
        lower[i] = d2.sqrt();
        if init || b1 != a {
            delta.moved(row, (!init).then_some(a), b1, d);
            labels[i] = b1 as u32;
        }
    }
    delta
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
    p: &KMeansParams,
    tols: Tols,
    parallel: bool,
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
            let f = s.lloyd(centers, p.max_iter, tols.coarse);
            if f.inertia <= cur.inertia * (1.0 + POLISH_MARGIN) {
                finish(s, f, tols.fine, p.max_iter)
            } else {
                f
            }
        };
        let cands: Vec<KMeansFit> = if parallel {
            (0..p.swap_trials).map(trial).collect()
        } else {
            (0..p.swap_trials).into_par_iter().map(trial).collect()
        };
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

/// Greedy k-means++ (Arthur & Vassilvitskii, with scikit-learn's local trials).
pub fn kmeans_plusplus(x: &Matrix, k: usize, rng: &mut Rng, parallel: bool) -> Vec<f64> {
    let (n, d) = (x.n, x.d);
    let trials = 2 + (k as f64).ln().floor() as usize;
    let mut centers = Vec::with_capacity(k * d);
    let first = rng.below(n as u64) as usize;
    centers.extend_from_slice(x.row(first));
    let mut closest = vec![0.0f64; n];
    let c0 = x.row(first).to_vec();
    let mut chunk_pot: Vec<f64> = chunked(&x.data, d, &mut closest, parallel, |rows, out| {
        dispatch_d!(d, fill_dist(rows, &c0, out, d))
    });
    for _ in 1..k {
        let pot: f64 = chunk_pot.iter().sum();
        let cands: Vec<usize> = (0..trials)
            .map(|_| search_cumulative(&closest, &chunk_pot, rng.uniform() * pot))
            .collect();
        let cand_rows: Vec<f64> = cands
            .iter()
            .flat_map(|&c| x.row(c).iter().copied())
            .collect();
        let partial: Vec<Vec<f64>> = map_chunks(&x.data, d, parallel, |start, rows| {
            let cl = &closest[start..start + rows.len() / d];
            dispatch_d!(d, trial_pots(rows, cl, &cand_rows, d))
        });
        let mut pots = vec![0.0; trials];
        for part in &partial {
            for (t, v) in part.iter().enumerate() {
                pots[t] += v;
            }
        }
        let best = (0..trials).fold(0, |b, t| if pots[t] < pots[b] { t } else { b });
        let c = x.row(cands[best]).to_vec();
        centers.extend_from_slice(&c);
        chunk_pot = chunked(&x.data, d, &mut closest, parallel, |rows, out| {
            dispatch_d!(d, min_dist(rows, &c, out, d))
        });
    }
    centers
}

fn fill_dist<const D: usize>(rows: &[f64], c: &[f64], out: &mut [f64], d: usize) -> f64 {
    let d = dim::<D>(d);
    let mut s = 0.0;
    for (row, o) in rows.chunks_exact(d).zip(out.iter_mut()) {
        *o = sqdist::<D>(row, c, d);
        s += *o;
    }
    s
}

fn min_dist<const D: usize>(rows: &[f64], c: &[f64], out: &mut [f64], d: usize) -> f64 {
    let d = dim::<D>(d);
    let mut s = 0.0;
    for (row, o) in rows.chunks_exact(d).zip(out.iter_mut()) {
        let v = sqdist::<D>(row, c, d);
        if v < *o {
            *o = v;
        }
        s += *o;
    }
    s
}

fn trial_pots<const D: usize>(rows: &[f64], closest: &[f64], cands: &[f64], d: usize) -> Vec<f64> {
    let d = dim::<D>(d);
    cands
        .chunks_exact(d)
        .map(|c| {
            let mut s = 0.0;
            for (row, &cl) in rows.chunks_exact(d).zip(closest) {
                s += sqdist::<D>(row, c, d).min(cl);
            }
            s
        })
        .collect()
}

/// First index whose running sum reaches `target` (numpy's `searchsorted`, side left),
/// found through the per-chunk totals so no n-long prefix array is needed.
pub(super) fn search_cumulative(values: &[f64], chunk_totals: &[f64], target: f64) -> usize {
    let mut acc = 0.0;
    for (c, &t) in chunk_totals.iter().enumerate() {
        if acc + t >= target {
            let start = c * CHUNK;
            let end = (start + CHUNK).min(values.len());
            for (i, &v) in values[start..end].iter().enumerate() {
                acc += v;
                if acc >= target {
                    return start + i;
                }
            }
            return end - 1;
        }
        acc += t;
    }
    values.len() - 1
}

/// scikit-learn's rule: each empty cluster takes one of the rows farthest from their
/// current centre (ties by row index), moved out of its old cluster's sums.
pub(super) fn relocate_empty(
    x: &Matrix,
    centers: &[f64],
    labels: &mut [u32],
    empty: &[usize],
    sums: &mut [f64],
    counts: &mut [u64],
) {
    let d = x.d;
    let mut far: Vec<(f64, usize)> = (0..x.n)
        .map(|i| {
            let c = labels[i] as usize;
            (
                dispatch_d!(d, sqdist(x.row(i), &centers[c * d..(c + 1) * d], d)),
                i,
            )
        })
        .collect();
    let take = empty.len().min(far.len());
    let cmp = |a: &(f64, usize), b: &(f64, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if take < far.len() {
        far.select_nth_unstable_by(take, cmp);
    }
    far[..take].sort_by(cmp);
    for (&c, &(_, i)) in empty.iter().zip(&far[..take]) {
        let old = labels[i] as usize;
        if counts[old] <= 1 {
            continue;
        }
        let row = x.row(i);
        for j in 0..d {
            sums[old * d + j] -= row[j];
            sums[c * d + j] = row[j];
        }
        counts[old] -= 1;
        counts[c] = 1;
        labels[i] = c as u32;
    }
}

/// Labels every row with its nearest centre (first on ties); returns the inertia and
/// cluster sizes. The scan is [`super::lloyd::assign_labels`] (blocks of rows in vector
/// registers), bit-identical to a row-by-row `nearest` loop.
pub fn final_assign(
    x: &Matrix,
    centers: &[f64],
    labels: &mut [u32],
    parallel: bool,
) -> (f64, Vec<u64>) {
    super::lloyd::assign_labels(x, centers, labels, parallel)
}

/// Labels rows with the nearest of the given centres (prediction); parallel, deterministic.
pub fn assign(x: &Matrix, centers: &[f64]) -> Vec<u32> {
    let mut labels = vec![0u32; x.n];
    final_assign(x, centers, &mut labels, x.n >= INNER_PARALLEL_ROWS);
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs() -> Matrix {
        let mut rng = Rng::new(7);
        let mut data = Vec::new();
        for c in [(0.1, 0.1), (0.9, 0.1), (0.5, 0.9)] {
            for _ in 0..200 {
                data.push(c.0 + 0.03 * rng.normal());
                data.push(c.1 + 0.03 * rng.normal());
            }
        }
        Matrix { n: 600, d: 2, data }
    }

    #[test]
    fn finds_three_blobs_and_is_deterministic() {
        let x = blobs();
        let p = KMeansParams {
            k: 3,
            ..Default::default()
        };
        let a = fit(&x, &p).unwrap();
        let b = fit(&x, &p).unwrap();
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.inertia.to_bits(), b.inertia.to_bits());
        let mut counts = a.counts.clone();
        counts.sort();
        assert_eq!(counts, vec![200, 200, 200]);
        // Inertia equals the sum of squared distances to the assigned centres.
        let direct: f64 = (0..x.n)
            .map(|i| {
                let c = a.labels[i] as usize;
                sqdist::<0>(x.row(i), &a.centroids[c * 2..c * 2 + 2], 2)
            })
            .sum();
        assert!((direct - a.inertia).abs() < 1e-9);
    }

    #[test]
    fn plusplus_is_deterministic_per_seed_and_picks_data_points() {
        let x = blobs();
        let c1 = kmeans_plusplus(&x, 3, &mut Rng::new(1), false);
        let c2 = kmeans_plusplus(&x, 3, &mut Rng::new(1), true);
        let c3 = kmeans_plusplus(&x, 3, &mut Rng::new(2), false);
        assert_eq!(c1, c2);
        assert_ne!(c1, c3);
        for c in c1.chunks(2) {
            assert!((0..x.n).any(|i| x.row(i) == c));
        }
    }

    #[test]
    fn too_few_rows_or_distinct_points() {
        let x = Matrix {
            n: 2,
            d: 1,
            data: vec![0.0, 1.0],
        };
        assert!(fit(
            &x,
            &KMeansParams {
                k: 3,
                ..Default::default()
            }
        )
        .is_err());
        let x = Matrix {
            n: 4,
            d: 1,
            data: vec![0.0, 0.0, 1.0, 1.0],
        };
        let e = fit(
            &x,
            &KMeansParams {
                k: 3,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("distinct"), "{e}");
    }
}
