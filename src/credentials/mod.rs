//! Credentials as resolved: one [`Snapshot`], how a check obtains it ([`check`]), why a failed
//! check failed ([`diagnose`]) and whose they are ([`identity`]).

pub mod check;
pub mod diagnose;
pub mod identity;

pub use check::{CheckError, check};

use std::time::SystemTime;

use aws_credential_types::Credentials;

use crate::clock;

/// What the daemon knows about one set of resolved credentials.
///
/// Holds the `Credentials` themselves (their `Debug` redacts the secret) so that later work can sign
/// with exactly the credentials whose expiry was checked.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub credentials: Credentials,
    /// Which provider of the chain answered (`EcsContainer`, `EnvironmentVariable`, ...).
    pub source: String,
}

impl Snapshot {
    pub fn new(credentials: Credentials) -> Self {
        let source = provider_name(&credentials);
        Snapshot {
            credentials,
            source,
        }
    }

    /// `None` for static keys, which never expire.
    pub fn expiry(&self) -> Option<SystemTime> {
        self.credentials.expiry()
    }

    /// Access key id with all but the first and last four characters hidden.
    pub fn masked_access_key_id(&self) -> String {
        mask(self.credentials.access_key_id())
    }

    /// Signed seconds left at `now`; `None` when the credentials do not expire.
    pub fn remaining_seconds(&self, now: SystemTime) -> Option<f64> {
        self.expiry().map(|e| clock::seconds_until(e, now))
    }

    /// Whether `other` is the same session. ECS issues a new access key with each session; the
    /// session token is compared too, so a new session under the same key still counts.
    pub fn same_session(&self, other: &Snapshot) -> bool {
        self.credentials.access_key_id() == other.credentials.access_key_id()
            && self.credentials.session_token() == other.credentials.session_token()
    }
}

/// `ASIA...WXYZ`: enough to tell sessions apart in a log, not enough to use.
pub fn mask(access_key_id: &str) -> String {
    let chars: Vec<char> = access_key_id.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}...{tail}")
}

/// The name the answering provider stamped on the credentials.
///
/// aws-credential-types has no getter for it, but its redacting `Debug` prints it first; a unit test
/// pins that form so an upgrade that changes it fails loudly instead of logging `unknown`.
fn provider_name(credentials: &Credentials) -> String {
    let debug = format!("{credentials:?}");
    debug
        .split_once("provider_name: \"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(name, _)| name.to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Remaining seconds as the integer a log line carries: floored, so it never overstates.
pub fn whole_seconds(remaining: f64) -> i64 {
    remaining.floor() as i64
}

/// A session as the container endpoint hands one out (`EcsContainer`), for unit tests here and
/// elsewhere; the secret and token are made up.
#[cfg(test)]
pub fn ecs_session(access_key_id: &str, expiry: SystemTime) -> Credentials {
    Credentials::new(
        access_key_id,
        "secret",
        Some(format!("token-{access_key_id}")),
        Some(expiry),
        "EcsContainer",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn creds(provider: &'static str, expiry: Option<SystemTime>) -> Credentials {
        Credentials::new(
            "ASIAEXAMPLE1234WXYZ",
            "canary-secret-key",
            Some("canary-session-token".into()),
            expiry,
            provider,
        )
    }

    /// The source label comes from the provider that answered, and the secret never shows.
    #[test]
    fn source_is_the_provider_name() {
        let snap = Snapshot::new(creds("EcsContainer", None));
        assert_eq!(snap.source, "EcsContainer");
        let debug = format!("{snap:?}");
        assert!(!debug.contains("canary-secret-key"), "{debug}");
        assert!(!debug.contains("canary-session-token"), "{debug}");
    }

    /// Masking keeps four characters at each end and hides short keys whole.
    #[test]
    fn masking() {
        assert_eq!(mask("ASIAEXAMPLE1234WXYZ"), "ASIA...WXYZ");
        assert_eq!(mask("SHORT"), "*****");
    }

    /// Remaining time is signed and the integer form floors, so it never overstates.
    #[test]
    fn remaining() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let snap = Snapshot::new(creds("EcsContainer", Some(now + Duration::from_secs(90))));
        assert_eq!(snap.remaining_seconds(now), Some(90.0));
        assert_eq!(
            snap.remaining_seconds(now + Duration::from_secs(100)),
            Some(-10.0)
        );
        assert_eq!(whole_seconds(89.7), 89);
        assert_eq!(whole_seconds(-0.2), -1);
        assert_eq!(
            Snapshot::new(creds("Static", None)).remaining_seconds(now),
            None
        );
    }
}
