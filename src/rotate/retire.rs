//! How `createSecret` makes room for a new key: a plain function of the user's keys, the secret's
//! versions and the clock, so a table tests every case.
//!
//! An IAM user holds at most two access keys. Besides the `AWSCURRENT` key the other is, in order
//! of what we may do with it:
//! - the key of an earlier version that was once `AWSCURRENT` (normally `AWSPREVIOUS`): a sidecar
//!   may have signed URLs with it, so it is deleted only once its promise has passed: its version's
//!   `ActiveUntil`, else the `ReplacedKey` commitment recorded when it was replaced, else (a secret
//!   rotated before those existed) the current version's date plus [`UNCOMMITTED_GRACE`];
//! - the key of a version made strictly after the current one that is not `AWSPREVIOUS` (a rotation
//!   abandoned before `finishSecret`), or a key in no version made strictly after the current
//!   version (a `createSecret` interrupted between `CreateAccessKey` and `PutSecretValue`): no
//!   sidecar ever read it, so it goes. A tie proves nothing;
//! - a key in no version, older than the current version: made outside the rotation, by someone
//!   for something we cannot know. It is never deleted; the rotation fails and says so.
//!
//! When the other key is still promised, the current key may go instead once its own
//! `ActiveUntil` has passed (no URL signed with it is left: it was a bridge, see
//! [`crate::keylife::promise`]); otherwise the rotation is refused. The key that stays beside the
//! new one, and its promise, decide the new key's commitment.

use std::time::{Duration, SystemTime};

use super::PREVIOUS;
use crate::clock;
use crate::keylife::promise::{UNCOMMITTED_GRACE, replaced_uncommitted};

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
    /// Its `ReplacedKey`: the commitment for the key from before the rotator it replaced.
    pub replaced: Option<(String, SystemTime)>,
}

/// What `createSecret` does before creating the new key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// The key to delete first, and why (for the step's log line).
    pub delete: Option<(String, String)>,
    /// The promise of the key that stays beside the new one, while it is ahead.
    pub stays: Option<SystemTime>,
    /// The current key has no commitment (it is from before the rotator): the one to record in
    /// the new version as `ReplacedKey`.
    pub record: Option<(String, SystemTime)>,
}

/// Why the rotation may not make room: each says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the user's other key {key} (version {version}) may have signed URLs that sessionguard promised until {until}, and the AWSCURRENT key is promised too: deleting either now would break URLs. This rotation came before the schedule allows (a rotation started by hand, or a changed schedule); run it again after {until}, or delete the key by hand if breaking those URLs is acceptable (aws iam delete-access-key --user-name {user} --access-key-id {key})"
    )]
    Promised {
        key: String,
        version: String,
        until: String,
        user: String,
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

/// The decision. `current` is the `AWSCURRENT` version.
pub fn make_room(
    user: &str,
    keys: &[Key],
    current: &Version,
    versions: &[Version],
    now: SystemTime,
) -> Result<Room, Refusal> {
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
    // A current key from before the rotator is promised from now on: recorded in the new version.
    let record = match current.active_until {
        Some(_) => None,
        None => Some((current_key.to_string(), replaced_uncommitted(now))),
    };
    let current_promise = current.active_until.or(record.as_ref().map(|r| r.1));
    let ahead = |t: Option<SystemTime>| t.filter(|t| *t > now);
    let Some(other) = keys.iter().find(|k| k.id != current_key) else {
        return Ok(Room {
            delete: None,
            stays: ahead(current_promise),
            record,
        });
    };
    let delete_other = |why: String| Room {
        delete: Some((other.id.clone(), why)),
        stays: ahead(current_promise),
        record: record.clone(),
    };
    let (version, until) = match judge_other(user, other, current, versions)? {
        Other::Unread(why) => return Ok(delete_other(why)),
        Other::Promised { version, until } => (version, until),
    };
    if until <= now {
        return Ok(delete_other(format!(
            "the key of version {version} was promised until {}, which has passed",
            clock::rfc3339(until)
        )));
    }
    // The other key is still promised: the current key goes instead, once its own promise is over.
    if let Some(current_until) = current.active_until
        && current_until <= now
    {
        return Ok(Room {
            delete: Some((
                current_key.to_string(),
                format!(
                    "the AWSCURRENT key was promised until {}, which has passed, while the other key {} is promised until {}",
                    clock::rfc3339(current_until),
                    other.id,
                    clock::rfc3339(until)
                ),
            )),
            stays: Some(until),
            record: None,
        });
    }
    Err(Refusal::Promised {
        key: other.id.clone(),
        version,
        until: clock::rfc3339(until),
        user: user.to_string(),
    })
}

/// What the user's other key is to us.
enum Other {
    /// No sidecar can have read it: it may go, for this reason.
    Unread(String),
    /// A sidecar may have signed with it, until then.
    Promised { version: String, until: SystemTime },
}

/// Judges the user's other key, `other`, by the version that holds it.
fn judge_other(
    user: &str,
    other: &Key,
    current: &Version,
    versions: &[Version],
) -> Result<Other, Refusal> {
    // Strictly after: a key is deleted only when the facts prove no sidecar signed with it.
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
            return Ok(Other::Unread("left by an interrupted createSecret: in no version, made after the current one, so no sidecar read it".into()));
        }
        return Err(Refusal::Foreign {
            key: other.id.clone(),
            user: user.to_string(),
        });
    };
    // A version labelled AWSPREVIOUS was AWSCURRENT once, whatever its date says.
    let was_current = version.stages.iter().any(|s| s == PREVIOUS);
    if !was_current && after_current(version.created) {
        return Ok(Other::Unread(format!(
            "its version {} was made after the current one and never became AWSCURRENT (an abandoned rotation), so no sidecar signed with it",
            version.id
        )));
    }
    Ok(Other::Promised {
        version: version.id.clone(),
        until: promised_until(&other.id, version, current, versions),
    })
}

/// Until when URLs signed with `key`, held by `version`, may run: its `ActiveUntil`, else the
/// latest `ReplacedKey` commitment recorded for it, else (replaced before those were recorded) the
/// grace after the current version was made, which was after the key stopped being current.
fn promised_until(
    key: &str,
    version: &Version,
    current: &Version,
    versions: &[Version],
) -> SystemTime {
    if let Some(until) = version.active_until {
        return until;
    }
    let recorded = versions
        .iter()
        .filter_map(|v| v.replaced.as_ref())
        .filter(|(k, _)| k == key)
        .map(|(_, until)| *until)
        .max();
    recorded
        .or_else(|| current.created.map(|c| c + UNCOMMITTED_GRACE))
        // Nothing says when it was replaced: promised as long as anything could be.
        .unwrap_or(SystemTime::UNIX_EPOCH + Duration::from_secs(clock::LAST_WRITABLE_SECOND as u64))
}

#[cfg(test)]
mod tests;
