//! `--signing-source secrets-manager`: long-lived keys read from Secrets Manager with the task
//! credentials, `{"AccessKeyId": "...", "SecretAccessKey": "..."}`, and the rotation function's
//! `ActiveUntil` when it wrote one (`sessionguard rotate-keys`).
//!
//! The key's expiry is when it may be deactivated under rotation ([`schedule`]); without rotation
//! it is unbounded (the 7-day SigV4 limit and `--presign-max-expires-in` still apply). Asking again
//! does not make a key last longer, so presign requests never trigger a read: the secret is read
//! every `--signing-secret-refresh`.
//!
//! [`schedule`]: super::schedule

use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;

use super::schedule::{DAY, Schedule, rotation_period, rotation_window};
use super::secret_value::KeyPair;
use super::signing::{log_refresh_failed, log_refreshed, sdk_failure, with_task_credentials};
use super::{
    Attempt, BoxFuture, Details, Failed, Failure, Fetched, Fresh, Limit, Source, Success, Tracked,
    expiry_text,
};
use crate::clock::{self, Clock};
use crate::credentials::Snapshot;

pub use super::schedule::{Overlap, SecretFacts};

/// The value of `--signing-source`.
pub const NAME: &str = "secrets-manager";
/// Default `--signing-secret-refresh`: a rotation is picked up within minutes.
pub const DEFAULT_REFRESH: &str = "5m";
/// Default `--signing-key-overlap`: two-key rotation.
pub const DEFAULT_KEY_OVERLAP: &str = "rotation-period";
/// No on-demand reads (see [`Fresh::Same`]); the value only matters if that changes.
const SPACING: Duration = Duration::from_secs(10);

/// `--signing-secret-*` and `--signing-key-overlap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretConfig {
    pub secret_id: String,
    pub refresh: Duration,
    pub overlap: Overlap,
}

/// Reads the key pair and the rotation schedule with the task credentials.
pub struct SecretsSource {
    config: SecretConfig,
    sdk: SdkConfig,
    clock: Clock,
    timeout: Duration,
    task: Tracked,
    /// The rotation facts that bound the key in use, as last read.
    facts: RwLock<Option<SecretFacts>>,
}

impl SecretsSource {
    pub fn new(
        config: SecretConfig,
        sdk: &SdkConfig,
        clock: Clock,
        timeout: Duration,
        task: Tracked,
    ) -> Self {
        SecretsSource {
            config,
            sdk: sdk.clone(),
            clock,
            timeout,
            task,
            facts: RwLock::new(None),
        }
    }

    fn facts(&self) -> Option<SecretFacts> {
        self.facts.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The `AWSCURRENT` key pair, bounded by when it may be deactivated.
    async fn load(&self) -> Result<Fetched, Failure> {
        let client = aws_sdk_secretsmanager::Client::new(&with_task_credentials(
            &self.sdk,
            &self.task,
            &self.clock,
        )?);
        let (value, described) = self.read(&client).await?;
        let keys = KeyPair::parse(value.secret_string())
            .map_err(|why| format!("secret {}: {why}", self.config.secret_id))?;
        let (usable_until, mut facts) = self.usable_until(&keys, &described);
        facts.version_id = value.version_id().map(str::to_string);
        *self.facts.write().unwrap_or_else(|e| e.into_inner()) = Some(facts);
        Ok(Fetched {
            credentials: Credentials::new(
                keys.access_key_id,
                keys.secret_access_key,
                None,
                usable_until,
                "SecretsManager",
            ),
            warning: None,
        })
    }

    /// GetSecretValue (`AWSCURRENT`) and DescribeSecret, describing the same version: a rotation
    /// finishing between them would pair the old key with the new schedule. Asked again once,
    /// then a failed read.
    async fn read(
        &self,
        client: &aws_sdk_secretsmanager::Client,
    ) -> Result<(GetSecretValueOutput, DescribeSecretOutput), Failure> {
        let secret_id = &self.config.secret_id;
        for _ in 0..2 {
            let calls = async {
                tokio::join!(
                    client.get_secret_value().secret_id(secret_id).send(),
                    client.describe_secret().secret_id(secret_id).send(),
                )
            };
            let (value, described) =
                tokio::time::timeout(self.timeout, calls)
                    .await
                    .map_err(|_| {
                        format!(
                            "secretsmanager did not answer within {}",
                            humantime::format_duration(self.timeout)
                        )
                    })?;
            let value = value.map_err(|e| sdk_failure("secretsmanager GetSecretValue", &e))?;
            let described =
                described.map_err(|e| sdk_failure("secretsmanager DescribeSecret", &e))?;
            let current_in_description = value.version_id().is_some_and(|v| {
                described
                    .version_ids_to_stages()
                    .and_then(|stages| stages.get(v))
                    .is_some_and(|stages| stages.iter().any(|s| s == "AWSCURRENT"))
            });
            if current_in_description {
                return Ok((value, described));
            }
        }
        Err(format!(
            "secret {secret_id}: GetSecretValue's version is not AWSCURRENT in DescribeSecret (a rotation in progress); keeping the last good keys"
        )
        .into())
    }

    /// When `keys` may be deactivated: the schedule's bound, or the rotator's `ActiveUntil` when
    /// it is earlier; and the facts behind it.
    fn usable_until(
        &self,
        keys: &KeyPair,
        described: &DescribeSecretOutput,
    ) -> (Option<SystemTime>, SecretFacts) {
        let (mut usable_until, mut facts) =
            schedule_of(described).usable_until(self.config.overlap, self.clock.now());
        if let Some(committed) = keys.active_until()
            && usable_until.is_none_or(|u| committed < u)
        {
            usable_until = Some(committed);
            facts.usable_until_reason = format!(
                "the rotation function committed to keep the key active until {} (ActiveUntil), before the schedule's bound ({})",
                clock::rfc3339(committed),
                facts.usable_until_reason
            );
        }
        (usable_until, facts)
    }
}

/// The rotation schedule DescribeSecret tells.
fn schedule_of(described: &DescribeSecretOutput) -> Schedule {
    let rules = described.rotation_rules();
    Schedule {
        rotation_enabled: described.rotation_enabled().unwrap_or(false),
        next_rotation: described
            .next_rotation_date()
            .and_then(|d| SystemTime::try_from(*d).ok()),
        last_rotated: described
            .last_rotated_date()
            .and_then(|d| SystemTime::try_from(*d).ok()),
        period: rules.and_then(rotation_period),
        window: rules.map(rotation_window).unwrap_or(DAY),
    }
}

impl Source for SecretsSource {
    fn name(&self) -> &'static str {
        NAME
    }

    fn fetch<'a>(&'a self, _attempt: Attempt<'a>) -> BoxFuture<'a, Result<Fetched, Failure>> {
        Box::pin(self.load())
    }

    fn period(&self, _interval: Duration) -> Duration {
        self.config.refresh
    }

    fn spacing(&self) -> Duration {
        SPACING
    }

    fn fresh(&self) -> Fresh {
        Fresh::Same
    }

    fn log_success(&self, s: &Success<'_>) {
        log_refreshed(NAME, s, None, self.facts().as_ref());
    }

    fn log_failure(&self, f: &Failed<'_>) {
        log_refresh_failed(NAME, f);
    }

    fn limit(&self, current: Option<&Snapshot>, _fresh: Option<u64>, _cap: u64) -> Limit {
        let expires = expiry_text(current);
        let reason = self
            .facts()
            .map(|s| s.usable_until_reason)
            .unwrap_or_default();
        Limit {
            reason: format!("the signing key may be deactivated at {expires}: {reason}"),
            advice: "ask for less, or retry after the rotated key has been read",
        }
    }

    fn details(&self) -> Details {
        Details {
            secret: self.facts(),
            ..Details::default()
        }
    }
}
