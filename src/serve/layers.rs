//! The middleware around every route: the bearer-token check (`auth`) and the outer
//! layer (`observe`) that catches panics, turns axum's own plain-text errors into JSON
//! ones and records the metrics of every answer.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::errors::ApiError;
use super::state::App;

/// SHA-256 of `bytes`: tokens are compared by digest.
pub(super) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Compares two digests in time independent of where they differ. Comparing digests
/// rather than the tokens also hides the token's length.
fn digests_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Requires `Authorization: Bearer TOKEN` on every route but /healthz, when a token is set.
pub(super) async fn auth(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
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
pub(super) async fn observe(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
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
            ApiError::internal().into_response()
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

#[cfg(test)]
mod tests {
    use std::sync::RwLock;

    use axum::body::Body;
    use axum::routing::get;
    use axum::{middleware, Router};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::super::budget::Budget;
    use super::super::metrics::Metrics;
    use super::super::state::fixtures::loaded;
    use super::*;
    use crate::clean::MissingPolicy;

    #[test]
    fn token_digests() {
        assert!(digests_equal(&sha256(b"abc"), &sha256(b"abc")));
        assert!(!digests_equal(&sha256(b"abc"), &sha256(b"abd")));
        assert!(!digests_equal(&sha256(b"abc"), &sha256(b"abcabc")));
    }

    #[test]
    fn a_panicking_handler_is_answered_500_and_counted() {
        let app = Arc::new(App {
            current: RwLock::new(loaded(MissingPolicy::Median)),
            metrics: Arc::new(Metrics::default()),
            token_digest: None,
            max_body: 1 << 20,
            model_path: "m.json".into(),
            budget: Budget::new(1 << 20),
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
