//! cardseg: customer segmentation with K-Means, from raw customer data to named segments,
//! an executive summary, a dashboard and a verified model scored anywhere.
//!
//! The modules sit in layers, each importing only from its own layer or the ones below
//! (docs/ARCHITECTURE.md draws them; tests/architecture.rs checks them):
//! - ground: [`cancel`], [`error`], [`defaults`], [`rng`], [`stats`] (median, mean), [`text`], [`output`] (atomic,
//!   no-replace writes), [`progress`], [`csvcell`], [`matching`];
//! - data: [`table`], [`ingest`] (any source into a [`table::Table`]), [`generate`];
//! - domain: [`clean`] → [`scale`] → [`cluster`] (K-Means, silhouette, choice of k) →
//!   [`profile`] → [`naming`] → [`model`], with [`score`] (a saved model's scoring path),
//!   [`lifecycle`] (retrains, drift, outliers), [`labels`] and [`segmentation`] (the result
//!   handed to the outputs);
//! - outputs: [`report`], [`dashboard`], [`export`] (the model as SQL or PMML);
//! - commands: [`run`], [`predict`], [`inspect`], [`rebuild`], [`serve`], [`writeback`].

#![warn(missing_docs)]

// Ground: no domain knowledge.
pub mod cancel;
pub mod csvcell;
pub mod defaults;
pub mod error;
pub mod matching;
pub mod output;
pub mod progress;
pub mod readback;
pub mod rng;
pub mod stats;
pub mod text;

// Data: customer tables and where they come from.
pub mod generate;
pub mod ingest;
pub mod table;

// Domain: segmentation itself.
pub mod clean;
pub mod cluster;
pub mod labels;
pub mod lifecycle;
pub mod model;
pub mod naming;
pub mod profile;
pub mod scale;
pub mod score;
pub mod segmentation;

// Outputs: what consumers read, built from a segmentation or a model.
pub mod dashboard;
pub mod export;
pub mod report;

// Commands: one entry function each, called by the binary and the Python package.
pub mod inspect;
pub mod predict;
pub mod rebuild;
pub mod run;
pub mod serve;
pub mod writeback;

pub use error::{Error, Result};

pub use defaults::{DEFAULT_FEATURES, DEFAULT_ID_COLUMN, DEFAULT_PROFILE_FEATURES};
