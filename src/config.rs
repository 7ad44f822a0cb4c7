//! The validated configuration: durations, addresses and rules, no raw strings. The CLI layer
//! ([`crate::cli`]) alone knows the flags that become it.

use std::net::SocketAddr;
use std::time::Duration;

use crate::presign::uppy::UppyDefaults;
use crate::presign::{Limits, PresignRequest, Rule};
use crate::telemetry::logging::LogFormat;
use crate::tracked::SigningSource;

/// Default API address: loopback, because every container in an awsvpc task shares it and nothing
/// outside the task should read credential state. 9780 is unassigned in IANA's registry and clear of
/// the ports ECS sidecars commonly take (the ADOT collector, Envoy, the CloudWatch agent).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9780";
/// Default check interval: one log line a minute is cheap in CloudWatch and fine-grained enough for
/// sessions that last hours.
pub const DEFAULT_INTERVAL: &str = "1m";
/// Default bound on one check. aws-config's ECS provider retries three times with fixed 2 s/5 s
/// timeouts, so a slow endpoint can hold a call ~17 s; 10 s keeps a check well inside the interval.
pub const DEFAULT_CHECK_TIMEOUT: &str = "10s";
/// Default WARN threshold: 15 minutes is the shortest session STS issues, so less than that left is
/// unusual for a healthy task role.
pub const DEFAULT_WARN_BELOW: &str = "15m";
/// Default readiness minimum: ready as long as the credentials have not expired.
pub const DEFAULT_READY_MIN_REMAINING: &str = "0s";
/// The validated configuration of the daemon.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
    pub interval: Duration,
    pub check_timeout: Duration,
    pub warn_below: Duration,
    pub ready_min_remaining: Duration,
    pub log_format: LogFormat,
    pub emf_namespace: String,
    /// Whether to call STS GetCallerIdentity after the first check and after each rotation.
    pub identity: bool,
    /// `--presign-allow`: empty means presigning is off.
    pub presign_allow: Vec<Rule>,
    /// `--kms-key-arn`: the KMS key ARNs an SSE-KMS upload may name (none: uploads may name no
    /// key), the same list `iam-policy` grants KMS on.
    pub kms_keys: Vec<String>,
    pub signing: SigningConfig,
    /// `--uppy-expires-in`, `--uppy-min-expires-in`.
    pub uppy: UppyDefaults,
    /// `--signing-source` and its settings.
    pub source: SigningSource,
}

/// Validated signing flags.
#[derive(Debug, Clone)]
pub struct SigningConfig {
    pub limits: Limits,
    /// `None`: the SDK's region (AWS_REGION, profile, instance metadata).
    pub region: Option<String>,
    pub force_path_style: bool,
}

/// Validated `presign` flags.
#[derive(Debug, Clone)]
pub struct PresignConfig {
    pub request: PresignRequest,
    pub check_timeout: Duration,
    pub signing: SigningConfig,
}

/// Validated `status` flags.
#[derive(Debug, Clone)]
pub struct StatusConfig {
    pub min_remaining: Duration,
    pub check_timeout: Duration,
}

/// Default `--session` of `demo`: the shortest session AssumeRole allows, so rotation shows up
/// quickly.
pub const DEFAULT_DEMO_SESSION: &str = "15m";

/// Validated `demo` flags.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub session: Duration,
    pub run: Config,
}
