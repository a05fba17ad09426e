//! What the server holds: the loaded model (with what every request would otherwise
//! recompute, including the `GET /v1/model` answer), the shared state of all requests,
//! and the SIGHUP reload that swaps in a new model only if it loads and verifies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use serde::{Serialize, Serializer};

use super::auth::{Access, Tokens};
use super::budget::Budget;
use super::log::{Log, LogFormat, RequestIds};
use super::metrics::{Metrics, Refusal};
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
    /// When the model file was last written (Unix seconds; the model itself records no
    /// clock time, so that runs stay byte-identical), for the metrics.
    pub(super) written_unix: Option<u64>,
}

impl Loaded {
    /// Prepares `model` (read from `path`) for serving requests of at most `max_body` bytes.
    pub fn new(model: Model, checksum: String, path: &Path, max_body: usize) -> Loaded {
        let loaded_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let info = ModelInfo::new(&model, &checksum, path, max_body, loaded_unix).to_body();
        let written_unix = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        Loaded {
            centers: model.centers_flat(),
            model,
            checksum,
            info,
            loaded_unix,
            written_unix,
        }
    }

    /// The model's generation in its chain of retrains (1 for a first model).
    pub fn generation(&self) -> u32 {
        self.model.lineage.as_ref().map_or(1, |l| l.generation)
    }

    /// What the metrics say about this model.
    pub(super) fn labels(&self) -> super::metrics::ModelLabels<'_> {
        super::metrics::ModelLabels {
            checksum: &self.checksum,
            generation: self.generation(),
            cardseg_version: &self.model.cardseg_version,
            written_unix: self.written_unix,
            loaded_unix: self.loaded_unix,
        }
    }
}

/// The last component of `path`: answers name files, never where they are.
pub(super) fn file_name(path: &str) -> String {
    if path.contains("://") {
        // A (redacted) URL or a database source: no local path in it.
        return path.to_string();
    }
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string())
}

/// How `new` differs from `old` in what a caller's requests depend on (features, id
/// column, scaler kind), in one sentence; None when it does not.
pub fn schema_change(old: &Model, new: &Model) -> Option<String> {
    if old.features != new.features {
        return Some(format!(
            "its features are {} where the served model's are {}",
            new.features.join(","),
            old.features.join(",")
        ));
    }
    if old.id_column != new.id_column {
        let show = |c: &Option<String>| c.clone().unwrap_or_else(|| "(row numbers)".into());
        return Some(format!(
            "its id column is {} where the served model's is {}",
            show(&new.id_column),
            show(&old.id_column)
        ));
    }
    if old.scaler.kind != new.scaler.kind {
        return Some(format!(
            "its scaler is {} where the served model's is {}",
            new.scaler.kind, old.scaler.kind
        ));
    }
    None
}

/// `sha256:HEX` from a checksum given with or without its `sha256:` prefix.
pub fn normalize_checksum(c: &str) -> String {
    let hex = c.trim().trim_start_matches("sha256:").to_ascii_lowercase();
    format!("sha256:{hex}")
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
    training_source: String,
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
            path: file_name(&path.display().to_string()),
            profile_features: &m.profile_features,
            scaler: &m.scaler,
            seed: m.seed,
            segments,
            silhouette: &m.silhouette,
            training_rows: m.training_rows,
            training_source: file_name(&m.training_source),
        }
    }

    /// Pretty JSON and a newline, as served.
    fn to_body(&self) -> Bytes {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        Bytes::from(out)
    }
}

/// What reloads and requests are checked against (flags of `cardseg serve`).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Who may call which route.
    pub access: Access,
    /// Serve only a model with this checksum, at start and on reload.
    pub expect_checksum: Option<String>,
    /// Accept a reloaded model whose features, id column or scaler kind differ.
    pub allow_schema_change: bool,
}

/// State shared by every request: the current model and what the routes and layers need.
pub(super) struct App {
    /// The model being served; replaced whole on reload.
    pub(super) current: RwLock<Arc<Loaded>>,
    pub(super) metrics: Arc<Metrics>,
    /// The tokens accepted now; replaced whole when SIGHUP reads the token files again.
    pub(super) tokens: RwLock<Arc<Tokens>>,
    pub(super) max_body: usize,
    pub(super) model_path: PathBuf,
    /// The request memory budget (`--memory-budget`).
    pub(super) budget: Budget,
    /// Set by SIGTERM: `/readyz` answers 503 and every answer closes its connection.
    pub(super) draining: AtomicBool,
    /// The access log and the events, on stderr.
    pub(super) log: Log,
    /// Makes the ids of requests that come without one.
    pub(super) ids: RequestIds,
    /// The reload and access rules.
    pub(super) policy: Policy,
}

impl App {
    /// The shared state of a server starting with `loaded`.
    pub(super) fn new(
        loaded: Loaded,
        model_path: PathBuf,
        max_body: usize,
        memory_budget: usize,
        tokens: Tokens,
        log: LogFormat,
        policy: Policy,
    ) -> App {
        App {
            current: RwLock::new(Arc::new(loaded)),
            metrics: Arc::new(Metrics::default()),
            tokens: RwLock::new(Arc::new(tokens)),
            max_body,
            model_path,
            budget: Budget::new(memory_budget),
            draining: AtomicBool::new(false),
            log: Log::new(log),
            ids: RequestIds::default(),
            policy,
        }
    }
    /// The tokens to check one request against.
    pub(super) fn tokens(&self) -> Arc<Tokens> {
        self.tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
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

/// SIGHUP: read the token files again (a file that fails to read keeps the tokens in use),
/// then load the model file again and swap it in only if it loads, verifies, has the
/// checksum `--expect-checksum` pins and the same features, id column and scaler kind
/// (unless `--allow-schema-change`). The file is read on a blocking thread, waited for
/// at most [`RELOAD_TIMEOUT`]; every outcome is logged and counted.
pub(super) async fn reload(app: &Arc<App>) {
    if app.policy.access.has_files() {
        match Tokens::load(&app.policy.access) {
            Ok(t) => {
                *app.tokens.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(t);
                app.log.event("SIGHUP: token files read again");
            }
            Err(e) => app.log.event(&format!(
                "SIGHUP: token files not read again, the tokens in use stay: {e}"
            )),
        }
    }
    let path = app.model_path.clone();
    let max_body = app.max_body;
    let current = app.current();
    let old = current.checksum.clone();
    let loaded = tokio::time::timeout(
        RELOAD_TIMEOUT,
        tokio::task::spawn_blocking(move || {
            Model::load(&path)
                .map(|(model, checksum)| Loaded::new(model, checksum, &path, max_body))
        }),
    )
    .await;
    let refuse = |reason: Refusal, why: String| {
        app.metrics.reloaded(false);
        app.metrics.refused(reason);
        app.log.event(&format!(
            "SIGHUP: reload refused, still serving {old}: {why}"
        ));
    };
    let new = match loaded {
        Err(_) => {
            return refuse(
                Refusal::Invalid,
                format!(
                    "reading {} took more than {} s",
                    app.model_path.display(),
                    RELOAD_TIMEOUT.as_secs()
                ),
            )
        }
        Ok(Err(_)) => return refuse(Refusal::Invalid, "internal error while loading".into()),
        Ok(Ok(Err(e))) => return refuse(Refusal::Invalid, e.to_string()),
        Ok(Ok(Ok(new))) => new,
    };
    if let Some(want) = &app.policy.expect_checksum {
        if &new.checksum != want {
            return refuse(
                Refusal::Checksum,
                format!(
                    "{} has checksum {}, and --expect-checksum pins {want}",
                    app.model_path.display(),
                    new.checksum
                ),
            );
        }
    }
    if !app.policy.allow_schema_change {
        if let Some(why) = schema_change(&current.model, &new.model) {
            return refuse(
                Refusal::Schema,
                format!(
                    "{} is a model for other requests: {why}; callers would get answers they do not expect (restart with --allow-schema-change to accept it)",
                    app.model_path.display()
                ),
            );
        }
    }
    let checksum = new.checksum.clone();
    app.swap(new);
    app.metrics.reloaded(true);
    app.log.event(&format!(
        "SIGHUP: reloaded {} ({checksum}; was {old})",
        app.model_path.display()
    ));
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

    /// A server's state over [`tiny_model`], with `token` required if given.
    pub fn app(token: Option<&str>) -> Arc<App> {
        let access = Access {
            scoring: token.map(|t| super::super::auth::TokenSource::Value(t.into())),
            ..Access::default()
        };
        Arc::new(App::new(
            Loaded::new(
                tiny_model(MissingPolicy::Median),
                "sha256:test".into(),
                Path::new("m.json"),
                1 << 20,
            ),
            "m.json".into(),
            1 << 20,
            1 << 20,
            Tokens::load(&access).unwrap(),
            LogFormat::Json,
            Policy {
                access,
                ..Policy::default()
            },
        ))
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
    fn schema_changes_are_features_id_column_or_scaler_kind() {
        let a = tiny_model(MissingPolicy::Median);
        let mut b = a.clone();
        b.k = 3;
        assert_eq!(schema_change(&a, &b), None);
        b.features = vec!["A".into(), "C".into()];
        assert!(schema_change(&a, &b).unwrap().contains("A,C"));
        let mut b = a.clone();
        b.id_column = None;
        assert!(schema_change(&a, &b).unwrap().contains("id column"));
        let mut b = a.clone();
        b.scaler.kind = crate::scale::ScalerKind::Robust;
        assert!(schema_change(&a, &b).unwrap().contains("robust"));
        assert_eq!(file_name("/srv/models/model.json"), "model.json");
        assert_eq!(file_name("https://host/x.csv"), "https://host/x.csv");
        assert_eq!(normalize_checksum(" ABC "), "sha256:abc");
        assert_eq!(normalize_checksum("sha256:abc"), "sha256:abc");
    }

    #[test]
    fn model_info_lists_keys_alphabetically_with_the_model_values() {
        for policy in [MissingPolicy::Median, MissingPolicy::Drop] {
            let mut m = tiny_model(policy);
            let v = keys_sorted_everywhere(&m);
            assert_eq!(v.as_object().unwrap().len(), 21);
            assert_eq!(v["checksum"], "sha256:x");
            // File names only, never where they are.
            assert_eq!(v["path"], "model.json");
            assert_eq!(v["training_source"], "test");
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
