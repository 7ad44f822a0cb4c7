//! `--signing-source web-identity`: an STS AssumeRoleWithWebIdentity session, from the token file
//! and role IRSA gives the pod (`AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`).
//!
//! The SDKs ask web identity for the default hour and offer no way to ask longer, yet STS allows up
//! to the role's `MaxSessionDuration` (12 hours at most), since it is not role chaining: this source
//! asks for `--signing-session-duration` (12 hours by default). The kubelet rotates the projected
//! token, so the file is read again for every call; the call itself is unsigned (the token is the
//! proof), so it needs no task credentials. When STS refuses the duration (more than the role's
//! `MaxSessionDuration`, which is 1 hour unless raised), the duration is clamped to 1 hour, which
//! every role allows, logged once with what to change on the role, and given as the reason in 409
//! answers. Like an assumed role, a request that needs more than the current session has left may
//! ask for a fresh one (see [`Tracked::refresh_for`]).
//!
//! [`Tracked::refresh_for`]: super::Tracked::refresh_for

use std::path::PathBuf;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::assume_role::ROLE_CHAINING_CAP;
use super::signing::sdk_failure;
use super::sts_session::{SessionFacts, duration_refused, sts_session_source};
use super::{Failure, Fetched};
use crate::clock::Clock;

/// The value of `--signing-source`.
pub const NAME: &str = "web-identity";
/// Default `--signing-session-duration`: the longest session STS issues (a role's
/// MaxSessionDuration is at most 12 hours).
pub const DEFAULT_DURATION: &str = "12h";
/// What every role allows: its MaxSessionDuration is at least 1 hour.
pub const SAFE_DURATION: Duration = ROLE_CHAINING_CAP;
/// The variables IRSA's webhook sets in every container of a pod whose service account carries
/// the `eks.amazonaws.com/role-arn` annotation.
pub const ENV_TOKEN_FILE: &str = "AWS_WEB_IDENTITY_TOKEN_FILE";
pub const ENV_ROLE_ARN: &str = "AWS_ROLE_ARN";

/// `--signing-source web-identity` and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebIdentityConfig {
    pub role_arn: String,
    /// Read for every call: the kubelet replaces it before the token expires.
    pub token_file: PathBuf,
    pub duration: Duration,
    /// `RoleSessionName` (CloudTrail, the assumed-role ARN).
    pub session_name: String,
}

/// Exchanges the pod's web identity token for a session of the role.
pub struct WebIdentitySource {
    config: WebIdentityConfig,
    /// The token is the credential, so the client never changes: built once.
    sts: aws_sdk_sts::Client,
    timeout: Duration,
    facts: SessionFacts,
}

impl WebIdentitySource {
    pub fn new(
        config: WebIdentityConfig,
        sdk: &SdkConfig,
        clock: Clock,
        timeout: Duration,
    ) -> Self {
        WebIdentitySource {
            facts: SessionFacts::new(config.duration),
            config,
            sts: aws_sdk_sts::Client::new(&sdk.to_builder().time_source(clock).build()),
            timeout,
        }
    }

    /// The token as the kubelet last wrote it; never part of an error.
    fn token(&self) -> Result<String, Failure> {
        let path = self.config.token_file.display();
        let text = std::fs::read_to_string(&self.config.token_file).map_err(|e| {
            format!(
                "web identity token file {path} cannot be read ({e}); IRSA mounts it at /var/run/secrets/eks.amazonaws.com/serviceaccount/token when the pod's service account has the eks.amazonaws.com/role-arn annotation"
            )
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(format!("web identity token file {path} is empty").into());
        }
        Ok(token.to_string())
    }

    /// STS AssumeRoleWithWebIdentity; a duration STS refuses is clamped to 1 hour once.
    async fn assume(&self) -> Result<Fetched, Failure> {
        let cfg = &self.config;
        loop {
            let token = self.token()?;
            let duration = self.facts.duration();
            let call = self
                .sts
                .assume_role_with_web_identity()
                .role_arn(&cfg.role_arn)
                .role_session_name(&cfg.session_name)
                .web_identity_token(token)
                .duration_seconds(i32::try_from(duration.as_secs()).unwrap_or(i32::MAX))
                .send();
            let output = match tokio::time::timeout(self.timeout, call).await {
                Err(_) => {
                    return Err(format!(
                        "sts AssumeRoleWithWebIdentity did not answer within {}",
                        humantime::format_duration(self.timeout)
                    )
                    .into());
                }
                Ok(Err(e)) => {
                    let code = e.code().unwrap_or_default().to_string();
                    let message = e.message().unwrap_or_default().to_string();
                    if duration_refused(&code, &message, duration, SAFE_DURATION) {
                        let reason = duration_cap_reason(&cfg.role_arn, duration);
                        self.facts
                            .clamp_refused(NAME, duration, SAFE_DURATION, reason, &message);
                        continue;
                    }
                    return Err(sdk_failure("sts AssumeRoleWithWebIdentity", &e).into());
                }
                Ok(Ok(output)) => output,
            };
            return self.facts.fetched(
                "AssumeRoleWithWebIdentity",
                output.credentials,
                output.assumed_role_user.map(|u| u.arn),
            );
        }
    }
}

sts_session_source!(WebIdentitySource, NAME, "web identity");

/// Why STS refused the duration, and what to change on the role.
fn duration_cap_reason(role_arn: &str, asked: Duration) -> String {
    let role_name = role_arn.rsplit('/').next().unwrap_or(role_arn);
    format!(
        "STS refused --signing-session-duration {}: more than the role's MaxSessionDuration (1h unless raised); clamped to 1h, which every role allows. Raise it on the role (aws iam update-role --role-name {role_name} --max-session-duration {}) or lower --signing-session-duration",
        humantime::format_duration(asked),
        asked.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The refusal names the role's setting and the command that raises it.
    #[test]
    fn cap_reason_names_the_role_setting() {
        let reason = duration_cap_reason(
            "arn:aws:iam::123456789012:role/eks/shop-presigner",
            Duration::from_secs(43_200),
        );
        assert!(
            reason.contains("--signing-session-duration 12h")
                && reason.contains("MaxSessionDuration")
                && reason.contains(
                    "aws iam update-role --role-name shop-presigner --max-session-duration 43200"
                ),
            "{reason}"
        );
    }
}
