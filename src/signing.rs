//! Signing credentials other than the task's own: an assumed-role session, or long-lived keys from
//! Secrets Manager.
//!
//! The monitor keeps watching the task credentials; this module keeps a second set, the one URLs
//! are signed with, with its own refreshes, log lines and metrics. Both kinds are fetched with
//! exactly the task credentials the monitor last checked.
//!
//! Either way the presign guard reads one [`Snapshot`] whose expiry is the moment the signing
//! credentials may stop working:
//! - `assume-role`: the session's `Expiration`. A request that needs more than the current session
//!   has left asks STS for a fresh session right then (at most one call in flight, at most one per
//!   [`ON_DEMAND_SPACING`]), provided a fresh session would cover it. STS caps sessions assumed by
//!   role chaining (AssumeRole from task-role credentials) at 1 hour and any other at the role's
//!   `MaxSessionDuration`; when it refuses `--assume-role-duration`, the duration is clamped to
//!   1 hour (every role allows that), logged once and given as the reason in 409 answers.
//! - `secrets-manager`: long-lived keys never expire by themselves, but a URL dies with the key
//!   that signed it. Under the usual two-key rotation of an IAM user's access keys the key that is
//!   `AWSCURRENT` now becomes `AWSPREVIOUS` at the next rotation (`NextRotationDate`) and is
//!   deleted by the rotation after that, one rotation period later; `--signing-key-overlap` says
//!   how long a replaced key stays active (`rotation-period` by default, `0s` when the rotation
//!   deactivates the old key at once). The key's usable lifetime is `NextRotationDate + overlap`;
//!   without rotation it is unbounded (the 7-day SigV4 limit and `--presign-max-expires-in` still
//!   apply).

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use prometheus::IntCounterVec;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::clock::{self, Clock};
use crate::credentials::{Snapshot, error_chain, whole_seconds};
use crate::presign::Limits;
use crate::state::Session;

/// Shortest session AssumeRole issues.
pub const MIN_ASSUME_ROLE_DURATION: Duration = Duration::from_secs(900);
/// Longest session AssumeRole issues (a role's MaxSessionDuration is at most 12 hours).
pub const MAX_ASSUME_ROLE_DURATION: Duration = Duration::from_secs(43_200);
/// STS's cap on sessions assumed by role chaining, and the least MaxSessionDuration a role has.
pub const ROLE_CHAINING_CAP: Duration = Duration::from_secs(3_600);
/// Least time between two AssumeRole calls made for presign requests: clients asking for the
/// longest URL a fresh session allows would otherwise cost one STS call each.
pub const ON_DEMAND_SPACING: Duration = Duration::from_secs(10);
/// Kept off what a fresh session is expected to allow: STS's `Expiration` carries its own clock and
/// the call's latency, and signing starts at a whole second.
pub const FRESH_SESSION_SLACK: Duration = Duration::from_secs(5);
/// Default `--assume-role-duration`.
pub const DEFAULT_ASSUME_ROLE_DURATION: &str = "1h";
/// Default `--assume-role-session-name`.
pub const DEFAULT_SESSION_NAME: &str = "sessionguard";
/// Default `--signing-secret-refresh`.
pub const DEFAULT_SECRET_REFRESH: &str = "5m";
/// Default `--signing-key-overlap`.
pub const DEFAULT_KEY_OVERLAP: &str = "rotation-period";

/// `--signing-source` and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Sign with the task credentials the monitor checks.
    Task,
    AssumeRole(AssumeRole),
    SecretsManager(Secret),
}

impl Source {
    pub fn name(&self) -> &'static str {
        match self {
            Source::Task => "task",
            Source::AssumeRole(_) => "assume-role",
            Source::SecretsManager(_) => "secrets-manager",
        }
    }
}

/// `--assume-role-*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRole {
    pub role_arn: String,
    pub duration: Duration,
    pub session_name: String,
    pub external_id: Option<String>,
}

/// `--signing-secret-*` and `--signing-key-overlap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub secret_id: String,
    pub refresh: Duration,
    pub overlap: Overlap,
}

/// How long a key stays active after rotation makes another key `AWSCURRENT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// One rotation period: two-key rotation deletes the older key when it creates the next one.
    RotationPeriod,
    Fixed(Duration),
}

/// What is known about the signing credentials.
#[derive(Debug, Default, Clone)]
struct State {
    /// The last good credentials; their expiry is the moment they may stop working.
    current: Option<Arc<Snapshot>>,
    /// When `current` was obtained.
    obtained_at: Option<SystemTime>,
    /// Incremented by every refresh attempt: waiters that saw it change reuse the answer.
    attempts: u64,
    last_attempt_at: Option<SystemTime>,
    last_success_at: Option<SystemTime>,
    last_error: Option<String>,
    /// assume-role: the duration asked for now (clamped after a refusal) and why it was clamped.
    duration: Option<Duration>,
    duration_cap: Option<String>,
    /// assume-role: the ARN of the assumed session.
    session_arn: Option<String>,
    /// secrets-manager: the rotation facts that bound the key in use.
    secret: Option<SecretFacts>,
}

/// The secret's version and rotation schedule, as last read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretFacts {
    pub version_id: Option<String>,
    pub rotation_enabled: bool,
    pub next_rotation_date: Option<String>,
    /// Seconds a replaced key is assumed to stay active; `None` without rotation.
    pub key_overlap_seconds: Option<u64>,
    /// How long before `next_rotation_date` the rotation may happen; `None` without rotation.
    pub rotation_window_seconds: Option<u64>,
    /// How the key's usable lifetime was computed, for people.
    pub usable_until_reason: String,
}

/// The `signing` object of `/v1/credentials`.
#[derive(Debug, Clone, Serialize)]
pub struct SigningView {
    pub source: &'static str,
    pub access_key_id: Option<String>,
    /// When the signing credentials may stop working (session expiry, or key deactivation).
    pub expires_at: Option<String>,
    pub remaining_seconds: Option<i64>,
    pub last_refresh_at: Option<String>,
    pub last_success_at: Option<String>,
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assumed_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_duration_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_cap: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretFacts>,
}

impl SigningView {
    /// `--signing-source task`: the task credentials themselves.
    pub fn task(task: &crate::state::CredentialsView) -> Self {
        SigningView {
            source: "task",
            access_key_id: task.access_key_id.clone(),
            expires_at: task.expires_at.clone(),
            remaining_seconds: task.remaining_seconds,
            last_refresh_at: task.last_check_at.clone(),
            last_success_at: task.last_success_at.clone(),
            last_error: task.last_error.clone(),
            assumed_role_arn: None,
            session_duration_seconds: None,
            duration_cap: None,
            secret: None,
        }
    }
}

/// Signing credentials from STS AssumeRole or Secrets Manager.
pub struct Signing {
    source: Source,
    sdk: SdkConfig,
    session: Session,
    clock: Clock,
    timeout: Duration,
    state: RwLock<State>,
    /// At most one refresh in flight; held by the refresh itself, which runs as its own task so
    /// that a client hanging up does not abandon an AssumeRole other requests wait for.
    refreshing: Arc<tokio::sync::Mutex<()>>,
    refreshes: IntCounterVec,
}

impl Signing {
    /// `None` for [`Source::Task`]: the guard signs with the monitor's credentials.
    pub fn new(
        source: &Source,
        sdk: &SdkConfig,
        session: Session,
        clock: Clock,
        timeout: Duration,
        refreshes: IntCounterVec,
    ) -> Option<Arc<Self>> {
        if *source == Source::Task {
            return None;
        }
        let duration = match source {
            Source::AssumeRole(a) => Some(a.duration),
            _ => None,
        };
        Some(Arc::new(Signing {
            source: source.clone(),
            sdk: sdk.clone(),
            session,
            clock,
            timeout,
            state: RwLock::new(State {
                duration,
                ..State::default()
            }),
            refreshing: Arc::new(tokio::sync::Mutex::new(())),
            refreshes,
        }))
    }

    /// A copy of the whole state, for the views.
    fn read(&self) -> State {
        self.peek(State::clone)
    }

    /// One look under the lock, without copying what is not needed.
    fn peek<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.state.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.write().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The last good signing credentials.
    pub fn current(&self) -> Option<Arc<Snapshot>> {
        self.peek(|s| s.current.clone())
    }

    pub fn last_error(&self) -> Option<String> {
        self.peek(|s| s.last_error.clone())
    }

    /// Keeps the signing credentials fresh until `shutdown`: the first load as soon as the task
    /// credentials are known, then every `interval` (assume-role: when less than half the session
    /// is left or the last attempt failed) or every `--signing-secret-refresh`.
    pub async fn run(self: Arc<Self>, interval: Duration, shutdown: CancellationToken) {
        let mut changed = self.session.subscribe();
        while self.session.current().is_none() {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                r = changed.changed() => if r.is_err() { return },
            }
        }
        let period = match &self.source {
            Source::SecretsManager(s) => s.refresh,
            _ => interval,
        };
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if self.due() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = self.refresh_once() => {}
                }
            }
        }
    }

    /// Whether the periodic refresh should run now.
    fn due(&self) -> bool {
        let state = self.read();
        match &self.source {
            Source::AssumeRole(_) => {
                let (Some(current), Some(obtained)) = (&state.current, state.obtained_at) else {
                    return true;
                };
                if state.last_error.is_some() {
                    return true;
                }
                let now = self.clock.now();
                let Some(expiry) = current.expiry() else {
                    return true;
                };
                let lifetime = clock::seconds_until(expiry, obtained);
                clock::seconds_until(expiry, now) < lifetime / 2.0
            }
            _ => true,
        }
    }

    /// The longest URL a fresh assumed-role session would allow, a few seconds short of its
    /// duration (STS's clock and the call's latency), or `None` when no fresh session can be had on
    /// demand (secrets-manager keys do not get longer by asking again).
    pub fn fresh_capacity(&self, limits: &Limits) -> Option<u64> {
        let Source::AssumeRole(_) = &self.source else {
            return None;
        };
        let duration = self.peek(|s| s.duration)?;
        Some(
            duration
                .saturating_sub(limits.margin)
                .saturating_sub(FRESH_SESSION_SLACK)
                .min(limits.max_expires_in)
                .as_secs(),
        )
    }

    /// For a presign request short by the current credentials: assume a fresh session when one
    /// would grant `need` seconds, unless another request just did or the last attempt is less
    /// than [`ON_DEMAND_SPACING`] old.
    pub async fn refresh_for(self: &Arc<Self>, need: u64, limits: &Limits) {
        if self.fresh_capacity(limits).is_none_or(|cap| cap < need)
            || self.session.current().is_none()
        {
            return;
        }
        let seen = self.peek(|s| s.attempts);
        let one = self.refreshing.clone().lock_owned().await;
        let (attempts, last_attempt_at) = self.peek(|s| (s.attempts, s.last_attempt_at));
        if attempts != seen {
            return;
        }
        if let Some(at) = last_attempt_at
            && clock::seconds_until(self.clock.now(), at) < ON_DEMAND_SPACING.as_secs_f64()
        {
            return;
        }
        let this = self.clone();
        let attempt = tokio::spawn(async move {
            this.attempt(Some(need)).await;
            drop(one);
        });
        let _ = attempt.await;
    }

    /// One periodic refresh, unless another one ran while this waited for its turn.
    async fn refresh_once(&self) {
        let seen = self.peek(|s| s.attempts);
        let _one = self.refreshing.lock().await;
        if self.peek(|s| s.attempts) != seen || !self.due() {
            return;
        }
        self.attempt(None).await;
    }

    /// Fetches new signing credentials with the current task credentials; logs one line.
    async fn attempt(&self, need: Option<u64>) {
        let now = self.clock.now();
        self.update(|s| {
            s.attempts += 1;
            s.last_attempt_at = Some(now);
        });
        let result = match self.session.current() {
            None => Err("the task credentials have not been resolved yet".to_string()),
            Some(task) => match &self.source {
                Source::Task => return,
                Source::AssumeRole(cfg) => self.assume_role(cfg, &task.credentials).await,
                Source::SecretsManager(cfg) => self.load_secret(cfg, &task.credentials).await,
            },
        };
        match result {
            Ok(fetched) => {
                self.refreshes.with_label_values(&["success"]).inc();
                let snapshot = Arc::new(Snapshot::new(fetched.credentials));
                let previous = self.update(|s| {
                    let previous = s.current.replace(snapshot.clone());
                    s.obtained_at = Some(now);
                    s.last_success_at = Some(now);
                    s.last_error = None;
                    if fetched.session_arn.is_some() {
                        s.session_arn = fetched.session_arn.clone();
                    }
                    if fetched.secret.is_some() {
                        s.secret = fetched.secret.clone();
                    }
                    previous
                });
                let changed = previous.is_none_or(|p| {
                    p.credentials.access_key_id() != snapshot.credentials.access_key_id()
                });
                let expires_at = snapshot.expiry().map(clock::rfc3339);
                let remaining_seconds = snapshot
                    .remaining_seconds(self.clock.now())
                    .map(whole_seconds);
                let secret = fetched.secret.as_ref();
                if remaining_seconds.is_some_and(|r| r <= 0) {
                    warn!(
                        signing_source = self.source.name(),
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
                    signing_source = self.source.name(),
                    access_key_id = %snapshot.masked_access_key_id(),
                    expires_at,
                    remaining_seconds,
                    new_key = changed,
                    requested_for_seconds = need,
                    assumed_role_arn = fetched.session_arn.as_deref(),
                    secret_version_id = secret.and_then(|s| s.version_id.as_deref()),
                    rotation_enabled = secret.map(|s| s.rotation_enabled),
                    next_rotation_date = secret.and_then(|s| s.next_rotation_date.as_deref()),
                    usable_until_reason = secret.map(|s| s.usable_until_reason.as_str()),
                    "signing credentials refreshed"
                );
            }
            Err(message) => {
                self.refreshes.with_label_values(&["failure"]).inc();
                self.update(|s| s.last_error = Some(message.clone()));
                let kept = self.current();
                let kept_expires_at = kept.as_ref().and_then(|k| k.expiry()).map(clock::rfc3339);
                let usable = kept.as_ref().is_some_and(|k| {
                    k.remaining_seconds(self.clock.now())
                        .is_none_or(|left| left > 0.0)
                });
                if usable {
                    warn!(
                        signing_source = self.source.name(),
                        error = message.as_str(),
                        kept_access_key_id = kept.as_ref().map(|k| k.masked_access_key_id()),
                        kept_expires_at,
                        requested_for_seconds = need,
                        "signing credentials refresh failed; keeping the last good ones"
                    );
                } else {
                    error!(
                        signing_source = self.source.name(),
                        error = message.as_str(),
                        requested_for_seconds = need,
                        "signing credentials refresh failed; no valid signing credentials"
                    );
                }
            }
        }
    }

    /// STS AssumeRole with the task credentials; a duration STS refuses is clamped to 1 hour once.
    async fn assume_role(&self, cfg: &AssumeRole, task: &Credentials) -> Result<Fetched, String> {
        let config = aws_sdk_sts::config::Builder::from(&self.sdk)
            .credentials_provider(task.clone())
            .time_source(self.clock.clone())
            .build();
        let client = aws_sdk_sts::Client::from_conf(config);
        loop {
            let duration = self.peek(|s| s.duration).unwrap_or(cfg.duration);
            let call = client
                .assume_role()
                .role_arn(&cfg.role_arn)
                .role_session_name(&cfg.session_name)
                .set_external_id(cfg.external_id.clone())
                .duration_seconds(i32::try_from(duration.as_secs()).unwrap_or(i32::MAX))
                .send();
            let output = match tokio::time::timeout(self.timeout, call).await {
                Err(_) => {
                    return Err(format!(
                        "sts AssumeRole did not answer within {}",
                        humantime::format_duration(self.timeout)
                    ));
                }
                Ok(Err(e)) => {
                    let code = e.code().unwrap_or_default().to_string();
                    let message = e.message().unwrap_or_default().to_string();
                    if code == "ValidationError"
                        && message.contains("DurationSeconds")
                        && duration > ROLE_CHAINING_CAP
                    {
                        let reason = duration_cap_reason(&message, duration);
                        warn!(
                            signing_source = self.source.name(),
                            requested_duration = %humantime::format_duration(duration),
                            clamped_to = %humantime::format_duration(ROLE_CHAINING_CAP),
                            reason = reason.as_str(),
                            sts_message = message.as_str(),
                            "assume-role duration clamped"
                        );
                        self.update(|s| {
                            s.duration = Some(ROLE_CHAINING_CAP);
                            s.duration_cap = Some(reason);
                        });
                        continue;
                    }
                    return Err(sdk_failure("sts AssumeRole", &e));
                }
                Ok(Ok(output)) => output,
            };
            let Some(c) = output.credentials else {
                return Err("sts AssumeRole answered without Credentials".into());
            };
            let expiry = SystemTime::try_from(c.expiration)
                .map_err(|e| format!("sts AssumeRole answered an unusable Expiration: {e}"))?;
            return Ok(Fetched {
                credentials: Credentials::new(
                    c.access_key_id,
                    c.secret_access_key,
                    Some(c.session_token),
                    Some(expiry),
                    "AssumeRole",
                ),
                session_arn: output.assumed_role_user.map(|u| u.arn),
                secret: None,
            });
        }
    }

    /// GetSecretValue (`AWSCURRENT`) and DescribeSecret with the task credentials.
    async fn load_secret(&self, cfg: &Secret, task: &Credentials) -> Result<Fetched, String> {
        let config = aws_sdk_secretsmanager::config::Builder::from(&self.sdk)
            .credentials_provider(task.clone())
            .time_source(self.clock.clone())
            .build();
        let client = aws_sdk_secretsmanager::Client::from_conf(config);
        // The two answers must describe the same version: a rotation finishing between them would
        // pair the old key with the new schedule. Asked again once, then a failed read.
        for _ in 0..2 {
            let calls = async {
                tokio::join!(
                    client.get_secret_value().secret_id(&cfg.secret_id).send(),
                    client.describe_secret().secret_id(&cfg.secret_id).send(),
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
            if !current_in_description {
                continue;
            }
            let keys = parse_secret(value.secret_string())
                .map_err(|why| format!("secret {}: {why}", cfg.secret_id))?;
            let rules = described.rotation_rules();
            let schedule = Schedule {
                rotation_enabled: described.rotation_enabled().unwrap_or(false),
                next_rotation: described
                    .next_rotation_date()
                    .and_then(|d| SystemTime::try_from(*d).ok()),
                last_rotated: described
                    .last_rotated_date()
                    .and_then(|d| SystemTime::try_from(*d).ok()),
                period: rules.and_then(rotation_period),
                window: rules.map(rotation_window).unwrap_or(DAY),
            };
            let (usable_until, mut facts) = schedule.usable_until(cfg.overlap, self.clock.now());
            facts.version_id = value.version_id().map(str::to_string);
            return Ok(Fetched {
                credentials: Credentials::new(
                    keys.access_key_id,
                    keys.secret_access_key,
                    None,
                    usable_until,
                    "SecretsManager",
                ),
                session_arn: None,
                secret: Some(facts),
            });
        }
        Err(format!(
            "secret {}: GetSecretValue's version is not AWSCURRENT in DescribeSecret (a rotation in progress); keeping the last good keys",
            cfg.secret_id
        ))
    }

    /// The `signing` object of `/v1/credentials`.
    pub fn view(&self) -> SigningView {
        let state = self.read();
        let now = self.clock.now();
        let current = state.current.as_ref();
        SigningView {
            source: self.source.name(),
            access_key_id: current.map(|c| c.masked_access_key_id()),
            expires_at: current.and_then(|c| c.expiry()).map(clock::rfc3339),
            remaining_seconds: current
                .and_then(|c| c.remaining_seconds(now))
                .map(whole_seconds),
            last_refresh_at: state.last_attempt_at.map(clock::rfc3339),
            last_success_at: state.last_success_at.map(clock::rfc3339),
            last_error: state.last_error,
            assumed_role_arn: state.session_arn,
            session_duration_seconds: state.duration.map(|d| d.as_secs()),
            duration_cap: state.duration_cap,
            secret: state.secret,
        }
    }

    /// Why a fresh URL cannot be longer, for 409 answers.
    pub fn limit_reason(&self, limits: &Limits) -> String {
        let state = self.read();
        let expires = state
            .current
            .as_ref()
            .and_then(|c| c.expiry())
            .map(clock::rfc3339)
            .unwrap_or_else(|| "?".into());
        match &self.source {
            Source::AssumeRole(_) => {
                let duration = state.duration.unwrap_or_default();
                let fresh = self.fresh_capacity(limits).unwrap_or(0);
                let mut text = if fresh == limits.max_expires_in.as_secs() {
                    format!(
                        "the assumed-role session expires at {expires} and --presign-max-expires-in caps every URL at {fresh}s"
                    )
                } else {
                    format!(
                        "the assumed-role session expires at {expires} and a fresh {} session would allow about {fresh}s",
                        humantime::format_duration(duration)
                    )
                };
                if let Some(cap) = &state.duration_cap {
                    text.push_str(&format!(" ({cap})"));
                }
                text
            }
            _ => {
                let reason = state
                    .secret
                    .as_ref()
                    .map(|s| s.usable_until_reason.clone())
                    .unwrap_or_default();
                format!("the signing key may be deactivated at {expires}: {reason}")
            }
        }
    }
}

/// What one refresh fetched.
struct Fetched {
    credentials: Credentials,
    session_arn: Option<String>,
    secret: Option<SecretFacts>,
}

/// Why STS refused the duration, and what was done about it.
fn duration_cap_reason(sts_message: &str, asked: Duration) -> String {
    let asked = humantime::format_duration(asked);
    if sts_message.contains("role chaining") {
        format!(
            "STS caps sessions assumed by role chaining (AssumeRole from task-role credentials) at 1 hour; --assume-role-duration {asked} was clamped to 1h"
        )
    } else {
        format!(
            "STS refused --assume-role-duration {asked}, more than the role's MaxSessionDuration; clamped to 1h, which every role allows (raise the role's MaxSessionDuration or lower --assume-role-duration)"
        )
    }
}

/// `"WHAT failed: code: message"` when the service answered, the whole cause chain otherwise.
fn sdk_failure<E, R>(
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

/// The key pair in a secret.
struct KeyPair {
    access_key_id: String,
    secret_access_key: String,
}

/// `{"AccessKeyId": "...", "SecretAccessKey": "..."}`; other fields are ignored. Errors never
/// quote the value.
fn parse_secret(text: Option<&str>) -> Result<KeyPair, String> {
    let text = text.ok_or("has no SecretString (a binary secret cannot hold a key pair)")?;
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        format!(
            "SecretString is not JSON (line {}, column {}); expected {{\"AccessKeyId\": ..., \"SecretAccessKey\": ...}}",
            e.line(),
            e.column()
        )
    })?;
    let field = |name: &str| -> Result<String, String> {
        match value.get(name) {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            Some(_) => Err(format!("{name} is not a non-empty string")),
            None => Err(format!(
                "SecretString has no {name}; expected {{\"AccessKeyId\": ..., \"SecretAccessKey\": ...}}"
            )),
        }
    };
    Ok(KeyPair {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: field("SecretAccessKey")?,
    })
}

/// One day: the rotation window of day schedules when `RotationRules` names none.
const DAY: Duration = Duration::from_secs(86_400);
/// Secrets Manager rotates at most every 1000 days; longer periods or overlaps are not real.
pub const MAX_ROTATION_PERIOD: Duration = Duration::from_secs(1000 * 86_400);

/// The rotation period from `RotationRules`: `AutomaticallyAfterDays`, or a `rate()` schedule.
fn rotation_period(rules: &aws_sdk_secretsmanager::types::RotationRulesType) -> Option<Duration> {
    let (n, unit) = match rules.automatically_after_days().filter(|d| *d > 0) {
        Some(days) => (u64::try_from(days).ok()?, 86_400),
        None => rate(rules.schedule_expression()?)?,
    };
    let period = Duration::from_secs(n.checked_mul(unit)?);
    (period <= MAX_ROTATION_PERIOD).then_some(period)
}

/// `rate(N days)` or `rate(N hours)` as (N, seconds per unit).
fn rate(expression: &str) -> Option<(u64, u64)> {
    let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.trim().split_once(' ')?;
    let unit = match unit.trim() {
        "day" | "days" => 86_400,
        "hour" | "hours" => 3_600,
        _ => return None,
    };
    Some((n.parse().ok()?, unit))
}

/// How long before `NextRotationDate` a rotation may already happen: `RotationRules.Duration`
/// (e.g. `3h`), else Secrets Manager's default window: an hour for hourly schedules, the rest of
/// the UTC day (up to a day) otherwise.
fn rotation_window(rules: &aws_sdk_secretsmanager::types::RotationRulesType) -> Duration {
    if let Some(window) = rules
        .duration()
        .and_then(|d| humantime::parse_duration(d.trim()).ok())
    {
        return window.min(DAY);
    }
    match rules.schedule_expression().and_then(rate) {
        Some((_, 3_600)) => Duration::from_secs(3_600),
        _ => DAY,
    }
}

/// A secret's rotation schedule.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    rotation_enabled: bool,
    /// Secrets Manager's "on or before": the rotation happens within `window` before it.
    next_rotation: Option<SystemTime>,
    last_rotated: Option<SystemTime>,
    period: Option<Duration>,
    window: Duration,
}

impl Schedule {
    /// When the key that is `AWSCURRENT` now may be deactivated, and the facts behind it.
    fn usable_until(&self, overlap: Overlap, now: SystemTime) -> (Option<SystemTime>, SecretFacts) {
        let mut facts = SecretFacts {
            version_id: None,
            rotation_enabled: self.rotation_enabled,
            next_rotation_date: self.next_rotation.map(clock::rfc3339),
            key_overlap_seconds: None,
            rotation_window_seconds: None,
            usable_until_reason: String::new(),
        };
        if !self.rotation_enabled {
            facts.usable_until_reason =
                "rotation is not enabled on the secret, so the key is not deactivated on a schedule"
                    .into();
            return (None, facts);
        }
        let (overlap, overlap_text) = match (overlap, self.period) {
            (Overlap::Fixed(d), _) => (d, format!("--signing-key-overlap {}", humantime::format_duration(d))),
            (Overlap::RotationPeriod, Some(p)) => (
                p,
                format!("one rotation period ({}) under two-key rotation", humantime::format_duration(p)),
            ),
            (Overlap::RotationPeriod, None) => (
                Duration::ZERO,
                "no overlap: the rotation period is not a rate() or AutomaticallyAfterDays, set --signing-key-overlap".into(),
            ),
        };
        facts.key_overlap_seconds = Some(overlap.as_secs());
        let scheduled = match (self.next_rotation, self.last_rotated, self.period) {
            (Some(n), _, _) => Some((n, "NextRotationDate")),
            (None, Some(last), Some(p)) => {
                last.checked_add(p).map(|n| (n, "LastRotatedDate + period"))
            }
            _ => None,
        };
        facts.rotation_window_seconds = Some(self.window.as_secs());
        // The rotation happens within its window, on or before the scheduled date.
        let (replaced, replaced_text) = match scheduled {
            Some((next, what)) => (
                next.checked_sub(self.window).unwrap_or(next),
                format!(
                    "{} before the next rotation ({what} {}, the end of its window)",
                    humantime::format_duration(self.window),
                    clock::rfc3339(next)
                ),
            ),
            None => (now, "now (the next rotation is unknown)".to_string()),
        };
        facts.usable_until_reason = format!(
            "the key may stop being AWSCURRENT {replaced_text} and stays active for {overlap_text}"
        );
        (
            Some(replaced.checked_add(overlap).unwrap_or(replaced)),
            facts,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    const DAY_SECS: u64 = 86_400;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// Two-key rotation: the key in use lives until one period after the start of the next
    /// rotation's window; a fixed overlap replaces the period; no rotation, no bound; an unknown
    /// next rotation counts as now.
    #[test]
    fn key_lifetime_under_rotation() {
        let now = at(1_795_867_200);
        let days = |n: u64| Duration::from_secs(n * DAY_SECS);
        let schedule = Schedule {
            rotation_enabled: true,
            next_rotation: Some(now + days(3)),
            last_rotated: Some(now - days(27)),
            period: Some(days(30)),
            window: Duration::from_secs(3 * 3600),
        };
        let (until, facts) = schedule.usable_until(Overlap::RotationPeriod, now);
        assert_eq!(until, Some(now + days(33) - Duration::from_secs(3 * 3600)));
        assert_eq!(facts.key_overlap_seconds, Some(30 * DAY_SECS));
        assert_eq!(facts.rotation_window_seconds, Some(3 * 3600));
        assert!(facts.usable_until_reason.contains("two-key"), "{facts:?}");

        let (until, _) = schedule.usable_until(Overlap::Fixed(Duration::ZERO), now);
        assert_eq!(until, Some(now + days(3) - Duration::from_secs(3 * 3600)));

        let no_next = Schedule {
            next_rotation: None,
            window: DAY,
            ..schedule
        };
        let (until, facts) = no_next.usable_until(Overlap::Fixed(Duration::from_secs(60)), now);
        assert_eq!(until, Some(now + days(2) + Duration::from_secs(60)));
        assert!(
            facts.usable_until_reason.contains("LastRotatedDate"),
            "{facts:?}"
        );

        let unknown = Schedule {
            next_rotation: None,
            last_rotated: None,
            period: None,
            ..schedule
        };
        let (until, facts) = unknown.usable_until(Overlap::RotationPeriod, now);
        assert_eq!(until, Some(now));
        assert!(facts.usable_until_reason.contains("unknown"), "{facts:?}");

        let off = Schedule {
            rotation_enabled: false,
            ..schedule
        };
        assert_eq!(off.usable_until(Overlap::RotationPeriod, now).0, None);
    }

    #[test]
    fn rotation_periods_and_windows() {
        use aws_sdk_secretsmanager::types::RotationRulesType;
        let days = RotationRulesType::builder()
            .automatically_after_days(30)
            .build();
        assert_eq!(
            rotation_period(&days),
            Some(Duration::from_secs(30 * DAY_SECS))
        );
        assert_eq!(rotation_window(&days), DAY);
        let rate = RotationRulesType::builder()
            .schedule_expression("rate(12 hours)")
            .build();
        assert_eq!(rotation_period(&rate), Some(Duration::from_secs(43_200)));
        assert_eq!(rotation_window(&rate), Duration::from_secs(3_600));
        let cron = RotationRulesType::builder()
            .schedule_expression("cron(0 16 1,15 * ? *)")
            .duration("3h")
            .build();
        assert_eq!(rotation_period(&cron), None);
        assert_eq!(rotation_window(&cron), Duration::from_secs(3 * 3_600));
        let absurd = RotationRulesType::builder()
            .schedule_expression("rate(18446744073709551615 days)")
            .build();
        assert_eq!(rotation_period(&absurd), None);
    }

    /// Bad secret values are named without quoting them.
    #[test]
    fn secret_values() {
        let good = parse_secret(Some(
            r#"{"AccessKeyId": "AKIAEXAMPLE", "SecretAccessKey": "s3cr3t", "UserName": "u"}"#,
        ))
        .unwrap();
        assert_eq!(good.access_key_id, "AKIAEXAMPLE");
        for (value, expected) in [
            (None, "no SecretString"),
            (Some("s3cr3t-not-json"), "not JSON"),
            (
                Some(r#"{"AccessKeyId": "AKIAEXAMPLE"}"#),
                "no SecretAccessKey",
            ),
            (
                Some(r#"{"AccessKeyId": 1, "SecretAccessKey": "s3cr3t"}"#),
                "AccessKeyId is not",
            ),
        ] {
            let err = parse_secret(value).err().unwrap();
            assert!(err.contains(expected), "{err}");
            assert!(!err.contains("s3cr3t"), "{err}");
        }
    }

    #[test]
    fn cap_reasons() {
        let two_hours = Duration::from_secs(7_200);
        assert!(
            duration_cap_reason(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
                two_hours
            )
            .contains("role chaining")
        );
        assert!(
            duration_cap_reason(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
                two_hours
            )
            .contains("MaxSessionDuration")
        );
    }
}
