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
pub mod defaults;
pub mod error;
pub mod export;
pub mod generate;
pub mod ingest;
pub mod inspect;
pub mod labels;
pub mod lifecycle;
pub mod matching;
pub mod median;
pub mod model;
pub mod naming;
pub mod output;
pub mod predict;
pub mod profile;
pub mod progress;
pub mod rebuild;
pub mod report;
pub mod rng;
pub mod run;
pub mod scale;
pub mod score;
pub mod segmentation;
pub mod serve;
pub mod table;
pub mod text;
pub mod writeback;

pub use error::{Error, Result};

pub use defaults::{DEFAULT_FEATURES, DEFAULT_ID_COLUMN, DEFAULT_PROFILE_FEATURES};
