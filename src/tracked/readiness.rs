//! Whether the task credentials have enough time left: one [`verdict`], a plain function of the
//! time left and the required minimum, read by `/readyz` ([`Readiness`]) and by
//! `sessionguard status`, each wording it its own way.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::clock;
use crate::credentials::{Snapshot, whole_seconds};

/// How the time resolved credentials have left compares with the required minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Static keys: they never expire, so they are always enough.
    DoNotExpire,
    /// At least the minimum is left.
    Enough,
    /// Some time is left, but less than the minimum.
    BelowMinimum,
    /// No time is left.
    Expired,
}

/// The verdict on credentials with `remaining` seconds left (`None`: they do not expire), when
/// `min` must be left.
pub fn verdict(remaining: Option<f64>, min: Duration) -> Verdict {
    match remaining {
        None => Verdict::DoNotExpire,
        Some(r) if r <= 0.0 => Verdict::Expired,
        Some(r) if r < min.as_secs_f64() => Verdict::BelowMinimum,
        Some(_) => Verdict::Enough,
    }
}

/// Why `/readyz` says no.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotReady {
    NeverResolved,
    Expired,
    BelowMinimum,
}

/// The body of `/readyz`.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    pub ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<NotReady>,
    pub message: String,
    pub remaining_seconds: Option<i64>,
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl Readiness {
    /// Ready when the last good credentials (`current`) have at least `min` left at `now`.
    pub fn of(
        current: Option<&Snapshot>,
        last_error: Option<String>,
        now: SystemTime,
        min: Duration,
    ) -> Readiness {
        let Some(current) = current else {
            return Readiness {
                ready: false,
                reason: Some(NotReady::NeverResolved),
                message: "credentials have not been resolved yet".into(),
                remaining_seconds: None,
                expires_at: None,
                last_error,
            };
        };
        let remaining = current.remaining_seconds(now);
        let secs = remaining.map(whole_seconds);
        let left = || clock::human_remaining(secs.unwrap_or_default());
        let (reason, message) = match verdict(remaining, min) {
            Verdict::DoNotExpire => (None, "static credentials do not expire".into()),
            Verdict::Expired => (Some(NotReady::Expired), format!("credentials {}", left())),
            Verdict::BelowMinimum => (
                Some(NotReady::BelowMinimum),
                format!(
                    "credentials expire in {}, less than the required {}",
                    left(),
                    humantime::format_duration(min)
                ),
            ),
            Verdict::Enough => (None, format!("credentials expire in {}", left())),
        };
        Readiness {
            ready: reason.is_none(),
            reason,
            message,
            remaining_seconds: secs,
            expires_at: current.expiry().map(clock::rfc3339),
            last_error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every side of both bounds: nothing left is expired even when nothing is required, exactly
    /// the minimum is enough, static keys always are.
    #[test]
    fn verdicts() {
        let min = Duration::from_secs(300);
        let cases = [
            (None, min, Verdict::DoNotExpire),
            (Some(900.0), min, Verdict::Enough),
            (Some(300.0), min, Verdict::Enough),
            (Some(299.9), min, Verdict::BelowMinimum),
            (Some(0.1), min, Verdict::BelowMinimum),
            (Some(0.0), min, Verdict::Expired),
            (Some(-3.0), min, Verdict::Expired),
            (Some(0.0), Duration::ZERO, Verdict::Expired),
            (Some(0.1), Duration::ZERO, Verdict::Enough),
        ];
        for (remaining, min, expected) in cases {
            assert_eq!(verdict(remaining, min), expected, "{remaining:?} {min:?}");
        }
    }
}
