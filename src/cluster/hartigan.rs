//! Hartigan's single-point moves, the polish after Lloyd: the general version and the
//! AVX-512 one of the small-input kernels ([`Small::hartigan`]), with the same moves in
//! the same order and the same bits.

use super::simd::dispatch_d;
#[cfg(target_arch = "x86_64")]
use super::simd::Isa;
use super::small::{label_sums, Small};
use super::sqdist;
use crate::scale::Matrix;

/// Shrinks the rounded size / (size + 1) of a segment so that `distance · ratio`, as
/// rounded, stays below `distance · size / (size + 1)` as the move test rounds it:
/// three roundings of at most 2⁻⁵³ each way, far inside 1e-14.
#[cfg(target_arch = "x86_64")]
const RATIO_SHRINK: f64 = 1.0 - 1e-14;
/// Below this the screen's relative bounds could fail (subnormal products): blocks
/// whose bound is this small always take the exact test.
#[cfg(target_arch = "x86_64")]
const SCREEN_FLOOR: f64 = 1e-290;

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

/// Squared distances of the eight rows whose first feature is at `base` (the features
/// `np` apart) to centre `c` of `ct` (feature-major, `k` apart), summed feature by feature
/// in order: the screen and the exact test must see the same bits.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn block_sq_dist(
    base: *const f64,
    np: usize,
    ct: &[f64],
    k: usize,
    d: usize,
    c: usize,
) -> std::arch::x86_64::__m512d {
    use std::arch::x86_64::*;
    let t = _mm512_sub_pd(_mm512_loadu_pd(base), _mm512_set1_pd(ct[c]));
    let mut s = _mm512_mul_pd(t, t);
    for j in 1..d {
        let t = _mm512_sub_pd(
            _mm512_loadu_pd(base.add(j * np)),
            _mm512_set1_pd(ct[j * k + c]),
        );
        s = _mm512_add_pd(s, _mm512_mul_pd(t, t));
    }
    s
}

impl Small<'_> {
    /// `hartigan_refine`, with the same moves in the same order and the same bits; on
    /// AVX-512 the costs of eight rows are computed at once against the current
    /// centres, and after a move the scan resumes at the next row with the new centres.
    pub fn hartigan(&self, labels: &mut [u32], k: usize) -> Vec<f64> {
        #[cfg(target_arch = "x86_64")]
        if self.isa == Isa::Avx512 && k < (1 << 20) {
            // SAFETY: Avx512 is only chosen when the CPU reports AVX-512F.
            return unsafe { self.hartigan_avx512(labels, k) };
        }
        hartigan_refine(self.x, labels, k)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn hartigan_avx512(&self, labels: &mut [u32], k: usize) -> Vec<f64> {
        use std::arch::x86_64::*;
        const W: usize = 8;
        let (n, d, np) = (self.x.n, self.x.d, self.np);
        let mut lab = vec![0u32; np];
        lab[..n].copy_from_slice(labels);
        let mut sums = vec![0.0; k * d];
        let mut counts = vec![0u64; k];
        label_sums(&self.x.data, d, labels, &mut sums, &mut counts);
        // Centres feature-major (ct[j * k + c]), sizes as f64 and size + 1, and a lower
        // bound of size / (size + 1) for the division-free screen below.
        let mut ct = vec![0.0; k * d];
        let mut nf = vec![0.0; k];
        let mut nf1 = vec![0.0; k];
        let mut rlo = vec![0.0; k];
        let update = |ct: &mut [f64],
                      nf: &mut [f64],
                      nf1: &mut [f64],
                      rlo: &mut [f64],
                      sums: &[f64],
                      counts: &[u64],
                      c: usize| {
            for j in 0..d {
                ct[j * k + c] = if counts[c] > 0 {
                    sums[c * d + j] / counts[c] as f64
                } else {
                    0.0
                };
            }
            nf[c] = counts[c] as f64;
            nf1[c] = nf[c] + 1.0;
            rlo[c] = nf[c] / nf1[c] * RATIO_SHRINK;
        };
        for c in 0..k {
            update(&mut ct, &mut nf, &mut nf1, &mut rlo, &sums, &counts, c);
        }
        let cols = self.cols.as_ptr();
        let one = _mm512_set1_pd(1.0);
        let shrink = _mm512_set1_pd(1.0 - 1e-12);
        let floor = _mm512_set1_pd(SCREEN_FLOOR);
        for _pass in 0..50 {
            let mut moved = 0u64;
            let mut i = 0;
            while i < n {
                let valid: __mmask8 = if n - i >= W {
                    0xFF
                } else {
                    (1u8 << (n - i)) - 1
                };
                let labv =
                    _mm512_cvtepu32_pd(_mm256_loadu_si256(lab.as_ptr().add(i) as *const __m256i));
                // Screen: with `distance · rlo` below every cost `distance · size /
                // (size + 1)` as rounded (see RATIO_SHRINK), a block whose lowest bound
                // is not below the move threshold has no move, and needs no division.
                let mut low = _mm512_set1_pd(f64::INFINITY);
                let mut own = _mm512_setzero_pd();
                let mut nown = _mm512_setzero_pd();
                for c in 0..k {
                    let s = block_sq_dist(cols.add(i), np, &ct, k, d, c);
                    let is_own = _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(labv, _mm512_set1_pd(c as f64));
                    own = _mm512_mask_blend_pd(is_own, own, s);
                    nown = _mm512_mask_blend_pd(is_own, nown, _mm512_set1_pd(nf[c]));
                    let b = _mm512_mul_pd(s, _mm512_set1_pd(rlo[c]));
                    let lt = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(b, low) & !is_own;
                    low = _mm512_mask_blend_pd(lt, low, b);
                }
                let out = _mm512_div_pd(_mm512_mul_pd(own, nown), _mm512_sub_pd(nown, one));
                let thr = _mm512_max_pd(_mm512_mul_pd(out, shrink), floor);
                let maybe = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(low, thr)
                    & _mm512_cmp_pd_mask::<_CMP_GT_OQ>(nown, one)
                    & valid;
                if maybe == 0 {
                    i += W;
                    continue;
                }
                let mut best = _mm512_set1_pd(f64::INFINITY);
                let mut bidx = _mm512_setzero_pd();
                let mut own = _mm512_setzero_pd();
                let mut nown = _mm512_setzero_pd();
                for c in 0..k {
                    let s = block_sq_dist(cols.add(i), np, &ct, k, d, c);
                    let cf = _mm512_set1_pd(c as f64);
                    let is_own = _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(labv, cf);
                    own = _mm512_mask_blend_pd(is_own, own, s);
                    let nb = _mm512_set1_pd(nf[c]);
                    nown = _mm512_mask_blend_pd(is_own, nown, nb);
                    let cost = _mm512_div_pd(_mm512_mul_pd(s, nb), _mm512_set1_pd(nf1[c]));
                    let lt = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(cost, best) & !is_own;
                    best = _mm512_mask_blend_pd(lt, best, cost);
                    bidx = _mm512_mask_blend_pd(lt, bidx, cf);
                }
                let out = _mm512_div_pd(_mm512_mul_pd(own, nown), _mm512_sub_pd(nown, one));
                let thr = _mm512_mul_pd(out, shrink);
                let mv = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(best, thr)
                    & _mm512_cmp_pd_mask::<_CMP_GT_OQ>(nown, one)
                    & valid;
                if mv == 0 {
                    i += W;
                    continue;
                }
                let l = mv.trailing_zeros() as usize;
                let mut bi = [0.0f64; W];
                _mm512_storeu_pd(bi.as_mut_ptr(), bidx);
                let r = i + l;
                let (a, b) = (lab[r] as usize, bi[l] as usize);
                let row = self.x.row(r);
                for j in 0..d {
                    sums[a * d + j] -= row[j];
                    sums[b * d + j] += row[j];
                }
                counts[a] -= 1;
                counts[b] += 1;
                update(&mut ct, &mut nf, &mut nf1, &mut rlo, &sums, &counts, a);
                update(&mut ct, &mut nf, &mut nf1, &mut rlo, &sums, &counts, b);
                lab[r] = b as u32;
                moved += 1;
                i = r + 1;
            }
            if moved == 0 {
                break;
            }
        }
        labels.copy_from_slice(&lab[..n]);
        // Exact means of the final partition (the running sums carry rounding).
        sums.iter_mut().for_each(|s| *s = 0.0);
        counts.iter_mut().for_each(|c| *c = 0);
        label_sums(&self.x.data, d, labels, &mut sums, &mut counts);
        let mut centers = vec![0.0; k * d];
        for c in 0..k {
            for j in 0..d {
                centers[c * d + j] = if counts[c] > 0 {
                    sums[c * d + j] / counts[c] as f64
                } else {
                    0.0
                };
            }
        }
        centers
    }
}
