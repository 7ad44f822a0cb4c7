//! What the two STS session sources (`assume-role`, `web-identity`) share: the duration asked for
//! and its clamp after STS refuses it, the session's ARN, the 409 reason and `/v1/credentials`
//! details, and turning STS's answer into credentials. Each source keeps only its own call.

use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;

use super::{Details, Failure, Fetched, Limit, State, expiry_text};
use crate::clock;
use crate::credentials::Snapshot;

/// Kept off what a fresh session is expected to allow: STS's `Expiration` carries its own clock and
/// the call's latency, and signing starts at a whole second.
pub const FRESH_SESSION_SLACK: Duration = Duration::from_secs(5);
/// Least time between two STS calls made for presign requests: clients asking for the longest URL
/// a fresh session allows would otherwise cost one STS call each.
pub const ON_DEMAND_SPACING: Duration = Duration::from_secs(10);

/// What STS told us besides the credentials.
#[derive(Debug, Clone)]
struct Facts {
    /// The duration asked for now (clamped after a refusal) and why it was clamped.
    duration: Duration,
    duration_cap: Option<String>,
    /// The ARN of the assumed session.
    session_arn: Option<String>,
}

/// The facts of one source's sessions, shared by its calls and its views.
pub(super) struct SessionFacts(RwLock<Facts>);

impl SessionFacts {
    pub(super) fn new(duration: Duration) -> Self {
        SessionFacts(RwLock::new(Facts {
            duration,
            duration_cap: None,
            session_arn: None,
        }))
    }

    fn get(&self) -> Facts {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut Facts)) {
        f(&mut self.0.write().unwrap_or_else(|e| e.into_inner()))
    }

    /// The duration to ask STS for now.
    pub(super) fn duration(&self) -> Duration {
        self.get().duration
    }

    pub(super) fn session_arn(&self) -> Option<String> {
        self.get().session_arn
    }

    /// After STS refused `asked`: one WARN line of `source` saying why and what to change, and
    /// `to` asked from now on.
    pub(super) fn clamp_refused(
        &self,
        source: &'static str,
        asked: Duration,
        to: Duration,
        reason: String,
        sts_message: &str,
    ) {
        tracing::warn!(
            signing_source = source,
            requested_duration = %humantime::format_duration(asked),
            clamped_to = %humantime::format_duration(to),
            reason = reason.as_str(),
            sts_message,
            "{source} duration clamped"
        );
        self.clamp(to, reason);
    }

    /// After STS refused the duration: ask for `to` from now on, for `reason`.
    pub(super) fn clamp(&self, to: Duration, reason: String) {
        self.update(|f| {
            f.duration = to;
            f.duration_cap = Some(reason);
        });
    }

    /// About what a fresh session lasts.
    pub(super) fn fresh(&self) -> Duration {
        self.duration().saturating_sub(FRESH_SESSION_SLACK)
    }

    /// Why no longer URL can be signed: `what` session expires at ..., and what a fresh one allows.
    pub(super) fn limit(
        &self,
        what: &str,
        current: Option<&Snapshot>,
        fresh: Option<u64>,
        cap: u64,
    ) -> Limit {
        let facts = self.get();
        let expires = expiry_text(current);
        let fresh = fresh.unwrap_or(0);
        let mut reason = if fresh == cap {
            format!(
                "the {what} session expires at {expires} and --presign-max-expires-in caps every URL at {fresh}s"
            )
        } else {
            format!(
                "the {what} session expires at {expires} and a fresh {} session would allow about {fresh}s",
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

    /// The `signing` details of `/v1/credentials`.
    pub(super) fn details(&self) -> Details {
        let facts = self.get();
        Details {
            assumed_role_arn: facts.session_arn,
            session_duration_seconds: Some(facts.duration.as_secs()),
            duration_cap: facts.duration_cap,
            secret: None,
        }
    }

    /// STS's answer to `call` as credentials (their provider named after the call), remembering
    /// the session's ARN.
    pub(super) fn fetched(
        &self,
        call: &'static str,
        credentials: Option<aws_sdk_sts::types::Credentials>,
        session_arn: Option<String>,
    ) -> Result<Fetched, Failure> {
        let Some(c) = credentials else {
            return Err(format!("sts {call} answered without Credentials").into());
        };
        let expiry = SystemTime::try_from(c.expiration)
            .map_err(|e| format!("sts {call} answered an unusable Expiration: {e}"))?;
        if let Some(arn) = session_arn {
            self.update(|f| f.session_arn = Some(arn));
        }
        Ok(Fetched {
            credentials: Credentials::new(
                c.access_key_id,
                c.secret_access_key,
                Some(c.session_token),
                Some(expiry),
                call,
            ),
            warning: None,
        })
    }
}

/// The [`Source`](super::Source) of an STS session source (`$source` with a `facts:
/// SessionFacts` field and an `assume()` call): everything but the call is shared. `$subject`
/// names the session in a 409's reason.
macro_rules! sts_session_source {
    ($source:ty, $name:expr, $subject:literal) => {
        impl crate::tracked::Source for $source {
            fn name(&self) -> &'static str {
                $name
            }

            fn fetch<'a>(
                &'a self,
                _attempt: crate::tracked::Attempt<'a>,
            ) -> crate::tracked::BoxFuture<
                'a,
                Result<crate::tracked::Fetched, crate::tracked::Failure>,
            > {
                Box::pin(self.assume())
            }

            fn due(&self, state: &crate::tracked::State, now: std::time::SystemTime) -> bool {
                crate::tracked::sts_session::half_gone(state, now)
            }

            fn spacing(&self) -> std::time::Duration {
                crate::tracked::sts_session::ON_DEMAND_SPACING
            }

            fn fresh(&self) -> crate::tracked::Fresh {
                crate::tracked::Fresh::Lasts(self.facts.fresh())
            }

            fn log_success(&self, s: &crate::tracked::Success<'_>) {
                crate::tracked::signing::log_refreshed(
                    $name,
                    s,
                    self.facts.session_arn().as_deref(),
                    None,
                );
            }

            fn log_failure(&self, f: &crate::tracked::Failed<'_>) {
                crate::tracked::signing::log_refresh_failed($name, f);
            }

            fn limit(
                &self,
                current: Option<&crate::credentials::Snapshot>,
                fresh: Option<u64>,
                cap: u64,
            ) -> crate::tracked::Limit {
                self.facts.limit($subject, current, fresh, cap)
            }

            fn details(&self) -> crate::tracked::Details {
                self.facts.details()
            }
        }
    };
}
pub(super) use sts_session_source;

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

/// Whether STS refused `asked` as a duration it does not grant (`ValidationError` naming
/// `DurationSeconds`) that a clamp to `clamp_to` could fix.
pub(super) fn duration_refused(
    code: &str,
    message: &str,
    asked: Duration,
    clamp_to: Duration,
) -> bool {
    code == "ValidationError" && message.contains("DurationSeconds") && asked > clamp_to
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only a DurationSeconds refusal above the clamp is clamped; anything else is an error.
    #[test]
    fn refusals_that_a_clamp_fixes() {
        let hour = Duration::from_secs(3600);
        let message =
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.";
        for (code, message, asked, want) in [
            ("ValidationError", message, hour * 12, true),
            ("ValidationError", message, hour, false),
            (
                "ValidationError",
                "1 validation error: roleArn",
                hour * 12,
                false,
            ),
            ("AccessDenied", message, hour * 12, false),
        ] {
            assert_eq!(
                duration_refused(code, message, asked, hour),
                want,
                "{code} {message}"
            );
        }
    }

    /// A clamp shows in the 409 reason and the details, with the duration asked from then on.
    #[test]
    fn a_clamp_is_explained() {
        let facts = SessionFacts::new(Duration::from_secs(43_200));
        assert_eq!(facts.fresh(), Duration::from_secs(43_195));
        facts.clamp(Duration::from_secs(3600), "raise MaxSessionDuration".into());
        let limit = facts.limit("web identity", None, Some(3535), 43_200);
        assert_eq!(
            limit.reason,
            "the web identity session expires at ? and a fresh 1h session would allow about 3535s (raise MaxSessionDuration)"
        );
        let details = facts.details();
        assert_eq!(details.session_duration_seconds, Some(3600));
        assert_eq!(
            details.duration_cap.as_deref(),
            Some("raise MaxSessionDuration")
        );
    }
}
