//! The silhouette's distance kernel: sums of Euclidean distances from a few customers to
//! every group of a padded column layout, in f32 with f64 totals, in a generic, an AVX2
//! and an AVX-512 build that give the same bits (see `silhouette`).

use super::simd::{dim, dispatch_d, Isa};
use crate::scale::Matrix;

/// Lanes per vector of the distance kernel. Sixteen f32 lanes are one AVX-512 register
/// or two AVX2 registers; every path does the same per-lane operations in the same
/// order, so the width of the hardware changes the speed, not the bits.
pub(super) const W: usize = 16;
/// Vectors summed per lane in f32 before the lanes are added up (in f32, a four-level
/// tree) and the partial is added to the row's f64 total. Each distance then goes
/// through at most FLUSH + 4 f32 additions of non-negative terms, so every partial has
/// relative error at most about (FLUSH + 4)·2⁻²⁴ ≈ 7e-7 on top of the distances' own.
pub(super) const FLUSH: usize = 8;
/// Customers per parallel work item (and per register block of the AVX-512 path).
pub(super) const ROWS: usize = 8;
/// Rows per register block of the AVX-512 kernel.
const RB: usize = 4;

/// Sums of distances from rows `i0..i0 + rows` of `x` to every group, into
/// `out[g * ROWS + r]`, with the build `isa` of the kernel.
#[allow(clippy::too_many_arguments)]
pub(super) fn group_sums(
    x: &Matrix,
    i0: usize,
    rows: usize,
    soa: &[f32],
    p: usize,
    layout: &[(usize, usize)],
    out: &mut [f64],
    isa: Isa,
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
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            // SAFETY: only chosen when the CPU reports AVX-512F.
            unsafe { group_sums_avx512(xs, rows, soa, p, layout, out, d) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            // SAFETY: only chosen when the CPU reports AVX2.
            unsafe { group_sums_avx2(xs, rows, soa, p, layout, out, d) }
        }
        Isa::Base => group_sums_rows::<1>(xs, rows, soa, p, layout, out, d),
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
        // d is 1..=MAX_D here (the 0 arm of the dispatch is never taken).
        use avx512::rows as kernel;
        if block == RB {
            dispatch_d!(d, kernel::<_, RB>(x, soa, p, layout, out, r));
        } else {
            dispatch_d!(d, kernel::<_, 1>(x, soa, p, layout, out, r));
        }
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
    use avx2::row;
    for r in 0..rows {
        let xi = &xs[r * d..(r + 1) * d];
        // d is 1..=MAX_D here (the 0 arm of the dispatch is never taken).
        dispatch_d!(d, row(xi, soa, p, layout, out, r));
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
    dispatch_d!(d, group_sums_block::<_, R>(xs, soa, p, layout, out, r0, d))
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
