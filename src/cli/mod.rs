//! Command-line flags: clap parses raw strings (every flag also reads `SESSIONGUARD_<FLAG>`), and
//! [`validate`] turns them into the [`Config`](crate::config::Config) types, reporting every bad
//! value at once, so an operator fixes a task definition in one round trip instead of one per
//! typo. The only module that knows clap.

mod iam_policy;
mod overlap;
mod presign_fields;
mod problems;
mod rotate;
mod source;
pub mod validate;

pub use overlap::KeyOverlapArgs;

use std::fmt;

use clap::{Args, Parser, Subcommand};

use crate::config::{
    DEFAULT_CHECK_TIMEOUT, DEFAULT_DEMO_SESSION, DEFAULT_INTERVAL, DEFAULT_LISTEN,
    DEFAULT_READY_MIN_REMAINING, DEFAULT_WARN_BELOW,
};

pub use presign_fields::PresignFieldArgs;
pub use validate::ConfigError;

/// Exit code for configuration errors (`EX_USAGE` from sysexits.h).
pub const EXIT_USAGE: i32 = 64;

/// sessionguard: watch the task role session and make its remaining lifetime visible.
#[derive(Debug, Parser)]
#[command(name = "sessionguard", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: check the credentials every interval, log, serve /metrics and the API.
    Run(RunArgs),
    /// Resolve the credentials once and print how long they have left.
    Status(StatusArgs),
    /// Run the daemon against an embedded ECS credentials endpoint: no AWS account needed.
    Demo(DemoArgs),
    /// Presign one S3 URL, only if the session outlives it (an honest `aws s3 presign`).
    Presign(PresignArgs),
    /// Exit 0 when the daemon on --listen is ready (GET /readyz is 200), 1 otherwise: for ECS
    /// healthCheck in an image with no shell.
    Healthcheck(HealthcheckArgs),
    /// Print the least-privilege IAM policy the --presign-allow rules need (the reason of each
    /// action on stderr).
    IamPolicy(IamPolicyArgs),
    /// The Secrets Manager rotation function of the presigner's IAM keys, served through the Lambda
    /// runtime API (run by Lambda from the same image, not by hand).
    RotateKeys(RotateKeysArgs),
}

/// Flags of `rotate-keys`.
#[derive(Debug, Clone, Args)]
pub struct RotateKeysArgs {
    #[command(flatten)]
    pub key_overlap: KeyOverlapArgs,
    /// How long testSecret retries a new key before failing (IAM takes seconds to accept one).
    #[arg(long, env = "SESSIONGUARD_TEST_TIMEOUT", default_value = crate::rotate::DEFAULT_TEST_TIMEOUT)]
    pub test_timeout: String,
}

/// Flags of `iam-policy`: the rules and signing source as `run` reads them, and whose policy.
#[derive(Debug, Clone, Args)]
pub struct IamPolicyArgs {
    /// The rules, as `run` takes them.
    #[arg(long, env = "SESSIONGUARD_PRESIGN_ALLOW")]
    pub presign_allow: Vec<String>,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Region of the buckets: picks the partition (aws, aws-cn, aws-us-gov) and completes a
    /// secret named by name.
    #[arg(long, env = "SESSIONGUARD_REGION")]
    pub region: Option<String>,
    /// A KMS key (ARN) that uploads or downloads use (SSE-KMS, or the bucket's default
    /// encryption), as `run` takes them; repeatable, comma-separated in the env var.
    #[arg(long, env = "SESSIONGUARD_KMS_KEY_ARN", value_delimiter = ',')]
    pub kms_key_arn: Vec<String>,
    /// Whose policy: `signer` (the principal URLs are signed as: the task role, the assumed role or
    /// the secret's IAM user) or `task-role` (what the task role itself needs).
    #[arg(long, env = "SESSIONGUARD_PRINCIPAL", default_value = "signer")]
    pub principal: String,
    /// Print the principal's trust policy instead of its permissions.
    #[arg(long, env = "SESSIONGUARD_TRUST_POLICY", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub trust_policy: bool,
    /// The account id: the task role's trust policy names it (confused-deputy guard), and a secret
    /// given by name needs it for its ARN.
    #[arg(long, env = "SESSIONGUARD_ACCOUNT_ID")]
    pub account_id: Option<String>,
    /// With `--signing-source assume-role --principal signer --trust-policy`: the task role
    /// allowed to assume the signing role.
    #[arg(long, env = "SESSIONGUARD_TASK_ROLE_ARN")]
    pub task_role_arn: Option<String>,
    /// With `--signing-source web-identity --trust-policy`: the EKS cluster's OIDC provider, its
    /// ARN or its issuer host (oidc.eks.REGION.amazonaws.com/id/ID, with --account-id).
    #[arg(long, env = "SESSIONGUARD_OIDC_PROVIDER")]
    pub oidc_provider: Option<String>,
    /// With `--signing-source web-identity --trust-policy`, or `--pod-identity`: the pod's
    /// service account, NAMESPACE:NAME.
    #[arg(long, env = "SESSIONGUARD_SERVICE_ACCOUNT")]
    pub service_account: Option<String>,
    /// With `--trust-policy`: the pod's role comes from an EKS Pod Identity association, so its
    /// trust policy admits pods.eks.amazonaws.com (only --service-account's pods, when given)
    /// instead of ECS tasks.
    #[arg(long, env = "SESSIONGUARD_POD_IDENTITY", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub pod_identity: bool,
}

/// Flags of `healthcheck`.
#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// Probe this URL instead of /readyz on --listen.
    #[arg(long)]
    pub url: Option<String>,
    /// Probe /healthz (alive) instead of /readyz (ready).
    #[arg(long)]
    pub live: bool,
    /// The daemon's --listen address.
    #[arg(long, env = "SESSIONGUARD_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,
}

/// Raw flags of `run` (and `demo`), validated into [`Config`].
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Address of the API, /metrics and health endpoints.
    #[arg(long, env = "SESSIONGUARD_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,
    /// Second address serving only /metrics, /healthz and /readyz (e.g. 0.0.0.0:9781 in ECS).
    #[arg(long, env = "SESSIONGUARD_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Time between credential checks.
    #[arg(long, env = "SESSIONGUARD_INTERVAL", default_value = DEFAULT_INTERVAL)]
    pub interval: String,
    /// Upper bound on one credential check (resolution plus identity lookup).
    #[arg(long, env = "SESSIONGUARD_CHECK_TIMEOUT", default_value = DEFAULT_CHECK_TIMEOUT)]
    pub check_timeout: String,
    /// Log a check at WARN when less than this is left.
    #[arg(long, env = "SESSIONGUARD_WARN_BELOW", default_value = DEFAULT_WARN_BELOW)]
    pub warn_below: String,
    /// /readyz answers 503 when less than this is left.
    #[arg(long, env = "SESSIONGUARD_READY_MIN_REMAINING", default_value = DEFAULT_READY_MIN_REMAINING)]
    pub ready_min_remaining: String,
    /// Log format: auto (json unless stdout is a terminal), text, json or emf (json + CloudWatch EMF).
    #[arg(long, env = "SESSIONGUARD_LOG_FORMAT", default_value = "auto")]
    pub log_format: String,
    /// CloudWatch namespace of the metrics in `--log-format emf` lines.
    #[arg(long, env = "SESSIONGUARD_EMF_NAMESPACE", default_value = crate::telemetry::logging::DEFAULT_EMF_NAMESPACE)]
    pub emf_namespace: String,
    /// Do not call STS GetCallerIdentity to learn the role ARN and account.
    #[arg(long, env = "SESSIONGUARD_NO_IDENTITY", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub no_identity: bool,
    /// Allow presigning for `[METHODS:]BUCKET[/PREFIX]`, METHODS of GET, HEAD, PUT, DELETE, POST (no method: all but DELETE; repeatable; env comma-separated). None: off.
    #[arg(long, env = "SESSIONGUARD_PRESIGN_ALLOW")]
    pub presign_allow: Vec<String>,
    /// A KMS key (ARN) an SSE-KMS upload may name in `sse_kms_key_id` (by that ARN exactly);
    /// repeatable, comma-separated in the env var. None: an upload naming a key is refused.
    #[arg(long, env = "SESSIONGUARD_KMS_KEY_ARN", value_delimiter = ',')]
    pub kms_key_arn: Vec<String>,
    /// /v1/presign/uppy: how long a URL lasts when Uppy's request names no expiresIn.
    #[arg(long, env = "SESSIONGUARD_UPPY_EXPIRES_IN", default_value = crate::presign::uppy::DEFAULT_EXPIRES_IN)]
    pub uppy_expires_in: String,
    /// /v1/presign/uppy: the shortest URL signed when the session cannot cover the longer one.
    #[arg(long, env = "SESSIONGUARD_UPPY_MIN_EXPIRES_IN", default_value = crate::presign::uppy::DEFAULT_MIN_EXPIRES_IN)]
    pub uppy_min_expires_in: String,
    #[command(flatten)]
    pub signing: SigningArgs,
    #[command(flatten)]
    pub source: SourceArgs,
}

/// Which credentials the daemon signs with (`run` and `demo` only).
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// Credentials URLs are signed with: task (the task role's), assume-role, secrets-manager or
    /// web-identity.
    #[arg(long, env = "SESSIONGUARD_SIGNING_SOURCE", default_value = "task")]
    pub signing_source: String,
    /// assume-role: the role to assume with the task credentials.
    #[arg(long, env = "SESSIONGUARD_ASSUME_ROLE_ARN")]
    pub assume_role_arn: Option<String>,
    /// assume-role: session length asked of STS (15m to 12h; role chaining caps it at 1h).
    #[arg(long, env = "SESSIONGUARD_ASSUME_ROLE_DURATION", default_value = crate::tracked::assume_role::DEFAULT_DURATION)]
    pub assume_role_duration: String,
    /// assume-role and web-identity: RoleSessionName, seen in CloudTrail and in the assumed-role ARN.
    #[arg(long, env = "SESSIONGUARD_ASSUME_ROLE_SESSION_NAME", default_value = crate::tracked::assume_role::DEFAULT_SESSION_NAME)]
    pub assume_role_session_name: String,
    /// assume-role: ExternalId, when the role's trust policy requires one.
    #[arg(long, env = "SESSIONGUARD_ASSUME_ROLE_EXTERNAL_ID")]
    pub assume_role_external_id: Option<Secret>,
    /// web-identity: the role to assume with the pod's web identity token (default: AWS_ROLE_ARN,
    /// which IRSA sets).
    #[arg(long, env = "SESSIONGUARD_WEB_IDENTITY_ROLE_ARN")]
    pub web_identity_role_arn: Option<String>,
    /// web-identity: the token file, read for every call (default: AWS_WEB_IDENTITY_TOKEN_FILE,
    /// which IRSA sets).
    #[arg(long, env = "SESSIONGUARD_WEB_IDENTITY_TOKEN_FILE")]
    pub web_identity_token_file: Option<String>,
    /// web-identity: session length asked of STS (15m to 12h; at most the role's
    /// MaxSessionDuration, clamped to 1h when STS refuses it).
    #[arg(long, env = "SESSIONGUARD_SIGNING_SESSION_DURATION", default_value = crate::tracked::web_identity::DEFAULT_DURATION)]
    pub signing_session_duration: String,
    /// secrets-manager: the secret (ARN or name) holding {"AccessKeyId", "SecretAccessKey"}.
    #[arg(long, env = "SESSIONGUARD_SIGNING_SECRET_ID")]
    pub signing_secret_id: Option<String>,
    /// secrets-manager: time between reads of the secret (picks up rotation).
    #[arg(long, env = "SESSIONGUARD_SIGNING_SECRET_REFRESH", default_value = crate::tracked::secrets::DEFAULT_REFRESH)]
    pub signing_secret_refresh: String,
    #[command(flatten)]
    pub key_overlap: KeyOverlapArgs,
}

/// Flags shared by the daemon's presign endpoint and the `presign` command.
#[derive(Debug, Clone, Args)]
pub struct SigningArgs {
    /// Time kept between a URL's expiry and the credentials' (clock skew, client start-up).
    #[arg(long, env = "SESSIONGUARD_PRESIGN_MARGIN", default_value = crate::presign::DEFAULT_MARGIN)]
    pub presign_margin: String,
    /// Longest URL ever signed, whatever the session allows (at most 7d, SigV4's limit).
    #[arg(long, env = "SESSIONGUARD_PRESIGN_MAX_EXPIRES_IN", default_value = crate::presign::DEFAULT_MAX_EXPIRES_IN)]
    pub presign_max_expires_in: String,
    /// AWS region of the buckets (default: AWS_REGION and the SDK's region chain).
    #[arg(long, env = "SESSIONGUARD_REGION")]
    pub region: Option<String>,
    /// Path-style URLs (`https://endpoint/bucket/key`), for S3-compatible stores.
    #[arg(long, env = "SESSIONGUARD_S3_FORCE_PATH_STYLE", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub s3_force_path_style: bool,
}

/// Flags of `presign`.
#[derive(Debug, Clone, Args)]
pub struct PresignArgs {
    /// The object: `s3://BUCKET/KEY`.
    pub url: String,
    /// How long the URL should work.
    #[arg(long, default_value = "1h")]
    pub expires_in: String,
    /// Accept a shorter URL, down to this, when the session cannot cover `--expires-in`.
    #[arg(long)]
    pub min_expires_in: Option<String>,
    /// GET (download), HEAD (headers only), PUT (upload) or DELETE.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Upper bound on resolving the credentials.
    #[arg(long, env = "SESSIONGUARD_CHECK_TIMEOUT", default_value = DEFAULT_CHECK_TIMEOUT)]
    pub check_timeout: String,
    #[command(flatten)]
    pub signing: SigningArgs,
    #[command(flatten)]
    pub fields: PresignFieldArgs,
}

/// Flags of `status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Exit 1 when less than this is left.
    #[arg(long, env = "SESSIONGUARD_MIN_REMAINING", default_value = "0s")]
    pub min_remaining: String,
    /// Upper bound on resolving the credentials.
    #[arg(long, env = "SESSIONGUARD_CHECK_TIMEOUT", default_value = DEFAULT_CHECK_TIMEOUT)]
    pub check_timeout: String,
}

/// Flags of `demo`: the session length of the embedded endpoint plus every `run` flag.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Length of each session the embedded endpoint issues.
    #[arg(long, env = "SESSIONGUARD_DEMO_SESSION", default_value = DEFAULT_DEMO_SESSION)]
    pub session: String,
    #[command(flatten)]
    pub run: RunArgs,
}

/// A flag value that is a secret (`--assume-role-external-id`, a shared secret of the role's trust
/// policy): its `Debug` is redacted, so printing the flags never shows it.
#[derive(Clone)]
pub struct Secret(pub String);

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl AsRef<str> for Secret {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        "** redacted **".fmt(f)
    }
}
