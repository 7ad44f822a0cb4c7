//! When a key read from Secrets Manager may stop working, from the secret's rotation schedule.
//!
//! Long-lived keys never expire by themselves, but a URL dies with the key that signed it. Under
//! the usual two-key rotation of an IAM user's access keys the key that is `AWSCURRENT` now becomes
//! `AWSPREVIOUS` at the next rotation (`NextRotationDate`, "on or before": within the rotation
//! window) and is deleted by the rotation after that, one rotation period later;
//! `--signing-key-overlap` says how long a replaced key stays active (`rotation-period` by default,
//! `0s` when the rotation deactivates the old key at once). Plain functions of the schedule, so a
//! table of cases tests them without a server.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::clock;

/// How long a key stays active after rotation makes another key `AWSCURRENT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// One rotation period: two-key rotation deletes the older key when it creates the next one.
    RotationPeriod,
    Fixed(Duration),
}

impl Overlap {
    /// `0s`: the replaced key is deactivated at once.
    pub fn is_zero(self) -> bool {
        self == Overlap::Fixed(Duration::ZERO)
    }
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

/// One day: the rotation window of day schedules when `RotationRules` names none.
pub const DAY: Duration = Duration::from_secs(86_400);
/// Secrets Manager rotates at most every 1000 days; longer periods or overlaps are not real.
pub const MAX_ROTATION_PERIOD: Duration = Duration::from_secs(1000 * 86_400);

/// The rotation period from `RotationRules`: `AutomaticallyAfterDays`, or a `rate()` schedule.
pub fn rotation_period(
    rules: &aws_sdk_secretsmanager::types::RotationRulesType,
) -> Option<Duration> {
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
pub fn rotation_window(rules: &aws_sdk_secretsmanager::types::RotationRulesType) -> Duration {
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

/// The moment the rotator (`sessionguard rotate-keys`) commits to keep a key it makes current
/// active: the earliest a rotation on the schedule may retire it. Rotations come "on or before"
/// their date, up to `window` early, so the next one is at least `period - window` away; with
/// two-key rotation (`RotationPeriod`) the key is deleted by the rotation after that, with no
/// overlap (`Fixed(0)`) deactivated by the next. The rotator writes it into the version as
/// `ActiveUntil`, and the sidecar signs no URL that outlives it. `None` for a fixed overlap other
/// than zero, which no rotation of the rotator implements.
pub fn active_until(
    made_current: SystemTime,
    period: Duration,
    window: Duration,
    overlap: Overlap,
) -> Option<SystemTime> {
    let step = period.saturating_sub(window);
    let keep = match overlap {
        Overlap::RotationPeriod => step.checked_mul(2)?,
        Overlap::Fixed(d) if d.is_zero() => step,
        Overlap::Fixed(_) => return None,
    };
    made_current.checked_add(keep)
}

/// How long a sidecar may go on signing with a replaced key before it reads the new version: one
/// `--signing-secret-refresh` (5 minutes by default), longer while its reads fail. A day.
pub const READ_LAG: Duration = DAY;

/// How long after it was replaced a key of a version without `ActiveUntil` (written before the
/// rotator, e.g. by CloudFormation) may still have been promised. The sidecar bounded it by the
/// `NextRotationDate` it read, minus the window, plus the overlap: replaced on schedule (within
/// the window), at most `replaced_at + overlap`. But the rotator's first rotation usually comes
/// early (Secrets Manager runs it when rotation is turned on, a period before the date the sidecar
/// read), and then URLs signed just before it may last up to `period - window` longer; no URL
/// lasts more than `longest_url` (SigV4's 7 days) after it was signed, though, and a sidecar
/// signs with the replaced key only until it reads the new version ([`READ_LAG`]). With a fixed
/// overlap (`0s`) the rotator deactivated the key when it was replaced: `replaced_at + overlap`.
pub fn promised_after_replacement(
    replaced_at: SystemTime,
    period: Duration,
    window: Duration,
    overlap: Overlap,
    longest_url: Duration,
) -> SystemTime {
    let keep = match overlap {
        Overlap::RotationPeriod => {
            let early = period
                .saturating_sub(window)
                .saturating_add(period)
                .min(longest_url.saturating_add(READ_LAG));
            period.max(early)
        }
        Overlap::Fixed(d) => d,
    };
    replaced_at.checked_add(keep).unwrap_or(replaced_at)
}

/// A secret's rotation schedule.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub rotation_enabled: bool,
    /// Secrets Manager's "on or before": the rotation happens within `window` before it.
    pub next_rotation: Option<SystemTime>,
    pub last_rotated: Option<SystemTime>,
    pub period: Option<Duration>,
    pub window: Duration,
}

impl Schedule {
    /// When the key that is `AWSCURRENT` now may be deactivated, and the facts behind it.
    pub fn usable_until(
        &self,
        overlap: Overlap,
        now: SystemTime,
    ) -> (Option<SystemTime>, SecretFacts) {
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

    /// The rotator's commitment: two steps of `period - window` under two-key rotation, one
    /// without overlap; never later than the sidecar's own bound for the same rotation.
    #[test]
    fn commitments() {
        let now = at(1_795_867_200);
        let days = |n: u64| Duration::from_secs(n * DAY_SECS);
        assert_eq!(
            active_until(now, days(30), DAY, Overlap::RotationPeriod),
            Some(now + days(58))
        );
        assert_eq!(
            active_until(now, days(30), DAY, Overlap::Fixed(Duration::ZERO)),
            Some(now + days(29))
        );
        assert_eq!(
            active_until(now, days(30), DAY, Overlap::Fixed(days(1))),
            None
        );
        // A key made current now, next rotation scheduled a period away: the sidecar's bound is
        // one window before it plus a period, later than the commitment.
        let schedule = Schedule {
            rotation_enabled: true,
            next_rotation: Some(now + days(30)),
            last_rotated: Some(now),
            period: Some(days(30)),
            window: DAY,
        };
        let (own, _) = schedule.usable_until(Overlap::RotationPeriod, now);
        assert!(active_until(now, days(30), DAY, Overlap::RotationPeriod).unwrap() <= own.unwrap());
        let week = days(7);
        // Long periods: a key replaced on schedule is deleted a period later; URLs signed before
        // an early replacement ended within a week anyway.
        assert_eq!(
            promised_after_replacement(now, days(30), DAY, Overlap::RotationPeriod, week),
            now + days(30)
        );
        // Short periods: replaced early (the first rotation, at once), the key's last URLs may
        // end `period - window` after the sidecar's schedule said, up to the longest URL.
        assert_eq!(
            promised_after_replacement(now, days(4), DAY, Overlap::RotationPeriod, week),
            now + days(7)
        );
        assert_eq!(
            promised_after_replacement(now, days(6), DAY, Overlap::RotationPeriod, week),
            now + week + READ_LAG
        );
        assert_eq!(
            promised_after_replacement(
                now,
                Duration::from_secs(4 * 3600),
                Duration::from_secs(3600),
                Overlap::RotationPeriod,
                week
            ),
            now + Duration::from_secs(7 * 3600)
        );
        assert_eq!(
            promised_after_replacement(now, days(30), DAY, Overlap::Fixed(Duration::ZERO), week),
            now
        );
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
}
