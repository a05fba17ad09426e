//! What the server holds: the loaded model (with what every request would otherwise
//! recompute, including the `GET /v1/model` answer), the shared state of all requests,
//! and the SIGHUP reload that swaps in a new model only if it loads and verifies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use serde::{Serialize, Serializer};

use super::budget::Budget;
use super::metrics::Metrics;
use super::MAX_CUSTOMERS_PER_REQUEST;
use crate::clean::MissingPolicy;
use crate::model::Model;

/// A model ready to serve: the model plus what each request would otherwise recompute.
pub struct Loaded {
    /// The model, as loaded and verified.
    pub model: Model,
    /// Its checksum (`sha256:...`), named in every answer and in the metrics.
    pub checksum: String,
    /// The scaled centroids, row after row, as scoring wants them.
    pub(super) centers: Vec<f64>,
    /// Body of `GET /v1/model`.
    pub(super) info: Bytes,
    /// When it was loaded (Unix seconds), for the answer and the metrics.
    pub(super) loaded_unix: u64,
}

impl Loaded {
    /// Prepares `model` (read from `path`) for serving requests of at most `max_body` bytes.
    pub fn new(model: Model, checksum: String, path: &Path, max_body: usize) -> Loaded {
        let loaded_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let info = ModelInfo::new(&model, &checksum, path, max_body, loaded_unix).to_body();
        Loaded {
            centers: model.centers_flat(),
            model,
            checksum,
            info,
            loaded_unix,
        }
    }
}

/// The answer of `GET /v1/model`. Its fields are declared in alphabetical order and the
/// model's nested types are written through [`sorted`]: the answer has always listed the
/// keys of every object alphabetically (it was first built as a `serde_json::Value`, whose
/// maps are sorted), and clients may compare answers byte for byte.
#[derive(Serialize)]
struct ModelInfo<'a> {
    cardseg_version: &'a str,
    checksum: &'a str,
    features: &'a [String],
    /// Per feature (by name), the value a missing one is filled with; null under drop.
    fill_values: BTreeMap<&'a str, Option<f64>>,
    format_version: u64,
    id_column: Option<&'a str>,
    inertia: f64,
    k: usize,
    #[serde(serialize_with = "sorted")]
    k_selection: &'a crate::model::KSelection,
    limits: InfoLimits,
    loaded_at: u64,
    missing_policy: MissingPolicy,
    n_init: usize,
    path: String,
    profile_features: &'a [String],
    #[serde(serialize_with = "sorted")]
    scaler: &'a crate::scale::MinMaxScaler,
    seed: u64,
    segments: Vec<SegmentInfo<'a>>,
    #[serde(serialize_with = "sorted")]
    silhouette: &'a crate::cluster::silhouette::Score,
    training_rows: u64,
    training_source: &'a str,
}

/// The request limits a client must respect (alphabetical, as [`ModelInfo`]).
#[derive(Serialize)]
struct InfoLimits {
    max_body_bytes: usize,
    max_customers_per_request: usize,
}

/// One segment of [`ModelInfo`], with its centroid by feature name (alphabetical).
#[derive(Serialize)]
struct SegmentInfo<'a> {
    action: &'a str,
    centroid: BTreeMap<&'a str, f64>,
    centroid_scaled: BTreeMap<&'a str, f64>,
    customers: u64,
    id: u32,
    name: &'a str,
    rationale: &'a str,
    share: f64,
}

/// Writes `v` with the keys of every object in alphabetical order, whatever the order of
/// its type's fields (through a `serde_json::Value`, whose maps are sorted).
fn sorted<T: Serialize, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    serde_json::to_value(v)
        .map_err(serde::ser::Error::custom)?
        .serialize(s)
}

impl<'a> ModelInfo<'a> {
    fn new(
        m: &'a Model,
        checksum: &'a str,
        path: &Path,
        max_body: usize,
        loaded_unix: u64,
    ) -> Self {
        let by_feature = |v: &[f64]| -> BTreeMap<&str, f64> {
            m.features
                .iter()
                .map(String::as_str)
                .zip(v.iter().copied())
                .collect()
        };
        let segments = m
            .segments
            .iter()
            .zip(&m.centroids)
            .zip(&m.centroids_scaled)
            .map(|((s, c), cs)| SegmentInfo {
                action: &s.action,
                centroid: by_feature(c),
                centroid_scaled: by_feature(cs),
                customers: s.customers,
                id: s.id,
                name: &s.name,
                rationale: &s.rationale,
                share: s.share,
            })
            .collect();
        ModelInfo {
            cardseg_version: &m.cardseg_version,
            checksum,
            features: &m.features,
            fill_values: m
                .features
                .iter()
                .map(|f| (f.as_str(), m.fill_value(f)))
                .collect(),
            format_version: m.format_version(),
            id_column: m.id_column.as_deref(),
            inertia: m.inertia,
            k: m.k,
            k_selection: &m.k_selection,
            limits: InfoLimits {
                max_body_bytes: max_body,
                max_customers_per_request: MAX_CUSTOMERS_PER_REQUEST,
            },
            loaded_at: loaded_unix,
            missing_policy: m.missing_policy,
            n_init: m.n_init,
            path: path.display().to_string(),
            profile_features: &m.profile_features,
            scaler: &m.scaler,
            seed: m.seed,
            segments,
            silhouette: &m.silhouette,
            training_rows: m.training_rows,
            training_source: &m.training_source,
        }
    }

    /// Pretty JSON and a newline, as served.
    fn to_body(&self) -> Bytes {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        Bytes::from(out)
    }
}

/// State shared by every request: the current model and what the routes and layers need.
pub(super) struct App {
    /// The model being served; replaced whole on reload.
    pub(super) current: RwLock<Arc<Loaded>>,
    pub(super) metrics: Arc<Metrics>,
    /// SHA-256 of the `--token-env` token, if one is required.
    pub(super) token_digest: Option<[u8; 32]>,
    pub(super) max_body: usize,
    pub(super) model_path: PathBuf,
    /// The request memory budget (`--memory-budget`).
    pub(super) budget: Budget,
}

impl App {
    /// The model to use for one whole request, even if a reload lands meanwhile.
    pub(super) fn current(&self) -> Arc<Loaded> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    fn swap(&self, new: Loaded) -> Arc<Loaded> {
        let mut slot = self.current.write().unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut *slot, Arc::new(new))
    }
}

/// Longest a SIGHUP reload may take: the file is opened without blocking and read with a
/// bound, but a stalled file system could still hold the read; the reload is then given
/// up (and logged) so the next SIGHUP is served.
pub const RELOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// SIGHUP: load the model file again; swap it in only if it loads and verifies. The
/// file is read on a blocking thread, waited for at most [`RELOAD_TIMEOUT`]; every
/// outcome is logged and counted.
pub(super) async fn reload(app: &Arc<App>) {
    let path = app.model_path.clone();
    let max_body = app.max_body;
    let old = app.current().checksum.clone();
    let loaded = tokio::time::timeout(
        RELOAD_TIMEOUT,
        tokio::task::spawn_blocking(move || {
            Model::load(&path)
                .map(|(model, checksum)| Loaded::new(model, checksum, &path, max_body))
        }),
    )
    .await;
    let Ok(loaded) = loaded else {
        app.metrics.reloaded(false);
        eprintln!(
            "SIGHUP: reload refused, still serving {old}: reading {} took more than {} s",
            app.model_path.display(),
            RELOAD_TIMEOUT.as_secs()
        );
        return;
    };
    match loaded {
        Ok(Ok(new)) => {
            let checksum = new.checksum.clone();
            app.swap(new);
            app.metrics.reloaded(true);
            eprintln!(
                "SIGHUP: reloaded {} ({checksum}; was {old})",
                app.model_path.display()
            );
        }
        Ok(Err(e)) => {
            app.metrics.reloaded(false);
            eprintln!("SIGHUP: reload refused, still serving {old}: {e}");
        }
        Err(_) => {
            app.metrics.reloaded(false);
            eprintln!("SIGHUP: reload failed with an internal error, still serving {old}");
        }
    }
}

/// Models for the tests of the serve modules.
#[cfg(test)]
pub(super) mod fixtures {
    use super::*;

    /// Two features A and B on 0..10, two segments at scaled (0, 0) and (1, 1).
    pub fn tiny_model(policy: MissingPolicy) -> Model {
        let fill = |v: f64| {
            if policy == MissingPolicy::Drop {
                serde_json::Value::Null
            } else {
                serde_json::json!(v)
            }
        };
        let seg = |id: u32, name: &str| serde_json::json!({"id": id, "name": name, "rationale": "r", "action": "a", "customers": 1, "share": 0.5});
        let score = serde_json::json!({"method": "exact", "sample_size": 2, "std_error": null, "value": 1.0});
        serde_json::from_value(serde_json::json!({
            "cardseg_version": "test",
            "id_column": "ID",
            "features": ["A", "B"],
            "profile_features": [],
            "missing_policy": policy,
            "cleaning": [
                {"column": "A", "missing": 0, "fill_value": fill(5.0)},
                {"column": "B", "missing": 0, "fill_value": fill(0.0)},
            ],
            "scaler": {"features": ["A", "B"], "data_min": [0.0, 0.0], "data_max": [10.0, 10.0], "scale": [0.1, 0.1], "min": [0.0, 0.0]},
            "k": 2,
            "centroids_scaled": [[0.0, 0.0], [1.0, 1.0]],
            "centroids": [[0.0, 0.0], [10.0, 10.0]],
            "segments": [seg(1, "Low"), seg(2, "High, \"quoted\"")],
            "training_rows": 2,
            "training_source": "test",
            "inertia": 0.0,
            "silhouette": score,
            "k_selection": {"rule": "knee", "k_min": 2, "k_max": 2, "knee": null, "best_silhouette": 2, "chosen": 2, "reason": "test", "sweep": []},
            "seed": 1,
            "n_init": 1,
        }))
        .unwrap()
    }

    /// [`tiny_model`] ready to serve.
    pub fn loaded(policy: MissingPolicy) -> Arc<Loaded> {
        Arc::new(Loaded::new(
            tiny_model(policy),
            "sha256:test".into(),
            Path::new("m.json"),
            1 << 20,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::tiny_model;
    use super::*;

    /// The answer must list every object's keys alphabetically, as it always has (it was
    /// a `serde_json::Value` until it became a struct; the struct was checked byte for byte
    /// against that version on the tiny and the demo model): serializing it again through
    /// a `Value`, whose maps are sorted, must change nothing.
    fn keys_sorted_everywhere(m: &Model) -> serde_json::Value {
        let body = ModelInfo::new(m, "sha256:x", Path::new("dir/model.json"), 12345, 17).to_body();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let mut again = serde_json::to_vec_pretty(&v).unwrap();
        again.push(b'\n');
        assert_eq!(
            String::from_utf8_lossy(&body),
            String::from_utf8_lossy(&again)
        );
        v
    }

    #[test]
    fn model_info_lists_keys_alphabetically_with_the_model_values() {
        for policy in [MissingPolicy::Median, MissingPolicy::Drop] {
            let mut m = tiny_model(policy);
            let v = keys_sorted_everywhere(&m);
            assert_eq!(v.as_object().unwrap().len(), 21);
            assert_eq!(v["checksum"], "sha256:x");
            assert_eq!(v["path"], "dir/model.json");
            assert_eq!(v["loaded_at"], 17);
            assert_eq!(v["id_column"], "ID");
            assert_eq!(
                v["limits"],
                serde_json::json!({"max_body_bytes": 12345, "max_customers_per_request": MAX_CUSTOMERS_PER_REQUEST})
            );
            assert_eq!(v["segments"][1]["name"], "High, \"quoted\"");
            assert_eq!(v["segments"][1]["centroid"]["B"], 10.0);
            assert_eq!(v["segments"][1]["centroid_scaled"]["A"], 1.0);
            assert_eq!(v["scaler"]["data_max"][0], 10.0);
            assert_eq!(v["k_selection"]["rule"], "knee");
            assert_eq!(v["silhouette"]["value"], 1.0);
            if policy == MissingPolicy::Drop {
                assert!(v["fill_values"]["A"].is_null());
            } else {
                assert_eq!(v["fill_values"]["A"], 5.0);
            }
            // Features out of alphabetical order, a NaN centroid (null), no id column.
            m.features = vec!["Zeta".into(), "alpha".into()];
            m.centroids[1][0] = f64::NAN;
            m.id_column = None;
            let v = keys_sorted_everywhere(&m);
            assert!(v["segments"][1]["centroid"]["Zeta"].is_null());
            assert_eq!(v["segments"][1]["centroid"]["alpha"], 10.0);
            assert!(v["id_column"].is_null());
        }
    }
}
