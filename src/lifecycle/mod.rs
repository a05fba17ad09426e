//! Segment lifecycle: what happens to a segmentation after its first run. Retrains keep
//! segment ids and names ([`continuity`]), two runs can be compared customer by customer
//! ([`migration`]), new data is checked against the training distribution ([`drift`]),
//! and every scored customer gets a distance percentile that flags outliers
//! ([`outliers`]).

pub mod continuity;
pub mod drift;
pub mod migration;
pub mod outliers;

use serde::{Deserialize, Serialize};

/// A model's place in a chain of retrains, so a report can say which model it replaced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Lineage {
    /// Checksum of the model given with `run --previous` (None for a first model).
    pub previous_checksum: Option<String>,
    /// 1 for a first model, the previous generation + 1 for a retrain (a previous model
    /// written before lineage existed counts as generation 1).
    pub generation: u32,
}

impl Lineage {
    /// Lineage of a model trained without `--previous`.
    pub fn first() -> Self {
        Lineage {
            previous_checksum: None,
            generation: 1,
        }
    }
}

/// The message for a model that lacks what a lifecycle feature needs.
pub fn retrain_message(what: &str) -> String {
    format!("was written by a cardseg without {what}; retrain it with this cardseg (cardseg run) to use this")
}
