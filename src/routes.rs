//! HTTP routes. Every route the daemon serves is listed here.
//!
//! | method    | path              | listener           | answer                                   |
//! |-----------|-------------------|--------------------|------------------------------------------|
//! | GET, HEAD | `/metrics`        | API and metrics    | Prometheus text format, computed now     |
//! | GET, HEAD | `/healthz`        | API and metrics    | 200 while the process serves             |
//! | GET, HEAD | `/readyz`         | API and metrics    | 200, or 503 with the reason as JSON      |
//! | GET, HEAD | `/v1/credentials` | API (loopback) only| the session as JSON, never a secret      |
//!
//! Anything else is a JSON 404, or a JSON 405 with `Allow` for a known path and another method.
//! The metrics listener (`--metrics-listen`, reachable from outside the task) never serves `/v1/`.

use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;

use crate::metrics::Metrics;
use crate::state::Session;

/// The content type Prometheus expects for the text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `--listen`: loopback API plus metrics and health.
    Api,
    /// `--metrics-listen`: metrics and health only.
    MetricsOnly,
}

/// What the routes read.
#[derive(Clone)]
pub struct Router {
    pub session: Session,
    pub metrics: Metrics,
    /// `--ready-min-remaining`.
    pub ready_min_remaining: Duration,
}

/// A JSON error body: `{"error": "...", "message": "..."}`.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
}

impl Router {
    /// Answers one request; never fails, every outcome is a response.
    pub fn handle<B>(&self, surface: Surface, request: &Request<B>) -> Response<Full<Bytes>> {
        let path = request.uri().path();
        let read_only = matches!(*request.method(), Method::GET | Method::HEAD);
        let route = match (surface, path) {
            (_, "/metrics" | "/healthz" | "/readyz") | (Surface::Api, "/v1/credentials") => path,
            _ => {
                return error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("no route for {path}"),
                );
            }
        };
        if !read_only {
            let mut response = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{route} answers GET and HEAD, not {}", request.method()),
            );
            response
                .headers_mut()
                .insert(ALLOW, http::HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        match route {
            "/metrics" => text(StatusCode::OK, PROMETHEUS_TEXT, self.metrics.render()),
            "/healthz" => json(StatusCode::OK, &serde_json::json!({"status": "ok"})),
            "/readyz" => {
                let readiness = self.session.readiness(self.ready_min_remaining);
                let status = if readiness.ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                json(status, &readiness)
            }
            _ => json(StatusCode::OK, &self.session.view()),
        }
    }
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        let session = Session::new(crate::clock::system());
        Router {
            metrics: Metrics::new(session.clone()),
            session,
            ready_min_remaining: Duration::ZERO,
        }
    }

    fn call(surface: Surface, method: &str, path: &str) -> (StatusCode, String, Option<String>) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .unwrap();
        let response = router().handle(surface, &request);
        let allow = response
            .headers()
            .get(ALLOW)
            .map(|v| v.to_str().unwrap().to_string());
        let status = response.status();
        let body = futures_body(response);
        (status, body, allow)
    }

    fn futures_body(response: Response<Full<Bytes>>) -> String {
        use http_body_util::BodyExt;
        let bytes = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(response.into_body().collect())
            .unwrap()
            .to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// Each route answers with the documented status on each listener.
    #[test]
    fn route_table() {
        use Surface::*;
        let cases = [
            (Api, "GET", "/healthz", 200),
            (Api, "HEAD", "/healthz", 200),
            (Api, "GET", "/metrics", 200),
            (Api, "GET", "/readyz", 503),
            (Api, "GET", "/v1/credentials", 200),
            (Api, "GET", "/nope", 404),
            (Api, "POST", "/metrics", 405),
            (Api, "DELETE", "/v1/credentials", 405),
            (MetricsOnly, "GET", "/metrics", 200),
            (MetricsOnly, "GET", "/healthz", 200),
            (MetricsOnly, "GET", "/readyz", 503),
            (MetricsOnly, "GET", "/v1/credentials", 404),
        ];
        for (surface, method, path, want) in cases {
            let (status, body, allow) = call(surface, method, path);
            assert_eq!(status.as_u16(), want, "{surface:?} {method} {path}: {body}");
            if want == 405 {
                assert_eq!(allow.as_deref(), Some("GET, HEAD"));
            }
            if want >= 400 && want != 503 {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert!(v["error"].is_string() && v["message"].is_string(), "{body}");
            }
        }
    }

    /// Before any check, readiness says why it is not ready.
    #[test]
    fn readyz_reason_before_first_check() {
        let (_, body, _) = call(Surface::Api, "GET", "/readyz");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["ready"], false);
        assert_eq!(v["reason"], "never_resolved");
    }
}
