//! Lloyd for small inputs (the restarts and swap trials of the k sweep, at most
//! `SAMPLE_FIT_ROWS` rows): a brute-force pass over a column-major copy of the rows,
//! eight rows at a time, that the compiler turns into straight-line SIMD code. At this
//! size (n·k·d ≈ 9,000 · 10 · 3) a branch-free scan of every centre beats Hamerly's
//! bounds, whose skip tests mispredict and whose per-row state costs as much as the
//! distances it saves.
//!
//! Results are bit-identical to the scalar path whatever instruction set runs: every
//! distance is summed over features in the same order as [`super::sqdist`] (no fused
//! multiply-add, no reassociation), the nearest centre is the first on ties, and the
//! running sums are updated row by row in row order with one delta per `CHUNK` rows,
//! exactly as `hamerly` does.
//!
//! [`Small`] also carries the small-input builds of k-means++ (in `seeding`) and of
//! Hartigan's polish (in `hartigan`).

use super::hamerly::relocate_and_recenter;
use super::params::KMeansFit;
use super::simd::{dim, dispatch_d, Isa, BASE};
#[cfg(target_arch = "x86_64")]
use super::simd::{AVX2, AVX512};
use super::{move_to_means, CHUNK};
use crate::scale::Matrix;

/// Rows per SIMD block: two AVX-512 registers of f64 (four AVX2), so two (four)
/// independent compare-and-select chains hide the latency of each.
const L: usize = 32;

/// The rows (row-major, for the scalar stages: seeding, Hartigan, swaps) plus a
/// column-major copy padded to a multiple of `L` rows for the SIMD passes.
pub(super) struct Small<'a> {
    pub(super) x: &'a Matrix,
    /// Column j is `cols[j * np..(j + 1) * np]`; rows past `n` are zeros, never used.
    /// `np >= n + L`, so a block of `L` rows may start at any row.
    pub(super) cols: Vec<f64>,
    pub(super) np: usize,
    pub(super) isa: Isa,
}

impl<'a> Small<'a> {
    /// The column-major copy of `x`, for the build of the kernels this CPU runs.
    pub fn new(x: &'a Matrix) -> Small<'a> {
        Self::with_isa(x, Isa::detect())
    }

    /// [`Small::new`] with the build chosen by the caller (the tests compare them all).
    pub fn with_isa(x: &'a Matrix, isa: Isa) -> Small<'a> {
        let (n, d) = (x.n, x.d);
        // Whole blocks, plus one block more so a block may start at any row (Hartigan).
        let np = n.div_ceil(L) * L + L;
        // The SIMD kernels read feature 0 unconditionally.
        let isa = if d == 0 { Isa::Base } else { isa };
        let mut cols = vec![0.0; np * d];
        for (i, row) in x.data.chunks_exact(d.max(1)).enumerate() {
            for j in 0..d {
                cols[j * np + i] = row[j];
            }
        }
        Small { x, cols, np, isa }
    }

    /// Lloyd from `centers` to a fixed point (or `tol`, or `max_iter`), then labels,
    /// sizes and inertia from a final assignment: the same result as `lloyd_from` with
    /// `parallel = false`.
    pub fn lloyd(&self, mut centers: Vec<f64>, max_iter: usize, tol: f64) -> KMeansFit {
        let (n, d) = (self.x.n, self.x.d);
        let k = centers.len() / d;
        // Padded to whole blocks; the padding rows are masked out of every update.
        let mut labels = vec![0u32; self.np];
        let mut sums = vec![0.0f64; k * d];
        let mut counts = vec![0i64; k];
        // How far each centre moved in the last update (unused here: no bounds to loosen).
        let mut moved = vec![0.0f64; k];
        let mut dsum = vec![0.0f64; k * d];
        let mut dcnt = vec![0i64; k];
        let mut ct = vec![0.0f64; k * d];
        let mut n_iter = 0;
        let mut init = true;
        loop {
            transpose(&centers, &mut ct, k, d);
            let mut pass = Pass {
                labels: &mut labels,
                sums: &mut sums,
                counts: &mut counts,
                dsum: &mut dsum,
                dcnt: &mut dcnt,
            };
            let changed = self.pass(&ct, k, init, &mut pass);
            n_iter += 1;
            if (!init && changed == 0) || n_iter > max_iter {
                break;
            }
            init = false;
            if counts.iter().any(|&c| c <= 0) {
                // Empty segments: scikit-learn's relocation, then a fresh full pass.
                let empty: Vec<usize> = (0..k).filter(|&c| counts[c] <= 0).collect();
                let (mut s2, c2) = self.exact_sums(&labels, k);
                let mut c2: Vec<u64> = c2;
                relocate_and_recenter(self.x, &mut centers, &mut labels, &empty, &mut s2, &mut c2);
                sums.iter_mut().for_each(|v| *v = 0.0);
                counts.iter_mut().for_each(|v| *v = 0);
                init = true;
                continue;
            }
            let shift = move_to_means(&mut centers, &sums, &counts, &mut moved, d);
            if shift <= tol {
                break;
            }
        }
        labels.truncate(n);
        // Exact means of the final labels (the running sums carry rounding).
        let (s2, c2) = self.exact_sums(&labels, k);
        for c in 0..k {
            if c2[c] > 0 {
                for j in 0..d {
                    centers[c * d + j] = s2[c * d + j] / c2[c] as f64;
                }
            }
        }
        let (inertia, counts) = self.assign(&centers, &mut labels);
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

    /// Per-segment sums and sizes of the rows, summed in row order.
    fn exact_sums(&self, labels: &[u32], k: usize) -> (Vec<f64>, Vec<u64>) {
        let d = self.x.d;
        let mut s2 = vec![0.0; k * d];
        let mut c2 = vec![0u64; k];
        for (row, &l) in self.x.data.chunks_exact(d).zip(labels) {
            c2[l as usize] += 1;
            for j in 0..d {
                s2[l as usize * d + j] += row[j];
            }
        }
        (s2, c2)
    }

    /// One Lloyd assignment pass; returns how many rows changed segment.
    fn pass(&self, ct: &[f64], k: usize, init: bool, p: &mut Pass) -> u64 {
        let a = Args {
            cols: &self.cols,
            np: self.np,
            n: self.x.n,
            d: self.x.d,
            ct,
            k,
        };
        match self.isa {
            Isa::Base => pass_generic(&a, init, p),
            // SAFETY: these variants are only chosen when the CPU reports the feature.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { pass_avx2(&a, init, p) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { pass_avx512(&a, init, p) },
        }
    }

    /// Labels every row with its nearest centre; returns the inertia and sizes, summed
    /// exactly as `final_assign` sums them (row order within a chunk, chunks in order).
    pub fn assign(&self, centers: &[f64], labels: &mut [u32]) -> (f64, Vec<u64>) {
        let d = self.x.d;
        let k = centers.len() / d;
        let mut ct = vec![0.0; k * d];
        transpose(centers, &mut ct, k, d);
        let a = Args {
            cols: &self.cols,
            np: self.np,
            n: self.x.n,
            d,
            ct: &ct,
            k,
        };
        match self.isa {
            Isa::Base => assign_generic(&a, labels),
            // SAFETY: these variants are only chosen when the CPU reports the feature.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { assign_avx2(&a, labels) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { assign_avx512(&a, labels) },
        }
    }
}

/// Centres k × d row-major into d × k (feature-major), for broadcasting per feature.
fn transpose(centers: &[f64], ct: &mut [f64], k: usize, d: usize) {
    for c in 0..k {
        for j in 0..d {
            ct[j * k + c] = centers[c * d + j];
        }
    }
}

struct Args<'a> {
    cols: &'a [f64],
    np: usize,
    n: usize,
    d: usize,
    ct: &'a [f64],
    k: usize,
}

/// The running Lloyd state a pass updates.
struct Pass<'a> {
    labels: &'a mut [u32],
    sums: &'a mut [f64],
    counts: &'a mut [i64],
    dsum: &'a mut [f64],
    dcnt: &'a mut [i64],
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn pass_avx2(a: &Args, init: bool, p: &mut Pass) -> u64 {
    dispatch_d!(a.d, pass_d::<_, AVX2>(a, init, p))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pass_avx512(a: &Args, init: bool, p: &mut Pass) -> u64 {
    dispatch_d!(a.d, pass_d::<_, AVX512>(a, init, p))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn assign_avx2(a: &Args, labels: &mut [u32]) -> (f64, Vec<u64>) {
    dispatch_d!(a.d, assign_d::<_, AVX2>(a, labels))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn assign_avx512(a: &Args, labels: &mut [u32]) -> (f64, Vec<u64>) {
    dispatch_d!(a.d, assign_d::<_, AVX512>(a, labels))
}

fn pass_generic(a: &Args, init: bool, p: &mut Pass) -> u64 {
    dispatch_d!(a.d, pass_d::<_, BASE>(a, init, p))
}

fn assign_generic(a: &Args, labels: &mut [u32]) -> (f64, Vec<u64>) {
    dispatch_d!(a.d, assign_d::<_, BASE>(a, labels))
}

/// Nearest centre (first on ties, as an f64 index) and its squared distance for rows
/// `i..i + L`, with the build `V`. Every build computes ((x0−c0)² + (x1−c1)²) + … in
/// feature order with separate multiply and add, so all return the same bits.
#[inline(always)]
fn block<const D: usize, const V: u8>(a: &Args, i: usize) -> ([f64; L], [f64; L]) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: V is AVX2 or AVX512 only inside the wrappers above, which run only
        // when the CPU reports the feature; the loads stay inside `cols` (rows padded
        // to whole blocks).
        if V == AVX512 {
            return unsafe { block_avx512::<D>(a, i) };
        }
        if V == AVX2 {
            return unsafe { block_avx2::<D>(a, i) };
        }
    }
    block_scalar::<D>(a, i)
}

#[inline(always)]
fn block_scalar<const D: usize>(a: &Args, i: usize) -> ([f64; L], [f64; L]) {
    let d = dim::<D>(a.d);
    let k = a.k;
    let mut best = [f64::INFINITY; L];
    let mut idx = [0.0f64; L];
    for c in 0..k {
        let mut s = [0.0f64; L];
        for j in 0..d {
            let xs: &[f64; L] = a.cols[j * a.np + i..j * a.np + i + L].try_into().unwrap();
            let cj = a.ct[j * k + c];
            for l in 0..L {
                let t = xs[l] - cj;
                s[l] += t * t;
            }
        }
        let cf = c as f64;
        for l in 0..L {
            let lt = s[l] < best[l];
            best[l] = if lt { s[l] } else { best[l] };
            idx[l] = if lt { cf } else { idx[l] };
        }
    }
    (idx, best)
}

/// Sums start from the first feature's square: 0 + y = y for every y >= +0 (and NaN),
/// so this matches `sqdist`'s `0.0 + t0² + …` bit for bit.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn block_avx512<const D: usize>(a: &Args, i: usize) -> ([f64; L], [f64; L]) {
    use std::arch::x86_64::*;
    const V: usize = L / 8;
    let d = dim::<D>(a.d);
    let k = a.k;
    let base = a.cols.as_ptr().add(i);
    // With the feature count known at compile time the rows stay in registers.
    const DMAX: usize = 4;
    let mut xs = [[_mm512_setzero_pd(); V]; DMAX];
    if D > 0 && D <= DMAX {
        for j in 0..D {
            for v in 0..V {
                xs[j][v] = _mm512_loadu_pd(base.add(j * a.np + 8 * v));
            }
        }
    }
    let x = |j: usize, v: usize| {
        if D > 0 && D <= DMAX {
            xs[j][v]
        } else {
            _mm512_loadu_pd(base.add(j * a.np + 8 * v))
        }
    };
    let mut best = [_mm512_set1_pd(f64::INFINITY); V];
    let mut idx = [_mm512_setzero_pd(); V];
    let mut cf = _mm512_setzero_pd();
    let one = _mm512_set1_pd(1.0);
    for c in 0..k {
        let cj = _mm512_set1_pd(a.ct[c]);
        let mut s = [_mm512_setzero_pd(); V];
        for v in 0..V {
            let t = _mm512_sub_pd(x(0, v), cj);
            s[v] = _mm512_mul_pd(t, t);
        }
        for j in 1..d {
            let cj = _mm512_set1_pd(a.ct[j * k + c]);
            for v in 0..V {
                let t = _mm512_sub_pd(x(j, v), cj);
                s[v] = _mm512_add_pd(s[v], _mm512_mul_pd(t, t));
            }
        }
        for v in 0..V {
            let lt = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(s[v], best[v]);
            best[v] = _mm512_mask_blend_pd(lt, best[v], s[v]);
            idx[v] = _mm512_mask_blend_pd(lt, idx[v], cf);
        }
        // c as f64, exactly (small integers).
        cf = _mm512_add_pd(cf, one);
    }
    let mut oi = [0.0; L];
    let mut ob = [0.0; L];
    for v in 0..V {
        _mm512_storeu_pd(oi.as_mut_ptr().add(8 * v), idx[v]);
        _mm512_storeu_pd(ob.as_mut_ptr().add(8 * v), best[v]);
    }
    (oi, ob)
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn block_avx2<const D: usize>(a: &Args, i: usize) -> ([f64; L], [f64; L]) {
    use std::arch::x86_64::*;
    const V: usize = L / 4;
    let d = dim::<D>(a.d);
    let k = a.k;
    let base = a.cols.as_ptr().add(i);
    let mut best = [_mm256_set1_pd(f64::INFINITY); V];
    let mut idx = [_mm256_setzero_pd(); V];
    for c in 0..k {
        let cj = _mm256_set1_pd(a.ct[c]);
        let mut s = [_mm256_setzero_pd(); V];
        for v in 0..V {
            let t = _mm256_sub_pd(_mm256_loadu_pd(base.add(4 * v)), cj);
            s[v] = _mm256_mul_pd(t, t);
        }
        for j in 1..d {
            let cj = _mm256_set1_pd(a.ct[j * k + c]);
            let p = base.add(j * a.np);
            for v in 0..V {
                let t = _mm256_sub_pd(_mm256_loadu_pd(p.add(4 * v)), cj);
                s[v] = _mm256_add_pd(s[v], _mm256_mul_pd(t, t));
            }
        }
        let cf = _mm256_set1_pd(c as f64);
        for v in 0..V {
            let lt = _mm256_cmp_pd::<_CMP_LT_OQ>(s[v], best[v]);
            best[v] = _mm256_blendv_pd(best[v], s[v], lt);
            idx[v] = _mm256_blendv_pd(idx[v], cf, lt);
        }
    }
    let mut oi = [0.0; L];
    let mut ob = [0.0; L];
    for v in 0..V {
        _mm256_storeu_pd(oi.as_mut_ptr().add(4 * v), idx[v]);
        _mm256_storeu_pd(ob.as_mut_ptr().add(4 * v), best[v]);
    }
    (oi, ob)
}

/// Bit l set when row l's new nearest centre differs from its label.
#[inline(always)]
fn changed_mask<const V: u8>(idx: &[f64; L], old: &[u32; L]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if V == AVX512 {
        use std::arch::x86_64::*;
        // SAFETY: V is AVX512 only inside the AVX-512 wrappers; both arrays hold 16.
        unsafe {
            let mut m = 0u32;
            for h in 0..L / 8 {
                let o = _mm512_cvtepu32_pd(_mm256_loadu_si256(
                    old.as_ptr().add(8 * h) as *const __m256i
                ));
                let v = _mm512_loadu_pd(idx.as_ptr().add(8 * h));
                m |= (_mm512_cmp_pd_mask::<_CMP_NEQ_UQ>(v, o) as u32) << (8 * h);
            }
            return m;
        }
    }
    let mut m = 0u32;
    for l in 0..L {
        m |= ((idx[l] != old[l] as f64) as u32) << l;
    }
    m
}

#[inline(always)]
fn pass_d<const D: usize, const V: u8>(a: &Args, init: bool, p: &mut Pass) -> u64 {
    let (n, np) = (a.n, a.np);
    let d = dim::<D>(a.d);
    let mut changed = 0u64;
    let mut start = 0;
    while start < n {
        let end = (start + CHUNK).min(n);
        p.dsum.iter_mut().for_each(|v| *v = 0.0);
        p.dcnt.iter_mut().for_each(|v| *v = 0);
        let mut i = start;
        while i < end {
            let (idx, _) = block::<D, V>(a, i);
            let valid = if end - i >= L {
                u32::MAX >> (32 - L)
            } else {
                (1u32 << (end - i)) - 1
            };
            // Rows whose segment changed, as a bit mask (compared eight at a time).
            let mut mask = if init {
                valid
            } else {
                let old: &[u32; L] = p.labels[i..i + L].try_into().unwrap();
                changed_mask::<V>(&idx, old) & valid
            };
            while mask != 0 {
                let l = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                let r = i + l;
                let b = idx[l] as usize;
                let old = p.labels[r] as usize;
                if !init {
                    p.dcnt[old] -= 1;
                    for j in 0..d {
                        p.dsum[old * d + j] -= a.cols[j * np + r];
                    }
                    changed += 1;
                }
                p.dcnt[b] += 1;
                for j in 0..d {
                    p.dsum[b * d + j] += a.cols[j * np + r];
                }
                p.labels[r] = b as u32;
            }
            i += L;
        }
        for (s, v) in p.sums.iter_mut().zip(p.dsum.iter()) {
            *s += v;
        }
        for (s, v) in p.counts.iter_mut().zip(p.dcnt.iter()) {
            *s += v;
        }
        start = end;
    }
    changed
}

#[inline(always)]
fn assign_d<const D: usize, const V: u8>(a: &Args, labels: &mut [u32]) -> (f64, Vec<u64>) {
    let n = a.n;
    let mut counts = vec![0u64; a.k];
    let mut inertia = 0.0;
    let mut start = 0;
    while start < n {
        let end = (start + CHUNK).min(n);
        let mut part = 0.0;
        let mut i = start;
        while i < end {
            let (idx, dist) = block::<D, V>(a, i);
            for l in 0..L.min(end - i) {
                let b = idx[l] as usize;
                labels[i + l] = b as u32;
                counts[b] += 1;
                part += dist[l];
            }
            i += L;
        }
        inertia += part;
        start = end;
    }
    (inertia, counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn data(n: usize, d: usize, seed: u64) -> Matrix {
        let mut rng = Rng::new(seed);
        let data = (0..n * d).map(|_| rng.uniform()).collect();
        Matrix { n, d, data }
    }

    /// Every instruction-set build gives the same bits (assignment, Lloyd, Hartigan,
    /// seeding), and they match the scalar code used everywhere else.
    #[test]
    fn builds_agree_bit_for_bit_with_the_scalar_search() {
        for &(n, d, k) in &[
            (1000usize, 3usize, 7usize),
            (4099, 2, 10),
            (13, 9, 3),
            (5000, 1, 2),
        ] {
            let x = data(n, d, n as u64);
            let mut centers: Vec<f64> = x.data[..k * d].to_vec();
            if k == 7 {
                // A centre no row is nearest to: exercises the empty-segment relocation.
                centers[..d].iter_mut().for_each(|v| *v = 1e3);
            }
            let mut results = Vec::new();
            for isa in Isa::available() {
                let s = Small::with_isa(&x, isa);
                let mut labels = vec![0u32; n];
                let (inertia, counts) = s.assign(&centers, &mut labels);
                let fit = s.lloyd(centers.clone(), 300, 0.0);
                let mut hl = fit.labels.clone();
                let hc = s.hartigan(&mut hl, k);
                let seeds = s.plusplus(k, &mut Rng::new(5));
                results.push((labels, inertia.to_bits(), counts, fit, (hl, hc, seeds)));
            }
            let mut expect = vec![0u32; n];
            let (inertia, counts) =
                crate::cluster::scan::final_assign(&x, &centers, &mut expect, false);
            let fit = crate::cluster::lloyd::lloyd_from(&x, centers.clone(), 300, 0.0, false);
            let mut hl = fit.labels.clone();
            let hc = crate::cluster::hartigan::hartigan_refine(&x, &mut hl, k);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let seeds0 = &results[0].4 .2;
            for c in seeds0.chunks(d) {
                assert!((0..n).any(|i| x.row(i) == c), "seeds are data points");
            }
            for (labels, bits_i, c, f, (hlab, hcen, seeds)) in &results {
                let bits_i = *bits_i;
                assert_eq!(hlab, &hl);
                assert_eq!(bits(hcen), bits(&hc));
                assert_eq!(bits(seeds), bits(seeds0));
                let bits_e = inertia.to_bits();
                assert_eq!(bits_i, bits_e);
                assert_eq!(labels, &expect);
                assert_eq!(c, &counts);
                assert_eq!(f.labels, fit.labels);
                assert_eq!(f.inertia.to_bits(), fit.inertia.to_bits());
                assert_eq!(f.n_iter, fit.n_iter);
                assert_eq!(bits(&f.centroids), bits(&fit.centroids));
            }
        }
    }
}
