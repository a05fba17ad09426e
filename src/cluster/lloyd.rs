//! Lloyd to a fixed point: from given centres on any input ([`lloyd_from`], Hamerly's
//! bounds), and on every row of a large input with an active set of the rows near a
//! boundary ([`refine`]). The scan kernels it runs on are in `scan`; they are named
//! here too, where callers have always found them.

use rayon::prelude::*;

use super::hamerly::{hamerly, hamerly_chunk, Delta, Drift};
use super::params::KMeansFit;
pub use super::scan::{assign_labels, kernel_name, lloyd_step, LloydStep, BLOCK};
use super::scan::{final_assign, scan};
use super::simd::{dim, dispatch_d, Isa};
use super::{half_separations, move_to_means, set_exact_means, sqdist, CHUNK};
use crate::scale::Matrix;

/// Lloyd iterations (with Hamerly's bounds) from given centres to a fixed point (or
/// `tol`), then a final assignment pass: the general path, for any input size.
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

/// [`full_pass`] on one chunk.
fn full_chunk<const D: usize>(
    rows: &[f64],
    centers: &[f64],
    lab: &mut [u32],
    gp: &mut [f32],
    init: bool,
    d: usize,
    isa: Isa,
) -> Delta {
    let d = dim::<D>(d);
    let k = centers.len() / d;
    let mut delta = Delta::new(k, d);
    scan::<D, true, _>(rows, centers, d, isa, |i0, b, m| {
        gp[i0..i0 + m].copy_from_slice(&b.gap[..m]);
        for l in 0..m {
            let (i, c) = (i0 + l, b.lab[l]);
            if init || lab[i] != c {
                let from = if init { None } else { Some(lab[i] as usize) };
                delta.moved(&rows[i * d..(i + 1) * d], from, c as usize, d);
                lab[i] = c;
            }
        }
    });
    delta
}

/// The rows near a boundary, copied out of the matrix with Hamerly bounds, grouped by
/// the chunk they come from (so each chunk's delta is the one a full pass would make).
struct Active {
    rows: Vec<f64>,
    index: Vec<u32>,
    labels: Vec<u32>,
    upper: Vec<f64>,
    lower: Vec<f64>,
    /// (chunk, first active row, end) for each chunk that has active rows.
    groups: Vec<(usize, usize, usize)>,
    /// Distance every frozen row can absorb: a frozen row's label provably cannot
    /// change while no centre has moved farther than this since the full pass.
    theta: f64,
    /// How far each centre has moved since the full pass.
    travelled: Vec<f64>,
    /// The bounds are at the current centres (no drift to apply on the next pass).
    fresh: bool,
}

/// Result of [`refine`].
pub struct Refined {
    /// k × d, row-major: the exact means of the final labels.
    pub centers: Vec<f64>,
    /// Rows nearest to each centre.
    pub counts: Vec<u64>,
    /// Sum of squared distances of the rows to their nearest centre.
    pub inertia: f64,
    /// Lloyd iterations, full passes and active-row passes together.
    pub n_iter: usize,
    /// Passes over every row (the other `n_iter` passes scanned only the active rows).
    pub full_passes: usize,
}

/// At most this fraction of rows is kept active (nearest a boundary) between full
/// passes: a larger set costs more per pass, a smaller one ends its epoch sooner
/// (the sweep that chose it: bench/RESULTS.md).
const ACTIVE_FRACTION: f64 = 0.03;
/// The threshold is at most this many times the last centre move: while centres
/// still move a lot the epoch ends soon anyway, and once they creep a small threshold
/// keeps the active set small (measured with [`ACTIVE_FRACTION`]: bench/RESULTS.md).
const TRAVEL_FACTOR: f64 = 16.0;
/// Rows of the gap array looked at to pick the active threshold.
const GAP_SAMPLE_STEP: usize = 61;

/// Lloyd on all rows from `centers` to a fixed point (no label changes), `max_iter`
/// passes, or a summed squared centre shift <= `tol`: the same iterates as
/// `hamerly::hamerly` (bit for bit, barring exact distance ties), computed with far less
/// memory traffic. Late Lloyd iterations move few customers, and only customers near
/// a boundary between two segments can move: after a full pass, each row's gap
/// (distance to the second-nearest centre minus distance to the nearest) is known, and
/// a row whose gap exceeds twice the farthest any centre has since travelled cannot
/// have changed segment. So a full pass picks a threshold, copies the rows under it
/// (at most about [`ACTIVE_FRACTION`] of them) with Hamerly bounds, and the next iterations
/// scan only those, until some centre has travelled past the threshold; then a full
/// pass again. Returns None when a segment empties (the caller then falls back to the
/// general path, which relocates empty segments).
pub fn refine(x: &Matrix, mut centers: Vec<f64>, max_iter: usize, tol: f64) -> Option<Refined> {
    let (n, d) = (x.n, x.d);
    let k = centers.len() / d;
    if u32::try_from(n).is_err() {
        return None; // active rows are indexed by u32
    }
    let isa = Isa::detect();
    let mut labels = vec![0u32; n];
    let mut gap = vec![0.0f32; n];
    let mut sums = vec![0.0f64; k * d];
    let mut counts = vec![0i64; k];
    let mut n_iter = 0;
    let mut full_passes = 0;
    let mut init = true;
    // The active set of the current epoch, when `live`; its buffers are reused.
    let mut act = Active::empty();
    let mut live = false;
    let mut half_sep = vec![0.0f64; k];
    let mut moved = vec![0.0f64; k];
    loop {
        let deltas: Vec<Delta> = if live {
            active_pass(&mut act, &centers, &half_sep, &moved, d)
        } else {
            full_passes += 1;
            full_pass(x, &centers, &mut labels, &mut gap, init, isa)
        };
        for dl in &deltas {
            sums.iter_mut().zip(&dl.sums).for_each(|(a, v)| *a += v);
            counts.iter_mut().zip(&dl.counts).for_each(|(a, v)| *a += v);
        }
        let changed: u64 = deltas.iter().map(|dl| dl.changed).sum();
        drop(deltas);
        n_iter += 1;
        if (!init && changed == 0) || n_iter > max_iter {
            break;
        }
        init = false;
        if counts.iter().any(|&c| c <= 0) {
            return None;
        }
        let shift = move_to_means(&mut centers, &sums, &counts, &mut moved, d);
        if shift <= tol {
            break;
        }
        half_separations(&centers, d, &mut half_sep);
        if live {
            let mut far = 0.0f64;
            for (t, m) in act.travelled.iter_mut().zip(&moved) {
                *t += m;
                far = far.max(*t);
            }
            if far > act.theta {
                // Frozen rows may now be near a boundary: back to a full pass.
                for (&i, &l) in act.index.iter().zip(&act.labels) {
                    labels[i as usize] = l;
                }
                live = false;
            }
        } else {
            live = gather(x, &centers, &labels, &gap, &moved, &mut act);
        }
    }
    if live {
        for (&i, &l) in act.index.iter().zip(&act.labels) {
            labels[i as usize] = l;
        }
    }
    drop(act);
    drop(gap);
    // Exact means of the final labels, summed in row order like `hamerly::hamerly`.
    set_exact_means(x, &labels, &mut centers);
    let (inertia, counts) = assign_labels(x, &centers, &mut labels, true);
    Some(Refined {
        centers,
        counts,
        inertia,
        n_iter,
        full_passes,
    })
}

/// A pass over every row at `centers`: labels, the chunk deltas (all rows on the first
/// pass), and each row's gap between the nearest and second-nearest centre distances
/// (in f32: [`gather`] allows for the rounding).
fn full_pass(
    x: &Matrix,
    centers: &[f64],
    labels: &mut [u32],
    gap: &mut [f32],
    init: bool,
    isa: Isa,
) -> Vec<Delta> {
    let d = x.d;
    let work = |rows: &[f64], lab: &mut [u32], gp: &mut [f32]| -> Delta {
        dispatch_d!(d, full_chunk(rows, centers, lab, gp, init, d, isa))
    };
    x.data
        .par_chunks(CHUNK * d)
        .zip(labels.par_chunks_mut(CHUNK))
        .zip(gap.par_chunks_mut(CHUNK))
        .map(|((r, l), g)| work(r, l, g))
        .collect()
}

/// Splits `s` into consecutive parts of the given sizes.
fn split_sizes<T>(mut s: &mut [T], sizes: impl Iterator<Item = usize>) -> Vec<&mut [T]> {
    let mut out = Vec::new();
    for m in sizes {
        let (a, b) = std::mem::take(&mut s).split_at_mut(m);
        out.push(a);
        s = b;
    }
    out
}

/// Per-chunk output slices of [`gather`].
type GatherOut<'a> = (
    &'a mut [f64],
    &'a mut [u32],
    &'a mut [u32],
    &'a mut [f64],
    &'a mut [f64],
);

/// After a full pass at the previous centres (whose gaps are in `gap`) and the update
/// to `centers` (each centre having moved by `moved`): picks the threshold and copies
/// the active rows with Hamerly bounds at `centers` into `act` (whose buffers are
/// reused from epoch to epoch). False when too few rows would stay frozen for long
/// enough to be worth it.
fn gather(
    x: &Matrix,
    centers: &[f64],
    labels: &[u32],
    gap: &[f32],
    moved: &[f64],
    act: &mut Active,
) -> bool {
    let d = x.d;
    let k = centers.len() / d;
    if k < 2 {
        return false;
    }
    let mut sample: Vec<f32> = gap.iter().step_by(GAP_SAMPLE_STEP).copied().collect();
    if sample.is_empty() {
        return false;
    }
    let q = ((sample.len() as f64 * ACTIVE_FRACTION) as usize).min(sample.len() - 1);
    let (_, &mut g, _) = sample.select_nth_unstable_by(q, f32::total_cmp);
    let far = moved.iter().fold(0.0f64, |m, &v| m.max(v));
    let theta = (f64::from(g) / 2.0).min(TRAVEL_FACTOR * far);
    if !(theta.is_finite() && theta > 2.0 * far) {
        return false;
    }
    // Rows with a stored gap above `cut` are frozen: the stored gap is within a relative
    // 2^-24 of the true one, and so is `cut` of 2 theta (1 + 1e-6), so their true gap
    // exceeds 2 theta.
    let cut = (2.0 * theta * (1.0 + 1e-6)) as f32;
    let sizes: Vec<usize> = gap
        .par_chunks(CHUNK)
        .map(|g| g.iter().filter(|&&v| v <= cut).count())
        .collect();
    let total: usize = sizes.iter().sum();
    act.rows.resize(total * d, 0.0);
    act.index.resize(total, 0);
    act.labels.resize(total, 0);
    act.upper.resize(total, 0.0);
    act.lower.resize(total, 0.0);
    act.groups.clear();
    let mut start = 0;
    for (ci, &m) in sizes.iter().enumerate() {
        if m > 0 {
            act.groups.push((ci, start, start + m));
            start += m;
        }
    }
    let outs: Vec<GatherOut> = split_sizes(&mut act.rows, sizes.iter().map(|&m| m * d))
        .into_iter()
        .zip(split_sizes(&mut act.index, sizes.iter().copied()))
        .zip(split_sizes(&mut act.labels, sizes.iter().copied()))
        .zip(split_sizes(&mut act.upper, sizes.iter().copied()))
        .zip(split_sizes(&mut act.lower, sizes.iter().copied()))
        .map(|((((r, i), l), u), lo)| (r, i, l, u, lo))
        .collect();
    x.data
        .par_chunks(CHUNK * d)
        .zip(labels.par_chunks(CHUNK))
        .zip(gap.par_chunks(CHUNK))
        .zip(outs)
        .enumerate()
        .for_each(|(ci, (((rows, lab), gp), out))| {
            dispatch_d!(d, gather_chunk(rows, lab, gp, ci * CHUNK, cut, out, d))
        });
    // Hamerly bounds at `centers`, with the vectorised scan over the copied rows: the
    // distance to the row's centre, and a lower bound on the distance to the others.
    let isa = Isa::detect();
    act.rows
        .par_chunks(CHUNK * d)
        .zip(act.labels.par_chunks(CHUNK))
        .zip(act.upper.par_chunks_mut(CHUNK))
        .zip(act.lower.par_chunks_mut(CHUNK))
        .for_each(|(((rows, lab), up), lo)| {
            dispatch_d!(d, bounds_chunk(rows, lab, up, lo, centers, d, isa))
        });
    act.theta = theta;
    act.travelled.clear();
    act.travelled.extend_from_slice(moved);
    act.fresh = true;
    true
}

/// Copies the active rows of one chunk (stored gap <= `cut`), their indices and labels.
#[allow(clippy::too_many_arguments)]
fn gather_chunk<const D: usize>(
    rows: &[f64],
    lab: &[u32],
    gp: &[f32],
    first: usize,
    cut: f32,
    out: GatherOut,
    d: usize,
) {
    let d = dim::<D>(d);
    let (o_rows, o_idx, o_lab, _, _) = out;
    let mut m = 0;
    for (i, &g) in gp.iter().enumerate() {
        if g <= cut {
            o_rows[m * d..(m + 1) * d].copy_from_slice(&rows[i * d..(i + 1) * d]);
            o_idx[m] = (first + i) as u32;
            o_lab[m] = lab[i];
            m += 1;
        }
    }
}

/// Hamerly bounds of rows labelled `lab` at `centers`: upper = distance to the labelled
/// centre, lower = distance to the nearest other centre (the nearest, when that is not
/// the labelled one, else the second nearest).
fn bounds_chunk<const D: usize>(
    rows: &[f64],
    lab: &[u32],
    up: &mut [f64],
    lo: &mut [f64],
    centers: &[f64],
    d: usize,
    isa: Isa,
) {
    let d = dim::<D>(d);
    scan::<D, true, _>(rows, centers, d, isa, |i0, b, m| {
        for l in 0..m {
            let i = i0 + l;
            let a = lab[i] as usize;
            if b.lab[l] as usize == a {
                up[i] = b.best[l].sqrt();
                lo[i] = b.second[l].sqrt();
            } else {
                let row = &rows[i * d..(i + 1) * d];
                up[i] = sqdist::<D>(row, &centers[a * d..(a + 1) * d], d).sqrt();
                lo[i] = b.best[l].sqrt();
            }
        }
    });
}

impl Active {
    fn empty() -> Self {
        Active {
            rows: Vec::new(),
            index: Vec::new(),
            labels: Vec::new(),
            upper: Vec::new(),
            lower: Vec::new(),
            groups: Vec::new(),
            theta: 0.0,
            travelled: Vec::new(),
            fresh: false,
        }
    }
}

/// One Hamerly iteration over the active rows only (frozen rows cannot change), one
/// delta per source chunk that has active rows, in chunk order.
fn active_pass(
    a: &mut Active,
    centers: &[f64],
    half_sep: &[f64],
    moved: &[f64],
    d: usize,
) -> Vec<Delta> {
    let k = centers.len() / d;
    // Bounds fresh from `gather` are already at these centres.
    let zero = vec![0.0; k];
    let moved = if a.fresh { &zero[..] } else { moved };
    a.fresh = false;
    let drift = Drift::of(moved);
    let Active {
        rows,
        labels,
        upper,
        lower,
        groups,
        ..
    } = a;
    let rows: &[f64] = rows;
    // Split the per-row arrays at the group boundaries, for a parallel map over groups.
    let mut lab_parts: Vec<&mut [u32]> = Vec::with_capacity(groups.len());
    let mut up_parts: Vec<&mut [f64]> = Vec::with_capacity(groups.len());
    let mut lo_parts: Vec<&mut [f64]> = Vec::with_capacity(groups.len());
    let (mut lr, mut ur, mut orr) = (&mut labels[..], &mut upper[..], &mut lower[..]);
    for &(_, s, e) in groups.iter() {
        let (l1, l2) = std::mem::take(&mut lr).split_at_mut(e - s);
        let (u1, u2) = std::mem::take(&mut ur).split_at_mut(e - s);
        let (o1, o2) = std::mem::take(&mut orr).split_at_mut(e - s);
        lab_parts.push(l1);
        up_parts.push(u1);
        lo_parts.push(o1);
        lr = l2;
        ur = u2;
        orr = o2;
    }
    groups
        .par_iter()
        .zip(lab_parts)
        .zip(up_parts)
        .zip(lo_parts)
        .map(|(((&(_, s, e), lab), up), lo)| {
            let rws = &rows[s * d..e * d];
            dispatch_d!(
                d,
                hamerly_chunk(rws, centers, lab, up, lo, half_sep, &drift, false, d)
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::test_blobs as blobs;
    use crate::rng::Rng;

    #[test]
    fn refine_reaches_the_plain_lloyd_fixed_point() {
        let x = blobs(40_000, 3, 5);
        let k = 7;
        let start = crate::cluster::seeding::kmeans_plusplus(&x, k, &mut Rng::new(9), true);
        let r = refine(&x, start.clone(), 300, 0.0).expect("no empty segment");
        assert!(
            r.full_passes < r.n_iter / 2,
            "{} of {}",
            r.full_passes,
            r.n_iter
        );
        // Plain Lloyd with the fused step to its fixed point.
        let mut centers = start;
        let mut labels = vec![u32::MAX; x.n];
        let mut iters = 0;
        loop {
            let st = lloyd_step(&x, &centers, &mut labels, true);
            iters += 1;
            if st.changed == 0 || iters > 300 {
                break;
            }
            centers = st.means(&centers);
        }
        let mut mine = vec![0u32; x.n];
        assign_labels(&x, &r.centers, &mut mine, true);
        assert_eq!(mine, labels, "same partition");
        let (inertia, counts) = assign_labels(&x, &r.centers, &mut mine, false);
        assert_eq!(r.inertia.to_bits(), inertia.to_bits());
        assert_eq!(r.counts, counts);
        for (a, b) in r.centers.iter().zip(&centers) {
            assert!((a - b).abs() < 1e-12);
        }
    }
}
