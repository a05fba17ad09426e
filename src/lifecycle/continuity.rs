//! Continuity across retrains (`cardseg run --previous OLD/model.json`): the new
//! segments are matched one to one with the previous model's, so a segment that is still
//! there keeps its id and name.
//!
//! Matching: both models' centroids (in input units) are put into ONE space, the previous
//! model's scaler, and the one-to-one assignment minimising the summed Euclidean distance
//! is found (Hungarian algorithm, O(k³)). An assigned pair is kept only when the new
//! centroid lies closer to the previous centroid than [`THRESHOLD_FRACTION`] (one half)
//! of the distance from that previous centroid to its nearest other previous centroid:
//! nearer to it than to the midpoint towards any neighbour, so it cannot be "the same
//! segment" of two previous ones. A matched segment keeps the previous id and its name
//! while that name's own conditions still hold (`naming::name_segments_keeping`);
//! otherwise it takes a new name and the rename states the condition that failed. New segments left unmatched get fresh ids above every
//! previous id; previous segments left unmatched are reported as retired.

use serde::Serialize;

use crate::error::{Error, Param, Result};
use crate::labels::Labels;
use crate::model::Model;

/// A match must be closer than this fraction of the distance from the previous centroid
/// to its nearest other previous centroid.
pub const THRESHOLD_FRACTION: f64 = 0.5;

pub use crate::matching::hungarian;

/// Checks that `previous` can be continued by a run with these features and k range;
/// each refusal says what to change.
pub fn check_previous(
    previous: &Model,
    shown: &str,
    features: &[String],
    k_min: usize,
    k_max: usize,
) -> Result<()> {
    if previous.features != features {
        return Err(Error::model(
            shown,
            format!(
                "has the features {} but this run uses {}; {} needs the same {} in the same order",
                previous.features.join(","),
                features.join(","),
                Param::Previous,
                Param::Features
            ),
        ));
    }
    let ks = &previous.k_selection;
    if (ks.k_min, ks.k_max) != (k_min, k_max) {
        return Err(Error::model(
            shown,
            format!(
                "was trained with the k range {}..{} but this run sweeps {k_min}..{k_max}; {} needs the same range: pass {} {}",
                ks.k_min,
                ks.k_max,
                Param::Previous,
                Param::KMin.with(ks.k_min),
                Param::KMax.with(ks.k_max)
            ),
        ));
    }
    Ok(())
}

/// One matched pair.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Matched {
    /// Index of the new segment (segment order).
    #[serde(skip)]
    pub new_index: usize,
    /// The id it keeps (the previous segment's id).
    pub id: u32,
    /// Centroid distance in the previous model's scaled space.
    pub distance: f64,
    /// Largest distance at which a pair still counts as the same segment.
    pub threshold: f64,
}

/// The outcome of matching a new fit with the previous model.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Matching {
    /// Id of each new segment (segment order).
    pub ids: Vec<u32>,
    /// For each new segment: the previous segment index it continues, if any.
    #[serde(skip)]
    pub previous_of: Vec<Option<usize>>,
    /// The pairs that continue a previous segment.
    pub matched: Vec<Matched>,
    /// Ids given to new segments with no previous match.
    pub new_ids: Vec<u32>,
    /// Previous segments with no match (id, name).
    pub retired: Vec<(u32, String)>,
}

/// Centroids (input units) in `scaler`'s space.
fn common_space(scaler: &crate::scale::MinMaxScaler, centroids: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let d = scaler.features.len();
    let cols: Vec<Vec<f64>> = (0..d)
        .map(|j| centroids.iter().map(|c| c[j]).collect())
        .collect();
    let views: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
    let m = scaler.transform_columns(&views);
    (0..m.n).map(|i| m.row(i).to_vec()).collect()
}

/// Matches new centroids (input units, segment order) with the previous model's.
pub fn match_segments(previous: &Model, new_centroids: &[Vec<f64>]) -> Matching {
    let old = common_space(&previous.scaler, &previous.centroids);
    let new = common_space(&previous.scaler, new_centroids);
    let dist = crate::cluster::distance;
    let thresholds: Vec<f64> = (0..old.len())
        .map(|s| {
            (0..old.len())
                .filter(|&t| t != s)
                .map(|t| dist(&old[s], &old[t]))
                .fold(f64::INFINITY, f64::min)
                * THRESHOLD_FRACTION
        })
        .collect();
    // Rows are the smaller side.
    let new_rows = new.len() <= old.len();
    let (rows, cols) = if new_rows { (&new, &old) } else { (&old, &new) };
    let cost: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| cols.iter().map(|c| dist(r, c)).collect())
        .collect();
    let assign = hungarian(&cost);
    let mut previous_of = vec![None; new.len()];
    let mut matched = Vec::new();
    for (r, &c) in assign.iter().enumerate() {
        let (ni, oi) = if new_rows { (r, c) } else { (c, r) };
        let d = cost[r][c];
        if d < thresholds[oi] {
            previous_of[ni] = Some(oi);
            matched.push(Matched {
                new_index: ni,
                id: previous.segments[oi].id,
                distance: d,
                threshold: thresholds[oi],
            });
        }
    }
    matched.sort_by_key(|m| m.new_index);
    let mut next = previous.segments.iter().map(|s| s.id).max().unwrap_or(0);
    let mut new_ids = Vec::new();
    let ids = previous_of
        .iter()
        .map(|p| match p {
            Some(oi) => previous.segments[*oi].id,
            None => {
                next += 1;
                new_ids.push(next);
                next
            }
        })
        .collect();
    let retired = previous
        .segments
        .iter()
        .enumerate()
        .filter(|(oi, _)| !previous_of.contains(&Some(*oi)))
        .map(|(_, s)| (s.id, s.name.clone()))
        .collect();
    Matching {
        ids,
        previous_of,
        matched,
        new_ids,
        retired,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(cost: &[Vec<f64>]) -> f64 {
        fn go(cost: &[Vec<f64>], i: usize, used: &mut Vec<bool>) -> f64 {
            if i == cost.len() {
                return 0.0;
            }
            let mut best = f64::INFINITY;
            for j in 0..cost[0].len() {
                if !used[j] {
                    used[j] = true;
                    best = best.min(cost[i][j] + go(cost, i + 1, used));
                    used[j] = false;
                }
            }
            best
        }
        go(cost, 0, &mut vec![false; cost[0].len()])
    }

    #[test]
    fn hungarian_is_optimal_on_small_matrices() {
        let mut rng = crate::rng::Rng::new(7);
        for n in 1..=5 {
            for m in n..=6 {
                let cost: Vec<Vec<f64>> = (0..n)
                    .map(|_| (0..m).map(|_| rng.uniform()).collect())
                    .collect();
                let a = hungarian(&cost);
                let mut seen = a.clone();
                seen.sort_unstable();
                seen.dedup();
                assert_eq!(seen.len(), n);
                let total: f64 = a.iter().enumerate().map(|(i, &j)| cost[i][j]).sum();
                assert!((total - brute(&cost)).abs() < 1e-12, "{n}x{m}");
            }
        }
    }
}

/// A matched segment whose profile now fits another name.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rename {
    /// The segment's id.
    pub id: u32,
    /// Its name in the previous model.
    pub from: String,
    /// Its name now.
    pub to: String,
    /// Why it did not keep its name: the condition of the previous name that now fails.
    pub reason: String,
}

/// Everything a run with `--previous` reports about what changed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Changes {
    /// Path of the previous model, as given to `--previous`.
    pub previous_model: String,
    /// Checksum of the previous model, so the report names exactly which one.
    pub previous_checksum: String,
    /// Generation of the new model in its lineage (1 for a first model).
    pub generation: u32,
    /// Segments that continue a previous one (same id), with their centroid distance.
    pub matched: Vec<Matched>,
    /// New segments (id, name) with no previous counterpart.
    pub new_segments: Vec<(u32, String)>,
    /// Previous segments (id, name) with no counterpart now.
    pub retired: Vec<(u32, String)>,
    /// Continued segments whose name changed.
    pub renamed: Vec<Rename>,
    /// How k was set against the previous model's k (held, or re-chosen with `--k`), and
    /// where the k rule points now.
    pub k_note: String,
    /// Customer flows, when the previous model sits in a run directory with labels.csv.
    pub migration: Option<super::migration::Migration>,
    /// Why there is no migration, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration_note: Option<String>,
    /// Outcomes per segment, previous run vs now (runs with `--outcome`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outcomes: Vec<super::outcomes::OutcomeChange>,
    /// Outcomes of this run that the previous run has no figures for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcomes_note: Option<String>,
}

/// The `--previous` model, checked against this run, and its run's labels when it sits
/// in a run directory with labels.csv. Read before any work, so a bad one fails fast.
pub struct Previous {
    /// The previous model.
    pub model: Model,
    /// SHA-256 of its file.
    pub checksum: String,
    /// Its path as the user gave it.
    pub shown: String,
    /// The labels.csv beside it (path as shown, rows), when there is one.
    pub labels: Option<(String, Vec<super::migration::LabelRecord>)>,
    /// The flows counted on every row by an engine that holds them (Spark); used instead
    /// of `labels` when given.
    pub counted: Option<super::migration::Counted>,
    /// The outcome figures of the segments.json beside it (read for `--outcome` runs).
    pub outcomes: Option<super::outcomes::RunOutcomes>,
}

/// What changed since the previous model: renames, new and retired segments, and the
/// customer flows when the previous run's labels are at hand, and this run's outcomes
/// (`now`) against the previous run's.
pub fn changes(
    previous: Previous,
    matching: Matching,
    model: &Model,
    labels: &Labels,
    now: &super::outcomes::RunOutcomes,
    renamed_because: &[Option<String>],
) -> Changes {
    let segs = &model.segments;
    let renamed = matching
        .matched
        .iter()
        .filter_map(|m| {
            let old = &previous.model.segments[matching.previous_of[m.new_index]?];
            let now = &segs[m.new_index];
            (old.name != now.name).then(|| Rename {
                id: m.id,
                from: old.name.clone(),
                to: now.name.clone(),
                reason: renamed_because
                    .get(m.new_index)
                    .cloned()
                    .flatten()
                    .unwrap_or_else(|| "its profile now reads differently".to_string()),
            })
        })
        .collect();
    let new_segments = segs
        .iter()
        .filter(|s| matching.new_ids.contains(&s.id))
        .map(|s| (s.id, s.name.clone()))
        .collect();
    let counted = previous.counted.as_ref().map(|c| {
        super::migration::from_counted(c, "this run", |i| {
            segs.get(i).map(|s| (s.id, s.name.clone()))
        })
    });
    let (migration, migration_note) = match (counted, &previous.labels) {
        (Some(Ok(m)), _) => (Some(m), None),
        (Some(Err(e)), _) => (None, Some(e.to_string())),
        (None, None) => (
            None,
            Some(format!(
                "no labels.csv beside {}: customer flows are not known",
                previous.shown
            )),
        ),
        (None, Some((name, before))) => {
            let after: Vec<_> = labels
                .iter()
                .map(|l| {
                    (
                        l.id.to_string(),
                        l.segment
                            .map(|s| (segs[s as usize].id, segs[s as usize].name.clone())),
                    )
                })
                .collect();
            match super::migration::migrate(name, before, "this run", &after) {
                Ok(m) => (Some(m), None),
                Err(e) => (None, Some(e.to_string())),
            }
        }
    };
    let outcomes = previous
        .outcomes
        .as_ref()
        .map(|before| super::outcomes::compare(before, now))
        .unwrap_or_default();
    let missing: Vec<&str> = now
        .portfolio
        .iter()
        .map(|o| o.column.as_str())
        .filter(|c| !outcomes.iter().any(|x| x.column == *c))
        .collect();
    let outcomes_note = (!missing.is_empty()).then(|| {
        format!(
            "no outcome figures in the previous run for {} (none in a segments.json beside {})",
            missing.join(", "),
            previous.shown
        )
    });
    Changes {
        previous_model: previous.shown,
        previous_checksum: previous.checksum,
        generation: model.lineage.as_ref().map_or(1, |l| l.generation),
        matched: matching.matched,
        new_segments,
        retired: matching.retired,
        renamed,
        k_note: model.k_selection.reason.clone(),
        migration,
        migration_note,
        outcomes,
        outcomes_note,
    }
}
