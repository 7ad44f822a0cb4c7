//! The PUT fields that become signed headers. S3 and bucket-policy conditions honour SSE,
//! checksums, `Content-MD5`, `x-amz-meta-*`, tagging, storage class, `Content-Length` and the
//! content headers only as headers inside the signature (moved into the query string they are
//! ignored), so each is signed and returned in the 200's `headers`, and the client must send it
//! exactly as given. Each type checks its value here, so a bad one is a 400 naming its field
//! instead of a URL S3 refuses later.

use serde_json::Value;

use super::super::body::{NOT_NULL, Parsed, string};

/// Longest `content_type` accepted.
const MAX_CONTENT_TYPE: usize = 256;
/// Longest value of the other free-text headers (`cache_control`, `content_disposition`, ...)
/// and of the GET response overrides.
const MAX_HEADER_TEXT: usize = 1024;
/// S3's largest single PUT: 5 GiB.
pub(crate) const MAX_PUT_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// S3 limits user-defined metadata to 2 KB: every name and value, in bytes.
const MAX_METADATA_BYTES: usize = 2048;
/// S3 allows at most 10 tags on an object.
const MAX_TAGS: usize = 10;
/// S3's tag key limit, in characters.
const MAX_TAG_KEY: usize = 128;
/// S3's tag value limit, in characters.
const MAX_TAG_VALUE: usize = 256;
/// Longest KMS key reference (key ID, key ARN, alias name or alias ARN) accepted.
const MAX_KMS_KEY_ID: usize = 2048;
/// `x-amz-storage-class` values S3 defines (`StorageClass` in its API).
const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "OUTPOSTS",
    "SNOW",
    "EXPRESS_ONEZONE",
];

/// A header value sent exactly as signed: 1 to `max` printable US-ASCII characters, without
/// leading, trailing or doubled spaces (SigV4 folds those, so what is signed would not be what
/// the client sends).
pub(crate) fn header_value(value: Value, max: usize) -> Result<String, String> {
    let text = string(value)?;
    let printable = text.bytes().all(|b| (b' '..=b'~').contains(&b));
    if text.is_empty()
        || text.len() > max
        || !printable
        || text.starts_with(' ')
        || text.ends_with(' ')
        || text.contains("  ")
    {
        return Err(format!(
            "must be 1 to {max} printable US-ASCII characters without leading, trailing or doubled \
             spaces (write a non-ASCII file name as filename*=UTF-8''<percent-encoded>)"
        ));
    }
    Ok(text)
}

/// 1 to `max` printable US-ASCII characters without spaces: an ID S3 or KMS handed out.
/// `what` ends the message (`" (a KMS key ID, ...)"`), or is empty.
pub(crate) fn token(value: Value, max: usize, what: &str) -> Result<String, String> {
    let text = string(value)?;
    if text.is_empty() || text.len() > max || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "must be 1 to {max} printable US-ASCII characters without spaces{what}"
        ));
    }
    Ok(text)
}

/// A free-text header value: `cache_control`, `content_disposition`, `content_encoding`, and the
/// GET response overrides (which S3 answers as headers).
pub(crate) fn header_text(value: Value) -> Result<Parsed, String> {
    header_value(value, MAX_HEADER_TEXT).map(Parsed::Text)
}

/// A MIME type a PUT must be sent with, or a form's `Content-Type` (or its prefix).
pub(crate) fn content_type(value: Value) -> Result<Parsed, String> {
    header_value(value, MAX_CONTENT_TYPE).map(Parsed::Text)
}

/// The exact size of the upload in bytes: another body is refused.
pub(crate) fn content_length(value: Value) -> Result<Parsed, String> {
    let bytes = match value {
        Value::Number(n) => n.as_u64(),
        Value::Null => return Err(NOT_NULL.into()),
        _ => None,
    };
    match bytes {
        Some(b) if b <= MAX_PUT_BYTES => Ok(Parsed::Count(b)),
        Some(_) => Err(format!(
            "must be at most {MAX_PUT_BYTES} bytes (5 GiB, S3's largest single PUT)"
        )),
        None => Err("must be a whole number of bytes (an integer, 0 or more)".into()),
    }
}

/// The base64 of an `N`-byte digest: `Content-MD5` (16), SHA-256 (32), CRC32 and CRC32C (4).
pub(crate) fn digest<const N: usize>(value: Value) -> Result<Parsed, String> {
    let text = string(value)?;
    let what = match N {
        16 => "an MD5 digest",
        32 => "a SHA-256 digest",
        _ => "a CRC32 or CRC32C checksum",
    };
    let problem = || format!("must be the base64 of {N} bytes ({what} of the body)");
    // A digest is at most 44 characters: anything longer is not worth decoding.
    if text.len() > 64 {
        return Err(problem());
    }
    match aws_smithy_types::base64::decode(&text) {
        Ok(bytes) if bytes.len() == N => Ok(Parsed::Text(text)),
        _ => Err(problem()),
    }
}

/// `x-amz-server-side-encryption`: the values S3 defines.
const ENCRYPTIONS: &[&str] = &["AES256", "aws:kms", "aws:kms:dsse"];

/// `x-amz-server-side-encryption`, one of [`ENCRYPTIONS`].
pub(crate) fn server_side_encryption(value: Value) -> Result<Parsed, String> {
    let text = string(value)?;
    if !ENCRYPTIONS.contains(&text.as_str()) {
        return Err(format!("{text:?} is not one of {}", ENCRYPTIONS.join(", ")));
    }
    Ok(Parsed::Text(text))
}

/// The name S3 defines for `sse`, if it is one.
pub(crate) fn encryption_name(sse: &str) -> Option<&'static str> {
    ENCRYPTIONS.iter().copied().find(|name| *name == sse)
}

/// Whether server-side encryption `sse` uses KMS, so that a KMS key may be named.
pub(crate) fn is_kms(sse: &Parsed) -> bool {
    matches!(sse, Parsed::Text(t) if t != "AES256")
}

/// The KMS key of an `aws:kms` upload: a key ID, key ARN, alias name or alias ARN.
pub(crate) fn kms_key_id(value: Value) -> Result<Parsed, String> {
    token(value, MAX_KMS_KEY_ID, " (a KMS key ID, key ARN or alias)").map(Parsed::Text)
}

/// `x-amz-storage-class`, one of S3's values.
pub(crate) fn storage_class(value: Value) -> Result<Parsed, String> {
    let text = string(value)?;
    if !STORAGE_CLASSES.contains(&text.as_str()) {
        return Err(format!(
            "{text:?} is not an S3 storage class ({})",
            STORAGE_CLASSES.join(", ")
        ));
    }
    Ok(Parsed::Text(text))
}

/// A JSON object, or `refused` (or [`NOT_NULL`] for `null`).
fn object(value: Value, refused: &str) -> Result<serde_json::Map<String, Value>, String> {
    match value {
        Value::Object(o) => Ok(o),
        Value::Null => Err(NOT_NULL.into()),
        _ => Err(refused.into()),
    }
}

/// User-defined metadata, `x-amz-meta-<name>`: names lowercased (S3 stores them so), values
/// US-ASCII (S3 mangles anything else), at most 2 KB in all.
pub(crate) fn metadata(value: Value) -> Result<Parsed, String> {
    let object = object(value, "must be an object of names to string values")?;
    let mut entries: Vec<(String, String)> = Vec::with_capacity(object.len());
    let mut bytes = 0;
    for (name, value) in object {
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(format!(
                "name {name:?} must be 1 or more letters, digits or !#$%&'*+-.^_`|~ (an HTTP header name)"
            ));
        }
        let lower = name.to_ascii_lowercase();
        if entries.iter().any(|(n, _)| *n == lower) {
            return Err(format!(
                "name {name:?} appears twice (names are case-insensitive)"
            ));
        }
        let value = header_value(value, MAX_METADATA_BYTES)
            .map_err(|why| format!("value of {name:?} {why}"))?;
        bytes += lower.len() + value.len();
        entries.push((lower, value));
    }
    if entries.is_empty() {
        return Err("must name at least one entry; leave the field out instead".into());
    }
    if bytes > MAX_METADATA_BYTES {
        return Err(format!(
            "is {bytes} bytes of names and values, more than S3's {MAX_METADATA_BYTES}"
        ));
    }
    Ok(Parsed::Entries(entries))
}

/// `x-amz-tagging`: an object of tags, sent URL-encoded (`k=v&k2=v2`) as S3 expects.
pub(crate) fn tagging(value: Value) -> Result<Parsed, String> {
    let object = object(value, "must be an object of tag keys to string values")?;
    if object.is_empty() || object.len() > MAX_TAGS {
        return Err(format!(
            "must hold 1 to {MAX_TAGS} tags (S3's limit per object)"
        ));
    }
    let mut encoded = form_urlencoded::Serializer::new(String::new());
    for (key, value) in &object {
        let Value::String(value) = value else {
            return Err(format!("value of {key:?} must be a string"));
        };
        validate_tag(key, value)?;
        encoded.append_pair(key, value);
    }
    Ok(Parsed::Text(encoded.finish()))
}

/// One tag, held to S3's limits.
fn validate_tag(key: &str, value: &str) -> Result<(), String> {
    if key.is_empty() || key.chars().count() > MAX_TAG_KEY || key.chars().any(char::is_control) {
        return Err(format!(
            "key {key:?} must be 1 to {MAX_TAG_KEY} characters without control characters"
        ));
    }
    if key.starts_with("aws:") {
        return Err(format!(
            "key {key:?} uses the aws: prefix, which AWS reserves"
        ));
    }
    if value.chars().count() > MAX_TAG_VALUE || value.chars().any(char::is_control) {
        return Err(format!(
            "value of {key:?} must be at most {MAX_TAG_VALUE} characters without control characters"
        ));
    }
    Ok(())
}
