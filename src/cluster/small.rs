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

/// Rows per SIMD block: four AVX-512 registers of f64 (eight AVX2), so four (eight)
/// independent compare-and-select chains hide the latency of each.
const L: usize = 32;
// Blocks never straddle a chunk (the skip test and the deltas are per block and chunk).
const _: () = assert!(CHUNK.is_multiple_of(L));

/// The rows (row-major, for the scalar stages: seeding, Hartigan, swaps) plus a
/// column-major copy padded to a multiple of `L` rows for the SIMD passes.
pub(super) struct Small<'a> {
    pub(super) x: &'a Matrix,
    /// Column j is `cols[j * np..(j + 1) * np]`; rows past `n` are zeros, never used.
    /// `np >= n + L`, so a block of `L` rows may start at any row.
    pub(super) cols: Vec<f64>,
    pub(super) np: usize,
    pub(super) isa: Isa,
    /// Whether Lloyd leaves out the rows the settled test vouches for ([`Skip`]).
    skip: bool,
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
        Small {
            x,
            cols,
            np,
            isa,
            skip: skip_enabled(),
        }
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
        // How far each centre moved in the last update (the settled test's drift).
        let mut moved = vec![0.0f64; k];
        let mut dsum = vec![0.0f64; k * d];
        let mut dcnt = vec![0i64; k];
        let mut ct = vec![0.0f64; k * d];
        let mut skip = Skip::new(self.np, d, self.skip);
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
                skip: &mut skip,
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
            skip.advance(&moved);
            if shift <= tol {
                break;
            }
        }
        // Exact means of the final labels (the running sums carry rounding): a last,
        // tiny move of the centres.
        let (s2, c2) = self.exact_sums(&labels[..n], k);
        for c in 0..k {
            let mut m2 = 0.0;
            if c2[c] > 0 {
                for j in 0..d {
                    let v = s2[c * d + j] / c2[c] as f64;
                    let t = v - centers[c * d + j];
                    m2 += t * t;
                    centers[c * d + j] = v;
                }
            }
            moved[c] = m2.sqrt();
        }
        skip.advance(&moved);
        transpose(&centers, &mut ct, k, d);
        let (inertia, counts) = self.assign_ct(&ct, k, &mut labels, Some(&skip));
        labels.truncate(n);
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
        label_sums(&self.x.data, d, labels, &mut s2, &mut c2);
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
        self.assign_ct(&ct, k, labels, None)
    }

    /// [`Small::assign`] with the centres feature-major; with `skip`, `labels` (padded)
    /// holds the labels of the Lloyd loop `skip` followed.
    fn assign_ct(
        &self,
        ct: &[f64],
        k: usize,
        labels: &mut [u32],
        skip: Option<&Skip>,
    ) -> (f64, Vec<u64>) {
        let a = Args {
            cols: &self.cols,
            np: self.np,
            n: self.x.n,
            d: self.x.d,
            ct,
            k,
        };
        match self.isa {
            Isa::Base => assign_generic(&a, labels, skip),
            // SAFETY: these variants are only chosen when the CPU reports the feature.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { assign_avx2(&a, labels, skip) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { assign_avx512(&a, labels, skip) },
        }
    }
}

/// Adds each row of `data` (row-major, `d` features) to its segment's `sums` and
/// `counts`, in row order (every segment's sums are the same bits as a plain loop's);
/// the feature count is fixed at compile time for the common counts.
pub(super) fn label_sums(
    data: &[f64],
    d: usize,
    labels: &[u32],
    sums: &mut [f64],
    counts: &mut [u64],
) {
    dispatch_d!(d, label_sums_d(data, d, labels, sums, counts))
}

#[inline(always)]
fn label_sums_d<const D: usize>(
    data: &[f64],
    d: usize,
    labels: &[u32],
    sums: &mut [f64],
    counts: &mut [u64],
) {
    let d = dim::<D>(d);
    for (row, &l) in data.chunks_exact(d).zip(labels) {
        let l = l as usize;
        counts[l] += 1;
        let s = &mut sums[l * d..(l + 1) * d];
        for j in 0..d {
            s[j] += row[j];
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
    skip: &'a mut Skip,
}

/// Relative slack on every computed squared distance and centre move in the settled
/// test: far above the rounding of a sum of `d` squares (about (d + 2)·2⁻⁵³ relative)
/// for `d` up to [`SKIP_MAX_D`], so every rounding of the test itself is covered too.
const ETA: f64 = 1e-9;
/// Above this many features the settled test is off (its margin [`ETA`] would no
/// longer cover the rounding of the distances).
const SKIP_MAX_D: usize = 100_000;
/// Row stride of the packed unsettled rows of one chunk (whole blocks may be read).
const PACK: usize = CHUNK + L;

/// Which rows a Lloyd pass may leave out: those that provably keep their segment, so
/// the pass's labels, sums and counts are the very ones a scan of every row gives (a
/// row that keeps its segment adds nothing to the deltas).
///
/// When a row is scanned it records the squared distances to its nearest centre, grown
/// by [`ETA`] (`near`), and to the second nearest, shrunk by it, minus `near` (`gap`),
/// and the centres' cumulative drift at that moment (`at`). Between two updates, a
/// row's distance to its own centre grows, and to any other shrinks, by at most the two
/// largest centre moves summed; `drift` sums those over the updates (grown by
/// [`ETA`]). With `m` the drift since the scan (grown again), the row keeps its segment
/// when √(near + gap) > √near + m, that is when `h = gap − m² > 0` and
/// `h² > 4·m²·near`: its own centre then stays nearer than any other by more than the
/// rounding of the distances, so the scan would pick it again. The margins scale with
/// the very quantities whose rounding they cover, so the test's own arithmetic cannot
/// turn an unsettled row into a settled one.
struct Skip {
    gap: Vec<f64>,
    near: Vec<f64>,
    at: Vec<f64>,
    /// Summed (largest + second largest) centre move of every update, grown by ETA.
    drift: f64,
    /// Updates summed into `drift` (bounds the rounding of the sum).
    updates: f64,
    on: bool,
    /// The unsettled rows of a chunk, packed feature by feature (stride [`PACK`]).
    packed: Vec<f64>,
    /// Their row numbers.
    rows: Vec<u64>,
    /// One unsettled mask per block of a chunk.
    masks: Vec<u32>,
}

/// The buffers of a [`Skip`], kept per thread between Lloyd runs (a run is thousands of
/// passes shorter than allocating and clearing them).
#[derive(Default)]
struct SkipBufs {
    gap: Vec<f64>,
    near: Vec<f64>,
    at: Vec<f64>,
    packed: Vec<f64>,
    rows: Vec<u64>,
    masks: Vec<u32>,
}

thread_local! {
    static SKIP_BUFS: std::cell::RefCell<SkipBufs> = std::cell::RefCell::new(SkipBufs::default());
}

impl Drop for Skip {
    fn drop(&mut self) {
        let b = SkipBufs {
            gap: std::mem::take(&mut self.gap),
            near: std::mem::take(&mut self.near),
            at: std::mem::take(&mut self.at),
            packed: std::mem::take(&mut self.packed),
            rows: std::mem::take(&mut self.rows),
            masks: std::mem::take(&mut self.masks),
        };
        let _ = SKIP_BUFS.try_with(|c| *c.borrow_mut() = b);
    }
}

impl Skip {
    /// Every row below `np` is recorded by the first (full) pass before any test reads
    /// it, so reused buffers need no clearing.
    fn new(np: usize, d: usize, on: bool) -> Skip {
        let on = on && d <= SKIP_MAX_D;
        let mut b = if on {
            SKIP_BUFS
                .try_with(|c| std::mem::take(&mut *c.borrow_mut()))
                .unwrap_or_default()
        } else {
            SkipBufs::default()
        };
        if on {
            b.gap.resize(np, f64::NEG_INFINITY);
            b.near.resize(np, 0.0);
            b.at.resize(np, 0.0);
            b.packed.resize(d * PACK, 0.0);
            b.rows.resize(PACK, 0);
            b.masks.resize(CHUNK / L, 0);
        }
        Skip {
            gap: b.gap,
            near: b.near,
            at: b.at,
            drift: 0.0,
            updates: 0.0,
            on,
            packed: b.packed,
            rows: b.rows,
            masks: b.masks,
        }
    }

    /// Adds the centres' last moves (`moved[c]`, as computed) to the drift.
    fn advance(&mut self, moved: &[f64]) {
        let (mut m1, mut m2) = (0.0f64, 0.0f64);
        for &m in moved {
            if m > m1 {
                m2 = m1;
                m1 = m;
            } else if m > m2 {
                m2 = m;
            } else if m.is_nan() {
                m1 = f64::INFINITY;
            }
        }
        self.drift += (m1 + m2) * (1.0 + ETA);
        self.updates += 1.0;
    }

    /// The drift now, grown by the rounding its running sum may have lost.
    fn now(&self) -> f64 {
        self.drift + self.drift * (ETA + self.updates * 2.3e-16)
    }

    /// Records the scan of rows `i..i + L`.
    #[inline(always)]
    fn record(&mut self, i: usize, best: &[f64; L], second: &[f64; L]) {
        if !self.on {
            return;
        }
        let (gap, near, at) = (
            &mut self.gap[i..i + L],
            &mut self.near[i..i + L],
            &mut self.at[i..i + L],
        );
        for l in 0..L {
            let (g, v) = row_slack(best[l], second[l]);
            gap[l] = g;
            near[l] = v;
            at[l] = self.drift;
        }
    }
}

/// A row's `gap` and `near` (see [`Skip`]); a gap that is not finite (a tie at
/// infinity, NaN, a single centre) never lets the row be left out.
#[inline(always)]
fn row_slack(best: f64, second: f64) -> (f64, f64) {
    let v = best * (1.0 + ETA);
    let g = second * (1.0 - ETA) - v;
    let g = if g.is_finite() { g } else { f64::NEG_INFINITY };
    (g, v)
}

/// Bit l set unless row `i + l` provably keeps its segment (rows `valid..` are clear).
#[inline(always)]
fn unsettled<const V: u8>(s: &Skip, now: f64, i: usize, valid: usize) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if V == AVX512 {
        // SAFETY: V is AVX512 only inside the AVX-512 wrappers; rows i..i + L exist.
        return unsafe { unsettled_avx512(s, now, i, valid) };
    }
    let mut mask = 0u32;
    for l in 0..valid {
        let r = i + l;
        let m = (now - s.at[r]) * (1.0 + ETA);
        let m2 = m * m;
        let h = s.gap[r] - m2;
        let keep = h > 0.0 && h * h > 4.0 * (1.0 + ETA) * m2 * s.near[r];
        mask |= (!keep as u32) << l;
    }
    mask
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn unsettled_avx512(s: &Skip, now: f64, i: usize, valid: usize) -> u32 {
    use std::arch::x86_64::*;
    let nowv = _mm512_set1_pd(now);
    let grow = _mm512_set1_pd(1.0 + ETA);
    let four = _mm512_set1_pd(4.0 * (1.0 + ETA));
    let zero = _mm512_setzero_pd();
    let mut keep = 0u32;
    for v in 0..L / 8 {
        let r = i + 8 * v;
        let m = _mm512_mul_pd(
            _mm512_sub_pd(nowv, _mm512_loadu_pd(s.at.as_ptr().add(r))),
            grow,
        );
        let m2 = _mm512_mul_pd(m, m);
        let h = _mm512_sub_pd(_mm512_loadu_pd(s.gap.as_ptr().add(r)), m2);
        let rhs = _mm512_mul_pd(
            _mm512_mul_pd(four, m2),
            _mm512_loadu_pd(s.near.as_ptr().add(r)),
        );
        let k = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(h, zero)
            & _mm512_cmp_pd_mask::<_CMP_GT_OQ>(_mm512_mul_pd(h, h), rhs);
        keep |= (k as u32) << (8 * v);
    }
    let valid_bits = if valid >= L {
        u32::MAX
    } else {
        (1u32 << valid) - 1
    };
    !keep & valid_bits
}

/// Packs the unsettled rows of the chunk `start..end` (by the masks of the settled test)
/// feature by feature into `s.packed`, and their row numbers into `s.rows`, in row
/// order; returns how many.
#[inline(always)]
fn pack<const V: u8>(a: &Args, s: &mut Skip, start: usize, end: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    if V == AVX512 {
        // SAFETY: V is AVX512 only inside the AVX-512 wrappers; see `pack_avx512`.
        return unsafe { pack_avx512(a, s, start, end) };
    }
    let d = a.d;
    let mut cnt = 0;
    let mut i = start;
    while i < end {
        let mut m = s.masks[(i - start) / L];
        while m != 0 {
            let r = i + m.trailing_zeros() as usize;
            m &= m - 1;
            for j in 0..d {
                s.packed[j * PACK + cnt] = a.cols[j * a.np + r];
            }
            s.rows[cnt] = r as u64;
            cnt += 1;
        }
        i += L;
    }
    cnt
}

/// [`pack`] with AVX-512 compression, eight rows at a time. Every store is a whole
/// vector at `cnt < CHUNK`, inside `packed` and `rows` (PACK = CHUNK + L per feature);
/// the loads stay inside the padded `cols`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn pack_avx512(a: &Args, s: &mut Skip, start: usize, end: usize) -> usize {
    use std::arch::x86_64::*;
    let d = a.d;
    let mut cnt = 0;
    let mut i = start;
    let step = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    while i < end {
        let m = s.masks[(i - start) / L];
        if m != 0 {
            for h in 0..L / 8 {
                let m8 = (m >> (8 * h)) as u8;
                if m8 == 0 {
                    continue;
                }
                let r = i + 8 * h;
                for j in 0..d {
                    let x = _mm512_loadu_pd(a.cols.as_ptr().add(j * a.np + r));
                    _mm512_storeu_pd(
                        s.packed.as_mut_ptr().add(j * PACK + cnt),
                        _mm512_maskz_compress_pd(m8, x),
                    );
                }
                let rows = _mm512_add_epi64(_mm512_set1_epi64(r as i64), step);
                _mm512_storeu_si512(
                    s.rows.as_mut_ptr().add(cnt) as *mut __m512i,
                    _mm512_maskz_compress_epi64(m8, rows),
                );
                cnt += m8.count_ones() as usize;
            }
        }
        i += L;
    }
    cnt
}

/// `CARDSEG_NO_SKIP=1` turns the settled test off (benchmarks compare; results are
/// the same).
fn skip_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("CARDSEG_NO_SKIP").is_none())
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
unsafe fn assign_avx2(a: &Args, labels: &mut [u32], skip: Option<&Skip>) -> (f64, Vec<u64>) {
    dispatch_d!(a.d, assign_d::<_, AVX2>(a, labels, skip))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn assign_avx512(a: &Args, labels: &mut [u32], skip: Option<&Skip>) -> (f64, Vec<u64>) {
    dispatch_d!(a.d, assign_d::<_, AVX512>(a, labels, skip))
}

fn pass_generic(a: &Args, init: bool, p: &mut Pass) -> u64 {
    dispatch_d!(a.d, pass_d::<_, BASE>(a, init, p))
}

fn assign_generic(a: &Args, labels: &mut [u32], skip: Option<&Skip>) -> (f64, Vec<u64>) {
    dispatch_d!(a.d, assign_d::<_, BASE>(a, labels, skip))
}

/// Nearest centre (first on ties, as an f64 index), its squared distance and (with `T`,
/// else zeros) the second-nearest squared distance for rows `i..i + L`, with the build
/// `V`. Every build computes ((x0−c0)² + (x1−c1)²) + … in feature order with separate
/// multiply and add, so all return the same bits.
#[inline(always)]
fn block<const D: usize, const V: u8, const T: bool>(
    a: &Args,
    i: usize,
) -> ([f64; L], [f64; L], [f64; L]) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: V is AVX2 or AVX512 only inside the wrappers above, which run only
        // when the CPU reports the feature; the loads stay inside `cols` (rows padded
        // to whole blocks).
        if V == AVX512 {
            return unsafe { block_avx512::<D, T>(a, i) };
        }
        if V == AVX2 {
            return unsafe { block_avx2::<D, T>(a, i) };
        }
    }
    block_scalar::<D, T>(a, i)
}

#[inline(always)]
fn block_scalar<const D: usize, const T: bool>(
    a: &Args,
    i: usize,
) -> ([f64; L], [f64; L], [f64; L]) {
    let d = dim::<D>(a.d);
    let k = a.k;
    let mut best = [f64::INFINITY; L];
    let mut second = [if T { f64::INFINITY } else { 0.0 }; L];
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
            if T {
                // A NaN distance leaves second <= best: the row is never left out.
                let hi = if s[l] > best[l] { s[l] } else { best[l] };
                second[l] = if hi < second[l] { hi } else { second[l] };
            }
            let lt = s[l] < best[l];
            best[l] = if lt { s[l] } else { best[l] };
            idx[l] = if lt { cf } else { idx[l] };
        }
    }
    (idx, best, second)
}

/// Sums start from the first feature's square: 0 + y = y for every y >= +0 (and NaN),
/// so this matches `sqdist`'s `0.0 + t0² + …` bit for bit.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn block_avx512<const D: usize, const T: bool>(
    a: &Args,
    i: usize,
) -> ([f64; L], [f64; L], [f64; L]) {
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
    let mut second = [_mm512_set1_pd(if T { f64::INFINITY } else { 0.0 }); V];
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
            if T {
                // max and min return their second operand on NaN: a NaN distance
                // leaves second <= best, so the row is never left out.
                second[v] = _mm512_min_pd(second[v], _mm512_max_pd(s[v], best[v]));
            }
            let lt = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(s[v], best[v]);
            best[v] = _mm512_mask_blend_pd(lt, best[v], s[v]);
            idx[v] = _mm512_mask_blend_pd(lt, idx[v], cf);
        }
        // c as f64, exactly (small integers).
        cf = _mm512_add_pd(cf, one);
    }
    let mut oi = [0.0; L];
    let mut ob = [0.0; L];
    let mut os = [0.0; L];
    for v in 0..V {
        _mm512_storeu_pd(oi.as_mut_ptr().add(8 * v), idx[v]);
        _mm512_storeu_pd(ob.as_mut_ptr().add(8 * v), best[v]);
        if T {
            _mm512_storeu_pd(os.as_mut_ptr().add(8 * v), second[v]);
        }
    }
    (oi, ob, os)
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn block_avx2<const D: usize, const T: bool>(
    a: &Args,
    i: usize,
) -> ([f64; L], [f64; L], [f64; L]) {
    use std::arch::x86_64::*;
    const V: usize = L / 4;
    let d = dim::<D>(a.d);
    let k = a.k;
    let base = a.cols.as_ptr().add(i);
    let mut best = [_mm256_set1_pd(f64::INFINITY); V];
    let mut second = [_mm256_set1_pd(if T { f64::INFINITY } else { 0.0 }); V];
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
            if T {
                second[v] = _mm256_min_pd(second[v], _mm256_max_pd(s[v], best[v]));
            }
            let lt = _mm256_cmp_pd::<_CMP_LT_OQ>(s[v], best[v]);
            best[v] = _mm256_blendv_pd(best[v], s[v], lt);
            idx[v] = _mm256_blendv_pd(idx[v], cf, lt);
        }
    }
    let mut oi = [0.0; L];
    let mut ob = [0.0; L];
    let mut os = [0.0; L];
    for v in 0..V {
        _mm256_storeu_pd(oi.as_mut_ptr().add(4 * v), idx[v]);
        _mm256_storeu_pd(ob.as_mut_ptr().add(4 * v), best[v]);
        if T {
            _mm256_storeu_pd(os.as_mut_ptr().add(4 * v), second[v]);
        }
    }
    (oi, ob, os)
}

/// Squared distances of rows `i..i + L` to their labelled centres, as [`block`] computes
/// them (same operations, same order, same bits), on AVX-512 for k <= 16: the centre
/// coordinates are picked per lane from two registers.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn own_avx512<const D: usize>(a: &Args, i: usize, labels: &[u32]) -> [f64; L] {
    use std::arch::x86_64::*;
    const V: usize = L / 8;
    let d = dim::<D>(a.d);
    let k = a.k;
    let base = a.cols.as_ptr().add(i);
    let lo_mask: __mmask8 = if k >= 8 {
        0xFF
    } else {
        ((1u32 << k) - 1) as u8
    };
    let hi_mask: __mmask8 = if k >= 16 {
        0xFF
    } else if k > 8 {
        ((1u32 << (k - 8)) - 1) as u8
    } else {
        0
    };
    let mut lab = [_mm512_setzero_si512(); V];
    for v in 0..V {
        lab[v] = _mm512_cvtepu32_epi64(_mm256_loadu_si256(
            labels.as_ptr().add(i + 8 * v) as *const __m256i
        ));
    }
    let mut s = [_mm512_setzero_pd(); V];
    for j in 0..d {
        let row = a.ct.as_ptr().add(j * k);
        let lo = _mm512_maskz_loadu_pd(lo_mask, row);
        let hi = _mm512_maskz_loadu_pd(hi_mask, row.add(8));
        for v in 0..V {
            let c = _mm512_permutex2var_pd(lo, lab[v], hi);
            let t = _mm512_sub_pd(_mm512_loadu_pd(base.add(j * a.np + 8 * v)), c);
            s[v] = if j == 0 {
                _mm512_mul_pd(t, t)
            } else {
                _mm512_add_pd(s[v], _mm512_mul_pd(t, t))
            };
        }
    }
    let mut out = [0.0; L];
    for v in 0..V {
        _mm512_storeu_pd(out.as_mut_ptr().add(8 * v), s[v]);
    }
    out
}

/// Bit l set when row l's new nearest centre differs from its label.
#[inline(always)]
fn changed_mask<const V: u8>(idx: &[f64; L], old: &[u32; L]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if V == AVX512 {
        use std::arch::x86_64::*;
        // SAFETY: V is AVX512 only inside the AVX-512 wrappers; both arrays hold L.
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

/// Moves row `r` from segment `old` (unless `init`) to `b` in the chunk's deltas.
#[inline(always)]
fn move_row<const D: usize>(a: &Args, p: &mut Pass, r: usize, old: usize, b: usize, init: bool) {
    let d = dim::<D>(a.d);
    if !init {
        p.dcnt[old] -= 1;
        for j in 0..d {
            p.dsum[old * d + j] -= a.cols[j * a.np + r];
        }
    }
    p.dcnt[b] += 1;
    for j in 0..d {
        p.dsum[b * d + j] += a.cols[j * a.np + r];
    }
    p.labels[r] = b as u32;
}

/// One Lloyd pass. Rows are visited in row order within each chunk and moved rows
/// enter the chunk's deltas in that order, whether the chunk is scanned whole or only
/// its unsettled rows are (packed, in row order): the deltas, and so the sums, are the
/// same bits either way.
#[inline(always)]
fn pass_d<const D: usize, const V: u8>(a: &Args, init: bool, p: &mut Pass) -> u64 {
    let n = a.n;
    let d = dim::<D>(a.d);
    let test = !init && p.skip.on;
    let now = p.skip.now();
    let mut changed = 0u64;
    let mut start = 0;
    while start < n {
        let end = (start + CHUNK).min(n);
        p.dsum.iter_mut().for_each(|v| *v = 0.0);
        p.dcnt.iter_mut().for_each(|v| *v = 0);
        // Which rows may change: all of them, or those the settled test cannot vouch for.
        let mut open = end - start;
        if test {
            open = 0;
            let mut i = start;
            while i < end {
                let m = unsettled::<V>(p.skip, now, i, (end - i).min(L));
                p.skip.masks[(i - start) / L] = m;
                open += m.count_ones() as usize;
                i += L;
            }
        }
        if !test || open * 2 > end - start {
            // Scan every row.
            let mut i = start;
            while i < end {
                let (idx, best, second) = block::<D, V, true>(a, i);
                p.skip.record(i, &best, &second);
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
                    let old = p.labels[r] as usize;
                    move_row::<D>(a, p, r, old, idx[l] as usize, init);
                    if !init {
                        changed += 1;
                    }
                }
                i += L;
            }
        } else if open > 0 {
            // Pack the unsettled rows (in row order) and scan only them.
            let cnt = pack::<V>(a, p.skip, start, end);
            let packed = std::mem::take(&mut p.skip.packed);
            let pa = Args {
                cols: &packed,
                np: PACK,
                n: cnt,
                d,
                ct: a.ct,
                k: a.k,
            };
            let drift = p.skip.drift;
            let mut o = 0;
            while o < cnt {
                let (idx, best, second) = block::<D, V, true>(&pa, o);
                let valid = (cnt - o).min(L);
                let rows: [u64; L] = p.skip.rows[o..o + L].try_into().unwrap();
                let mut gap = [0.0; L];
                let mut near = [0.0; L];
                for l in 0..L {
                    (gap[l], near[l]) = row_slack(best[l], second[l]);
                }
                let mut old = [0u32; L];
                for l in 0..valid {
                    let r = rows[l] as usize;
                    old[l] = p.labels[r];
                    p.skip.gap[r] = gap[l];
                    p.skip.near[r] = near[l];
                    p.skip.at[r] = drift;
                }
                let mut mask = changed_mask::<V>(&idx, &old) & (u32::MAX >> (32 - valid));
                while mask != 0 {
                    let l = mask.trailing_zeros() as usize;
                    mask &= mask - 1;
                    move_row::<D>(
                        a,
                        p,
                        rows[l] as usize,
                        old[l] as usize,
                        idx[l] as usize,
                        false,
                    );
                    changed += 1;
                }
                o += L;
            }
            p.skip.packed = packed;
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

/// Labels every row and sums the inertia and sizes (row order within a chunk, chunks in
/// order). With `skip` (after a Lloyd loop, whose labels `labels` holds), rows the
/// settled test vouches for keep their label and only their own centre's distance is
/// computed (AVX-512, k <= 16); the bits are those of a full scan.
#[inline(always)]
fn assign_d<const D: usize, const V: u8>(
    a: &Args,
    labels: &mut [u32],
    skip: Option<&Skip>,
) -> (f64, Vec<u64>) {
    let n = a.n;
    let mut counts = vec![0u64; a.k];
    let mut inertia = 0.0;
    #[cfg(target_arch = "x86_64")]
    let own = V == AVX512 && a.k <= 16 && skip.is_some_and(|s| s.on);
    #[cfg(not(target_arch = "x86_64"))]
    let own = false;
    let now = skip.map_or(0.0, |s| s.now());
    let mut start = 0;
    while start < n {
        let end = (start + CHUNK).min(n);
        let mut part = 0.0;
        let mut i = start;
        while i < end {
            let valid = L.min(end - i);
            let dist = match skip {
                Some(s) if own && unsettled::<V>(s, now, i, valid) == 0 => {
                    #[cfg(target_arch = "x86_64")]
                    {
                        // SAFETY: `own` holds only in the AVX-512 build.
                        unsafe { own_avx512::<D>(a, i, labels) }
                    }
                    #[cfg(not(target_arch = "x86_64"))]
                    unreachable!()
                }
                _ => {
                    let (idx, dist, _) = block::<D, V, false>(a, i);
                    for l in 0..valid {
                        labels[i + l] = idx[l] as u32;
                    }
                    dist
                }
            };
            for l in 0..valid {
                counts[labels[i + l] as usize] += 1;
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

    /// Leaving out the rows the settled test vouches for changes no bit of a Lloyd run
    /// (labels, centres, inertia, iterations), in every build: on uniform data (long
    /// runs, many rows near a boundary) and on blobs with ties and near-ties, from random
    /// data points as starts, for several k and feature counts.
    #[test]
    fn settled_rows_left_out_change_no_bit() {
        let mut longest = 0;
        for &(n, d, k, seed, blobs) in &[
            (9000usize, 3usize, 5usize, 1u64, false),
            (5000, 3, 10, 2, false),
            (4100, 2, 8, 3, false),
            (3000, 7, 4, 4, false),
            (9000, 3, 7, 5, true),
            (700, 1, 3, 6, true),
        ] {
            let x = if blobs {
                crate::cluster::test_blobs(n, d, seed)
            } else {
                data(n, d, seed)
            };
            let mut rng = Rng::new(seed);
            let centers: Vec<f64> = (0..k)
                .flat_map(|_| x.row(rng.below(n as u64) as usize).to_vec())
                .collect();
            for isa in Isa::available() {
                let on = Small::with_isa(&x, isa);
                assert!(on.skip || std::env::var_os("CARDSEG_NO_SKIP").is_some());
                let off = Small {
                    skip: false,
                    ..Small::with_isa(&x, isa)
                };
                let a = on.lloyd(centers.clone(), 300, 0.0);
                let b = off.lloyd(centers.clone(), 300, 0.0);
                longest = longest.max(a.n_iter);
                assert_eq!(a.labels, b.labels);
                assert_eq!(a.n_iter, b.n_iter);
                assert_eq!(a.counts, b.counts);
                assert_eq!(a.inertia.to_bits(), b.inertia.to_bits());
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&a.centroids), bits(&b.centroids));
            }
        }
        assert!(
            longest > 10,
            "runs long enough to leave rows out: {longest}"
        );
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
