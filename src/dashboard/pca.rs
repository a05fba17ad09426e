//! Principal components of the scaled features for the dashboard's projection plot,
//! computed in place (a few features, so Jacobi rotations suffice).

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
/// matrix; each component's sign is fixed so its largest loading is positive.
#[allow(clippy::needless_range_loop)] // matrix indices read as the formulas do
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
    let comps = d.min(3);
    let loadings: Vec<Vec<f64>> = order[..comps]
        .iter()
        .map(|&c| {
            let v: Vec<f64> = (0..d).map(|i| vecs[i][c]).collect();
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
        explained: order[..comps]
            .iter()
            .map(|&c| {
                if total > 0.0 {
                    vals[c].max(0.0) / total
                } else {
                    0.0
                }
            })
            .collect(),
        loadings,
        values,
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
}
