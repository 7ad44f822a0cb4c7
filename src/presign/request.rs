//! The body of `POST /v1/presign`, parsed by serde into types that validate themselves.
//!
//! Every field is a newtype checked in its `TryFrom`, unknown fields are refused
//! (`deny_unknown_fields`), and `serde_path_to_error` names the field of the first problem, so
//! every 400 says `{"field": "expires_in", ...}`. Optional fields are left out, not `null`: a null
//! is as likely a client bug as a typo. A field of another method (`content_length` on a GET) is
//! a 400 naming it too: silently dropping it would sign less than the caller meant.
//!
//! [`params`] holds the GET overrides and `version_id` (query parameters inside the signature),
//! [`headers`] the PUT fields that become signed headers.

pub(crate) mod headers;
pub mod operation;
mod params;

use std::borrow::Cow;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use self::headers::{
    ContentLength, ContentType, Digest, HeaderText, KmsKeyId, Metadata, ServerSideEncryption,
    StorageClass, Tagging,
};
use self::operation::{
    BODY_HEADERS, GET_ONLY, OBJECT_HEADERS, Operation, VERSIONED, described_operation, listed,
};
use self::params::{HttpDate, PartNumber, UploadId, VersionId};
use super::error::PresignError;
use super::policy::{Method, check_bucket};

/// SigV4 refuses presigned URLs valid for more than 7 days.
pub const SIGV4_MAX_EXPIRES_IN: Duration = Duration::from_secs(604_800);
/// Longest S3 object key, in bytes.
const MAX_KEY_BYTES: usize = 1024;
/// Fields a request may carry, in the order of [`Body`]; anything else is a typo the caller must
/// hear about. A unit test holds the two equal.
pub const FIELDS: &[&str] = &[
    "bucket",
    "key",
    "method",
    "expires_in",
    "min_expires_in",
    "version_id",
    "response_content_type",
    "response_content_disposition",
    "response_content_encoding",
    "response_content_language",
    "response_cache_control",
    "response_expires",
    "content_type",
    "content_length",
    "content_md5",
    "checksum_sha256",
    "checksum_crc32",
    "checksum_crc32c",
    "server_side_encryption",
    "sse_kms_key_id",
    "metadata",
    "tagging",
    "storage_class",
    "cache_control",
    "content_disposition",
    "content_encoding",
    "upload_id",
    "part_number",
];

/// A validated presign request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignRequest {
    pub bucket: String,
    pub key: String,
    /// The HTTP method of the URL (`POST` for CreateMultipartUpload and Complete).
    pub method: Method,
    /// What the URL does, from the method, `upload_id` and `part_number`.
    pub operation: Operation,
    pub expires_in: u64,
    pub min_expires_in: Option<u64>,
    /// Query parameters the signature covers besides SigV4's own (`versionId`,
    /// `response-content-disposition`, ...), names as S3 spells them, values not yet encoded.
    /// Empty, and so never allocated, for a plain GET.
    pub query: Vec<(&'static str, String)>,
    /// Signed headers (lowercase names): the client must send each exactly as given (PUT only).
    pub headers: Vec<(Cow<'static, str>, String)>,
}

impl PresignRequest {
    /// The value of signed header `name`, if the request carries it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The JSON body as sent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    bucket: Bucket,
    key: Key,
    #[serde(default, deserialize_with = "present")]
    method: Option<MethodField>,
    expires_in: Seconds,
    #[serde(default, deserialize_with = "present")]
    min_expires_in: Option<Seconds>,
    #[serde(default, deserialize_with = "present")]
    version_id: Option<VersionId>,
    #[serde(default, deserialize_with = "present")]
    response_content_type: Option<HeaderText>,
    #[serde(default, deserialize_with = "present")]
    response_content_disposition: Option<HeaderText>,
    #[serde(default, deserialize_with = "present")]
    response_content_encoding: Option<HeaderText>,
    #[serde(default, deserialize_with = "present")]
    response_content_language: Option<HeaderText>,
    #[serde(default, deserialize_with = "present")]
    response_cache_control: Option<HeaderText>,
    #[serde(default, deserialize_with = "present")]
    response_expires: Option<HttpDate>,
    #[serde(default, deserialize_with = "present")]
    content_type: Option<ContentType>,
    #[serde(default, deserialize_with = "present")]
    content_length: Option<ContentLength>,
    #[serde(default, deserialize_with = "present")]
    content_md5: Option<Digest<16>>,
    #[serde(default, deserialize_with = "present")]
    checksum_sha256: Option<Digest<32>>,
    #[serde(default, deserialize_with = "present")]
    checksum_crc32: Option<Digest<4>>,
    #[serde(default, deserialize_with = "present")]
    checksum_crc32c: Option<Digest<4>>,
    #[serde(default, deserialize_with = "present")]
    server_side_encryption: Option<ServerSideEncryption>,
    #[serde(default, deserialize_with = "present")]
    sse_kms_key_id: Option<KmsKeyId>,
    #[serde(default, deserialize_with = "present")]
    metadata: Option<Metadata>,
    #[serde(default, deserialize_with = "present")]
    tagging: Option<Tagging>,
    #[serde(default, deserialize_with = "present")]
    storage_class: Option<StorageClass>,
    #[serde(default, deserialize_with = "present")]
    cache_control: Option<HeaderText>,
    #[serde(default, deserialize_with = "present")]
    content_disposition: Option<HeaderText>,
    #[serde(default, deserialize_with = "present")]
    content_encoding: Option<HeaderText>,
    #[serde(default, deserialize_with = "present")]
    upload_id: Option<UploadId>,
    #[serde(default, deserialize_with = "present")]
    part_number: Option<PartNumber>,
}

/// An optional field that, when present, must be a value: `null` goes to the field's own check.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

pub(crate) const NOT_NULL: &str = "must not be null; leave the field out instead";

pub(crate) fn string(value: Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s),
        Value::Null => Err(NOT_NULL.into()),
        _ => Err("must be a string".into()),
    }
}

/// An S3 bucket name.
#[derive(Deserialize)]
#[serde(try_from = "Value")]
pub(crate) struct Bucket(pub(crate) String);

impl TryFrom<Value> for Bucket {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, String> {
        let bucket = string(value)?;
        check_bucket(&bucket)?;
        Ok(Bucket(bucket))
    }
}

/// An S3 object key.
#[derive(Deserialize)]
#[serde(try_from = "Value")]
pub(crate) struct Key(pub(crate) String);

impl TryFrom<Value> for Key {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, String> {
        let key = string(value)?;
        check_key(&key)?;
        Ok(Key(key))
    }
}

/// `GET`, `HEAD`, `PUT` or `DELETE`, in capitals as HTTP writes them. `POST` is a browser form
/// upload, a policy rather than a URL: not a method of this request.
#[derive(Deserialize)]
#[serde(try_from = "Value")]
struct MethodField(Method);

impl TryFrom<Value> for MethodField {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, String> {
        match string(value)?.as_str() {
            "GET" => Ok(MethodField(Method::Get)),
            "HEAD" => Ok(MethodField(Method::Head)),
            "PUT" => Ok(MethodField(Method::Put)),
            "DELETE" => Ok(MethodField(Method::Delete)),
            "POST" => Ok(MethodField(Method::Post)),
            m => Err(format!("{m:?} is not GET, HEAD, PUT, DELETE or POST")),
        }
    }
}

/// Seconds from a positive integer or a humantime string (`"1h"`, `"90s"`, `"3600"`), 1 second to
/// SigV4's 7 days.
#[derive(Deserialize)]
#[serde(try_from = "Value")]
pub(crate) struct Seconds(pub(crate) u64);

impl TryFrom<Value> for Seconds {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, String> {
        let seconds = match value {
            Value::Number(n) => n
                .as_u64()
                .ok_or("must be a positive whole number of seconds")?,
            Value::String(s) => parse_duration_text(&s)?,
            Value::Null => return Err(NOT_NULL.into()),
            _ => return Err("must be seconds (a number) or a duration like \"1h\"".into()),
        };
        check_seconds(seconds).map(Seconds)
    }
}

impl PresignRequest {
    /// Validates a JSON body, naming the first bad field.
    pub fn from_json(body: &[u8]) -> Result<PresignRequest, PresignError> {
        let body: Body = parse_object(body, FIELDS)?;
        body.into_request()
    }
}

impl Body {
    /// Checks that every field belongs to the method, then lays the fields out as query
    /// parameters and headers for the signer.
    fn into_request(self) -> Result<PresignRequest, PresignError> {
        let expires_in = self.expires_in.0;
        let min_expires_in = self.min_expires_in.as_ref().map(|s| s.0);
        if min_expires_in.is_some_and(|m| m > expires_in) {
            return Err(PresignError::invalid(
                "min_expires_in",
                "must not be more than expires_in",
            ));
        }
        let method = self.method.as_ref().map_or(Method::Get, |m| m.0);
        let operation = Operation::of(method, self.upload_id.is_some(), self.part_number.is_some())
            .map_err(|(field, why)| PresignError::invalid(field, why))?;
        self.check_operation(operation)?;
        let kms = self.server_side_encryption.is_some_and(|s| s.is_kms());
        if self.sse_kms_key_id.is_some() && !kms {
            return Err(PresignError::invalid(
                "sse_kms_key_id",
                "only applies with server_side_encryption aws:kms or aws:kms:dsse",
            ));
        }
        let checksums = [
            ("checksum_sha256", self.checksum_sha256.is_some()),
            ("checksum_crc32", self.checksum_crc32.is_some()),
            ("checksum_crc32c", self.checksum_crc32c.is_some()),
        ];
        if let Some((second, _)) = checksums.iter().filter(|(_, given)| *given).nth(1) {
            return Err(PresignError::invalid(
                second,
                "only one of checksum_sha256, checksum_crc32, checksum_crc32c may be given: S3 takes one checksum header per upload",
            ));
        }

        let mut query = Vec::new();
        match (&self.upload_id, &self.part_number) {
            (None, _) if operation == Operation::CreateMultipartUpload => {
                query.push(("uploads", String::new()))
            }
            (Some(upload), Some(part)) => {
                query.push(("partNumber", part.0.to_string()));
                query.push(("uploadId", upload.0.clone()));
            }
            (Some(upload), None) => query.push(("uploadId", upload.0.clone())),
            (None, _) => {}
        }
        let params = [
            ("versionId", self.version_id.map(|v| v.0)),
            (
                "response-content-type",
                self.response_content_type.map(|v| v.0),
            ),
            (
                "response-content-disposition",
                self.response_content_disposition.map(|v| v.0),
            ),
            (
                "response-content-encoding",
                self.response_content_encoding.map(|v| v.0),
            ),
            (
                "response-content-language",
                self.response_content_language.map(|v| v.0),
            ),
            (
                "response-cache-control",
                self.response_cache_control.map(|v| v.0),
            ),
            ("response-expires", self.response_expires.map(|v| v.0)),
        ];
        for (name, value) in params {
            if let Some(value) = value {
                query.push((name, value));
            }
        }

        let mut headers: Vec<(Cow<'static, str>, String)> = Vec::new();
        let fixed = [
            ("content-type", self.content_type.map(|v| v.0)),
            (
                "content-length",
                self.content_length.map(|v| v.0.to_string()),
            ),
            ("content-md5", self.content_md5.map(|v| v.0)),
            ("x-amz-checksum-sha256", self.checksum_sha256.map(|v| v.0)),
            ("x-amz-checksum-crc32", self.checksum_crc32.map(|v| v.0)),
            ("x-amz-checksum-crc32c", self.checksum_crc32c.map(|v| v.0)),
            (
                "x-amz-server-side-encryption",
                self.server_side_encryption.map(|v| v.as_str().to_string()),
            ),
            (
                "x-amz-server-side-encryption-aws-kms-key-id",
                self.sse_kms_key_id.map(|v| v.0),
            ),
        ];
        for (name, value) in fixed {
            if let Some(value) = value {
                headers.push((Cow::Borrowed(name), value));
            }
        }
        if let Some(metadata) = self.metadata {
            headers.extend(
                metadata
                    .0
                    .into_iter()
                    .map(|(name, value)| (Cow::Owned(format!("x-amz-meta-{name}")), value)),
            );
        }
        let rest = [
            ("x-amz-tagging", self.tagging.map(|v| v.0)),
            ("x-amz-storage-class", self.storage_class.map(|v| v.0)),
            ("cache-control", self.cache_control.map(|v| v.0)),
            ("content-disposition", self.content_disposition.map(|v| v.0)),
            ("content-encoding", self.content_encoding.map(|v| v.0)),
        ];
        for (name, value) in rest {
            if let Some(value) = value {
                headers.push((Cow::Borrowed(name), value));
            }
        }
        Ok(PresignRequest {
            bucket: self.bucket.0,
            key: self.key.0,
            method,
            operation,
            expires_in,
            min_expires_in,
            query,
            headers,
        })
    }

    /// The first field, in [`FIELDS`] order, that `operation` does not take.
    fn check_operation(&self, operation: Operation) -> Result<(), PresignError> {
        let fields = [
            ("version_id", self.version_id.is_some(), VERSIONED),
            (
                "response_content_type",
                self.response_content_type.is_some(),
                GET_ONLY,
            ),
            (
                "response_content_disposition",
                self.response_content_disposition.is_some(),
                GET_ONLY,
            ),
            (
                "response_content_encoding",
                self.response_content_encoding.is_some(),
                GET_ONLY,
            ),
            (
                "response_content_language",
                self.response_content_language.is_some(),
                GET_ONLY,
            ),
            (
                "response_cache_control",
                self.response_cache_control.is_some(),
                GET_ONLY,
            ),
            (
                "response_expires",
                self.response_expires.is_some(),
                GET_ONLY,
            ),
            ("content_type", self.content_type.is_some(), OBJECT_HEADERS),
            (
                "content_length",
                self.content_length.is_some(),
                BODY_HEADERS,
            ),
            ("content_md5", self.content_md5.is_some(), BODY_HEADERS),
            (
                "checksum_sha256",
                self.checksum_sha256.is_some(),
                BODY_HEADERS,
            ),
            (
                "checksum_crc32",
                self.checksum_crc32.is_some(),
                BODY_HEADERS,
            ),
            (
                "checksum_crc32c",
                self.checksum_crc32c.is_some(),
                BODY_HEADERS,
            ),
            (
                "server_side_encryption",
                self.server_side_encryption.is_some(),
                OBJECT_HEADERS,
            ),
            (
                "sse_kms_key_id",
                self.sse_kms_key_id.is_some(),
                OBJECT_HEADERS,
            ),
            ("metadata", self.metadata.is_some(), OBJECT_HEADERS),
            ("tagging", self.tagging.is_some(), OBJECT_HEADERS),
            (
                "storage_class",
                self.storage_class.is_some(),
                OBJECT_HEADERS,
            ),
            (
                "cache_control",
                self.cache_control.is_some(),
                OBJECT_HEADERS,
            ),
            (
                "content_disposition",
                self.content_disposition.is_some(),
                OBJECT_HEADERS,
            ),
            (
                "content_encoding",
                self.content_encoding.is_some(),
                OBJECT_HEADERS,
            ),
        ];
        match fields
            .iter()
            .find(|(_, given, applies)| *given && !applies.contains(&operation))
        {
            None => Ok(()),
            Some((field, _, applies)) => Err(PresignError::invalid(
                field,
                format!(
                    "only applies to {}, not {}",
                    listed(applies),
                    described_operation(operation)
                ),
            )),
        }
    }
}

/// Parses a JSON object body into `T`, naming the first bad field; `fields` are the ones `T` takes.
pub(crate) fn parse_object<T: serde::de::DeserializeOwned>(
    body: &[u8],
    fields: &[&str],
) -> Result<T, PresignError> {
    // serde would read a struct from an array too; the body is an object or nothing.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                Err(e) => PresignError::invalid("body", format!("not valid JSON: {e}")),
                Ok(_) => PresignError::invalid("body", "expected a JSON object"),
            },
        );
    }
    let mut json = serde_json::Deserializer::from_slice(body);
    let parsed: T = serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let message = e.inner().to_string();
        let path = e.path().to_string();
        described(&path, &message, e.inner().classify(), fields)
    })?;
    json.end()
        .map_err(|e| PresignError::invalid("body", format!("not valid JSON: {e}")))?;
    Ok(parsed)
}

/// The 400 for a serde error: the field it names and a message without serde's jargon.
pub(crate) fn described(
    path: &str,
    message: &str,
    class: serde_json::error::Category,
    fields: &[&str],
) -> PresignError {
    use serde_json::error::Category;
    if matches!(class, Category::Syntax | Category::Eof | Category::Io) {
        return PresignError::invalid("body", format!("not valid JSON: {message}"));
    }
    if let Some(field) = quoted_after(message, "unknown field `") {
        return PresignError::invalid(
            field,
            format!("unknown field; expected one of {}", fields.join(", ")),
        );
    }
    if let Some(field) = quoted_after(message, "missing field `") {
        return PresignError::invalid(field, "is required");
    }
    if let Some(field) = quoted_after(message, "duplicate field `") {
        return PresignError::invalid(field, "is given twice");
    }
    if path == "." || path.is_empty() {
        return PresignError::invalid("body", "expected a JSON object");
    }
    // Our own checks' messages carry serde's position suffix (" at line 1 column 20"): drop it.
    let message = message
        .rsplit_once(" at line ")
        .map_or(message, |(text, _)| text);
    PresignError::invalid(path, message)
}

/// `name` in "... `name` ..." right after `prefix`.
fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.split_once(prefix)?.1;
    Some(rest.split_once('`')?.0)
}

/// S3 keys are opaque: any UTF-8 of 1 to 1024 bytes without control characters.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(format!("must be 1 to {MAX_KEY_BYTES} bytes of UTF-8"));
    }
    if key.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    if key.trim().is_empty() {
        // aws-sdk-s3 treats a key that trims to nothing as missing and refuses to sign.
        return Err("must not be only whitespace".into());
    }
    Ok(())
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
fn check_seconds(seconds: u64) -> Result<u64, String> {
    if seconds == 0 {
        return Err("must be at least 1 second".into());
    }
    if seconds > SIGV4_MAX_EXPIRES_IN.as_secs() {
        return Err(format!(
            "{seconds}s is more than SigV4's limit of 604800s (7 days)"
        ));
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests;
