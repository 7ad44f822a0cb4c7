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

pub use crate::keylife::{CURRENT, PENDING, PREVIOUS};

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
/// sentence. A test holds it to every field of every outcome.
fn log_done(event: &Event, outcome: &outcome::Outcome) {
    let f = outcome.fields();
    info!(
        step = event.step.as_str(),
        secret_id = %event.secret_id,
        client_request_token = %event.token,
        outcome = f.outcome,
        version_id = f.version_id,
        user = f.user,
        created_key = f.created_key,
        active_until = f.active_until,
        bridge = f.bridge,
        replaced_key = f.replaced_key,
        replaced_active_until = f.replaced_active_until,
        deleted_key = f.deleted_key,
        tested_key = f.tested_key,
        signs_as = f.signs_as,
        current_key = f.current_key,
        previous_version_id = f.previous_version_id,
        deactivated_key = f.deactivated_key,
        kept_key = f.kept_key,
        kept_until = f.kept_until,
        summary = %outcome,
        "rotation step done"
    );
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// What a subscriber writes, shared with the test.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The step line carries exactly the fields its outcome fills, for every outcome and every
    /// way it ends, besides the event's and `summary`: a field added to the outcome and not to
    /// the line fails here.
    #[test]
    fn the_step_line_logs_every_field_of_its_outcome() {
        let event = Event {
            secret_id: "arn:aws:secretsmanager:us-east-1:123456789012:secret:p".into(),
            token: "v2".into(),
            step: Step::FinishSecret,
        };
        for outcome in outcome::examples() {
            let captured = Captured::default();
            let writer = captured.clone();
            let subscriber = tracing_subscriber::fmt()
                .json()
                .flatten_event(true)
                .without_time()
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::with_default(subscriber, || log_done(&event, &outcome));
            let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
            let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
            let mut got: Vec<String> = line.as_object().unwrap().keys().cloned().collect();
            let fields = outcome.fields();
            let mut want = fields.filled();
            want.extend(
                [
                    "level",
                    "target",
                    "message",
                    "step",
                    "secret_id",
                    "client_request_token",
                ]
                .into_iter()
                .chain(["outcome", "summary"])
                .map(String::from),
            );
            got.sort();
            want.sort();
            assert_eq!(got, want, "{line}");
            assert_eq!(line["outcome"], fields.outcome, "{line}");
            assert_eq!(line["summary"], outcome.to_string(), "{line}");
        }
    }
}
