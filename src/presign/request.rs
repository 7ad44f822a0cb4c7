//! The body of `POST /v1/presign`, parsed by serde into types that validate themselves.
//!
//! Every field is a newtype checked in its `TryFrom`, unknown fields are refused
//! (`deny_unknown_fields`), and `serde_path_to_error` names the field of the first problem, so
//! every 400 says `{"field": "expires_in", ...}`. Optional fields are left out, not `null`: a null
//! is as likely a client bug as a typo.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::error::PresignError;
use super::policy::{Method, check_bucket};

/// SigV4 refuses presigned URLs valid for more than 7 days.
pub const SIGV4_MAX_EXPIRES_IN: Duration = Duration::from_secs(604_800);
/// Longest S3 object key, in bytes.
const MAX_KEY_BYTES: usize = 1024;
/// Longest `content_type` accepted.
const MAX_CONTENT_TYPE: usize = 256;
/// Fields a request may carry, in the order of [`Body`]; anything else is a typo the caller must
/// hear about. A unit test holds the two equal.
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
    content_type: Option<ContentType>,
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

/// `GET` or `PUT`, in capitals as HTTP writes them.
#[derive(Deserialize)]
#[serde(try_from = "Value")]
struct MethodField(Method);

impl TryFrom<Value> for MethodField {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, String> {
        match string(value)?.as_str() {
            "GET" => Ok(MethodField(Method::Get)),
            "PUT" => Ok(MethodField(Method::Put)),
            m => Err(format!("{m:?} is not GET or PUT")),
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

/// A MIME type a PUT must be sent with: printable ASCII, signed as a header.
#[derive(Deserialize)]
#[serde(try_from = "Value")]
pub(crate) struct ContentType(pub(crate) String);

impl TryFrom<Value> for ContentType {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, String> {
        let ct = string(value)?;
        if ct.is_empty()
            || ct.len() > MAX_CONTENT_TYPE
            || ct.chars().any(|c| c.is_control() || !c.is_ascii())
        {
            return Err(format!(
                "must be 1 to {MAX_CONTENT_TYPE} printable ASCII characters"
            ));
        }
        Ok(ContentType(ct))
    }
}

impl PresignRequest {
    /// Validates a JSON body, naming the first bad field.
    pub fn from_json(body: &[u8]) -> Result<PresignRequest, PresignError> {
        let body: Body = parse_object(body, FIELDS)?;
        let expires_in = body.expires_in.0;
        let min_expires_in = body.min_expires_in.map(|s| s.0);
        if min_expires_in.is_some_and(|m| m > expires_in) {
            return Err(PresignError::invalid(
                "min_expires_in",
                "must not be more than expires_in",
            ));
        }
        let method = body.method.map_or(Method::Get, |m| m.0);
        let content_type = body.content_type.map(|c| c.0);
        if content_type.is_some() && method != Method::Put {
            return Err(PresignError::invalid(
                "content_type",
                "only applies to PUT (a GET URL signs no body)",
            ));
        }
        Ok(PresignRequest {
            bucket: body.bucket.0,
            key: body.key.0,
            method,
            expires_in,
            min_expires_in,
            content_type,
        })
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
