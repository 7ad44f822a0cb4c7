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
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tracing::warn;

use super::signing::{log_refresh_failed, log_refreshed, sdk_failure, with_task_credentials};
use super::{
    Attempt, BoxFuture, Details, Failed, Failure, Fetched, Fresh, Limit, Source, State, Success,
    Tracked, expiry_text,
};
use crate::clock::{self, Clock};
use crate::credentials::Snapshot;

/// The value of `--signing-source`.
pub const NAME: &str = "assume-role";
/// Shortest session AssumeRole issues.
pub const MIN_DURATION: Duration = Duration::from_secs(900);
/// Longest session AssumeRole issues (a role's MaxSessionDuration is at most 12 hours).
pub const MAX_DURATION: Duration = Duration::from_secs(43_200);
/// STS's cap on sessions assumed by role chaining, and the least MaxSessionDuration a role has.
pub const ROLE_CHAINING_CAP: Duration = Duration::from_secs(3_600);
/// Least time between two AssumeRole calls made for presign requests: clients asking for the
/// longest URL a fresh session allows would otherwise cost one STS call each.
pub const ON_DEMAND_SPACING: Duration = Duration::from_secs(10);
/// Kept off what a fresh session is expected to allow: STS's `Expiration` carries its own clock and
/// the call's latency, and signing starts at a whole second.
pub const FRESH_SESSION_SLACK: Duration = Duration::from_secs(5);
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

/// What STS told us besides the credentials.
#[derive(Debug, Clone)]
struct Facts {
    /// The duration asked for now (clamped after a refusal) and why it was clamped.
    duration: Duration,
    duration_cap: Option<String>,
    /// The ARN of the assumed session.
    session_arn: Option<String>,
}

/// Assumes the role with the task credentials.
pub struct AssumeRoleSource {
    config: AssumeRoleConfig,
    sdk: SdkConfig,
    clock: Clock,
    timeout: Duration,
    task: Tracked,
    facts: RwLock<Facts>,
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
            facts: RwLock::new(Facts {
                duration: config.duration,
                duration_cap: None,
                session_arn: None,
            }),
            config,
            sdk: sdk.clone(),
            clock,
            timeout,
            task,
        }
    }

    fn facts(&self) -> Facts {
        self.facts.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut Facts)) {
        f(&mut self.facts.write().unwrap_or_else(|e| e.into_inner()))
    }

    /// STS AssumeRole with the task credentials; a duration STS refuses is clamped to 1 hour once.
    async fn assume(&self) -> Result<Fetched, Failure> {
        let cfg = &self.config;
        let client =
            aws_sdk_sts::Client::new(&with_task_credentials(&self.sdk, &self.task, &self.clock)?);
        loop {
            let duration = self.facts().duration;
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
                    if code == "ValidationError"
                        && message.contains("DurationSeconds")
                        && duration > ROLE_CHAINING_CAP
                    {
                        let reason = duration_cap_reason(&message, duration);
                        warn!(
                            signing_source = NAME,
                            requested_duration = %humantime::format_duration(duration),
                            clamped_to = %humantime::format_duration(ROLE_CHAINING_CAP),
                            reason = reason.as_str(),
                            sts_message = message.as_str(),
                            "assume-role duration clamped"
                        );
                        self.update(|f| {
                            f.duration = ROLE_CHAINING_CAP;
                            f.duration_cap = Some(reason);
                        });
                        continue;
                    }
                    return Err(sdk_failure("sts AssumeRole", &e).into());
                }
                Ok(Ok(output)) => output,
            };
            let Some(c) = output.credentials else {
                return Err("sts AssumeRole answered without Credentials"
                    .to_string()
                    .into());
            };
            let expiry = SystemTime::try_from(c.expiration)
                .map_err(|e| format!("sts AssumeRole answered an unusable Expiration: {e}"))?;
            if let Some(arn) = output.assumed_role_user.map(|u| u.arn) {
                self.update(|f| f.session_arn = Some(arn));
            }
            return Ok(Fetched {
                credentials: Credentials::new(
                    c.access_key_id,
                    c.secret_access_key,
                    Some(c.session_token),
                    Some(expiry),
                    "AssumeRole",
                ),
                warning: None,
            });
        }
    }
}

impl Source for AssumeRoleSource {
    fn name(&self) -> &'static str {
        NAME
    }

    fn fetch<'a>(&'a self, _attempt: Attempt<'a>) -> BoxFuture<'a, Result<Fetched, Failure>> {
        Box::pin(self.assume())
    }

    fn due(&self, state: &State, now: SystemTime) -> bool {
        half_gone(state, now)
    }

    fn spacing(&self) -> Duration {
        ON_DEMAND_SPACING
    }

    fn fresh(&self) -> Fresh {
        Fresh::Lasts(self.facts().duration.saturating_sub(FRESH_SESSION_SLACK))
    }

    fn log_success(&self, s: &Success<'_>) {
        log_refreshed(NAME, s, self.facts().session_arn.as_deref(), None);
    }

    fn log_failure(&self, f: &Failed<'_>) {
        log_refresh_failed(NAME, f);
    }

    fn limit(&self, current: Option<&Snapshot>, fresh: Option<u64>, cap: u64) -> Limit {
        let facts = self.facts();
        let expires = expiry_text(current);
        let fresh = fresh.unwrap_or(0);
        let mut reason = if fresh == cap {
            format!(
                "the assumed-role session expires at {expires} and --presign-max-expires-in caps every URL at {fresh}s"
            )
        } else {
            format!(
                "the assumed-role session expires at {expires} and a fresh {} session would allow about {fresh}s",
                humantime::format_duration(facts.duration)
            )
        };
        if let Some(cap) = &facts.duration_cap {
            reason.push_str(&format!(" ({cap})"));
        }
        Limit {
            reason,
            advice: "ask for less",
        }
    }

    fn details(&self) -> Details {
        let facts = self.facts();
        Details {
            assumed_role_arn: facts.session_arn,
            session_duration_seconds: Some(facts.duration.as_secs()),
            duration_cap: facts.duration_cap,
            secret: None,
        }
    }
}

/// Whether an STS session is due for renewal: less than half of it is left, or the last attempt
/// failed (or there is none yet).
pub(super) fn half_gone(state: &State, now: SystemTime) -> bool {
    let (Some(current), Some(obtained)) = (&state.current, state.obtained_at) else {
        return true;
    };
    if state.last_error.is_some() {
        return true;
    }
    let Some(expiry) = current.expiry() else {
        return true;
    };
    let lifetime = clock::seconds_until(expiry, obtained);
    clock::seconds_until(expiry, now) < lifetime / 2.0
}

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
