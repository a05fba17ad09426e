//! `cardseg serve`: a small HTTP/1 scoring service over a saved model.
//!
//! Routes: `POST /v1/score` (JSON or CSV in), `GET /v1/model`, `GET /healthz`,
//! `GET /metrics`. Scoring goes through [`crate::predict::score_columns`], the same
//! code path as `cardseg predict`, so both give every customer the same segment.
//!
//! Operations: SIGHUP reloads the model file (a file that fails to load is refused and
//! the old model keeps serving); SIGTERM or Ctrl-C stop accepting connections and let
//! in-flight requests finish (for at most [`SHUTDOWN_GRACE`]). Every error is a JSON
//! `{"error": "..."}` with a fitting status; a panic in a handler is answered 500 and
//! counted, and the server keeps running.
//!
//! Connections (see [`Limits`]): at most `max_connections` are open (more are closed at
//! once and counted); a connection that sends part of a request head and stalls is closed
//! after `header_timeout`, one that sends nothing after `idle_timeout`; request bodies and
//! the work of scoring them reserve room in a byte budget (`memory_budget`) before they are
//! read and scored, so concurrent large (or small gzip) bodies wait their turn instead of
//! exhausting memory.

mod conn;
mod csv_answer;
pub mod metrics;
pub mod parse;

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::Model;
use crate::predict::{read_spec, score_columns, Scores};
use crate::table::Table;
use metrics::Metrics;

/// Most customers one JSON request may carry (CSV bodies are bounded by `--max-body`).
pub const MAX_CUSTOMERS_PER_REQUEST: usize = 10_000;
/// Default `--max-body`: 16 MiB, room for 10,000 full CC GENERAL records as JSON.
pub const DEFAULT_MAX_BODY: usize = 16 << 20;
/// A request body must arrive within this time (slow clients get 408).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// After SIGTERM, in-flight requests get this long to finish before the process exits.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Bodies up to this size are scored on the async worker; larger ones on the blocking pool.
const INLINE_BYTES: usize = 64 << 10;
/// Bytes of memory one byte of a (decompressed) CSV body costs while it is parsed and
/// scored: the text, the f64 columns (8 bytes per cell of often 2-3 bytes), ids and the
/// answer. Measured: about 6.5 on 15 MB of short numeric rows; 12 leaves headroom
/// (tests/serve.rs checks that concurrent requests stay within the budget).
pub const CSV_COST_FACTOR: usize = 12;
/// The same for JSON bodies (keys repeat, so values are a smaller share of the text).
pub const JSON_COST_FACTOR: usize = 4;

/// Connection-layer limits of `cardseg serve` (each a flag; see the README).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A request head must be complete this long after its first byte.
    pub header_timeout: Duration,
    /// A connection with no request in flight and no bytes moving is closed after this.
    pub idle_timeout: Duration,
    /// Most client connections open at once; more are closed right after accept.
    pub max_connections: usize,
    /// Bytes that request bodies and their scoring may hold at once, across requests.
    pub memory_budget: usize,
}

/// Default `--header-timeout`.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `--idle-timeout`.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `--max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Default `--memory-budget`: 1 GiB.
pub const DEFAULT_MEMORY_BUDGET: usize = 1 << 30;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            memory_budget: DEFAULT_MEMORY_BUDGET,
        }
    }
}

/// What `cardseg serve` was asked to do.
#[derive(Debug, Clone)]
pub struct Config {
    pub model_path: PathBuf,
    pub addr: SocketAddr,
    /// Bearer token required on every route except /healthz.
    pub token: Option<String>,
    pub max_body: usize,
    pub limits: Limits,
}

/// A model ready to serve: the model plus what each request would otherwise recompute.
pub struct Loaded {
    pub model: Model,
    pub checksum: String,
    centers: Vec<f64>,
    /// Body of `GET /v1/model`.
    info: Bytes,
    loaded_unix: u64,
}

impl Loaded {
    pub fn new(model: Model, checksum: String, path: &Path, max_body: usize) -> Loaded {
        let loaded_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let info = model_info(&model, &checksum, path, max_body, loaded_unix);
        Loaded {
            centers: model.centers_flat(),
            model,
            checksum,
            info,
            loaded_unix,
        }
    }
}

fn model_info(m: &Model, checksum: &str, path: &Path, max_body: usize, loaded_unix: u64) -> Bytes {
    let by_feature = |v: &[f64]| -> serde_json::Map<String, serde_json::Value> {
        m.features
            .iter()
            .cloned()
            .zip(v.iter().map(|x| serde_json::json!(x)))
            .collect()
    };
    let segments: Vec<serde_json::Value> = m
        .segments
        .iter()
        .zip(&m.centroids)
        .zip(&m.centroids_scaled)
        .map(|((s, c), cs)| {
            serde_json::json!({
                "id": s.id,
                "name": s.name,
                "rationale": s.rationale,
                "action": s.action,
                "customers": s.customers,
                "share": s.share,
                "centroid": by_feature(c),
                "centroid_scaled": by_feature(cs),
            })
        })
        .collect();
    let fill: serde_json::Map<String, serde_json::Value> = m
        .features
        .iter()
        .map(|f| (f.clone(), serde_json::json!(m.fill_value(f))))
        .collect();
    let v = serde_json::json!({
        "checksum": checksum,
        "format_version": m.format_version(),
        "cardseg_version": m.cardseg_version,
        "path": path.display().to_string(),
        "loaded_at": loaded_unix,
        "id_column": m.id_column,
        "features": m.features,
        "profile_features": m.profile_features,
        "missing_policy": m.missing_policy,
        "fill_values": fill,
        "scaler": m.scaler,
        "k": m.k,
        "segments": segments,
        "training_rows": m.training_rows,
        "training_source": m.training_source,
        "inertia": m.inertia,
        "silhouette": m.silhouette,
        "k_selection": m.k_selection,
        "seed": m.seed,
        "n_init": m.n_init,
        "limits": {
            "max_body_bytes": max_body,
            "max_customers_per_request": MAX_CUSTOMERS_PER_REQUEST,
        },
    });
    let mut out = serde_json::to_vec_pretty(&v).unwrap_or_default();
    out.push(b'\n');
    Bytes::from(out)
}

struct App {
    current: RwLock<Arc<Loaded>>,
    metrics: Metrics,
    token_digest: Option<[u8; 32]>,
    max_body: usize,
    model_path: PathBuf,
    budget: conn::Budget,
}

impl App {
    fn current(&self) -> Arc<Loaded> {
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

/// A refused request: status and a one-line message, plus where in the body it went wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub index: Option<usize>,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            index: None,
            field: None,
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: &self.message,
            index: self.index,
            field: self.field.as_deref(),
        };
        json_response(self.status, serde_json::to_vec(&body).unwrap_or_default())
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

impl From<parse::ParseError> for ApiError {
    fn from(e: parse::ParseError) -> Self {
        let message = e.to_string();
        match e {
            parse::ParseError::Field { index, field, .. } => ApiError {
                status: StatusCode::BAD_REQUEST,
                message,
                index: Some(index),
                field: Some(field),
            },
            parse::ParseError::TooMany { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message)
            }
            parse::ParseError::Body(_) => ApiError::new(StatusCode::BAD_REQUEST, message),
        }
    }
}

/// The body format of a scoring request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BodyKind {
    Json,
    Csv,
}

fn body_kind(headers: &HeaderMap) -> std::result::Result<BodyKind, ApiError> {
    if let Some(enc) = headers.get(header::CONTENT_ENCODING) {
        let enc = enc.to_str().unwrap_or("?").trim();
        if !enc.eq_ignore_ascii_case("identity") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Encoding {enc:?} is not supported; send the body uncompressed (a CSV body may be gzip data itself)"),
            ));
        }
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("?"));
    let essence = ct.map(|c| {
        c.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    match essence.as_deref() {
        Some("application/json") => Ok(BodyKind::Json),
        Some("text/csv") => Ok(BodyKind::Csv),
        Some(other) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type {other:?} is not supported; send application/json (customer objects) or text/csv"),
        )),
        None => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the request has no Content-Type; send application/json (customer objects) or text/csv",
        )),
    }
}

/// One scored request: the response body and counts for the metrics.
pub struct Scored {
    pub body: Body,
    pub content_type: &'static str,
    pub scored: usize,
    pub unscored: usize,
    /// Customers scored with at least one feature filled in.
    pub imputed: usize,
}

#[derive(Serialize)]
struct ScoreBody<'a> {
    model_checksum: &'a str,
    customers: usize,
    scored: usize,
    results: Vec<ResultRow<'a>>,
}

#[derive(Serialize)]
struct ResultRow<'a> {
    index: usize,
    id: String,
    segment: Option<u32>,
    segment_name: Option<&'a str>,
    distance: Option<f64>,
    second_distance: Option<f64>,
    /// Percentile of `distance` among the segment's training customers (None with a
    /// model written before distance quantiles existed).
    distance_percentile: Option<f64>,
    outlier: Option<bool>,
    /// Features this customer did not send that were filled with the model's fill value.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    imputed: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Keys that differ from a feature only in letter case (ignored): "did you mean".
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
}

/// "did you mean" for keys that match a feature except for letter case.
fn did_you_mean(mismatches: &[(String, String)]) -> Option<String> {
    (!mismatches.is_empty()).then(|| {
        let parts: Vec<String> = mismatches
            .iter()
            .map(|(k, f)| {
                format!("{k:?} is not a feature (did you mean {f:?}? names are case-sensitive)")
            })
            .collect();
        parts.join("; ")
    })
}

/// Names the missing features of customer `i` that the model cannot fill.
fn unfillable<'m>(model: &'m Model, cols: &[Vec<f64>], i: usize) -> Vec<&'m str> {
    model
        .features
        .iter()
        .zip(cols)
        .filter(|(f, c)| c[i].is_nan() && model.fill_value(f).is_none())
        .map(|(f, _)| f.as_str())
        .collect()
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Scores a JSON body (one customer object or an array of them).
pub fn score_json(loaded: &Loaded, body: &[u8]) -> std::result::Result<Scored, ApiError> {
    let model = &loaded.model;
    let batch = parse::parse_customers(body, model, MAX_CUSTOMERS_PER_REQUEST)?;
    let n = batch.len();
    let drop_reasons: Vec<Option<String>> = if model
        .features
        .iter()
        .any(|f| model.fill_value(f).is_none())
    {
        (0..n)
            .map(|i| {
                let missing = unfillable(model, &batch.cols, i);
                (!missing.is_empty()).then(|| {
                    format!(
                        "missing {}; the model's missing-value policy is drop, so this customer cannot be scored",
                        missing.join(", ")
                    )
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    // A customer with none of the model's features is not scored: filling every feature
    // would give the segment of the training medians, whatever the customer is.
    let empty: Vec<bool> = (0..n)
        .map(|i| batch.cols.iter().all(|c| c[i].is_nan()))
        .collect();
    let imputed: Vec<Vec<&str>> = (0..n)
        .map(|i| {
            model
                .features
                .iter()
                .zip(&batch.cols)
                .filter(|(f, c)| c[i].is_nan() && model.fill_value(f).is_some())
                .map(|(f, _)| f.as_str())
                .collect()
        })
        .collect();
    let Scores { labels, distances } = score_columns(model, &loaded.centers, batch.cols, true);
    let mut results = Vec::with_capacity(n);
    let mut scored = 0;
    let mut imputed_count = 0;
    for (i, ((label, (d1, d2)), imputed)) in labels.iter().zip(distances).zip(imputed).enumerate() {
        let id = batch.ids[i].clone().unwrap_or_else(|| i.to_string());
        let hint = did_you_mean(&batch.case_mismatches[i]);
        if empty[i] {
            let mut error = format!(
                "none of the model's features ({}) is present, so this customer cannot be scored",
                model.features.join(", ")
            );
            if let Some(h) = &hint {
                error.push_str("; ");
                error.push_str(h);
            }
            results.push(ResultRow {
                index: i,
                id,
                segment: None,
                segment_name: None,
                distance: None,
                second_distance: None,
                distance_percentile: None,
                outlier: None,
                imputed: Vec::new(),
                error: Some(error),
                warning: None,
            });
            continue;
        }
        let seg = label.map(|l| &model.segments[l as usize]);
        scored += usize::from(seg.is_some());
        let o = label.map(|l| crate::lifecycle::outliers::Outlier::of(model, l as usize, d1));
        let imputed = if seg.is_some() { imputed } else { Vec::new() };
        imputed_count += usize::from(!imputed.is_empty());
        results.push(ResultRow {
            index: i,
            id,
            segment: seg.map(|s| s.id),
            segment_name: seg.map(|s| s.name.as_str()),
            distance: finite(d1),
            second_distance: finite(d2),
            distance_percentile: o.and_then(|o| o.percentile),
            outlier: o.and_then(|o| o.outlier),
            imputed,
            error: drop_reasons.get(i).cloned().flatten(),
            warning: hint,
        });
    }
    let out = ScoreBody {
        model_checksum: &loaded.checksum,
        customers: n,
        scored,
        results,
    };
    let mut body = Vec::with_capacity(64 + n * 160);
    serde_json::to_writer(&mut body, &out)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    body.push(b'\n');
    Ok(Scored {
        body: Body::from(body),
        content_type: "application/json",
        scored,
        unscored: n - scored,
        imputed: imputed_count,
    })
}

/// Scores a CSV body: the first three output columns are exactly `cardseg predict`'s
/// (`ID,segment,segment_name`), then `distance,second_distance,distance_percentile,outlier`. A gzip-compressed body is
/// decompressed first, to at most `max_body` bytes (a small "gzip bomb" cannot fill memory).
pub fn score_csv(
    loaded: Arc<Loaded>,
    body: &[u8],
    max_body: usize,
) -> std::result::Result<Scored, ApiError> {
    let model = &loaded.model;
    let inflated;
    let body = if body.starts_with(&[0x1f, 0x8b]) {
        inflated = gunzip_bounded(body, max_body)?;
        &inflated[..]
    } else {
        body
    };
    let table = crate::ingest::csv::read_bytes(body, "request body", &read_spec(model, None))
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    // The feature columns move into scoring; only the ids are kept for the answer.
    let Table {
        ids, mut columns, ..
    } = table;
    let mut cols = Vec::with_capacity(model.features.len());
    for f in &model.features {
        let c = columns.iter_mut().find(|c| &c.name == f).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("request body: column {f} was not loaded"),
            )
        })?;
        cols.push(std::mem::take(&mut c.values));
    }
    drop(columns);
    let rows = cols.first().map_or(0, Vec::len);
    let imputed = (0..rows)
        .filter(|&i| {
            model
                .features
                .iter()
                .zip(&cols)
                .any(|(f, c)| c[i].is_nan() && model.fill_value(f).is_some())
        })
        .count();
    let Scores { labels, distances } = score_columns(model, &loaded.centers, cols, true);
    let scored = labels.iter().filter(|l| l.is_some()).count();
    let unscored = labels.len() - scored;
    Ok(Scored {
        body: Body::new(csv_answer::CsvAnswer::new(
            loaded.clone(),
            ids,
            labels,
            distances,
        )),
        content_type: "text/csv; charset=utf-8",
        scored,
        unscored,
        imputed,
    })
}

/// Size of a gzip body once decompressed, at most `max` (more is refused as in
/// [`gunzip_bounded`]), measured without keeping the data.
fn gunzip_len(body: &[u8], max: usize) -> std::result::Result<usize, ApiError> {
    let mut decoder = std::io::Read::take(flate2::read::MultiGzDecoder::new(body), max as u64 + 1);
    let n = std::io::copy(&mut decoder, &mut std::io::sink()).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("request body: the gzip data is damaged or truncated ({e})"),
        )
    })?;
    if n > max as u64 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the decompressed body is larger than the server's limit of {max} bytes (--max-body); split the file"),
        ));
    }
    Ok(n as usize)
}

fn gunzip_bounded(body: &[u8], max: usize) -> std::result::Result<Vec<u8>, ApiError> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut decoder = flate2::read::MultiGzDecoder::new(body).take(max as u64 + 1);
    decoder.read_to_end(&mut out).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("request body: the gzip data is damaged or truncated ({e})"),
        )
    })?;
    if out.len() > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the decompressed body is larger than the server's limit of {max} bytes (--max-body); split the file"),
        ));
    }
    Ok(out)
}

async fn read_body(app: &App, req: Request) -> std::result::Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than the server's limit of {} bytes (--max-body); split the batch", app.max_body),
        )
    };
    if let Some(len) = req.headers().get(header::CONTENT_LENGTH) {
        match len.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()) {
            Some(n) if n > app.max_body as u64 => return Err(too_large()),
            Some(_) => {}
            None => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "the Content-Length header is not a number",
                ))
            }
        }
    }
    let limited = Limited::new(req.into_body(), app.max_body);
    match tokio::time::timeout(BODY_TIMEOUT, limited.collect()).await {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the body did not arrive within {} s",
                BODY_TIMEOUT.as_secs()
            ),
        )),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(e)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("cannot read the request body: {e}"),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

async fn score(State(app): State<Arc<App>>, req: Request) -> Response {
    let kind = match body_kind(req.headers()) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    // Room for the body before it is read: its announced length, or the most it may be.
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<usize>().ok())
        .map_or(app.max_body, |n| n.min(app.max_body));
    let mut reservation = match app.budget.reserve(announced, &app).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let body = match read_body(&app, req).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    // Then room for the work: a gzip body is measured decompressed (without keeping it).
    let work = match kind {
        BodyKind::Json => body.len().saturating_mul(JSON_COST_FACTOR),
        BodyKind::Csv if body.starts_with(&[0x1f, 0x8b]) => {
            let (b, max) = (body.clone(), app.max_body);
            match tokio::task::spawn_blocking(move || gunzip_len(&b, max)).await {
                Ok(Ok(n)) => (n + body.len()).saturating_mul(CSV_COST_FACTOR),
                Ok(Err(e)) => return e.into_response(),
                Err(_) => return internal_error(),
            }
        }
        BodyKind::Csv => body.len().saturating_mul(CSV_COST_FACTOR),
    };
    if let Err(e) = app.budget.grow(&mut reservation, work, &app).await {
        return e.into_response();
    }
    // One model for the whole request, even if a reload lands meanwhile.
    let loaded = app.current();
    let small = body.len() <= INLINE_BYTES && !body.starts_with(&[0x1f, 0x8b]);
    let max_body = app.max_body;
    let work = move || match kind {
        BodyKind::Json => score_json(&loaded, &body),
        BodyKind::Csv => score_csv(loaded, &body, max_body),
    };
    // Small requests are microseconds of work; large ones must not stall the workers.
    let result = if small {
        work()
    } else {
        match tokio::task::spawn_blocking(work).await {
            Ok(r) => r,
            Err(_) => {
                app.metrics.panicked();
                eprintln!("serve: internal error while scoring a request; answered 500");
                return internal_error();
            }
        }
    };
    match result {
        Ok(s) => {
            app.metrics.scored(s.scored, s.unscored);
            app.metrics.imputed(s.imputed);
            // The reservation lasts until the answer is sent (or the client goes away).
            let mut r = Response::new(Body::new(conn::ReservedBody::new(s.body, reservation)));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(s.content_type),
            );
            r
        }
        Err(e) => e.into_response(),
    }
}

fn internal_error() -> Response {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error while handling this request; it was logged and the server is still running",
    )
    .into_response()
}

async fn model_route(State(app): State<Arc<App>>) -> Response {
    let loaded = app.current();
    let mut r = Response::new(Body::from(loaded.info.clone()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    let loaded = app.current();
    let body = serde_json::json!({"status": "ok", "model_checksum": loaded.checksum});
    json_response(
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

async fn metrics_route(State(app): State<Arc<App>>) -> Response {
    let loaded = app.current();
    let text = app.metrics.render(&loaded.checksum, loaded.loaded_unix);
    let mut r = Response::new(Body::from(text));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

async fn not_found() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint; the API has POST /v1/score, GET /v1/model, GET /healthz and GET /metrics",
    )
    .into_response()
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Compares two digests in time independent of where they differ. Comparing digests
/// rather than the tokens also hides the token's length.
fn digests_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Requires `Authorization: Bearer TOKEN` on every route but /healthz, when a token is set.
async fn auth(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if let Some(want) = &app.token_digest {
        if req.uri().path() != "/healthz" {
            let presented = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, t)| sha256(t.trim().as_bytes()));
            let ok = presented.is_some_and(|p| digests_equal(&p, want));
            if !ok {
                let mut r = ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "missing or wrong token; send the header Authorization: Bearer TOKEN",
                )
                .into_response();
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return r;
            }
        }
    }
    next.run(req).await
}

/// Polls a future, turning a panic into an error instead of losing the connection.
struct CatchPanic<F> {
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = std::result::Result<F::Output, ()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.get_mut().inner.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

/// Outermost layer: catches panics, turns any non-JSON error response (axum's own 405,
/// say) into a JSON one, and records the metrics.
async fn observe(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let mut response = match (CatchPanic {
        inner: Box::pin(next.run(req)),
    })
    .await
    {
        Ok(r) => r,
        Err(()) => {
            app.metrics.panicked();
            eprintln!("serve: internal error while handling {method} {path}; answered 500");
            internal_error()
        }
    };
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        let message = match status {
            StatusCode::METHOD_NOT_ALLOWED => {
                let allow = if path == "/v1/score" {
                    "POST"
                } else {
                    "GET, HEAD"
                };
                format!("method {method} is not allowed on {path}; use {allow}")
            }
            s => s.canonical_reason().unwrap_or("error").to_string(),
        };
        let mut json = ApiError::new(status, message).into_response();
        for name in [header::ALLOW, header::WWW_AUTHENTICATE] {
            if let Some(v) = response.headers().get(&name) {
                json.headers_mut().insert(name, v.clone());
            }
        }
        response = json;
    }
    app.metrics
        .record(&path, response.status().as_u16(), start.elapsed());
    response
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/score", post(score))
        .route("/v1/model", get(model_route))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_route))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), auth))
        .layer(middleware::from_fn_with_state(app.clone(), observe))
        .with_state(app)
}

/// Loads the model, binds `config.addr`, prints `listening on http://ADDR`, and serves
/// until SIGTERM or Ctrl-C.
pub fn run(config: Config) -> Result<()> {
    let (model, checksum) = Model::load(&config.model_path)?;
    if model.distance_quantiles.is_empty() {
        eprintln!("{}", crate::lifecycle::outliers::NO_QUANTILES_NOTICE);
    }
    let loaded = Loaded::new(model, checksum, &config.model_path, config.max_body);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("cardseg-serve")
        .build()
        .map_err(|e| Error::io(Path::new("tokio runtime"), "starting", e))?;
    let result = rt.block_on(serve(config, loaded));
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn serve(config: Config, loaded: Loaded) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let shown_addr = config.addr.to_string();
    let sig_err = |e| Error::io(Path::new("signal handler"), "installing", e);
    // Installed before anything is printed, so a signal sent as soon as the server says
    // it is listening is handled, never the default action.
    let mut hup = signal(SignalKind::hangup()).map_err(sig_err)?;
    let mut term = signal(SignalKind::terminate()).map_err(sig_err)?;
    let mut int = signal(SignalKind::interrupt()).map_err(sig_err)?;

    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| Error::io(Path::new(&shown_addr), "binding", e))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::io(Path::new(&shown_addr), "binding", e))?;
    if let Some(w) = exposure_warning(&local, config.token.is_some()) {
        eprintln!("{w}");
    }
    let app = Arc::new(App {
        current: RwLock::new(Arc::new(loaded)),
        metrics: Metrics::default(),
        token_digest: config.token.as_deref().map(|t| sha256(t.as_bytes())),
        max_body: config.max_body,
        model_path: config.model_path.clone(),
        budget: conn::Budget::new(config.limits.memory_budget),
    });
    conn::raise_fd_limit(config.limits.max_connections);
    {
        let l = &config.limits;
        *app.metrics.limits.lock().unwrap_or_else(|e| e.into_inner()) = vec![
            (
                "cardseg_limit_max_connections",
                "Configured --max-connections.",
                l.max_connections as u64,
            ),
            (
                "cardseg_limit_header_timeout_seconds",
                "Configured --header-timeout.",
                l.header_timeout.as_secs(),
            ),
            (
                "cardseg_limit_idle_timeout_seconds",
                "Configured --idle-timeout.",
                l.idle_timeout.as_secs(),
            ),
            (
                "cardseg_limit_memory_budget_bytes",
                "Configured --memory-budget.",
                l.memory_budget as u64,
            ),
            (
                "cardseg_limit_max_body_bytes",
                "Configured --max-body.",
                config.max_body as u64,
            ),
        ];
    }
    {
        let l = app.current();
        eprintln!(
            "serving model {} ({}, k={}, features {})",
            config.model_path.display(),
            l.checksum,
            l.model.k,
            l.model.features.join(",")
        );
    }

    let reloader = app.clone();
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            reload(&reloader).await;
        }
    });

    let shutdown_started = Arc::new(tokio::sync::Notify::new());
    let started = shutdown_started.clone();
    let signal_future = async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        eprintln!("{name}: shutting down; finishing in-flight requests");
        started.notify_one();
    };
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{local}");
        let _ = out.flush();
    }
    let server = conn::serve_connections(
        listener,
        router(app.clone()),
        config.limits,
        app,
        signal_future,
    );
    tokio::select! {
        () = server => {},
        _ = async {
            shutdown_started.notified().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            eprintln!("shutdown: requests still in flight after {} s; exiting anyway", SHUTDOWN_GRACE.as_secs());
        }
    }
    eprintln!("stopped");
    Ok(())
}

/// The start-up warning for a server that other machines can reach without a token.
pub fn exposure_warning(addr: &SocketAddr, has_token: bool) -> Option<String> {
    (!addr.ip().is_loopback() && !has_token).then(|| {
        format!(
            "warning: serving on {addr}, which other machines can reach, without a token; anyone who can connect can score customers and read the model (set --token-env, and put a TLS proxy in front)"
        )
    })
}

/// SIGHUP: load the model file again; swap it in only if it loads and verifies.
async fn reload(app: &Arc<App>) {
    let path = app.model_path.clone();
    let max_body = app.max_body;
    let old = app.current().checksum.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        Model::load(&path).map(|(model, checksum)| Loaded::new(model, checksum, &path, max_body))
    })
    .await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clean::MissingPolicy;
    use tower::ServiceExt;

    /// Two features A and B on 0..10, two segments at scaled (0, 0) and (1, 1).
    fn tiny_model(policy: MissingPolicy) -> Model {
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

    fn loaded(policy: MissingPolicy) -> Arc<Loaded> {
        Arc::new(Loaded::new(
            tiny_model(policy),
            "sha256:test".into(),
            Path::new("m.json"),
            1 << 20,
        ))
    }

    fn json_of(s: Scored) -> serde_json::Value {
        let bytes = futures_bytes(s.body);
        serde_json::from_slice(&bytes).unwrap()
    }

    fn futures_bytes(body: Body) -> Vec<u8> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async { body.collect().await.unwrap().to_bytes().to_vec() })
    }

    #[test]
    fn json_scores_distances_fill_values_and_ids() {
        let l = loaded(MissingPolicy::Median);
        let v = json_of(
            score_json(
                &l,
                br#"[{"ID":"x","A":0,"B":"0"},{"A":10,"B":10.0,"Z":[1]},{"A":null,"B":0},{"a":1}]"#,
            )
            .unwrap(),
        );
        assert_eq!(v["customers"], 4);
        assert_eq!(v["scored"], 3);
        let r = &v["results"];
        assert_eq!(r[0]["id"], "x");
        assert_eq!(r[0]["segment"], 1);
        assert_eq!(r[0]["distance"], 0.0);
        assert_eq!(r[0]["second_distance"], 2f64.sqrt());
        assert_eq!(r[1]["id"], "1");
        assert_eq!(r[1]["segment"], 2);
        assert_eq!(r[1]["segment_name"], "High, \"quoted\"");
        // A missing, filled with 5 -> scaled 0.5; B 0: nearer segment 1.
        assert_eq!(r[2]["segment"], 1);
        assert_eq!(r[2]["distance"], 0.5);
        assert_eq!(r[2]["imputed"], serde_json::json!(["A"]));
        assert!(r[0].get("imputed").is_none());
        // No feature at all (only a wrong-case key): an error item with a did-you-mean.
        assert!(r[3]["segment"].is_null());
        let e = r[3]["error"].as_str().unwrap();
        assert!(
            e.contains("none of the model's features") && e.contains("did you mean \"A\""),
            "{e}"
        );
        let one = json_of(score_json(&l, br#"{"A":"1e1","B":10}"#).unwrap());
        assert_eq!(one["results"][0]["segment"], 2);
    }

    #[test]
    fn drop_policy_marks_unscorable_customers() {
        let l = loaded(MissingPolicy::Drop);
        let v = json_of(score_json(&l, br#"[{"A":1,"B":1},{"B":1}]"#).unwrap());
        assert_eq!(v["scored"], 1);
        assert!(v["results"][1]["segment"].is_null());
        assert!(v["results"][1]["error"]
            .as_str()
            .unwrap()
            .starts_with("missing A;"));
        let csv = futures_bytes(
            score_csv(l.clone(), b"ID,A,B\np,1,1\nq,,1\n", 1 << 20)
                .unwrap()
                .body,
        );
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "ID,segment,segment_name,distance,second_distance,distance_percentile,outlier\np,1,Low,0.14142135623730953,1.2727922061357855,,\nq,,,,,,\n"
        );
    }

    #[test]
    fn csv_answers_stream_in_chunks_and_quote_like_predict() {
        let l = loaded(MissingPolicy::Median);
        let mut body = b"ID,A,B\n".to_vec();
        for i in 0..5000 {
            body.extend_from_slice(format!("c{i},9,9\n").as_bytes());
        }
        let s = score_csv(l.clone(), &body, 1 << 20).unwrap();
        assert_eq!((s.scored, s.unscored), (5000, 0));
        let text = String::from_utf8(futures_bytes(s.body)).unwrap();
        assert_eq!(text.lines().count(), 5001);
        assert!(
            text.lines()
                .nth(1)
                .unwrap()
                .starts_with("c0,2,\"High, \"\"quoted\"\"\",0.1414"),
            "{text:.200}"
        );
        let mut chunks =
            csv_answer::CsvAnswer::new(l, crate::table::Ids::default(), Vec::new(), Vec::new());
        assert!(chunks.next_chunk().is_some());
        assert!(chunks.next_chunk().is_none());
    }

    #[test]
    fn content_types_and_encodings() {
        let h = |pairs: &[(&str, &str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(
                    header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            m
        };
        assert_eq!(
            body_kind(&h(&[("content-type", "application/json")])),
            Ok(BodyKind::Json)
        );
        assert_eq!(
            body_kind(&h(&[("content-type", "Application/JSON; charset=utf-8")])),
            Ok(BodyKind::Json)
        );
        assert_eq!(
            body_kind(&h(&[("content-type", "text/csv")])),
            Ok(BodyKind::Csv)
        );
        for bad in [
            h(&[]),
            h(&[("content-type", "text/plain")]),
            h(&[("content-type", "text/csv"), ("content-encoding", "br")]),
        ] {
            assert_eq!(
                body_kind(&bad).unwrap_err().status,
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            );
        }
    }

    #[test]
    fn token_digests_and_exposure_warning() {
        assert!(digests_equal(&sha256(b"abc"), &sha256(b"abc")));
        assert!(!digests_equal(&sha256(b"abc"), &sha256(b"abd")));
        assert!(!digests_equal(&sha256(b"abc"), &sha256(b"abcabc")));
        assert!(exposure_warning(&"127.0.0.1:1".parse().unwrap(), false).is_none());
        assert!(exposure_warning(&"[::1]:1".parse().unwrap(), false).is_none());
        assert!(exposure_warning(&"0.0.0.0:1".parse().unwrap(), true).is_none());
        let w = exposure_warning(&"0.0.0.0:8080".parse().unwrap(), false).unwrap();
        assert!(
            w.starts_with("warning: serving on 0.0.0.0:8080") && w.contains("--token-env"),
            "{w}"
        );
    }

    #[test]
    fn a_panicking_handler_is_answered_500_and_counted() {
        let app = Arc::new(App {
            current: RwLock::new(loaded(MissingPolicy::Median)),
            metrics: Metrics::default(),
            token_digest: None,
            max_body: 1 << 20,
            model_path: PathBuf::from("m.json"),
            budget: conn::Budget::new(1 << 20),
        });
        let router = Router::new()
            .route(
                "/boom",
                get(|| async {
                    if std::hint::black_box(true) {
                        panic!("deliberate test panic");
                    }
                    "unreachable"
                }),
            )
            .layer(middleware::from_fn_with_state(app.clone(), observe))
            .with_state(app.clone());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let response = rt
            .block_on(router.oneshot(Request::builder().uri("/boom").body(Body::empty()).unwrap()))
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = rt
            .block_on(response.into_body().collect())
            .unwrap()
            .to_bytes();
        assert!(String::from_utf8_lossy(&body).contains("still running"));
        let text = app.metrics.render("c", 0);
        assert!(text.contains("cardseg_panics_total 1"), "{text}");
        assert!(
            text.contains("cardseg_http_requests_total{route=\"other\",status=\"500\"} 1"),
            "{text}"
        );
    }
}
