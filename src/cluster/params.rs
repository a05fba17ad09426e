//! The K-Means parameters, as a caller sets them ([`KMeansParams`]) and as the fitting
//! code takes them ([`KMeansValidParams`], only made by [`KMeansParams::check`]), after
//! linfa's `ParamGuard`: a bad value is refused before any work starts, and no kernel
//! has to ask again. The messages name the parameters, not command-line flags: the
//! commands that read flags check them first and say which flag to change.

use std::ops::Deref;

use crate::error::{Error, Result};

/// K-Means parameters as given; [`KMeansParams::check`] turns them into the checked
/// [`KMeansValidParams`] that the fitting code takes.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansParams {
    /// Number of segments (the sweep replaces it by each k it fits).
    pub k: usize,
    /// k-means++ restarts per k; the lowest inertia wins.
    pub n_init: usize,
    /// Most Lloyd iterations of one run.
    pub max_iter: usize,
    /// Relative tolerance: multiplied by the mean feature variance, as in scikit-learn.
    /// The default 0 iterates to a fixed point (no label changes), where scikit-learn
    /// stops at 1e-4: Lloyd steps never raise inertia, so going on can only lower it.
    pub tol: f64,
    /// Seed of every random stream (restarts, swaps, samples): same seed, same segments.
    pub seed: u64,
    /// Swap-search trials per round after the restarts (0 turns it off).
    pub swap_trials: usize,
    /// At most this many swap rounds; a round without improvement ends the search.
    pub swap_rounds: usize,
}

impl Default for KMeansParams {
    fn default() -> Self {
        KMeansParams {
            k: 3,
            n_init: 10,
            max_iter: 300,
            tol: 0.0,
            seed: 42,
            swap_trials: 8,
            swap_rounds: 4,
        }
    }
}

impl KMeansParams {
    /// Checks the parameters that do not depend on the data (k, n_init, max_iter, tol).
    pub fn check(&self) -> Result<KMeansValidParams> {
        if self.k == 0 {
            return Err(Error::usage("k must be at least 1"));
        }
        if self.n_init == 0 {
            return Err(Error::usage("n_init must be at least 1"));
        }
        if self.max_iter == 0 {
            return Err(Error::usage("max_iter must be at least 1"));
        }
        if !(self.tol >= 0.0 && self.tol.is_finite()) {
            return Err(Error::usage("tol must be a finite number >= 0"));
        }
        Ok(KMeansValidParams(self.clone()))
    }
}

/// K-Means parameters that passed [`KMeansParams::check`]: k, n_init and max_iter at
/// least 1, tol finite and not negative. Read through `Deref`; made only by `check`.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansValidParams(KMeansParams);

impl Deref for KMeansValidParams {
    type Target = KMeansParams;
    fn deref(&self) -> &KMeansParams {
        &self.0
    }
}

impl KMeansValidParams {
    /// Checks that the data has at least k customers (the one check that needs it).
    pub fn check_rows(&self, n: usize) -> Result<()> {
        if self.k > n {
            return Err(Error::usage(format!(
                "k = {} but there are only {n} customers; lower k",
                self.k
            )));
        }
        Ok(())
    }
}

/// A fitted K-Means model, before segment renumbering.
#[derive(Debug, Clone)]
pub struct KMeansFit {
    /// Number of segments.
    pub k: usize,
    /// Number of features.
    pub d: usize,
    /// k × d, row-major, in scaled units.
    pub centroids: Vec<f64>,
    /// Segment of each row (empty for fits of large inputs, which label with `assign`).
    pub labels: Vec<u32>,
    /// Rows per segment.
    pub counts: Vec<u64>,
    /// Sum of squared distances of the rows to their centres.
    pub inertia: f64,
    /// Lloyd iterations of the winning run.
    pub n_iter: usize,
    /// Which restart won.
    pub best_init: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_refuses_each_bad_value_without_naming_flags() {
        let ok = KMeansParams::default();
        assert_eq!(*ok.check().unwrap(), ok);
        for (bad, needle) in [
            (KMeansParams { k: 0, ..ok.clone() }, "k must"),
            (
                KMeansParams {
                    n_init: 0,
                    ..ok.clone()
                },
                "n_init",
            ),
            (
                KMeansParams {
                    max_iter: 0,
                    ..ok.clone()
                },
                "max_iter",
            ),
            (
                KMeansParams {
                    tol: -1e-9,
                    ..ok.clone()
                },
                "tol",
            ),
            (
                KMeansParams {
                    tol: f64::NAN,
                    ..ok.clone()
                },
                "tol",
            ),
            (
                KMeansParams {
                    tol: f64::INFINITY,
                    ..ok.clone()
                },
                "tol",
            ),
        ] {
            let e = bad.check().unwrap_err().to_string();
            assert!(e.contains(needle) && !e.contains("--"), "{e}");
        }
        let v = KMeansParams { k: 5, ..ok }.check().unwrap();
        assert!(v.check_rows(5).is_ok());
        let e = v.check_rows(4).unwrap_err().to_string();
        assert!(e.contains("only 4 customers") && !e.contains("--"), "{e}");
    }
}
