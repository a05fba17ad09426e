//! The nearest-centre scan of large inputs over blocks of rows, and what is built on
//! it: the labelling pass ([`assign_labels`], behind [`final_assign`] and [`assign`])
//! and the fused Lloyd step ([`lloyd_step`]).
//!
//! Why hand-written: on 10 million rows a Lloyd pass is bounded by memory and by the
//! k distance evaluations per row. Rows are transposed [`BLOCK`] at a time into a small
//! structure of arrays so that each centre's distance is computed for the whole block in
//! vector registers (the compiler vectorises the lane loops). That code is compiled
//! with AVX2 and with AVX-512 (one 8-lane vector per block) and picked at run time on
//! CPUs that have them; elsewhere rows go through the plain row loop (the blocked code
//! compiled for 2-lane SSE2 was slower than it). Measurements: bench/RESULTS.md.
//!
//! Exactness: every distance is computed exactly as [`super::sqdist`] does it (start at
//! 0, add the squared difference of each feature in feature order, no fused
//! multiply-add, which Rust never introduces on its own), and the nearest centre is the
//! first one with the strictly smallest distance, as in [`super::nearest`]. Vector lanes
//! hold different rows, never parts of one sum, so the blocked AVX2 path and the row
//! loop give bit-identical distances, labels, sums and inertia. Per-chunk results
//! are reduced in chunk order over fixed [`super::CHUNK`]-row chunks, so nothing
//! depends on the thread count either.

use super::simd::{dim, dispatch_d, Isa};
use super::{chunked, sqdist};
use crate::scale::Matrix;

/// From this many rows [`assign`] labels them in parallel (below, one thread is faster).
const INNER_PARALLEL_ROWS: usize = 100_000;

/// Rows per block of the vectorised scan: 8 doubles fill two AVX2 registers (or four
/// SSE2 ones) per feature, enough independent work to hide the latency of each add.
pub const BLOCK: usize = 8;

/// Nearest centre, its squared distance and the second-nearest squared distance of
/// each row of a block.
pub(super) struct BlockOut {
    pub(super) lab: [u32; BLOCK],
    pub(super) best: [f64; BLOCK],
    pub(super) second: [f64; BLOCK],
    /// sqrt(second) - sqrt(best), rounded to f32 (only when the second is asked for).
    pub(super) gap: [f32; BLOCK],
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

/// The nearest centre of every row of `rows` (row-major, `d` features), handed to `f`
/// a block at a time in row order as (index in `rows` of the block's first row, the
/// block's [`BlockOut`], rows in the block). The second-nearest distance and the gap
/// are infinite when `SECOND` is false or k = 1. One call site per block, so the
/// compiler inlines `f`.
#[inline(always)]
pub(super) fn scan<const D: usize, const SECOND: bool, F: FnMut(usize, &BlockOut, usize)>(
    rows: &[f64],
    centers: &[f64],
    d: usize,
    isa: Isa,
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
    // The blocked kernel only pays with 4-wide vectors: compiled for 2-lane SSE2 it was
    // slower than the row loop below, so the portable build takes the row loop for every
    // row (same results either way).
    #[cfg(target_arch = "x86_64")]
    if D > 0 {
        match isa {
            Isa::Avx512 => {
                while i + BLOCK <= n {
                    let block = &rows[i * D..(i + BLOCK) * D];
                    // SAFETY: Isa::Avx512 is only chosen when the CPU reports AVX-512F.
                    unsafe { block_avx512::<D, SECOND>(block, centers, &mut out) };
                    f(i, &out, BLOCK);
                    i += BLOCK;
                }
            }
            Isa::Avx2 => {
                while i + BLOCK <= n {
                    let block = &rows[i * D..(i + BLOCK) * D];
                    // SAFETY: Isa::Avx2 is only chosen when the CPU reports AVX2.
                    unsafe { block_avx2::<D, SECOND>(block, centers, &mut out) };
                    f(i, &out, BLOCK);
                    i += BLOCK;
                }
            }
            Isa::Base => {}
        }
    }
    let _ = isa;
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

/// Which build of the distance kernels runs on this CPU ("avx512", "avx2" or "portable";
/// same results), for benchmark reports.
pub fn kernel_name() -> &'static str {
    Isa::detect().name()
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
    let isa = Isa::detect();
    let parts = chunked(&x.data, d, labels, parallel, |rows, lab| {
        dispatch_d!(d, assign_chunk(rows, centers, lab, d, isa))
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
    isa: Isa,
) -> (f64, Vec<u64>) {
    let k = centers.len() / dim::<D>(d);
    let mut counts = vec![0u64; k];
    let mut inertia = 0.0;
    scan::<D, false, _>(rows, centers, d, isa, |i0, b, m| {
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
/// in row order. Two tight loops beat one loop doing both (bench/RESULTS.md): the
/// scatter into the sums no longer stalls the vectorised distance code. The matrix is
/// still read from memory once.
fn step_chunk<const D: usize>(
    rows: &[f64],
    centers: &[f64],
    lab: &mut [u32],
    d: usize,
    isa: Isa,
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
    scan::<D, false, _>(rows, centers, d, isa, |i0, b, m| {
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

/// One fused Lloyd iteration's data pass.
#[derive(Debug, Clone, PartialEq)]
pub struct LloydStep {
    /// k × d sums of the rows assigned to each centre.
    pub sums: Vec<f64>,
    /// Rows assigned to each centre.
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
    let isa = Isa::detect();
    let parts = chunked(&x.data, d, labels, parallel, |rows, lab| {
        dispatch_d!(d, step_chunk(rows, centers, lab, d, isa))
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

/// Labels every row with its nearest centre (first on ties); returns the inertia and
/// cluster sizes. The scan is [`assign_labels`] (blocks of rows in vector
/// registers), bit-identical to a row-by-row `nearest` loop.
pub fn final_assign(
    x: &Matrix,
    centers: &[f64],
    labels: &mut [u32],
    parallel: bool,
) -> (f64, Vec<u64>) {
    assign_labels(x, centers, labels, parallel)
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
    use crate::cluster::nearest;
    use crate::cluster::test_blobs as blobs;
    use crate::cluster::CHUNK;
    use crate::rng::Rng;

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
            let centers = crate::cluster::seeding::kmeans_plusplus(&x, 6, &mut Rng::new(3), false);
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
        let x = blobs(1000, 3, 2);
        let centers = crate::cluster::seeding::kmeans_plusplus(&x, 9, &mut Rng::new(4), false);
        let run = |isa: Isa| {
            let mut out = Vec::new();
            scan::<3, true, _>(&x.data, &centers, 3, isa, |i0, b, m| {
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
        let portable = run(Isa::Base);
        for isa in Isa::available() {
            assert_eq!(run(isa), portable, "{isa:?}");
        }
    }

    /// Each compiled build of the block kernel (AVX2, and AVX-512 where the CPU has it)
    /// against the portable one, block by block, with and without second distances.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn every_block_kernel_build_agrees_with_the_portable_one() {
        if !Isa::available().contains(&Isa::Avx2) {
            return; // nothing to compare on this CPU
        }
        let x = blobs(800, 3, 5);
        let centers = crate::cluster::seeding::kmeans_plusplus(&x, 10, &mut Rng::new(6), false);
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
            // SAFETY: AVX2 was detected above, AVX-512F just now.
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
        let centers = crate::cluster::seeding::kmeans_plusplus(&x, 5, &mut Rng::new(1), false);
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
}
