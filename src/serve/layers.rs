//! The middleware around every route: the bearer-token check (`auth`) and the outer
//! layer (`observe`) that catches panics, turns axum's own plain-text errors into JSON
//! ones, gives every request an id (echoed in `X-Request-Id`), closes connections while
//! draining, records the metrics and writes the access-log line of every answer.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::{accepts, sha256};
use super::errors::ApiError;
use super::log::{valid_request_id, Access};
use super::metrics::route_label;
use super::state::{App, Loaded};

/// The header that carries a request's id, in and out.
pub(super) static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the scoring handler tells the access log: the customers of the request and the
/// model that scored them (which a reload may have replaced since).
#[derive(Clone)]
pub(super) struct Served {
    pub(super) customers: usize,
    pub(super) model: Arc<Loaded>,
}

/// Requires `Authorization: Bearer TOKEN` on the routes that need one (see
/// [`super::auth::Tokens::for_path`]).
pub(super) async fn auth(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let tokens = app.tokens();
    if let Some(wanted) = tokens.for_path(req.uri().path()) {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| sha256(t.trim().as_bytes()));
        let ok = presented.is_some_and(|p| accepts(wanted, &p));
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

/// The request's id: the client's `X-Request-Id` when it is a sensible one, else a new one.
fn request_id(app: &App, req: &Request) -> HeaderValue {
    match req.headers().get(&REQUEST_ID) {
        Some(v) if valid_request_id(v.as_bytes()) => v.clone(),
        _ => HeaderValue::from_bytes(&app.ids.next()).unwrap_or(HeaderValue::from_static("-")),
    }
}

/// Outermost layer: catches panics, turns any non-JSON error response (axum's own 405,
/// say) into a JSON one, echoes the request id, closes the connection while draining,
/// records the metrics and writes the access-log line.
pub(super) async fn observe(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = route_label(req.uri().path());
    let method = req.method().clone();
    let id = request_id(&app, &req);
    let mut response = match (CatchPanic {
        inner: Box::pin(next.run(req)),
    })
    .await
    {
        Ok(r) => r,
        Err(()) => {
            app.metrics.panicked();
            app.log.event(&format!(
                "serve: internal error while handling {method} {route}; answered 500"
            ));
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
                let allow = if route == "/v1/score" {
                    "POST"
                } else {
                    "GET, HEAD"
                };
                format!("method {method} is not allowed on {route}; use {allow}")
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
    let elapsed = start.elapsed();
    let status = response.status().as_u16();
    app.metrics.record(route, status, elapsed);
    let served = response.extensions_mut().remove::<Served>();
    let model = served
        .as_ref()
        .map_or_else(|| app.current(), |s| s.model.clone());
    app.log.access(&Access {
        request_id: id.to_str().unwrap_or("-"),
        method: method.as_str(),
        route,
        status,
        customers: served.as_ref().map_or(0, |s| s.customers),
        duration: elapsed,
        model_checksum: &model.checksum,
    });
    let headers = response.headers_mut();
    headers.insert(REQUEST_ID.clone(), id);
    if app.draining.load(Relaxed) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use axum::{middleware, Router};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::super::state::fixtures;
    use super::*;

    #[test]
    fn a_panicking_handler_is_answered_500_and_counted() {
        let app = fixtures::app(None);
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
        let text = app.metrics.render(&app.current().labels());
        assert!(text.contains("cardseg_panics_total 1"), "{text}");
        assert!(
            text.contains("cardseg_http_requests_total{route=\"other\",status=\"500\"} 1"),
            "{text}"
        );
    }
}
