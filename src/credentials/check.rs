//! One credential check: ask the provider, bound the wait, and describe what came back.
//!
//! The provider is aws-config's default chain (in ECS, its container credentials provider). It has
//! no cache, so each call is a fresh request to the endpoint and a check sees what the endpoint
//! serves now, not what an SDK client cached minutes ago.

use std::time::Duration;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

use super::Snapshot;
use super::diagnose::{self, Diagnosis};
use crate::clock;
use crate::text::error_chain;

/// Why a check produced no credentials.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("credentials provider did not answer within {}", humantime::format_duration(*.0))]
    TimedOut(Duration),
    #[error(
        "the credentials endpoint served credentials that expired at {0}; keeping the last good ones"
    )]
    AlreadyExpired(String),
    /// aws-config parses an `Expiration` before 1970 (or past 9999) without complaint; no real
    /// session ends then, and such a time cannot be compared or shown like a real one.
    #[error(
        "the credentials endpoint served Expiration {0}, outside 1970-01-01 to 9999-12-31; no real session ends then, so they are not used"
    )]
    ImplausibleExpiration(String),
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
            CheckError::TimedOut(_)
            | CheckError::AlreadyExpired(_)
            | CheckError::ImplausibleExpiration(_) => None,
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
        Ok(Ok(credentials)) => match credentials.expiry() {
            Some(at) if !clock::plausible(at) => {
                Err(CheckError::ImplausibleExpiration(clock::rfc3339(at)))
            }
            _ => Ok(Snapshot::new(credentials)),
        },
        Ok(Err(source)) => {
            let budget = timeout.saturating_sub(started.elapsed());
            let diagnosis = diagnose::container_endpoint(budget).await;
            Err(CheckError::Provider { source, diagnosis })
        }
    }
}
