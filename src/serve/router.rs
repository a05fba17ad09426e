//! The routes of `cardseg serve` and their handlers. Each handler returns
//! `Result<_, ApiError>`, so a refused request is one `?` away from its JSON answer.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;

use super::body::{announced_len, body_kind, gunzip_len, is_gzip, read_body, BodyKind};
use super::budget::ReservedBody;
use super::errors::{json_response, ApiError};
use super::layers::{auth, observe};
use super::score::{score_csv, score_json};
use super::state::App;
use super::{CSV_COST_FACTOR, INLINE_BYTES, JSON_COST_FACTOR};

/// Every route behind the token check, all behind the outer layer (panics, JSON errors,
/// metrics).
pub(super) fn router(app: Arc<App>) -> Router {
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

/// A response with `body` and a fixed `Content-Type`.
fn typed(body: Body, content_type: &'static str) -> Response {
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// `POST /v1/score`: reserves room in the memory budget for the body, reads it, reserves
/// room for the work of scoring it, then scores it (large bodies on the blocking pool).
async fn score(State(app): State<Arc<App>>, req: Request) -> Result<Response, ApiError> {
    let kind = body_kind(req.headers())?;
    // Room for the body before it is read: its announced length, or the most it may be.
    let announced = announced_len(req.headers(), app.max_body);
    let mut reservation = app.budget.reserve(announced, &app.metrics).await?;
    let body = read_body(req, app.max_body).await?;
    // Then room for the work: a gzip body is measured decompressed (without keeping it).
    let work = match kind {
        BodyKind::Json => body.len().saturating_mul(JSON_COST_FACTOR),
        BodyKind::Csv if is_gzip(&body) => {
            let (b, max) = (body.clone(), app.max_body);
            let n = tokio::task::spawn_blocking(move || gunzip_len(&b, max))
                .await
                .map_err(|_| ApiError::internal())??;
            (n + body.len()).saturating_mul(CSV_COST_FACTOR)
        }
        BodyKind::Csv => body.len().saturating_mul(CSV_COST_FACTOR),
    };
    app.budget
        .grow(&mut reservation, work, &app.metrics)
        .await?;
    // One model for the whole request, even if a reload lands meanwhile.
    let loaded = app.current();
    let small = body.len() <= INLINE_BYTES && !is_gzip(&body);
    let max_body = app.max_body;
    let work = move || match kind {
        BodyKind::Json => score_json(&loaded, &body),
        BodyKind::Csv => score_csv(loaded, &body, max_body),
    };
    // Small requests are microseconds of work; large ones must not stall the workers.
    let s = if small {
        work()?
    } else {
        tokio::task::spawn_blocking(work).await.map_err(|_| {
            app.metrics.panicked();
            eprintln!("serve: internal error while scoring a request; answered 500");
            ApiError::internal()
        })??
    };
    app.metrics.scored(s.scored, s.unscored);
    app.metrics.imputed(s.imputed);
    // The reservation lasts until the answer is sent (or the client goes away).
    Ok(typed(
        Body::new(ReservedBody::new(s.body, reservation)),
        s.content_type,
    ))
}

/// `GET /v1/model`: the answer prepared when the model was loaded.
async fn model_route(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let loaded = app.current();
    Ok(typed(Body::from(loaded.info.clone()), "application/json"))
}

/// The answer of `GET /healthz` (keys in alphabetical order, as always).
#[derive(Serialize)]
struct Health<'a> {
    model_checksum: &'a str,
    status: &'static str,
}

/// `GET /healthz`: up, and which model it serves (needs no token).
async fn healthz(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let loaded = app.current();
    let body = Health {
        model_checksum: &loaded.checksum,
        status: "ok",
    };
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    ))
}

/// `GET /metrics`: the Prometheus text exposition.
async fn metrics_route(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let loaded = app.current();
    let text = app.metrics.render(&loaded.checksum, loaded.loaded_unix);
    Ok(typed(
        Body::from(text),
        "text/plain; version=0.0.4; charset=utf-8",
    ))
}

/// Any other path: 404 naming the routes there are.
async fn not_found() -> Result<Response, ApiError> {
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint; the API has POST /v1/score, GET /v1/model, GET /healthz and GET /metrics",
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::RwLock;

    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::super::budget::Budget;
    use super::super::layers::sha256;
    use super::super::metrics::Metrics;
    use super::super::state::fixtures::loaded;
    use super::*;
    use crate::clean::MissingPolicy;

    fn app(token: Option<&str>) -> Arc<App> {
        Arc::new(App {
            current: RwLock::new(loaded(MissingPolicy::Median)),
            metrics: Arc::new(Metrics::default()),
            token_digest: token.map(|t| sha256(t.as_bytes())),
            max_body: 1 << 20,
            model_path: "m.json".into(),
            budget: Budget::new(1 << 20),
        })
    }

    /// Status, headers and body of one request through the whole router.
    fn call(
        app: &Arc<App>,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &'static str,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let r = rt
            .block_on(router(app.clone()).oneshot(req.body(Body::from(body)).unwrap()))
            .unwrap();
        let (parts, body) = r.into_parts();
        let bytes = rt.block_on(body.collect()).unwrap().to_bytes();
        (
            parts.status,
            parts.headers,
            String::from_utf8(bytes.to_vec()).unwrap(),
        )
    }

    #[test]
    fn routes_answer_and_refuse_with_json() {
        let app = app(None);
        let (s, h, body) = call(&app, "GET", "/healthz", &[], "");
        assert_eq!(
            (s, h[header::CONTENT_TYPE].as_bytes()),
            (StatusCode::OK, &b"application/json"[..])
        );
        assert_eq!(body, r#"{"model_checksum":"sha256:test","status":"ok"}"#);
        let (s, _, body) = call(&app, "GET", "/v1/model", &[], "");
        assert_eq!(s, StatusCode::OK);
        assert_eq!(body.as_bytes(), &app.current().info[..]);
        let (s, h, body) = call(
            &app,
            "POST",
            "/v1/score",
            &[("content-type", "application/json")],
            r#"{"ID":"x","A":10,"B":10}"#,
        );
        assert_eq!(s, StatusCode::OK);
        assert_eq!(h[header::CONTENT_TYPE], "application/json");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["results"][0]["segment"], 2);
        let (s, _, body) = call(
            &app,
            "POST",
            "/v1/score",
            &[("content-type", "text/csv")],
            "ID,A,B\nx,10,10\n",
        );
        assert_eq!(s, StatusCode::OK);
        assert!(
            body.starts_with("ID,segment,") && body.contains("\nx,2,"),
            "{body}"
        );
        let (s, _, body) = call(&app, "POST", "/v1/score", &[], "{}");
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(
            body.starts_with(r#"{"error":"the request has no Content-Type"#),
            "{body}"
        );
        let (s, _, body) = call(
            &app,
            "POST",
            "/v1/score",
            &[("content-type", "application/json")],
            r#"[{"A":"x"}]"#,
        );
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (v["index"].as_u64(), v["field"].as_str()),
            (Some(0), Some("A"))
        );
        let (s, _, body) = call(&app, "GET", "/nowhere", &[], "");
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert!(body.contains("POST /v1/score, GET /v1/model"), "{body}");
        let (s, h, body) = call(&app, "DELETE", "/v1/score", &[], "");
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(h[header::ALLOW], "POST");
        assert_eq!(
            body,
            r#"{"error":"method DELETE is not allowed on /v1/score; use POST"}"#
        );
        let text = app.metrics.render("c", 0);
        assert!(text.contains("cardseg_customers_scored_total 2"), "{text}");
    }

    #[test]
    fn the_token_is_required_except_for_healthz() {
        let app = app(Some("s3cret"));
        assert_eq!(call(&app, "GET", "/healthz", &[], "").0, StatusCode::OK);
        let (s, h, body) = call(&app, "GET", "/v1/model", &[], "");
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(h[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(h[header::CONTENT_TYPE], "application/json");
        assert!(body.contains("Authorization: Bearer TOKEN"), "{body}");
        let wrong = [("authorization", "Bearer s3cre")];
        assert_eq!(
            call(&app, "GET", "/v1/model", &wrong, "").0,
            StatusCode::UNAUTHORIZED
        );
        let right = [("authorization", "bearer  s3cret ")];
        assert_eq!(call(&app, "GET", "/v1/model", &right, "").0, StatusCode::OK);
    }
}
