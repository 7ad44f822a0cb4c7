//! One credential check: ask the provider, bound the wait, and describe what came back.
//!
//! The provider is aws-config's default chain (in ECS, its container credentials provider). It has
//! no cache, so each call is a fresh request to the endpoint and a check sees what the endpoint
//! serves now, not what an SDK client cached minutes ago.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

use crate::clock;
use crate::diagnose::{self, Diagnosis};

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

/// Why a check produced no credentials.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("credentials provider did not answer within {}", humantime::format_duration(*.0))]
    TimedOut(Duration),
    #[error(
        "the credentials endpoint served credentials that expired at {0}; keeping the last good ones"
    )]
    AlreadyExpired(String),
    #[error("credentials provider failed")]
    Provider {
        #[source]
        source: aws_credential_types::provider::error::CredentialsError,
        /// What the endpoint itself said, when aws-config's error hides it.
        diagnosis: Option<Diagnosis>,
    },
}

impl CheckError {
    /// The whole cause chain on one line, then the endpoint's own explanation when there is one.
    pub fn describe(&self) -> String {
        let mut text = error_chain(self);
        if let CheckError::Provider {
            diagnosis: Some(d), ..
        } = self
        {
            text.push_str(" (");
            text.push_str(&d.to_string());
            text.push(')');
        }
        text
    }

    pub fn diagnosis(&self) -> Option<&Diagnosis> {
        match self {
            CheckError::Provider { diagnosis, .. } => diagnosis.as_ref(),
            CheckError::TimedOut(_) | CheckError::AlreadyExpired(_) => None,
        }
    }
}

/// Resolves credentials once, bounded by `timeout`. On failure from a container endpoint, asks the
/// endpoint once more for the reason aws-config does not pass on (its error body).
pub async fn check(
    provider: &SharedCredentialsProvider,
    timeout: Duration,
) -> Result<Snapshot, CheckError> {
    let started = tokio::time::Instant::now();
    match tokio::time::timeout(timeout, provider.provide_credentials()).await {
        Err(_) => Err(CheckError::TimedOut(timeout)),
        Ok(Ok(credentials)) => Ok(Snapshot::new(credentials)),
        Ok(Err(source)) => {
            let budget = timeout.saturating_sub(started.elapsed());
            let diagnosis = diagnose::container_endpoint(budget).await;
            Err(CheckError::Provider { source, diagnosis })
        }
    }
}

/// Joins an error and its sources with `: `, the way a person reads a cause chain.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        // Some errors repeat their source's text in their own; print it once.
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

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

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    /// Every cause in the chain reaches the log line.
    #[test]
    fn chain_joins_causes() {
        let err = Outer(std::io::Error::other("connection refused"));
        assert_eq!(error_chain(&err), "outer: connection refused");
    }
}
