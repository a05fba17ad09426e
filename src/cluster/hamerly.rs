//! Lloyd's algorithm with Hamerly's bounds (Hamerly 2010), the general path of every
//! Lloyd loop that is not the small-input kernel: per-row bounds prove most rows
//! settled, so late iterations cost little. Also the pieces the large-input
//! refinement ([`super::lloyd::refine`]) shares with it: the per-chunk [`Delta`], the
//! centre [`Drift`], the one-chunk iteration [`hamerly_chunk`], and scikit-learn's
//! relocation of empty clusters.

use rayon::prelude::*;

use super::simd::{dim, dispatch_d};
use super::{half_separations, move_to_means, set_exact_means, sqdist, CHUNK};
use crate::scale::Matrix;

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
pub(super) fn hamerly(
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
            relocate_and_recenter(x, &mut centers, &mut labels, &empty, &mut s2, &mut c2);
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

/// [`relocate_empty`], then every centre that has rows moved to their mean: the restart
/// after empty segments that the Hamerly and the small-k loops share.
pub(super) fn relocate_and_recenter(
    x: &Matrix,
    centers: &mut [f64],
    labels: &mut [u32],
    empty: &[usize],
    sums: &mut [f64],
    counts: &mut [u64],
) {
    relocate_empty(x, centers, labels, empty, sums, counts);
    let d = x.d;
    for (c, &n) in counts.iter().enumerate() {
        if n > 0 {
            for j in 0..d {
                centers[c * d + j] = sums[c * d + j] / n as f64;
            }
        }
    }
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
