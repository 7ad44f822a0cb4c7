//! What the two signing sources (assume-role, secrets-manager) share: calling AWS with the task
//! credentials, their log lines and how an SDK failure reads.

use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tracing::{error, info, warn};

use super::{Failed, Failure, SecretFacts, Success, Tracked};
use crate::clock::{self, Clock};
use crate::credentials::whole_seconds;
use crate::text::error_chain;

/// The line of a successful refresh; a WARN when the credentials may already have stopped working.
pub fn log_refreshed(
    source: &'static str,
    s: &Success<'_>,
    assumed_role_arn: Option<&str>,
    secret: Option<&SecretFacts>,
) {
    let snapshot = s.snapshot;
    let expires_at = snapshot.expiry().map(clock::rfc3339);
    let remaining_seconds = s.remaining.map(whole_seconds);
    if remaining_seconds.is_some_and(|r| r <= 0) {
        warn!(
            signing_source = source,
            access_key_id = %snapshot.masked_access_key_id(),
            expires_at,
            remaining_seconds,
            secret_version_id = secret.and_then(|s| s.version_id.as_deref()),
            next_rotation_date = secret.and_then(|s| s.next_rotation_date.as_deref()),
            usable_until_reason = secret.map(|s| s.usable_until_reason.as_str()),
            "signing credentials refreshed, but they may already have stopped working; nothing is signed with them"
        );
        return;
    }
    info!(
        signing_source = source,
        access_key_id = %snapshot.masked_access_key_id(),
        expires_at,
        remaining_seconds,
        new_key = s.new_key(),
        requested_for_seconds = s.need,
        assumed_role_arn,
        secret_version_id = secret.and_then(|s| s.version_id.as_deref()),
        rotation_enabled = secret.map(|s| s.rotation_enabled),
        next_rotation_date = secret.and_then(|s| s.next_rotation_date.as_deref()),
        usable_until_reason = secret.map(|s| s.usable_until_reason.as_str()),
        "signing credentials refreshed"
    );
}

/// The line of a failed refresh: a WARN while the last good credentials still work, else an ERROR.
pub fn log_refresh_failed(source: &'static str, f: &Failed<'_>) {
    let error = f.failure.message.as_str();
    if f.kept_usable {
        warn!(
            signing_source = source,
            error,
            kept_access_key_id = f.kept.map(|k| k.masked_access_key_id()),
            kept_expires_at = f.kept.and_then(|k| k.expiry()).map(clock::rfc3339),
            requested_for_seconds = f.need,
            "signing credentials refresh failed; keeping the last good ones"
        );
    } else {
        error!(
            signing_source = source,
            error,
            requested_for_seconds = f.need,
            "signing credentials refresh failed; no valid signing credentials"
        );
    }
}

/// `"WHAT failed: code: message"` when the service answered, the whole cause chain otherwise.
pub fn sdk_failure<E, R>(
    what: &str,
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match (e.code(), e.message()) {
        (Some(code), message) => format!("{what} failed: {code}: {}", message.unwrap_or_default()),
        _ => format!("{what} failed: {}", error_chain(e)),
    }
}

/// Fetching signing credentials needs the task's; before the first check there are none.
const NO_TASK_CREDENTIALS: &str = "the task credentials have not been resolved yet";

/// The SDK settings a signing source calls AWS with: the task's current credentials, and the
/// injected clock to sign the calls with; a failure before the task's first check.
pub fn with_task_credentials(
    sdk: &SdkConfig,
    task: &Tracked,
    clock: &Clock,
) -> Result<SdkConfig, Failure> {
    let Some(task) = task.current() else {
        return Err(NO_TASK_CREDENTIALS.to_string().into());
    };
    Ok(sdk
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(task.credentials.clone()))
        .time_source(clock.clone())
        .build())
}
