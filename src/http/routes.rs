//! HTTP routes. Every route the daemon serves is one row of [`ROUTES`], which names its handler;
//! [`Router::handle`] finds the row and answers with it, and `openapi.yaml` is held to the rows.
//!
//! | method    | path              | listener           | answer                                   |
//! |-----------|-------------------|--------------------|------------------------------------------|
//! | GET, HEAD | `/metrics`        | API and metrics    | Prometheus text format, computed now     |
//! | GET, HEAD | `/healthz`        | API and metrics    | 200 while the process serves             |
//! | GET, HEAD | `/readyz`         | API and metrics    | 200, or 503 with the reason as JSON      |
//! | GET, HEAD | `/v1/credentials` | API (loopback) only| the session as JSON, never a secret      |
//! | POST      | `/v1/presign`     | API (loopback) only| a presigned S3 URL, or why not (JSON)    |
//! | POST      | `/v1/presign/post`| API (loopback) only| a browser form upload (POST policy)      |
//! | POST      | `/v1/presign/uppy`| API (loopback) only| Uppy 6's `signRequest`, answered as Uppy reads it |
//! | POST      | `/v1/presign/batch`| API (loopback) only| up to 100 presign answers, one snapshot |
//!
//! Anything else is a JSON 404, or a JSON 405 with `Allow` for a known path and another method.
//! The presign routes take `application/json` bodies of at most 16 KiB (256 KiB for a batch; 415
//! and 413 otherwise).
//! The metrics listener (`--metrics-listen`, reachable from outside the task) never serves `/v1/`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CONNECTION, RETRY_AFTER};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;

use super::answer::{self, Answered, Item};
use super::presign;
use super::response::{PROMETHEUS_TEXT, error, json, text};
use crate::presign::uppy::UppyDefaults;
use crate::presign::{Guard, Refusal};
use crate::telemetry::metrics::Metrics;
use crate::tracked::View;
use crate::tracked::task::{CredentialsView, TaskCredentials};

/// The body of `/v1/credentials`: the task session, and the credentials URLs are signed with.
#[derive(Serialize)]
struct CredentialsBody {
    #[serde(flatten)]
    task: CredentialsView,
    signing: View,
}

/// One route: what `openapi.yaml` documents, and a test holds the two equal.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub path: &'static str,
    /// The methods it answers, as the `Allow` header lists them.
    pub methods: &'static str,
    /// Served only on `--listen`, never on `--metrics-listen`.
    pub api_only: bool,
    /// What answers it.
    pub handler: Handler,
}

/// What answers a route: [`Router::answer`] matches every one, with no catch-all, so a route
/// cannot reach another's handler by falling through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// Prometheus text format, computed now.
    Metrics,
    /// 200 while the process serves.
    Health,
    /// 200, or 503 with the reason.
    Ready,
    /// The session as JSON, never a secret.
    Credentials,
    /// [`presign::single`].
    Presign,
    /// [`presign::form`].
    PresignPost,
    /// [`presign::uppy`].
    PresignUppy,
    /// [`presign::batch`].
    PresignBatch,
}

/// Every route the daemon serves.
pub const ROUTES: &[Route] = &[
    Route {
        path: "/metrics",
        methods: "GET, HEAD",
        api_only: false,
        handler: Handler::Metrics,
    },
    Route {
        path: "/healthz",
        methods: "GET, HEAD",
        api_only: false,
        handler: Handler::Health,
    },
    Route {
        path: "/readyz",
        methods: "GET, HEAD",
        api_only: false,
        handler: Handler::Ready,
    },
    Route {
        path: "/v1/credentials",
        methods: "GET, HEAD",
        api_only: true,
        handler: Handler::Credentials,
    },
    Route {
        path: "/v1/presign",
        methods: "POST",
        api_only: true,
        handler: Handler::Presign,
    },
    Route {
        path: "/v1/presign/post",
        methods: "POST",
        api_only: true,
        handler: Handler::PresignPost,
    },
    Route {
        path: "/v1/presign/uppy",
        methods: "POST",
        api_only: true,
        handler: Handler::PresignUppy,
    },
    Route {
        path: "/v1/presign/batch",
        methods: "POST",
        api_only: true,
        handler: Handler::PresignBatch,
    },
];

/// Which listener a request came in on, and whether on one of its reserved connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `--listen`: loopback API plus metrics and health.
    Api,
    /// `--metrics-listen`: metrics and health only.
    MetricsOnly,
    /// A connection accepted while every regular one was taken
    /// ([`super::limits::RESERVED_CONNECTIONS`]): metrics and health; anything else is 503.
    Reserved,
}

impl Surface {
    /// The surface of a reserved connection on this listener: the metrics listener serves only
    /// metrics and health anyway.
    pub fn reserved(self) -> Surface {
        match self {
            Surface::Api | Surface::Reserved => Surface::Reserved,
            Surface::MetricsOnly => Surface::MetricsOnly,
        }
    }
}

/// What the routes read.
#[derive(Clone)]
pub struct Router {
    pub task: TaskCredentials,
    pub metrics: Metrics,
    /// `--ready-min-remaining`.
    pub ready_min_remaining: Duration,
    pub guard: Arc<Guard>,
    /// `--uppy-expires-in`, `--uppy-min-expires-in`.
    pub uppy: UppyDefaults,
}

impl Router {
    /// Answers one request; never fails, every outcome is a response. The presign routes' answers
    /// (their 405 and 503 `overloaded` included) are logged, counted and timed here, in one place.
    pub async fn handle<B>(&self, surface: Surface, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let started = std::time::Instant::now();
        let answered = self.route(surface, request).await;
        if !answered.items.is_empty() {
            answer::record(&self.metrics, &answered, started.elapsed().as_secs_f64());
        }
        answered.response
    }

    /// The response, and for a presign route the answers it gave.
    async fn route<B>(&self, surface: Surface, request: Request<B>) -> Answered
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let path = request.uri().path();
        let Some(route) = ROUTES
            .iter()
            .find(|r| r.path == path && (surface != Surface::MetricsOnly || !r.api_only))
        else {
            return plain(error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no route for {path}"),
            ));
        };
        let presign = route.path.starts_with("/v1/presign");
        if !route
            .methods
            .split(", ")
            .any(|m| m == request.method().as_str())
        {
            let message = format!(
                "{} answers {}, not {}",
                route.path,
                route.methods,
                request.method()
            );
            let refusal = Refusal::MethodNotAllowed;
            let mut response = error(refusal.status(), refusal.error(), message.clone());
            response
                .headers_mut()
                .insert(ALLOW, http::HeaderValue::from_static(route.methods));
            let items = presign
                .then(|| Item::rejected(refusal, message))
                .into_iter()
                .collect();
            return Answered { response, items };
        }
        if surface == Surface::Reserved && route.api_only {
            return overloaded(presign);
        }
        self.answer(route.handler, request).await
    }

    /// What a route's handler answers, once its path, listener and method are known good.
    async fn answer<B>(&self, handler: Handler, request: Request<B>) -> Answered
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        match handler {
            Handler::Metrics => plain(text(StatusCode::OK, PROMETHEUS_TEXT, self.metrics.render())),
            Handler::Health => plain(json(StatusCode::OK, &serde_json::json!({"status": "ok"}))),
            Handler::Ready => {
                let readiness = self.task.readiness(self.ready_min_remaining);
                let status = if readiness.ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                plain(json(status, &readiness))
            }
            Handler::Credentials => {
                let body = CredentialsBody {
                    task: self.task.view(),
                    signing: self.guard.signing.view(),
                };
                plain(json(StatusCode::OK, &body))
            }
            Handler::Presign => presign::single(&self.guard, request).await,
            Handler::PresignPost => presign::form(&self.guard, request).await,
            Handler::PresignUppy => presign::uppy(&self.guard, &self.uppy, request).await,
            Handler::PresignBatch => presign::batch(&self.guard, request).await,
        }
    }
}

/// A response that is no presign answer.
fn plain(response: Response<Full<Bytes>>) -> Answered {
    Answered {
        response,
        items: Vec::new(),
    }
}

/// 503 for an API route on a reserved connection: every regular connection is taken.
fn overloaded(presign: bool) -> Answered {
    let message = format!(
        "all {} API connections are in use; retry shortly",
        super::limits::MAX_CONNECTIONS
    );
    let refusal = Refusal::Overloaded;
    let mut response = error(refusal.status(), refusal.error(), message.clone());
    let headers = response.headers_mut();
    headers.insert(RETRY_AFTER, http::HeaderValue::from_static("1"));
    headers.insert(CONNECTION, http::HeaderValue::from_static("close"));
    let items = presign
        .then(|| Item::rejected(refusal, message))
        .into_iter()
        .collect();
    Answered { response, items }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn router() -> Router {
        use crate::tracked::task::TaskSource;
        let clock = crate::clock::system();
        let provider = aws_credential_types::provider::SharedCredentialsProvider::new(
            aws_credential_types::Credentials::new("AKIDEXAMPLE12345", "s", None, None, "Static"),
        );
        let task = TaskCredentials::new(
            TaskSource::new(provider, None, Duration::from_secs(1), Duration::ZERO),
            clock,
        );
        let limits = crate::presign::guard::tests_limits();
        Router {
            metrics: Metrics::new(&task, &task.tracked, limits),
            guard: Arc::new(Guard {
                signing: task.tracked.clone(),
                signer: crate::presign::Signer::new("us-east-1".into(), None, false),
                allow_list: crate::presign::AllowList::rules(vec![]),
                limits,
                first_wait: Duration::ZERO,
            }),
            task,
            ready_min_remaining: Duration::ZERO,
            uppy: crate::presign::uppy::UppyDefaults {
                expires_in: Duration::from_secs(900),
                min_expires_in: Duration::from_secs(60),
            },
        }
    }

    fn call(surface: Surface, method: &str, path: &str) -> (StatusCode, String, Option<String>) {
        call_with(
            surface,
            method,
            path,
            &[("content-type", "application/json")],
            "{}",
        )
    }

    fn call_with(
        surface: Surface,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (StatusCode, String, Option<String>) {
        let mut request = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(async {
                let response = router().handle(surface, request).await;
                let allow = response
                    .headers()
                    .get(ALLOW)
                    .map(|v| v.to_str().unwrap().to_string());
                let status = response.status();
                let bytes = response.into_body().collect().await.unwrap().to_bytes();
                (status, String::from_utf8(bytes.to_vec()).unwrap(), allow)
            })
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
            (MetricsOnly, "POST", "/v1/presign", 404),
            (Api, "GET", "/v1/presign", 405),
            (Api, "POST", "/v1/presign", 400),
            // A reserved connection (every regular one taken): health and metrics only.
            (Reserved, "GET", "/healthz", 200),
            (Reserved, "GET", "/metrics", 200),
            (Reserved, "GET", "/readyz", 503),
            (Reserved, "POST", "/v1/presign", 503),
            (Reserved, "GET", "/v1/credentials", 503),
            (Reserved, "GET", "/nope", 404),
        ];
        for (surface, method, path, want) in cases {
            let (status, body, allow) = call(surface, method, path);
            assert_eq!(status.as_u16(), want, "{surface:?} {method} {path}: {body}");
            if want == 405 {
                let expected = if path == "/v1/presign" {
                    "POST"
                } else {
                    "GET, HEAD"
                };
                assert_eq!(allow.as_deref(), Some(expected));
            }
            if want >= 400 && path != "/readyz" {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert!(v["error"].is_string() && v["message"].is_string(), "{body}");
            }
        }
    }

    /// No path has two rows: the first would hide the second.
    #[test]
    fn each_path_once() {
        for (i, route) in ROUTES.iter().enumerate() {
            assert!(
                ROUTES[i + 1..].iter().all(|r| r.path != route.path),
                "{} twice",
                route.path
            );
        }
    }

    /// Each presign row reaches its own handler, not another's: one body, a valid `/v1/presign`
    /// request, gets each handler's own answer.
    #[test]
    fn presign_rows_reach_their_own_handler() {
        let cases = [
            ("/v1/presign", 403, "presigning is off"),
            ("/v1/presign/post", 400, "method: unknown field"),
            (
                "/v1/presign/uppy",
                400,
                "expected one of method, key, uploadId",
            ),
            ("/v1/presign/batch", 400, "expected one of requests"),
        ];
        let json = [("content-type", "application/json")];
        let asked = r#"{"bucket":"bkt","key":"k","expires_in":60,"method":"GET"}"#;
        for (path, status, said) in cases {
            let (got, body, _) = call_with(Surface::Api, "POST", path, &json, asked);
            assert_eq!(got.as_u16(), status, "{path}: {body}");
            assert!(body.contains(said), "{path}: {body}");
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

    /// The HTTP-level refusals of `/v1/presign`, before the guard sees anything.
    #[test]
    fn presign_media_type_and_size() {
        let json = [("content-type", "application/json")];
        type Case<'a> = (Vec<(&'a str, &'a str)>, String, u16, &'a str);
        let cases: Vec<Case> = vec![
            (
                vec![("content-type", "text/plain")],
                "{}".into(),
                415,
                "unsupported_media_type",
            ),
            (vec![], "{}".into(), 415, "unsupported_media_type"),
            (
                json.to_vec(),
                "x".repeat(super::presign::MAX_BODY_BYTES + 1),
                413,
                "payload_too_large",
            ),
            (json.to_vec(), "{not json".into(), 400, "invalid_request"),
            (
                vec![("content-type", "application/json; charset=utf-8")],
                r#"{"bucket":"abc","key":"k","expires_in":60}"#.into(),
                403,
                "forbidden",
            ),
        ];
        for (headers, body, status, kind) in cases {
            let (got, text, _) = call_with(Surface::Api, "POST", "/v1/presign", &headers, &body);
            assert_eq!(got.as_u16(), status, "{headers:?}: {text}");
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["error"], kind, "{text}");
        }
    }
}
