//! A secret's rotation schedule, read once from `DescribeSecret` for the sidecar and the rotation
//! function alike: the period (`AutomaticallyAfterDays` or `rate()`), the window (`Duration`, or
//! Secrets Manager's default), `NextRotationDate`, and whether rotation is on.
//!
//! What AWS documents, and what this module assumes where it is vague: a scheduled rotation comes
//! at some moment of a window `W` long, "on or before" `NextRotationDate`; whether that date is the
//! window's end or its start, and whether the next window is counted from the schedule or from the
//! last rotation, is not said. Under every one of those readings two scheduled rotations that
//! follow each other are at least `P − W` apart, and that is the only thing the promise relies on
//! ([`super::promise`]). A failed rotation is retried later; a retry that succeeds late may be
//! followed sooner by the next scheduled one, which is then refused (safely) and retried.

use std::time::{Duration, SystemTime};

use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::types::RotationRulesType;

/// One day: the rotation window of day schedules when `RotationRules` names none.
pub const DAY: Duration = Duration::from_secs(86_400);
/// One hour: the default window of hourly `rate()` schedules.
const HOUR: Duration = Duration::from_secs(3_600);
/// Secrets Manager rotates at most every 1000 days; longer periods or overlaps are not real.
pub const MAX_ROTATION_PERIOD: Duration = Duration::from_secs(1000 * 86_400);

/// How long a key stays active after rotation makes another key `AWSCURRENT`
/// (`--signing-key-overlap`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// Two-key rotation: the replaced key stays active until the rotation after next deletes it.
    RotationPeriod,
    /// A duration. The rotator takes only `0s`: the replaced key is deactivated as soon as its
    /// promise allows (at once on schedule). The sidecar takes any and reads keys' commitments as
    /// for `0s`; the value itself shows only as `key_overlap_seconds`.
    Fixed(Duration),
}

impl Overlap {
    /// `0s`: the replaced key is deactivated when the new one becomes current.
    pub fn is_zero(self) -> bool {
        self == Overlap::Fixed(Duration::ZERO)
    }
}

/// A secret's rotation schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub rotation_enabled: bool,
    /// Secrets Manager's "on or before": the rotation happens within `window` of it.
    pub next_rotation: Option<SystemTime>,
    /// `None` for `cron()` schedules: no period to keep a promise by.
    pub period: Option<Duration>,
    pub window: Duration,
}

impl Schedule {
    /// What `DescribeSecret` says of the schedule.
    pub fn of(described: &DescribeSecretOutput) -> Schedule {
        let rules = described.rotation_rules();
        let time =
            |t: Option<&aws_smithy_types::DateTime>| t.and_then(|d| SystemTime::try_from(*d).ok());
        Schedule {
            rotation_enabled: described.rotation_enabled().unwrap_or(false),
            next_rotation: time(described.next_rotation_date()),
            period: rules.and_then(rotation_period),
            window: rules.map(rotation_window).unwrap_or(DAY),
        }
    }
}

/// The rotation period from `RotationRules`: `AutomaticallyAfterDays`, or a `rate()` schedule.
pub fn rotation_period(rules: &RotationRulesType) -> Option<Duration> {
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

/// How long the window a rotation may come in is: `RotationRules.Duration` (e.g. `3h`), else
/// Secrets Manager's default: an hour for hourly schedules, the rest of the UTC day (up to a day)
/// otherwise.
pub fn rotation_window(rules: &RotationRulesType) -> Duration {
    if let Some(window) = rules
        .duration()
        .and_then(|d| humantime::parse_duration(d.trim()).ok())
    {
        return window.min(DAY);
    }
    match rules.schedule_expression().and_then(rate) {
        Some((_, 3_600)) => HOUR,
        _ => DAY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_SECS: u64 = 86_400;

    /// Periods and windows of every kind of schedule; `cron()` has no period; absurd ones none.
    #[test]
    fn rotation_periods_and_windows() {
        let cases: &[(RotationRulesType, Option<u64>, u64)] = &[
            (
                RotationRulesType::builder()
                    .automatically_after_days(30)
                    .build(),
                Some(30 * DAY_SECS),
                DAY_SECS,
            ),
            (
                RotationRulesType::builder()
                    .schedule_expression("rate(12 hours)")
                    .build(),
                Some(43_200),
                3_600,
            ),
            (
                RotationRulesType::builder()
                    .schedule_expression("rate(2 days)")
                    .duration("12h")
                    .build(),
                Some(2 * DAY_SECS),
                12 * 3_600,
            ),
            (
                RotationRulesType::builder()
                    .schedule_expression("cron(0 16 1,15 * ? *)")
                    .duration("3h")
                    .build(),
                None,
                3 * 3_600,
            ),
            (
                RotationRulesType::builder()
                    .schedule_expression("rate(18446744073709551615 days)")
                    .build(),
                None,
                DAY_SECS,
            ),
        ];
        for (rules, period, window) in cases {
            assert_eq!(
                rotation_period(rules).map(|p| p.as_secs()),
                *period,
                "{rules:?}"
            );
            assert_eq!(rotation_window(rules).as_secs(), *window, "{rules:?}");
        }
    }
}
