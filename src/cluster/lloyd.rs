//! Large-input Lloyd kernels: the nearest-centre scan over blocks of rows, the fused
//! Lloyd step (assignment + per-centre sums in one pass), the labelling pass behind
//! `kmeans::assign`, and the full-data refinement of the large-input K-Means sweep.
//!
//! Why a separate scan: on 10 million rows a Lloyd pass is bounded by memory and by the
//! k distance evaluations per row. Rows are transposed [`BLOCK`] at a time into a small
//! structure of arrays so that each centre's distance is computed for the whole block in
//! vector registers (the compiler vectorises the lane loops). That code is compiled
//! with AVX2 and with AVX-512 (one 8-lane vector per block) and picked at run time on
//! CPUs that have them; elsewhere rows go through the plain row loop (the blocked code
//! compiled for 2-lane SSE2 was slower than it). On the 2-core EPYC of bench/RESULTS.md,
//! one fused Lloyd step over 10M x 3 at k = 10: AVX2 24.6 ms (3.3x a streaming read of
//! the matrix), AVX-512 21.2 ms (2.8x).
//!
//! Exactness: every distance is computed exactly as [`super::sqdist`] does it (start at
//! 0, add the squared difference of each feature in feature order, no fused
//! multiply-add, which Rust never introduces on its own), and the nearest centre is the
//! first one with the strictly smallest distance, as in [`super::nearest`]. Vector lanes
//! hold different rows, never parts of one sum, so the blocked AVX2 path and the row
//! loop give bit-identical distances, labels, sums and inertia. Per-chunk results
//! are reduced in chunk order over fixed [`CHUNK`]-row chunks, so nothing depends on the
//! thread count either.

use rayon::prelude::*;

use super::kmeans::CHUNK;
use super::kmeans::{hamerly_chunk, Delta, Drift};
use super::{dim, dispatch_d, half_separations, move_to_means, set_exact_means, sqdist};
use crate::scale::Matrix;

/// Rows per block of the vectorised scan: 8 doubles fill two AVX2 registers (or four
/// SSE2 ones) per feature, enough independent work to hide the latency of each add.
pub const BLOCK: usize = 8;

/// Nearest centre, its squared distance and the second-nearest squared distance of
/// each row of a block.
struct BlockOut {
    lab: [u32; BLOCK],
    best: [f64; BLOCK],
    second: [f64; BLOCK],
    /// sqrt(second) - sqrt(best), rounded to f32 (only when the second is asked for).
    gap: [f32; BLOCK],
}

/// [`BlockOut`] for `BLOCK` consecutive rows (`D` > 0): the rows are transposed so each
/// centre's distances for the whole block are lane-wise vector operations.
#[inline(always)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn block_portable<const D: usize, const SECOND: bool>(
    rows: &[f64],
    centers: &[f64],
    out: &mut BlockOut,
) {
    let rows = &rows[..BLOCK * D];
    let mut xs = [[0.0f64; BLOCK]; D];
    for l in 0..BLOCK {
        for j in 0..D {
            xs[j][l] = rows[l * D + j];
        }
    }
    let mut best = [f64::INFINITY; BLOCK];
    let mut second = [f64::INFINITY; BLOCK];
    // Labels as f64 so the selects run at the width of the distance compares.
    let mut lab = [0.0f64; BLOCK];
    for (c, center) in centers.chunks_exact(D).enumerate() {
        let cf = c as f64;
        // 0 + t² is t² exactly (a square is never -0), so the first feature starts
        // the sum without the add `sqdist` makes.
        let mut s = [0.0f64; BLOCK];
        for l in 0..BLOCK {
            let t = xs[0][l] - center[0];
            s[l] = t * t;
        }
        for j in 1..D {
            let cj = center[j];
            for l in 0..BLOCK {
                let t = xs[j][l] - cj;
                s[l] += t * t;
            }
        }
        for l in 0..BLOCK {
            let lt = s[l] < best[l];
            if SECOND {
                second[l] = if lt {
                    best[l]
                } else if s[l] < second[l] {
                    s[l]
                } else {
                    second[l]
                };
            }
            best[l] = if lt { s[l] } else { best[l] };
            lab[l] = if lt { cf } else { lab[l] };
        }
    }
    for l in 0..BLOCK {
        out.lab[l] = lab[l] as u32;
    }
    if SECOND {
        for l in 0..BLOCK {
            out.gap[l] = (second[l].sqrt() - best[l].sqrt()) as f32;
        }
    }
    out.best = best;
    out.second = second;
}

/// The same code compiled for AVX2 (no FMA: results are identical to the portable build).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn block_avx2<const D: usize, const SECOND: bool>(
    rows: &[f64],
    centers: &[f64],
    out: &mut BlockOut,
) {
    block_portable::<D, SECOND>(rows, centers, out)
}

/// The same code compiled for AVX-512 (one 8-lane vector per block; no FMA either).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn block_avx512<const D: usize, const SECOND: bool>(
    rows: &[f64],
    centers: &[f64],
    out: &mut BlockOut,
) {
    block_portable::<D, SECOND>(rows, centers, out)
}

/// Whether the AVX-512 build of the block kernel may run (only asked when AVX2 may).
#[cfg(target_arch = "x86_64")]
fn use_avx512() -> bool {
    static NO_512: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    !*NO_512.get_or_init(|| std::env::var_os("CARDSEG_NO_AVX512").is_some())
        && is_x86_feature_detected!("avx512f")
}

/// The nearest centre of every row of `rows` (row-major, `d` features), handed to `f`
/// a block at a time in row order as (index in `rows` of the block's first row, the
/// block's [`BlockOut`], rows in the block). The second-nearest distance and the gap
/// are infinite when `SECOND` is false or k = 1. One call site per block, so the
/// compiler inlines `f`.
#[inline(always)]
fn scan<const D: usize, const SECOND: bool, F: FnMut(usize, &BlockOut, usize)>(
    rows: &[f64],
    centers: &[f64],
    d: usize,
    avx2: bool,
    mut f: F,
) {
    let d = dim::<D>(d);
    let n = rows.len() / d;
    let mut i = 0;
    let mut out = BlockOut {
        lab: [0; BLOCK],
        best: [f64::INFINITY; BLOCK],
        second: [f64::INFINITY; BLOCK],
        gap: [f32::INFINITY; BLOCK],
    };
    // The blocked kernel only pays with 4-wide vectors: compiled for SSE2 (2 lanes) it
    // measured 84 ms per 10M-row pass at k = 10 against 57 ms for the row loop below,
    // so without AVX2 every row takes the row loop (same results either way).
    #[cfg(target_arch = "x86_64")]
    if D > 0 && avx2 {
        if use_avx512() {
            while i + BLOCK <= n {
                let block = &rows[i * D..(i + BLOCK) * D];
                // SAFETY: use_avx512() is true only when the CPU reported AVX-512F.
                unsafe { block_avx512::<D, SECOND>(block, centers, &mut out) };
                f(i, &out, BLOCK);
                i += BLOCK;
            }
        }
        while i + BLOCK <= n {
            let block = &rows[i * D..(i + BLOCK) * D];
            // SAFETY: `avx2` is true only when the CPU reported AVX2 support.
            unsafe { block_avx2::<D, SECOND>(block, centers, &mut out) };
            f(i, &out, BLOCK);
            i += BLOCK;
        }
    }
    let _ = avx2;
    // Rows left over (all of them without AVX2, or with a run-time d): the same
    // arithmetic one row at a time.
    while i < n {
        let row = &rows[i * d..(i + 1) * d];
        let (mut b1, mut d1, mut d2) = (0u32, f64::INFINITY, f64::INFINITY);
        for (c, center) in centers.chunks_exact(d).enumerate() {
            let s = sqdist::<D>(row, center, d);
            if s < d1 {
                d2 = d1;
                d1 = s;
                b1 = c as u32;
            } else if SECOND && s < d2 {
                d2 = s;
            }
        }
        out.lab[0] = b1;
        out.best[0] = d1;
        out.second[0] = d2;
        if SECOND {
            out.gap[0] = (d2.sqrt() - d1.sqrt()) as f32;
        }
        f(i, &out, 1);
        i += 1;
    }
}

/// Which build of the distance kernel runs on this CPU ("avx512", "avx2" or "portable";
/// same results).
pub fn kernel_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if use_avx2() && use_avx512() {
        return "avx512";
    }
    if use_avx2() {
        "avx2"
    } else {
        "portable"
    }
}

/// Whether the AVX2 build of the scan may run (checked once; the answer is cached by std).
#[inline]
fn use_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static NO_SIMD: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        // CARDSEG_NO_SIMD=1 forces the portable build (to compare the two in benchmarks).
        !*NO_SIMD.get_or_init(|| std::env::var_os("CARDSEG_NO_SIMD").is_some())
            && is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

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

/// Labels every row with its nearest centre (first on ties); returns the inertia
/// (per-chunk sums in row order, added in chunk order) and the cluster sizes.
/// Bit-identical to a row-by-row [`super::nearest`] loop over the same chunks.
pub fn assign_labels(
    x: &Matrix,
    centers: &[f64],
    labels: &mut [u32],
    parallel: bool,
) -> (f64, Vec<u64>) {
    let d = x.d;
    let k = centers.len() / d;
    let avx2 = use_avx2();
    let parts = chunked(&x.data, d, labels, parallel, |rows, lab| {
        dispatch_d!(d, assign_chunk(rows, centers, lab, d, avx2))
    });
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

/// [`assign_labels`] on one chunk.
fn assign_chunk<const D: usize>(
    rows: &[f64],
    centers: &[f64],
    lab: &mut [u32],
    d: usize,
    avx2: bool,
) -> (f64, Vec<u64>) {
    let k = centers.len() / dim::<D>(d);
    let mut counts = vec![0u64; k];
    let mut inertia = 0.0;
    scan::<D, false, _>(rows, centers, d, avx2, |i0, b, m| {
        for l in 0..m {
            let c = b.lab[l];
            lab[i0 + l] = c;
            counts[c as usize] += 1;
            inertia += b.best[l];
        }
    });
    (inertia, counts)
}

/// [`lloyd_step`] on one chunk: the scan writes labels and sums the inertia, then the
/// chunk's rows, still in cache (4096 rows are 96 KB), are added to their centres' sums
/// in row order. Two tight loops beat one loop doing both (measured: 24 ms against
/// 36 ms per 10M-row iteration at k = 10): the scatter into the sums no longer stalls
/// the vectorised distance code. The matrix is still read from memory once.
fn step_chunk<const D: usize>(
    rows: &[f64],
    centers: &[f64],
    lab: &mut [u32],
    d: usize,
    avx2: bool,
) -> LloydStep {
    let d = dim::<D>(d);
    let k = centers.len() / d;
    let mut st = LloydStep {
        sums: vec![0.0; k * d],
        counts: vec![0; k],
        inertia: 0.0,
        changed: 0,
    };
    let mut changed = 0u64;
    let mut inertia = 0.0;
    scan::<D, false, _>(rows, centers, d, avx2, |i0, b, m| {
        for l in 0..m {
            let c = b.lab[l];
            changed += u64::from(lab[i0 + l] != c);
            lab[i0 + l] = c;
            inertia += b.best[l];
        }
    });
    for (row, &c) in rows.chunks_exact(d).zip(lab.iter()) {
        let c = c as usize;
        st.counts[c] += 1;
        for j in 0..d {
            st.sums[c * d + j] += row[j];
        }
    }
    st.changed = changed;
    st.inertia = inertia;
    st
}

/// [`full_pass`] on one chunk.
fn full_chunk<const D: usize>(
    rows: &[f64],
    centers: &[f64],
    lab: &mut [u32],
    gp: &mut [f32],
    init: bool,
    d: usize,
    avx2: bool,
) -> Delta {
    let d = dim::<D>(d);
    let k = centers.len() / d;
    let mut delta = Delta::new(k, d);
    scan::<D, true, _>(rows, centers, d, avx2, |i0, b, m| {
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

/// One fused Lloyd iteration's data pass.
#[derive(Debug, Clone, PartialEq)]
pub struct LloydStep {
    /// k × d sums of the rows assigned to each centre.
    pub sums: Vec<f64>,
    pub counts: Vec<u64>,
    /// Sum of squared distances to the nearest centre (the inertia of these centres).
    pub inertia: f64,
    /// Rows whose label differs from the one passed in.
    pub changed: u64,
}

impl LloydStep {
    /// The new centres: the means of the assigned rows (an empty centre stays put).
    pub fn means(&self, old: &[f64]) -> Vec<f64> {
        let d = self.sums.len() / self.counts.len().max(1);
        let mut out = old.to_vec();
        for (c, &n) in self.counts.iter().enumerate() {
            if n > 0 {
                for j in 0..d {
                    out[c * d + j] = self.sums[c * d + j] / n as f64;
                }
            }
        }
        out
    }
}

/// One Lloyd iteration in one pass over the rows: each row's nearest centre (written to
/// `labels`, changes counted) and, in the same pass, the per-centre sums, counts and
/// inertia, reduced per fixed chunk and added in chunk order. The matrix is read once,
/// where a separate assignment and update would read it twice.
pub fn lloyd_step(x: &Matrix, centers: &[f64], labels: &mut [u32], parallel: bool) -> LloydStep {
    let d = x.d;
    let k = centers.len() / d;
    let avx2 = use_avx2();
    let parts = chunked(&x.data, d, labels, parallel, |rows, lab| {
        dispatch_d!(d, step_chunk(rows, centers, lab, d, avx2))
    });
    let mut out = LloydStep {
        sums: vec![0.0; k * d],
        counts: vec![0; k],
        inertia: 0.0,
        changed: 0,
    };
    for p in parts {
        out.sums.iter_mut().zip(&p.sums).for_each(|(a, b)| *a += b);
        out.counts
            .iter_mut()
            .zip(&p.counts)
            .for_each(|(a, b)| *a += b);
        out.inertia += p.inertia;
        out.changed += p.changed;
    }
    out
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
    pub centers: Vec<f64>,
    pub counts: Vec<u64>,
    pub inertia: f64,
    pub n_iter: usize,
    /// Passes over every row (the other `n_iter` passes scanned only the active rows).
    pub full_passes: usize,
}

/// At most this fraction of rows is kept active (nearest a boundary) between full
/// passes. On the 10M-row file, sweep k = 2..10: 0.03 -> 4.37-4.50 s, 0.08 -> 4.59-4.69 s,
/// 0.15 -> 5.54 s, 0.015 -> 5.01 s (a smaller set ends its epoch sooner).
const ACTIVE_FRACTION: f64 = 0.03;
/// The threshold is at most this many times the last centre move: while centres
/// still move a lot the epoch ends soon anyway, and once they creep a small threshold
/// keeps the active set small (6 -> 5.03 s, 16 -> 4.6 s, 40 -> 4.61 s on the sweep above).
const TRAVEL_FACTOR: f64 = 16.0;
/// Rows of the gap array looked at to pick the active threshold.
const GAP_SAMPLE_STEP: usize = 61;

/// Lloyd on all rows from `centers` to a fixed point (no label changes), `max_iter`
/// passes, or a summed squared centre shift <= `tol`: the same iterates as
/// `kmeans::hamerly` (bit for bit, barring exact distance ties), computed with far less
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
    let avx2 = use_avx2();
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
            full_pass(x, &centers, &mut labels, &mut gap, init, avx2)
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
    // Exact means of the final labels, summed in row order like `kmeans::hamerly`.
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
    avx2: bool,
) -> Vec<Delta> {
    let d = x.d;
    let work = |rows: &[f64], lab: &mut [u32], gp: &mut [f32]| -> Delta {
        dispatch_d!(d, full_chunk(rows, centers, lab, gp, init, d, avx2))
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
    let avx2 = use_avx2();
    act.rows
        .par_chunks(CHUNK * d)
        .zip(act.labels.par_chunks(CHUNK))
        .zip(act.upper.par_chunks_mut(CHUNK))
        .zip(act.lower.par_chunks_mut(CHUNK))
        .for_each(|(((rows, lab), up), lo)| {
            dispatch_d!(d, bounds_chunk(rows, lab, up, lo, centers, d, avx2))
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
    avx2: bool,
) {
    let d = dim::<D>(d);
    scan::<D, true, _>(rows, centers, d, avx2, |i0, b, m| {
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
    use crate::cluster::nearest;
    use crate::rng::Rng;

    fn blobs(n: usize, d: usize, seed: u64) -> Matrix {
        let mut rng = Rng::new(seed);
        let mut data = Vec::with_capacity(n * d);
        for _ in 0..n {
            let blob = rng.below(5) as f64 / 5.0;
            for _ in 0..d {
                data.push((blob + 0.08 * rng.normal().abs()).clamp(0.0, 1.0));
            }
        }
        Matrix { n, d, data }
    }

    /// The row-by-row reference: `nearest` per row, inertia summed per chunk in row order.
    fn reference(x: &Matrix, centers: &[f64]) -> (Vec<u32>, f64, Vec<u64>) {
        let (d, k) = (x.d, centers.len() / x.d);
        let mut labels = Vec::with_capacity(x.n);
        let mut counts = vec![0u64; k];
        let mut inertia = 0.0;
        for rows in x.data.chunks(CHUNK * d) {
            let mut part = 0.0;
            for row in rows.chunks_exact(d) {
                let (c, dist) = nearest::<0>(row, centers, d);
                labels.push(c);
                counts[c as usize] += 1;
                part += dist;
            }
            inertia += part;
        }
        (labels, inertia, counts)
    }

    #[test]
    fn assign_labels_is_bit_identical_to_nearest_for_every_d() {
        // Row counts that are not multiples of the block or the chunk exercise the tails.
        for d in 1..=7 {
            let x = blobs(2 * CHUNK + 13, d, d as u64);
            let centers = crate::cluster::kmeans::kmeans_plusplus(&x, 6, &mut Rng::new(3), false);
            let (want_l, want_i, want_c) = reference(&x, &centers);
            for parallel in [false, true] {
                let mut labels = vec![0u32; x.n];
                let (inertia, counts) = assign_labels(&x, &centers, &mut labels, parallel);
                assert_eq!(labels, want_l, "d = {d}");
                assert_eq!(inertia.to_bits(), want_i.to_bits(), "d = {d}");
                assert_eq!(counts, want_c, "d = {d}");
            }
        }
    }

    #[test]
    fn simd_and_portable_builds_agree_bit_for_bit() {
        if !use_avx2() {
            return; // nothing to compare on this CPU
        }
        let x = blobs(1000, 3, 2);
        let centers = crate::cluster::kmeans::kmeans_plusplus(&x, 9, &mut Rng::new(4), false);
        let run = |avx2: bool| {
            let mut out = Vec::new();
            scan::<3, true, _>(&x.data, &centers, 3, avx2, |i0, b, m| {
                for l in 0..m {
                    out.push((
                        i0 + l,
                        b.lab[l],
                        b.best[l].to_bits(),
                        b.second[l].to_bits(),
                        b.gap[l].to_bits(),
                    ));
                }
            });
            out
        };
        assert_eq!(run(true), run(false));
    }

    /// Each compiled build of the block kernel (AVX2, and AVX-512 where the CPU has it)
    /// against the portable one, block by block, with and without second distances.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn every_block_kernel_build_agrees_with_the_portable_one() {
        if !use_avx2() {
            return; // nothing to compare on this CPU
        }
        let x = blobs(800, 3, 5);
        let centers = crate::cluster::kmeans::kmeans_plusplus(&x, 10, &mut Rng::new(6), false);
        let empty = || BlockOut {
            lab: [0; BLOCK],
            best: [0.0; BLOCK],
            second: [0.0; BLOCK],
            gap: [0.0; BLOCK],
        };
        let bits = |o: &BlockOut| {
            (
                o.lab,
                o.best.map(f64::to_bits),
                o.second.map(f64::to_bits),
                o.gap.map(f32::to_bits),
            )
        };
        let wide = is_x86_feature_detected!("avx512f");
        for block in x.data.chunks_exact(BLOCK * 3) {
            let (mut p, mut a, mut w) = (empty(), empty(), empty());
            block_portable::<3, true>(block, &centers, &mut p);
            // SAFETY: AVX2 was detected above (use_avx2), AVX-512F just now.
            unsafe { block_avx2::<3, true>(block, &centers, &mut a) };
            assert_eq!(bits(&a), bits(&p));
            if wide {
                unsafe { block_avx512::<3, true>(block, &centers, &mut w) };
                assert_eq!(bits(&w), bits(&p));
            }
            let (mut p, mut w) = (empty(), empty());
            block_portable::<3, false>(block, &centers, &mut p);
            if wide {
                unsafe { block_avx512::<3, false>(block, &centers, &mut w) };
                assert_eq!(bits(&w), bits(&p));
            }
        }
    }

    #[test]
    fn ties_go_to_the_first_centre_in_the_blocked_kernel() {
        // Every row is equidistant from centres 1 and 2 and farther from 0.
        let x = Matrix {
            n: 20,
            d: 2,
            data: (0..20).flat_map(|i| [0.5, i as f64 * 0.01]).collect(),
        };
        let centers = vec![5.0, 5.0, 0.4, 0.0, 0.6, 0.0];
        let mut labels = vec![9u32; x.n];
        assign_labels(&x, &centers, &mut labels, false);
        assert!(labels.iter().all(|&l| l == 1), "{labels:?}");
    }

    #[test]
    fn lloyd_step_sums_and_counts_match_its_labels() {
        let x = blobs(3 * CHUNK + 5, 3, 11);
        let centers = crate::cluster::kmeans::kmeans_plusplus(&x, 5, &mut Rng::new(1), false);
        let mut labels = vec![0u32; x.n];
        let st = lloyd_step(&x, &centers, &mut labels, true);
        let (want_l, want_i, want_c) = reference(&x, &centers);
        assert_eq!(labels, want_l);
        assert_eq!(st.counts, want_c);
        assert!((st.inertia - want_i).abs() <= 1e-9 * want_i);
        assert_eq!(
            st.changed,
            labels.iter().filter(|&&l| l != 0).count() as u64
        );
        for c in 0..5 {
            for j in 0..3 {
                let direct: f64 = (0..x.n)
                    .filter(|&i| labels[i] as usize == c)
                    .map(|i| x.row(i)[j])
                    .sum();
                assert!((st.sums[c * 3 + j] - direct).abs() <= 1e-9 * direct.abs().max(1.0));
            }
        }
        // Same labels again: nothing changes, and the results do not depend on threads.
        let again = lloyd_step(&x, &centers, &mut labels, false);
        assert_eq!(again.changed, 0);
        assert_eq!(again.sums, st.sums);
        assert_eq!(again.inertia.to_bits(), st.inertia.to_bits());
    }

    #[test]
    fn refine_reaches_the_plain_lloyd_fixed_point() {
        let x = blobs(40_000, 3, 5);
        let k = 7;
        let start = crate::cluster::kmeans::kmeans_plusplus(&x, k, &mut Rng::new(9), true);
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
