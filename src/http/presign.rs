//! The presign routes: `POST /v1/presign` (one URL), `/v1/presign/post` (a browser form upload),
//! `/v1/presign/uppy` (Uppy's `signRequest` as is) and `/v1/presign/batch` (many URLs on one
//! credentials snapshot). Each checks the media type, size and arrival time of the body, parses it
//! and asks the guard; it returns its response with the answers it gave, which the router hands to
//! [`super::answer::record`] for their lines and counts.

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::answer::{Answered, Item, Subject};
use super::limits::BODY_READ_TIMEOUT;
use super::response::{error, json};
use crate::presign::post::{PostForm, PostRequest};
use crate::presign::uppy::{UppyDefaults, UppyPresigned};
use crate::presign::{Guard, PresignError, PresignRequest, Presigned, Refusal};

/// Largest presign request body; a real one is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Most requests in one batch (a gallery page, a list of attachments).
pub const MAX_BATCH: usize = 100;
/// Largest batch body: room for [`MAX_BATCH`] requests.
pub const MAX_BATCH_BODY_BYTES: usize = 256 * 1024;

/// A request body these routes read: bytes, and an error that says why a read failed.
pub trait RequestBody:
    http_body::Body<Data = Bytes, Error: std::error::Error + Send + Sync + 'static>
{
}

impl<B> RequestBody for B where
    B: http_body::Body<Data = Bytes, Error: std::error::Error + Send + Sync + 'static>
{
}

/// `POST /v1/presign`.
pub async fn single<B: RequestBody>(guard: &Guard, request: Request<B>) -> Answered {
    answer(
        request,
        PresignRequest::from_json,
        subject_of,
        |presign| async move { guard.presign(&presign).await },
    )
    .await
}

/// `POST /v1/presign/post`.
pub async fn form<B: RequestBody>(guard: &Guard, request: Request<B>) -> Answered {
    let subject = |post: &PostRequest| Subject {
        bucket: post.bucket.clone(),
        key: post.key_for_allow_list().to_string(),
        method: "POST",
        requested_seconds: post.expires_in,
    };
    answer(
        request,
        PostRequest::from_json,
        subject,
        |post| async move { guard.presign_post(&post).await },
    )
    .await
}

/// `POST /v1/presign/uppy?bucket=BUCKET`: Uppy's `signRequest` argument as the body.
pub async fn uppy<B: RequestBody>(
    guard: &Guard,
    defaults: &UppyDefaults,
    request: Request<B>,
) -> Answered {
    let bucket = request.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(name, _)| name == "bucket")
            .map(|(_, value)| value.into_owned())
    });
    let parse = |body: &[u8]| crate::presign::uppy::request(bucket.as_deref(), body, defaults);
    answer(request, parse, subject_of, |presign| async move {
        guard.presign(&presign).await.map(UppyPresigned::from)
    })
    .await
}

/// What a 200 granted, for its line.
trait Granted: Serialize {
    fn granted(&self) -> (u64, &str);
}

impl Granted for Presigned {
    fn granted(&self) -> (u64, &str) {
        (self.expires_in, &self.expires_at)
    }
}

impl Granted for PostForm {
    fn granted(&self) -> (u64, &str) {
        (self.expires_in, &self.expires_at)
    }
}

impl Granted for UppyPresigned {
    fn granted(&self) -> (u64, &str) {
        (self.expires_in, &self.expires_at)
    }
}

fn subject_of(request: &PresignRequest) -> Subject {
    Subject {
        bucket: request.bucket.to_string(),
        key: request.key.to_string(),
        method: request.method.as_str(),
        requested_seconds: request.expires_in,
    }
}

/// One presign route: media type and size, `parse`, then `sign`, as one answer.
async fn answer<B: RequestBody, T, R, Fut>(
    request: Request<B>,
    parse: impl FnOnce(&[u8]) -> Result<T, PresignError>,
    subject: impl FnOnce(&T) -> Subject,
    sign: impl FnOnce(T) -> Fut,
) -> Answered
where
    Fut: std::future::Future<Output = Result<R, PresignError>>,
    R: Granted,
{
    let body = match read_json_body(request, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let parsed = match parse(&body) {
        Ok(parsed) => parsed,
        Err(e) => return refusal(None, &e),
    };
    let subject = subject(&parsed);
    match sign(parsed).await {
        Ok(answer) => {
            let (seconds, expires_at) = answer.granted();
            let item = Item::issued(Some(subject), seconds, expires_at);
            Answered {
                response: json(StatusCode::OK, &answer),
                items: vec![item],
            }
        }
        Err(e) => refusal(Some(subject), &e),
    }
}

/// A refusal as the one answer of a request.
fn refusal(subject: Option<Subject>, e: &PresignError) -> Answered {
    let (status, body) = error_body(e);
    let mut response = json(status, &body);
    if let PresignError::Unavailable {
        retry_after_seconds,
        ..
    } = e
    {
        response.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from(*retry_after_seconds),
        );
    }
    Answered {
        response,
        items: vec![Item::refused(subject, e)],
    }
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
/// The batch is 200 unless it is malformed (400) or too long (413); every item is an answer of its
/// own.
pub async fn batch<B: RequestBody>(guard: &Guard, request: Request<B>) -> Answered {
    let body = match read_json_body(request, MAX_BATCH_BODY_BYTES).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let items = match crate::presign::body::parse_object::<BatchBody>(&body, &["requests"]) {
        Err(e) => return refusal(None, &e),
        Ok(batch) => batch.requests,
    };
    if items.len() > MAX_BATCH {
        let message = format!(
            "a batch holds at most {MAX_BATCH} requests, not {}",
            items.len()
        );
        return rejected(Refusal::PayloadTooLarge, message);
    }
    let parsed: Vec<Result<PresignRequest, PresignError>> =
        items.into_iter().map(PresignRequest::from_value).collect();
    let subjects: Vec<Option<Subject>> = parsed
        .iter()
        .map(|p| p.as_ref().ok().map(subject_of))
        .collect();
    let answers = guard.presign_batch(parsed).await;
    let mut results = Vec::with_capacity(answers.len());
    let mut logged = Vec::with_capacity(answers.len());
    for (answer, subject) in answers.iter().zip(subjects) {
        let (status, body, item) = match (answer, subject) {
            (Ok(issued), subject) => (
                StatusCode::OK,
                serde_json::to_value(issued).expect("plain structs serialise"),
                Item::issued(subject, issued.expires_in, &issued.expires_at),
            ),
            (Err(e), subject) => {
                let (status, body) = error_body(e);
                let item = Item::refused(subject, e);
                (status, body, item)
            }
        };
        results.push(BatchResult {
            status: status.as_u16(),
            body,
        });
        logged.push(item);
    }
    Answered {
        response: json(StatusCode::OK, &serde_json::json!({ "results": results })),
        items: logged,
    }
}

/// The body of a JSON request, or the 415/413/400 response refusing it.
pub async fn read_json_body<B: RequestBody>(
    request: Request<B>,
    limit: usize,
) -> Result<Bytes, Answered> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(rejected(
            Refusal::UnsupportedMediaType,
            format!("send the request as application/json, not {content_type:?}"),
        ));
    }
    let too_large = || {
        rejected(
            Refusal::PayloadTooLarge,
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
    let mut body = std::pin::pin!(Limited::new(request.into_body(), limit).collect());
    // A body that came with its head (nearly all of them) is read without arming a timer.
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(body.as_mut().poll(cx))).await;
    let read = match first {
        std::task::Poll::Ready(read) => Ok(read),
        std::task::Poll::Pending => tokio::time::timeout(BODY_READ_TIMEOUT, body).await,
    };
    match read {
        Ok(Ok(body)) => Ok(body.to_bytes()),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Ok(Err(e)) => Err(refusal(
            None,
            &PresignError::Invalid {
                field: "body".into(),
                message: format!("could not be read: {e}"),
            },
        )),
        Err(_) => {
            let mut answered = rejected(
                Refusal::RequestTimeout,
                format!(
                    "the body did not arrive within {} of the request head",
                    humantime::format_duration(BODY_READ_TIMEOUT)
                ),
            );
            // The rest of a trickled body is not worth waiting for: the slot goes to others.
            answered
                .response
                .headers_mut()
                .insert(CONNECTION, http::HeaderValue::from_static("close"));
            Err(answered)
        }
    }
}

/// A refusal of the HTTP request itself (media type, size, time), before the guard sees it.
pub fn rejected(refusal: Refusal, message: String) -> Answered {
    Answered {
        items: vec![Item::rejected(refusal, message.clone())],
        response: error(refusal.status(), refusal.error(), message),
    }
}

/// The status and JSON body of a presign refusal.
fn error_body(e: &PresignError) -> (StatusCode, Value) {
    let refusal = e.refusal();
    let message = e.to_string();
    let body = match e {
        PresignError::Invalid { field, message } => serde_json::json!({
            "error": refusal.error(),
            "field": field,
            "message": format!("{field}: {message}"),
        }),
        PresignError::SessionTooShort {
            requested,
            available,
            credentials_expire_at,
            ..
        } => serde_json::json!({
            "error": refusal.error(),
            "message": message,
            "requested_seconds": requested,
            "available_seconds": available,
            "credentials_expire_at": credentials_expire_at,
        }),
        PresignError::Unavailable {
            last_error,
            retry_after_seconds,
        } => serde_json::json!({
            "error": refusal.error(),
            "message": message,
            "last_error": last_error,
            "retry_after_seconds": retry_after_seconds,
        }),
        PresignError::Forbidden(_) | PresignError::Signing(_) => {
            serde_json::json!({"error": refusal.error(), "message": message})
        }
    };
    (refusal.status(), body)
}
