//! Raw flags to validated configuration: every bad value is named with its flag, its env var and
//! the value, all at once.

use std::time::Duration;

pub use super::problems::ConfigError;
use super::problems::{Problems, given};
use super::{DemoArgs, HealthcheckArgs, PresignArgs, RunArgs, SigningArgs, StatusArgs};
use crate::config::{Config, DemoConfig, PresignConfig, SigningConfig, StatusConfig};
use crate::presign::uppy::UppyDefaults;
use crate::presign::{Limits, PresignRequest, SIGV4_MAX_EXPIRES_IN};
use crate::telemetry::logging::LogFormat;

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
        let log_format = self.log_format(p);
        let presign_allow = p.rules(&self.presign_allow);
        let kms_keys = p.kms_keys(&self.kms_key_arn);
        let signing = self.signing.validate(p);
        let source = self.source.validate(p);
        super::SourceArgs::require_token_file(&source, p);
        let uppy = self.uppy(p);
        let listen = listen?;
        let metrics_listen = match metrics_listen {
            Some(addr) => Some(addr?),
            None => None,
        };
        Some(Config {
            uppy,
            presign_allow,
            kms_keys,
            signing,
            source,
            listen,
            metrics_listen,
            interval,
            check_timeout,
            warn_below,
            ready_min_remaining,
            log_format,
            emf_namespace: self.emf_namespace(p),
            identity: !self.no_identity,
        })
    }

    fn log_format(&self, p: &mut Problems) -> LogFormat {
        LogFormat::parse(&self.log_format).unwrap_or_else(|| {
            p.push(
                "log-format",
                &self.log_format,
                "expected one of auto, text, json, emf",
            );
            LogFormat::Auto
        })
    }

    /// The two Uppy durations: each whole seconds SigV4 can sign, the shorter one not above the
    /// longer.
    fn uppy(&self, p: &mut Problems) -> UppyDefaults {
        let flags = [
            ("uppy-expires-in", &self.uppy_expires_in),
            ("uppy-min-expires-in", &self.uppy_min_expires_in),
        ];
        let [expires_in, min_expires_in] =
            flags.map(|(flag, value)| p.duration_min(flag, value, Duration::from_secs(1)));
        for ((flag, value), d) in flags.into_iter().zip([expires_in, min_expires_in]) {
            if d > SIGV4_MAX_EXPIRES_IN || d.subsec_nanos() != 0 {
                p.push(
                    flag,
                    value,
                    "must be whole seconds, at most 7d (SigV4's limit)",
                );
            }
        }
        if min_expires_in > expires_in {
            p.push(
                "uppy-min-expires-in",
                &self.uppy_min_expires_in,
                "must not be more than --uppy-expires-in",
            );
        }
        UppyDefaults {
            expires_in,
            min_expires_in,
        }
    }

    /// `--emf-namespace`, trimmed: CloudWatch's limits on a namespace.
    fn emf_namespace(&self, p: &mut Problems) -> String {
        let ns = self.emf_namespace.trim();
        if ns.is_empty() || ns.len() > 255 || ns.starts_with(':') {
            p.push(
                "emf-namespace",
                &self.emf_namespace,
                "must be 1 to 255 characters and not start with ':'",
            );
        }
        ns.to_string()
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
        SigningConfig {
            limits: Limits {
                margin,
                max_expires_in: max.min(SIGV4_MAX_EXPIRES_IN),
            },
            region: given(&self.region).map(str::to_string),
            force_path_style: self.s3_force_path_style,
        }
    }
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
