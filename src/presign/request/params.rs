//! The fields that become query parameters inside the signature: `version_id` (GET, HEAD,
//! DELETE), the GET response overrides, and a multipart upload's `upload_id` and `part_number`.
//! Changing any of them in the URL breaks the signature, so a download link cannot be turned into
//! another name, type or version. The overrides' text values are checked as the headers S3
//! answers them as ([`super::headers::header_text`]).

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use serde_json::Value;

use super::super::body::{NOT_NULL, Parsed, string};
use super::headers::token;

/// Longest version ID accepted (S3's are 32 characters, or `null`).
const MAX_VERSION_ID: usize = 1024;
/// The range an HTTP date can write: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
const HTTP_DATE_SECONDS: std::ops::RangeInclusive<i64> =
    crate::clock::FIRST_WRITABLE_SECOND..=crate::clock::LAST_WRITABLE_SECOND;
/// Longest multipart upload ID accepted (S3's are a few hundred characters).
const MAX_UPLOAD_ID: usize = 1024;
/// S3's part numbers run from 1 to 10000.
const PART_NUMBERS: std::ops::RangeInclusive<u64> = 1..=10_000;

/// `versionId`: which version of the object.
pub(super) fn version_id(value: Value) -> Result<Parsed, String> {
    token(value, MAX_VERSION_ID, "").map(Parsed::Text)
}

/// `response-expires`: an HTTP date (`Wed, 21 Oct 2026 07:28:00 GMT`) or an RFC 3339 time,
/// signed as the HTTP date S3 answers in `Expires`.
pub(super) fn http_date(value: Value) -> Result<Parsed, String> {
    let text = string(value)?;
    let problem = || {
        "must be an HTTP date like \"Wed, 21 Oct 2026 07:28:00 GMT\" or an RFC 3339 time like \"2026-10-21T07:28:00Z\", years 1 to 9999".to_string()
    };
    if text.len() > 64 {
        return Err(problem());
    }
    let parsed = DateTime::from_str(&text, Format::HttpDate)
        .or_else(|_| DateTime::from_str(&text, Format::DateTimeWithOffset))
        .map_err(|_| problem())?;
    if !HTTP_DATE_SECONDS.contains(&parsed.secs()) {
        return Err(problem());
    }
    DateTime::from_secs(parsed.secs())
        .fmt(Format::HttpDate)
        .map(Parsed::Text)
        .map_err(|_| problem())
}

/// `uploadId`: the multipart upload CreateMultipartUpload answered with.
pub(super) fn upload_id(value: Value) -> Result<Parsed, String> {
    token(value, MAX_UPLOAD_ID, "").map(Parsed::Text)
}

/// `partNumber`: 1 to 10000.
pub(super) fn part_number(value: Value) -> Result<Parsed, String> {
    match value.as_u64() {
        Some(n) if PART_NUMBERS.contains(&n) => Ok(Parsed::Count(n)),
        _ if value.is_null() => Err(NOT_NULL.into()),
        _ => Err("must be a whole number from 1 to 10000 (S3's part numbers)".into()),
    }
}
