//! An embedded endpoint that speaks the ECS container credentials protocol, for the demo and tests.
//!
//! It serves what the ECS agent serves at `/v2/credentials/{id}` (and the EKS Pod Identity agent at
//! `/v1/credentials`): the same session on every GET
//! (checking the `Authorization` token when one is set), a new one shortly before the old one
//! expires, `Expiration` as RFC 3339 with `Z`. It also answers STS `GetCallerIdentity` and
//! `AssumeRole` (as for task-role credentials: role chaining, at most an hour) at `/sts/`, only for
//! access keys it issued, so identity lookups and `--signing-source assume-role` work with no AWS
//! account; and the ECS task metadata v4 `/task` document under [`METADATA_PATH`].
//! Tests switch [`Fault`]s on and off to see how the daemon copes.
//!
//! It remembers every session it handed out, with the `Expiration` its answer carried, so a test
//! holds each URL to what the endpoint really issued rather than to what the daemon reports
//! ([`EcsEndpoint::issued_expiry`], and `GET` [`ISSUED_PATH`]`{access key id}` over HTTP for the
//! demo's endpoint, which runs inside the daemon). It counts the credentials requests it received,
//! so a test knows when the daemon's GET has arrived ([`EcsEndpoint::credentials_requests`]).
//!
//! What it issues and remembers lives in `sessions`, its STS answers in `sts`; this file is the
//! ECS side: the paths, the [`Fault`]s, the [`EcsEndpoint`] handle and the credentials route.
//!
//! It is a test double: it only ever listens where it is told (loopback in the demo and tests).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::clock::{self, Clock};

mod sessions;
mod sts;

use sessions::{Inner, issue};
pub use sessions::{Issued, Options};

/// Path of the credentials, as the ECS agent names it (`/v2/credentials/{task credentials id}`).
pub const CREDENTIALS_PATH: &str = "/v2/credentials/sessionguard-demo";
/// Path of the credentials as the EKS Pod Identity agent serves them (same protocol), at
/// `http://169.254.170.23/v1/credentials`.
pub const POD_IDENTITY_PATH: &str = "/v1/credentials";
/// Path where STS `GetCallerIdentity` is answered.
pub const STS_PATH: &str = "/sts/";
/// Base path of the ECS task metadata v4 (`ECS_CONTAINER_METADATA_URI_V4`); `/task` is served.
pub const METADATA_PATH: &str = "/v4/sessionguard-demo";
/// Path prefix where `GET {ISSUED_PATH}{access key id}` answers the `Expiration` handed out with that
/// key (`{"AccessKeyId": ..., "Expiration": ...}`, 404 for a key never handed out). It carries no
/// secret and answers only for a key the caller already holds, so it needs no token.
pub const ISSUED_PATH: &str = "/issued/";
/// Account of the pretend task role.
pub const ACCOUNT: &str = "123456789012";
/// Role the pretend task assumes.
pub const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/sessionguard-demo";

/// A failure the endpoint can be told to produce instead of credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// An ECS agent error body, e.g. 503 `CredentialsUninitialized`.
    Status {
        status: u16,
        code: String,
        message: String,
    },
    /// 200 with a body that is not JSON.
    MalformedJson,
    /// 200 with credentials lacking one field.
    MissingField(&'static str),
    /// 200 with `Expiration` written `+00:00` instead of `Z`.
    OffsetExpiration,
    /// 200 with credentials that expired a minute ago.
    Expired,
    /// 200 with `Expiration` exactly this text (`1960-01-01T00:00:00Z`, a year past 9999).
    Expiration(String),
    /// Accept the request and never answer.
    Hang,
}

/// A running endpoint; stops when dropped.
pub struct EcsEndpoint {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    clock: Clock,
    stop: CancellationToken,
}

/// By hand: what was handed out, with every secret key and session token redacted.
impl std::fmt::Debug for EcsEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("EcsEndpoint")
            .field("addr", &self.addr)
            .field("options", &inner.options)
            .field("current", &inner.current)
            .field("fault", &inner.fault)
            .field("handed_out", &inner.handed_out)
            .field("credentials_requests", &inner.credentials_requests)
            .finish_non_exhaustive()
    }
}

impl Drop for EcsEndpoint {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl EcsEndpoint {
    /// Serves on `listener` (bind it to loopback) until dropped.
    pub fn start(listener: TcpListener, options: Options, clock: Clock) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let endpoint = EcsEndpoint {
            addr,
            inner: Arc::new(Mutex::new(Inner::new(options))),
            clock,
            stop: CancellationToken::new(),
        };
        let handler = Handler {
            inner: endpoint.inner.clone(),
            clock: endpoint.clock.clone(),
            stop: endpoint.stop.clone(),
        };
        tokio::spawn(accept_loop(listener, handler, endpoint.stop.clone()));
        Ok(endpoint)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The value for `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
    pub fn credentials_uri(&self) -> String {
        format!("http://{}{CREDENTIALS_PATH}", self.addr)
    }

    /// The value for `ECS_CONTAINER_METADATA_URI_V4`.
    pub fn metadata_uri(&self) -> String {
        format!("http://{}{METADATA_PATH}", self.addr)
    }

    /// The value for `AWS_ENDPOINT_URL_STS`.
    pub fn sts_uri(&self) -> String {
        format!("http://{}{STS_PATH}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers with `fault` from now on (`None`: serve credentials again).
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.lock().fault = fault;
    }

    /// Issues a new session now, as when ECS pushes new credentials.
    pub fn rotate(&self) -> Issued {
        let now = self.clock.now();
        let mut inner = self.lock();
        issue(&mut inner, now)
    }

    /// Requires `token` from now on (`None`: any), as when EKS rotates the pod's token file.
    pub fn set_token(&self, token: Option<String>) {
        self.lock().options.token = token;
    }

    /// Changes the length of sessions issued from now on.
    pub fn set_session(&self, session: Duration) {
        self.lock().options.session = session;
    }

    /// The `Expiration` this endpoint handed out with the session of `access_key_id` and
    /// `session_token` (exactly: `None` for a session served without one), on the credentials path
    /// or from STS `AssumeRole`; the earliest if it handed out several. `None` for a session it
    /// never handed out: one issued by [`EcsEndpoint::rotate`] or [`EcsEndpoint::current`] counts
    /// only once a GET has served it. A fixed key pair ([`Options::key_pair`]) shares its access
    /// key id between sessions, so the session token tells them apart.
    pub fn issued_expiry(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
    ) -> Option<SystemTime> {
        self.lock().earliest(|h| {
            h.access_key_id == access_key_id && h.session_token.as_deref() == session_token
        })
    }

    /// GETs of the credentials path received so far, counted on arrival (before any [`Fault`]
    /// answers, so a [`Fault::Hang`] request counts once it has reached the endpoint).
    pub fn credentials_requests(&self) -> usize {
        self.lock().credentials_requests
    }

    /// The session currently served, issuing one if none was yet.
    pub fn current(&self) -> Issued {
        let now = self.clock.now();
        let mut inner = self.lock();
        match &inner.current {
            Some(c) => c.clone(),
            None => issue(&mut inner, now),
        }
    }
}

async fn accept_loop(listener: TcpListener, handler: Handler, stop: CancellationToken) {
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let handler = handler.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handler.handle(request).await) }
            });
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = connection => {}
            }
        });
    }
}

#[derive(Clone)]
struct Handler {
    inner: Arc<Mutex<Inner>>,
    clock: Clock,
    stop: CancellationToken,
}

impl Handler {
    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = request.uri().path().to_string();
        match (request.method().clone(), path.as_str()) {
            (Method::GET, CREDENTIALS_PATH | POD_IDENTITY_PATH) => self.credentials(&request).await,
            (Method::POST, STS_PATH) => self.caller_identity(request).await,
            (Method::GET, p) if p == format!("{METADATA_PATH}/task") => task_metadata(),
            (Method::GET, p) if p.starts_with(ISSUED_PATH) => self.issued(&p[ISSUED_PATH.len()..]),
            _ => ecs_error(404, "InvalidIdInRequest", "no credentials at this path"),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `GET {ISSUED_PATH}{access key id}`: the earliest `Expiration` handed out with that key.
    fn issued(&self, access_key_id: &str) -> Response<Full<Bytes>> {
        match self.lock().earliest(|h| h.access_key_id == access_key_id) {
            Some(expiration) => json_response(
                200,
                serde_json::json!({
                    "AccessKeyId": access_key_id,
                    "Expiration": clock::rfc3339(expiration),
                })
                .to_string(),
            ),
            None => ecs_error(
                404,
                "InvalidIdInRequest",
                "no credentials handed out with this key",
            ),
        }
    }

    async fn credentials(&self, request: &Request<Incoming>) -> Response<Full<Bytes>> {
        let now = self.clock.now();
        let (fault, body) = {
            let mut inner = self.lock();
            inner.credentials_requests += 1;
            if let Some(expected) = &inner.options.token {
                let sent = request.headers().get(http::header::AUTHORIZATION);
                match sent {
                    None => return ecs_error(401, "Unauthorized", "authorization header missing"),
                    Some(v) if v.as_bytes() != expected.as_bytes() => {
                        return ecs_error(403, "AccessDenied", "authorization token invalid");
                    }
                    Some(_) => {}
                }
            }
            let fault = inner.fault.clone();
            let rotate_before = inner.options.rotate_before;
            let due = match &inner.current {
                None => true,
                Some(c) => c.expiration <= now + rotate_before,
            };
            if due && fault.is_none() {
                issue(&mut inner, now);
            }
            let current = match &inner.current {
                Some(c) => c.clone(),
                None => issue(&mut inner, now),
            };
            (fault, current)
        };
        let mut fields = serde_json::json!({
            "RoleArn": ROLE_ARN,
            "AccessKeyId": body.access_key_id,
            "SecretAccessKey": body.secret_access_key,
            "Token": body.token,
            "Expiration": clock::rfc3339(body.expiration),
        });
        match fault {
            None => {}
            Some(Fault::Status {
                status,
                code,
                message,
            }) => return ecs_error(status, &code, &message),
            Some(Fault::MalformedJson) => {
                return json_response(200, "{\"AccessKeyId\": \"ASIA".to_string());
            }
            Some(Fault::MissingField(name)) => {
                fields.as_object_mut().expect("object").remove(name);
            }
            Some(Fault::OffsetExpiration) => {
                let z = clock::rfc3339(body.expiration);
                fields["Expiration"] = z.replace('Z', "+00:00").into();
            }
            Some(Fault::Expiration(text)) => {
                fields["Expiration"] = text.clone().into();
            }
            Some(Fault::Expired) => {
                fields["Expiration"] = clock::rfc3339(now - Duration::from_secs(60)).into();
            }
            Some(Fault::Hang) => {
                self.stop.cancelled().await;
                return ecs_error(503, "ShuttingDown", "endpoint stopped");
            }
        }
        self.lock().record(&fields);
        json_response(200, fields.to_string())
    }
}

/// The task metadata v4 `/task` body, trimmed to the fields a task reports about itself.
fn task_metadata() -> Response<Full<Bytes>> {
    json_response(
        200,
        serde_json::json!({
            "Cluster": format!("arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/demo"),
            "TaskARN": format!("arn:aws:ecs:us-east-1:{ACCOUNT}:task/demo/0123456789abcdef0123456789abcdef"),
            "Family": "sessionguard-demo",
            "Revision": "1",
            "DesiredStatus": "RUNNING",
            "KnownStatus": "RUNNING",
            "AvailabilityZone": "us-east-1a",
            "LaunchType": "FARGATE",
            "Containers": [],
        })
        .to_string(),
    )
}

fn json_response(status: u16, body: String) -> Response<Full<Bytes>> {
    response(status, "application/json", body)
}

fn response(status: u16, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    response
}

/// The ECS agent's error body.
fn ecs_error(status: u16, code: &str, message: &str) -> Response<Full<Bytes>> {
    json_response(
        status,
        serde_json::json!({"code": code, "message": message}).to_string(),
    )
}
