//! The fields that become query parameters inside the signature: `version_id` (GET, HEAD,
//! DELETE), the GET response overrides, and a multipart upload's `upload_id` and `part_number`. Changing any of them in the URL breaks the signature,
//! so a download link cannot be turned into another name, type or version. The overrides' text
//! values are checked as the headers S3 answers them as ([`super::headers::HeaderText`]).

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use serde::Deserialize;
use serde_json::Value;

use super::string;

/// Longest version ID accepted (S3's are 32 characters, or `null`).
const MAX_VERSION_ID: usize = 1024;
/// The range an HTTP date can write: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
const HTTP_DATE_SECONDS: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;

/// `versionId`: which version of the object.
#[derive(Deserialize)]
#[serde(try_from = "Value")]
pub(super) struct VersionId(pub(super) String);

impl TryFrom<Value> for VersionId {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, String> {
        let text = string(value)?;
        if text.is_empty()
            || text.len() > MAX_VERSION_ID
            || !text.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(format!(
                "must be 1 to {MAX_VERSION_ID} printable US-ASCII characters without spaces"
            ));
        }
        Ok(VersionId(text))
    }
}

/// `response-expires`: an HTTP date (`Wed, 21 Oct 2026 07:28:00 GMT`) or an RFC 3339 time,
/// signed as the HTTP date S3 answers in `Expires`.
#[derive(Deserialize)]
#[serde(try_from = "Value")]
pub(super) struct HttpDate(pub(super) String);

impl TryFrom<Value> for HttpDate {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, String> {
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
            .map(HttpDate)
            .map_err(|_| problem())
    }
}

/// Longest multipart upload ID accepted (S3's are a few hundred characters).
const MAX_UPLOAD_ID: usize = 1024;
/// S3's part numbers run from 1 to 10000.
const PART_NUMBERS: std::ops::RangeInclusive<u64> = 1..=10_000;

/// `uploadId`: the multipart upload CreateMultipartUpload answered with.
#[derive(Deserialize)]
#[serde(try_from = "Value")]
pub(super) struct UploadId(pub(super) String);

impl TryFrom<Value> for UploadId {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, String> {
        let text = string(value)?;
        if text.is_empty()
            || text.len() > MAX_UPLOAD_ID
            || !text.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(format!(
                "must be 1 to {MAX_UPLOAD_ID} printable US-ASCII characters without spaces"
            ));
        }
        Ok(UploadId(text))
    }
}

/// `partNumber`: 1 to 10000.
#[derive(Deserialize)]
#[serde(try_from = "Value")]
pub(super) struct PartNumber(pub(super) u64);

impl TryFrom<Value> for PartNumber {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, String> {
        match value.as_u64() {
            Some(n) if PART_NUMBERS.contains(&n) => Ok(PartNumber(n)),
            _ if value.is_null() => Err(super::NOT_NULL.into()),
            _ => Err("must be a whole number from 1 to 10000 (S3's part numbers)".into()),
        }
    }
}
