//! An embedded endpoint that speaks the ECS container credentials protocol, for the demo and tests.
//!
//! It serves what the ECS agent serves at `/v2/credentials/{id}`: the same session on every GET
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
//! It is a test double: it only ever listens where it is told (loopback in the demo and tests).

use std::collections::hash_map::RandomState;
use std::convert::Infallible;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::clock::{self, Clock};

/// Path of the credentials, as the ECS agent names it (`/v2/credentials/{task credentials id}`).
pub const CREDENTIALS_PATH: &str = "/v2/credentials/sessionguard-demo";
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

/// How sessions are issued.
#[derive(Clone)]
pub struct Options {
    /// Lifetime of each session.
    pub session: Duration,
    /// A new session is issued on the first request with less than this left.
    pub rotate_before: Duration,
    /// When set, requests must carry exactly this `Authorization` value.
    pub token: Option<String>,
    /// Fixed access key id and secret (for an S3 server that knows one key pair); random otherwise.
    pub key_pair: Option<(String, String)>,
}

impl Options {
    /// Sessions of `session`, rotated when a fifth of it is left, as the ECS agent does well before
    /// expiry.
    pub fn new(session: Duration) -> Self {
        Options {
            session,
            rotate_before: session / 5,
            token: None,
            key_pair: None,
        }
    }
}

/// By hand: the fixed secret key never reaches a `Debug` string.
impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("session", &self.session)
            .field("rotate_before", &self.rotate_before)
            .field("token", &self.token.as_ref().map(|_| "** redacted **"))
            .field(
                "key_pair",
                &self.key_pair.as_ref().map(|(id, _)| (id, "** redacted **")),
            )
            .finish()
    }
}

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

/// One session as issued; tests compare the daemon's view against it.
#[derive(Clone)]
pub struct Issued {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub token: String,
    pub expiration: SystemTime,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &clock::rfc3339(self.expiration))
            .finish_non_exhaustive()
    }
}

/// One answer that carried credentials: the session as the body named it, and the `Expiration`
/// the body said (`None` when it said none, or nothing that reads as a time).
#[derive(Clone)]
struct HandedOut {
    access_key_id: String,
    session_token: Option<String>,
    expiration: Option<SystemTime>,
}

/// By hand: the session token never reaches a `Debug` string.
impl std::fmt::Debug for HandedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandedOut")
            .field("access_key_id", &self.access_key_id)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .field("expiration", &self.expiration.map(clock::rfc3339))
            .finish()
    }
}

struct Inner {
    options: Options,
    current: Option<Issued>,
    fault: Option<Fault>,
    /// Every access key issued, so STS answers only for those.
    issued_keys: Vec<String>,
    /// Every answer that carried credentials (the credentials path and STS `AssumeRole`), in order.
    handed_out: Vec<HandedOut>,
    /// GETs of the credentials path received, answered or not.
    credentials_requests: usize,
}

impl Inner {
    /// The earliest `Expiration` handed out with credentials that `matches`: when one session was
    /// served with two (a [`Fault`] changed it), a client may hold the earlier, so that is the
    /// most the credentials can be trusted for.
    fn earliest(&self, matches: impl Fn(&HandedOut) -> bool) -> Option<SystemTime> {
        self.handed_out
            .iter()
            .filter(|h| matches(h))
            .filter_map(|h| h.expiration)
            .min()
    }
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
            inner: Arc::new(Mutex::new(Inner {
                options,
                current: None,
                fault: None,
                issued_keys: Vec::new(),
                handed_out: Vec::new(),
                credentials_requests: 0,
            })),
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
            (Method::GET, CREDENTIALS_PATH) => self.credentials(&request).await,
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
        self.record(&fields);
        json_response(200, fields.to_string())
    }

    /// Remembers what a 200 answer carried, as the client reads it: `fields` after any [`Fault`].
    fn record(&self, fields: &serde_json::Value) {
        let text = |name: &str| {
            fields
                .get(name)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let Some(access_key_id) = text("AccessKeyId") else {
            return;
        };
        let expiration = text("Expiration").and_then(|t| parse_expiration(&t));
        self.lock().handed_out.push(HandedOut {
            access_key_id,
            session_token: text("Token"),
            expiration,
        });
    }

    /// STS `GetCallerIdentity` (query protocol, XML answer) for keys this endpoint issued.
    async fn caller_identity(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = Limited::new(request.into_body(), 64 * 1024)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let known = {
            let inner = self.lock();
            inner
                .issued_keys
                .iter()
                .any(|k| authorization.contains(&format!("Credential={k}/")))
        };
        let form: std::collections::HashMap<String, String> =
            form_urlencoded::parse(&body).into_owned().collect();
        let action = form.get("Action").map(String::as_str).unwrap_or_default();
        if action != "GetCallerIdentity" && action != "AssumeRole" {
            return sts_error(
                400,
                "InvalidAction",
                "only GetCallerIdentity and AssumeRole are served here",
            );
        }
        if !known {
            return sts_error(
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            );
        }
        if action == "AssumeRole" {
            return self.assume_role(&form);
        }
        let role = ROLE_ARN.rsplit('/').next().unwrap_or("role");
        let xml = format!(
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <GetCallerIdentityResult>\
             <Arn>arn:aws:sts::{ACCOUNT}:assumed-role/{role}/sessionguard-demo</Arn>\
             <UserId>AROADEMOEXAMPLE:sessionguard-demo</UserId>\
             <Account>{ACCOUNT}</Account>\
             </GetCallerIdentityResult>\
             <ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>\
             </GetCallerIdentityResponse>"
        );
        xml_response(200, xml)
    }
}

impl Handler {
    /// STS `AssumeRole` as real STS answers it for task-role credentials: role chaining, so more
    /// than an hour is refused with STS's own `ValidationError`.
    fn assume_role(
        &self,
        form: &std::collections::HashMap<String, String>,
    ) -> Response<Full<Bytes>> {
        let (Some(role_arn), Some(session_name)) =
            (form.get("RoleArn"), form.get("RoleSessionName"))
        else {
            return sts_error(
                400,
                "MissingParameter",
                "RoleArn and RoleSessionName are required",
            );
        };
        let duration: u64 = match form.get("DurationSeconds").map(|d| d.parse()) {
            None => 3600,
            Some(Ok(d)) if (900..=43_200).contains(&d) => d,
            Some(_) => {
                return sts_error(
                    400,
                    "ValidationError",
                    "DurationSeconds must be between 900 and 43200",
                );
            }
        };
        if duration > 3600 {
            return sts_error(
                400,
                "ValidationError",
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
            );
        }
        let escape = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        };
        let role = escape(role_arn.rsplit('/').next().unwrap_or("role"));
        let account = escape(role_arn.split(':').nth(4).unwrap_or(ACCOUNT));
        let session_name = escape(session_name);
        let expiration = clock::whole_second(self.clock.now()) + Duration::from_secs(duration);
        let access_key_id = format!("ASIA{}", random_upper(16));
        let session_token = format!("IQoJb3JpZ2luX2Vj{}", random_upper(120));
        {
            let mut inner = self.lock();
            inner.issued_keys.push(access_key_id.clone());
            inner.handed_out.push(HandedOut {
                access_key_id: access_key_id.clone(),
                session_token: Some(session_token.clone()),
                expiration: Some(expiration),
            });
        }
        let xml = format!(
            "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <AssumeRoleResult>\
             <Credentials>\
             <AccessKeyId>{access_key_id}</AccessKeyId>\
             <SecretAccessKey>{}</SecretAccessKey>\
             <SessionToken>{session_token}</SessionToken>\
             <Expiration>{}</Expiration>\
             </Credentials>\
             <AssumedRoleUser>\
             <Arn>arn:aws:sts::{account}:assumed-role/{role}/{session_name}</Arn>\
             <AssumedRoleId>AROADEMOEXAMPLE:{session_name}</AssumedRoleId>\
             </AssumedRoleUser>\
             </AssumeRoleResult>\
             <ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>\
             </AssumeRoleResponse>",
            random_upper(40),
            clock::rfc3339(expiration),
        );
        xml_response(200, xml)
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

/// An `Expiration` as aws-config reads it (RFC 3339 with `Z`, years before 1970 too); `None` for
/// text it rejects (a UTC offset included), since such an answer hands out nothing.
fn parse_expiration(text: &str) -> Option<SystemTime> {
    use aws_smithy_types::date_time::{DateTime, Format};
    let at = DateTime::from_str(text, Format::DateTime).ok()?;
    SystemTime::try_from(at).ok()
}

/// Issues a new session starting now (whole seconds, as the ECS agent writes them).
fn issue(inner: &mut Inner, now: SystemTime) -> Issued {
    let whole_now = UNIX_EPOCH
        + Duration::from_secs(now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs());
    let (access_key_id, secret_access_key) = inner
        .options
        .key_pair
        .clone()
        .unwrap_or_else(|| (format!("ASIA{}", random_upper(16)), random_upper(40)));
    let issued = Issued {
        // A fixed key pair still gets a fresh session token per session, so rotation shows.
        access_key_id,
        secret_access_key,
        token: format!("IQoJb3JpZ2luX2Vj{}", random_upper(120)),
        expiration: whole_now + inner.options.session,
    };
    inner.issued_keys.push(issued.access_key_id.clone());
    inner.current = Some(issued.clone());
    issued
}

/// Uppercase letters and digits, as in AWS access key ids; unpredictable per process.
fn random_upper(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_usize(out.len());
        let mut bits = hasher.finish();
        for _ in 0..12 {
            if out.len() == len {
                break;
            }
            out.push(ALPHABET[(bits & 31) as usize] as char);
            bits >>= 5;
        }
    }
    out
}

fn json_response(status: u16, body: String) -> Response<Full<Bytes>> {
    response(status, "application/json", body)
}

fn xml_response(status: u16, body: String) -> Response<Full<Bytes>> {
    response(status, "text/xml", body)
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

fn sts_error(status: u16, code: &str, message: &str) -> Response<Full<Bytes>> {
    xml_response(
        status,
        format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
             <Code>{code}</Code><Message>{message}</Message></Error><RequestId>0</RequestId></ErrorResponse>"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `Expiration` is read as aws-config reads it, whatever a [`Fault`] made of it.
    #[test]
    fn expirations_read_as_a_client_reads_them() {
        let at = UNIX_EPOCH + Duration::from_secs(1_795_867_200);
        let z = clock::rfc3339(at);
        for (text, want) in [
            (z.clone(), Some(at)),
            (z.replace('Z', "+00:00"), None),
            (
                "1960-01-01T00:00:00Z".into(),
                Some(UNIX_EPOCH - Duration::from_secs(315_619_200)),
            ),
            ("not a time".into(), None),
        ] {
            assert_eq!(parse_expiration(&text), want, "{text}");
        }
    }

    /// What an answer carried is remembered per session, the earliest `Expiration` wins, and no
    /// secret reaches the endpoint's `Debug`.
    #[tokio::test]
    async fn handed_out_sessions_are_remembered_without_their_secrets() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut options = Options::new(Duration::from_secs(900));
        options.key_pair = Some(("ASIAFIXEDKEY00000001".into(), "fixed-secret-canary".into()));
        let endpoint = EcsEndpoint::start(listener, options, clock::system()).unwrap();
        let first = endpoint.current();
        assert_eq!(
            endpoint.issued_expiry(&first.access_key_id, Some(&first.token)),
            None
        );
        let served = |expiration: SystemTime| {
            serde_json::json!({
                "AccessKeyId": first.access_key_id,
                "Token": first.token,
                "Expiration": clock::rfc3339(expiration),
            })
        };
        let handler = Handler {
            inner: endpoint.inner.clone(),
            clock: endpoint.clock.clone(),
            stop: endpoint.stop.clone(),
        };
        let early = first.expiration - Duration::from_secs(600);
        handler.record(&served(first.expiration));
        handler.record(&served(early));
        let second = endpoint.rotate();
        handler.record(&serde_json::json!({
            "AccessKeyId": second.access_key_id,
            "Token": second.token,
            "Expiration": clock::rfc3339(second.expiration),
        }));
        assert_eq!(
            endpoint.issued_expiry(&first.access_key_id, Some(&first.token)),
            Some(early)
        );
        assert_eq!(
            endpoint.issued_expiry(&second.access_key_id, Some(&second.token)),
            Some(second.expiration)
        );
        assert_eq!(endpoint.issued_expiry(&first.access_key_id, None), None);
        assert_eq!(
            endpoint.issued_expiry("ASIAOTHER", Some(&first.token)),
            None
        );
        let printed = format!("{endpoint:?}");
        assert!(printed.contains("ASIAFIXEDKEY00000001"), "{printed}");
        for secret in ["fixed-secret-canary", &first.token, &second.token] {
            assert!(
                !printed.contains(secret),
                "Debug prints a secret: {printed}"
            );
        }
    }
}
