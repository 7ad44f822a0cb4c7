//! `--signing-source assume-role`: an STS AssumeRole session, assumed with the task credentials.
//!
//! Its expiry is the session's `Expiration`. A request that needs more than the current session
//! has left may ask for a fresh session right then (see [`Tracked::refresh_for`], at most one per
//! [`ON_DEMAND_SPACING`]), provided a fresh session would cover it. STS caps sessions assumed by
//! role chaining (AssumeRole from task-role credentials) at 1 hour and any other at the role's
//! `MaxSessionDuration`; when it refuses `--assume-role-duration`, the duration is clamped to
//! 1 hour (every role allows that), logged once and given as the reason in 409 answers.
//!
//! [`Tracked::refresh_for`]: super::Tracked::refresh_for

use std::fmt;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::signing::{sdk_failure, with_task_credentials};
use super::sts_session::{SessionFacts, duration_refused, sts_session_source};
use super::{Failure, Fetched, Tracked};
use crate::clock::Clock;

/// The value of `--signing-source`.
pub const NAME: &str = "assume-role";
/// Shortest session AssumeRole issues.
pub const MIN_DURATION: Duration = Duration::from_secs(900);
/// Longest session AssumeRole issues (a role's MaxSessionDuration is at most 12 hours).
pub const MAX_DURATION: Duration = Duration::from_secs(43_200);
/// STS's cap on sessions assumed by role chaining, and the least MaxSessionDuration a role has.
pub const ROLE_CHAINING_CAP: Duration = Duration::from_secs(3_600);
pub use super::sts_session::{FRESH_SESSION_SLACK, ON_DEMAND_SPACING};
/// Default `--assume-role-duration`: what role chaining allows.
pub const DEFAULT_DURATION: &str = "1h";
/// Default `--assume-role-session-name`, seen in CloudTrail and in the assumed-role ARN.
pub const DEFAULT_SESSION_NAME: &str = "sessionguard";

/// `--assume-role-*`.
#[derive(Clone, PartialEq, Eq)]
pub struct AssumeRoleConfig {
    pub role_arn: String,
    pub duration: Duration,
    pub session_name: String,
    /// A shared secret of the role's trust policy: never printed.
    pub external_id: Option<String>,
}

impl fmt::Debug for AssumeRoleConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssumeRoleConfig")
            .field("role_arn", &self.role_arn)
            .field("duration", &self.duration)
            .field("session_name", &self.session_name)
            .field(
                "external_id",
                &self.external_id.as_ref().map(|_| "** redacted **"),
            )
            .finish()
    }
}

/// Assumes the role with the task credentials.
pub struct AssumeRoleSource {
    config: AssumeRoleConfig,
    sdk: SdkConfig,
    clock: Clock,
    timeout: Duration,
    task: Tracked,
    facts: SessionFacts,
}

impl AssumeRoleSource {
    pub fn new(
        config: AssumeRoleConfig,
        sdk: &SdkConfig,
        clock: Clock,
        timeout: Duration,
        task: Tracked,
    ) -> Self {
        AssumeRoleSource {
            facts: SessionFacts::new(config.duration),
            config,
            sdk: sdk.clone(),
            clock,
            timeout,
            task,
        }
    }

    /// STS AssumeRole with the task credentials; a duration STS refuses is clamped to 1 hour once.
    async fn assume(&self) -> Result<Fetched, Failure> {
        let cfg = &self.config;
        let client =
            aws_sdk_sts::Client::new(&with_task_credentials(&self.sdk, &self.task, &self.clock)?);
        loop {
            let duration = self.facts.duration();
            let call = client
                .assume_role()
                .role_arn(&cfg.role_arn)
                .role_session_name(&cfg.session_name)
                .set_external_id(cfg.external_id.clone())
                .duration_seconds(i32::try_from(duration.as_secs()).unwrap_or(i32::MAX))
                .send();
            let output = match tokio::time::timeout(self.timeout, call).await {
                Err(_) => {
                    return Err(format!(
                        "sts AssumeRole did not answer within {}",
                        humantime::format_duration(self.timeout)
                    )
                    .into());
                }
                Ok(Err(e)) => {
                    let code = e.code().unwrap_or_default().to_string();
                    let message = e.message().unwrap_or_default().to_string();
                    if duration_refused(&code, &message, duration, ROLE_CHAINING_CAP) {
                        let reason = duration_cap_reason(&message, duration);
                        self.facts.clamp_refused(
                            NAME,
                            duration,
                            ROLE_CHAINING_CAP,
                            reason,
                            &message,
                        );
                        continue;
                    }
                    return Err(sdk_failure("sts AssumeRole", &e).into());
                }
                Ok(Ok(output)) => output,
            };
            return self.facts.fetched(
                "AssumeRole",
                output.credentials,
                output.assumed_role_user.map(|u| u.arn),
            );
        }
    }
}

sts_session_source!(AssumeRoleSource, NAME, "assumed-role");

/// Why STS refused the duration, and what was done about it.
fn duration_cap_reason(sts_message: &str, asked: Duration) -> String {
    let asked = humantime::format_duration(asked);
    if sts_message.contains("role chaining") {
        format!(
            "STS caps sessions assumed by role chaining (AssumeRole from task-role credentials) at 1 hour; --assume-role-duration {asked} was clamped to 1h"
        )
    } else {
        format!(
            "STS refused --assume-role-duration {asked}, more than the role's MaxSessionDuration; clamped to 1h, which every role allows (raise the role's MaxSessionDuration or lower --assume-role-duration)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_reasons() {
        let two_hours = Duration::from_secs(7_200);
        assert!(
            duration_cap_reason(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
                two_hours
            )
            .contains("role chaining")
        );
        assert!(
            duration_cap_reason(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
                two_hours
            )
            .contains("MaxSessionDuration")
        );
    }

    /// The external id is a shared secret of the trust policy: `Debug` never shows it.
    #[test]
    fn debug_hides_the_external_id() {
        let config = AssumeRoleConfig {
            role_arn: "arn:aws:iam::123456789012:role/presigner".into(),
            duration: Duration::from_secs(3600),
            session_name: "sessionguard".into(),
            external_id: Some("canary-external-id".into()),
        };
        let debug = format!("{config:?}");
        assert!(!debug.contains("canary-external-id"), "{debug}");
        assert!(debug.contains("presigner"), "{debug}");
    }
}
