//! The one error type of the HTTP layer: every refused request is answered by an
//! [`ApiError`], as JSON `{"error": "...", "index": N, "field": "..."}` (the last two only
//! when a customer's field was at fault) with a fitting status. Handlers return
//! `Result<_, ApiError>` and use `?`; library errors and JSON parse errors convert by `From`.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::parse::ParseError;
use crate::error::Error;

/// A refused request: status and a one-line message, plus where in the body it went wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status of the answer.
    pub status: StatusCode,
    /// One line saying what was wrong and what to do (the answer's `error`).
    pub message: String,
    /// The index of the customer at fault in a JSON batch (the answer's `index`).
    pub index: Option<usize>,
    /// The name of the field at fault (the answer's `field`).
    pub field: Option<String>,
}

impl ApiError {
    /// An error about the request as a whole (no customer index or field).
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            index: None,
            field: None,
        }
    }

    /// The 500 answer for a handler that panicked or lost its worker: the client learns the
    /// server is still up, the log has the details.
    pub fn internal() -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error while handling this request; it was logged and the server is still running",
        )
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

impl ApiError {
    /// The JSON body of the answer.
    pub fn body(&self) -> Vec<u8> {
        let body = ErrorBody {
            error: &self.message,
            index: self.index,
            field: self.field.as_deref(),
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        json_response(self.status, body)
    }
}

/// A response with `body` as `application/json` (the type every error answer carries,
/// which the outer layer relies on to tell ours from axum's plain-text ones).
pub(super) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

impl From<ParseError> for ApiError {
    fn from(e: ParseError) -> Self {
        let message = e.to_string();
        match e {
            ParseError::Field { index, field, .. } => ApiError {
                status: StatusCode::BAD_REQUEST,
                message,
                index: Some(index),
                field: Some(field),
            },
            ParseError::TooMany { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message),
            ParseError::Body(_) => ApiError::new(StatusCode::BAD_REQUEST, message),
        }
    }
}

/// Inside a request, the library only reads the request's own data (a CSV body), so its
/// errors are the client's: 400 with the library's one-line message.
impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn answer(e: ApiError) -> (StatusCode, String, String) {
        let r = e.into_response();
        let status = r.status();
        let ct = r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let body = rt.block_on(r.into_body().collect()).unwrap().to_bytes();
        (status, ct, String::from_utf8(body.to_vec()).unwrap())
    }

    #[test]
    fn errors_are_json_with_index_and_field_only_when_known() {
        let (s, ct, body) = answer(ApiError::new(StatusCode::NOT_FOUND, "no \"such\" thing"));
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(ct, "application/json");
        assert_eq!(body, r#"{"error":"no \"such\" thing"}"#);
        let field = ApiError::from(ParseError::Field {
            index: 3,
            field: "BALANCE".into(),
            message: "bad".into(),
        });
        assert_eq!(field.status, StatusCode::BAD_REQUEST);
        let (_, _, body) = answer(field.clone());
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["index"], 3);
        assert_eq!(v["field"], "BALANCE");
        assert_eq!(v["error"], field.message.as_str());
        assert_eq!(
            ApiError::from(ParseError::TooMany { limit: 2 }).status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        let lib = ApiError::from(Error::usage("one line"));
        assert_eq!(
            (lib.status, lib.message.as_str()),
            (StatusCode::BAD_REQUEST, "one line")
        );
        assert_eq!(
            ApiError::internal().status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
