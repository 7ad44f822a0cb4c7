//! Raw flags to validated configuration: every bad value is named with its flag, its env var and
//! the value, all at once.

use std::time::Duration;

pub use super::problems::ConfigError;
use super::problems::Problems;
use super::{
    DemoArgs, HealthcheckArgs, PresignArgs, PresignFieldArgs, RunArgs, SigningArgs, SourceArgs,
    StatusArgs,
};
use crate::config::{Config, DemoConfig, PresignConfig, SigningConfig, StatusConfig};
use crate::presign::uppy::UppyDefaults;
use crate::presign::{Limits, PresignRequest, SIGV4_MAX_EXPIRES_IN};
use crate::telemetry::logging::LogFormat;
use crate::tracked::assume_role::{MAX_DURATION, MIN_DURATION};
use crate::tracked::schedule::MAX_ROTATION_PERIOD;
use crate::tracked::{AssumeRoleConfig, Overlap, SecretConfig, SigningSource};

impl RunArgs {
    fn validate(&self, p: &mut Problems) -> Option<Config> {
        let listen = p.addr("listen", &self.listen);
        let metrics_listen = self
            .metrics_listen
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| p.addr("metrics-listen", s));
        let interval = p.duration_min("interval", &self.interval, Duration::from_secs(1));
        let check_timeout = p.duration_min(
            "check-timeout",
            &self.check_timeout,
            Duration::from_millis(100),
        );
        let warn_below = p.duration("warn-below", &self.warn_below);
        let ready_min_remaining = p.duration("ready-min-remaining", &self.ready_min_remaining);
        let log_format = match LogFormat::parse(&self.log_format) {
            Some(f) => f,
            None => {
                p.push(
                    "log-format",
                    &self.log_format,
                    "expected one of auto, text, json, emf",
                );
                LogFormat::Auto
            }
        };
        let presign_allow = p.rules(&self.presign_allow);
        let signing = self.signing.validate(p);
        let source = self.source.validate(p);
        let uppy = UppyDefaults {
            expires_in: p.duration_min(
                "uppy-expires-in",
                &self.uppy_expires_in,
                Duration::from_secs(1),
            ),
            min_expires_in: p.duration_min(
                "uppy-min-expires-in",
                &self.uppy_min_expires_in,
                Duration::from_secs(1),
            ),
        };
        for (flag, value, d) in [
            ("uppy-expires-in", &self.uppy_expires_in, uppy.expires_in),
            (
                "uppy-min-expires-in",
                &self.uppy_min_expires_in,
                uppy.min_expires_in,
            ),
        ] {
            if d > SIGV4_MAX_EXPIRES_IN || d.subsec_nanos() != 0 {
                p.push(
                    flag,
                    value,
                    "must be whole seconds, at most 7d (SigV4's limit)",
                );
            }
        }
        if uppy.min_expires_in > uppy.expires_in {
            p.push(
                "uppy-min-expires-in",
                &self.uppy_min_expires_in,
                "must not be more than --uppy-expires-in",
            );
        }
        Some(Config {
            uppy,
            presign_allow,
            signing,
            source,
            listen: listen?,
            metrics_listen: match metrics_listen {
                Some(a) => Some(a?),
                None => None,
            },
            interval,
            check_timeout,
            warn_below,
            ready_min_remaining,
            log_format,
            emf_namespace: {
                let ns = self.emf_namespace.trim();
                if ns.is_empty() || ns.len() > 255 || ns.starts_with(':') {
                    p.push(
                        "emf-namespace",
                        &self.emf_namespace,
                        "must be 1 to 255 characters and not start with ':'",
                    );
                }
                ns.to_string()
            },
            identity: !self.no_identity,
        })
    }
}

impl SigningArgs {
    fn validate(&self, p: &mut Problems) -> SigningConfig {
        let margin = p.duration("presign-margin", &self.presign_margin);
        let max = p.duration_min(
            "presign-max-expires-in",
            &self.presign_max_expires_in,
            Duration::from_secs(1),
        );
        if max > SIGV4_MAX_EXPIRES_IN {
            p.push(
                "presign-max-expires-in",
                &self.presign_max_expires_in,
                "must be at most 7d (604800s), SigV4's limit for presigned URLs",
            );
        }
        let region = self
            .region
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_string);
        SigningConfig {
            limits: Limits {
                margin,
                max_expires_in: max.min(SIGV4_MAX_EXPIRES_IN),
            },
            region,
            force_path_style: self.s3_force_path_style,
        }
    }
}

impl SourceArgs {
    pub(super) fn validate(&self, p: &mut Problems) -> SigningSource {
        fn given(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        let source = self.signing_source.trim();
        let (arn, external_id, secret_id) = (
            given(&self.assume_role_arn),
            given(&self.assume_role_external_id),
            given(&self.signing_secret_id),
        );
        // A flag of the other source is a mistake in the task definition, not something to ignore.
        for (flag, value, belongs_to) in [
            ("assume-role-arn", arn, "assume-role"),
            // A shared secret of the role's trust policy: named, never echoed.
            (
                "assume-role-external-id",
                external_id.map(|_| "(hidden)"),
                "assume-role",
            ),
            ("signing-secret-id", secret_id, "secrets-manager"),
        ] {
            if let Some(v) = value
                && source != belongs_to
            {
                p.push(
                    flag,
                    v,
                    &format!("only applies with --signing-source {belongs_to}"),
                );
            }
        }
        // Checked whatever the source, so a typo is caught before the source is switched on.
        let duration = p.duration_min(
            "assume-role-duration",
            &self.assume_role_duration,
            MIN_DURATION,
        );
        let refresh = p.duration_min(
            "signing-secret-refresh",
            &self.signing_secret_refresh,
            Duration::from_secs(1),
        );
        let overlap = match self.signing_key_overlap.trim() {
            "rotation-period" => Overlap::RotationPeriod,
            other => {
                let d = p.duration("signing-key-overlap", other);
                if d > MAX_ROTATION_PERIOD {
                    p.push(
                        "signing-key-overlap",
                        other,
                        "must be at most 1000d (Secrets Manager's longest rotation period) or rotation-period",
                    );
                }
                Overlap::Fixed(d)
            }
        };
        match source {
            "task" => SigningSource::Task,
            "assume-role" => {
                let role_arn = match arn {
                    None => {
                        p.push(
                            "assume-role-arn",
                            "",
                            "is required with --signing-source assume-role",
                        );
                        String::new()
                    }
                    Some(a) if !is_role_arn(a) => {
                        p.push(
                            "assume-role-arn",
                            a,
                            "expected a role ARN like arn:aws:iam::123456789012:role/presigner",
                        );
                        a.to_string()
                    }
                    Some(a) => a.to_string(),
                };
                if duration > MAX_DURATION || duration.subsec_nanos() != 0 {
                    p.push(
                        "assume-role-duration",
                        &self.assume_role_duration,
                        "must be whole seconds from 15m to 12h (STS AssumeRole's DurationSeconds range)",
                    );
                }
                let session_name = self.assume_role_session_name.trim();
                if !(2..=64).contains(&session_name.len())
                    || !session_name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
                {
                    p.push(
                        "assume-role-session-name",
                        session_name,
                        "must be 2 to 64 characters of letters, digits and _+=,.@-",
                    );
                }
                if let Some(id) = external_id
                    && (!(2..=1224).contains(&id.len())
                        || !id
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c)))
                {
                    p.push(
                        "assume-role-external-id",
                        "(hidden)",
                        "must be 2 to 1224 characters of letters, digits and _+=,.@:/-",
                    );
                }
                SigningSource::AssumeRole(AssumeRoleConfig {
                    role_arn,
                    duration,
                    session_name: session_name.to_string(),
                    external_id: external_id.map(str::to_string),
                })
            }
            "secrets-manager" => {
                let secret_id = match secret_id {
                    None => {
                        p.push(
                            "signing-secret-id",
                            "",
                            "is required with --signing-source secrets-manager",
                        );
                        String::new()
                    }
                    Some(id) if id.len() > 2048 => {
                        p.push("signing-secret-id", id, "must be at most 2048 characters");
                        id.to_string()
                    }
                    Some(id) => id.to_string(),
                };
                SigningSource::SecretsManager(SecretConfig {
                    secret_id,
                    refresh,
                    overlap,
                })
            }
            other => {
                p.push(
                    "signing-source",
                    other,
                    "expected one of task, assume-role, secrets-manager",
                );
                SigningSource::Task
            }
        }
    }
}

/// `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`.
fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(
        parts.as_slice(),
        ["arn", partition, "iam", "", account, resource]
            if partition.starts_with("aws")
                && account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit())
                && resource.strip_prefix("role/").is_some_and(|name| !name.is_empty() && !name.ends_with('/'))
    )
}

impl HealthcheckArgs {
    /// The URL to probe.
    pub fn url(&self) -> Result<String, ConfigError> {
        if let Some(url) = &self.url {
            return Ok(url.clone());
        }
        let mut p = Problems::default();
        let listen = p.addr("listen", &self.listen);
        p.finish(listen)
            .map(|l| crate::commands::healthcheck::url_for(l.expect("pushed a problem"), self.live))
    }
}

impl TryFrom<&PresignArgs> for PresignConfig {
    type Error = ConfigError;

    fn try_from(args: &PresignArgs) -> Result<Self, Self::Error> {
        let mut p = Problems::default();
        let check_timeout = p.duration_min(
            "check-timeout",
            &args.check_timeout,
            Duration::from_millis(100),
        );
        let signing = args.signing.validate(&mut p);
        let mut body = serde_json::Map::new();
        match args
            .url
            .strip_prefix("s3://")
            .and_then(|rest| rest.split_once('/'))
        {
            Some((bucket, key)) => {
                body.insert("bucket".into(), bucket.into());
                body.insert("key".into(), key.into());
            }
            None => p.0.push(format!(
                "{:?} is not an object URL; expected s3://BUCKET/KEY",
                args.url
            )),
        }
        body.insert("expires_in".into(), args.expires_in.clone().into());
        if let Some(min) = &args.min_expires_in {
            body.insert("min_expires_in".into(), min.clone().into());
        }
        body.insert(
            "method".into(),
            args.method.trim().to_ascii_uppercase().into(),
        );
        args.fields.insert_into(&mut body, &mut p);
        let request = if body.contains_key("bucket") {
            match PresignRequest::from_json(serde_json::Value::Object(body).to_string().as_bytes())
            {
                Ok(r) => Some(r),
                Err(crate::presign::PresignError::Invalid { field, message }) => {
                    p.0.push(match field.as_str() {
                        "bucket" | "key" => format!("{:?}: the {field} {message}", args.url),
                        flag => format!("--{} {message}", flag.replace('_', "-")),
                    });
                    None
                }
                Err(other) => {
                    p.0.push(other.to_string());
                    None
                }
            }
        } else {
            None
        };
        p.finish(request).map(|request| PresignConfig {
            request: request.expect("every None pushed a problem"),
            check_timeout,
            signing,
        })
    }
}

impl PresignFieldArgs {
    /// Adds the given fields to `body`: text as strings, `--content-length` as a number when it
    /// is one (the body's own check names anything else), `--metadata`/`--tagging` pairs as
    /// objects.
    fn insert_into(&self, body: &mut serde_json::Map<String, serde_json::Value>, p: &mut Problems) {
        for (field, value) in self.texts() {
            if let Some(value) = value {
                body.insert(field.into(), value.clone().into());
            }
        }
        if let Some(length) = &self.content_length {
            let value = match length.trim().parse::<u64>() {
                Ok(n) => n.into(),
                Err(_) => length.clone().into(),
            };
            body.insert("content_length".into(), value);
        }
        for (field, pairs) in [("metadata", &self.metadata), ("tagging", &self.tagging)] {
            if pairs.is_empty() {
                continue;
            }
            let mut object = serde_json::Map::new();
            let before = p.0.len();
            for pair in pairs {
                match pair.split_once('=') {
                    Some((key, _)) if object.contains_key(key) => {
                        p.0.push(format!("--{field} {pair:?}: {key:?} is given twice"))
                    }
                    Some((key, value)) => {
                        object.insert(key.to_string(), value.into());
                    }
                    None => p.0.push(format!("--{field} {pair:?}: expected KEY=VALUE")),
                }
            }
            if p.0.len() == before {
                body.insert(field.into(), object.into());
            }
        }
    }
}

impl TryFrom<&RunArgs> for Config {
    type Error = ConfigError;

    fn try_from(args: &RunArgs) -> Result<Self, Self::Error> {
        let mut p = Problems::default();
        let config = args.validate(&mut p);
        p.finish(config)
            .map(|c| c.expect("every None pushed a problem"))
    }
}

impl TryFrom<&StatusArgs> for StatusConfig {
    type Error = ConfigError;

    fn try_from(args: &StatusArgs) -> Result<Self, Self::Error> {
        let mut p = Problems::default();
        let config = StatusConfig {
            min_remaining: p.duration("min-remaining", &args.min_remaining),
            check_timeout: p.duration_min(
                "check-timeout",
                &args.check_timeout,
                Duration::from_millis(100),
            ),
        };
        p.finish(config)
    }
}

impl TryFrom<&DemoArgs> for DemoConfig {
    type Error = ConfigError;

    fn try_from(args: &DemoArgs) -> Result<Self, Self::Error> {
        let mut p = Problems::default();
        let session = p.duration_min("session", &args.session, Duration::from_secs(5));
        let run = args.run.validate(&mut p);
        p.finish(run).map(|run| DemoConfig {
            session,
            run: run.expect("every None pushed a problem"),
        })
    }
}

#[cfg(test)]
mod tests;
