//! The rotated secret's value: `{"UserName", "AccessKeyId", "SecretAccessKey", "ActiveUntil"}`.
//!
//! `ActiveUntil` is the rotator's commitment: it will not deactivate or delete the version's key
//! before that moment, and the sidecar signs URLs no longer than it (nor than its own bound from
//! the schedule). Versions written before the rotator (a secret CloudFormation created) have none.

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::clock;

/// One version's value. Its `Debug` never shows the secret access key.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeyValue {
    #[serde(rename = "UserName")]
    pub user_name: String,
    #[serde(rename = "AccessKeyId")]
    pub access_key_id: String,
    #[serde(rename = "SecretAccessKey")]
    pub secret_access_key: String,
    /// RFC 3339: the key stays active at least until then.
    #[serde(
        rename = "ActiveUntil",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub active_until: Option<String>,
}

impl fmt::Debug for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyValue")
            .field("user_name", &self.user_name)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field("active_until", &self.active_until)
            .finish()
    }
}

/// Why a secret's value cannot be rotated; never quotes the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("has no SecretString (a binary secret cannot hold a key pair)")]
    NotAString,
    #[error("SecretString is not JSON (line {line}, column {column})")]
    NotJson { line: usize, column: usize },
    #[error(
        "SecretString has no {0}: the rotated value is {{\"UserName\": ..., \"AccessKeyId\": ..., \"SecretAccessKey\": ...}}, and UserName names the IAM user whose keys are rotated"
    )]
    Missing(&'static str),
    #[error("{0} is not a non-empty string")]
    NotAString2(&'static str),
    #[error("ActiveUntil is not an RFC 3339 time")]
    BadActiveUntil,
}

impl KeyValue {
    /// Parses a version's `SecretString`.
    pub fn parse(text: Option<&str>) -> Result<KeyValue, ValueError> {
        let text = text.ok_or(ValueError::NotAString)?;
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ValueError::NotJson {
                line: e.line(),
                column: e.column(),
            })?;
        let field = |name: &'static str| -> Result<String, ValueError> {
            match value.get(name) {
                Some(serde_json::Value::String(s)) if !s.trim().is_empty() => {
                    Ok(s.trim().to_string())
                }
                Some(_) => Err(ValueError::NotAString2(name)),
                None => Err(ValueError::Missing(name)),
            }
        };
        let active_until = match value.get("ActiveUntil") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => {
                clock::parse_rfc3339(s).ok_or(ValueError::BadActiveUntil)?;
                Some(s.clone())
            }
            Some(_) => return Err(ValueError::BadActiveUntil),
        };
        Ok(KeyValue {
            user_name: field("UserName")?,
            access_key_id: field("AccessKeyId")?,
            secret_access_key: field("SecretAccessKey")?,
            active_until,
        })
    }

    /// `ActiveUntil` as a time.
    pub fn active_until(&self) -> Option<SystemTime> {
        self.active_until.as_deref().and_then(clock::parse_rfc3339)
    }

    /// The `SecretString` to store.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain strings serialise")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Good and bad values; errors and `Debug` never show the secret.
    #[test]
    fn values() {
        let good = KeyValue::parse(Some(
            r#"{"UserName": "u", "AccessKeyId": "AKIAEXAMPLE", "SecretAccessKey": "s3cr3t", "ActiveUntil": "2026-12-30T00:00:00Z"}"#,
        ))
        .unwrap();
        assert_eq!(good.user_name, "u");
        assert!(good.active_until().is_some());
        assert!(!format!("{good:?}").contains("s3cr3t"));
        let round = KeyValue::parse(Some(&good.to_json())).unwrap();
        assert_eq!(round.active_until, good.active_until);
        let cases = [
            (None, "no SecretString"),
            (Some("s3cr3t"), "not JSON"),
            (
                Some(r#"{"AccessKeyId": "A", "SecretAccessKey": "s3cr3t"}"#),
                "no UserName",
            ),
            (
                Some(
                    r#"{"UserName": "u", "AccessKeyId": "A", "SecretAccessKey": "s3cr3t", "ActiveUntil": "soon"}"#,
                ),
                "ActiveUntil",
            ),
        ];
        for (value, expected) in cases {
            let err = KeyValue::parse(value).err().unwrap().to_string();
            assert!(err.contains(expected), "{err}");
            assert!(!err.contains("s3cr3t"), "{err}");
        }
    }
}
