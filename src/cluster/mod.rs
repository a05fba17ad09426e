//! Clustering: K-Means ([`kmeans`]), silhouette scores ([`silhouette`]) and the choice
//! of k from the elbow and the silhouettes ([`select_k`]).

#![allow(clippy::needless_range_loop)] // kernels index several arrays by the same feature index

pub mod kmeans;
pub mod lloyd;
pub mod select_k;
pub mod silhouette;
mod small;

/// Runs `$f::<D>(args)` with D fixed at compile time for the common feature counts, so
/// the distance loops are unrolled; D = 0 is the general fallback (loop bound at run time).
macro_rules! dispatch_d {
    ($d:expr, $f:ident ( $($arg:expr),* $(,)? )) => {
        match $d {
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            4 => $f::<4>($($arg),*),
            5 => $f::<5>($($arg),*),
            6 => $f::<6>($($arg),*),
            _ => $f::<0>($($arg),*),
        }
    };
}
pub(crate) use dispatch_d;

/// The dimension a kernel works in: its const parameter, or the run-time value for D = 0.
#[inline(always)]
pub(crate) const fn dim<const D: usize>(d: usize) -> usize {
    if D == 0 {
        d
    } else {
        D
    }
}

/// Squared Euclidean distance, summed over features in order. Every stage (fit, final
/// labels, predict, serve) uses this one function so their answers agree bit for bit.
#[inline(always)]
pub(crate) fn sqdist<const D: usize>(a: &[f64], b: &[f64], d: usize) -> f64 {
    let d = dim::<D>(d);
    let (a, b) = (&a[..d], &b[..d]);
    let mut s = 0.0;
    for j in 0..d {
        let t = a[j] - b[j];
        s += t * t;
    }
    s
}

/// Index and squared distance of the nearest centre (first one on ties).
#[inline(always)]
pub(crate) fn nearest<const D: usize>(row: &[f64], centers: &[f64], d: usize) -> (u32, f64) {
    let d = dim::<D>(d);
    let mut best = (0u32, f64::INFINITY);
    for (c, center) in centers.chunks_exact(d).enumerate() {
        let dist = sqdist::<D>(row, center, d);
        if dist < best.1 {
            best = (c as u32, dist);
        }
    }
    best
}

/// Nearest and second-nearest centre for one scaled row (scoring service confidence).
pub fn nearest_two(row: &[f64], centers: &[f64]) -> (u32, f64, f64) {
    let d = row.len();
    let (label, best) = dispatch_d!(d, nearest(row, centers, d));
    let mut second = f64::INFINITY;
    for (c, center) in centers.chunks_exact(d).enumerate() {
        if c as u32 != label {
            second = second.min(dispatch_d!(d, sqdist(row, center, d)));
        }
    }
    (label, best, second)
}
