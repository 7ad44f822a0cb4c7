//! `--signing-source secrets-manager`: long-lived keys read from Secrets Manager with the task
//! credentials, `{"AccessKeyId": "...", "SecretAccessKey": "..."}`, and the rotation function's
//! `ActiveUntil` when it wrote one (`sessionguard rotate-keys`).
//!
//! The key's expiry is the latest end of a URL signed with it, as [`promise`] says: its
//! `ActiveUntil`; for a key from before the rotation function, 7 days and an hour after the last
//! read that saw it current with no rotation in progress. Asking again does not make a key last
//! longer, so presign requests never trigger a read: the secret is read every
//! `--signing-secret-refresh`. A schedule that lets no useful URL be signed fails the read, with the
//! reason.
//!
//! [`promise`]: crate::keylife::promise

use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;

use super::signing::{log_refresh_failed, log_refreshed, sdk_failure, with_task_credentials};
use super::{
    Attempt, BoxFuture, Details, Failed, Failure, Fetched, Fresh, Limit, Source, Success, Tracked,
    expiry_text,
};
use crate::clock::{self, Clock};
use crate::credentials::Snapshot;
use crate::keylife::promise::{UNCOMMITTED_GRACE, sidecar_bound, usable};
use crate::keylife::schedule::Schedule;
use crate::keylife::value::KeyPair;
use crate::keylife::{CURRENT, PENDING};
use serde::Serialize;

pub use crate::keylife::schedule::Overlap;

/// The secret's version and rotation schedule, as last read, and why the key lasts as long as it
/// does: what `/v1/credentials` and the refresh line show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretFacts {
    pub version_id: Option<String>,
    pub rotation_enabled: bool,
    pub next_rotation_date: Option<String>,
    /// Seconds a replaced key stays active; `None` without rotation.
    pub key_overlap_seconds: Option<u64>,
    /// How long the rotation window is; `None` without rotation.
    pub rotation_window_seconds: Option<u64>,
    /// How the key's usable lifetime was computed, for people.
    pub usable_until_reason: String,
    /// A key from before the rotation function, read only while a rotation is in progress: no
    /// read has promised it anything, so no URL may be signed with it yet.
    #[serde(skip)]
    pub no_url_yet: bool,
}

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
    /// The current version, and when the last read that saw no other version `AWSPENDING` began.
    quiet: RwLock<Option<(String, SystemTime)>>,
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
            quiet: RwLock::new(None),
        }
    }

    fn facts(&self) -> Option<SecretFacts> {
        self.facts.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The `AWSCURRENT` key pair, bounded by the latest end of a URL signed with it.
    async fn load(&self) -> Result<Fetched, Failure> {
        let client = aws_sdk_secretsmanager::Client::new(&with_task_credentials(
            &self.sdk,
            &self.task,
            &self.clock,
        )?);
        let started = self.clock.now();
        let (value, described) = self.read(&client).await?;
        let keys = KeyPair::parse(value.secret_string())
            .map_err(|why| format!("secret {}: {why}", self.config.secret_id))?;
        let schedule = Schedule::of(&described);
        if schedule.rotation_enabled
            && let Some(period) = schedule.period
            && let Err(useless) = usable(period, schedule.window, self.config.overlap)
        {
            return Err(format!("secret {}: {useless}", self.config.secret_id).into());
        }
        let version = value.version_id().unwrap_or_default().to_string();
        let last_quiet = self.note_quiet(&version, &described, started);
        let usable_until = sidecar_bound(keys.active_until(), last_quiet);
        let mut facts = self.facts_of(&schedule, &keys, last_quiet);
        facts.version_id = Some(version).filter(|v| !v.is_empty());
        *self.facts.write().unwrap_or_else(|e| e.into_inner()) = Some(facts);
        Ok(Fetched {
            credentials: Credentials::new(
                keys.access_key_id,
                keys.secret_access_key,
                None,
                // No quiet read yet of a key without a commitment: nothing is promised past the
                // read's own second (`no_url_yet`), so every signing start is past it.
                Some(usable_until.unwrap_or(clock::whole_second(started))),
                "SecretsManager",
            ),
            warning: None,
        })
    }

    /// Remembers when a read that began at `started` saw `version` current with no other version
    /// `AWSPENDING` (no rotation in progress), and returns the latest such moment for it.
    fn note_quiet(
        &self,
        version: &str,
        described: &DescribeSecretOutput,
        started: SystemTime,
    ) -> Option<SystemTime> {
        let pending_elsewhere = described.version_ids_to_stages().is_some_and(|stages| {
            stages
                .iter()
                .any(|(v, st)| v != version && st.iter().any(|s| s == PENDING))
        });
        let mut quiet = self.quiet.write().unwrap_or_else(|e| e.into_inner());
        if quiet.as_ref().is_some_and(|(v, _)| v != version) {
            *quiet = None;
        }
        if !pending_elsewhere {
            *quiet = Some((version.to_string(), started));
        }
        quiet.as_ref().map(|(_, t)| *t)
    }

    /// What `/v1/credentials` and the refresh line say of the schedule and the key's bound.
    fn facts_of(
        &self,
        schedule: &Schedule,
        keys: &KeyPair,
        last_quiet: Option<SystemTime>,
    ) -> SecretFacts {
        let rotating = schedule.rotation_enabled;
        let overlap = match (self.config.overlap, schedule.period) {
            (Overlap::Fixed(d), _) => Some(d.as_secs()),
            (Overlap::RotationPeriod, period) => period.map(|p| p.as_secs()),
        };
        let grace = humantime::format_duration(UNCOMMITTED_GRACE);
        let usable_until_reason = match (keys.active_until(), last_quiet) {
            (Some(until), _) => format!(
                "the rotation function committed to keep the key active until {} (ActiveUntil)",
                clock::rfc3339(until)
            ),
            (None, Some(quiet)) => format!(
                "a key from before the rotation function: URLs end within {grace} of the last read that saw it current with no rotation in progress ({})",
                clock::rfc3339(quiet)
            ),
            (None, None) => format!(
                "a key from before the rotation function, read while a rotation is in progress: no URL until the rotated key is read (URLs signed with it end within {grace} of the last read before the rotation began)"
            ),
        };
        SecretFacts {
            version_id: None,
            rotation_enabled: rotating,
            next_rotation_date: schedule.next_rotation.map(clock::rfc3339),
            key_overlap_seconds: overlap.filter(|_| rotating),
            rotation_window_seconds: Some(schedule.window.as_secs()).filter(|_| rotating),
            usable_until_reason,
            no_url_yet: keys.active_until().is_none() && last_quiet.is_none(),
        }
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
                    .is_some_and(|stages| stages.iter().any(|s| s == CURRENT))
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
        let facts = self.facts();
        if facts.as_ref().is_some_and(|f| f.no_url_yet) {
            tracing::warn!(
                signing_source = NAME,
                access_key_id = %s.snapshot.masked_access_key_id(),
                secret_version_id = facts.as_ref().and_then(|f| f.version_id.as_deref()),
                next_rotation_date = facts.as_ref().and_then(|f| f.next_rotation_date.as_deref()),
                usable_until_reason = facts.as_ref().map(|f| f.usable_until_reason.as_str()),
                "signing key read during a rotation; nothing is signed with it until the rotated key is read"
            );
            return;
        }
        log_refreshed(NAME, s, None, facts.as_ref());
    }

    fn log_failure(&self, f: &Failed<'_>) {
        log_refresh_failed(NAME, f);
    }

    fn limit(&self, current: Option<&Snapshot>, _fresh: Option<u64>, _cap: u64) -> Limit {
        let facts = self.facts();
        let why = facts
            .as_ref()
            .map(|s| s.usable_until_reason.clone())
            .unwrap_or_default();
        let reason = if facts.is_some_and(|f| f.no_url_yet) {
            format!("the signing key may sign no URL yet: {why}")
        } else {
            let expires = expiry_text(current);
            format!("the signing key may be deactivated at {expires}: {why}")
        };
        Limit {
            reason,
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
