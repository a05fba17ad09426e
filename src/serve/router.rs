//! The routes of `cardseg serve` and their handlers. Each handler returns
//! `Result<_, ApiError>`, so a refused request is one `?` away from its JSON answer.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use serde::Serialize;

use super::body::{announced_len, body_kind, gunzip_len, is_gzip, read_body, BodyKind};
use super::budget::ReservedBody;
use super::errors::{json_response, ApiError};
use super::layers::{auth, observe, Served};
use super::metrics::known_paths;
use super::score::{score_csv, score_json};
use super::state::App;
use super::{CSV_COST_FACTOR, INLINE_BYTES, JSON_COST_FACTOR};

/// Every route of [`ROUTES`](super::metrics::ROUTES) behind the token check, all behind the outer layer (panics,
/// JSON errors, request ids, metrics, access log). The router serves exactly that list, so
/// the metrics' route labels and the OpenAPI document (tested against it) cannot miss one.
pub(super) fn router(app: Arc<App>) -> Router {
    let mut r = Router::new();
    for path in known_paths() {
        r = r.route(path, handler(path));
    }
    r.fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), auth))
        .layer(middleware::from_fn_with_state(app.clone(), observe))
        .with_state(app)
}

/// The method and handler of each path of [`ROUTES`](super::metrics::ROUTES).
fn handler(path: &str) -> MethodRouter<Arc<App>> {
    match path {
        "/v1/score" => post(score),
        "/v1/model" => get(model_route),
        "/healthz" => get(healthz),
        "/metrics" => get(metrics_route),
        "/livez" => get(livez),
        "/readyz" => get(readyz),
        "/openapi.json" => get(openapi),
        // A path added to ROUTES without a handler: the router test fails on its 404.
        _ => get(not_found),
    }
}

/// A response with `body` and a fixed `Content-Type`.
fn typed(body: Body, content_type: &'static str) -> Response {
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A request that announces no body length: HTTP/1.1 then has no body, and anything the
/// client sends after the head would be read as the next request.
fn length_required(req: &Request) -> bool {
    use axum::body::HttpBody as _;
    let h = req.headers();
    !h.contains_key(header::CONTENT_LENGTH)
        && !h.contains_key(header::TRANSFER_ENCODING)
        && req.body().size_hint().exact() == Some(0)
}

/// `POST /v1/score`: reserves room in the memory budget for the body, reads it, reserves
/// room for the work of scoring it, then scores it (large bodies on the blocking pool).
async fn score(State(app): State<Arc<App>>, req: Request) -> Result<Response, ApiError> {
    if length_required(&req) {
        let mut r = ApiError::new(
            StatusCode::LENGTH_REQUIRED,
            "the request has neither Content-Length nor Transfer-Encoding, so its body cannot be told apart from the next request; send Content-Length or Transfer-Encoding: chunked",
        )
        .into_response();
        // Body bytes may follow: they must not be read as another request.
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Ok(r);
    }
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
    let scored_by = loaded.clone();
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
            app.log
                .event("serve: internal error while scoring a request; answered 500");
            ApiError::internal()
        })??
    };
    app.metrics.scored(s.scored, s.unscored);
    app.metrics.imputed(s.imputed);
    // The reservation lasts until the answer is sent (or the client goes away).
    let mut r = typed(
        Body::new(ReservedBody::new(s.body, reservation)),
        s.content_type,
    );
    r.extensions_mut().insert(Served {
        customers: s.scored + s.unscored,
        model: scored_by,
    });
    Ok(r)
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

/// The answer of `GET /livez` and `GET /readyz`.
#[derive(Serialize)]
struct Probe {
    status: &'static str,
}

/// `GET /livez`: the process answers (needs no token, tells nothing about the model).
async fn livez() -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        br#"{"status":"ok"}"#.to_vec(),
    ))
}

/// `GET /readyz`: 200 while the server takes new work, 503 from SIGTERM on (needs no
/// token, tells nothing about the model).
async fn readyz(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let (status, body) = if app.draining.load(Relaxed) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Probe { status: "draining" },
        )
    } else {
        (StatusCode::OK, Probe { status: "ready" })
    };
    Ok(json_response(
        status,
        serde_json::to_vec(&body).unwrap_or_default(),
    ))
}

/// `GET /openapi.json`: the OpenAPI document of every route (the same for every model).
async fn openapi() -> Result<Response, ApiError> {
    Ok(typed(
        Body::from(super::openapi::document_bytes()),
        "application/json",
    ))
}

/// `GET /metrics`: the Prometheus text exposition.
async fn metrics_route(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let loaded = app.current();
    let text = app.metrics.render(&loaded.labels());
    Ok(typed(
        Body::from(text),
        "text/plain; version=0.0.4; charset=utf-8",
    ))
}

/// Any other path: 404 naming the routes there are.
async fn not_found() -> Result<Response, ApiError> {
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint; the API has POST /v1/score, GET /v1/model, GET /healthz, GET /livez, GET /readyz, GET /metrics and GET /openapi.json",
    ))
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::super::state::fixtures::app;
    use super::*;

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
        // No Content-Length, no Transfer-Encoding: the body cannot be framed.
        let (s, h, body) = call(
            &app,
            "POST",
            "/v1/score",
            &[("content-type", "application/json")],
            "",
        );
        assert_eq!(s, StatusCode::LENGTH_REQUIRED, "{body}");
        assert_eq!(h[header::CONNECTION], "close");
        assert!(
            body.contains("send Content-Length or Transfer-Encoding: chunked"),
            "{body}"
        );
        let (s, _, body) = call(
            &app,
            "POST",
            "/v1/score",
            &[
                ("content-type", "application/json"),
                ("content-length", "0"),
            ],
            "",
        );
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
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
        let text = app.metrics.render(&app.current().labels());
        assert!(text.contains("cardseg_customers_scored_total 2"), "{text}");
    }

    #[test]
    fn every_route_is_in_the_openapi_document_and_answers_as_it_says() {
        let app = app(None);
        let doc = super::super::openapi::document();
        let ops = super::super::openapi::operations(&doc);
        assert_eq!(ops.len(), super::super::openapi::route_paths().len());
        for (method, path) in ops {
            let body = if method == "POST" { r#"{"A":1}"# } else { "" };
            let (s, h, _) = call(
                &app,
                &method,
                &path,
                &[
                    ("content-type", "application/json"),
                    ("x-request-id", "t-1"),
                ],
                body,
            );
            let documented = &doc["paths"][&path][method.to_lowercase()]["responses"][s.as_str()];
            assert!(
                documented.is_object(),
                "{method} {path}: {s} is not documented"
            );
            assert_eq!(h["x-request-id"], "t-1");
        }
        assert_eq!(
            call(&app, "GET", "/nowhere", &[], "").0,
            StatusCode::NOT_FOUND
        );
        assert!(doc["components"]["responses"]["NotFound"].is_object());
        let description = doc["info"]["description"].as_str().unwrap();
        assert!(description.contains("answers HEAD"), "{description}");
        for (method, path) in super::super::openapi::operations(&doc) {
            let responses = &doc["paths"][&path][method.to_lowercase()]["responses"];
            for status in ["400", "414", "431"] {
                assert!(
                    responses[status].is_object(),
                    "{method} {path}: {status} is not documented"
                );
            }
            // HEAD is served wherever GET is, with the GET's status.
            if method == "GET" {
                let (s, h, body) = call(&app, "HEAD", &path, &[], "");
                assert_eq!(s, StatusCode::OK, "HEAD {path}");
                assert!(
                    body.is_empty() && h.contains_key("x-request-id"),
                    "HEAD {path}"
                );
            }
        }
    }

    #[test]
    fn probes_need_no_token_and_readyz_turns_503_when_draining() {
        let app = app(Some("s3cret"));
        for path in ["/livez", "/readyz", "/healthz", "/openapi.json"] {
            assert_eq!(call(&app, "GET", path, &[], "").0, StatusCode::OK, "{path}");
        }
        let (s, _, body) = call(&app, "GET", "/readyz", &[], "");
        assert_eq!(
            (s, body.as_str()),
            (StatusCode::OK, r#"{"status":"ready"}"#)
        );
        app.draining.store(true, Relaxed);
        let (s, h, body) = call(&app, "GET", "/readyz", &[], "");
        assert_eq!(
            (s, body.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"draining"}"#)
        );
        assert_eq!(h[header::CONNECTION], "close");
        let (s, h, _) = call(&app, "GET", "/livez", &[], "");
        assert_eq!(
            (s, h[header::CONNECTION].as_bytes()),
            (StatusCode::OK, &b"close"[..])
        );
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
