//! Silhouette scores (Rousseeuw 1987, scikit-learn's definition): for each customer,
//! a = mean distance to the others of its segment, b = the lowest mean distance to
//! another segment, s = (b - a) / max(a, b), and s = 0 in a segment of one.
//!
//! Written by hand because it is the costly part of choosing k: the exact score is
//! O(n²), and computing each pair distance once for the labelings of every k in the
//! sweep cuts the work by the number of k values. The distances are computed in f32 with
//! IEEE square roots (the square root is the bottleneck, and sixteen f32 lanes cost
//! what four f64 lanes do) and summed in short f32 runs flushed into f64, which keeps
//! every score within about 1e-7 of an all-f64 computation (tested against one); the
//! generic, AVX2 and AVX-512 builds do the same operations lane for lane, so the bits do
//! not depend on the CPU, and each customer is computed on its own, so they do not
//! depend on the thread count either.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::dim;
use crate::rng::Rng;
use crate::scale::Matrix;

/// Rows above which the sweep uses a sampled silhouette by default.
pub const EXACT_MAX_ROWS: usize = 20_000;
/// Default sample size of the sampled estimate.
pub const SAMPLE_SIZE: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Exact,
    Sampled,
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Method::Exact => "exact",
            Method::Sampled => "sampled",
        })
    }
}

/// A silhouette score; `std_error` is set for sampled estimates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Score {
    pub value: f64,
    pub method: Method,
    pub sample_size: u64,
    pub std_error: Option<f64>,
}

/// Exact mean silhouette of each labeling (each with its own k) of the same rows.
pub fn exact_many(x: &Matrix, labelings: &[(&[u32], usize)]) -> Vec<f64> {
    let per_point = samples_many(x, labelings);
    per_point
        .iter()
        .map(|s| s.iter().sum::<f64>() / x.n as f64)
        .collect()
}

/// Per-customer silhouettes for each labeling: `result[l][i]`.
///
/// The customers are grouped by the tuple of their labels across all labelings (the
/// common refinement of the partitions) and laid out group by group, each group starting
/// on a [`W`]-lane boundary. For each customer, one pass over that layout sums the
/// distances to every group (a vectorised loop with no scatter and no gather); each
/// labeling's per-segment sums are then a sum of group sums. Every pair distance is
/// computed once for all k, so the cost is that of one silhouette whatever the sweep.
///
/// Distances are computed in f32 (coordinates rounded to f32, IEEE square root) because
/// the square root is the bottleneck and an f32 lane costs a quarter to a sixth of an
/// f64 one; partial sums stay in f32 for at most [`FLUSH`] vectors per lane before they
/// are added to f64 accumulators, which bounds the relative error of every sum (see
/// [`group_sums_block`] and the test `f32_kernel_is_close_to_an_f64_reference`).
pub fn samples_many(x: &Matrix, labelings: &[(&[u32], usize)]) -> Vec<Vec<f64>> {
    samples_many_on(x, labelings, Path::detect())
}

/// [`samples_many`] with the build of the distance kernel chosen by the caller (the
/// tests run every build the CPU has and compare the bits).
fn samples_many_on(x: &Matrix, labelings: &[(&[u32], usize)], path: Path) -> Vec<Vec<f64>> {
    let (n, d) = (x.n, x.d);
    let nl = labelings.len();
    if n == 0 {
        return vec![Vec::new(); nl];
    }
    let tuple_cmp = |a: u32, b: u32| {
        labelings
            .iter()
            .map(|(l, _)| l[a as usize].cmp(&l[b as usize]))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    };
    let mut order: Vec<u32> = (0..n as u32).collect();
    // The tuple of labels as one mixed-radix number when it fits in 64 bits (always, for
    // a k sweep): sorting plain keys is several times faster than comparing tuples.
    let radix = labelings
        .iter()
        .try_fold(1u64, |acc, (_, k)| acc.checked_mul((*k).max(1) as u64));
    if radix.is_some()
        && labelings
            .iter()
            .all(|(l, k)| l.iter().all(|&v| (v as usize) < *k))
    {
        let key = |i: usize| {
            labelings
                .iter()
                .fold(0u64, |acc, (l, k)| acc * *k as u64 + l[i] as u64)
        };
        let mut keyed: Vec<(u64, u32)> = (0..n).map(|i| (key(i), i as u32)).collect();
        keyed.sort_unstable();
        order = keyed.into_iter().map(|(_, i)| i).collect();
    } else {
        order.sort_unstable_by(|&a, &b| tuple_cmp(a, b).then(a.cmp(&b)));
    }
    let mut starts = vec![0usize];
    for p in 1..n {
        if tuple_cmp(order[p - 1], order[p]).is_ne() {
            starts.push(p);
        }
    }
    starts.push(n);
    let groups = starts.len() - 1;
    // Segment of each group in each labeling, and segment sizes.
    let glab: Vec<Vec<u32>> = labelings
        .iter()
        .map(|(lab, _)| {
            (0..groups)
                .map(|g| lab[order[starts[g]] as usize])
                .collect()
        })
        .collect();
    let counts: Vec<Vec<u64>> = labelings
        .iter()
        .map(|(lab, k)| {
            let mut c = vec![0u64; *k];
            for &l in lab.iter() {
                c[l as usize] += 1;
            }
            c
        })
        .collect();
    // Group-padded column layout: group g occupies lanes off..off + len of each column,
    // with off a multiple of W; the padding lanes hold 0.0 and are masked off.
    let mut layout = Vec::with_capacity(groups);
    let mut p = 0usize;
    for g in 0..groups {
        let len = starts[g + 1] - starts[g];
        layout.push((p, len));
        p += len.div_ceil(W) * W;
    }
    let mut soa = vec![0.0f32; p * d];
    for (g, &(off, len)) in layout.iter().enumerate() {
        for q in 0..len {
            let i = order[starts[g] + q] as usize;
            for c in 0..d {
                soa[c * p + off + q] = x.data[i * d + c] as f32;
            }
        }
    }
    // The groups of each segment of each labeling, segment by segment (a CSR list), so
    // a segment's sum is a run of additions in group order with no scatter.
    let members: Vec<(Vec<usize>, Vec<u32>)> = glab
        .iter()
        .zip(labelings)
        .map(|(gl, (_, k))| {
            let mut first = vec![0usize; k + 1];
            for &s in gl {
                first[s as usize + 1] += 1;
            }
            for s in 0..*k {
                first[s + 1] += first[s];
            }
            let mut next = first.clone();
            let mut list = vec![0u32; groups];
            for (g, &s) in gl.iter().enumerate() {
                list[next[s as usize]] = g as u32;
                next[s as usize] += 1;
            }
            (first, list)
        })
        .collect();
    let max_k = labelings.iter().map(|(_, k)| *k).max().unwrap_or(1);
    let mut flat = vec![0.0f64; n * nl];
    flat.par_chunks_mut(ROWS * nl.max(1))
        .enumerate()
        .for_each_init(
            || (vec![0.0f64; ROWS * groups], vec![[0.0f64; ROWS]; max_k]),
            |(gsum, sums), (b, out)| {
                let i0 = b * ROWS;
                let rows = (n - i0).min(ROWS);
                group_sums(x, i0, rows, &soa, p, &layout, gsum, path);
                for l in 0..nl {
                    let k = labelings[l].1;
                    let (first, list) = &members[l];
                    // Segment sums for the ROWS customers at once (one vector add per
                    // group); each customer's sum is still its groups' in list order.
                    for (s, v) in sums[..k].iter_mut().enumerate() {
                        let mut a = [0.0f64; ROWS];
                        for &g in &list[first[s]..first[s + 1]] {
                            let g = g as usize;
                            let gs: &[f64; ROWS] =
                                gsum[g * ROWS..(g + 1) * ROWS].try_into().unwrap();
                            for r in 0..ROWS {
                                a[r] += gs[r];
                            }
                        }
                        *v = a;
                    }
                    for r in 0..rows {
                        let own = labelings[l].0[i0 + r] as usize;
                        out[r * nl + l] = point_score_t(own, &counts[l], &sums[..k], r);
                    }
                }
            },
        );
    (0..nl)
        .map(|l| (0..n).map(|i| flat[i * nl + l]).collect())
        .collect()
}

/// Lanes per vector of the distance kernel. Sixteen f32 lanes are one AVX-512 register
/// or two AVX2 registers; every path does the same per-lane operations in the same
/// order, so the width of the hardware changes the speed, not the bits.
const W: usize = 16;
/// Vectors summed per lane in f32 before the lanes are added up (in f32, a four-level
/// tree) and the partial is added to the row's f64 total. Each distance then goes
/// through at most FLUSH + 4 f32 additions of non-negative terms, so every partial has
/// relative error at most about (FLUSH + 4)·2⁻²⁴ ≈ 7e-7 on top of the distances' own.
const FLUSH: usize = 8;
/// Customers per parallel work item (and per register block of the AVX-512 path).
const ROWS: usize = 8;
/// Rows per register block of the AVX-512 kernel.
const RB: usize = 4;

/// Which build of the distance kernel runs. All give identical results.
#[derive(Clone, Copy, Debug)]
enum Path {
    Generic,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Path {
    /// Every build this CPU can run, generic first.
    #[cfg(test)]
    fn available() -> Vec<Path> {
        #[allow(unused_mut)]
        let mut v = vec![Path::Generic];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                v.push(Path::Avx2);
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                v.push(Path::Avx512);
            }
        }
        v
    }

    fn detect() -> Path {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Path::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Path::Avx2;
            }
        }
        Path::Generic
    }
}

/// Sums of distances from rows `i0..i0 + rows` of `x` to every group, into
/// `out[g * ROWS + r]`, with the build of the kernel `path` names.
#[allow(clippy::too_many_arguments)]
fn group_sums(
    x: &Matrix,
    i0: usize,
    rows: usize,
    soa: &[f32],
    p: usize,
    layout: &[(usize, usize)],
    out: &mut [f64],
    path: Path,
) {
    let d = x.d;
    let mut xs = [0.0f32; ROWS * MAX_D];
    if d > MAX_D || d == 0 {
        // Wide (or empty) rows: one at a time with the run-time dimension.
        for r in 0..rows {
            let xi: Vec<f32> = x.row(i0 + r).iter().map(|&v| v as f32).collect();
            group_sums_block::<0, 1>(&xi, soa, p, layout, out, r, d);
        }
        return;
    }
    for r in 0..rows {
        for (c, &v) in x.row(i0 + r).iter().enumerate() {
            xs[r * d + c] = v as f32;
        }
    }
    let xs = &xs[..rows * d];
    match path {
        #[cfg(target_arch = "x86_64")]
        Path::Avx512 => {
            // SAFETY: only chosen when the CPU reports AVX-512F.
            unsafe { group_sums_avx512(xs, rows, soa, p, layout, out, d) }
        }
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => {
            // SAFETY: only chosen when the CPU reports AVX2.
            unsafe { group_sums_avx2(xs, rows, soa, p, layout, out, d) }
        }
        Path::Generic => group_sums_rows::<1>(xs, rows, soa, p, layout, out, d),
    }
}

/// Widest dimension with a register-resident kernel (wider data use the run-time loop).
const MAX_D: usize = 6;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn group_sums_avx512(
    xs: &[f32],
    rows: usize,
    soa: &[f32],
    p: usize,
    layout: &[(usize, usize)],
    out: &mut [f64],
    d: usize,
) {
    let mut r = 0;
    while r < rows {
        let block = if rows - r >= RB { RB } else { 1 };
        let x = &xs[r * d..(r + block) * d];
        macro_rules! go {
            ($($d:literal)*) => {
                match (d, block) {
                    $(($d, RB) => avx512::rows::<$d, RB>(x, soa, p, layout, out, r),
                      ($d, _) => avx512::rows::<$d, 1>(x, soa, p, layout, out, r),)*
                    _ => unreachable!("d is 1..=MAX_D here"),
                }
            };
        }
        go!(1 2 3 4 5 6);
        r += block;
    }
}

/// The AVX-512 build of [`group_sums_block`] for `R` rows at once, in intrinsics so each
/// sixteen-lane vector is one register: every step is the generic code's, lane for
/// lane, and the halving tree is the same (lanes l and l + 8, then l + 4, l + 2, l + 1).
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{FLUSH, KEEP, ROWS, W};
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) fn rows<const D: usize, const R: usize>(
        xs: &[f32],
        soa: &[f32],
        p: usize,
        layout: &[(usize, usize)],
        out: &mut [f64],
        r0: usize,
    ) {
        assert!(xs.len() == D * R && D >= 1);
        let mut xb = [[_mm512_setzero_ps(); D]; R];
        for r in 0..R {
            for c in 0..D {
                xb[r][c] = _mm512_set1_ps(xs[r * D + c]);
            }
        }
        for (g, &(off, len)) in layout.iter().enumerate() {
            let full = len / W;
            let nv = len.div_ceil(W);
            // Every column holds the group's lanes off..off + nv * W.
            for c in 0..D {
                assert!(c * p + off + nv * W <= soa.len());
            }
            let mut total = [0.0f64; R];
            let mut acc = [_mm512_setzero_ps(); R];
            let mut run = 0;
            for v in 0..nv {
                let j = off + v * W;
                let mut col = [_mm512_setzero_ps(); D];
                for c in 0..D {
                    // SAFETY: c * p + j + W <= c * p + off + nv * W, checked above.
                    col[c] = unsafe { _mm512_loadu_ps(soa.as_ptr().add(c * p + j)) };
                }
                let keep = if v == full {
                    // SAFETY: KEEP rows have W = 16 lanes.
                    Some(unsafe { _mm512_loadu_ps(KEEP[len - full * W].as_ptr()) })
                } else {
                    None
                };
                for r in 0..R {
                    let mut sq = _mm512_setzero_ps();
                    for c in 0..D {
                        let t = _mm512_sub_ps(xb[r][c], col[c]);
                        sq = _mm512_add_ps(sq, _mm512_mul_ps(t, t));
                    }
                    let mut dist = _mm512_sqrt_ps(sq);
                    if let Some(k) = keep {
                        dist = _mm512_mul_ps(dist, k);
                    }
                    acc[r] = _mm512_add_ps(acc[r], dist);
                }
                run += 1;
                if run == FLUSH || v + 1 == nv {
                    for r in 0..R {
                        total[r] += hsum(acc[r]) as f64;
                        acc[r] = _mm512_setzero_ps();
                    }
                    run = 0;
                }
            }
            for r in 0..R {
                out[g * ROWS + r0 + r] = total[r];
            }
        }
    }

    /// The generic halving tree over the sixteen lanes.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn hsum(v: __m512) -> f32 {
        let lo = _mm512_castps512_ps256(v);
        let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
        let v8 = _mm256_add_ps(lo, hi);
        let v4 = _mm_add_ps(_mm256_castps256_ps128(v8), _mm256_extractf128_ps::<1>(v8));
        let v2 = _mm_add_ps(v4, _mm_movehl_ps(v4, v4));
        let v1 = _mm_add_ss(v2, _mm_shuffle_ps::<0b01>(v2, v2));
        _mm_cvtss_f32(v1)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn group_sums_avx2(
    xs: &[f32],
    rows: usize,
    soa: &[f32],
    p: usize,
    layout: &[(usize, usize)],
    out: &mut [f64],
    d: usize,
) {
    for r in 0..rows {
        let xi = &xs[r * d..(r + 1) * d];
        match d {
            1 => avx2::row::<1>(xi, soa, p, layout, out, r),
            2 => avx2::row::<2>(xi, soa, p, layout, out, r),
            3 => avx2::row::<3>(xi, soa, p, layout, out, r),
            4 => avx2::row::<4>(xi, soa, p, layout, out, r),
            5 => avx2::row::<5>(xi, soa, p, layout, out, r),
            _ => avx2::row::<6>(xi, soa, p, layout, out, r),
        }
    }
}

/// The AVX2 build of [`group_sums_block`] for one row, written with intrinsics because
/// the compiler splits the sixteen-lane loops into 128-bit pieces there. Sixteen lanes
/// are two 256-bit halves; every step is the generic code's, lane for lane, and the
/// halving tree is the same (lanes l and l + 8, then l + 4, l + 2, l + 1).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{FLUSH, KEEP, ROWS, W};
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn row<const D: usize>(
        xi: &[f32],
        soa: &[f32],
        p: usize,
        layout: &[(usize, usize)],
        out: &mut [f64],
        r: usize,
    ) {
        assert!(xi.len() == D && D >= 1);
        let mut xb = [_mm256_setzero_ps(); D];
        for c in 0..D {
            xb[c] = _mm256_set1_ps(xi[c]);
        }
        for (g, &(off, len)) in layout.iter().enumerate() {
            let full = len / W;
            let nv = len.div_ceil(W);
            // Every column holds the group's lanes off..off + nv * W.
            for c in 0..D {
                assert!(c * p + off + nv * W <= soa.len());
            }
            let mut total = 0.0f64;
            let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            let mut run = 0;
            for v in 0..nv {
                let j = off + v * W;
                // SAFETY: j + W <= off + nv * W, checked above for every column.
                let (sl, sh) = unsafe { sq::<D>(&xb, soa.as_ptr(), p, j) };
                let (mut dl, mut dh) = (_mm256_sqrt_ps(sl), _mm256_sqrt_ps(sh));
                if v == full {
                    let keep = &KEEP[len - full * W];
                    // SAFETY: keep has W = 16 lanes.
                    let (kl, kh) = unsafe {
                        (
                            _mm256_loadu_ps(keep.as_ptr()),
                            _mm256_loadu_ps(keep.as_ptr().add(8)),
                        )
                    };
                    dl = _mm256_mul_ps(dl, kl);
                    dh = _mm256_mul_ps(dh, kh);
                }
                lo = _mm256_add_ps(lo, dl);
                hi = _mm256_add_ps(hi, dh);
                run += 1;
                if run == FLUSH || v + 1 == nv {
                    total += hsum(lo, hi) as f64;
                    lo = _mm256_setzero_ps();
                    hi = _mm256_setzero_ps();
                    run = 0;
                }
            }
            out[g * ROWS + r] = total;
        }
    }

    /// Squared distances to the sixteen lanes at `j`, summed over features in order.
    ///
    /// # Safety
    /// Lanes `c * p + j .. c * p + j + 16` of `soa` must exist for every feature c < D.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn sq<const D: usize>(
        xb: &[__m256; D],
        soa: *const f32,
        p: usize,
        j: usize,
    ) -> (__m256, __m256) {
        let mut sl = _mm256_setzero_ps();
        let mut sh = _mm256_setzero_ps();
        for c in 0..D {
            let col = unsafe { soa.add(c * p + j) };
            let (cl, ch) = unsafe { (_mm256_loadu_ps(col), _mm256_loadu_ps(col.add(8))) };
            let tl = _mm256_sub_ps(xb[c], cl);
            let th = _mm256_sub_ps(xb[c], ch);
            sl = _mm256_add_ps(sl, _mm256_mul_ps(tl, tl));
            sh = _mm256_add_ps(sh, _mm256_mul_ps(th, th));
        }
        (sl, sh)
    }

    /// The generic halving tree over sixteen lanes held as two halves.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn hsum(lo: __m256, hi: __m256) -> f32 {
        let v8 = _mm256_add_ps(lo, hi);
        let v4 = _mm_add_ps(_mm256_castps256_ps128(v8), _mm256_extractf128_ps::<1>(v8));
        let v2 = _mm_add_ps(v4, _mm_movehl_ps(v4, v4));
        let v1 = _mm_add_ss(v2, _mm_shuffle_ps::<0b01>(v2, v2));
        _mm_cvtss_f32(v1)
    }
}

/// Rows in register blocks of `R` (then one at a time); each row's arithmetic is the
/// same whatever block it is in.
#[inline(always)]
fn group_sums_rows<const R: usize>(
    xs: &[f32],
    rows: usize,
    soa: &[f32],
    p: usize,
    layout: &[(usize, usize)],
    out: &mut [f64],
    d: usize,
) {
    let mut r = 0;
    while r + R <= rows {
        block_d::<R>(&xs[r * d..], soa, p, layout, out, r, d);
        r += R;
    }
    while r < rows {
        block_d::<1>(&xs[r * d..], soa, p, layout, out, r, d);
        r += 1;
    }
}

/// [`group_sums_block`] specialised for the dimension `d` (at most [`MAX_D`]).
#[inline(always)]
fn block_d<const R: usize>(
    xs: &[f32],
    soa: &[f32],
    p: usize,
    layout: &[(usize, usize)],
    out: &mut [f64],
    r0: usize,
    d: usize,
) {
    match d {
        1 => group_sums_block::<1, R>(xs, soa, p, layout, out, r0, d),
        2 => group_sums_block::<2, R>(xs, soa, p, layout, out, r0, d),
        3 => group_sums_block::<3, R>(xs, soa, p, layout, out, r0, d),
        4 => group_sums_block::<4, R>(xs, soa, p, layout, out, r0, d),
        5 => group_sums_block::<5, R>(xs, soa, p, layout, out, r0, d),
        6 => group_sums_block::<6, R>(xs, soa, p, layout, out, r0, d),
        _ => group_sums_block::<0, R>(xs, soa, p, layout, out, r0, d),
    }
}

/// Sum of Euclidean distances from each of `R` points (`xs`, row-major, f32) to every
/// group of the padded layout, into `out[g * ROWS + r0 + r]`.
///
/// Per lane: the squared distance is summed over features in order in f32 and its IEEE
/// square root is added to an f32 lane partial; every [`FLUSH`] vectors (and at the end
/// of the group) the sixteen lane partials are added in a fixed f32 halving tree and
/// the result is added to the row's f64 total. No fused multiply-add and no approximate
/// square root, so every build (this generic one, AVX2, AVX-512) gives the same bits.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn group_sums_block<const D: usize, const R: usize>(
    xs: &[f32],
    soa: &[f32],
    p: usize,
    layout: &[(usize, usize)],
    out: &mut [f64],
    r0: usize,
    d: usize,
) {
    let d = dim::<D>(d);
    let mut xr = [[0.0f32; R]; MAX_D];
    if D != 0 {
        for c in 0..d {
            for r in 0..R {
                xr[c][r] = xs[r * d + c];
            }
        }
    }
    for (g, &(off, len)) in layout.iter().enumerate() {
        let full = len / W;
        let mut total = [0.0f64; R];
        let mut acc = [[0.0f32; W]; R];
        let mut run = 0;
        for v in 0..full {
            let sq = sq_vec::<D, R>(&xr, xs, soa, p, off + v * W, d);
            for r in 0..R {
                for l in 0..W {
                    acc[r][l] += sq[r][l].sqrt();
                }
            }
            run += 1;
            if run == FLUSH {
                flush(&mut total, &mut acc);
                run = 0;
            }
        }
        let valid = len - full * W;
        if valid > 0 {
            // The last, partial vector: padding lanes are multiplied by 0 (their
            // distances are finite), real lanes by 1, which leaves them exact.
            let keep = &KEEP[valid];
            let sq = sq_vec::<D, R>(&xr, xs, soa, p, off + full * W, d);
            for r in 0..R {
                for l in 0..W {
                    acc[r][l] += sq[r][l].sqrt() * keep[l];
                }
            }
            run += 1;
        }
        if run > 0 {
            flush(&mut total, &mut acc);
        }
        for r in 0..R {
            out[g * ROWS + r0 + r] = total[r];
        }
    }
}

/// `KEEP[v]`: 1.0 in the first `v` lanes, 0.0 in the others.
const KEEP: [[f32; W]; W + 1] = {
    let mut t = [[0.0f32; W]; W + 1];
    let mut v = 0;
    while v <= W {
        let mut l = 0;
        while l < v {
            t[v][l] = 1.0;
            l += 1;
        }
        v += 1;
    }
    t
};

/// Squared distances from `R` points to the `W` sorted rows starting at lane `j`,
/// summed over features in order.
#[inline(always)]
fn sq_vec<const D: usize, const R: usize>(
    xr: &[[f32; R]; MAX_D],
    xs: &[f32],
    soa: &[f32],
    p: usize,
    j: usize,
    d: usize,
) -> [[f32; W]; R] {
    let d = dim::<D>(d);
    let mut sq = [[0.0f32; W]; R];
    for c in 0..d {
        let col: &[f32; W] = soa[c * p + j..c * p + j + W].try_into().unwrap();
        for r in 0..R {
            let xc = if D != 0 { xr[c][r] } else { xs[r * d + c] };
            for l in 0..W {
                let t = xc - col[l];
                sq[r][l] += t * t;
            }
        }
    }
    sq
}

/// Adds each row's f32 lane partials, summed in a fixed halving tree, to its f64 total
/// and clears them.
#[inline(always)]
fn flush<const R: usize>(total: &mut [f64; R], acc: &mut [[f32; W]; R]) {
    for r in 0..R {
        let a = &mut acc[r];
        let mut w = W / 2;
        while w > 0 {
            for l in 0..w {
                a[l] += a[l + w];
            }
            w /= 2;
        }
        total[r] += a[0] as f64;
        *a = [0.0; W];
    }
}

/// [`point_score`] of row `r` of a block of segment sums.
#[inline]
fn point_score_t(own: usize, counts: &[u64], sums: &[[f64; ROWS]], r: usize) -> f64 {
    let mut row = [0.0f64; 64];
    if sums.len() <= row.len() {
        for (v, s) in row.iter_mut().zip(sums) {
            *v = s[r];
        }
        return point_score(own, counts, &row[..sums.len()]);
    }
    let row: Vec<f64> = sums.iter().map(|s| s[r]).collect();
    point_score(own, counts, &row)
}

#[inline]
fn point_score(own: usize, counts: &[u64], sums: &[f64]) -> f64 {
    if counts[own] <= 1 {
        return 0.0;
    }
    let a = sums[own] / (counts[own] - 1) as f64;
    let mut b = f64::INFINITY;
    for (c, (&cnt, &s)) in counts.iter().zip(sums).enumerate() {
        if c != own && cnt > 0 {
            b = b.min(s / cnt as f64);
        }
    }
    let m = a.max(b);
    if m == 0.0 || !m.is_finite() {
        0.0
    } else {
        (b - a) / m
    }
}

/// A simple random sample of `m` of `n` row indices, in increasing order (Knuth's
/// selection sampling: one pass, no n-long index array).
pub fn sample_indices(n: usize, m: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng::derive(seed, &[0x511, n as u64, m as u64]);
    let mut out = Vec::with_capacity(m);
    let mut needed = m.min(n);
    for i in 0..n {
        if needed == 0 {
            break;
        }
        let left = (n - i) as u64;
        if rng.below(left) < needed as u64 {
            out.push(i);
            needed -= 1;
        }
    }
    out
}

/// Silhouettes of several K-Means fits, given as (labels, centroids, k): exact up to
/// `exact_max` rows, otherwise the mean over a random sample of `sample` customers
/// (distances within the sample, as scikit-learn's `sample_size`), with the standard
/// error of that mean. Sampled customers are labelled with their nearest centroid (what
/// the fit's labels are), so large fits need not keep their labels.
pub fn scores(
    x: &Matrix,
    fits: &[(&[u32], &[f64], usize)],
    exact_max: usize,
    sample: usize,
    seed: u64,
) -> Vec<Score> {
    if x.n <= exact_max {
        let labelings: Vec<(&[u32], usize)> = fits.iter().map(|(l, _, k)| (*l, *k)).collect();
        let labelings = labelings.as_slice();
        return exact_many(x, labelings)
            .into_iter()
            .map(|value| Score {
                value,
                method: Method::Exact,
                sample_size: x.n as u64,
                std_error: None,
            })
            .collect();
    }
    let idx = sample_indices(x.n, sample.max(2), seed);
    let d = x.d;
    let mut data = Vec::with_capacity(idx.len() * d);
    for &i in &idx {
        data.extend_from_slice(x.row(i));
    }
    let sub = Matrix {
        n: idx.len(),
        d,
        data,
    };
    let sub_labels: Vec<Vec<u32>> = fits
        .iter()
        .map(|(_, centers, _)| crate::cluster::kmeans::assign(&sub, centers))
        .collect();
    let sub_lab: Vec<(&[u32], usize)> = sub_labels
        .iter()
        .zip(fits)
        .map(|(l, (_, _, k))| (l.as_slice(), *k))
        .collect();
    let m = sub.n as f64;
    samples_many(&sub, &sub_lab)
        .into_iter()
        .map(|s| {
            let mean = s.iter().sum::<f64>() / m;
            let var = s.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (m - 1.0);
            Score {
                value: mean,
                method: Method::Sampled,
                sample_size: sub.n as u64,
                std_error: Some((var / m).sqrt()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_checked_tiny_case() {
        // Points 0, 1 in one segment and 4, 6 in another, on a line.
        // s(0) = (b-a)/max: a=1, b=(4+6)/2=5 -> 0.8; s(1): a=1, b=4 -> 0.75;
        // s(4): a=2, b=(4+3)/2=3.5 -> 1.5/3.5; s(6): a=2, b=(6+5)/2=5.5 -> 3.5/5.5.
        let x = Matrix {
            n: 4,
            d: 1,
            data: vec![0.0, 1.0, 4.0, 6.0],
        };
        let labels = [0u32, 0, 1, 1];
        let got = exact_many(&x, &[(&labels, 2)])[0];
        let want = (0.8 + 0.75 + 1.5 / 3.5 + 3.5 / 5.5) / 4.0;
        assert!((got - want).abs() < 1e-15, "{got} vs {want}");
    }

    #[test]
    fn singleton_segments_score_zero_and_labelings_are_independent() {
        let x = Matrix {
            n: 3,
            d: 1,
            data: vec![0.0, 1.0, 10.0],
        };
        let a = [0u32, 0, 1];
        let b = [0u32, 1, 2];
        let both = exact_many(&x, &[(&a, 2), (&b, 3)]);
        let alone = exact_many(&x, &[(&a, 2)]);
        assert_eq!(both[0], alone[0]);
        assert_eq!(both[1], 0.0);
        // s(0): a = 1, b = 10 -> 0.9; s(1): a = 1, b = 9 -> 8/9; s(10) is alone -> 0.
        let want = (0.9 + 8.0 / 9.0) / 3.0;
        assert!((both[0] - want).abs() < 1e-15);
    }

    /// Clustered points in [0, 1]^d (a few tight blobs plus uniform noise, like scaled
    /// customer data) and labelings by the nearest of k random centres, k = 2..=kmax.
    fn clustered(n: usize, d: usize, kmax: usize, seed: u64) -> (Matrix, Vec<(Vec<u32>, usize)>) {
        let mut rng = Rng::new(seed);
        let blobs: Vec<Vec<f64>> = (0..4)
            .map(|_| (0..d).map(|_| rng.uniform() * 0.8).collect())
            .collect();
        let mut data = Vec::with_capacity(n * d);
        for i in 0..n {
            let b = &blobs[i % blobs.len()];
            for c in 0..d {
                let v = if i % 7 == 0 {
                    rng.uniform()
                } else {
                    b[c] + rng.uniform() * 0.05 * (1 + i % 4) as f64
                };
                data.push(v.clamp(0.0, 1.0));
            }
        }
        let x = Matrix { n, d, data };
        let labelings = (2..=kmax)
            .map(|k| {
                let centres: Vec<usize> = (0..k).map(|j| (j * 7919 + 13) % n).collect();
                let labels = (0..n)
                    .map(|i| {
                        let mut best = (f64::INFINITY, 0u32);
                        for (c, &j) in centres.iter().enumerate() {
                            let dd: f64 = (0..d).map(|f| (x.row(i)[f] - x.row(j)[f]).powi(2)).sum();
                            if dd < best.0 {
                                best = (dd, c as u32);
                            }
                        }
                        best.1
                    })
                    .collect();
                (labels, k)
            })
            .collect();
        (x, labelings)
    }

    /// Straightforward f64 silhouettes with each point's a and b, for reference.
    fn reference(x: &Matrix, labels: &[u32], k: usize) -> Vec<(f64, f64, f64)> {
        let mut counts = vec![0usize; k];
        for &l in labels {
            counts[l as usize] += 1;
        }
        (0..x.n)
            .map(|i| {
                let mut sums = vec![0.0f64; k];
                for j in 0..x.n {
                    let dd: f64 = (0..x.d).map(|c| (x.row(i)[c] - x.row(j)[c]).powi(2)).sum();
                    sums[labels[j] as usize] += dd.sqrt();
                }
                let own = labels[i] as usize;
                if counts[own] <= 1 {
                    return (0.0, 0.0, 0.0);
                }
                let a = sums[own] / (counts[own] - 1) as f64;
                let b = (0..k)
                    .filter(|&c| c != own && counts[c] > 0)
                    .map(|c| sums[c] / counts[c] as f64)
                    .fold(f64::INFINITY, f64::min);
                (a, b, (b - a) / a.max(b))
            })
            .collect()
    }

    #[test]
    fn f32_kernel_is_close_to_an_f64_reference() {
        for (n, d) in [(1500, 3), (300, 1), (400, 8)] {
            let (x, labelings) = clustered(n, d, 6, 7 + d as u64);
            let lab: Vec<(&[u32], usize)> =
                labelings.iter().map(|(l, k)| (l.as_slice(), *k)).collect();
            let got = samples_many(&x, &lab);
            // Bound per point. Coordinates in [0, 1] rounded to f32 move by at most 2^-25
            // each, so a distance by at most sqrt(d)·2^-24 (absolute); the f32 arithmetic
            // of one distance (d subtractions, products and additions, a square root)
            // and its at most FLUSH + 4 f32 additions into a partial add a relative
            // error of at most (3d + FLUSH + 6)·2^-24 (the f64 steps are negligible). So
            // a and b each move by at most e = sqrt(d)·2^-24 + m·(3d + FLUSH + 6)·2^-24,
            // m = max(a, b), and s = (b - a)/m by at most about 2·2e/m.
            let u = f32::EPSILON as f64 / 2.0;
            for (l, (labels, k)) in labelings.iter().enumerate() {
                let want = reference(&x, labels, *k);
                let mut diff_sum = 0.0;
                for (i, &(a, b, s)) in want.iter().enumerate() {
                    let m = a.max(b);
                    let e = (d as f64).sqrt() * 2.0 * u + m * (3 * d + FLUSH + 6) as f64 * u;
                    let bound = if m > 0.0 { 4.0 * e / m } else { 0.0 };
                    let diff = (got[l][i] - s).abs();
                    assert!(
                        diff <= bound,
                        "n={n} d={d} k={k} point {i}: {} vs f64 {s} (bound {bound:e})",
                        got[l][i]
                    );
                    diff_sum += got[l][i] - s;
                }
                // The mean (the score) is far closer: the errors are not systematic.
                assert!(
                    (diff_sum / n as f64).abs() < 1e-7,
                    "n={n} d={d} k={k}: mean moved {}",
                    diff_sum / n as f64
                );
            }
        }
    }

    #[test]
    fn every_kernel_build_gives_the_same_bits() {
        let (x, labelings) = clustered(1203, 3, 10, 99);
        let lab: Vec<(&[u32], usize)> = labelings.iter().map(|(l, k)| (l.as_slice(), *k)).collect();
        let paths = Path::available();
        let first = samples_many_on(&x, &lab, paths[0]);
        for &p in &paths[1..] {
            let other = samples_many_on(&x, &lab, p);
            for (a, b) in first.iter().zip(&other) {
                let a: Vec<u64> = a.iter().map(|v| v.to_bits()).collect();
                let b: Vec<u64> = b.iter().map(|v| v.to_bits()).collect();
                assert_eq!(a, b, "{p:?} differs from {:?}", paths[0]);
            }
        }
    }

    #[test]
    fn same_bits_whatever_the_thread_count() {
        let (x, labelings) = clustered(1001, 3, 6, 5);
        let lab: Vec<(&[u32], usize)> = labelings.iter().map(|(l, k)| (l.as_slice(), *k)).collect();
        let run = |t: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
                .install(|| exact_many(&x, &lab))
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(3));
    }

    #[test]
    fn sampling_is_deterministic_and_sorted() {
        let s = sample_indices(1000, 100, 42);
        assert_eq!(s.len(), 100);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(s, sample_indices(1000, 100, 42));
        assert_eq!(sample_indices(5, 10, 1), vec![0, 1, 2, 3, 4]);
    }
}
