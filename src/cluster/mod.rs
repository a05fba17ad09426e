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

/// Moves each centre to the mean of its segment (`sums` / `counts`, every count > 0),
/// writing in `moved` how far each centre went; returns the summed squared move (the
/// convergence test of scikit-learn). One function for every Lloyd loop, so their
/// iterates agree bit for bit.
pub(crate) fn move_to_means(
    centers: &mut [f64],
    sums: &[f64],
    counts: &[i64],
    moved: &mut [f64],
    d: usize,
) -> f64 {
    let mut shift = 0.0;
    for (c, m) in moved.iter_mut().enumerate() {
        let mut m2 = 0.0;
        for j in 0..d {
            let v = sums[c * d + j] / counts[c] as f64;
            let t = v - centers[c * d + j];
            m2 += t * t;
            centers[c * d + j] = v;
        }
        *m = m2.sqrt();
        shift += m2;
    }
    shift
}

/// Half the distance from each centre to its nearest other centre (Hamerly's bound: a
/// row closer than this to its centre cannot be nearer another).
pub(crate) fn half_separations(centers: &[f64], d: usize, out: &mut [f64]) {
    let k = out.len();
    for c in 0..k {
        let mut best = f64::INFINITY;
        for o in 0..k {
            if o != c {
                best = best.min(dispatch_d!(
                    d,
                    sqdist(
                        &centers[c * d..(c + 1) * d],
                        &centers[o * d..(o + 1) * d],
                        d
                    )
                ));
            }
        }
        out[c] = 0.5 * best.sqrt();
    }
}

/// Puts every non-empty segment's centre at the exact mean of its rows, summed in row
/// order (running sums of moved rows carry rounding; the final centres must not).
pub(crate) fn set_exact_means(x: &crate::scale::Matrix, labels: &[u32], centers: &mut [f64]) {
    let d = x.d;
    let k = centers.len() / d;
    let mut s2 = vec![0.0; k * d];
    let mut c2 = vec![0u64; k];
    for (row, &l) in x.data.chunks_exact(d).zip(labels) {
        c2[l as usize] += 1;
        for j in 0..d {
            s2[l as usize * d + j] += row[j];
        }
    }
    for c in 0..k {
        if c2[c] > 0 {
            for j in 0..d {
                centers[c * d + j] = s2[c * d + j] / c2[c] as f64;
            }
        }
    }
}
