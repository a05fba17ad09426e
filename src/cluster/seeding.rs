//! Greedy k-means++ seeding (Arthur & Vassilvitskii 2007, with scikit-learn's 2 + ln k
//! local trials): the general version over fixed row chunks, and the vectorised
//! version of the small-input kernels ([`Small::plusplus`]).

use super::simd::{dim, dispatch_d, Isa, BASE};
#[cfg(target_arch = "x86_64")]
use super::simd::{AVX2, AVX512};
use super::small::Small;
use super::{chunked, map_chunks, search_cumulative, sqdist, CHUNK};
use crate::rng::Rng;
use crate::scale::Matrix;

/// Greedy k-means++ (Arthur & Vassilvitskii, with scikit-learn's local trials). The
/// potentials are summed per fixed [`CHUNK`] of rows, in chunk order, so the centres are
/// the same with `parallel` on or off.
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

impl Small<'_> {
    /// Greedy k-means++ (scikit-learn's algorithm, 2 + ln k local trials), as
    /// `kmeans_plusplus` but vectorised: the trials of a step are scored in one pass,
    /// the winner's distances become the new closest-centre distances (no second pass),
    /// and potentials are summed in `PL` interleaved lanes per chunk, combined in lane
    /// order, identically in every build.
    pub fn plusplus(&self, k: usize, rng: &mut crate::rng::Rng) -> Vec<f64> {
        let (n, d) = (self.x.n, self.x.d);
        let trials = 2 + (k as f64).ln().floor() as usize;
        let mut centers = Vec::with_capacity(k * d);
        let first = rng.below(n as u64) as usize;
        centers.extend_from_slice(self.x.row(first));
        // closest[i]: squared distance to the nearest chosen centre; zero past n.
        let mut closest = vec![0.0f64; self.np];
        let mut chunk_pot = self.pp_first(self.x.row(first), &mut closest);
        let mut bufs: Vec<Vec<f64>> = (0..trials).map(|_| vec![0.0f64; self.np]).collect();
        let mut cand_rows = vec![0.0f64; trials * d];
        for _ in 1..k {
            let pot: f64 = chunk_pot.iter().sum();
            let cands: Vec<usize> = (0..trials)
                .map(|_| search_cumulative(&closest[..n], &chunk_pot, rng.uniform() * pot))
                .collect();
            for (t, &c) in cands.iter().enumerate() {
                cand_rows[t * d..(t + 1) * d].copy_from_slice(self.x.row(c));
            }
            let parts = self.pp_trials(&cand_rows, &closest, &mut bufs);
            // Per trial, its chunk sums; the trial's potential is their sum in order.
            let pots: Vec<f64> = parts.iter().map(|p| p.iter().sum()).collect();
            let best = (0..trials).fold(0, |b, t| if pots[t] < pots[b] { t } else { b });
            centers.extend_from_slice(self.x.row(cands[best]));
            std::mem::swap(&mut closest, &mut bufs[best]);
            chunk_pot = parts.into_iter().nth(best).unwrap_or_default();
        }
        centers
    }

    /// Distances to the first centre into `closest`; returns the per-chunk sums.
    fn pp_first(&self, c0: &[f64], closest: &mut Vec<f64>) -> Vec<f64> {
        // Infinite for real rows (so the minimum is the distance), zero for padding.
        let mut init = vec![0.0f64; self.np];
        init[..self.x.n].iter_mut().for_each(|v| *v = f64::INFINITY);
        let mut bufs = [std::mem::take(closest)];
        let parts = self.pp_trials(c0, &init, &mut bufs);
        let [b] = bufs;
        *closest = b;
        parts.into_iter().next().unwrap_or_default()
    }

    /// For each candidate t (rows of `cands`), out[t][i] = min(|x_i − cand_t|², closest[i])
    /// and the per-chunk sums of out[t] over rows < n.
    fn pp_trials(&self, cands: &[f64], closest: &[f64], out: &mut [Vec<f64>]) -> Vec<Vec<f64>> {
        let a = PpArgs {
            cols: &self.cols,
            np: self.np,
            n: self.x.n,
            d: self.x.d,
            cands,
            closest,
        };
        match self.isa {
            Isa::Base => dispatch_d!(a.d, pp_d::<_, BASE>(&a, out)),
            // SAFETY: these variants are only chosen when the CPU reports the feature.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { pp_avx2(&a, out) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { pp_avx512(&a, out) },
        }
    }
}

struct PpArgs<'a> {
    cols: &'a [f64],
    np: usize,
    n: usize,
    d: usize,
    cands: &'a [f64],
    closest: &'a [f64],
}

/// Lanes of the k-means++ potential sums (row i of a chunk goes to lane i % PL).
const PL: usize = 8;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn pp_avx2(a: &PpArgs, out: &mut [Vec<f64>]) -> Vec<Vec<f64>> {
    dispatch_d!(a.d, pp_d::<_, AVX2>(a, out))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pp_avx512(a: &PpArgs, out: &mut [Vec<f64>]) -> Vec<Vec<f64>> {
    if out.len() <= PP_FUSED {
        dispatch_d!(a.d, pp_fused_avx512::<_, AVX512>(a, out))
    } else {
        dispatch_d!(a.d, pp_d::<_, AVX512>(a, out))
    }
}

/// Trials scored together in one sweep over the rows (at most this many).
const PP_FUSED: usize = 6;

/// `pp_d` with the trials fused: each block of eight rows is loaded once and scored
/// against every candidate. Same lanes, same order of additions, same bits.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn pp_fused_avx512<const D: usize, const V: u8>(
    a: &PpArgs,
    out: &mut [Vec<f64>],
) -> Vec<Vec<f64>> {
    use std::arch::x86_64::*;
    let d = dim::<D>(a.d);
    let trials = out.len();
    let nchunks = a.n.div_ceil(CHUNK);
    let mut parts = vec![vec![0.0f64; nchunks]; trials];
    let mut cand = [[_mm512_setzero_pd(); 8]; PP_FUSED];
    let dc = d.min(8);
    for t in 0..trials {
        for j in 0..dc {
            cand[t][j] = _mm512_set1_pd(a.cands[t * d + j]);
        }
    }
    let outp: Vec<*mut f64> = out.iter_mut().map(|o| o.as_mut_ptr()).collect();
    for ch in 0..nchunks {
        let start = ch * CHUNK;
        let end = (start + CHUNK).min(a.n).div_ceil(PL) * PL;
        let mut acc = [_mm512_setzero_pd(); PP_FUSED];
        let mut i = start;
        while i < end {
            let cl = _mm512_loadu_pd(a.closest.as_ptr().add(i));
            for t in 0..trials {
                let mut s = _mm512_setzero_pd();
                for j in 0..d {
                    let x = _mm512_loadu_pd(a.cols.as_ptr().add(j * a.np + i));
                    let c = if j < 8 {
                        cand[t][j]
                    } else {
                        _mm512_set1_pd(a.cands[t * d + j])
                    };
                    let u = _mm512_sub_pd(x, c);
                    s = _mm512_add_pd(s, _mm512_mul_pd(u, u));
                }
                let lt = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(s, cl);
                let m = _mm512_mask_blend_pd(lt, cl, s);
                _mm512_storeu_pd(outp[t].add(i), m);
                acc[t] = _mm512_add_pd(acc[t], m);
            }
            i += PL;
        }
        for t in 0..trials {
            let mut lanes = [0.0f64; PL];
            _mm512_storeu_pd(lanes.as_mut_ptr(), acc[t]);
            let mut total = 0.0;
            for v in lanes {
                total += v;
            }
            parts[t][ch] = total;
        }
    }
    parts
}

/// The k-means++ trial pass: plain lane arithmetic the compiler vectorises in each
/// build (`V` only selects the wrapper). Rows past `n` are padding with closest = 0,
/// so they add +0 to the lane sums, which changes nothing.
#[inline(always)]
fn pp_d<const D: usize, const V: u8>(a: &PpArgs, out: &mut [Vec<f64>]) -> Vec<Vec<f64>> {
    let d = dim::<D>(a.d);
    let trials = out.len();
    let nchunks = a.n.div_ceil(CHUNK);
    let mut parts = vec![vec![0.0f64; nchunks]; trials];
    for (t, o) in out.iter_mut().enumerate() {
        let cand = &a.cands[t * d..(t + 1) * d];
        for ch in 0..nchunks {
            let start = ch * CHUNK;
            let end = (start + CHUNK).min(a.n).div_ceil(PL) * PL;
            let mut acc = [0.0f64; PL];
            let mut i = start;
            while i < end {
                let cl: &[f64; PL] = a.closest[i..i + PL].try_into().unwrap();
                let mut s = [0.0f64; PL];
                for j in 0..d {
                    let xs: &[f64; PL] =
                        a.cols[j * a.np + i..j * a.np + i + PL].try_into().unwrap();
                    for l in 0..PL {
                        let t = xs[l] - cand[j];
                        s[l] += t * t;
                    }
                }
                let o: &mut [f64; PL] = (&mut o[i..i + PL]).try_into().unwrap();
                for l in 0..PL {
                    let m = if s[l] < cl[l] { s[l] } else { cl[l] };
                    o[l] = m;
                    acc[l] += m;
                }
                i += PL;
            }
            let mut total = 0.0;
            for v in acc {
                total += v;
            }
            parts[t][ch] = total;
        }
    }
    parts
}
