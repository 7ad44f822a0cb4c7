//! Credentials we track: one mechanism, one instance per set of credentials.
//!
//! The task credentials (the container endpoint, [`task`]) and the signing credentials of
//! `--signing-source assume-role` ([`assume_role`]), `secrets-manager` ([`secrets`]) or
//! `web-identity` ([`web_identity`]) are each a
//! [`Tracked`]: the last good [`Snapshot`] (its expiry is the moment it may stop working), when it
//! was obtained, the last error, and one single-flight refresh. A [`Source`] only knows how to
//! fetch and how to describe what it fetched; everything else is here, once:
//! - the periodic loop ([`Tracked::run`]) and the on-demand refresh ([`Tracked::refresh_for`]) are
//!   one single flight: a caller that waited while another refresh ran reuses its answer;
//! - on-demand refreshes are spaced by the source's [`Source::spacing`]: one careless client
//!   retrying a too-long request cannot turn into one endpoint call and one log line per request
//!   (the ECS agent throttles its credentials endpoint per task); requests in between decide on the
//!   newest answer;
//! - each attempt runs as its own task holding the flight, so a client hanging up never abandons a
//!   refresh others wait for;
//! - each attempt bumps one counter by `result` and writes one line (the source words it).
//!
//! With `--signing-source task` the signing credentials are the task's own handle: the presign
//! guard asks a [`Tracked`] and never learns which source answers.
//!
//! Beside the sources: [`readiness`] decides whether the task credentials have enough time left,
//! [`View`] is what `/v1/credentials` shows of any instance, and `sts_session` what the two STS
//! session sources share (the duration and its clamp, the 409 reason, the details). What the
//! Secrets Manager source shares with the rotation function (`rotate-keys`) is in
//! [`crate::keylife`].

pub mod assume_role;
mod fixed;
pub mod readiness;
pub mod secrets;
mod signing;
mod sts_session;
pub mod task;
mod view;
pub mod web_identity;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use prometheus::{IntCounter, IntCounterVec, Opts};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::clock::{self, Clock};
use crate::credentials::Snapshot;
use crate::credentials::diagnose::Diagnosis;

pub use assume_role::AssumeRoleConfig;
pub use secrets::{Overlap, SecretConfig, SecretFacts};
pub use view::{Details, View};
pub use web_identity::WebIdentityConfig;

/// A boxed future, so that [`Source`] can be used as `dyn Source`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// `--signing-source` and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningSource {
    /// Sign with the task credentials.
    Task,
    AssumeRole(AssumeRoleConfig),
    SecretsManager(SecretConfig),
    WebIdentity(WebIdentityConfig),
}

impl SigningSource {
    /// The value of `--signing-source`.
    pub fn name(&self) -> &'static str {
        match self {
            SigningSource::Task => "task",
            SigningSource::AssumeRole(_) => assume_role::NAME,
            SigningSource::SecretsManager(_) => secrets::NAME,
            SigningSource::WebIdentity(_) => web_identity::NAME,
        }
    }
}

/// Whether fresh credentials, asked for now, could cover a longer URL than the current ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fresh {
    /// Unknown until asked: the container endpoint may have rotated since the last check.
    Unknown,
    /// A fresh session lasts about this long (an assumed role's duration, less some slack).
    Lasts(Duration),
    /// Asking again gives the same lifetime (a key read from Secrets Manager).
    Same,
}

/// Why the current credentials allow no longer URL, for 409 answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// For people: what bounds the credentials.
    pub reason: String,
    /// What the caller can do about it.
    pub advice: &'static str,
}

impl Limit {
    /// The limit of credentials bounded by nothing but their own expiry.
    pub fn expiry(current: Option<&Snapshot>, advice: &'static str) -> Limit {
        Limit {
            reason: format!("the credentials expire at {}", expiry_text(current)),
            advice,
        }
    }
}

/// When `current` expires, as a limit's reason names it: `?` when unknown.
pub fn expiry_text(current: Option<&Snapshot>) -> String {
    current
        .and_then(|c| c.expiry())
        .map(clock::rfc3339)
        .unwrap_or_else(|| "?".into())
}

/// What a successful fetch brought.
pub struct Fetched {
    pub credentials: aws_credential_types::Credentials,
    /// A problem that did not stop the fetch (the identity lookup failed): the line is a WARN.
    pub warning: Option<String>,
}

/// Why a fetch brought nothing.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The whole cause, on one line.
    pub message: String,
    /// What the endpoint itself said, when it said more than the SDK passed on.
    pub diagnosis: Option<Diagnosis>,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure {
            message,
            diagnosis: None,
        }
    }
}

/// What one attempt knows when it starts.
pub struct Attempt<'a> {
    /// The last good credentials, if any.
    pub previous: Option<&'a Snapshot>,
    /// When the attempt started (the injected clock).
    pub now: SystemTime,
    /// Seconds of URL the attempt was made for, when a presign request asked for it.
    pub need: Option<u64>,
}

/// What the line of a successful attempt reports.
pub struct Success<'a> {
    pub snapshot: &'a Snapshot,
    pub previous: Option<&'a Snapshot>,
    /// Seconds left now; `None` for credentials that do not expire.
    pub remaining: Option<f64>,
    pub need: Option<u64>,
    pub warning: Option<&'a str>,
}

impl Success<'_> {
    /// A different session than the last good one (a new key, or a new token under the same key).
    pub fn rotated(&self) -> bool {
        self.previous
            .is_some_and(|p| !p.same_session(self.snapshot))
    }

    /// A different access key than before, or the first one.
    pub fn new_key(&self) -> bool {
        self.previous.is_none_or(|p| {
            p.credentials.access_key_id() != self.snapshot.credentials.access_key_id()
        })
    }
}

/// What the line of a failed attempt reports.
pub struct Failed<'a> {
    pub failure: &'a Failure,
    /// The last good credentials, still held.
    pub kept: Option<&'a Snapshot>,
    /// Whether `kept` can still sign (unexpired).
    pub kept_usable: bool,
    pub now: SystemTime,
    pub need: Option<u64>,
}

/// One kind of credentials: how to fetch them and how to describe them. Everything else (state,
/// single flight, spacing, counters, when to log) is [`Tracked`]'s.
pub trait Source: Send + Sync + 'static {
    /// `task`, `assume-role` or `secrets-manager`.
    fn name(&self) -> &'static str;

    /// Fetches fresh credentials once, bounded in time by the source.
    fn fetch<'a>(&'a self, attempt: Attempt<'a>) -> BoxFuture<'a, Result<Fetched, Failure>>;

    /// Whether the periodic loop should refresh now.
    fn due(&self, _state: &State, _now: SystemTime) -> bool {
        true
    }

    /// Time between two turns of the periodic loop.
    fn period(&self, interval: Duration) -> Duration {
        interval
    }

    /// Least time between the start of any attempt and an on-demand one.
    fn spacing(&self) -> Duration;

    /// What fresh credentials could cover.
    fn fresh(&self) -> Fresh;

    /// Writes the one line of a successful attempt.
    fn log_success(&self, success: &Success<'_>);

    /// Writes the one line of a failed attempt.
    fn log_failure(&self, failed: &Failed<'_>);

    /// Why `current` allows no longer URL; `fresh_seconds` is what fresh credentials would allow.
    fn limit(&self, current: Option<&Snapshot>, fresh_seconds: Option<u64>, cap: u64) -> Limit;

    /// Facts for `/v1/credentials`.
    fn details(&self) -> Details {
        Details::default()
    }
}

/// What is known about one set of tracked credentials. Remaining times are computed from the
/// clock when read, never stored.
#[derive(Debug, Default, Clone)]
pub struct State {
    /// The last good credentials, kept after later failures: they stay usable until they expire.
    pub current: Option<Arc<Snapshot>>,
    /// When `current` was obtained.
    pub obtained_at: Option<SystemTime>,
    pub last_attempt_at: Option<SystemTime>,
    pub last_success_at: Option<SystemTime>,
    /// The last attempt's error, cleared by a success.
    pub last_error: Option<String>,
}

/// The counters of one tracked instance, registered by the metrics module.
#[derive(Clone)]
pub struct Counters {
    /// Attempts by `result` (`success`, `failure`), pre-registered at 0.
    pub attempts: IntCounterVec,
    /// New sessions seen (`None`: not exported for this instance).
    pub rotations: Option<IntCounter>,
}

impl Counters {
    /// Attempts counted as `name{result}`, and rotations as `rotations` when given.
    pub fn new(name: &str, help: &str, rotations: Option<(&str, &str)>) -> Self {
        let attempts =
            IntCounterVec::new(Opts::new(name, help), &["result"]).expect("valid metric");
        for result in ["success", "failure"] {
            attempts.with_label_values(&[result]);
        }
        Counters {
            attempts,
            rotations: rotations
                .map(|(name, help)| IntCounter::new(name, help).expect("valid metric")),
        }
    }
}

struct Inner {
    source: Arc<dyn Source>,
    clock: Clock,
    state: RwLock<State>,
    /// Attempts finished, bumped once each attempt's line is written: a caller that saw it change
    /// while it waited for the flight reuses the answer, and callers wait on it for the first one.
    finished: tokio::sync::watch::Sender<u64>,
    /// At most one attempt in flight; held by the attempt's own task.
    flight: Arc<tokio::sync::Mutex<()>>,
    counters: Counters,
}

/// A cheaply cloned handle to one set of tracked credentials.
#[derive(Clone)]
pub struct Tracked {
    inner: Arc<Inner>,
}

impl Tracked {
    pub fn new(source: Arc<dyn Source>, clock: Clock, counters: Counters) -> Self {
        Tracked {
            inner: Arc::new(Inner {
                source,
                clock,
                state: RwLock::default(),
                finished: tokio::sync::watch::Sender::new(0),
                flight: Arc::new(tokio::sync::Mutex::new(())),
                counters,
            }),
        }
    }

    /// Whether two handles track the same credentials.
    pub fn same(&self, other: &Tracked) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    pub fn name(&self) -> &'static str {
        self.inner.source.name()
    }

    pub fn now(&self) -> SystemTime {
        self.inner.clock.now()
    }

    pub fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    /// One look under the lock, without copying what is not needed.
    pub fn peek<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.inner.state.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.inner.state.write().unwrap_or_else(|e| e.into_inner()))
    }

    /// The last good credentials: what the presign hot path signs with.
    pub fn current(&self) -> Option<Arc<Snapshot>> {
        self.peek(|s| s.current.clone())
    }

    /// What fresh credentials could cover.
    pub fn fresh(&self) -> Fresh {
        self.inner.source.fresh()
    }

    /// Why `current` allows no longer URL (see [`Source::limit`]).
    pub fn limit(&self, fresh_seconds: Option<u64>, cap: u64) -> Limit {
        let current = self.current();
        self.inner
            .source
            .limit(current.as_deref(), fresh_seconds, cap)
    }

    /// How long a caller refused for want of credentials should wait before asking again: the
    /// source's spacing between on-demand rechecks (sooner, it gets the same answer), at least 1 s.
    pub fn retry_after(&self) -> Duration {
        self.inner.source.spacing().max(Duration::from_secs(1))
    }

    /// Why nothing can be signed, the one place that says it (the 503's `last_error`): the last
    /// error; else, when credentials are `held`, what bounds them (the `fresh_seconds` and `cap`
    /// of [`Tracked::limit`]); else that no attempt has finished yet (a failure leaves its error, a
    /// success its time, so neither means none finished); else that they expired.
    pub fn unavailable_reason(&self, held: bool, fresh_seconds: Option<u64>, cap: u64) -> String {
        let (last_error, succeeded) =
            self.peek(|s| (s.last_error.clone(), s.last_success_at.is_some()));
        match (last_error, held, succeeded) {
            (Some(e), _, _) => e,
            (None, true, _) => self.limit(fresh_seconds, cap).reason,
            (None, false, false) => format!(
                "the {} credentials are still loading: their first refresh has not finished",
                self.name()
            ),
            (None, false, true) => "the credentials have expired".to_string(),
        }
    }

    /// Waits, at most `timeout`, until an attempt has finished, unless one already has: a request
    /// right after start decides on the first answer instead of on nothing.
    pub async fn settled(&self, timeout: Duration) {
        let mut finished = self.inner.finished.subscribe();
        let _ = tokio::time::timeout(timeout, finished.wait_for(|n| *n > 0)).await;
    }

    /// Notified after every finished attempt.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.finished.subscribe()
    }

    /// For a presign request the current credentials cannot cover: one attempt now, unless another
    /// finished while this one waited for the flight, or any attempt started less than
    /// [`Source::spacing`] ago.
    pub async fn refresh_for(&self, need: u64) {
        self.refresh(Some(need)).await
    }

    /// One attempt for the periodic loop (`need: None`, when [`Source::due`]) or for a request
    /// (`Some`, when spaced), unless one finished while this call waited for the flight.
    async fn refresh(&self, need: Option<u64>) {
        let seen = *self.inner.finished.borrow();
        let flight = self.inner.flight.clone().lock_owned().await;
        let now = self.now();
        let go = *self.inner.finished.borrow() == seen
            && self.peek(|s| match need {
                None => self.inner.source.due(s, now),
                Some(_) => s.last_attempt_at.is_none_or(|at| {
                    clock::seconds_until(now, at) >= self.inner.source.spacing().as_secs_f64()
                }),
            });
        if !go {
            return;
        }
        let this = self.clone();
        let attempt = tokio::spawn(async move {
            this.attempt(need).await;
            drop(flight);
        });
        if let Err(e) = attempt.await
            && e.is_panic()
        {
            // The periodic loop is supervised: its panic ends the daemon with a cause. A request's
            // refresh says so and lets the loop's next turn tell.
            if need.is_none() {
                std::panic::resume_unwind(e.into_panic());
            }
            tracing::error!(
                source = self.name(),
                "a credentials refresh made for a presign request panicked"
            );
        }
    }

    /// Refreshes at once, then every period, until `shutdown`. With `after`, starts only once
    /// `after` holds credentials (the signing sources fetch with the task's).
    pub async fn run(
        self,
        interval: Duration,
        after: Option<Tracked>,
        shutdown: CancellationToken,
    ) {
        if let Some(after) = after {
            let mut changed = after.subscribe();
            while after.current().is_none() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    r = changed.changed() => if r.is_err() { return },
                }
            }
        }
        let mut ticks = tokio::time::interval(self.inner.source.period(interval));
        // An attempt that overran its slot is not followed by a burst of catch-up attempts.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.refresh(None) => {}
            }
        }
    }

    /// One attempt, whoever asked: fetch, record, count, one line.
    pub async fn attempt(&self, need: Option<u64>) {
        let now = self.now();
        let previous = self.update(|s| {
            s.last_attempt_at = Some(now);
            s.current.clone()
        });
        let result = self
            .inner
            .source
            .fetch(Attempt {
                previous: previous.as_deref(),
                now,
                need,
            })
            .await;
        let counters = &self.inner.counters;
        match result {
            Ok(fetched) => {
                let snapshot = Arc::new(Snapshot::new(fetched.credentials));
                let success = Success {
                    snapshot: &snapshot,
                    previous: previous.as_deref(),
                    remaining: snapshot.remaining_seconds(self.now()),
                    need,
                    warning: fetched.warning.as_deref(),
                };
                counters.attempts.with_label_values(&["success"]).inc();
                if success.rotated()
                    && let Some(rotations) = &counters.rotations
                {
                    rotations.inc();
                }
                self.update(|s| {
                    s.current = Some(snapshot.clone());
                    s.obtained_at = Some(now);
                    s.last_success_at = Some(now);
                    s.last_error = None;
                });
                self.inner.source.log_success(&success);
            }
            Err(failure) => {
                counters.attempts.with_label_values(&["failure"]).inc();
                self.update(|s| {
                    s.last_error = Some(failure.message.clone());
                });
                let now = self.now();
                self.inner.source.log_failure(&Failed {
                    failure: &failure,
                    kept: previous.as_deref(),
                    kept_usable: previous
                        .as_ref()
                        .is_some_and(|k| k.remaining_seconds(now).is_none_or(|left| left > 0.0)),
                    now,
                    need,
                });
            }
        }
        self.inner.finished.send_modify(|n| *n += 1);
    }
}

/// The attempt counter of signing credentials of their own, by result.
pub fn signing_counters() -> Counters {
    Counters::new(
        "sessionguard_signing_credentials_refreshes_total",
        "Refreshes of the signing credentials (--signing-source assume-role, secrets-manager or web-identity), by result (success or failure).",
        None,
    )
}

/// The credentials URLs are signed with: the task's own handle for `--signing-source task`, else a
/// [`Tracked`] of their own that fetches with the task's.
pub fn signing(
    source: &SigningSource,
    sdk: &aws_config::SdkConfig,
    clock: Clock,
    timeout: Duration,
    task: &Tracked,
) -> Tracked {
    let source: Arc<dyn Source> = match source {
        SigningSource::Task => return task.clone(),
        SigningSource::AssumeRole(config) => Arc::new(assume_role::AssumeRoleSource::new(
            config.clone(),
            sdk,
            clock.clone(),
            timeout,
            task.clone(),
        )),
        SigningSource::SecretsManager(config) => Arc::new(secrets::SecretsSource::new(
            config.clone(),
            sdk,
            clock.clone(),
            timeout,
            task.clone(),
        )),
        SigningSource::WebIdentity(config) => Arc::new(web_identity::WebIdentitySource::new(
            config.clone(),
            sdk,
            clock.clone(),
            timeout,
        )),
    };
    Tracked::new(source, clock, signing_counters())
}

#[cfg(test)]
mod tests;
