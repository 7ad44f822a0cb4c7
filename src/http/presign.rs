//! The presign routes: `POST /v1/presign` (one URL), `/v1/presign/post` (a browser form upload),
//! `/v1/presign/uppy` (Uppy's `signRequest` as is) and `/v1/presign/batch` (many URLs on one
//! credentials snapshot). Each checks the media type and
//! size, parses the body, asks the guard, and is counted and timed by `result`.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::response::{error, json};
use crate::presign::post::PostRequest;
use crate::presign::uppy::{UppyDefaults, UppyPresigned};
use crate::presign::{Guard, PresignError, PresignRequest};
use crate::telemetry::metrics::Metrics;

/// Largest presign request body; a real one is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Most requests in one batch (a gallery page, a list of attachments).
pub const MAX_BATCH: usize = 100;
/// Largest batch body: room for [`MAX_BATCH`] requests.
pub const MAX_BATCH_BODY_BYTES: usize = 256 * 1024;

/// `POST /v1/presign`.
pub async fn single<B>(
    guard: &Guard,
    metrics: &Metrics,
    request: Request<B>,
) -> Response<Full<Bytes>>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    answer(
        metrics,
        request,
        PresignRequest::from_json,
        |presign| async move { guard.presign(&presign).await },
    )
    .await
}

/// `POST /v1/presign/post`.
pub async fn form<B>(guard: &Guard, metrics: &Metrics, request: Request<B>) -> Response<Full<Bytes>>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    answer(
        metrics,
        request,
        PostRequest::from_json,
        |post| async move { guard.presign_post(&post).await },
    )
    .await
}

/// `POST /v1/presign/uppy?bucket=BUCKET`: Uppy's `signRequest` argument as the body.
pub async fn uppy<B>(
    guard: &Guard,
    metrics: &Metrics,
    defaults: &UppyDefaults,
    request: Request<B>,
) -> Response<Full<Bytes>>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let bucket = request.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(name, _)| name == "bucket")
            .map(|(_, value)| value.into_owned())
    });
    let parse = |body: &[u8]| crate::presign::uppy::request(bucket.as_deref(), body, defaults);
    answer(metrics, request, parse, |presign| async move {
        guard.presign(&presign).await.map(UppyPresigned::from)
    })
    .await
}

/// One presign route: media type and size, `parse`, then `sign`; every outcome counted by its
/// `result` and timed.
async fn answer<B, T, R, Fut>(
    metrics: &Metrics,
    request: Request<B>,
    parse: impl FnOnce(&[u8]) -> Result<T, PresignError>,
    sign: impl FnOnce(T) -> Fut,
) -> Response<Full<Bytes>>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<R, PresignError>>,
    R: Serialize,
{
    let started = std::time::Instant::now();
    let (result, response) = match read_json_body(request, MAX_BODY_BYTES).await {
        Err(response) => refused_early(response),
        Ok(body) => match parse(&body) {
            Err(e) => invalid(e),
            Ok(parsed) => match sign(parsed).await {
                Ok(answer) => ("issued", json(StatusCode::OK, &answer)),
                Err(e) => (e.kind(), presign_error(&e)),
            },
        },
    };
    metrics.presign_answered(result, started.elapsed().as_secs_f64());
    response
}

/// The batch body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    requests: Vec<Value>,
}

/// One answer of a batch: what `/v1/presign` would have answered alone.
#[derive(Serialize)]
struct BatchResult {
    status: u16,
    body: Value,
}

/// `POST /v1/presign/batch`: `{"requests": [...]}` to `{"results": [{"status", "body"}, ...]}`.
/// The batch is 200 unless it is malformed (400) or too long (413); every item is counted by its
/// own result, the time once.
pub async fn batch<B>(
    guard: &Guard,
    metrics: &Metrics,
    request: Request<B>,
) -> Response<Full<Bytes>>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let started = std::time::Instant::now();
    let body = match read_json_body(request, MAX_BATCH_BODY_BYTES).await {
        Ok(body) => body,
        Err(response) => {
            let (result, response) = refused_early(response);
            metrics.presign_answered(result, started.elapsed().as_secs_f64());
            return response;
        }
    };
    let items = match crate::presign::request::parse_object::<BatchBody>(&body, &["requests"]) {
        Err(e) => {
            let (result, response) = invalid(e);
            metrics.presign_answered(result, started.elapsed().as_secs_f64());
            return response;
        }
        Ok(batch) => batch.requests,
    };
    if items.len() > MAX_BATCH {
        tracing::warn!(
            reason = "invalid",
            status = 413,
            requests = items.len(),
            "presign refused"
        );
        metrics.presign_answered("invalid", started.elapsed().as_secs_f64());
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "a batch holds at most {MAX_BATCH} requests, not {}",
                items.len()
            ),
        );
    }
    let parsed = items
        .iter()
        .map(|item| {
            let parsed = PresignRequest::from_json(item.to_string().as_bytes());
            if let Err(e) = &parsed {
                tracing::warn!(reason = "invalid", error = %e, "presign refused");
            }
            parsed
        })
        .collect();
    let answers = guard.presign_batch(parsed).await;
    let seconds = started.elapsed().as_secs_f64();
    let results: Vec<BatchResult> = answers
        .iter()
        .map(|answer| {
            let (result, status, body) = match answer {
                Ok(issued) => (
                    "issued",
                    StatusCode::OK,
                    serde_json::to_value(issued).expect("plain structs serialise"),
                ),
                Err(e) => {
                    let (status, body) = error_body(e);
                    (e.kind(), status, body)
                }
            };
            metrics.presign_answered(result, seconds);
            BatchResult {
                status: status.as_u16(),
                body,
            }
        })
        .collect();
    json(StatusCode::OK, &serde_json::json!({ "results": results }))
}

/// A refusal before the body was read (415, 413, 400), logged like every refusal.
fn refused_early(response: Response<Full<Bytes>>) -> (&'static str, Response<Full<Bytes>>) {
    tracing::warn!(
        reason = "invalid",
        status = response.status().as_u16(),
        "presign refused"
    );
    ("invalid", response)
}

/// A body that names a bad field.
fn invalid(e: PresignError) -> (&'static str, Response<Full<Bytes>>) {
    tracing::warn!(reason = "invalid", error = %e, "presign refused");
    ("invalid", presign_error(&e))
}

/// The body of a JSON request, or the 415/413/400 response refusing it.
pub async fn read_json_body<B>(
    request: Request<B>,
    limit: usize,
) -> Result<Bytes, Response<Full<Bytes>>>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("send the request as application/json, not {content_type:?}"),
        ));
    }
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body must be at most {limit} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(request.into_body(), limit).collect().await {
        Ok(body) => Ok(body.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Err(e) => Err(presign_error(&PresignError::Invalid {
            field: "body".into(),
            message: format!("could not be read: {e}"),
        })),
    }
}

/// The JSON error response for a presign refusal.
pub fn presign_error(e: &PresignError) -> Response<Full<Bytes>> {
    let (status, body) = error_body(e);
    json(status, &body)
}

/// The status and JSON body of a presign refusal.
fn error_body(e: &PresignError) -> (StatusCode, Value) {
    let message = e.to_string();
    match e {
        PresignError::Invalid { field, message } => (
            StatusCode::BAD_REQUEST,
            serde_json::json!({
                "error": "invalid_request",
                "field": field,
                "message": format!("{field}: {message}"),
            }),
        ),
        PresignError::Forbidden(_) => (
            StatusCode::FORBIDDEN,
            serde_json::json!({"error": "forbidden", "message": message}),
        ),
        PresignError::SessionTooShort {
            requested,
            available,
            credentials_expire_at,
            ..
        } => (
            StatusCode::CONFLICT,
            serde_json::json!({
                "error": "session_too_short",
                "message": message,
                "requested_seconds": requested,
                "available_seconds": available,
                "credentials_expire_at": credentials_expire_at,
            }),
        ),
        PresignError::Unavailable { last_error } => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({
                "error": "credentials_unavailable",
                "message": message,
                "last_error": last_error,
            }),
        ),
        PresignError::Signing(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({"error": "signing_failed", "message": message}),
        ),
    }
}
