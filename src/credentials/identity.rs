//! Who the credentials belong to, from STS `GetCallerIdentity`.
//!
//! The container endpoint's `RoleArn` is dropped by aws-config's parser, so the ARN and account
//! come from STS, called with exactly the credentials that were checked. `AWS_ENDPOINT_URL_STS`
//! overrides the endpoint as in every AWS SDK (aws-config reads it into the `SdkConfig`).

use std::time::Duration;

use aws_config::SdkConfig;
use aws_credential_types::Credentials;

use crate::clock::Clock;
use crate::text::error_chain;

/// The caller identity of one set of credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// For a task role: `arn:aws:sts::123456789012:assumed-role/app/<task id>`.
    pub arn: String,
    pub account: String,
}

/// Why the identity is unknown; never fatal, the check line carries it as a warning.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("sts GetCallerIdentity did not answer within {}", humantime::format_duration(*.0))]
    TimedOut(Duration),
    #[error("sts GetCallerIdentity failed: {0}")]
    Failed(String),
    #[error("sts GetCallerIdentity answered without an Arn or Account")]
    Incomplete,
}

/// Looks identities up with STS, using the region, endpoint and clock of the daemon.
#[derive(Clone, Debug)]
pub struct IdentityLookup {
    sdk: SdkConfig,
    clock: Clock,
}

impl IdentityLookup {
    pub fn new(sdk: SdkConfig, clock: Clock) -> Self {
        IdentityLookup { sdk, clock }
    }

    pub async fn lookup(
        &self,
        credentials: &Credentials,
        timeout: Duration,
    ) -> Result<Identity, IdentityError> {
        let config = aws_sdk_sts::config::Builder::from(&self.sdk)
            .credentials_provider(credentials.clone())
            .time_source(self.clock.clone())
            .build();
        let client = aws_sdk_sts::Client::from_conf(config);
        let output = tokio::time::timeout(timeout, client.get_caller_identity().send())
            .await
            .map_err(|_| IdentityError::TimedOut(timeout))?
            .map_err(|e| IdentityError::Failed(error_chain(&e)))?;
        match (output.arn, output.account) {
            (Some(arn), Some(account)) => Ok(Identity { arn, account }),
            _ => Err(IdentityError::Incomplete),
        }
    }
}
