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

use super::{dim, dispatch_d, nearest, sqdist};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::scale::Matrix;

/// Rows per chunk of every parallel pass. Fixed, so sums do not depend on thread count.
pub const CHUNK: usize = 4096;
/// Below this many rows a restart runs on one thread and restarts run side by side.
const INNER_PARALLEL_ROWS: usize = 100_000;

#[derive(Debug, Clone, PartialEq)]
pub struct KMeansParams {
    pub k: usize,
    pub n_init: usize,
    pub max_iter: usize,
    /// Relative tolerance: multiplied by the mean feature variance, as in scikit-learn.
    pub tol: f64,
    pub seed: u64,
}

impl Default for KMeansParams {
    fn default() -> Self {
        KMeansParams {
            k: 3,
            n_init: 10,
            max_iter: 300,
            tol: 1e-4,
            seed: 42,
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
    let tol = base.tol * mean_variance(x);
    let tasks: Vec<(usize, usize)> = ks
        .iter()
        .flat_map(|&k| (0..base.n_init).map(move |r| (k, r)))
        .collect();
    let run = |&(k, r): &(usize, usize), inner: bool| {
        let out = run_once(x, k, base, r, tol, inner);
        on_run_done();
        out
    };
    let runs: Vec<KMeansFit> = if x.n >= INNER_PARALLEL_ROWS {
        tasks.iter().map(|t| run(t, true)).collect()
    } else {
        tasks.par_iter().map(|t| run(t, false)).collect()
    };
    let mut best: Vec<KMeansFit> = Vec::with_capacity(ks.len());
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

fn run_once(x: &Matrix, k: usize, p: &KMeansParams, restart: usize, tol: f64, parallel: bool) -> KMeansFit {
    let mut rng = Rng::derive(p.seed, &[k as u64, restart as u64]);
    let mut centers = kmeans_plusplus(x, k, &mut rng, parallel);
    let d = x.d;
    let mut labels = vec![u32::MAX; x.n];
    let mut n_iter = 0;
    for _ in 0..p.max_iter {
        n_iter += 1;
        let (new_centers, changed) = lloyd_step(x, &centers, &mut labels, parallel);
        let shift: f64 = centers
            .chunks_exact(d)
            .zip(new_centers.chunks_exact(d))
            .map(|(a, b)| dispatch_d!(d, sqdist(a, b, d)))
            .sum();
        centers = new_centers;
        if changed == 0 || shift <= tol {
            break;
        }
    }
    let (inertia, counts) = final_assign(x, &centers, &mut labels, parallel);
    KMeansFit {
        k,
        d,
        centroids: centers,
        labels,
        counts,
        inertia,
        n_iter,
        best_init: restart,
    }
}

/// Greedy k-means++ (Arthur & Vassilvitskii, with scikit-learn's local trials).
pub fn kmeans_plusplus(x: &Matrix, k: usize, rng: &mut Rng, parallel: bool) -> Vec<f64> {
    let (n, d) = (x.n, x.d);
    let trials = 2 + (k as f64).ln().floor() as usize;
    let mut centers = Vec::with_capacity(k * d);
    let first = rng.below(n as u64) as usize;
    centers.extend_from_slice(x.row(first));
    let mut closest = vec![0.0f64; n];
    let mut chunk_pot: Vec<f64> = {
        let c0 = x.row(first).to_vec();
        map_chunks_mut(&x.data, &mut closest, d, parallel, |rows, out| {
            dispatch_d!(d, fill_dist(rows, &c0, out, d))
        })
    };
    for _ in 1..k {
        let pot: f64 = chunk_pot.iter().sum();
        let cands: Vec<usize> = (0..trials)
            .map(|_| search_cumulative(&closest, &chunk_pot, rng.uniform() * pot))
            .collect();
        let cand_rows: Vec<f64> = cands.iter().flat_map(|&c| x.row(c).iter().copied()).collect();
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
        chunk_pot = map_chunks_mut(&x.data, &mut closest, d, parallel, |rows, out| {
            dispatch_d!(d, min_dist(rows, &c, out, d))
        });
    }
    centers
}

fn map_chunks_mut(
    data: &[f64],
    out: &mut [f64],
    d: usize,
    parallel: bool,
    f: impl Fn(&[f64], &mut [f64]) -> f64 + Sync + Send,
) -> Vec<f64> {
    if parallel {
        data.par_chunks(CHUNK * d)
            .zip(out.par_chunks_mut(CHUNK))
            .map(|(rows, o)| f(rows, o))
            .collect()
    } else {
        data.chunks(CHUNK * d)
            .zip(out.chunks_mut(CHUNK))
            .map(|(rows, o)| f(rows, o))
            .collect()
    }
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
fn search_cumulative(values: &[f64], chunk_totals: &[f64], target: f64) -> usize {
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

struct StepPart {
    sums: Vec<f64>,
    counts: Vec<u64>,
    changed: u64,
}

/// One Lloyd iteration: assign every row to its nearest centre, return the new centres
/// and how many labels changed. Empty clusters take the rows farthest from their centres.
fn lloyd_step(x: &Matrix, centers: &[f64], labels: &mut [u32], parallel: bool) -> (Vec<f64>, u64) {
    let d = x.d;
    let k = centers.len() / d;
    let work = |rows: &[f64], lab: &mut [u32]| -> StepPart {
        dispatch_d!(d, assign_accumulate(rows, centers, lab, k, d))
    };
    let parts: Vec<StepPart> = if parallel {
        x.data
            .par_chunks(CHUNK * d)
            .zip(labels.par_chunks_mut(CHUNK))
            .map(|(r, l)| work(r, l))
            .collect()
    } else {
        x.data
            .chunks(CHUNK * d)
            .zip(labels.chunks_mut(CHUNK))
            .map(|(r, l)| work(r, l))
            .collect()
    };
    let mut sums = vec![0.0; k * d];
    let mut counts = vec![0u64; k];
    let mut changed = 0;
    for p in &parts {
        for (a, b) in sums.iter_mut().zip(&p.sums) {
            *a += b;
        }
        for (a, b) in counts.iter_mut().zip(&p.counts) {
            *a += b;
        }
        changed += p.changed;
    }
    let empty: Vec<usize> = (0..k).filter(|&c| counts[c] == 0).collect();
    if !empty.is_empty() {
        relocate_empty(x, centers, labels, &empty, &mut sums, &mut counts);
    }
    let mut new_centers = vec![0.0; k * d];
    for c in 0..k {
        if counts[c] == 0 {
            new_centers[c * d..(c + 1) * d].copy_from_slice(&centers[c * d..(c + 1) * d]);
            continue;
        }
        for j in 0..d {
            new_centers[c * d + j] = sums[c * d + j] / counts[c] as f64;
        }
    }
    (new_centers, changed)
}

fn assign_accumulate<const D: usize>(rows: &[f64], centers: &[f64], labels: &mut [u32], k: usize, d: usize) -> StepPart {
    let d = dim::<D>(d);
    let mut part = StepPart {
        sums: vec![0.0; k * d],
        counts: vec![0; k],
        changed: 0,
    };
    for (row, lab) in rows.chunks_exact(d).zip(labels.iter_mut()) {
        let (c, _) = nearest::<D>(row, centers, d);
        if *lab != c {
            part.changed += 1;
            *lab = c;
        }
        let c = c as usize;
        part.counts[c] += 1;
        let s = &mut part.sums[c * d..(c + 1) * d];
        for j in 0..d {
            s[j] += row[j];
        }
    }
    part
}

/// scikit-learn's rule: each empty cluster takes one of the rows farthest from their
/// current centre (ties by row index), moved out of its old cluster's sums.
fn relocate_empty(x: &Matrix, centers: &[f64], labels: &mut [u32], empty: &[usize], sums: &mut [f64], counts: &mut [u64]) {
    let d = x.d;
    let mut far: Vec<(f64, usize)> = (0..x.n)
        .map(|i| {
            let c = labels[i] as usize;
            (dispatch_d!(d, sqdist(x.row(i), &centers[c * d..(c + 1) * d], d)), i)
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

/// Labels every row with its nearest centre; returns the inertia and cluster sizes.
pub fn final_assign(x: &Matrix, centers: &[f64], labels: &mut [u32], parallel: bool) -> (f64, Vec<u64>) {
    let d = x.d;
    let k = centers.len() / d;
    let work = |rows: &[f64], lab: &mut [u32]| -> (f64, Vec<u64>) {
        dispatch_d!(d, assign_only(rows, centers, lab, k, d))
    };
    let parts: Vec<(f64, Vec<u64>)> = if parallel {
        x.data
            .par_chunks(CHUNK * d)
            .zip(labels.par_chunks_mut(CHUNK))
            .map(|(r, l)| work(r, l))
            .collect()
    } else {
        x.data
            .chunks(CHUNK * d)
            .zip(labels.chunks_mut(CHUNK))
            .map(|(r, l)| work(r, l))
            .collect()
    };
    let mut inertia = 0.0;
    let mut counts = vec![0u64; k];
    for (i, c) in parts {
        inertia += i;
        for (a, b) in counts.iter_mut().zip(c) {
            *a += b;
        }
    }
    (inertia, counts)
}

fn assign_only<const D: usize>(rows: &[f64], centers: &[f64], labels: &mut [u32], k: usize, d: usize) -> (f64, Vec<u64>) {
    let d = dim::<D>(d);
    let mut counts = vec![0u64; k];
    let mut inertia = 0.0;
    for (row, lab) in rows.chunks_exact(d).zip(labels.iter_mut()) {
        let (c, dist) = nearest::<D>(row, centers, d);
        *lab = c;
        counts[c as usize] += 1;
        inertia += dist;
    }
    (inertia, counts)
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
        let p = KMeansParams { k: 3, ..Default::default() };
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
        let x = Matrix { n: 2, d: 1, data: vec![0.0, 1.0] };
        assert!(fit(&x, &KMeansParams { k: 3, ..Default::default() }).is_err());
        let x = Matrix { n: 4, d: 1, data: vec![0.0, 0.0, 1.0, 1.0] };
        let e = fit(&x, &KMeansParams { k: 3, ..Default::default() }).unwrap_err();
        assert!(e.to_string().contains("distinct"), "{e}");
    }
}
