//! `sessionguard rotate-keys`: the Secrets Manager rotation function of the presigner's IAM access
//! keys, served through the Lambda runtime API (`lambda_runtime`) from the sidecar's own image.
//!
//! The sidecar (`--signing-source secrets-manager`) signs URLs with the `AWSCURRENT` key and ends
//! each before that key's promise. This function keeps the same promise from the other side
//! ([`crate::keylife::promise`]): it writes into each version it makes the moment it commits to
//! (`ActiveUntil`) and, for a key from before it, the commitment for that key (`ReplacedKey`), and
//! it never deactivates or deletes a key before its promise ([`retire`]). A rotation that would
//! break a promise fails, naming the key and the moment, and leaves the secret as it was.
//!
//! [`KeyValue`] is the value (one declaration with the sidecar's reading), [`retire`] the decision
//! of what may be deleted, [`steps`] the four steps' flow, [`aws`] their calls to IAM, Secrets
//! Manager and STS, and [`outcome`] what a step did, as its log line says it.
//!
//! [`KeyValue`]: crate::keylife::value::KeyValue

pub mod aws;
pub mod outcome;
pub mod retire;
pub mod steps;

use std::time::Duration;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Deserialize;
use tracing::{error, info};

use crate::clock::Clock;
use crate::keylife::schedule::Overlap;

/// The stage of the version the sidecar signs with.
pub const CURRENT: &str = "AWSCURRENT";
/// The stage of the version a rotation is making.
pub const PENDING: &str = "AWSPENDING";
/// The stage Secrets Manager gives the version `AWSCURRENT` was moved from.
pub const PREVIOUS: &str = "AWSPREVIOUS";

/// Default `--test-timeout`: new IAM keys usually work within seconds.
pub const DEFAULT_TEST_TIMEOUT: &str = "30s";

/// The environment Lambda gives a function; without it `rotate-keys` has nothing to serve.
pub const LAMBDA_VARIABLES: &[&str] = &[
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

/// `rotate-keys` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotateConfig {
    /// `rotation-period`: the replaced key stays active one rotation, deleted by the next;
    /// `0s`: deactivated when the new key becomes current. The sidecar's `--signing-key-overlap`.
    pub overlap: Overlap,
    /// How long `testSecret` retries a new key that IAM has not propagated yet.
    pub test_timeout: Duration,
}

/// A rotation step, as Secrets Manager names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Step {
    #[serde(rename = "createSecret")]
    CreateSecret,
    #[serde(rename = "setSecret")]
    SetSecret,
    #[serde(rename = "testSecret")]
    TestSecret,
    #[serde(rename = "finishSecret")]
    FinishSecret,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::CreateSecret => "createSecret",
            Step::SetSecret => "setSecret",
            Step::TestSecret => "testSecret",
            Step::FinishSecret => "finishSecret",
        }
    }
}

/// The event Secrets Manager invokes the function with.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    #[serde(rename = "SecretId")]
    pub secret_id: String,
    #[serde(rename = "ClientRequestToken")]
    pub token: String,
    #[serde(rename = "Step")]
    pub step: Step,
}

/// Why a step failed. Secrets Manager marks the rotation failed and retries the step.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error("{0}")]
    Refused(#[from] retire::Refusal),
    #[error(
        "secret {0}: no rotation period the rotator can keep a promise by (set RotationRules to AutomaticallyAfterDays or rate(); cron() schedules have none)"
    )]
    Schedule(String),
    #[error("secret {secret}: {why}")]
    Useless {
        secret: String,
        #[source]
        why: Box<crate::keylife::promise::Useless>,
    },
    #[error("secret {0} has no readable AWSCURRENT version")]
    NoCurrent(String),
    #[error("version {0} has no value: createSecret did not finish")]
    NoPending(String),
    #[error("version {version}: {why}")]
    Value {
        version: String,
        why: crate::keylife::value::ValueError,
    },
    #[error("the IAM user {0} named by the secret's UserName does not exist")]
    NoSuchUser(String),
    #[error("the pending key signs as {arn}, not as the IAM user {user}")]
    WrongUser { arn: String, user: String },
    #[error("the pending key did not work within {timeout}: {last}")]
    KeyNotWorking { timeout: String, last: String },
    #[error("{what}: {detail}")]
    Aws {
        what: &'static str,
        detail: String,
        /// The SDK's error, without the raw response (whose body may carry a new key).
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl RotateError {
    /// The `errorType` Lambda reports.
    fn kind(&self) -> &'static str {
        match self {
            RotateError::Refused(_) => "RotationRefused",
            RotateError::Schedule(_)
            | RotateError::Useless { .. }
            | RotateError::Value { .. }
            | RotateError::NoSuchUser(_) => "InvalidSecret",
            RotateError::NoCurrent(_) | RotateError::NoPending(_) => "InvalidState",
            RotateError::WrongUser { .. } | RotateError::KeyNotWorking { .. } => "TestFailed",
            RotateError::Aws { .. } => "AwsError",
        }
    }
}

impl From<RotateError> for Diagnostic {
    fn from(e: RotateError) -> Self {
        Diagnostic {
            error_type: e.kind().to_string(),
            error_message: e.to_string(),
        }
    }
}

/// Serves rotation events until the Lambda runtime stops the process.
pub async fn serve(config: RotateConfig, clock: Clock) -> Result<(), lambda_runtime::Error> {
    let rotator = steps::Rotator {
        aws: aws::Aws::new(crate::load_aws().await),
        config,
        clock,
    };
    let rotator = &rotator;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        let event = event.payload;
        match rotator.step(&event).await {
            Ok(outcome) => {
                log_done(&event, &outcome);
                Ok(())
            }
            Err(e) => {
                error!(
                    step = event.step.as_str(),
                    secret_id = %event.secret_id,
                    client_request_token = %event.token,
                    error_type = e.kind(),
                    error = %e,
                    "rotation step failed"
                );
                Err(e)
            }
        }
    }))
    .await
}

/// The `rotation step done` line: the outcome's fields (absent when they do not apply) and its
/// sentence.
fn log_done(event: &Event, outcome: &outcome::Outcome) {
    // Every field by name, none left out: a new one does not compile until it is logged.
    let outcome::Fields {
        outcome: kind,
        version_id,
        user,
        created_key,
        active_until,
        bridge,
        replaced_key,
        replaced_active_until,
        deleted_key,
        tested_key,
        signs_as,
        current_key,
        previous_version_id,
        deactivated_key,
        kept_key,
        kept_until,
    } = outcome.fields();
    info!(
        step = event.step.as_str(),
        secret_id = %event.secret_id,
        client_request_token = %event.token,
        outcome = kind,
        version_id,
        user,
        created_key,
        active_until,
        bridge,
        replaced_key,
        replaced_active_until,
        deleted_key,
        tested_key,
        signs_as,
        current_key,
        previous_version_id,
        deactivated_key,
        kept_key,
        kept_until,
        summary = %outcome,
        "rotation step done"
    );
}
