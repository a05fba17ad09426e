//! K-Means, written by hand because it is the product's edge: greedy k-means++ seeding
//! (scikit-learn's algorithm, with 2 + ln k local trials), `n_init` restarts keeping the
//! lowest inertia, Lloyd iterations with scikit-learn's tolerance rule, empty clusters
//! re-seeded with the farthest points, Hartigan polish and a swap search, and a final
//! assignment pass so labels always match the centres.
//!
//! Determinism: every reduction is done over fixed chunks of rows and summed in chunk
//! order, and every restart draws from its own stream derived from (seed, k, restart),
//! so results are identical whatever the number of threads.
//!
//! This module is the public face of the K-Means files of `cluster` (nothing inside
//! `cluster` imports it): the parameters, the fit, the sweep, seeding and labelling.

pub use super::params::{KMeansFit, KMeansParams, KMeansValidParams};
pub use super::scan::{assign, final_assign};
pub use super::seeding::kmeans_plusplus;
pub use super::sweep::{fit, fit_sweep, SAMPLE_FIT_ROWS, STAGE_ROWS};
pub use super::CHUNK;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::sqdist;
    use crate::rng::Rng;
    use crate::scale::Matrix;

    fn blobs() -> Matrix {
        let mut rng = Rng::new(7);
        let mut data = Vec::new();
        for c in [(0.1, 0.1), (0.9, 0.1), (0.5, 0.9)] {
            for _ in 0..200 {
                data.push(c.0 + 0.03 * rng.normal());
                data.push(c.1 + 0.03 * rng.normal());
            }
        }
        Matrix { n: 600, d: 2, data }
    }

    #[test]
    fn finds_three_blobs_and_is_deterministic() {
        let x = blobs();
        let p = KMeansParams {
            k: 3,
            ..Default::default()
        };
        let a = fit(&x, &p).unwrap();
        let b = fit(&x, &p).unwrap();
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.inertia.to_bits(), b.inertia.to_bits());
        let mut counts = a.counts.clone();
        counts.sort();
        assert_eq!(counts, vec![200, 200, 200]);
        // Inertia equals the sum of squared distances to the assigned centres.
        let direct: f64 = (0..x.n)
            .map(|i| {
                let c = a.labels[i] as usize;
                sqdist::<0>(x.row(i), &a.centroids[c * 2..c * 2 + 2], 2)
            })
            .sum();
        assert!((direct - a.inertia).abs() < 1e-9);
    }

    #[test]
    fn plusplus_is_deterministic_per_seed_and_picks_data_points() {
        let x = blobs();
        let c1 = kmeans_plusplus(&x, 3, &mut Rng::new(1), false);
        let c2 = kmeans_plusplus(&x, 3, &mut Rng::new(1), true);
        let c3 = kmeans_plusplus(&x, 3, &mut Rng::new(2), false);
        assert_eq!(c1, c2);
        assert_ne!(c1, c3);
        for c in c1.chunks(2) {
            assert!((0..x.n).any(|i| x.row(i) == c));
        }
    }

    #[test]
    fn too_few_rows_or_distinct_points() {
        let x = Matrix {
            n: 2,
            d: 1,
            data: vec![0.0, 1.0],
        };
        assert!(fit(
            &x,
            &KMeansParams {
                k: 3,
                ..Default::default()
            }
        )
        .is_err());
        let x = Matrix {
            n: 4,
            d: 1,
            data: vec![0.0, 0.0, 1.0, 1.0],
        };
        let e = fit(
            &x,
            &KMeansParams {
                k: 3,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("distinct"), "{e}");
    }
}
