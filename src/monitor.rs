//! The check loop: once at start, then every interval, resolve the credentials and write one line.
//!
//! A failed check is a log line and a counter, never an exit: the loop keeps the last good
//! credentials (still valid until they expire) and tries again at the next tick.

use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::clock;
use crate::credentials::{self, CheckError, Snapshot, whole_seconds};
use crate::diagnose::Diagnosis;
use crate::identity::IdentityLookup;
use crate::logging::OrNull;
use crate::metrics::Metrics;
use crate::state::Session;

/// The least time left for the STS identity call after a slow credentials call.
const MIN_IDENTITY_BUDGET: Duration = Duration::from_secs(1);

/// Everything one check needs.
pub struct Monitor {
    pub provider: SharedCredentialsProvider,
    /// `None` with `--no-identity`.
    pub identity: Option<IdentityLookup>,
    pub session: Session,
    pub metrics: Metrics,
    pub interval: Duration,
    pub check_timeout: Duration,
    pub warn_below: Duration,
}

/// What one check found, for callers that want more than the log line.
#[derive(Debug)]
pub enum Outcome {
    Resolved { rotated: bool },
    Failed,
}

impl Monitor {
    /// Checks at once, then every interval, until `shutdown` is cancelled (also mid-check).
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.interval);
        // A check that overran its slot is not followed by a burst of catch-up checks.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticker.tick() => {}
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.check_once() => {}
            }
        }
    }

    /// One check: resolve, update state and metrics, write exactly one line.
    pub async fn check_once(&self) -> Outcome {
        let started = Instant::now();
        let mut result = credentials::check(&self.provider, self.check_timeout).await;
        let checked_at = self.session.now();
        // An answer that has already expired never replaces credentials that are still good.
        if let Ok(snapshot) = &result
            && snapshot
                .remaining_seconds(checked_at)
                .is_some_and(|r| r <= 0.0)
            && self
                .session
                .read()
                .current
                .is_some_and(|c| c.remaining_seconds(checked_at).is_some_and(|r| r > 0.0))
        {
            let at = snapshot.expiry().map(clock::rfc3339).unwrap_or_default();
            result = Err(CheckError::AlreadyExpired(at));
        }
        match result {
            Ok(snapshot) => {
                let previous = self.session.read();
                let rotated = previous
                    .current
                    .as_ref()
                    .is_some_and(|p| !p.same_session(&snapshot));
                let known_identity = previous.identity.filter(|_| {
                    previous
                        .current
                        .as_ref()
                        .is_some_and(|p| p.same_session(&snapshot))
                });
                let (identity, identity_error) = match (&self.identity, known_identity) {
                    (_, Some(known)) => (Some(known), None),
                    (None, None) => (None, None),
                    (Some(lookup), None) => {
                        let budget = self
                            .check_timeout
                            .saturating_sub(started.elapsed())
                            .max(MIN_IDENTITY_BUDGET);
                        match lookup.lookup(&snapshot.credentials, budget).await {
                            Ok(id) => (Some(id), None),
                            Err(e) => (None, Some(e.to_string())),
                        }
                    }
                };
                self.metrics.check_succeeded();
                if rotated {
                    self.metrics.rotated();
                }
                self.session.update(|s| {
                    s.current = Some(Arc::new(snapshot.clone()));
                    s.identity = identity.clone();
                    s.last_check_at = Some(checked_at);
                    s.last_success_at = Some(checked_at);
                    s.last_error = None;
                });
                self.log_success(&snapshot, identity.as_ref(), identity_error, rotated);
                Outcome::Resolved { rotated }
            }
            Err(err) => {
                self.metrics.check_failed();
                let description = err.describe();
                self.session.update(|s| {
                    s.last_check_at = Some(checked_at);
                    s.last_error = Some(description.clone());
                });
                self.log_failure(&err, &description);
                Outcome::Failed
            }
        }
    }

    fn log_success(
        &self,
        snapshot: &Snapshot,
        identity: Option<&crate::identity::Identity>,
        identity_error: Option<String>,
        rotated: bool,
    ) {
        let remaining = snapshot.remaining_seconds(self.session.now());
        let remaining_seconds = remaining.map(whole_seconds);
        let expires_at = OrNull(snapshot.expiry().map(clock::rfc3339));
        let at_warn = identity_error.is_some()
            || remaining.is_some_and(|r| r < self.warn_below.as_secs_f64());
        let message = if remaining.is_some() {
            "credentials checked"
        } else {
            "credentials checked; static credentials do not expire"
        };
        macro_rules! check_line {
            ($level:ident) => {
                $level!(
                    remaining_seconds,
                    remaining = remaining_seconds.map(clock::human_remaining),
                    expires_at = ?expires_at,
                    source = snapshot.source.as_str(),
                    access_key_id = snapshot.masked_access_key_id(),
                    role_arn = identity.map(|i| i.arn.as_str()),
                    account = identity.map(|i| i.account.as_str()),
                    rotated,
                    identity_error,
                    "{message}"
                )
            };
        }
        if at_warn {
            check_line!(warn)
        } else {
            check_line!(info)
        }
    }

    fn log_failure(&self, err: &CheckError, description: &str) {
        let (status, code, endpoint_message) = match err.diagnosis() {
            Some(Diagnosis::EndpointError {
                status,
                code,
                message,
            }) => (Some(*status), Some(code.as_str()), Some(message.as_str())),
            Some(Diagnosis::BadAnswer { status, .. }) => (Some(*status), None, None),
            Some(Diagnosis::BadToken { .. }) | None => (None, None, None),
        };
        let state = self.session.read();
        let last_good = state.current.as_ref();
        error!(
            error = description,
            endpoint_status = status,
            ecs_error_code = code,
            ecs_error_message = endpoint_message,
            last_good_remaining_seconds = last_good
                .and_then(|c| c.remaining_seconds(self.session.now()))
                .map(whole_seconds),
            "credentials check failed"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::state::NotReady;
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::{ProvideCredentials, future};
    use aws_smithy_async::test_util::ManualTimeSource;
    use std::sync::{Arc, Mutex};
    use std::time::{SystemTime, UNIX_EPOCH};

    /// Serves whatever session the test put in, like an ECS agent between pushes.
    #[derive(Debug, Clone, Default)]
    struct Scripted(Arc<Mutex<Option<Credentials>>>);

    impl ProvideCredentials for Scripted {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let next = self.0.lock().unwrap().clone();
            future::ProvideCredentials::ready(next.ok_or_else(|| {
                aws_credential_types::provider::error::CredentialsError::provider_error(
                    "endpoint down",
                )
            }))
        }
    }

    fn session(key: &str, expiry: SystemTime) -> Credentials {
        Credentials::new(
            key,
            "secret",
            Some(format!("token-{key}")),
            Some(expiry),
            "EcsContainer",
        )
    }

    /// A 15-minute session runs out in milliseconds on a manual clock: checked, expired (not
    /// ready, negative gauge), then a rotation is detected and counted once.
    #[tokio::test]
    async fn fifteen_minute_session_expires_and_rotates() {
        let start = UNIX_EPOCH + Duration::from_secs(1_795_867_200);
        let manual = ManualTimeSource::new(start);
        let session_state = Session::new(Clock::new(manual.clone()));
        let metrics = Metrics::new(session_state.clone(), crate::presign::tests_limits());
        let provider = Scripted::default();
        let monitor = Monitor {
            provider: SharedCredentialsProvider::new(provider.clone()),
            identity: None,
            session: session_state.clone(),
            metrics: metrics.clone(),
            interval: Duration::from_secs(60),
            check_timeout: Duration::from_secs(1),
            warn_below: Duration::from_secs(900),
        };

        assert!(matches!(monitor.check_once().await, Outcome::Failed));
        assert_eq!(
            session_state.readiness(Duration::ZERO).reason,
            Some(NotReady::NeverResolved)
        );

        *provider.0.lock().unwrap() = Some(session(
            "ASIAFIRST0000000",
            start + Duration::from_secs(900),
        ));
        assert!(matches!(
            monitor.check_once().await,
            Outcome::Resolved { rotated: false }
        ));
        assert!(session_state.readiness(Duration::ZERO).ready);

        manual.advance(Duration::from_secs(901));
        assert!(matches!(
            monitor.check_once().await,
            Outcome::Resolved { rotated: false }
        ));
        let readiness = session_state.readiness(Duration::ZERO);
        assert_eq!(readiness.reason, Some(NotReady::Expired));
        assert_eq!(readiness.remaining_seconds, Some(-1));

        let now = session_state.now();
        *provider.0.lock().unwrap() =
            Some(session("ASIASECOND000000", now + Duration::from_secs(900)));
        assert!(matches!(
            monitor.check_once().await,
            Outcome::Resolved { rotated: true }
        ));
        assert!(matches!(
            monitor.check_once().await,
            Outcome::Resolved { rotated: false }
        ));
        let text = metrics.render();
        assert!(
            text.contains("sessionguard_credentials_rotations_total 1"),
            "{text}"
        );
        assert!(
            text.contains("sessionguard_credentials_remaining_seconds 900"),
            "{text}"
        );
        assert!(
            text.contains("sessionguard_credentials_checks_total{result=\"success\"} 4"),
            "{text}"
        );
        assert!(
            text.contains("sessionguard_credentials_checks_total{result=\"failure\"} 1"),
            "{text}"
        );
    }

    /// A failure after a success keeps the last good credentials and records the error.
    #[tokio::test]
    async fn failure_keeps_last_good_credentials() {
        let clock = crate::clock::system();
        let session_state = Session::new(clock.clone());
        let provider = Scripted::default();
        let monitor = Monitor {
            provider: SharedCredentialsProvider::new(provider.clone()),
            identity: None,
            session: session_state.clone(),
            metrics: Metrics::new(session_state.clone(), crate::presign::tests_limits()),
            interval: Duration::from_secs(60),
            check_timeout: Duration::from_secs(1),
            warn_below: Duration::from_secs(900),
        };
        *provider.0.lock().unwrap() = Some(session(
            "ASIAFIRST0000000",
            clock.now() + Duration::from_secs(3600),
        ));
        monitor.check_once().await;
        *provider.0.lock().unwrap() = None;
        monitor.check_once().await;
        let view = session_state.view();
        assert_eq!(view.access_key_id.as_deref(), Some("ASIA...0000"));
        assert!(view.last_error.unwrap().contains("endpoint down"));
        assert!(session_state.readiness(Duration::ZERO).ready);
    }
}
