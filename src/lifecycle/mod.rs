//! Segment lifecycle: what happens to a segmentation after its first run. Retrains keep
//! segment ids and names ([`continuity`]), two runs can be compared customer by customer
//! ([`migration`]), new data is checked against the training distribution ([`drift`]),
//! and every scored customer gets a distance percentile that flags outliers
//! ([`outliers`]).

pub mod continuity;
pub mod drift;
pub mod migration;
pub mod outcomes;
pub mod outliers;

pub use crate::model::baseline::Lineage;

/// The message for a model that lacks what a lifecycle feature needs.
pub fn retrain_message(what: &str) -> String {
    format!("was written by a cardseg without {what}; retrain it with this cardseg (cardseg run) to use this")
}
