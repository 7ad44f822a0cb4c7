//! Browser form uploads: presigned POST policies (`POST /v1/presign/post`).
//!
//! The policy is base64 of `{"expiration": ..., "conditions": [...]}`; its signature is SigV4's
//! signing key for the day, region and `s3` applied to that base64 text (aws-sigv4's public
//! `generate_signing_key` and `calculate_signature`). The session token is a signed form field
//! (`x-amz-security-token`), so a form dies with the session exactly like a URL: `expiration` is
//! held to the same promise, `<=` when the signing credentials may stop working, minus the margin.
//! Every form field the browser sends has a condition, except `x-amz-signature`, `file` and
//! `policy`, as S3 requires; the conditions are the ones boto3's `generate_presigned_post` builds for
//! the same input (a test in `tests/deploy` compares them).

use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::body::{self, Check, Field, Given, NOT_NULL, Parsed, string};
use super::error::PresignError;
use super::request::headers::{
    MAX_PUT_BYTES, content_type, encryption_name, kms_key_id, metadata, server_side_encryption,
};
use super::request::{
    bucket, key, required_text, seconds, validate_expiry, validate_key, validate_kms_key,
};
use super::signer::Signer;
use crate::clock;
use crate::credentials::Snapshot;

/// S3 takes at most 5 GiB in one POST, as in one PUT.
pub const MAX_OBJECT_BYTES: u64 = MAX_PUT_BYTES;
/// What S3 substitutes with the chosen file's name in a form's `key`.
const FILENAME: &str = "${filename}";

/// A field every form request carries.
const fn required(name: &'static str, parse: Check) -> Field<()> {
    let place = ();
    Field {
        name,
        required: true,
        parse,
        place,
    }
}

/// A field a form request may leave out.
const fn optional(name: &'static str, parse: Check) -> Field<()> {
    Field {
        required: false,
        ..required(name, parse)
    }
}

/// Fields a form request may carry, in the order the unknown-field message lists them.
#[rustfmt::skip]
pub const FIELDS: &[Field<()>] = &[
    required("bucket", bucket),
    optional("key", key),
    optional("key_prefix", key_prefix),
    required("expires_in", seconds),
    optional("min_expires_in", seconds),
    optional("content_length_range", length_range),
    optional("content_type", content_type),
    optional("content_type_prefix", content_type),
    optional("metadata", metadata),
    optional("server_side_encryption", server_side_encryption),
    optional("sse_kms_key_id", kms_key_id),
    optional("success_action_status", success_status),
];

/// Which keys the form may upload to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRule {
    Exact(String),
    /// The browser's `key` field must start with this (`${filename}` is S3's own substitution).
    Prefix(String),
}

/// Which content types the form may declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeRule {
    Exact(String),
    Prefix(String),
}

/// A validated form-upload request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostRequest {
    pub bucket: String,
    pub key: KeyRule,
    pub expires_in: u64,
    pub min_expires_in: Option<u64>,
    /// Inclusive bounds on the file's size, in bytes.
    pub content_length_range: Option<(u64, u64)>,
    pub content_type: Option<TypeRule>,
    /// `x-amz-meta-*` fields, names lowercase.
    pub metadata: Vec<(String, String)>,
    /// `x-amz-server-side-encryption` and, for KMS, its key.
    pub server_side_encryption: Option<&'static str>,
    pub sse_kms_key_id: Option<String>,
    /// The status S3 answers a successful upload with (200, 201 or 204; S3's default is 204).
    pub success_action_status: Option<u16>,
}

/// The start of the keys a form may upload to: like a key, but it may be empty.
fn key_prefix(value: Value) -> Result<Parsed, String> {
    let prefix = string(value)?;
    if !prefix.is_empty() {
        validate_key(&prefix)?;
    }
    if prefix.contains(FILENAME) {
        return Err(format!(
            "must not contain {FILENAME}: the browser's key is the prefix followed by anything"
        ));
    }
    Ok(Parsed::Text(prefix))
}

/// `{"min": N, "max": M}`, bytes, `min <= max <= 5 GiB`.
fn length_range(value: Value) -> Result<Parsed, String> {
    let Value::Object(map) = value else {
        return Err(match value {
            Value::Null => NOT_NULL.into(),
            _ => "must be an object {\"min\": bytes, \"max\": bytes}".into(),
        });
    };
    if let Some(other) = map.keys().find(|k| *k != "min" && *k != "max") {
        return Err(format!("unknown field {other:?}; expected min and max"));
    }
    let bound = |name: &str| match map.get(name) {
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| format!("{name} must be a whole number of bytes")),
        Some(_) => Err(format!("{name} must be a whole number of bytes")),
        None => Err(format!("{name} is required")),
    };
    let (min, max) = (bound("min")?, bound("max")?);
    if min > max {
        return Err("min must not be more than max".into());
    }
    if max > MAX_OBJECT_BYTES {
        return Err(format!(
            "max must be at most {MAX_OBJECT_BYTES} bytes (5 GiB, S3's limit for one upload)"
        ));
    }
    Ok(Parsed::Range(min, max))
}

/// 200, 201 or 204.
fn success_status(value: Value) -> Result<Parsed, String> {
    match value.as_u64() {
        Some(code @ (200 | 201 | 204)) => Ok(Parsed::Count(code)),
        _ if value.is_null() => Err(NOT_NULL.into()),
        _ => Err("must be 200, 201 or 204".into()),
    }
}

impl PostRequest {
    /// Validates a JSON body, naming the first bad field.
    pub fn from_json(body: &[u8]) -> Result<PostRequest, PresignError> {
        let mut given = body::read(body, FIELDS)?;
        let key = key_rule(&mut given)?;
        let (expires_in, min_expires_in) = validate_expiry(&given)?;
        let content_type = match (
            given.take_text("content_type"),
            given.take_text("content_type_prefix"),
        ) {
            (Some(t), None) => Some(TypeRule::Exact(t)),
            (None, Some(p)) => Some(TypeRule::Prefix(p)),
            (None, None) => None,
            (Some(_), Some(_)) => {
                return Err(PresignError::invalid(
                    "content_type_prefix",
                    "give content_type or content_type_prefix, not both",
                ));
            }
        };
        validate_kms_key(&given)?;
        let bucket = required_text(&mut given, "bucket")?;
        Ok(PostRequest {
            bucket,
            metadata: match given.take("metadata") {
                Some(Parsed::Entries(entries)) => entries,
                _ => Vec::new(),
            },
            server_side_encryption: given
                .take_text("server_side_encryption")
                .and_then(|sse| encryption_name(&sse)),
            sse_kms_key_id: given.take_text("sse_kms_key_id"),
            key,
            expires_in,
            min_expires_in,
            content_length_range: match given.get("content_length_range") {
                Some(Parsed::Range(min, max)) => Some((*min, *max)),
                _ => None,
            },
            content_type,
            success_action_status: given
                .get("success_action_status")
                .and_then(Parsed::count)
                .map(|code| code as u16),
        })
    }

    /// The key the allow-list is asked about: the key, or every key under the prefix.
    pub fn key_for_allow_list(&self) -> &str {
        match &self.key {
            KeyRule::Exact(k) | KeyRule::Prefix(k) => k,
        }
    }
}

/// Which keys the form may upload to: `key` or `key_prefix`, one of them.
fn key_rule(given: &mut Given<()>) -> Result<KeyRule, PresignError> {
    match (given.take_text("key"), given.take_text("key_prefix")) {
        // S3 substitutes `${filename}` in the form's key before it checks the policy, so an
        // exact key holding it never matches its own condition: a form S3 always refuses.
        (Some(key), None) if key.contains(FILENAME) => {
            let prefix = &key[..key.find(FILENAME).unwrap_or(0)];
            Err(PresignError::invalid(
                "key",
                format!(
                    "must not contain {FILENAME} (S3 substitutes it before checking the policy, so the form would always be refused): give \"key_prefix\": {prefix:?} to let the browser choose the name"
                ),
            ))
        }
        (Some(key), None) => Ok(KeyRule::Exact(key)),
        (None, Some(prefix)) => Ok(KeyRule::Prefix(prefix)),
        (Some(_), Some(_)) => Err(PresignError::invalid(
            "key_prefix",
            "give key or key_prefix, not both",
        )),
        (None, None) => Err(PresignError::invalid(
            "key",
            "is required (or key_prefix, for keys the browser chooses)",
        )),
    }
}

/// The 200 body: where the browser posts, and every field it sends before `file`.
#[derive(Debug, Clone, Serialize)]
pub struct PostForm {
    /// The bucket's endpoint.
    pub url: String,
    /// In the order the form sends them; `file` goes last.
    pub fields: Map<String, Value>,
    pub expires_in: u64,
    /// The policy's `expiration`: the form is refused after it.
    pub expires_at: String,
    pub credentials_expire_at: Option<String>,
}

/// `20261128T120000Z` and `20261128`, from aws-smithy-types' RFC 3339 form.
fn amz_date(t: SystemTime) -> (String, String) {
    let text: String = clock::rfc3339(t)
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let day = text[..8].to_string();
    (text, day)
}

/// Builds and signs the policy for `request`, valid `expires_in` seconds from `start`.
pub async fn sign(
    signer: &Signer,
    snapshot: &Snapshot,
    request: &PostRequest,
    start: SystemTime,
    expires_in: u64,
) -> Result<PostForm, PresignError> {
    use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
    let endpoint = signer.endpoint(&request.bucket).await?;
    let credentials = &snapshot.credentials;
    let (date, day) = amz_date(start);
    let credential = format!(
        "{}/{day}/{}/s3/aws4_request",
        credentials.access_key_id(),
        endpoint.signing_region
    );
    let expires_at = clock::rfc3339(start + Duration::from_secs(expires_in));

    let mut form = Form::default();
    form.condition(json!({"bucket": request.bucket}));
    request.fill(&mut form);
    form.exact("x-amz-algorithm", "AWS4-HMAC-SHA256");
    form.exact("x-amz-credential", &credential);
    form.exact("x-amz-date", &date);
    if let Some(token) = credentials.session_token() {
        form.exact("x-amz-security-token", token);
    }
    let Form {
        mut fields,
        conditions,
    } = form;
    let policy = json!({"expiration": expires_at, "conditions": conditions});
    let policy = aws_smithy_types::base64::encode(policy.to_string());
    let key = generate_signing_key(
        credentials.secret_access_key(),
        start,
        &endpoint.signing_region,
        "s3",
    );
    let signature = calculate_signature(key, policy.as_bytes());
    fields.insert("policy".into(), policy.into());
    fields.insert("x-amz-signature".into(), signature.into());
    Ok(PostForm {
        url: endpoint.url.to_string(),
        fields,
        expires_in,
        expires_at,
        credentials_expire_at: snapshot.expiry().map(clock::rfc3339),
    })
}

/// The fields a form sends, and the policy's conditions on them, in the order S3 reads them.
#[derive(Default)]
struct Form {
    fields: Map<String, Value>,
    conditions: Vec<Value>,
}

impl Form {
    fn condition(&mut self, condition: Value) {
        self.conditions.push(condition);
    }

    /// A field the form sends, and the condition that it is exactly `value`.
    fn exact(&mut self, name: &str, value: &str) {
        self.conditions.push(json!({ name: value }));
        self.fields.insert(name.into(), value.into());
    }
}

impl PostRequest {
    /// The form's fields and conditions for what the caller asked: key, type, metadata,
    /// encryption, status and size.
    fn fill(&self, form: &mut Form) {
        match &self.key {
            KeyRule::Exact(key) => form.exact("key", key),
            KeyRule::Prefix(prefix) => {
                form.fields
                    .insert("key".into(), format!("{prefix}{FILENAME}").into());
                form.condition(json!(["starts-with", "$key", prefix]));
            }
        }
        match &self.content_type {
            Some(TypeRule::Exact(t)) => form.exact("Content-Type", t),
            Some(TypeRule::Prefix(p)) => form.condition(json!(["starts-with", "$Content-Type", p])),
            None => {}
        }
        for (name, value) in &self.metadata {
            form.exact(&format!("x-amz-meta-{name}"), value);
        }
        if let Some(sse) = self.server_side_encryption {
            form.exact("x-amz-server-side-encryption", sse);
        }
        if let Some(key) = &self.sse_kms_key_id {
            form.exact("x-amz-server-side-encryption-aws-kms-key-id", key);
        }
        if let Some(status) = self.success_action_status {
            form.exact("success_action_status", &status.to_string());
        }
        if let Some((min, max)) = self.content_length_range {
            form.condition(json!(["content-length-range", min, max]));
        }
    }
}

#[cfg(test)]
mod tests;
