//! The body of `POST /v1/presign`: every field declared once in [`fields::FIELDS`], read by
//! [`body::read`](super::body::read), checked against the operation it presigns, and laid out as
//! the query parameters and signed headers the signer signs.
//!
//! Every 400 names its field (`{"field": "expires_in", ...}`). A field of another method
//! (`content_length` on a GET) is a 400 naming it too: silently dropping it would sign less than
//! the caller meant.
//!
//! [`params`] checks the values only query parameters take (`version_id`, `response_expires`,
//! `upload_id`, `part_number`), [`headers`] the header values: the PUT fields that become signed
//! headers, and the GET overrides, which S3 answers as headers.

pub mod fields;
pub(crate) mod headers;
pub mod operation;
mod params;

use std::borrow::Cow;
use std::time::Duration;

use serde_json::Value;

use self::fields::{CHECKSUM_HEADER, FIELDS, Place, SentAs};
use self::headers::is_kms;
use self::operation::{Operation, described_operation, listed};
use super::allow_list::{METHODS, Method, validate_bucket};
use super::body::{self, Given, NOT_NULL, Parsed, string};
use super::error::PresignError;

/// SigV4 refuses presigned URLs valid for more than 7 days.
pub const SIGV4_MAX_EXPIRES_IN: Duration = Duration::from_secs(604_800);
/// Longest S3 object key, in bytes.
const MAX_KEY_BYTES: usize = 1024;

/// Query parameters as S3 names them, values not yet encoded.
pub type QueryParams = Vec<(&'static str, String)>;
/// Signed headers, lowercase names.
pub type SignedHeaders = Vec<(Cow<'static, str>, String)>;

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
    pub query: QueryParams,
    /// Signed headers (lowercase names): the client must send each exactly as given (PUT only).
    pub headers: SignedHeaders,
}

impl PresignRequest {
    /// The value of signed header `name`, if the request carries it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Validates a JSON body, naming the first bad field.
    pub fn from_json(body: &[u8]) -> Result<PresignRequest, PresignError> {
        Self::from_given(body::read(body, FIELDS)?)
    }

    /// Validates a JSON object already parsed (a batch's item, Uppy's request), as
    /// [`PresignRequest::from_json`] validates its text.
    pub fn from_value(value: Value) -> Result<PresignRequest, PresignError> {
        Self::from_given(body::read_value(value, FIELDS)?)
    }

    fn from_given(mut given: Given<Place>) -> Result<PresignRequest, PresignError> {
        let (expires_in, min_expires_in) = validate_expiry(&given)?;
        let method = match given.get("method") {
            Some(Parsed::Method(m)) => *m,
            _ => Method::Get,
        };
        let upload_id = given.take_text("upload_id");
        let part_number = given.take("part_number").and_then(|p| p.count());
        let operation = Operation::of(method, upload_id.is_some(), part_number.is_some())
            .map_err(|(field, why)| PresignError::invalid(field, why))?;
        validate_operation(&given, operation)?;
        validate_combinations(&given)?;
        let bucket = required_text(&mut given, "bucket")?;
        let key = required_text(&mut given, "key")?;
        let (query, headers) = laid_out(given, multipart_query(operation, upload_id, part_number));
        Ok(PresignRequest {
            bucket,
            key,
            method,
            operation,
            expires_in,
            min_expires_in,
            query,
            headers,
        })
    }
}

/// `expires_in` and `min_expires_in`, the shorter URL a caller accepts: never more than it asks.
pub(crate) fn validate_expiry<P>(given: &Given<P>) -> Result<(u64, Option<u64>), PresignError> {
    let expires_in = given.get("expires_in").and_then(Parsed::count);
    // [`body::read`] has refused a body without it.
    let expires_in =
        expires_in.ok_or_else(|| PresignError::invalid("expires_in", "is required"))?;
    let min_expires_in = given.get("min_expires_in").and_then(Parsed::count);
    if min_expires_in.is_some_and(|m| m > expires_in) {
        return Err(PresignError::invalid(
            "min_expires_in",
            "must not be more than expires_in",
        ));
    }
    Ok((expires_in, min_expires_in))
}

/// A KMS key only with KMS encryption: S3 refuses it with `AES256`.
pub(crate) fn validate_kms_key<P>(given: &Given<P>) -> Result<(), PresignError> {
    let kms = given.get("server_side_encryption").is_some_and(is_kms);
    if given.has("sse_kms_key_id") && !kms {
        return Err(PresignError::invalid(
            "sse_kms_key_id",
            "only applies with server_side_encryption aws:kms or aws:kms:dsse",
        ));
    }
    Ok(())
}

/// A required field's text; [`body::read`] has refused a body without it.
pub(crate) fn required_text<P>(
    given: &mut Given<P>,
    name: &'static str,
) -> Result<String, PresignError> {
    given
        .take_text(name)
        .ok_or_else(|| PresignError::invalid(name, "is required"))
}

/// The first field, in [`FIELDS`] order, that `operation` does not take.
fn validate_operation(given: &Given<Place>, operation: Operation) -> Result<(), PresignError> {
    match given
        .iter()
        .find(|(field, _)| !field.place.operations.contains(&operation))
    {
        None => Ok(()),
        Some((field, _)) => Err(PresignError::invalid(
            field.name,
            format!(
                "only applies to {}, not {}",
                listed(field.place.operations),
                described_operation(operation)
            ),
        )),
    }
}

/// Fields that only make sense together: a KMS key with KMS encryption, one checksum at most.
fn validate_combinations(given: &Given<Place>) -> Result<(), PresignError> {
    validate_kms_key(given)?;
    let is_checksum = |field: &body::Field<Place>| matches!(field.place.sent_as, SentAs::Header(h) if h.starts_with(CHECKSUM_HEADER));
    let mut given_checksums = given.iter().filter(|(field, _)| is_checksum(field));
    if let Some((second, _)) = given_checksums.nth(1) {
        let names: Vec<&str> = FIELDS
            .iter()
            .filter(|f| is_checksum(f))
            .map(|f| f.name)
            .collect();
        return Err(PresignError::invalid(
            second.name,
            format!(
                "only one of {} may be given: S3 takes one checksum header per upload",
                names.join(", ")
            ),
        ));
    }
    Ok(())
}

/// The query parameters that make a multipart operation, first in its URL as in S3's REST shapes.
fn multipart_query(
    operation: Operation,
    upload_id: Option<String>,
    part_number: Option<u64>,
) -> QueryParams {
    match (upload_id, part_number) {
        (None, _) if operation == Operation::CreateMultipartUpload => {
            vec![("uploads", String::new())]
        }
        (Some(upload), Some(part)) => vec![("partNumber", part.to_string()), ("uploadId", upload)],
        (Some(upload), None) => vec![("uploadId", upload)],
        (None, _) => Vec::new(),
    }
}

/// The signed fields as query parameters (after `query`) and headers, in [`FIELDS`] order.
fn laid_out(given: Given<Place>, mut query: QueryParams) -> (QueryParams, SignedHeaders) {
    let mut headers = SignedHeaders::new();
    for (field, value) in given.into_fields() {
        match (field.place.sent_as, value) {
            (SentAs::Query(name), Parsed::Text(text)) => query.push((name, text)),
            (SentAs::Header(name), Parsed::Text(text)) => headers.push((Cow::Borrowed(name), text)),
            (SentAs::Header(name), Parsed::Count(n)) => {
                headers.push((Cow::Borrowed(name), n.to_string()))
            }
            (SentAs::HeaderPerEntry(prefix), Parsed::Entries(entries)) => headers.extend(
                entries
                    .into_iter()
                    .map(|(name, value)| (Cow::Owned(format!("{prefix}{name}")), value)),
            ),
            _ => {}
        }
    }
    (query, headers)
}

/// An S3 bucket name.
pub(crate) fn bucket(value: Value) -> Result<Parsed, String> {
    let bucket = string(value)?;
    validate_bucket(&bucket)?;
    Ok(Parsed::Text(bucket))
}

/// An S3 object key.
pub(crate) fn key(value: Value) -> Result<Parsed, String> {
    let key = string(value)?;
    validate_key(&key)?;
    Ok(Parsed::Text(key))
}

/// `GET`, `HEAD`, `PUT`, `DELETE` or `POST` (the multipart flow), in capitals as HTTP writes
/// them.
fn method(value: Value) -> Result<Parsed, String> {
    let text = string(value)?;
    match METHODS.into_iter().find(|m| m.as_str() == text) {
        Some(m) => Ok(Parsed::Method(m)),
        None => Err(format!("{text:?} is not GET, HEAD, PUT, DELETE or POST")),
    }
}

/// Seconds from a positive integer or a humantime string (`"1h"`, `"90s"`, `"3600"`), 1 second to
/// SigV4's 7 days.
pub(crate) fn seconds(value: Value) -> Result<Parsed, String> {
    let seconds = match value {
        Value::Number(n) => n
            .as_u64()
            .ok_or("must be a positive whole number of seconds")?,
        Value::String(s) => parse_duration_text(&s)?,
        Value::Null => return Err(NOT_NULL.into()),
        _ => return Err("must be seconds (a number) or a duration like \"1h\"".into()),
    };
    validate_seconds(seconds).map(Parsed::Count)
}

/// S3 keys are opaque: any UTF-8 of 1 to 1024 bytes without control characters.
pub fn validate_key(key: &str) -> Result<(), String> {
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
fn validate_seconds(seconds: u64) -> Result<u64, String> {
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
