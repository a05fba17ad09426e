//! Scoring customers with a saved model: the saved fill values, scaler and centroids,
//! through the same kernels as training, so the training file gets its labels back byte
//! for byte. One path for `predict`, `serve`, `drift` and the Python package.

use crate::cluster::kmeans;
use crate::error::Result;
use crate::model::Model;
use crate::table::Table;

/// What scoring a batch gives for each customer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scores {
    /// Segment index (0-based; the id is `model.segments[index].id`), or None when a feature is
    /// missing and the model's policy is to drop such customers.
    pub labels: Vec<Option<u32>>,
    /// With `distances`: Euclidean distance (scaled units) to the customer's centroid and
    /// to the second-nearest centroid; NaN for unscored customers. Empty otherwise.
    pub distances: Vec<(f64, f64)>,
}

/// The model's features filled with its fill values and scaled: the matrix every scorer
/// assigns, and which rows cannot be scored (a missing value the model has no fill for).
/// `cols[j]` holds the raw values of `model.features[j]` (NaN missing) and is filled in place.
pub fn prepare(model: &Model, cols: &mut [Vec<f64>]) -> (crate::scale::Matrix, Vec<bool>) {
    let n = cols.first().map(Vec::len).unwrap_or(0);
    debug_assert_eq!(cols.len(), model.features.len());
    debug_assert!(cols.iter().all(|c| c.len() == n));
    let mut unscorable = vec![false; n];
    for (f, values) in model.features.iter().zip(cols.iter_mut()) {
        match model.fill_value(f) {
            Some(fill) => crate::clean::apply_fill(values, fill),
            None => values
                .iter()
                .zip(unscorable.iter_mut())
                .filter(|(v, _)| v.is_nan())
                .for_each(|(_, u)| *u = true),
        }
    }
    let views: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
    (model.scaler.transform_columns(&views), unscorable)
}

/// Scores a batch of customers given as columns: `cols[j]` holds feature
/// `model.features[j]` for every customer, NaN where it is missing. This is the one
/// scoring path of `predict` and `serve`: the saved fill values (or unscorable with the
/// drop policy), `scaler.transform_columns`, then `kmeans::assign` against `centers`
/// (`model.centers_flat()`, passed in so a server computes it once per model).
pub fn score_columns(
    model: &Model,
    centers: &[f64],
    mut cols: Vec<Vec<f64>>,
    distances: bool,
) -> Scores {
    let (mut x, unscorable) = prepare(model, &mut cols);
    // Unscorable rows get a harmless value; their label is discarded below.
    for (i, u) in unscorable.iter().enumerate() {
        if *u {
            x.data[i * x.d..(i + 1) * x.d]
                .iter_mut()
                .for_each(|v| *v = 0.0);
        }
    }
    let labels = kmeans::assign(&x, centers);
    let distances = if distances {
        (0..x.n)
            .map(|i| {
                if unscorable[i] {
                    return (f64::NAN, f64::NAN);
                }
                // nearest_two runs the same `nearest` kernel as `assign`, so its label is
                // the same; the distances are what it adds.
                let (_, best, second) = crate::cluster::nearest_two(x.row(i), centers);
                (best.sqrt(), second.sqrt())
            })
            .collect()
    } else {
        Vec::new()
    };
    Scores {
        labels: labels
            .into_iter()
            .zip(unscorable)
            .map(|(l, u)| (!u).then_some(l))
            .collect(),
        distances,
    }
}

/// The model's feature columns of `table`, copied for [`score_columns`].
pub fn feature_columns(model: &Model, table: &Table) -> Result<Vec<Vec<f64>>> {
    model
        .features
        .iter()
        .map(|f| {
            table.column(f).map(|c| c.values.clone()).ok_or_else(|| {
                crate::error::Error::input(&table.source, format!("column {f} was not loaded"))
            })
        })
        .collect()
}

/// Labels for every row of `table`: Some(segment index) or None when a feature is
/// missing and the model's policy is to drop such customers.
pub fn score_table(model: &Model, table: &Table) -> Result<Vec<Option<u32>>> {
    let cols = feature_columns(model, table)?;
    Ok(score_columns(model, &model.centers_flat(), cols, false).labels)
}

/// Like [`score_table`], with each customer's distance to its centroid.
pub fn score_table_with_distances(model: &Model, table: &Table) -> Result<Scores> {
    let cols = feature_columns(model, table)?;
    Ok(score_columns(model, &model.centers_flat(), cols, true))
}
