//! cardseg: credit-card customer segmentation.
//!
//! The pipeline, in module order: [`ingest`] (read any source into a [`table::Table`]) →
//! [`inspect`] → [`clean`] (missing values) → [`scale`] (MinMax) → [`cluster`] (K-Means,
//! silhouette, choice of k) → [`profile`] → [`naming`] → [`report`] and [`dashboard`] →
//! [`model`] (saved for [`predict`] and [`serve`]). [`pipeline`] runs them in order;
//! [`output`] makes every write atomic; [`writeback`] writes labels back to a database;
//! [`export`] turns a model into SQL or PMML that scores customers inside other systems.

pub mod clean;
pub mod cluster;
pub mod csvcell;
pub mod dashboard;
pub mod error;
pub mod export;
pub mod generate;
pub mod ingest;
pub mod inspect;
pub mod lifecycle;
pub mod matching;
pub mod model;
pub mod naming;
pub mod output;
pub mod pipeline;
pub mod predict;
pub mod profile;
pub mod progress;
pub mod report;
pub mod rng;
pub mod scale;
pub mod serve;
pub mod stats;
pub mod table;
pub mod writeback;

pub use error::{Error, Result};
/// The medians' old path ([`stats`] holds them now), kept for the callers that use it.
pub use stats as median;

/// Default clustering features (the CC GENERAL schema).
pub const DEFAULT_FEATURES: [&str; 3] = ["BALANCE", "PURCHASES", "CREDIT_LIMIT"];
/// Default profiling features, imputed like the clustering ones.
pub const DEFAULT_PROFILE_FEATURES: [&str; 2] = ["PAYMENTS", "TENURE"];
pub const DEFAULT_ID_COLUMN: &str = "CUST_ID";
