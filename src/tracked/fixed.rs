//! Credentials given at start: the bench and unit tests sign with them through the same guard.

use std::sync::Arc;
use std::time::Duration;

use super::{
    Attempt, BoxFuture, Counters, Failed, Failure, Fetched, Fresh, Limit, Source, Success, Tracked,
};
use crate::clock::Clock;
use crate::credentials::Snapshot;

/// Credentials given at start, fetched again unchanged: the bench and unit tests sign with them.
struct FixedSource(aws_credential_types::Credentials);

impl Source for FixedSource {
    fn name(&self) -> &'static str {
        "fixed"
    }

    fn fetch<'a>(&'a self, _attempt: Attempt<'a>) -> BoxFuture<'a, Result<Fetched, Failure>> {
        let credentials = self.0.clone();
        Box::pin(async move {
            Ok(Fetched {
                credentials,
                warning: None,
            })
        })
    }

    fn spacing(&self) -> Duration {
        Duration::ZERO
    }

    fn fresh(&self) -> Fresh {
        Fresh::Same
    }

    fn log_success(&self, _: &Success<'_>) {}

    fn log_failure(&self, _: &Failed<'_>) {}

    fn limit(&self, current: Option<&Snapshot>, _: Option<u64>, _: u64) -> Limit {
        Limit::expiry(current, "ask for less")
    }
}

impl Tracked {
    /// Tracks fixed `credentials` (call [`Tracked::attempt`] once to load them).
    pub fn fixed(credentials: aws_credential_types::Credentials, clock: Clock) -> Tracked {
        Tracked::new(
            Arc::new(FixedSource(credentials)),
            clock,
            Counters::new(
                "fixed_attempts_total",
                "Attempts of fixed credentials.",
                None,
            ),
        )
    }
}
