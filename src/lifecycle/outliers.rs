//! Outlier customers: each scored customer's distance to its segment's centroid (scaled
//! units: the square root of the squared Euclidean distance summed in feature order, the
//! distance `predict` and `serve` report) and that distance's percentile among the
//! segment's training customers.
//!
//! The model stores, per segment, [`QUANTILES`] quantiles of the training distances at
//! the levels of [`level`]: 0 %, 1 %, …, 98 %, then 99.0 %, 99.1 %, …, 100 % (fine where
//! the outlier threshold sits, coarse elsewhere, to keep the model small). Each is
//! numpy's default (linear) quantile: level p sits at position p × (n − 1) of the sorted
//! distances. A distance's percentile is read back by linear interpolation: 0 below the
//! first quantile, 100 at or above the last (and for a segment whose training distances
//! are all equal), otherwise `L[i] + (d − q[i]) / (q[i+1] − q[i]) × (L[i+1] − L[i])` where
//! L are the levels in percent and i is the last quantile with `q[i] <= d` (so runs of
//! equal quantiles resolve to the highest). A customer is an outlier when the percentile is above the model's
//! `outlier_percentile` (default 99.5): about half a percent of the training customers
//! are, and any customer beyond the farthest training customer of its segment is.

pub use crate::model::baseline::{default_percentile, level, percentile, quantiles, QUANTILES};
use crate::model::Model;

/// One customer's outlier figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outlier {
    /// Distance to the segment's centroid in the model's scaled space.
    pub distance: f64,
    /// None when the model has no distance quantiles (written before they existed).
    pub percentile: Option<f64>,
    /// Whether the percentile is above the model's outlier threshold (None without quantiles).
    pub outlier: Option<bool>,
}

impl Outlier {
    /// Figures of a customer in segment `segment` (index) at `distance` from its centroid.
    pub fn of(model: &Model, segment: usize, distance: f64) -> Outlier {
        let percentile = model
            .distance_quantiles
            .get(segment)
            .map(|q| percentile(q, distance));
        Outlier {
            distance,
            percentile,
            outlier: percentile.map(|p| p > model.outlier_percentile),
        }
    }

    /// The three label-file cells: distance, percentile, outlier (shortest round-trip
    /// text for numbers; empty when unknown).
    pub fn cells(&self) -> [String; 3] {
        self.cells_in(crate::text::Precision::Full)
    }

    /// The three label-file cells with numbers in `precision` (see [`crate::text::Precision`]).
    pub fn cells_in(&self, precision: crate::text::Precision) -> [String; 3] {
        [
            precision.distance(self.distance),
            self.percentile
                .map(|p| precision.percentile(p))
                .unwrap_or_default(),
            self.outlier.map(|o| o.to_string()).unwrap_or_default(),
        ]
    }
}

/// The one stderr notice for scoring with a model that has no distance quantiles.
pub const NO_QUANTILES_NOTICE: &str = "note: this model was written by a cardseg without distance quantiles: distance_percentile and outlier are left empty; retrain it with this cardseg (cardseg run) to get them";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_numpy_linear_and_percentile_inverts_them() {
        let mut d: Vec<f64> = (0..11).map(|i| i as f64).collect();
        let q = quantiles(&mut d).unwrap();
        assert_eq!(q.len(), QUANTILES);
        assert_eq!(level(QUANTILES - 1), 1000);
        assert_eq!(q[0], 0.0);
        assert_eq!(q[50], 5.0);
        assert_eq!(q[QUANTILES - 1], 10.0);
        assert!((q[104] - 9.95).abs() < 1e-12);
        assert_eq!(percentile(&q, 5.0), 50.0);
        assert!((percentile(&q, 9.95) - 99.5).abs() < 1e-9);
        assert!((percentile(&q, 2.55) - 25.5).abs() < 1e-9);
        assert_eq!(percentile(&q, -1.0), 0.0);
        assert_eq!(percentile(&q, 11.0), 100.0);
        assert!((percentile(&q, 9.96) - 99.6).abs() < 1e-9);
    }

    #[test]
    fn equal_quantiles_resolve_to_the_highest() {
        let mut d = vec![1.0, 1.0, 1.0, 2.0];
        let q = quantiles(&mut d).unwrap();
        // Two thirds of the positions hold 1.0: a distance of exactly 1 is at the last
        // level whose quantile is 1 (66 %).
        let p = percentile(&q, 1.0);
        assert_eq!(p, 66.0);
    }
}
