//! Small response helpers: JSON bodies, JSON errors, text with the right content type.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;

/// The content type Prometheus expects for the text exposition format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A JSON error body: `{"error": "...", "message": "..."}`.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
}

pub fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}

/// A JSON response; serialising our own plain structs cannot fail.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Full<Bytes>> {
    let mut body = serde_json::to_string(body).expect("plain structs serialise");
    body.push('\n');
    text(status, "application/json", body)
}

/// A JSON error response.
pub fn error(status: StatusCode, kind: &str, message: String) -> Response<Full<Bytes>> {
    json(
        status,
        &ErrorBody {
            error: kind,
            message,
        },
    )
}
