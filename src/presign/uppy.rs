//! Uppy 6's `signRequest`, served as is (`POST /v1/presign/uppy?bucket=BUCKET`).
//!
//! `@uppy/aws-s3` 6 signs every S3 request through one callback whose argument is a
//! `PresignableRequest`: `{method, key, uploadId?, partNumber?, expiresIn?, contentType?}`, S3's
//! REST shapes (PutObject, CreateMultipartUpload, UploadPart, ListParts, Complete, Abort, and
//! DeleteObject). This module turns one into a [`PresignRequest`] for the same guard, decision and
//! promise as every other URL. A part URL only has to be valid when its request starts, so when
//! the session cannot cover `expiresIn` the URL is shortened, down to `--uppy-min-expires-in`.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use super::body::{self, Field, Parsed};
use super::error::PresignError;
use super::guard::Presigned;
use super::request::PresignRequest;

/// Default `--uppy-expires-in`: long enough for a part over a slow link, short enough that a
/// leaked URL is soon useless.
pub const DEFAULT_EXPIRES_IN: &str = "15m";
/// Default `--uppy-min-expires-in`: the shortest URL worth handing a browser that starts its
/// request at once.
pub const DEFAULT_MIN_EXPIRES_IN: &str = "1m";
/// The fields of Uppy's `PresignableRequest`, each with the `/v1/presign` field it becomes.
/// Values are checked by that request; a `null` in an optional field is Uppy leaving it out.
#[rustfmt::skip]
const FIELDS: &[Field<&str>] = &[
    uppy("method", true, "method"),
    uppy("key", true, "key"),
    uppy("uploadId", false, "upload_id"),
    uppy("partNumber", false, "part_number"),
    uppy("expiresIn", false, "expires_in"),
    uppy("contentType", false, "content_type"),
];

const fn uppy(name: &'static str, required: bool, becomes: &'static str) -> Field<&'static str> {
    let parse = |value| Ok(Parsed::Json(value));
    Field {
        name,
        required,
        parse,
        place: becomes,
    }
}

/// `--uppy-expires-in` and `--uppy-min-expires-in`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UppyDefaults {
    pub expires_in: Duration,
    pub min_expires_in: Duration,
}

/// Uppy's `PresignedResponse` (`url`, `headers`), plus when the URL stops working.
#[derive(Debug, Clone, Serialize)]
pub struct UppyPresigned {
    pub url: String,
    /// Sent by Uppy with the request; a `content-type` here replaces Uppy's own.
    pub headers: std::collections::BTreeMap<String, String>,
    pub expires_in: u64,
    pub expires_at: String,
}

impl From<Presigned> for UppyPresigned {
    fn from(p: Presigned) -> Self {
        UppyPresigned {
            url: p.url,
            headers: p.headers,
            expires_in: p.expires_in,
            expires_at: p.expires_at,
        }
    }
}

/// The request Uppy's `body` asks for in `bucket`; a 400 names Uppy's own field.
pub fn request(
    bucket: Option<&str>,
    body: &[u8],
    defaults: &UppyDefaults,
) -> Result<PresignRequest, PresignError> {
    let mut uppy = body::read(body, FIELDS)?;
    let Some(bucket) = bucket else {
        return Err(PresignError::invalid(
            "bucket",
            "is required as a query parameter: /v1/presign/uppy?bucket=BUCKET",
        ));
    };
    let mut fields = Map::new();
    fields.insert("bucket".into(), bucket.into());
    // The object first, as in a `/v1/presign` body: of two bad fields, the key is named.
    if let Some(Parsed::Json(key)) = uppy.take("key") {
        fields.insert("key".into(), key);
    }
    for (field, value) in uppy.into_fields() {
        match value {
            Parsed::Json(Value::Null) if !field.required => {}
            Parsed::Json(value) => drop(fields.insert(field.place.into(), value)),
            _ => {}
        }
    }
    // Read as `/v1/presign` reads `expires_in` (seconds or a duration), so the floor below
    // is taken from what was asked, however it was written.
    let expires_in = match fields.remove("expires_in") {
        None => defaults.expires_in.as_secs(),
        Some(asked) => match super::request::seconds(asked) {
            Ok(Parsed::Count(seconds)) => seconds,
            Ok(_) => defaults.expires_in.as_secs(),
            Err(why) => return Err(PresignError::invalid("expiresIn", why)),
        },
    };
    // A shorter URL when the session cannot cover more, but never below the minimum nor above
    // what was asked.
    let min = expires_in.min(defaults.min_expires_in.as_secs());
    fields.insert("expires_in".into(), expires_in.into());
    fields.insert("min_expires_in".into(), min.into());
    PresignRequest::from_value(Value::Object(fields)).map_err(|e| match e {
        PresignError::Invalid { field, message } => PresignError::Invalid {
            field: uppy_name(&field).to_string(),
            message,
        },
        other => other,
    })
}

/// Uppy's name for a field of the request it became.
fn uppy_name(field: &str) -> &str {
    FIELDS
        .iter()
        .find(|f| f.place == field)
        .map_or(field, |f| f.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presign::request::operation::Operation;
    use serde_json::json;

    const DEFAULTS: UppyDefaults = UppyDefaults {
        expires_in: Duration::from_secs(900),
        min_expires_in: Duration::from_secs(60),
    };

    fn parse(body: Value) -> Result<PresignRequest, PresignError> {
        request(Some("uploads"), body.to_string().as_bytes(), &DEFAULTS)
    }

    /// Each of Uppy's requests becomes its S3 operation, with the defaults' expiry.
    #[test]
    fn uppy_requests() {
        use Operation::*;
        let cases = [
            (
                json!({"method": "PUT", "key": "a", "contentType": "image/png"}),
                PutObject,
            ),
            (json!({"method": "DELETE", "key": "a"}), DeleteObject),
            (json!({"method": "POST", "key": "a"}), CreateMultipartUpload),
            (
                json!({"method": "POST", "key": "a", "uploadId": "u"}),
                CompleteMultipartUpload,
            ),
            (
                json!({"method": "DELETE", "key": "a", "uploadId": "u"}),
                AbortMultipartUpload,
            ),
            (
                json!({"method": "GET", "key": "a", "uploadId": "u"}),
                ListParts,
            ),
            (
                json!({"method": "PUT", "key": "a", "uploadId": "u", "partNumber": 2}),
                UploadPart,
            ),
        ];
        for (body, operation) in cases {
            let r = parse(body.clone()).unwrap();
            assert_eq!(r.operation, operation, "{body}");
            assert_eq!((r.expires_in, r.min_expires_in), (900, Some(60)), "{body}");
        }
        let r = parse(json!({"method": "PUT", "key": "a", "expiresIn": 30})).unwrap();
        assert_eq!((r.expires_in, r.min_expires_in), (30, Some(30)));
        let r = parse(json!({"method": "PUT", "key": "a", "contentType": "image/png"})).unwrap();
        assert_eq!(r.header("content-type"), Some("image/png"));
    }

    /// `expiresIn` given as text (seconds or a duration, as `/v1/presign` reads `expires_in`) is
    /// asked as given: the floor of a shorter URL is never above it, and a bad one is named by
    /// Uppy's name, never by a field Uppy does not have.
    #[test]
    fn expires_in_as_text() {
        let cases = [("30", 30, 30), ("10m", 600, 60), ("900", 900, 60)];
        for (asked, expires_in, min) in cases {
            let r = parse(json!({"method": "GET", "key": "a", "expiresIn": asked})).unwrap();
            assert_eq!(
                (r.expires_in, r.min_expires_in),
                (expires_in, Some(min)),
                "{asked}"
            );
        }
        for asked in ["soon", "0s", "8d"] {
            match parse(json!({"method": "GET", "key": "a", "expiresIn": asked})) {
                Err(PresignError::Invalid { field, .. }) => {
                    assert_eq!(field, "expiresIn", "{asked}")
                }
                other => panic!("{asked}: expected invalid expiresIn, got {other:?}"),
            }
        }
    }

    /// A 400 names Uppy's own field.
    #[test]
    fn refusals_name_uppys_fields() {
        let cases = [
            (
                json!({"method": "PUT", "key": "a", "uploadId": "u"}),
                "partNumber",
            ),
            (
                json!({"method": "PUT", "key": "a", "uploadId": "u", "partNumber": 0}),
                "partNumber",
            ),
            (json!({"method": "PATCH", "key": "a"}), "method"),
            (json!({"method": "PUT", "key": ""}), "key"),
            (
                json!({"method": "PUT", "key": "a", "expiresIn": 0}),
                "expiresIn",
            ),
            (json!({"method": "PUT", "key": "a", "signal": 1}), "signal"),
            (json!({"method": "PUT"}), "key"),
            (
                json!({"method": "GET", "key": "a", "contentType": "a/b"}),
                "contentType",
            ),
        ];
        for (body, field) in cases {
            match parse(body.clone()) {
                Err(PresignError::Invalid { field: got, .. }) => assert_eq!(got, field, "{body}"),
                other => panic!("{body}: expected invalid {field}, got {other:?}"),
            }
        }
        let no_bucket = request(None, br#"{"method":"PUT","key":"a"}"#, &DEFAULTS);
        assert!(matches!(no_bucket, Err(PresignError::Invalid { field, .. }) if field == "bucket"));
    }
}
