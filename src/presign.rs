//! The presign guard: sign an S3 URL only when the session outlives it.
//!
//! `available` is what the current credentials have left minus `--presign-margin` (clock skew and
//! the time a client needs to start), capped at `--presign-max-expires-in`. A request for at most
//! that is signed; otherwise the credentials are resolved once more (the endpoint may have rotated)
//! and, if still short, the URL is either shortened to `available` (when the caller allowed it with
//! `min_expires_in`) or refused with 409 and what could be granted.
//!
//! Signing is aws-sdk-s3's presigning, with exactly the credentials whose expiry was checked and a
//! start time fixed by the guard, so `X-Amz-Date + X-Amz-Expires <= expiry - margin` holds by
//! construction.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::{Map, Value};
use tracing::{info, warn};

use crate::clock;
use crate::credentials::{Snapshot, error_chain};
use crate::monitor::Monitor;
use crate::policy::{Method, Policy, check_bucket};
use crate::signing::{Signing, Source};
use crate::state::Session;

/// SigV4 refuses presigned URLs valid for more than 7 days.
pub const SIGV4_MAX_EXPIRES_IN: Duration = Duration::from_secs(604_800);
/// Default margin: covers clock skew between hosts and the time a client needs to start using a URL.
pub const DEFAULT_MARGIN: &str = "1m";
/// Default cap on any URL, whatever the session allows.
pub const DEFAULT_MAX_EXPIRES_IN: &str = "12h";
/// Longest S3 object key, in bytes.
const MAX_KEY_BYTES: usize = 1024;
/// Longest `content_type` accepted.
const MAX_CONTENT_TYPE: usize = 256;
/// Fields a request may carry; anything else is a typo the caller must hear about.
pub const FIELDS: &[&str] = &[
    "bucket",
    "key",
    "method",
    "expires_in",
    "min_expires_in",
    "content_type",
];

/// A validated presign request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignRequest {
    pub bucket: String,
    pub key: String,
    pub method: Method,
    pub expires_in: u64,
    pub min_expires_in: Option<u64>,
    pub content_type: Option<String>,
}

/// The 200 body.
#[derive(Debug, Clone, Serialize)]
pub struct Presigned {
    pub url: String,
    pub method: &'static str,
    /// Every header the client must send with the request (e.g. `content-type` for a PUT).
    pub headers: std::collections::BTreeMap<String, String>,
    /// Seconds granted: `expires_in` or, when shortened, `available`.
    pub expires_in: u64,
    /// When the URL stops working.
    pub expires_at: String,
    pub credentials_expire_at: Option<String>,
}

/// Why a presign was not issued; each kind maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum PresignError {
    /// 400: the caller's mistake, naming the field.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// 403: the allow-list says no.
    #[error("{0}")]
    Forbidden(String),
    /// 409: the session ends before the URL would.
    #[error(
        "{limit}, so a URL can last at most {available}s now, less than the {requested}s asked for; {advice}"
    )]
    SessionTooShort {
        requested: u64,
        available: u64,
        credentials_expire_at: Option<String>,
        /// Why the credentials allow no more, for people.
        limit: String,
        advice: &'static str,
    },
    /// 503: no valid credentials are known.
    #[error("no valid credentials to sign with{}", .last_error.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    Unavailable { last_error: Option<String> },
    /// 500: the SDK refused to sign (a configuration problem, not the caller's).
    #[error("signing failed: {0}")]
    Signing(String),
}

impl PresignError {
    fn invalid(field: &str, message: impl Into<String>) -> Self {
        PresignError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// The `result` label and the `error` of the body.
    pub fn kind(&self) -> &'static str {
        match self {
            PresignError::Invalid { .. } => "invalid",
            PresignError::Forbidden(_) => "forbidden",
            PresignError::SessionTooShort { .. } => "session_too_short",
            PresignError::Unavailable { .. } => "unavailable",
            PresignError::Signing(_) => "error",
        }
    }
}

impl PresignRequest {
    /// Validates a JSON body, naming the first bad field.
    pub fn from_json(body: &[u8]) -> Result<PresignRequest, PresignError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| PresignError::invalid("body", format!("not valid JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(PresignError::invalid("body", "expected a JSON object"));
        };
        Self::from_map(&map)
    }

    fn from_map(map: &Map<String, Value>) -> Result<PresignRequest, PresignError> {
        if let Some(unknown) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(PresignError::invalid(
                unknown,
                format!("unknown field; expected one of {}", FIELDS.join(", ")),
            ));
        }
        // Optional fields are left out, not null: a null is as likely a client bug as a typo.
        if let Some((field, _)) = map.iter().find(|(_, v)| v.is_null()) {
            return Err(PresignError::invalid(
                field,
                "must not be null; leave the field out instead",
            ));
        }
        let text = |field: &str| -> Result<Option<&str>, PresignError> {
            match map.get(field) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(PresignError::invalid(field, "must be a string")),
            }
        };
        let bucket =
            text("bucket")?.ok_or_else(|| PresignError::invalid("bucket", "is required"))?;
        check_bucket(bucket).map_err(|why| PresignError::invalid("bucket", why))?;
        let key = text("key")?.ok_or_else(|| PresignError::invalid("key", "is required"))?;
        check_key(key)?;
        let method = match text("method")? {
            None | Some("GET") => Method::Get,
            Some("PUT") => Method::Put,
            Some(m) => {
                return Err(PresignError::invalid(
                    "method",
                    format!("{m:?} is not GET or PUT"),
                ));
            }
        };
        let expires_in = match map.get("expires_in") {
            None => {
                return Err(PresignError::invalid("expires_in", "is required"));
            }
            Some(v) => parse_seconds("expires_in", v)?,
        };
        let min_expires_in = match map.get("min_expires_in") {
            None => None,
            Some(v) => Some(parse_seconds("min_expires_in", v)?),
        };
        if min_expires_in.is_some_and(|m| m > expires_in) {
            return Err(PresignError::invalid(
                "min_expires_in",
                "must not be more than expires_in",
            ));
        }
        let content_type = text("content_type")?.map(str::to_string);
        if let Some(ct) = &content_type {
            if method != Method::Put {
                return Err(PresignError::invalid(
                    "content_type",
                    "only applies to PUT (a GET URL signs no body)",
                ));
            }
            if ct.is_empty()
                || ct.len() > MAX_CONTENT_TYPE
                || ct.chars().any(|c| c.is_control() || !c.is_ascii())
            {
                return Err(PresignError::invalid(
                    "content_type",
                    format!("must be 1 to {MAX_CONTENT_TYPE} printable ASCII characters"),
                ));
            }
        }
        Ok(PresignRequest {
            bucket: bucket.to_string(),
            key: key.to_string(),
            method,
            expires_in,
            min_expires_in,
            content_type,
        })
    }
}

/// S3 keys are opaque: any UTF-8 of 1 to 1024 bytes without control characters.
pub fn check_key(key: &str) -> Result<(), PresignError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(PresignError::invalid(
            "key",
            format!("must be 1 to {MAX_KEY_BYTES} bytes of UTF-8"),
        ));
    }
    if key.chars().any(char::is_control) {
        return Err(PresignError::invalid(
            "key",
            "must not contain control characters",
        ));
    }
    if key.trim().is_empty() {
        // aws-sdk-s3 treats a key that trims to nothing as missing and refuses to sign.
        return Err(PresignError::invalid("key", "must not be only whitespace"));
    }
    Ok(())
}

/// Seconds from a positive integer or a humantime string (`"1h"`, `"90s"`, `"3600"`), at most the
/// SigV4 limit of 7 days.
pub fn parse_seconds(field: &str, value: &Value) -> Result<u64, PresignError> {
    let seconds = match value {
        Value::Number(n) => n.as_u64().ok_or_else(|| {
            PresignError::invalid(field, "must be a positive whole number of seconds")
        })?,
        Value::String(s) => {
            parse_duration_text(s).map_err(|why| PresignError::invalid(field, why))?
        }
        _ => {
            return Err(PresignError::invalid(
                field,
                "must be seconds (a number) or a duration like \"1h\"",
            ));
        }
    };
    check_seconds(field, seconds)
}

fn parse_duration_text(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(secs);
    }
    let d = humantime::parse_duration(text).map_err(|e| {
        format!("{text:?} is not a duration ({e}); use seconds or a form like \"1h 30m\"")
    })?;
    if d.subsec_nanos() != 0 {
        return Err("must be a whole number of seconds".into());
    }
    Ok(d.as_secs())
}

/// 1 second to 7 days.
pub fn check_seconds(field: &str, seconds: u64) -> Result<u64, PresignError> {
    if seconds == 0 {
        return Err(PresignError::invalid(field, "must be at least 1 second"));
    }
    if seconds > SIGV4_MAX_EXPIRES_IN.as_secs() {
        return Err(PresignError::invalid(
            field,
            format!("{seconds}s is more than SigV4's limit of 604800s (7 days)"),
        ));
    }
    Ok(seconds)
}

/// How long a URL may last: margin and cap.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub margin: Duration,
    /// Never above [`SIGV4_MAX_EXPIRES_IN`].
    pub max_expires_in: Duration,
}

impl Limits {
    /// The longest URL the credentials allow when signing at `start` (whole seconds), or `None`
    /// when they have expired.
    pub fn available(&self, snapshot: &Snapshot, start: SystemTime) -> Option<u64> {
        let cap = self.max_expires_in.as_secs();
        let Some(expiry) = snapshot.expiry() else {
            return Some(cap);
        };
        let left = clock::seconds_until(expiry, start);
        if left <= 0.0 {
            return None;
        }
        let usable = (left - self.margin.as_secs_f64()).floor();
        Some(if usable <= 0.0 {
            0
        } else {
            (usable as u64).min(cap)
        })
    }
}

/// Most buckets whose resolved endpoint is kept.
const MAX_CACHED_ENDPOINTS: usize = 1024;

/// Where a bucket's objects live and which region signs for them.
#[derive(Debug, Clone)]
struct ResolvedEndpoint {
    url: Arc<str>,
    signing_region: Arc<str>,
}

/// A presigned request: the URL and the headers the client must send with it.
#[derive(Debug, Clone)]
pub struct SignedUrl {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
}

/// Builds presigned URLs: aws-sdk-s3's endpoint resolution (virtual-hosted or path style, custom
/// endpoints, the `authSchemes` signing region) and aws-sigv4, the signer the SDK itself uses, with
/// the settings the SDK's S3 presigning uses (query-string signature, `UNSIGNED-PAYLOAD`, no
/// double encoding, no path normalisation).
///
/// Calling the signer directly instead of the SDK's operation pipeline costs about a third: the
/// pipeline runs a dozen interceptors to produce the same URL (see BENCHMARKS.md). A unit test
/// holds the two to the same URL.
pub struct Signer {
    region: String,
    /// `AWS_ENDPOINT_URL_S3` (or the profile's `endpoint_url`, or `AWS_ENDPOINT_URL`), as the SDK
    /// resolves it.
    endpoint_url: Option<String>,
    force_path_style: bool,
    resolver: aws_sdk_s3::config::endpoint::DefaultResolver,
    /// Resolved endpoints by bucket: S3's rules for GetObject/PutObject depend on the bucket and
    /// the fixed configuration only, and walking them costs more than signing. Bounded, because
    /// the one-shot command has no allow-list (the daemon only signs for allowed buckets).
    endpoints: Mutex<std::collections::HashMap<String, ResolvedEndpoint>>,
    /// The signing identity of the snapshot last signed with (converted once per rotation).
    cached: Mutex<
        Option<(
            Arc<Snapshot>,
            aws_smithy_runtime_api::client::identity::Identity,
        )>,
    >,
}

impl Signer {
    pub fn new(region: String, endpoint_url: Option<String>, force_path_style: bool) -> Self {
        Signer {
            region,
            endpoint_url,
            force_path_style,
            resolver: aws_sdk_s3::config::endpoint::DefaultResolver::new(),
            endpoints: Mutex::new(std::collections::HashMap::new()),
            cached: Mutex::new(None),
        }
    }

    /// The endpoint URL the SDK would use for S3 from this configuration.
    pub fn endpoint_url_from(sdk: &aws_config::SdkConfig) -> Option<String> {
        let key = aws_types::service_config::ServiceConfigKey::builder()
            .service_id("S3")
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .expect("all fields set");
        sdk.service_config()
            .and_then(|c| c.load_config(key))
            .or_else(|| sdk.endpoint_url().map(str::to_string))
    }

    fn identity(
        &self,
        snapshot: &Arc<Snapshot>,
    ) -> aws_smithy_runtime_api::client::identity::Identity {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((for_snapshot, identity)) = cached.as_ref()
            && Arc::ptr_eq(for_snapshot, snapshot)
        {
            return identity.clone();
        }
        let identity = snapshot.credentials.clone().into();
        *cached = Some((snapshot.clone(), identity));
        cached.as_ref().expect("just set").1.clone()
    }

    /// The bucket's endpoint, resolved by aws-sdk-s3's rules once per bucket.
    async fn endpoint(&self, bucket: &str) -> Result<ResolvedEndpoint, PresignError> {
        use aws_sdk_s3::config::endpoint::{Params, ResolveEndpoint};
        if let Some(found) = self
            .endpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(bucket)
        {
            return Ok(found.clone());
        }
        let failed = |e: &(dyn std::error::Error + 'static)| PresignError::Signing(error_chain(e));
        let params = Params::builder()
            .bucket(bucket)
            .region(&self.region)
            .use_fips(false)
            .use_dual_stack(false)
            .accelerate(false)
            .force_path_style(self.force_path_style)
            .set_endpoint(self.endpoint_url.clone())
            .build()
            .map_err(|e| failed(&e))?;
        let endpoint = self
            .resolver
            .resolve_endpoint(&params)
            .await
            .map_err(|e| PresignError::Signing(error_chain(e.as_ref())))?;
        let signing_region = endpoint
            .properties()
            .get("authSchemes")
            .and_then(|schemes| schemes.as_array())
            .and_then(|schemes| schemes.first())
            .and_then(|scheme| scheme.as_object())
            .and_then(|scheme| scheme.get("signingRegion"))
            .and_then(|region| region.as_string())
            .unwrap_or(&self.region);
        let resolved = ResolvedEndpoint {
            url: endpoint.url().trim_end_matches('/').into(),
            signing_region: signing_region.into(),
        };
        let mut endpoints = self.endpoints.lock().unwrap_or_else(|e| e.into_inner());
        if endpoints.len() >= MAX_CACHED_ENDPOINTS {
            endpoints.clear();
        }
        endpoints.insert(bucket.to_string(), resolved.clone());
        Ok(resolved)
    }

    /// Signs `request` for `expires_in` seconds from `start`.
    pub async fn sign(
        &self,
        snapshot: &Arc<Snapshot>,
        request: &PresignRequest,
        start: SystemTime,
        expires_in: u64,
    ) -> Result<SignedUrl, PresignError> {
        use aws_sigv4::http_request::{
            PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
            SignatureLocation, SigningSettings, UriPathNormalizationMode, sign,
        };
        let failed = |e: &(dyn std::error::Error + 'static)| PresignError::Signing(error_chain(e));
        let endpoint = self.endpoint(&request.bucket).await?;
        // The SDK's `/{Key+}` label: every byte percent-encoded except unreserved ones and `/`.
        let url = format!(
            "{}/{}",
            endpoint.url,
            aws_smithy_http::label::fmt_string(
                &request.key,
                aws_smithy_http::label::EncodingStrategy::Greedy
            )
        );

        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(expires_in));
        let identity = self.identity(snapshot);
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&endpoint.signing_region)
            .name("s3")
            .time(start)
            .settings(settings)
            .build()
            .map_err(|e| failed(&e))?
            .into();
        let headers: Vec<(&'static str, String)> = request
            .content_type
            .iter()
            .map(|ct| ("content-type", ct.clone()))
            .collect();
        let signable = SignableRequest::new(
            request.method.as_str(),
            url.as_str(),
            headers.iter().map(|(k, v)| (*k, v.as_str())),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| failed(&e))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| failed(&e))?
            .into_parts();
        // What `apply_to_request_http1x` does (the same percent-encoder, the same order), without
        // parsing the ~1 KB URL three more times: on the hot path that parsing cost more than
        // hashing.
        let (_, query) = instructions.into_parts();
        let mut url = url;
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&aws_smithy_http::query::fmt_string(name));
            url.push('=');
            url.push_str(&aws_smithy_http::query::fmt_string(value));
        }
        Ok(SignedUrl { url, headers })
    }
}

/// The guard: policy, decision, signing, one log line per request.
pub struct Guard {
    pub session: Session,
    /// Re-resolves the credentials when a request is short; `None` never re-resolves.
    pub monitor: Option<Arc<Monitor>>,
    /// At most one re-resolution in flight; waiters reuse its answer.
    pub refresh: tokio::sync::Mutex<()>,
    /// Signing credentials of their own (`--signing-source assume-role|secrets-manager`); `None`
    /// signs with the task credentials of `session`.
    pub signing: Option<Arc<Signing>>,
    pub signer: Signer,
    pub policy: Policy,
    pub limits: Limits,
}

impl Guard {
    /// Applies the policy and the decision, signs, and logs the outcome.
    pub async fn presign(&self, request: &PresignRequest) -> Result<Presigned, PresignError> {
        let result = self.decide_and_sign(request).await;
        let requested_seconds = request.expires_in;
        match &result {
            Ok(p) => info!(
                bucket = request.bucket.as_str(),
                key = request.key.as_str(),
                method = request.method.as_str(),
                requested_seconds,
                granted_seconds = p.expires_in,
                expires_at = p.expires_at.as_str(),
                shortened = p.expires_in < requested_seconds,
                "presign issued"
            ),
            Err(e) => {
                let available_seconds = match e {
                    PresignError::SessionTooShort { available, .. } => Some(*available),
                    _ => None,
                };
                warn!(
                    bucket = request.bucket.as_str(),
                    key = request.key.as_str(),
                    method = request.method.as_str(),
                    requested_seconds,
                    available_seconds,
                    reason = e.kind(),
                    error = %e,
                    "presign refused"
                )
            }
        }
        result
    }

    async fn decide_and_sign(&self, request: &PresignRequest) -> Result<Presigned, PresignError> {
        self.policy
            .check(request.method, &request.bucket, &request.key)
            .map_err(PresignError::Forbidden)?;
        let (snapshot, start, available) = self.available_now();
        if let (Some(snapshot), Some(available)) = (&snapshot, available)
            && request.expires_in <= available
        {
            return self
                .sign(snapshot, request, start, request.expires_in)
                .await;
        }
        let cap = self.limits.max_expires_in.as_secs();
        // At the cap already, fresh credentials cannot make the URL any longer.
        if available != Some(cap) {
            match &self.signing {
                None => self.refresh().await,
                Some(signing) => {
                    // A fresh session for the whole request when it would cover it; otherwise for
                    // the minimum the caller accepts, if the current session falls short of that.
                    let fresh = signing.fresh_capacity(&self.limits).unwrap_or(0);
                    let current = available.unwrap_or(0);
                    let need = if request.expires_in <= fresh {
                        Some(request.expires_in)
                    } else {
                        request
                            .min_expires_in
                            .filter(|m| current < *m && *m <= fresh)
                    };
                    if let Some(need) = need {
                        signing.refresh_for(need, &self.limits).await
                    }
                }
            }
        }
        let (snapshot, start, available) = self.available_now();
        let (Some(snapshot), Some(available)) = (snapshot.clone(), available) else {
            let last_error = match &self.signing {
                None => self.session.read().last_error,
                Some(signing) => signing.last_error().or_else(|| {
                    snapshot
                        .as_ref()
                        .map(|_| signing.limit_reason(&self.limits))
                }),
            };
            return Err(PresignError::Unavailable { last_error });
        };
        if request.expires_in <= available {
            return self
                .sign(&snapshot, request, start, request.expires_in)
                .await;
        }
        if request.min_expires_in.is_some_and(|m| m <= available) {
            return self.sign(&snapshot, request, start, available).await;
        }
        let credentials_expire_at = snapshot.expiry().map(clock::rfc3339);
        let (limit, advice) = match &self.signing {
            _ if available == cap => (
                format!("--presign-max-expires-in caps every URL at {cap}s"),
                "ask for less, or raise --presign-max-expires-in (at most 7d) where the credentials allow it",
            ),
            None => (
                format!(
                    "the credentials expire at {}",
                    credentials_expire_at.as_deref().unwrap_or("?")
                ),
                "ask for less, retry after the task credentials rotate, or sign with longer-lived credentials (--signing-source)",
            ),
            Some(signing) => (
                signing.limit_reason(&self.limits),
                match signing.source() {
                    Source::AssumeRole(_) => "ask for less",
                    _ => "ask for less, or retry after the rotated key has been read",
                },
            ),
        };
        Err(PresignError::SessionTooShort {
            requested: request.expires_in,
            available,
            credentials_expire_at,
            limit,
            advice,
        })
    }

    /// The current credentials, the signing start (now, truncated to the second as in
    /// `X-Amz-Date`) and the seconds available from it.
    fn available_now(&self) -> (Option<Arc<Snapshot>>, SystemTime, Option<u64>) {
        let start = clock::whole_second(self.session.now());
        let snapshot = match &self.signing {
            None => self.session.current(),
            Some(signing) => signing.current(),
        };
        let available = snapshot
            .as_ref()
            .and_then(|s| self.limits.available(s, start));
        (snapshot, start, available)
    }

    /// Resolves the credentials once more, unless another request just did.
    async fn refresh(&self) {
        let Some(monitor) = &self.monitor else { return };
        let before = self.session.read().last_check_at;
        let _guard = self.refresh.lock().await;
        if self.session.read().last_check_at != before {
            return;
        }
        monitor.check_once().await;
    }

    async fn sign(
        &self,
        snapshot: &Arc<Snapshot>,
        request: &PresignRequest,
        start: SystemTime,
        expires_in: u64,
    ) -> Result<Presigned, PresignError> {
        let signed = self
            .signer
            .sign(snapshot, request, start, expires_in)
            .await?;
        Ok(Presigned {
            url: signed.url,
            method: request.method.as_str(),
            headers: signed
                .headers
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            expires_in,
            expires_at: clock::rfc3339(start + Duration::from_secs(expires_in)),
            credentials_expire_at: snapshot.expiry().map(clock::rfc3339),
        })
    }
}

/// Margin 1m, cap 12h: the defaults, for unit tests elsewhere.
#[cfg(test)]
pub fn tests_limits() -> Limits {
    Limits {
        margin: Duration::from_secs(60),
        max_expires_in: Duration::from_secs(43_200),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use serde_json::json;
    use std::time::UNIX_EPOCH;

    fn parse(v: Value) -> Result<PresignRequest, PresignError> {
        PresignRequest::from_json(v.to_string().as_bytes())
    }

    /// Good requests in every documented form.
    #[test]
    fn valid_requests() {
        let r =
            parse(json!({"bucket": "reports", "key": "a b+c~%//é", "expires_in": 3600})).unwrap();
        assert_eq!(
            (r.method, r.expires_in, r.min_expires_in),
            (Method::Get, 3600, None)
        );
        let r = parse(json!({"bucket": "ups", "key": "k", "method": "PUT", "expires_in": "1h 30m", "min_expires_in": "10m", "content_type": "text/csv"})).unwrap();
        assert_eq!(
            (r.method, r.expires_in, r.min_expires_in),
            (Method::Put, 5400, Some(600))
        );
        assert_eq!(r.content_type.as_deref(), Some("text/csv"));
        assert_eq!(
            parse(json!({"bucket": "abc", "key": "k", "expires_in": "604800"}))
                .unwrap()
                .expires_in,
            604_800
        );
    }

    /// Each bad request names its field.
    #[test]
    fn invalid_requests_name_the_field() {
        let cases = [
            (json!({"key": "k", "expires_in": 60}), "bucket"),
            (
                json!({"bucket": "", "key": "k", "expires_in": 60}),
                "bucket",
            ),
            (
                json!({"bucket": "Bad_Bucket", "key": "k", "expires_in": 60}),
                "bucket",
            ),
            (json!({"bucket": "abc", "expires_in": 60}), "key"),
            (json!({"bucket": "abc", "key": "", "expires_in": 60}), "key"),
            (
                json!({"bucket": "abc", "key": "a\nb", "expires_in": 60}),
                "key",
            ),
            (
                json!({"bucket": "abc", "key": " ", "expires_in": 60}),
                "key",
            ),
            (
                json!({"bucket": "abc", "key": "\u{a0}\u{3000}", "expires_in": 60}),
                "key",
            ),
            (
                json!({"bucket": "abc", "key": "k", "expires_in": 60, "method": "get"}),
                "method",
            ),
            (
                json!({"bucket": "abc", "key": "k", "expires_in": 60, "method": null}),
                "method",
            ),
            (
                json!({"bucket": "abc", "key": "k", "expires_in": 60, "min_expires_in": null}),
                "min_expires_in",
            ),
            (
                json!({"bucket": "abc", "key": "k".repeat(1025), "expires_in": 60}),
                "key",
            ),
            (json!({"bucket": "abc", "key": "k"}), "expires_in"),
            (
                json!({"bucket": "abc", "key": "k", "expires_in": 0}),
                "expires_in",
            ),
            (
                json!({"bucket": "abc", "key": "k", "expires_in": -5}),
                "expires_in",
            ),
            (
                json!({"bucket": "abc", "key": "k", "expires_in": 1.5}),
                "expires_in",
            ),
            (
                json!({"bucket": "abc", "key": "k", "expires_in": "soon"}),
                "expires_in",
            ),
            (
                json!({"bucket": "abc", "key": "k", "expires_in": 604_801}),
                "expires_in",
            ),
            (
                json!({"bucket": "abc", "key": "k", "expires_in": "8d"}),
                "expires_in",
            ),
            (
                json!({"bucket": "abc", "key": "k", "expires_in": true}),
                "expires_in",
            ),
            (
                json!({"bucket": "abc", "key": "k", "expires_in": 60, "min_expires_in": 61}),
                "min_expires_in",
            ),
            (
                json!({"bucket": "abc", "key": "k", "expires_in": 60, "method": "DELETE"}),
                "method",
            ),
            (
                json!({"bucket": "abc", "key": "k", "expires_in": 60, "content_type": "text/csv"}),
                "content_type",
            ),
            (
                json!({"bucket": "abc", "key": "k", "expires_in": 60, "method": "PUT", "content_type": "a\r\nb"}),
                "content_type",
            ),
            (
                json!({"bucket": "abc", "key": "k", "expires": 60}),
                "expires",
            ),
            (json!({"bucket": 5, "key": "k", "expires_in": 60}), "bucket"),
            (json!(["not", "an", "object"]), "body"),
        ];
        for (body, field) in cases {
            match parse(body.clone()) {
                Err(PresignError::Invalid { field: got, .. }) => assert_eq!(got, field, "{body}"),
                other => panic!("{body}: expected invalid {field}, got {other:?}"),
            }
        }
        assert!(
            matches!(PresignRequest::from_json(b"{not json"), Err(PresignError::Invalid { field, .. }) if field == "body")
        );
    }

    /// `available` subtracts the margin, floors, caps, and is `None` once expired.
    #[test]
    fn available_seconds() {
        let start = UNIX_EPOCH + Duration::from_secs(1_795_867_200);
        let limits = Limits {
            margin: Duration::from_secs(60),
            max_expires_in: Duration::from_secs(43_200),
        };
        let snap = |left: Duration| {
            Snapshot::new(Credentials::new(
                "ASIAEXAMPLE00000",
                "s",
                Some("t".into()),
                Some(start + left),
                "EcsContainer",
            ))
        };
        assert_eq!(
            limits.available(&snap(Duration::from_secs(900)), start),
            Some(840)
        );
        assert_eq!(
            limits.available(&snap(Duration::from_millis(900_500)), start),
            Some(840)
        );
        assert_eq!(
            limits.available(&snap(Duration::from_secs(30)), start),
            Some(0)
        );
        assert_eq!(
            limits.available(&snap(Duration::from_secs(86_400)), start),
            Some(43_200)
        );
        assert_eq!(limits.available(&snap(Duration::ZERO), start), None);
        let static_keys = Snapshot::new(Credentials::new(
            "AKIDEXAMPLE00000",
            "s",
            None,
            None,
            "Static",
        ));
        assert_eq!(limits.available(&static_keys, start), Some(43_200));
    }

    fn guard(clock: aws_smithy_async::test_util::ManualTimeSource) -> Guard {
        let session = Session::new(clock::Clock::new(clock));
        Guard {
            session,
            monitor: None,
            refresh: Default::default(),
            signing: None,
            signer: Signer::new("us-east-1".into(), None, false),
            policy: Policy::Unrestricted,
            limits: tests_limits(),
        }
    }

    /// On a manual clock: a URL within the session is signed from the clock's second; the same
    /// request after the clock steps past expiry is refused as unavailable, and a long one as too
    /// short with what is left.
    #[tokio::test]
    async fn clock_stepping_past_expiry() {
        let start = UNIX_EPOCH + Duration::from_secs(1_795_867_200);
        let manual = aws_smithy_async::test_util::ManualTimeSource::new(start);
        let guard = guard(manual.clone());
        let creds = Credentials::new(
            "ASIAEXAMPLE00000",
            "s",
            Some("t".into()),
            Some(start + Duration::from_secs(900)),
            "EcsContainer",
        );
        guard
            .session
            .update(|s| s.current = Some(std::sync::Arc::new(Snapshot::new(creds))));
        let request = parse(json!({"bucket": "abc", "key": "k", "expires_in": 60})).unwrap();

        let issued = guard.presign(&request).await.unwrap();
        assert!(
            issued.url.contains("X-Amz-Date=20261128T120000Z"),
            "{}",
            issued.url
        );
        assert!(issued.url.contains("X-Amz-Expires=60"), "{}", issued.url);
        assert_eq!(issued.expires_at, "2026-11-28T12:01:00Z");

        let long = parse(json!({"bucket": "abc", "key": "k", "expires_in": 600})).unwrap();
        manual.advance(Duration::from_secs(600));
        match guard.presign(&long).await {
            Err(PresignError::SessionTooShort { available, .. }) => assert_eq!(available, 240),
            other => panic!("{other:?}"),
        }

        manual.advance(Duration::from_secs(301));
        assert!(matches!(
            guard.presign(&request).await,
            Err(PresignError::Unavailable { .. })
        ));
    }

    /// What aws-sdk-s3's own presigning produces for the same inputs.
    async fn sdk_presigned(
        request: &PresignRequest,
        creds: &Credentials,
        endpoint: Option<&str>,
        path_style: bool,
        start: SystemTime,
    ) -> String {
        use aws_sdk_s3::presigning::PresigningConfig;
        let mut config = aws_sdk_s3::config::Builder::new()
            .region(aws_sdk_s3::config::Region::new("eu-west-1"))
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .credentials_provider(creds.clone())
            .force_path_style(path_style);
        if let Some(e) = endpoint {
            config = config.endpoint_url(e);
        }
        let client = aws_sdk_s3::Client::from_conf(config.build());
        let presigning = PresigningConfig::builder()
            .start_time(start)
            .expires_in(Duration::from_secs(600))
            .build()
            .unwrap();
        let signed = match request.method {
            Method::Get => client
                .get_object()
                .bucket(&request.bucket)
                .key(&request.key)
                .presigned(presigning)
                .await
                .unwrap(),
            Method::Put => client
                .put_object()
                .bucket(&request.bucket)
                .key(&request.key)
                .set_content_type(request.content_type.clone())
                .presigned(presigning)
                .await
                .unwrap(),
        };
        signed.uri().to_string()
    }

    /// Scheme, host and path, and the query without the SDK's `x-id` and the signature (which
    /// covers `x-id`), sorted.
    fn comparable(url: &str) -> (String, Vec<String>) {
        let (base, query) = url.split_once('?').unwrap();
        let mut params: Vec<String> = query
            .split('&')
            .filter(|p| !p.starts_with("x-id=") && !p.starts_with("X-Amz-Signature="))
            .map(str::to_string)
            .collect();
        params.sort();
        (base.to_string(), params)
    }

    /// The direct signer builds the same URL as aws-sdk-s3's presigning (host, encoded key path,
    /// credential scope, signed headers, token), for tricky keys, both methods, virtual-hosted and
    /// path style; s3s-fs verifies its signatures in the integration tests.
    #[tokio::test]
    async fn same_url_as_the_sdk() {
        let start = UNIX_EPOCH + Duration::from_secs(1_795_867_200);
        let creds = Credentials::new(
            "ASIAEXAMPLE00000",
            "secret",
            Some("token/with+special=chars".into()),
            Some(start + Duration::from_secs(3600)),
            "EcsContainer",
        );
        let snapshot = Arc::new(Snapshot::new(creds.clone()));
        let keys = [
            "plain.csv",
            "with space.txt",
            "plus+sign",
            "tilde~name",
            "percent%20literal",
            "double//slash",
            "ünïcödé/日本語.txt",
            "q?and=amp&hash#",
            "/leading",
        ];
        for (endpoint, path_style) in [(None, false), (Some("http://127.0.0.1:9000"), true)] {
            let signer = Signer::new("eu-west-1".into(), endpoint.map(str::to_string), path_style);
            for key in keys {
                for body in [
                    json!({"bucket": "reports", "key": key, "expires_in": 600}),
                    json!({"bucket": "reports", "key": key, "expires_in": 600, "method": "PUT", "content_type": "text/csv"}),
                ] {
                    let request = parse(body).unwrap();
                    let ours = signer.sign(&snapshot, &request, start, 600).await.unwrap();
                    let sdk = sdk_presigned(&request, &creds, endpoint, path_style, start).await;
                    assert_eq!(
                        comparable(&ours.url),
                        comparable(&sdk),
                        "{key} {:?}",
                        request.method
                    );
                }
            }
        }
    }
}
