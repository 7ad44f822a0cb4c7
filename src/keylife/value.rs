//! The value of a version of the signing secret, as the sidecar (`--signing-source
//! secrets-manager`) reads it and the rotation function (`sessionguard rotate-keys`) reads and
//! writes it: `{"UserName", "AccessKeyId", "SecretAccessKey", "ActiveUntil", "ReplacedKey"}`. One
//! parser for both; only the rotator needs `UserName` and `ReplacedKey`.
//!
//! `ActiveUntil` is the rotator's commitment: it will not deactivate or delete the version's key
//! before that moment, and the sidecar signs no URL with the key that ends later. Versions written
//! before the rotator (a secret CloudFormation created) have none; the version that replaces one
//! of them records, as `ReplacedKey`, the commitment the rotator makes for that older key
//! ([`super::promise`]).

use std::fmt;
use std::time::SystemTime;

use serde::Serialize;

use crate::clock;

/// The key pair a version holds, and its `ActiveUntil`: what the sidecar signs with. Its `Debug`
/// never shows the secret access key.
#[derive(Clone, Serialize)]
pub struct KeyPair {
    #[serde(rename = "AccessKeyId")]
    pub access_key_id: String,
    #[serde(rename = "SecretAccessKey")]
    pub secret_access_key: String,
    /// RFC 3339: the key stays active at least until then.
    #[serde(rename = "ActiveUntil", skip_serializing_if = "Option::is_none")]
    pub active_until: Option<String>,
}

/// A version as the rotator reads and writes it: the key pair and whose keys they are.
#[derive(Debug, Clone, Serialize)]
pub struct KeyValue {
    /// The IAM user whose keys are rotated.
    #[serde(rename = "UserName")]
    pub user_name: String,
    #[serde(flatten)]
    pub keys: KeyPair,
    /// The commitment for the key this version replaced, when that key had none of its own.
    #[serde(rename = "ReplacedKey", skip_serializing_if = "Option::is_none")]
    pub replaced: Option<ReplacedKey>,
}

/// The rotator's commitment for a key from before it, recorded in the version that replaced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplacedKey {
    #[serde(rename = "AccessKeyId")]
    pub access_key_id: String,
    /// RFC 3339.
    #[serde(rename = "ActiveUntil")]
    pub active_until: String,
}

impl ReplacedKey {
    pub fn active_until(&self) -> Option<SystemTime> {
        clock::parse_rfc3339(&self.active_until)
    }
}

/// Who reads a value: that decides whether `UserName` is needed and how a refusal explains the
/// shape expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// The sidecar signs with the key pair and never looks at `UserName`.
    Sidecar,
    /// The rotator rotates the keys of the user `UserName` names.
    Rotator,
}

impl Reader {
    /// What a refusal of a value that is not JSON adds.
    fn after_not_json(self) -> &'static str {
        match self {
            Reader::Sidecar => KEY_PAIR_EXPECTED,
            Reader::Rotator => "",
        }
    }

    /// What a refusal of a value without a field adds.
    fn after_missing(self) -> &'static str {
        match self {
            Reader::Sidecar => KEY_PAIR_EXPECTED,
            Reader::Rotator => {
                ": the rotated value is {\"UserName\": ..., \"AccessKeyId\": ..., \"SecretAccessKey\": ...}, and UserName names the IAM user whose keys are rotated"
            }
        }
    }
}

/// The shape the sidecar reads, as its refusals name it.
const KEY_PAIR_EXPECTED: &str = "; expected {\"AccessKeyId\": ..., \"SecretAccessKey\": ...}";

/// Why a secret's value is refused, worded for its reader; never quotes the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    /// Whose reading refused it: the wording follows.
    pub reader: Reader,
    pub problem: Problem,
}

/// What is wrong with a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    NoSecretString,
    NotJson { line: usize, column: usize },
    Missing(&'static str),
    NotAString(&'static str),
    BadActiveUntil,
    BadReplacedKey,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            Problem::NoSecretString => {
                f.write_str("has no SecretString (a binary secret cannot hold a key pair)")
            }
            Problem::NotJson { line, column } => write!(
                f,
                "SecretString is not JSON (line {line}, column {column}){}",
                self.reader.after_not_json()
            ),
            Problem::Missing(name) => write!(
                f,
                "SecretString has no {name}{}",
                self.reader.after_missing()
            ),
            Problem::NotAString(name) => write!(f, "{name} is not a non-empty string"),
            Problem::BadActiveUntil => f.write_str("ActiveUntil is not an RFC 3339 time"),
            Problem::BadReplacedKey => f.write_str(
                "ReplacedKey is not {\"AccessKeyId\": ..., \"ActiveUntil\": RFC 3339 time}",
            ),
        }
    }
}

impl std::error::Error for ValueError {}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field("active_until", &self.active_until)
            .finish()
    }
}

impl KeyPair {
    /// The key pair of a version's `SecretString`, as the sidecar reads it: `UserName` and any
    /// other field are ignored.
    pub fn parse(text: Option<&str>) -> Result<KeyPair, ValueError> {
        parse(text, Reader::Sidecar).map(|(_, keys)| keys)
    }

    /// `ActiveUntil` as a time.
    pub fn active_until(&self) -> Option<SystemTime> {
        self.active_until.as_deref().and_then(clock::parse_rfc3339)
    }
}

impl KeyValue {
    /// A version's `SecretString`, as the rotator reads it: `UserName` is required.
    pub fn parse(text: Option<&str>) -> Result<KeyValue, ValueError> {
        let (user_name, keys) = parse(text, Reader::Rotator)?;
        Ok(KeyValue {
            user_name: user_name.expect("the rotator's reading requires UserName"),
            keys,
            replaced: replaced_key(text).map_err(|problem| ValueError {
                reader: Reader::Rotator,
                problem,
            })?,
        })
    }

    /// The `SecretString` to store.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain strings serialise")
    }
}

/// `ReplacedKey`, when the value has one (`text` already parsed as JSON by [`parse`]).
fn replaced_key(text: Option<&str>) -> Result<Option<ReplacedKey>, Problem> {
    let value: serde_json::Value = text
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    let Some(record) = value.get("ReplacedKey").filter(|r| !r.is_null()) else {
        return Ok(None);
    };
    let text = |name| record.get(name).and_then(serde_json::Value::as_str);
    match (text("AccessKeyId"), text("ActiveUntil")) {
        (Some(key), Some(until)) if !key.is_empty() && clock::parse_rfc3339(until).is_some() => {
            Ok(Some(ReplacedKey {
                access_key_id: key.to_string(),
                active_until: until.to_string(),
            }))
        }
        _ => Err(Problem::BadReplacedKey),
    }
}

/// The one parser: `ActiveUntil` first, then (for the rotator) `UserName`, then the key pair, so
/// each reader names the first problem it cares about.
fn parse(text: Option<&str>, reader: Reader) -> Result<(Option<String>, KeyPair), ValueError> {
    let refuse = |problem| ValueError { reader, problem };
    let text = text.ok_or(refuse(Problem::NoSecretString))?;
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        refuse(Problem::NotJson {
            line: e.line(),
            column: e.column(),
        })
    })?;
    let field = |name: &'static str| -> Result<String, ValueError> {
        match value.get(name) {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            Some(_) => Err(refuse(Problem::NotAString(name))),
            None => Err(refuse(Problem::Missing(name))),
        }
    };
    let active_until = match value.get("ActiveUntil") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) if clock::parse_rfc3339(s).is_some() => Some(s.clone()),
        Some(_) => return Err(refuse(Problem::BadActiveUntil)),
    };
    let user_name = match reader {
        Reader::Rotator => Some(field("UserName")?),
        Reader::Sidecar => None,
    };
    let keys = KeyPair {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: field("SecretAccessKey")?,
        active_until,
    };
    Ok((user_name, keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bad secret values are named without quoting them, worded for the reader.
    fn assert_refused(
        parse: impl Fn(Option<&str>) -> Result<String, ValueError>,
        cases: &[(Option<&str>, &str)],
    ) {
        for (value, expected) in cases {
            let err = parse(*value).err().unwrap().to_string();
            assert!(err.contains(expected), "{err}");
            assert!(!err.contains("s3cr3t"), "{err}");
        }
    }

    /// The sidecar reads the key pair and `ActiveUntil`, whatever else the value holds, and never
    /// needs `UserName`.
    #[test]
    fn secret_values() {
        let good = KeyPair::parse(Some(
            r#"{"AccessKeyId": "AKIAEXAMPLE", "SecretAccessKey": "s3cr3t", "UserName": "u"}"#,
        ))
        .unwrap();
        assert_eq!(good.access_key_id, "AKIAEXAMPLE");
        assert_eq!(good.active_until(), None);
        let committed = KeyPair::parse(Some(
            r#"{"AccessKeyId": "AKIAEXAMPLE", "SecretAccessKey": "s3cr3t", "ActiveUntil": "2026-12-30T00:00:00Z"}"#,
        ))
        .unwrap();
        assert_eq!(
            committed.active_until().map(clock::rfc3339).as_deref(),
            Some("2026-12-30T00:00:00Z")
        );
        let parse = |v: Option<&str>| KeyPair::parse(v).map(|k| k.access_key_id);
        assert_refused(
            parse,
            &[
                (None, "no SecretString"),
                (Some("s3cr3t-not-json"), "not JSON"),
                (
                    Some(r#"{"AccessKeyId": "AKIAEXAMPLE"}"#),
                    "no SecretAccessKey",
                ),
                (
                    Some(r#"{"AccessKeyId": 1, "SecretAccessKey": "s3cr3t"}"#),
                    "AccessKeyId is not",
                ),
                (
                    Some(
                        r#"{"AccessKeyId": "A", "SecretAccessKey": "s3cr3t", "ActiveUntil": "soon"}"#,
                    ),
                    "ActiveUntil",
                ),
            ],
        );
    }

    /// The rotator's values: good and bad; errors and `Debug` never show the secret.
    #[test]
    fn values() {
        let good = KeyValue::parse(Some(
            r#"{"UserName": "u", "AccessKeyId": "AKIAEXAMPLE", "SecretAccessKey": "s3cr3t", "ActiveUntil": "2026-12-30T00:00:00Z"}"#,
        ))
        .unwrap();
        assert_eq!(good.user_name, "u");
        assert!(good.keys.active_until().is_some());
        assert!(!format!("{good:?}").contains("s3cr3t"));
        assert_eq!(
            good.to_json().replace("s3cr3t", "SECRET"),
            r#"{"UserName":"u","AccessKeyId":"AKIAEXAMPLE","SecretAccessKey":"SECRET","ActiveUntil":"2026-12-30T00:00:00Z"}"#
        );
        let round = KeyValue::parse(Some(&good.to_json())).unwrap();
        assert_eq!(round.keys.active_until, good.keys.active_until);
        let parse = |v: Option<&str>| KeyValue::parse(v).map(|k| k.user_name);
        assert_refused(
            parse,
            &[
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
            ],
        );
    }

    /// Each reader words a refusal as it always has: the sidecar names the key pair it expects,
    /// the rotator the whole rotated value.
    #[test]
    fn refusals_are_worded_for_their_reader() {
        let sidecar = |v| KeyPair::parse(Some(v)).unwrap_err().to_string();
        let rotator = |v| KeyValue::parse(Some(v)).unwrap_err().to_string();
        let expected = r#"expected {"AccessKeyId": ..., "SecretAccessKey": ...}"#;
        assert_eq!(
            sidecar("{"),
            format!("SecretString is not JSON (line 1, column 1); {expected}")
        );
        assert_eq!(rotator("{"), "SecretString is not JSON (line 1, column 1)");
        assert_eq!(
            sidecar("{}"),
            format!("SecretString has no AccessKeyId; {expected}")
        );
        assert!(
            rotator("{}").starts_with("SecretString has no UserName: the rotated value is"),
            "{}",
            rotator("{}")
        );
    }
}
