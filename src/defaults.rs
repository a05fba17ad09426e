//! Every default of a run, defined once: the command line shows these (`--help`) and
//! [`crate::run::RunConfig::new`] starts from them, so a library caller and a CLI user
//! get the same run. Defaults of enumerated choices (`--missing`, `--k-rule`, `--scaler`,
//! `--k`) are their types' `Default`.

/// Default clustering features (the CC GENERAL schema).
pub const DEFAULT_FEATURES: [&str; 3] = ["BALANCE", "PURCHASES", "CREDIT_LIMIT"];
/// Default profiling features, imputed like the clustering ones.
pub const DEFAULT_PROFILE_FEATURES: [&str; 2] = ["PAYMENTS", "TENURE"];
/// Id column used when present and none is named.
pub const DEFAULT_ID_COLUMN: &str = "CUST_ID";
/// Smallest k of the sweep (one segment is no segmentation).
pub const K_MIN: usize = 2;
/// Largest k of the sweep.
pub const K_MAX: usize = 10;
/// K-Means restarts per k; the lowest inertia is kept.
pub const N_INIT: usize = 10;
/// Seed of every random choice (seeding, samples), so runs repeat byte for byte.
pub const SEED: u64 = 42;
/// Distance percentile above which a customer is flagged as an outlier.
pub const OUTLIER_PERCENTILE: f64 = 99.5;
/// Resamples the chosen k is fitted again on to measure stability (0 turns it off).
pub const STABILITY_RESAMPLES: usize = 20;
/// K-Means restarts per stability resample (at most `--n-init`): enough to find a
/// subsample's structure, and a third of the cost of the sweep's ten.
pub const STABILITY_RESTARTS: usize = 3;
/// Most customers in one stability resample (half the customers, at most this), so
/// the cost stays a small share of the run.
pub const STABILITY_SAMPLE: usize = 20_000;
/// Fewest customers a category value needs in a group for its index to be shown.
pub const MIN_CATEGORY_CUSTOMERS: u64 = 30;
