//! Which key `createSecret` may delete to make room for a new one: a plain function of the user's
//! keys, the secret's versions and the clock, so a table tests every case.
//!
//! An IAM user holds at most two access keys. Besides the `AWSCURRENT` key the other is, in order
//! of what we may do with it:
//! - the key of an earlier version that was once `AWSCURRENT` (normally `AWSPREVIOUS`): a sidecar
//!   may have signed URLs with it, so it is deleted only once its version's `ActiveUntil` (or, for
//!   versions older than the rotator, [`promised_after_replacement`]) has passed;
//! - the key of a version made after the current one that never became current (a rotation
//!   abandoned before `finishSecret`), or a key in no version made after the current version (a
//!   `createSecret` interrupted between `CreateAccessKey` and `PutSecretValue`): no sidecar ever
//!   read it, so it goes;
//! - a key in no version, older than the current version: made outside the rotation, by someone
//!   for something we cannot know. It is never deleted; the rotation fails and says so.
//!
//! With `--signing-key-overlap 0s` `finishSecret` deactivates the `AWSCURRENT` key itself, so the
//! rotation is refused too until that key's `ActiveUntil` has passed.

use std::time::{Duration, SystemTime};

use crate::clock;
use crate::presign::SIGV4_MAX_EXPIRES_IN;
use crate::tracked::schedule::{Overlap, promised_after_replacement};

/// The stage Secrets Manager gives the version `AWSCURRENT` was moved from.
const PREVIOUS: &str = "AWSPREVIOUS";

/// One of the user's access keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub id: String,
    pub created: Option<SystemTime>,
}

/// One version of the secret, as far as the rotation needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub id: String,
    pub stages: Vec<String>,
    pub created: Option<SystemTime>,
    /// The key its value holds (unknown when the value could not be read).
    pub key_id: Option<String>,
    /// Its `ActiveUntil`.
    pub active_until: Option<SystemTime>,
}

/// What `createSecret` does before creating the new key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retire {
    /// The user has room for another key.
    Nothing,
    /// Delete this key first; `why` goes into the step's log line.
    Delete { key: String, why: String },
}

/// Why the rotation may not make room: each says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the user's other key {key} (version {version}) may have signed URLs that sessionguard promised until {until}: deleting it now would break them. This rotation came before the schedule allows (a rotation started by hand, or a changed schedule); run it again after {until}, or delete the key by hand if breaking those URLs is acceptable (aws iam delete-access-key --user-name {user} --access-key-id {key})"
    )]
    Promised {
        key: String,
        version: String,
        until: String,
        user: String,
    },
    #[error(
        "the AWSCURRENT key {key} (version {version}) may have signed URLs that sessionguard promised until {until}, and with --signing-key-overlap 0s finishing this rotation would deactivate it and break them. This rotation came before the schedule allows (a rotation started by hand, or a changed schedule); run it again after {until}"
    )]
    CurrentPromised {
        key: String,
        version: String,
        until: String,
    },
    #[error(
        "the user {user} already has two keys and {key} is in no version of the secret: it was made outside this rotation and may be in use elsewhere, so it is not deleted. Delete it yourself if nothing uses it (aws iam delete-access-key --user-name {user} --access-key-id {key}), then retry"
    )]
    Foreign { key: String, user: String },
    #[error(
        "the AWSCURRENT key {key} is not a key of the IAM user {user} (keys: {keys}): the secret and the user disagree; fix the secret's UserName or value"
    )]
    CurrentNotOfUser {
        key: String,
        user: String,
        keys: String,
    },
}

/// The secret's schedule and the overlap, as the promise is computed from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    pub period: Duration,
    /// How long before its date a rotation may come.
    pub window: Duration,
    pub overlap: Overlap,
    /// `NextRotationDate` as `DescribeSecret` tells it now (the end of the next window).
    pub next_rotation: Option<SystemTime>,
}

/// The decision. `current` is the `AWSCURRENT` version.
pub fn retire(
    user: &str,
    keys: &[Key],
    current: &Version,
    versions: &[Version],
    now: SystemTime,
    rules: Rules,
) -> Result<Retire, Refusal> {
    let current_key = current_key(user, keys, current, now, rules)?;
    // IAM allows two keys: with one, there is room.
    match keys.iter().find(|k| k.id != current_key) {
        None => Ok(Retire::Nothing),
        Some(other) => retire_other(user, other, current, versions, now, rules),
    }
}

/// The `AWSCURRENT` key, once it is the user's and this rotation keeps its promise.
fn current_key<'a>(
    user: &str,
    keys: &[Key],
    current: &'a Version,
    now: SystemTime,
    rules: Rules,
) -> Result<&'a str, Refusal> {
    let current_key = current.key_id.as_deref().unwrap_or_default();
    if !keys.iter().any(|k| k.id == current_key) {
        return Err(Refusal::CurrentNotOfUser {
            key: current_key.to_string(),
            user: user.to_string(),
            keys: keys
                .iter()
                .map(|k| k.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    // Without overlap the current key is deactivated when this rotation finishes. A key from
    // before the rotator has no ActiveUntil: the sidecar bounded it by the start of the next
    // rotation's window (NextRotationDate minus the window), so a rotation before that is refused.
    let promised = current.active_until.or_else(|| {
        rules
            .next_rotation
            .and_then(|n| n.checked_sub(rules.window))
    });
    if rules.overlap.is_zero()
        && let Some(until) = promised
        && now < until
    {
        return Err(Refusal::CurrentPromised {
            key: current_key.to_string(),
            version: current.id.clone(),
            until: clock::rfc3339(until),
        });
    }
    Ok(current_key)
}

/// What may be done with the user's other key, `other`, by the version that holds it.
fn retire_other(
    user: &str,
    other: &Key,
    current: &Version,
    versions: &[Version],
    now: SystemTime,
    rules: Rules,
) -> Result<Retire, Refusal> {
    // Strictly after: a tie proves nothing, and a key is deleted only when the facts prove no
    // sidecar signed with it.
    let after_current = |t: Option<SystemTime>| match (t, current.created) {
        (Some(t), Some(c)) => t > c,
        _ => false,
    };
    let holder = versions
        .iter()
        .filter(|v| v.id != current.id && v.key_id.as_deref() == Some(other.id.as_str()))
        .min_by_key(|v| v.created);
    let Some(version) = holder else {
        if after_current(other.created) {
            return Ok(Retire::Delete {
                key: other.id.clone(),
                why: "left by an interrupted createSecret: in no version, made after the current one, so no sidecar read it".into(),
            });
        }
        return Err(Refusal::Foreign {
            key: other.id.clone(),
            user: user.to_string(),
        });
    };
    // A version labelled AWSPREVIOUS was AWSCURRENT once, whatever its date says.
    let was_current = version.stages.iter().any(|s| s == PREVIOUS);
    if !was_current && after_current(version.created) {
        return Ok(Retire::Delete {
            key: other.id.clone(),
            why: format!(
                "its version {} was made after the current one and never became AWSCURRENT (an abandoned rotation), so no sidecar signed with it",
                version.id
            ),
        });
    }
    let until = promised_until(version, current, rules);
    if now < until {
        return Err(Refusal::Promised {
            key: other.id.clone(),
            version: version.id.clone(),
            until: clock::rfc3339(until),
            user: user.to_string(),
        });
    }
    Ok(Retire::Delete {
        key: other.id.clone(),
        why: format!(
            "the key of version {} was promised until {}, which has passed",
            version.id,
            clock::rfc3339(until)
        ),
    })
}

/// Until when URLs signed with the key of `version`, once `AWSCURRENT` and replaced by `current`,
/// may have been promised.
fn promised_until(version: &Version, current: &Version, rules: Rules) -> SystemTime {
    let Rules {
        period,
        window,
        overlap,
        ..
    } = rules;
    match (version.active_until, current.created) {
        (Some(until), _) => until,
        (None, Some(replaced_at)) => {
            promised_after_replacement(replaced_at, period, window, overlap, SIGV4_MAX_EXPIRES_IN)
        }
        // Nothing says when it was replaced: promised as long as anything could be.
        (None, None) => SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_799),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    const DAY: u64 = 86_400;

    fn at(days: u64) -> Option<SystemTime> {
        Some(UNIX_EPOCH + Duration::from_secs(1_795_000_000 + days * DAY))
    }

    fn key(id: &str, created: u64) -> Key {
        Key {
            id: id.into(),
            created: at(created),
        }
    }

    /// `period`, with the default window of day schedules.
    fn rules(period: Duration, overlap: Overlap) -> Rules {
        Rules {
            period,
            window: Duration::from_secs(DAY),
            overlap,
            next_rotation: None,
        }
    }

    fn version(id: &str, stage: &str, created: u64, key: &str, until: Option<u64>) -> Version {
        Version {
            id: id.into(),
            stages: if stage.is_empty() {
                vec![]
            } else {
                vec![stage.into()]
            },
            created: at(created),
            key_id: Some(key.into()),
            active_until: until.and_then(at),
        }
    }

    /// Every case of the module doc, on a 30-day schedule.
    #[test]
    fn what_may_be_deleted() {
        let period = Duration::from_secs(30 * DAY);
        let current = version("v2", "AWSCURRENT", 30, "K2", Some(88));
        let previous = version("v1", "AWSPREVIOUS", 0, "K1", Some(58));
        let versions = vec![current.clone(), previous.clone()];
        let run = |keys: &[Key], versions: &[Version], now: u64| {
            retire(
                "presigner",
                keys,
                &current,
                versions,
                at(now).unwrap(),
                rules(period, Overlap::RotationPeriod),
            )
        };
        let two = [key("K1", 0), key("K2", 30)];

        // Room for a key: nothing to delete.
        assert_eq!(run(&[key("K2", 30)], &versions, 60), Ok(Retire::Nothing));
        // On schedule: the previous key's promise has passed.
        assert!(matches!(
            run(&two, &versions, 58),
            Ok(Retire::Delete { key, .. }) if key == "K1"
        ));
        // Early (by hand): refused, naming the key and the moment.
        match run(&two, &versions, 40) {
            Err(Refusal::Promised { key, until, .. }) => {
                assert_eq!(key, "K1");
                assert_eq!(until, clock::rfc3339(at(58).unwrap()));
            }
            other => panic!("{other:?}"),
        }
        // A version from before the rotator: its replacement's time plus a period.
        let old = version("v1", "AWSPREVIOUS", 0, "K1", None);
        assert!(matches!(
            run(&two, &[current.clone(), old.clone()], 59),
            Err(Refusal::Promised { .. })
        ));
        assert!(matches!(
            run(&two, &[current.clone(), old], 60),
            Ok(Retire::Delete { .. })
        ));
        // An abandoned pending version, made after the current one: never signed with.
        let abandoned = version("v3", "", 31, "K3", Some(89));
        assert!(matches!(
            run(&[key("K2", 30), key("K3", 31)], &[current.clone(), abandoned], 31),
            Ok(Retire::Delete { key, .. }) if key == "K3"
        ));
        // A key in no version made after the current one: an interrupted createSecret.
        assert!(matches!(
            run(&[key("K2", 30), key("K9", 31)], &versions, 31),
            Ok(Retire::Delete { key, .. }) if key == "K9"
        ));
        // A key in no version, older: made outside the rotation, never deleted.
        assert!(matches!(
            run(&[key("K0", 1), key("K2", 30)], &versions, 100),
            Err(Refusal::Foreign { key, .. }) if key == "K0"
        ));
        // The current key is not the user's.
        assert!(matches!(
            run(&[key("K1", 0)], &versions, 60),
            Err(Refusal::CurrentNotOfUser { .. })
        ));
    }

    /// A version from before the rotator replaced by an early first rotation, on a 4-day
    /// schedule (window a day): the sidecar read `NextRotationDate` up to 4 days after the
    /// replacement and bounded the key by it minus the window plus a period, so its URLs may last
    /// 7 days after the replacement; not 4.
    #[test]
    fn a_key_replaced_early_keeps_its_urls() {
        let period = Duration::from_secs(4 * DAY);
        let current = version("v2", "AWSCURRENT", 30, "K2", Some(36));
        let old = version("v1", "AWSPREVIOUS", 0, "K1", None);
        let run = |now: u64| {
            retire(
                "presigner",
                &[key("K1", 0), key("K2", 30)],
                &current,
                &[current.clone(), old.clone()],
                at(now).unwrap(),
                rules(period, Overlap::RotationPeriod),
            )
        };
        for now in [34, 36] {
            match run(now) {
                Err(Refusal::Promised { key, until, .. }) => {
                    assert_eq!(key, "K1");
                    assert_eq!(until, clock::rfc3339(at(37).unwrap()));
                }
                other => panic!("day {now}: {other:?}"),
            }
        }
        assert!(matches!(run(37), Ok(Retire::Delete { key, .. }) if key == "K1"));
    }

    /// A version labelled `AWSPREVIOUS` was `AWSCURRENT` once: a sidecar may have signed with its
    /// key, so it is held to its promise even when its `CreatedDate` equals (or follows) the
    /// current version's; and a key in no version made in the same second as the current version is
    /// not proven unused either. Both were deleted as "abandoned" before (issue 26, G).
    #[test]
    fn a_tie_or_a_previous_stage_is_never_abandoned() {
        let period = Duration::from_secs(30 * DAY);
        let current = version("v2", "AWSCURRENT", 30, "K2", Some(88));
        let run = |keys: &[Key], versions: &[Version], now: u64| {
            retire(
                "presigner",
                keys,
                &current,
                versions,
                at(now).unwrap(),
                rules(period, Overlap::RotationPeriod),
            )
        };
        let two = [key("K1", 30), key("K2", 30)];
        for created in [30, 31] {
            let previous = version("v1", "AWSPREVIOUS", created, "K1", Some(60));
            assert!(
                matches!(
                    run(&two, &[current.clone(), previous], 40),
                    Err(Refusal::Promised { key, .. }) if key == "K1"
                ),
                "AWSPREVIOUS made on day {created}"
            );
        }
        let tie = version("v3", "", 30, "K1", Some(88));
        assert!(matches!(
            run(&two, &[current.clone(), tie], 40),
            Err(Refusal::Promised { .. })
        ));
        assert!(matches!(
            run(&two, std::slice::from_ref(&current), 40),
            Err(Refusal::Foreign { key, .. }) if key == "K1"
        ));
    }

    /// `--signing-key-overlap 0s` with a current key from before the rotator (no `ActiveUntil`):
    /// the sidecar bounded it by the start of the next window (`NextRotationDate` minus the window),
    /// so a rotation by hand before then is refused (finishing it would deactivate the key and
    /// break those URLs); one in the window goes ahead (issue 26, A).
    #[test]
    fn without_overlap_a_key_from_before_the_rotator_is_kept_until_the_window() {
        let period = Duration::from_secs(4 * DAY);
        let current = version("v1", "AWSCURRENT", 0, "K0", None);
        let run = |now: u64| {
            retire(
                "presigner",
                &[key("K0", 0)],
                &current,
                std::slice::from_ref(&current),
                at(now).unwrap(),
                Rules {
                    next_rotation: at(4),
                    ..rules(period, Overlap::Fixed(Duration::ZERO))
                },
            )
        };
        for now in [0, 2] {
            match run(now) {
                Err(Refusal::CurrentPromised { key, until, .. }) => {
                    assert_eq!(key, "K0");
                    assert_eq!(until, clock::rfc3339(at(3).unwrap()));
                }
                other => panic!("day {now}: {other:?}"),
            }
        }
        assert_eq!(run(3), Ok(Retire::Nothing));
    }

    /// `--signing-key-overlap 0s`: finishing deactivates the current key, so an early rotation is
    /// refused even when there is room, naming the current key and its `ActiveUntil`.
    #[test]
    fn without_overlap_the_current_key_is_kept_until_its_promise() {
        let period = Duration::from_secs(30 * DAY);
        let current = version("v2", "AWSCURRENT", 30, "K2", Some(59));
        let previous = version("v1", "AWSPREVIOUS", 0, "K1", Some(29));
        let versions = [current.clone(), previous];
        let run = |keys: &[Key], now: u64| {
            retire(
                "presigner",
                keys,
                &current,
                &versions,
                at(now).unwrap(),
                rules(period, Overlap::Fixed(Duration::ZERO)),
            )
        };
        let two = [key("K1", 0), key("K2", 30)];
        for keys in [&two[..], &two[1..]] {
            match run(keys, 40) {
                Err(Refusal::CurrentPromised { key, until, .. }) => {
                    assert_eq!(key, "K2");
                    assert_eq!(until, clock::rfc3339(at(59).unwrap()));
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(run(&two, 59), Ok(Retire::Delete { key, .. }) if key == "K1"));
        assert_eq!(run(&two[1..], 59), Ok(Retire::Nothing));
    }
}
