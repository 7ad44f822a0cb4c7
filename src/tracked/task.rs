//! The task credentials: the container endpoint, read through aws-config's default chain, as a
//! [`Source`] of [`Tracked`] credentials, with whose they are (STS) for their line and their
//! `/v1/credentials` view ([`CredentialsView`]), and their readiness ([`Readiness`]).
//!
//! A failed check is a log line and a counter, never an exit: the last good credentials stay
//! usable until they expire, and the endpoint hands out the same ones until ECS rotates them.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use tracing::{error, info, warn};

use super::{
    Attempt, BoxFuture, Counters, Failed, Failure, Fetched, Fresh, Limit, Source, Success, Tracked,
};
use crate::clock::{self, Clock};
use crate::credentials::identity::{Identity, IdentityLookup};
use crate::credentials::{self, CheckError, Snapshot, whole_seconds};
use crate::text::OrNull;

pub use super::readiness::{NotReady, Readiness};
pub use super::view::CredentialsView;

/// The value of `--signing-source` that signs with these credentials.
pub const NAME: &str = "task";

/// The target of the check line (`credentials checked`): what `--log-format emf` makes a
/// `CredentialsRemainingSeconds` record of, whatever the line's text says.
pub const CHECK_TARGET: &str = "sessionguard::check";
/// Least time between two checks made for presign requests (or one and the periodic check): at
/// most one endpoint call and one log line per few seconds however many requests fall short. The
/// ECS agent allows a task about 40 requests a second to this endpoint.
pub const RECHECK_SPACING: Duration = Duration::from_secs(5);
/// The least time left for the STS identity call after a slow credentials call.
const MIN_IDENTITY_BUDGET: Duration = Duration::from_secs(1);

/// Checks the container endpoint: aws-config's default chain, no cache.
pub struct TaskSource {
    pub provider: SharedCredentialsProvider,
    /// `None` with `--no-identity`.
    pub identity: Option<IdentityLookup>,
    pub check_timeout: Duration,
    pub warn_below: Duration,
    /// The caller identity of the current session, once STS has told us.
    known: RwLock<Option<Identity>>,
}

impl TaskSource {
    pub fn new(
        provider: SharedCredentialsProvider,
        identity: Option<IdentityLookup>,
        check_timeout: Duration,
        warn_below: Duration,
    ) -> Self {
        TaskSource {
            provider,
            identity,
            check_timeout,
            warn_below,
            known: RwLock::default(),
        }
    }

    fn known(&self) -> Option<Identity> {
        self.known.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn check(&self, attempt: Attempt<'_>) -> Result<Fetched, Failure> {
        let started = tokio::time::Instant::now();
        let failed = |err: CheckError| Failure {
            message: err.describe(),
            diagnosis: err.diagnosis().cloned(),
        };
        let snapshot = credentials::check(&self.provider, self.check_timeout)
            .await
            .map_err(failed)?;
        // An answer that has already expired never replaces credentials that are still good.
        let now = attempt.now;
        if snapshot.remaining_seconds(now).is_some_and(|r| r <= 0.0)
            && attempt
                .previous
                .is_some_and(|p| p.remaining_seconds(now).is_some_and(|r| r > 0.0))
        {
            let at = snapshot.expiry().map(clock::rfc3339).unwrap_or_default();
            return Err(failed(CheckError::AlreadyExpired(at)));
        }
        let same_session = attempt.previous.is_some_and(|p| p.same_session(&snapshot));
        let (identity, warning) = match (&self.identity, self.known().filter(|_| same_session)) {
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
        *self.known.write().unwrap_or_else(|e| e.into_inner()) = identity;
        Ok(Fetched {
            credentials: snapshot.credentials,
            warning,
        })
    }
}

impl Source for TaskSource {
    fn name(&self) -> &'static str {
        NAME
    }

    fn fetch<'a>(&'a self, attempt: Attempt<'a>) -> BoxFuture<'a, Result<Fetched, Failure>> {
        Box::pin(self.check(attempt))
    }

    fn spacing(&self) -> Duration {
        RECHECK_SPACING
    }

    fn fresh(&self) -> Fresh {
        Fresh::Unknown
    }

    fn log_success(&self, s: &Success<'_>) {
        let snapshot = s.snapshot;
        let identity = self.known();
        let identity = identity.as_ref();
        let remaining_seconds = s.remaining.map(whole_seconds);
        let expires_at = OrNull(snapshot.expiry().map(clock::rfc3339));
        let rotated = s.rotated();
        let identity_error = s.warning;
        let role_warning = crate::credentials::diagnose::node_role_warning(&snapshot.source);
        let at_warn = identity_error.is_some()
            || role_warning.is_some()
            || s.remaining
                .is_some_and(|r| r < self.warn_below.as_secs_f64());
        let message = if s.remaining.is_some() {
            "credentials checked"
        } else {
            "credentials checked; static credentials do not expire"
        };
        macro_rules! check_line {
            ($level:ident) => {
                $level!(
                    target: CHECK_TARGET,
                    remaining_seconds,
                    remaining = remaining_seconds.map(clock::human_remaining),
                    expires_at = ?expires_at,
                    source = snapshot.source.as_str(),
                    access_key_id = snapshot.masked_access_key_id(),
                    role_arn = identity.map(|i| i.arn.as_str()),
                    account = identity.map(|i| i.account.as_str()),
                    rotated,
                    identity_error,
                    role_warning,
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

    fn log_failure(&self, f: &Failed<'_>) {
        use crate::credentials::diagnose::Diagnosis;
        let (status, code, endpoint_message) = match &f.failure.diagnosis {
            Some(Diagnosis::EndpointError {
                status,
                code,
                message,
                ..
            }) => (Some(*status), Some(code.as_str()), Some(message.as_str())),
            Some(Diagnosis::BadAnswer { status, .. }) => (Some(*status), None, None),
            Some(
                Diagnosis::BadToken { .. } | Diagnosis::AgentUnreachable { .. } | Diagnosis::NoRole,
            )
            | None => (None, None, None),
        };
        error!(
            error = f.failure.message.as_str(),
            endpoint_status = status,
            ecs_error_code = code,
            ecs_error_message = endpoint_message,
            last_good_remaining_seconds = f
                .kept
                .and_then(|c| c.remaining_seconds(f.now))
                .map(whole_seconds),
            "credentials check failed"
        );
    }

    fn limit(&self, current: Option<&Snapshot>, _fresh: Option<u64>, _cap: u64) -> Limit {
        Limit::expiry(
            current,
            "ask for less, retry after the task credentials rotate, or sign with longer-lived credentials (--signing-source)",
        )
    }
}

/// The task credentials: the tracked handle and the source that knows their identity.
#[derive(Clone)]
pub struct TaskCredentials {
    pub tracked: Tracked,
    source: Arc<TaskSource>,
}

impl TaskCredentials {
    pub fn new(source: TaskSource, clock: Clock) -> Self {
        let source = Arc::new(source);
        let counters = Counters::new(
            "sessionguard_credentials_checks_total",
            "Credential checks, by result (success or failure).",
            Some((
                "sessionguard_credentials_rotations_total",
                "Checks that found a new session (another access key or session token) since the check before.",
            )),
        );
        TaskCredentials {
            tracked: Tracked::new(source.clone(), clock, counters),
            source,
        }
    }

    /// The caller identity of the current session, once STS has told us.
    pub fn identity(&self) -> Option<Identity> {
        self.source.known()
    }

    /// Ready when the last good credentials have at least `min` left (static keys always are).
    pub fn readiness(&self, min: Duration) -> Readiness {
        let (current, last_error) = self
            .tracked
            .peek(|s| (s.current.clone(), s.last_error.clone()));
        Readiness::of(current.as_deref(), last_error, self.tracked.now(), min)
    }

    /// The task part of `/v1/credentials`, with the remaining time computed now.
    pub fn view(&self) -> CredentialsView {
        CredentialsView {
            view: self.tracked.view(),
            identity: self.identity(),
        }
    }
}

#[cfg(test)]
impl TaskCredentials {
    /// Task credentials read from `provider`, without an identity lookup: for unit tests here and
    /// elsewhere.
    pub fn serving(
        provider: impl aws_credential_types::provider::ProvideCredentials + 'static,
        clock: Clock,
    ) -> Self {
        TaskCredentials::new(
            TaskSource::new(
                SharedCredentialsProvider::new(provider),
                None,
                Duration::from_secs(1),
                Duration::from_secs(900),
            ),
            clock,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::ecs_session;
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::{ProvideCredentials, future};
    use aws_smithy_async::test_util::ManualTimeSource;
    use std::sync::Mutex;
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

    /// The start of every test's manual clock.
    fn start() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_867_200)
    }

    /// Task credentials on a manual clock at [`start`], served by a script with no session yet.
    fn scripted() -> (Scripted, TaskCredentials, ManualTimeSource) {
        let manual = ManualTimeSource::new(start());
        let provider = Scripted::default();
        let task = TaskCredentials::serving(provider.clone(), Clock::new(manual.clone()));
        (provider, task, manual)
    }

    /// A 15-minute session runs out in milliseconds on a manual clock: checked, expired (not
    /// ready, negative remaining time), then a rotation is detected and counted once.
    #[tokio::test]
    async fn fifteen_minute_session_expires_and_rotates() {
        let (provider, task, manual) = scripted();
        let start = start();
        let counters = task.tracked.counters().clone();
        let successes = || counters.attempts.with_label_values(&["success"]).get();

        task.tracked.attempt(None).await;
        assert_eq!(
            task.readiness(Duration::ZERO).reason,
            Some(NotReady::NeverResolved)
        );

        *provider.0.lock().unwrap() = Some(ecs_session(
            "ASIAFIRST0000000",
            start + Duration::from_secs(900),
        ));
        task.tracked.attempt(None).await;
        assert!(task.readiness(Duration::ZERO).ready);

        manual.advance(Duration::from_secs(901));
        task.tracked.attempt(None).await;
        let readiness = task.readiness(Duration::ZERO);
        assert_eq!(readiness.reason, Some(NotReady::Expired));
        assert_eq!(readiness.remaining_seconds, Some(-1));

        let now = aws_smithy_async::time::TimeSource::now(&manual);
        *provider.0.lock().unwrap() = Some(ecs_session(
            "ASIASECOND000000",
            now + Duration::from_secs(900),
        ));
        task.tracked.attempt(None).await;
        task.tracked.attempt(None).await;
        assert_eq!(counters.rotations.as_ref().unwrap().get(), 1);
        assert_eq!(successes(), 4);
        assert_eq!(counters.attempts.with_label_values(&["failure"]).get(), 1);
        assert_eq!(task.view().view.remaining_seconds, Some(900));
    }

    /// A failure after a success keeps the last good credentials and records the error.
    #[tokio::test]
    async fn failure_keeps_last_good_credentials() {
        let clock = crate::clock::system();
        let provider = Scripted::default();
        let task = TaskCredentials::serving(provider.clone(), clock.clone());
        *provider.0.lock().unwrap() = Some(ecs_session(
            "ASIAFIRST0000000",
            clock.now() + Duration::from_secs(3600),
        ));
        task.tracked.attempt(None).await;
        *provider.0.lock().unwrap() = None;
        task.tracked.attempt(None).await;
        let view = task.view().view;
        assert_eq!(view.access_key_id.as_deref(), Some("ASIA...0000"));
        assert!(view.last_error.unwrap().contains("endpoint down"));
        assert!(task.readiness(Duration::ZERO).ready);
    }

    /// Readiness follows the clock: ready, then below the minimum, then expired.
    #[tokio::test]
    async fn readiness_follows_the_clock() {
        let (provider, task, manual) = scripted();
        let start = start();
        let min = Duration::from_secs(300);
        *provider.0.lock().unwrap() = Some(ecs_session(
            "ASIAEXAMPLE1234WXYZ",
            start + Duration::from_secs(900),
        ));
        task.tracked.attempt(None).await;
        let r = task.readiness(min);
        assert!(r.ready, "{r:?}");
        assert_eq!(r.remaining_seconds, Some(900));

        manual.advance(Duration::from_secs(700));
        let r = task.readiness(min);
        assert_eq!(r.reason, Some(NotReady::BelowMinimum), "{r:?}");
        assert_eq!(r.remaining_seconds, Some(200));

        manual.advance(Duration::from_secs(203));
        let r = task.readiness(min);
        assert_eq!(r.reason, Some(NotReady::Expired), "{r:?}");
        assert_eq!(r.message, "credentials expired 3s ago");
        assert_eq!(task.view().view.remaining_seconds, Some(-3));
    }
}
