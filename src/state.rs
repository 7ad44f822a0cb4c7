//! What the daemon knows about the session, shared by the monitor (writer) and HTTP (readers).
//!
//! Only facts are stored (the last good credentials, when checks happened, the last error); every
//! remaining time is computed from the injected clock when it is read, never cached.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::clock::{self, Clock};
use crate::credentials::{Snapshot, whole_seconds};
use crate::identity::Identity;

/// Shared, cheaply cloned handle to the session state.
#[derive(Clone)]
pub struct Session {
    inner: Arc<RwLock<State>>,
    clock: Clock,
    /// Ticks after every update, for tasks that wait for the first credentials.
    changed: Arc<tokio::sync::watch::Sender<()>>,
}

/// The facts the monitor records.
#[derive(Debug, Default, Clone)]
pub struct State {
    /// The last credentials a check resolved, kept after later failures: they stay usable until
    /// they expire, and the endpoint hands out the same ones until ECS rotates them.
    pub current: Option<Arc<Snapshot>>,
    /// The caller identity of `current`, once STS has told us.
    pub identity: Option<Identity>,
    pub last_check_at: Option<SystemTime>,
    pub last_success_at: Option<SystemTime>,
    /// The last check's error, cleared by a success.
    pub last_error: Option<String>,
}

/// Why `/readyz` says no.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotReady {
    NeverResolved,
    Expired,
    BelowMinimum,
}

/// The body of `/readyz`.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    pub ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<NotReady>,
    pub message: String,
    pub remaining_seconds: Option<i64>,
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The body of `/v1/credentials`: never a secret, the access key id masked.
#[derive(Debug, Clone, Serialize)]
pub struct CredentialsView {
    pub source: Option<String>,
    pub access_key_id: Option<String>,
    pub role_arn: Option<String>,
    pub account: Option<String>,
    pub expires_at: Option<String>,
    pub remaining_seconds: Option<i64>,
    pub last_check_at: Option<String>,
    pub last_success_at: Option<String>,
    pub last_error: Option<String>,
}

impl Session {
    pub fn new(clock: Clock) -> Self {
        Session {
            inner: Arc::default(),
            clock,
            changed: Arc::new(tokio::sync::watch::Sender::new(())),
        }
    }

    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// A copy of the current facts.
    pub fn read(&self) -> State {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The last good credentials alone: what the presign hot path needs, without copying the rest.
    pub fn current(&self) -> Option<Arc<Snapshot>> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .current
            .clone()
    }

    /// Changes the facts under the lock.
    pub fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let result = f(&mut self.inner.write().unwrap_or_else(|e| e.into_inner()));
        self.changed.send_replace(());
        result
    }

    /// Notified after every update.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<()> {
        self.changed.subscribe()
    }

    /// Ready when the last good credentials have at least `min` left (static keys always are).
    pub fn readiness(&self, min: Duration) -> Readiness {
        let state = self.read();
        let now = self.now();
        let last_error = state.last_error.clone();
        let Some(current) = &state.current else {
            return Readiness {
                ready: false,
                reason: Some(NotReady::NeverResolved),
                message: "credentials have not been resolved yet".into(),
                remaining_seconds: None,
                expires_at: None,
                last_error,
            };
        };
        let expires_at = current.expiry().map(clock::rfc3339);
        let Some(remaining) = current.remaining_seconds(now) else {
            return Readiness {
                ready: true,
                reason: None,
                message: "static credentials do not expire".into(),
                remaining_seconds: None,
                expires_at,
                last_error,
            };
        };
        let secs = whole_seconds(remaining);
        let (reason, message) = if remaining <= 0.0 {
            (
                Some(NotReady::Expired),
                format!("credentials {}", clock::human_remaining(secs)),
            )
        } else if remaining < min.as_secs_f64() {
            (
                Some(NotReady::BelowMinimum),
                format!(
                    "credentials expire in {}, less than the required {}",
                    clock::human_remaining(secs),
                    humantime::format_duration(min)
                ),
            )
        } else {
            (
                None,
                format!("credentials expire in {}", clock::human_remaining(secs)),
            )
        };
        Readiness {
            ready: reason.is_none(),
            reason,
            message,
            remaining_seconds: Some(secs),
            expires_at,
            last_error,
        }
    }

    /// The `/v1/credentials` view, with the remaining time computed now.
    pub fn view(&self) -> CredentialsView {
        let state = self.read();
        let now = self.now();
        let current = state.current.as_ref();
        CredentialsView {
            source: current.map(|c| c.source.clone()),
            access_key_id: current.map(|c| c.masked_access_key_id()),
            role_arn: state.identity.as_ref().map(|i| i.arn.clone()),
            account: state.identity.as_ref().map(|i| i.account.clone()),
            expires_at: current.and_then(|c| c.expiry()).map(clock::rfc3339),
            remaining_seconds: current
                .and_then(|c| c.remaining_seconds(now))
                .map(whole_seconds),
            last_check_at: state.last_check_at.map(clock::rfc3339),
            last_success_at: state.last_success_at.map(clock::rfc3339),
            last_error: state.last_error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use aws_smithy_async::test_util::ManualTimeSource;
    use std::time::UNIX_EPOCH;

    /// A 15-minute session runs out in a unit test: ready, then below the minimum, then expired.
    #[test]
    fn readiness_follows_the_clock() {
        let start = UNIX_EPOCH + Duration::from_secs(1_795_867_200);
        let manual = ManualTimeSource::new(start);
        let session = Session::new(Clock::new(manual.clone()));
        let min = Duration::from_secs(300);

        let r = session.readiness(min);
        assert_eq!(r.reason, Some(NotReady::NeverResolved));

        let creds = Credentials::new(
            "ASIAEXAMPLE1234WXYZ",
            "s",
            Some("t".into()),
            Some(start + Duration::from_secs(900)),
            "EcsContainer",
        );
        session.update(|s| s.current = Some(Arc::new(Snapshot::new(creds))));
        let r = session.readiness(min);
        assert!(r.ready, "{r:?}");
        assert_eq!(r.remaining_seconds, Some(900));

        manual.advance(Duration::from_secs(700));
        let r = session.readiness(min);
        assert_eq!(r.reason, Some(NotReady::BelowMinimum), "{r:?}");
        assert_eq!(r.remaining_seconds, Some(200));

        manual.advance(Duration::from_secs(203));
        let r = session.readiness(min);
        assert_eq!(r.reason, Some(NotReady::Expired), "{r:?}");
        assert_eq!(r.message, "credentials expired 3s ago");
        assert_eq!(session.view().remaining_seconds, Some(-3));
    }
}
