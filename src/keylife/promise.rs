//! The promise that keeps long links alive: plain functions that the sidecar and the rotation
//! function both read, so the two sides cannot drift apart.
//!
//! # The contract
//! Every key the rotator makes carries a commitment, `ActiveUntil`, written into its version: the
//! rotator never deactivates or deletes the key before that moment, and the sidecar never signs a
//! URL with it that ends later. It is an absolute time both sides read; nothing depends on when
//! the sidecar reads, on the schedule being kept, or on which reading of the schedule is right.
//!
//! A key from before the rotator (`K0`: its version has no `ActiveUntil`) is signed with while no
//! one has promised anything: URLs that end within [`UNCOMMITTED_GRACE`] (SigV4's longest URL, 7
//! days, and an hour) of the start of the sidecar's last read that saw it `AWSCURRENT` with no
//! other version `AWSPENDING`. Once a rotation has begun (a pending version exists) K0's URLs stop
//! growing. The rotator, when it makes the version that replaces K0, records in it that K0 stays
//! active until that moment plus the grace (`ReplacedKey`), and keeps that like any commitment:
//! every K0 URL began before the pending version existed.
//!
//! # Choosing `ActiveUntil`
//! Two rotations on the schedule are at least `P − W` apart ([`super::schedule`]). Under two-key
//! rotation a key made at `t` is deleted by the rotation after next: `t + 2(P − W)`; with
//! `--signing-key-overlap 0s` it is deactivated by the next: `t + (P − W)`. An IAM user holds two
//! keys, so if the key that stays beside the new one (the one it replaces, or an older one) is
//! promised past the earliest next rotation, that rotation will have to delete the new key
//! instead: then the new key is a *bridge*, committed only to `t + (P − W)`. That happens for a
//! week after a key from before the rotator is replaced, and after rotations by hand; the sidecar
//! then cannot sign from the bridge's `ActiveUntil` until it reads the next key.

use std::time::{Duration, SystemTime};

use super::schedule::Overlap;

/// How long after the last quiet read a key from before the rotator may have URLs running: SigV4's
/// longest URL (7 days) and an hour for the read itself (the sidecar reads every few minutes).
pub const UNCOMMITTED_GRACE: Duration = Duration::from_secs(7 * 86_400 + 3_600);

/// A schedule whose keys are committed for less than this right after a rotation lets the sidecar
/// sign no useful URL: the sidecar fails each read of such a secret, and the rotator refuses
/// `createSecret`.
pub const MIN_USEFUL: Duration = Duration::from_secs(15 * 60);

/// What the rotator commits to for a key it makes now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commitment {
    pub until: SystemTime,
    /// Committed only until the earliest next rotation, which must be able to delete it.
    pub bridge: bool,
}

/// The least time between two scheduled rotations, under every reading of the schedule.
fn step(period: Duration, window: Duration) -> Duration {
    period.saturating_sub(window)
}

/// How long after it is made a key is committed on this schedule (not a bridge).
pub fn committed_for(period: Duration, window: Duration, overlap: Overlap) -> Duration {
    let step = step(period, window);
    match overlap {
        Overlap::RotationPeriod => step.saturating_mul(2),
        Overlap::Fixed(_) => step,
    }
}

/// `ActiveUntil` for a key made at `now`. `stays` is the promise of the key that stays beside it
/// (`None`: no key stays, or its promise has passed).
pub fn active_until(
    now: SystemTime,
    period: Duration,
    window: Duration,
    overlap: Overlap,
    stays: Option<SystemTime>,
) -> Commitment {
    let next = now + step(period, window);
    if stays.is_some_and(|s| s > next) {
        return Commitment {
            until: next,
            bridge: true,
        };
    }
    Commitment {
        until: now + committed_for(period, window, overlap),
        bridge: false,
    }
}

/// What the rotator records for a key without a commitment that a version made `now` replaces.
pub fn replaced_uncommitted(now: SystemTime) -> SystemTime {
    now + UNCOMMITTED_GRACE
}

/// The latest end of a URL the sidecar may sign with the key of the version it read: its
/// commitment, or for a key from before the rotator, the grace after the last quiet read. `None`:
/// no quiet read yet (a rotation was already in progress), so nothing can be promised.
pub fn sidecar_bound(
    active_until: Option<SystemTime>,
    last_quiet: Option<SystemTime>,
) -> Option<SystemTime> {
    match active_until {
        Some(until) => Some(until),
        None => last_quiet.map(|q| q + UNCOMMITTED_GRACE),
    }
}

/// Why a schedule lets the sidecar sign nothing useful.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a rotation every {period} with a {window} window commits each key for only {committed} ({how}), so almost no URL could be signed; rotate less often, shorten the window (RotationRules.Duration){advice}"
)]
pub struct Useless {
    period: String,
    window: String,
    committed: String,
    how: &'static str,
    advice: &'static str,
}

/// Whether a schedule leaves time to sign: how long a key is committed right after a rotation.
pub fn usable(period: Duration, window: Duration, overlap: Overlap) -> Result<Duration, Useless> {
    let committed = committed_for(period, window, overlap);
    if committed >= MIN_USEFUL {
        return Ok(committed);
    }
    let (how, advice) = match overlap {
        Overlap::RotationPeriod => ("twice the period less the window", ""),
        Overlap::Fixed(_) => (
            "the period less the window, with --signing-key-overlap 0s",
            ", or keep the replaced key a period (--signing-key-overlap rotation-period)",
        ),
    };
    let text = |d: Duration| humantime::format_duration(d).to_string();
    Err(Useless {
        period: text(period),
        window: text(window),
        committed: text(committed),
        how,
        advice,
    })
}

/// The longest URL the sidecar can sign on a schedule in steady state: right after a rotation,
/// and at the worst moment before the next one (scheduled rotations are at most `P + W` apart,
/// the start of one window to the end of the next). The second is zero when the commitment runs
/// out before the next rotation can come.
pub fn longest_url(period: Duration, window: Duration, overlap: Overlap) -> (Duration, Duration) {
    let committed = committed_for(period, window, overlap);
    (
        committed,
        committed.saturating_sub(period.saturating_add(window)),
    )
}

/// The least share of time, in steady state, in which a URL of `length` can be signed: over the
/// longest gap between rotations (`P + W`), the part before the commitment has less than
/// `length` left. Ignores the minutes until the sidecar reads the new key.
pub fn availability(period: Duration, window: Duration, overlap: Overlap, length: Duration) -> f64 {
    let committed = committed_for(period, window, overlap);
    let gap = period.saturating_add(window).as_secs_f64();
    let usable = committed.saturating_sub(length).as_secs_f64();
    (usable / gap).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    const HOUR: u64 = 3_600;
    const DAY: u64 = 86_400;

    fn d(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + d(1_795_000_000 + secs)
    }

    /// `ActiveUntil` by schedule, overlap and what stays beside the new key: two steps of
    /// `P − W`, one without overlap, one (a bridge) when the key that stays is promised past the
    /// earliest next rotation.
    #[test]
    fn commitments() {
        use Overlap::{Fixed, RotationPeriod};
        let zero = Fixed(Duration::ZERO);
        /// (period, window, overlap, stays (seconds after now), committed for, bridge)
        type Case = (u64, u64, Overlap, Option<u64>, u64, bool);
        let cases: &[Case] = &[
            (30 * DAY, DAY, RotationPeriod, None, 58 * DAY, false),
            (30 * DAY, DAY, zero, None, 29 * DAY, false),
            (4 * DAY, DAY, RotationPeriod, Some(3 * DAY), 6 * DAY, false),
            // A key from before the rotator stays a week: the new key is a bridge.
            (
                4 * DAY,
                DAY,
                RotationPeriod,
                Some(7 * DAY + HOUR),
                3 * DAY,
                true,
            ),
            (
                2 * DAY,
                DAY,
                RotationPeriod,
                Some(7 * DAY + HOUR),
                DAY,
                true,
            ),
            (
                30 * DAY,
                DAY,
                RotationPeriod,
                Some(7 * DAY + HOUR),
                58 * DAY,
                false,
            ),
            (4 * HOUR, HOUR, RotationPeriod, None, 6 * HOUR, false),
            (4 * HOUR, HOUR, zero, Some(10 * HOUR), 3 * HOUR, true),
        ];
        for &(period, window, overlap, stays, committed, bridge) in cases {
            let now = at(0);
            let got = active_until(now, d(period), d(window), overlap, stays.map(at));
            assert_eq!(
                got,
                Commitment {
                    until: now + d(committed),
                    bridge
                },
                "{period} {window} {overlap:?} {stays:?}"
            );
        }
    }

    /// The sidecar's bound: the commitment, else the grace after the last quiet read, else none.
    #[test]
    fn sidecar_bounds() {
        assert_eq!(sidecar_bound(Some(at(5)), Some(at(0))), Some(at(5)));
        assert_eq!(
            sidecar_bound(None, Some(at(0))),
            Some(at(0) + UNCOMMITTED_GRACE)
        );
        assert_eq!(sidecar_bound(None, None), None);
        // The rotator's record for a replaced key from before it covers every URL the sidecar
        // signed with that key: its quiet reads all began before the replacement was made.
        let made = at(100);
        for quiet in [at(0), at(99), made] {
            assert!(sidecar_bound(None, Some(quiet)).unwrap() <= replaced_uncommitted(made));
        }
    }

    /// Schedules that leave no useful URL are refused, with the reason; the others say how long a
    /// key is committed.
    #[test]
    fn useful_schedules() {
        use Overlap::{Fixed, RotationPeriod};
        let zero = Fixed(Duration::ZERO);
        assert_eq!(
            usable(d(DAY), d(4 * HOUR), RotationPeriod),
            Ok(d(40 * HOUR))
        );
        assert_eq!(usable(d(4 * HOUR), d(HOUR), zero), Ok(d(3 * HOUR)));
        let err = usable(d(DAY), d(DAY), RotationPeriod)
            .unwrap_err()
            .to_string();
        assert!(err.contains("commits each key for only 0s"), "{err}");
        let err = usable(d(DAY), d(DAY), zero).unwrap_err().to_string();
        assert!(
            err.contains("--signing-key-overlap rotation-period"),
            "{err}"
        );
    }

    /// README's table of schedules is these functions' output, row by row: the longest URL
    /// right after a rotation and at the worst moment, and the least share of time in which a
    /// 1-hour URL (plus the default 1-minute margin) can be signed.
    #[test]
    fn readme_table_is_the_derivation() {
        use crate::keylife::schedule::{rotation_period, rotation_window};
        use aws_sdk_secretsmanager::types::RotationRulesType;
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let short = |d: Duration| {
            let s = d.as_secs();
            let parts = [(s / DAY, "d"), (s % DAY / HOUR, "h"), (s % HOUR / 60, "m")];
            let text: Vec<String> = parts
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, u)| format!("{n}{u}"))
                .collect();
            if text.is_empty() {
                "0s".to_string()
            } else {
                text.join(" ")
            }
        };
        let mut rows = 0;
        for line in readme
            .lines()
            .filter(|l| l.starts_with("| `rate(") || l.starts_with("| `AutomaticallyAfterDays"))
        {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            let label = cells[0].trim_matches('`');
            let mut rules = RotationRulesType::builder();
            for part in label.split(", ") {
                rules = match part.split_once(' ') {
                    Some(("AutomaticallyAfterDays", n)) => {
                        rules.automatically_after_days(n.parse().unwrap())
                    }
                    Some(("Duration", d)) => rules.duration(d),
                    _ => rules.schedule_expression(part),
                };
            }
            let rules = rules.build();
            let (period, window) = (rotation_period(&rules).unwrap(), rotation_window(&rules));
            let overlap = match cells[1] {
                "`rotation-period`" => Overlap::RotationPeriod,
                "`0s`" => Overlap::Fixed(Duration::ZERO),
                other => panic!("{other}"),
            };
            let (after, worst) = longest_url(period, window, overlap);
            let share = availability(period, window, overlap, d(HOUR + 60));
            assert_eq!(
                [cells[2], cells[3], cells[4]],
                [
                    short(after).as_str(),
                    short(worst).as_str(),
                    format!("{:.1}%", share * 100.0).as_str()
                ],
                "{line}"
            );
            rows += 1;
        }
        assert!(rows >= 8, "README's table of schedules: {rows} rows");
    }

    /// README's table: the longest URL right after a rotation and at the worst moment, and the
    /// least share of time a 1-hour URL can be signed.
    #[test]
    fn longest_urls_and_availability() {
        use Overlap::{Fixed, RotationPeriod};
        let zero = Fixed(Duration::ZERO);
        assert_eq!(
            longest_url(d(30 * DAY), d(DAY), RotationPeriod),
            (d(58 * DAY), d(27 * DAY))
        );
        assert_eq!(
            longest_url(d(2 * DAY), d(DAY), RotationPeriod),
            (d(2 * DAY), d(0))
        );
        assert_eq!(longest_url(d(7 * DAY), d(DAY), zero), (d(6 * DAY), d(0)));
        assert_eq!(
            availability(d(30 * DAY), d(DAY), RotationPeriod, d(HOUR)),
            1.0
        );
        let a = availability(d(2 * DAY), d(DAY), RotationPeriod, d(HOUR));
        assert!((a - 47.0 / 72.0).abs() < 1e-9, "{a}");
    }
}
