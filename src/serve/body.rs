//! Reading a scoring request's body: which format it is (content type and encoding), the
//! size limit (`--max-body`, before and while it arrives), the time limit, and gzip CSV
//! bodies, whose decompressed size is bounded too (a small "gzip bomb" cannot fill memory).

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::errors::ApiError;
use super::BODY_TIMEOUT;

/// The body format of a scoring request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BodyKind {
    /// `application/json`: one customer object or an array of them.
    Json,
    /// `text/csv`: a CSV file with a header row, possibly gzip-compressed.
    Csv,
}

/// The format of a scoring request from its headers. A compressed transfer
/// (`Content-Encoding`) is refused: only a CSV body may be gzip data itself.
pub(super) fn body_kind(headers: &HeaderMap) -> Result<BodyKind, ApiError> {
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

/// Whether a body is gzip data (its magic number).
pub(super) fn is_gzip(body: &[u8]) -> bool {
    body.starts_with(&[0x1f, 0x8b])
}

/// Bytes to reserve for a body before it is read: its announced length, or the most it
/// may be (`max_body`) when it announces none (or more).
pub(super) fn announced_len(headers: &HeaderMap, max_body: usize) -> usize {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<usize>().ok())
        .map_or(max_body, |n| n.min(max_body))
}

/// Reads the whole body: at most `max_body` bytes (an announced larger length is refused
/// before reading), within [`BODY_TIMEOUT`].
pub(super) async fn read_body(req: Request, max_body: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than the server's limit of {max_body} bytes (--max-body); split the batch"),
        )
    };
    if let Some(len) = req.headers().get(header::CONTENT_LENGTH) {
        match len.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()) {
            Some(n) if n > max_body as u64 => return Err(too_large()),
            Some(_) => {}
            None => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "the Content-Length header is not a number",
                ))
            }
        }
    }
    let limited = Limited::new(req.into_body(), max_body);
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

fn damaged(e: std::io::Error) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        format!("request body: the gzip data is damaged or truncated ({e})"),
    )
}

fn inflated_too_large(max: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the decompressed body is larger than the server's limit of {max} bytes (--max-body); split the file"),
    )
}

/// Size of a gzip body once decompressed, at most `max` (more is refused as in
/// [`gunzip_bounded`]), measured without keeping the data.
pub(super) fn gunzip_len(body: &[u8], max: usize) -> Result<usize, ApiError> {
    let mut decoder = std::io::Read::take(flate2::read::MultiGzDecoder::new(body), max as u64 + 1);
    let n = std::io::copy(&mut decoder, &mut std::io::sink()).map_err(damaged)?;
    if n > max as u64 {
        return Err(inflated_too_large(max));
    }
    Ok(n as usize)
}

/// Decompresses a gzip body, refusing one that inflates beyond `max` bytes.
pub(super) fn gunzip_bounded(body: &[u8], max: usize) -> Result<Vec<u8>, ApiError> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut decoder = flate2::read::MultiGzDecoder::new(body).take(max as u64 + 1);
    decoder.read_to_end(&mut out).map_err(damaged)?;
    if out.len() > max {
        return Err(inflated_too_large(max));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

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
        assert_eq!(announced_len(&h(&[]), 100), 100);
        assert_eq!(announced_len(&h(&[("content-length", " 7 ")]), 100), 7);
        assert_eq!(announced_len(&h(&[("content-length", "700")]), 100), 100);
    }

    #[test]
    fn gzip_bodies_are_bounded_once_decompressed() {
        use std::io::Write;
        let text = vec![b'1'; 5000];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&text).unwrap();
        let gz = gz.finish().unwrap();
        assert!(is_gzip(&gz) && !is_gzip(&text));
        assert_eq!(gunzip_len(&gz, 5000), Ok(5000));
        assert_eq!(gunzip_bounded(&gz, 5000).unwrap(), text);
        for e in [
            gunzip_len(&gz, 4999).unwrap_err(),
            gunzip_bounded(&gz, 4999).unwrap_err(),
        ] {
            assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE);
            assert!(e.message.contains("4999 bytes"), "{}", e.message);
        }
        let e = gunzip_len(&gz[..gz.len() / 2], 5000).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("damaged or truncated"), "{}", e.message);
    }
}
