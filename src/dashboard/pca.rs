//! Principal components of the scaled features for the dashboard's projection plot,
//! computed in place: Jacobi rotations of the covariance matrix for a few features, and
//! above `JACOBI_MAX_FEATURES` a block subspace iteration for the top three components
//! only, since Jacobi's cost grows with the cube of the number of features.

use serde::Serialize;

use super::style::round_sig;
use crate::segmentation::Segmentation;

/// The projection plot's data.
#[derive(Serialize)]
pub struct Pca {
    /// Share of the scaled features' variance each component explains.
    pub explained: Vec<f64>,
    /// Loadings: components × features.
    pub loadings: Vec<Vec<f64>>,
    /// Per segment, the plotted customers' coordinates: one array per component.
    pub values: Vec<Vec<Vec<f64>>>,
}

/// Up to this many features the components come from a full Jacobi eigen-decomposition
/// of the covariance matrix; wider tables use `top_components`, whose cost grows with
/// rows × features instead of features³ (1,000 features took minutes by Jacobi).
const JACOBI_MAX_FEATURES: usize = 64;
/// Subspace iteration block: the three plotted components plus oversampling, so the
/// iteration converges at the rate of the gap to the 13th eigenvalue, not the 4th.
const BLOCK: usize = 13;
/// Subspace iteration stops when every wanted Ritz pair's residual is below this share of
/// the largest eigenvalue...
const RESIDUAL_TOLERANCE: f64 = 1e-9;
/// ...or after this many iterations, which bounds the time on spectra without a gap
/// (noise), where the plotted directions are then approximate.
const MAX_ITERATIONS: usize = 300;

/// The scaled features of the given rows, row-major.
pub(super) fn scaled_rows(r: &Segmentation, rows: &[usize]) -> Vec<f64> {
    let m = &r.model;
    let cols: Vec<Option<&[f64]>> = m
        .features
        .iter()
        .map(|f| r.table.column(f).map(|c| c.values.as_slice()))
        .collect();
    let mut x = Vec::with_capacity(rows.len() * cols.len());
    for &i in rows {
        for (j, c) in cols.iter().enumerate() {
            x.push(m.scaler.transform_value(j, c.map_or(f64::NAN, |c| c[i])));
        }
    }
    x
}

/// Principal components of the scaled features, fitted on the plotted rows (every
/// customer up to the sampling threshold), by Jacobi rotations of the covariance
/// matrix (or, for wide tables, by subspace iteration); each component's sign is fixed so
/// its largest loading is positive.
pub(super) fn pca(r: &Segmentation, rows: &[usize]) -> Pca {
    let d = r.model.features.len();
    let k = r.model.k;
    let x = scaled_rows(r, rows);
    let n = rows.len().max(1) as f64;
    let mut mean = vec![0.0; d];
    for row in x.chunks_exact(d) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v / n;
        }
    }
    let (vals, vecs, total) = if d <= JACOBI_MAX_FEATURES {
        all_components(&x, &mean, n)
    } else {
        top_components(&x, &mean, n, 3)
    };
    let comps = d.min(3);
    let loadings: Vec<Vec<f64>> = vecs[..comps]
        .iter()
        .map(|v| {
            let big = v
                .iter()
                .copied()
                .fold(0.0f64, |b, x| if x.abs() > b.abs() { x } else { b });
            v.iter().map(|x| if big < 0.0 { -x } else { *x }).collect()
        })
        .collect();
    let mut values = vec![vec![Vec::new(); comps]; k];
    for (ri, &i) in rows.iter().enumerate() {
        let row = &x[ri * d..(ri + 1) * d];
        let s = r.labels[i] as usize;
        for (c, l) in loadings.iter().enumerate() {
            let p: f64 = row
                .iter()
                .zip(&mean)
                .zip(l)
                .map(|((v, m), w)| (v - m) * w)
                .sum();
            values[s][c].push(round_sig(p));
        }
    }
    Pca {
        explained: vals[..comps]
            .iter()
            .map(|&v| if total > 0.0 { v.max(0.0) / total } else { 0.0 })
            .collect(),
        loadings,
        values,
    }
}

/// Every eigenpair of the covariance matrix of `x` (row-major, `mean.len()` columns), by
/// Jacobi rotations: eigenvalues descending (ties by index), their unit eigenvectors, and
/// the total variance (sum of the non-negative eigenvalues).
#[allow(clippy::needless_range_loop)] // matrix indices read as the formulas do
fn all_components(x: &[f64], mean: &[f64], n: f64) -> (Vec<f64>, Vec<Vec<f64>>, f64) {
    let d = mean.len();
    let mut cov = vec![vec![0.0; d]; d];
    for row in x.chunks_exact(d) {
        for a in 0..d {
            for b in a..d {
                cov[a][b] += (row[a] - mean[a]) * (row[b] - mean[b]) / n;
            }
        }
    }
    for a in 0..d {
        for b in 0..a {
            cov[a][b] = cov[b][a];
        }
    }
    let (vals, vecs) = jacobi_eigen(cov);
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| vals[b].total_cmp(&vals[a]).then(a.cmp(&b)));
    let total: f64 = vals.iter().map(|v| v.max(0.0)).sum();
    (
        order.iter().map(|&c| vals[c]).collect(),
        order
            .iter()
            .map(|&c| (0..d).map(|i| vecs[i][c]).collect())
            .collect(),
        total,
    )
}

/// The `want` largest eigenpairs of the covariance matrix of `x` (row-major, `mean.len()`
/// columns) without forming it, by block subspace iteration with Rayleigh–Ritz: each
/// step multiplies a block of `BLOCK` orthonormal vectors by Xᵀ X / n (cost rows ×
/// features × block). Returns the eigenvalues descending, their unit eigenvectors and the
/// total variance (the covariance's trace).
fn top_components(x: &[f64], mean: &[f64], n: f64, want: usize) -> (Vec<f64>, Vec<Vec<f64>>, f64) {
    let d = mean.len();
    let b = BLOCK.min(d);
    let want = want.min(b);
    let mut total = 0.0;
    for row in x.chunks_exact(d) {
        for (v, m) in row.iter().zip(mean) {
            total += (v - m) * (v - m) / n;
        }
    }
    // A fixed pseudo-random start, so the page depends only on the data.
    let mut rng = crate::rng::Rng::new(0x9CA5_EED5);
    let mut v: Vec<Vec<f64>> = (0..b)
        .map(|_| (0..d).map(|_| rng.uniform() - 0.5).collect())
        .collect();
    orthonormalize(&mut v);
    let mut ritz = (vec![0.0; b], v.clone());
    for _ in 0..MAX_ITERATIONS {
        let w: Vec<Vec<f64>> = v.iter().map(|c| covariance_times(x, mean, n, c)).collect();
        // Rayleigh–Ritz on the block: H = Vᵀ A V, small and symmetric.
        let h: Vec<Vec<f64>> = v
            .iter()
            .map(|vi| w.iter().map(|wj| dot(vi, wj)).collect())
            .collect();
        let (hv, hs) = jacobi_eigen(h);
        let mut order: Vec<usize> = (0..b).collect();
        order.sort_by(|&a, &c| hv[c].total_cmp(&hv[a]).then(a.cmp(&c)));
        let combine = |basis: &[Vec<f64>], c: usize| -> Vec<f64> {
            let mut u = vec![0.0; d];
            for (bi, s) in basis.iter().zip(hs.iter().map(|row| row[c])) {
                for (ui, x) in u.iter_mut().zip(bi) {
                    *ui += s * x;
                }
            }
            u
        };
        let vals: Vec<f64> = order.iter().map(|&c| hv[c]).collect();
        let vecs: Vec<Vec<f64>> = order.iter().map(|&c| combine(&v, c)).collect();
        let scale = vals[0].abs();
        let converged = order[..want].iter().zip(&vals).all(|(&c, &l)| {
            let au = combine(&w, c);
            let u = combine(&v, c);
            let r: f64 = au.iter().zip(&u).map(|(a, u)| (a - l * u).powi(2)).sum();
            r.sqrt() <= RESIDUAL_TOLERANCE * scale
        });
        ritz = (vals, vecs);
        if converged || scale == 0.0 {
            break;
        }
        v = w;
        orthonormalize(&mut v);
    }
    (ritz.0, ritz.1, total)
}

/// (Xᵀ X / n) c for the centred rows of `x`, without forming the covariance matrix.
fn covariance_times(x: &[f64], mean: &[f64], n: f64, c: &[f64]) -> Vec<f64> {
    let d = mean.len();
    let mut out = vec![0.0; d];
    for row in x.chunks_exact(d) {
        let p: f64 = row
            .iter()
            .zip(mean)
            .zip(c)
            .map(|((v, m), w)| (v - m) * w)
            .sum::<f64>()
            / n;
        for ((o, v), m) in out.iter_mut().zip(row).zip(mean) {
            *o += (v - m) * p;
        }
    }
    out
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Modified Gram–Schmidt, twice for orthogonality in floating point; a vector dependent on
/// the earlier ones (the data's rank is lower than the block) becomes zero.
fn orthonormalize(v: &mut [Vec<f64>]) {
    for _pass in 0..2 {
        for i in 0..v.len() {
            let (done, rest) = v.split_at_mut(i);
            let vi = &mut rest[0];
            for q in done.iter() {
                let p = dot(q, vi);
                for (x, y) in vi.iter_mut().zip(q) {
                    *x -= p * y;
                }
            }
            let norm = dot(vi, vi).sqrt();
            let inv = if norm > 1e-150 { 1.0 / norm } else { 0.0 };
            vi.iter_mut().for_each(|x| *x *= inv);
        }
    }
}

/// Eigenvalues and eigenvectors (columns) of a small symmetric matrix, by cyclic Jacobi
/// rotations.
#[allow(clippy::needless_range_loop)] // matrix indices read as the formulas do
fn jacobi_eigen(mut a: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = a.len();
    let mut v = vec![vec![0.0; n]; n];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|p| (0..n).filter(move |q| *q != p).map(move |q| (p, q)))
            .map(|(p, q)| a[p][q] * a[p][q])
            .sum();
        if off < 1e-24 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for kk in 0..n {
                    let (akp, akq) = (a[kk][p], a[kk][q]);
                    a[kk][p] = c * akp - s * akq;
                    a[kk][q] = s * akp + c * akq;
                }
                for kk in 0..n {
                    let (apk, aqk) = (a[p][kk], a[q][kk]);
                    a[p][kk] = c * apk - s * aqk;
                    a[q][kk] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i][i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_finds_the_eigenpairs() {
        let (vals, vecs) = jacobi_eigen(vec![
            vec![4.0, 1.0, 0.0],
            vec![1.0, 3.0, 0.5],
            vec![0.0, 0.5, 1.0],
        ]);
        let a = [[4.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 1.0]];
        for c in 0..3 {
            for i in 0..3 {
                let av: f64 = (0..3).map(|j| a[i][j] * vecs[j][c]).sum();
                assert!((av - vals[c] * vecs[i][c]).abs() < 1e-10);
            }
        }
        assert!((vals.iter().sum::<f64>() - 8.0).abs() < 1e-10);
    }

    #[test]
    fn subspace_iteration_matches_the_full_decomposition() {
        // 120 rows of 70 features (wider than the Jacobi limit) with a decaying spectrum.
        let (rows, d) = (120, 70);
        let mut rng = crate::rng::Rng::new(5);
        let mut x = Vec::with_capacity(rows * d);
        for _ in 0..rows {
            for j in 0..d {
                x.push(rng.normal() * 0.9f64.powi(j as i32) + j as f64);
            }
        }
        let n = rows as f64;
        let mut mean = vec![0.0; d];
        for row in x.chunks_exact(d) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v / n;
            }
        }
        let (fv, fvec, ftotal) = all_components(&x, &mean, n);
        let (tv, tvec, ttotal) = top_components(&x, &mean, n, 3);
        assert!((ftotal - ttotal).abs() < 1e-9 * ftotal);
        for c in 0..3 {
            assert!((fv[c] - tv[c]).abs() < 1e-9 * fv[0], "value {c}");
            let cos = dot(&fvec[c], &tvec[c]).abs();
            assert!((cos - 1.0).abs() < 1e-6, "vector {c}: |cos| {cos}");
        }
    }
}
