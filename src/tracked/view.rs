//! What `/v1/credentials` shows of tracked credentials: one [`View`] of any [`Tracked`] instance,
//! the task's [`CredentialsView`] (the same view and whose credentials they are), and the one
//! place that writes both as the documented JSON.

use serde::{Serialize, Serializer};

use super::{SecretFacts, Tracked};
use crate::clock;
use crate::credentials::identity::Identity;
use crate::credentials::whole_seconds;

/// Facts a source adds to the `signing` object of `/v1/credentials`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Details {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assumed_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_duration_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_cap: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretFacts>,
}

/// What one tracked instance knows now, for people: never a secret, the access key id masked, the
/// remaining time computed when the view is taken. Serialised as the `signing` object of
/// `/v1/credentials`.
#[derive(Debug, Clone)]
pub struct View {
    /// The tracked source: `task`, `assume-role` or `secrets-manager`.
    pub source: &'static str,
    /// The provider that answered with the current credentials (`EcsContainer`, `AssumeRole`).
    pub provider: Option<String>,
    pub access_key_id: Option<String>,
    /// When the credentials may stop working (session expiry, or key deactivation).
    pub expires_at: Option<String>,
    pub remaining_seconds: Option<i64>,
    /// When the last attempt (a check, a refresh) started.
    pub last_attempt_at: Option<String>,
    pub last_success_at: Option<String>,
    pub last_error: Option<String>,
    pub details: Details,
}

/// The task credentials as `/v1/credentials` shows them: their view and, once STS has told us,
/// whose they are. Serialised as the top-level (task) object.
#[derive(Debug, Clone)]
pub struct CredentialsView {
    pub view: View,
    /// The caller identity of the current session; `None` before STS answered, or with
    /// `--no-identity`.
    pub identity: Option<Identity>,
}

impl Tracked {
    /// The view of these credentials, with the remaining time computed now.
    pub fn view(&self) -> View {
        let state = self.peek(super::State::clone);
        let now = self.now();
        let current = state.current.as_ref();
        View {
            source: self.name(),
            provider: current.map(|c| c.source.clone()),
            access_key_id: current.map(|c| c.masked_access_key_id()),
            expires_at: current.and_then(|c| c.expiry()).map(clock::rfc3339),
            remaining_seconds: current
                .and_then(|c| c.remaining_seconds(now))
                .map(whole_seconds),
            last_attempt_at: state.last_attempt_at.map(clock::rfc3339),
            last_success_at: state.last_success_at.map(clock::rfc3339),
            last_error: state.last_error,
            details: self.inner.source.details(),
        }
    }
}

/// One object of `/v1/credentials` as openapi.yaml and the README document it, keys in this order.
/// These are the documented wire names: the task object calls the last attempt's time
/// `last_check_at` and the `signing` object `last_refresh_at` (both [`View::last_attempt_at`]);
/// only the task object has `role_arn` and `account` (null until known), and only `signing` the
/// source's [`Details`]. A field left `None` here is absent from that object.
#[derive(Serialize)]
struct Documented<'a> {
    source: Option<&'a str>,
    access_key_id: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_arn: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<Option<&'a str>>,
    expires_at: &'a Option<String>,
    remaining_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_check_at: Option<&'a Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_refresh_at: Option<&'a Option<String>>,
    last_success_at: &'a Option<String>,
    last_error: &'a Option<String>,
    #[serde(flatten)]
    details: Option<&'a Details>,
}

impl<'a> Documented<'a> {
    /// The fields both objects share, from `view`.
    fn of(view: &'a View, source: Option<&'a str>) -> Self {
        Documented {
            source,
            access_key_id: &view.access_key_id,
            role_arn: None,
            account: None,
            expires_at: &view.expires_at,
            remaining_seconds: view.remaining_seconds,
            last_check_at: None,
            last_refresh_at: None,
            last_success_at: &view.last_success_at,
            last_error: &view.last_error,
            details: None,
        }
    }
}

impl Serialize for View {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Documented {
            last_refresh_at: Some(&self.last_attempt_at),
            details: Some(&self.details),
            ..Documented::of(self, Some(self.source))
        }
        .serialize(serializer)
    }
}

impl Serialize for CredentialsView {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let identity = self.identity.as_ref();
        Documented {
            role_arn: Some(identity.map(|i| i.arn.as_str())),
            account: Some(identity.map(|i| i.account.as_str())),
            last_check_at: Some(&self.view.last_attempt_at),
            ..Documented::of(&self.view, self.view.provider.as_deref())
        }
        .serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> View {
        View {
            source: "assume-role",
            provider: Some("AssumeRole".into()),
            access_key_id: Some("ASIA...WXYZ".into()),
            expires_at: Some("2026-11-28T13:00:00Z".into()),
            remaining_seconds: Some(3600),
            last_attempt_at: Some("2026-11-28T12:00:00Z".into()),
            last_success_at: Some("2026-11-28T12:00:00Z".into()),
            last_error: None,
            details: Details {
                session_duration_seconds: Some(3600),
                ..Details::default()
            },
        }
    }

    /// The two objects keep their documented keys, in their documented order.
    #[test]
    fn documented_keys_in_order() {
        let keys = |v: serde_json::Value| -> Vec<String> {
            v.as_object().unwrap().keys().cloned().collect()
        };
        let signing = serde_json::to_value(view()).unwrap();
        assert_eq!(
            keys(signing.clone()),
            [
                "source",
                "access_key_id",
                "expires_at",
                "remaining_seconds",
                "last_refresh_at",
                "last_success_at",
                "last_error",
                "session_duration_seconds",
            ]
        );
        assert_eq!(signing["source"], "assume-role");
        let task = serde_json::to_value(CredentialsView {
            view: view(),
            identity: None,
        })
        .unwrap();
        assert_eq!(
            keys(task.clone()),
            [
                "source",
                "access_key_id",
                "role_arn",
                "account",
                "expires_at",
                "remaining_seconds",
                "last_check_at",
                "last_success_at",
                "last_error",
            ]
        );
        assert_eq!(task["source"], "AssumeRole");
        assert_eq!(task["last_check_at"], "2026-11-28T12:00:00Z");
    }
}
