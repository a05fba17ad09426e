//! Scoring parsed requests: a JSON batch or a CSV file becomes columns for
//! [`crate::predict::score_columns`] (the code path of `cardseg predict`, so both give
//! every customer the same segment), and the labels become the answer: JSON with a result
//! per customer (errors and imputed features named), or CSV streamed by
//! [`CsvAnswer`](super::csv_answer::CsvAnswer).

use std::sync::Arc;

use axum::body::Body;
use axum::http::StatusCode;
use serde::Serialize;

use super::body::{gunzip_bounded, is_gzip};
use super::csv_answer::CsvAnswer;
use super::errors::ApiError;
use super::parse;
use super::state::Loaded;
use super::MAX_CUSTOMERS_PER_REQUEST;
use crate::model::Model;
use crate::predict::{read_spec, score_columns, Scores};
use crate::table::Table;

/// One scored request: the response body and counts for the metrics.
pub struct Scored {
    /// The answer (a CSV answer is formatted while it is sent).
    pub body: Body,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Customers given a segment.
    pub scored: usize,
    /// Customers that could not be scored (each says why in a JSON answer).
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
pub fn score_json(loaded: &Loaded, body: &[u8]) -> Result<Scored, ApiError> {
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

/// A CSV body's read error as the client's 400. A missing column's message ends by naming
/// the command-line flag that picks another column; an HTTP client has none, so it is told
/// which columns to send instead.
fn csv_read_error(e: crate::error::Error, model: &Model) -> ApiError {
    let message = e.to_string();
    let Some((what, flag)) = message.split_once("; name the right column with ") else {
        return e.into();
    };
    let fix = match &model.id_column {
        Some(id) if flag.starts_with("--id-column") => {
            format!("name the id column {id} exactly, or leave it out and the rows are numbered")
        }
        id => {
            let columns: Vec<&str> = id
                .iter()
                .chain(&model.features)
                .map(String::as_str)
                .collect();
            format!(
                "send a header row with the model's columns: {} (GET /v1/model lists them; the id column is optional)",
                columns.join(", ")
            )
        }
    };
    ApiError::new(StatusCode::BAD_REQUEST, format!("{what}; {fix}"))
}

/// Scores a CSV body: the first three output columns are exactly `cardseg predict`'s
/// (`ID,segment,segment_name`), then `distance,second_distance,distance_percentile,outlier`. A gzip-compressed body is
/// decompressed first, to at most `max_body` bytes (a small "gzip bomb" cannot fill memory).
pub fn score_csv(loaded: Arc<Loaded>, body: &[u8], max_body: usize) -> Result<Scored, ApiError> {
    let model = &loaded.model;
    let inflated;
    let body = if is_gzip(body) {
        inflated = gunzip_bounded(body, max_body)?;
        &inflated[..]
    } else {
        body
    };
    let table = crate::ingest::csv::read_bytes(body, "request body", &read_spec(model, None))
        .map_err(|e| csv_read_error(e, model))?;
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
        body: Body::new(CsvAnswer::new(loaded.clone(), ids, labels, distances)),
        content_type: "text/csv; charset=utf-8",
        scored,
        unscored,
        imputed,
    })
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::super::state::fixtures::loaded;
    use super::*;
    use crate::clean::MissingPolicy;

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
        let mut chunks = CsvAnswer::new(l, crate::table::Ids::default(), Vec::new(), Vec::new());
        assert!(chunks.next_chunk().is_some());
        assert!(chunks.next_chunk().is_none());
    }
}
