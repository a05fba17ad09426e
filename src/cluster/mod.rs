//! Clustering: K-Means ([`kmeans`]), silhouette scores ([`silhouette`]) and the choice
//! of k from the elbow and the silhouettes ([`select_k`]).
//!
//! The files, from the ground up (each imports only those above it):
//! - this module: the shared chunking of rows ([`CHUNK`]) and the distance arithmetic
//!   every stage uses, so fit, labels, predict and serve agree bit for bit;
//! - `simd`: which instruction-set build runs, and the feature-count unrolling;
//! - `params`: the K-Means parameters, checked before any work, and the fit;
//! - `hamerly` (Lloyd with Hamerly's bounds), `scan` (the blocked nearest-centre scan),
//!   `small` (the small-input Lloyd kernels), `seeding` (k-means++), `hartigan` (the
//!   polish), `lloyd` (Lloyd to a fixed point, and the large-input refinement);
//! - `sweep` (the k sweep), then [`kmeans`], the public face of all of them;
//! - `group_sums` (the silhouette's distance kernel), [`silhouette`], [`select_k`].

#![allow(clippy::needless_range_loop)] // kernels index several arrays by the same feature index

mod group_sums;
mod hamerly;
mod hartigan;
pub mod kmeans;
pub mod lloyd;
mod params;
mod scan;
mod seeding;
pub mod select_k;
pub mod silhouette;
mod simd;
mod small;
pub mod stability;
mod sweep;

use rayon::prelude::*;

use crate::scale::Matrix;
use simd::{dim, dispatch_d};

/// Rows per chunk of every parallel pass. Fixed, so sums do not depend on thread count.
pub const CHUNK: usize = 4096;

/// Splits rows (and a per-row slice) into fixed chunks, in parallel or not; the
/// per-chunk results come back in chunk order (the same for every thread count).
pub(super) fn chunked<T: Send, L: Send>(
    data: &[f64],
    d: usize,
    per_row: &mut [L],
    parallel: bool,
    f: impl Fn(&[f64], &mut [L]) -> T + Sync + Send,
) -> Vec<T> {
    if parallel {
        data.par_chunks(CHUNK * d)
            .zip(per_row.par_chunks_mut(CHUNK))
            .map(|(r, l)| f(r, l))
            .collect()
    } else {
        data.chunks(CHUNK * d)
            .zip(per_row.chunks_mut(CHUNK))
            .map(|(r, l)| f(r, l))
            .collect()
    }
}

/// Maps a chunked pass over rows, in parallel or not; results come back in chunk order.
pub(super) fn map_chunks<T: Send>(
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

/// Squared Euclidean distance, summed over features in order. Every stage (fit, final
/// labels, predict, serve) uses this one function so their answers agree bit for bit.
#[inline(always)]
pub(crate) fn sqdist<const D: usize>(a: &[f64], b: &[f64], d: usize) -> f64 {
    let d = dim::<D>(d);
    let (a, b) = (&a[..d], &b[..d]);
    let mut s = 0.0;
    for j in 0..d {
        let t = a[j] - b[j];
        s += t * t;
    }
    s
}

/// Euclidean distance between a scaled row and a centre: the square root of [`sqdist`],
/// so the distances of labels files, `predict`, `serve`, outliers and retrain matching are
/// the very numbers the kernels compared.
pub fn distance(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    sqdist::<0>(a, b, a.len()).sqrt()
}

/// Index and squared distance of the nearest centre (first one on ties).
#[inline(always)]
pub(crate) fn nearest<const D: usize>(row: &[f64], centers: &[f64], d: usize) -> (u32, f64) {
    let d = dim::<D>(d);
    let mut best = (0u32, f64::INFINITY);
    for (c, center) in centers.chunks_exact(d).enumerate() {
        let dist = sqdist::<D>(row, center, d);
        if dist < best.1 {
            best = (c as u32, dist);
        }
    }
    best
}

/// Nearest and second-nearest centre for one scaled row (scoring service confidence).
pub fn nearest_two(row: &[f64], centers: &[f64]) -> (u32, f64, f64) {
    let d = row.len();
    let (label, best) = dispatch_d!(d, nearest(row, centers, d));
    let mut second = f64::INFINITY;
    for (c, center) in centers.chunks_exact(d).enumerate() {
        if c as u32 != label {
            second = second.min(dispatch_d!(d, sqdist(row, center, d)));
        }
    }
    (label, best, second)
}

/// Moves each centre to the mean of its segment (`sums` / `counts`, every count > 0),
/// writing in `moved` how far each centre went; returns the summed squared move (the
/// convergence test of scikit-learn). One function for every Lloyd loop, so their
/// iterates agree bit for bit.
pub(crate) fn move_to_means(
    centers: &mut [f64],
    sums: &[f64],
    counts: &[i64],
    moved: &mut [f64],
    d: usize,
) -> f64 {
    let mut shift = 0.0;
    for (c, m) in moved.iter_mut().enumerate() {
        let mut m2 = 0.0;
        for j in 0..d {
            let v = sums[c * d + j] / counts[c] as f64;
            let t = v - centers[c * d + j];
            m2 += t * t;
            centers[c * d + j] = v;
        }
        *m = m2.sqrt();
        shift += m2;
    }
    shift
}

/// Half the distance from each centre to its nearest other centre (Hamerly's bound: a
/// row closer than this to its centre cannot be nearer another).
pub(crate) fn half_separations(centers: &[f64], d: usize, out: &mut [f64]) {
    let k = out.len();
    for c in 0..k {
        let mut best = f64::INFINITY;
        for o in 0..k {
            if o != c {
                best = best.min(dispatch_d!(
                    d,
                    sqdist(
                        &centers[c * d..(c + 1) * d],
                        &centers[o * d..(o + 1) * d],
                        d
                    )
                ));
            }
        }
        out[c] = 0.5 * best.sqrt();
    }
}

/// Puts every non-empty segment's centre at the exact mean of its rows, summed in row
/// order (running sums of moved rows carry rounding; the final centres must not).
pub(crate) fn set_exact_means(x: &Matrix, labels: &[u32], centers: &mut [f64]) {
    let d = x.d;
    let k = centers.len() / d;
    let mut s2 = vec![0.0; k * d];
    let mut c2 = vec![0u64; k];
    for (row, &l) in x.data.chunks_exact(d).zip(labels) {
        c2[l as usize] += 1;
        for j in 0..d {
            s2[l as usize * d + j] += row[j];
        }
    }
    for c in 0..k {
        if c2[c] > 0 {
            for j in 0..d {
                centers[c * d + j] = s2[c * d + j] / c2[c] as f64;
            }
        }
    }
}

/// Five overlapping blobs in [0, 1]^d, for the kernels' unit tests (the same data in each,
/// so a kernel and its reference are compared on inputs with ties and near-ties).
#[cfg(test)]
pub(crate) fn test_blobs(n: usize, d: usize, seed: u64) -> crate::scale::Matrix {
    let mut rng = crate::rng::Rng::new(seed);
    let mut data = Vec::with_capacity(n * d);
    for _ in 0..n {
        let blob = rng.below(5) as f64 / 5.0;
        for _ in 0..d {
            data.push((blob + 0.08 * rng.normal().abs()).clamp(0.0, 1.0));
        }
    }
    crate::scale::Matrix { n, d, data }
}
