//! Collecting every bad flag value before reporting them together, each naming its flag, its env
//! var and the value.

use std::net::SocketAddr;
use std::time::Duration;

use crate::presign::Rule;

/// Every bad value found in the flags, reported together.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    /// One line per bad value, naming the flag, its env var and the value.
    pub problems: Vec<String>,
}

/// Collects problems while fields are validated one by one.
#[derive(Default)]
pub(super) struct Problems(pub(super) Vec<String>);

impl Problems {
    pub(super) fn duration(&mut self, flag: &str, value: &str) -> Duration {
        self.duration_min(flag, value, Duration::ZERO)
    }

    pub(super) fn duration_min(&mut self, flag: &str, value: &str, min: Duration) -> Duration {
        match humantime::parse_duration(value.trim()) {
            Ok(d) if d >= min => d,
            Ok(_) => {
                self.push(
                    flag,
                    value,
                    &format!("must be at least {}", humantime::format_duration(min)),
                );
                min
            }
            Err(e) => {
                self.push(
                    flag,
                    value,
                    &format!("{e} (expected a duration like 90s, 15m or 1h 30m)"),
                );
                min
            }
        }
    }

    pub(super) fn addr(&mut self, flag: &str, value: &str) -> Option<SocketAddr> {
        match value.trim().parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.push(
                    flag,
                    value,
                    "expected IP:PORT, like 127.0.0.1:9780 or 0.0.0.0:9781",
                );
                None
            }
        }
    }

    pub(super) fn push(&mut self, flag: &str, value: &str, why: &str) {
        let env = format!("SESSIONGUARD_{}", flag.to_uppercase().replace('-', "_"));
        self.0
            .push(format!("--{flag} (env {env}) = {value:?}: {why}"));
    }

    /// `--presign-allow` values as rules, each bad one a problem.
    pub(super) fn rules(&mut self, values: &[String]) -> Vec<Rule> {
        split_rules(values)
            .iter()
            .filter_map(|r| match Rule::parse(r) {
                Ok(rule) => Some(rule),
                Err(why) => {
                    self.push("presign-allow", r, &why);
                    None
                }
            })
            .collect()
    }

    /// `--kms-key-arn` values, trimmed, blanks dropped, each one that is not a KMS key ARN a
    /// problem: a policy's `Resource` names a key by its ARN, never by alias, and uploads may name
    /// only these ARNs.
    pub(super) fn kms_keys(&mut self, values: &[String]) -> Vec<String> {
        let mut keys = Vec::new();
        for key in values.iter().map(|k| k.trim()).filter(|k| !k.is_empty()) {
            let parts: Vec<&str> = key.splitn(6, ':').collect();
            let is_key_arn = parts.len() == 6
                && parts[0] == "arn"
                && parts[2] == "kms"
                && parts[5].starts_with("key/")
                && parts[5].len() > "key/".len();
            if is_key_arn {
                keys.push(key.to_string());
            } else {
                self.push(
                    "kms-key-arn",
                    key,
                    "expected a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID): a policy's Resource names the key by ARN, never by alias",
                );
            }
        }
        keys
    }

    pub(super) fn finish<T>(self, value: T) -> Result<T, ConfigError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError { problems: self.0 })
        }
    }
}

/// A flag's value, trimmed, when it has one: a blank env var counts as unset.
pub(super) fn given<S: AsRef<str>>(value: &Option<S>) -> Option<&str> {
    value
        .as_ref()
        .map(|v| v.as_ref().trim())
        .filter(|v| !v.is_empty())
}

/// Splits comma-separated rule lists (the env var form) into rules. The comma also separates the
/// methods of one rule (`GET,PUT:scratch`, `DELETE,GET:reports/tmp/`), so fragments that are only
/// a method name are held until the next fragment: one with a `:` ends their rule; any other means
/// they were rules of their own (`delete,reports` is two buckets: `delete` is a valid bucket name).
fn split_rules(values: &[String]) -> Vec<String> {
    let mut rules = Vec::new();
    for value in values {
        let mut methods: Vec<&str> = Vec::new();
        for fragment in value.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            if fragment.contains(':') {
                methods.push(fragment);
                rules.push(methods.join(","));
                methods.clear();
            } else if crate::presign::Method::parse(fragment).is_some() {
                methods.push(fragment);
            } else {
                rules.extend(methods.drain(..).map(str::to_string));
                rules.push(fragment.to_string());
            }
        }
        rules.extend(methods.into_iter().map(str::to_string));
    }
    rules
}
