//! What a step did, as a value. It is logged as one `rotation step done` line: `outcome` names
//! what happened, one field per fact (`created_key`, `deleted_key`, `version_id`, ...; key ids
//! masked, never a secret) and `summary` says it in a sentence.

use std::fmt;
use std::time::SystemTime;

use crate::clock;

/// What a step did. Key ids are masked when the outcome is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The token's version is `AWSCURRENT` already (a step retried after `finishSecret`);
    /// with `--signing-key-overlap 0s`, a retried `finishSecret` also settles the previous key.
    AlreadyCurrent {
        version: String,
        previous: Option<Retired>,
    },
    /// A retried `createSecret`: the token's version holds a key already.
    AlreadyCreated {
        version: String,
        key: String,
    },
    /// `setSecret`: IAM already holds the key.
    NothingToSet,
    Created(Created),
    /// `testSecret`: the pending key signs as the user.
    Tested {
        key: String,
        signs_as: String,
    },
    /// `finishSecret`: the pending key is `AWSCURRENT`, `previous_version` is `AWSPREVIOUS`.
    Finished {
        key: String,
        previous_version: String,
        replaced: Option<Retired>,
    },
}

/// `createSecret` made a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub user: String,
    pub key: String,
    /// Its `ActiveUntil`.
    pub active_until: SystemTime,
    /// Whether it is a bridge: the key beside it is promised past the next rotation.
    pub bridge: bool,
    /// The key from before the rotator it replaces, and the `ReplacedKey` commitment recorded.
    pub replaced: Option<(String, String)>,
    /// The key deleted to make room.
    pub deleted: Option<String>,
}

/// With `--signing-key-overlap 0s`, what became of the key `AWSCURRENT` moved from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retired {
    /// Its promise was over: inactive now.
    Deactivated(String),
    /// Still promised (a rotation by hand): active until then.
    Promised(String, SystemTime),
    /// From before the rotation function: active until its recorded promise.
    FromBeforeRotator(String),
    /// A retried `finishSecret` found no `AWSPREVIOUS` version.
    NoPrevious,
}

/// The log line's fields of an outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(test, derive(serde::Serialize))]
pub struct Fields {
    #[cfg_attr(test, serde(skip))]
    pub outcome: &'static str,
    pub version_id: Option<String>,
    pub user: Option<String>,
    pub created_key: Option<String>,
    pub active_until: Option<String>,
    pub bridge: Option<bool>,
    pub replaced_key: Option<String>,
    pub replaced_active_until: Option<String>,
    pub deleted_key: Option<String>,
    pub tested_key: Option<String>,
    pub signs_as: Option<String>,
    pub current_key: Option<String>,
    pub previous_version_id: Option<String>,
    pub deactivated_key: Option<String>,
    pub kept_key: Option<String>,
    pub kept_until: Option<String>,
}

#[cfg(test)]
impl Fields {
    /// The names of the fields it fills (besides `outcome`), as serde names them.
    pub(super) fn filled(&self) -> Vec<String> {
        let json = serde_json::to_value(self).unwrap();
        let object = json.as_object().unwrap();
        object
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, _)| k.clone())
            .collect()
    }
}

impl Outcome {
    /// The log line's fields.
    pub fn fields(&self) -> Fields {
        let mut f = match self {
            Outcome::AlreadyCurrent { version, .. } => Fields {
                outcome: "already_current",
                version_id: Some(version.clone()),
                ..Fields::default()
            },
            Outcome::AlreadyCreated { version, key } => Fields {
                outcome: "already_created",
                version_id: Some(version.clone()),
                created_key: Some(key.clone()),
                ..Fields::default()
            },
            Outcome::NothingToSet => Fields {
                outcome: "nothing_to_set",
                ..Fields::default()
            },
            Outcome::Created(c) => Fields {
                outcome: "created",
                user: Some(c.user.clone()),
                created_key: Some(c.key.clone()),
                active_until: Some(clock::rfc3339(c.active_until)),
                bridge: Some(c.bridge),
                replaced_key: c.replaced.as_ref().map(|r| r.0.clone()),
                replaced_active_until: c.replaced.as_ref().map(|r| r.1.clone()),
                deleted_key: c.deleted.clone(),
                ..Fields::default()
            },
            Outcome::Tested { key, signs_as } => Fields {
                outcome: "tested",
                tested_key: Some(key.clone()),
                signs_as: Some(signs_as.clone()),
                ..Fields::default()
            },
            Outcome::Finished {
                key,
                previous_version,
                ..
            } => Fields {
                outcome: "finished",
                current_key: Some(key.clone()),
                previous_version_id: Some(previous_version.clone()),
                ..Fields::default()
            },
        };
        let retired = match self {
            Outcome::AlreadyCurrent { previous, .. } => previous.as_ref(),
            Outcome::Finished { replaced, .. } => replaced.as_ref(),
            _ => None,
        };
        match retired {
            Some(Retired::Deactivated(key)) => f.deactivated_key = Some(key.clone()),
            Some(Retired::Promised(key, until)) => {
                f.kept_key = Some(key.clone());
                f.kept_until = Some(clock::rfc3339(*until));
            }
            Some(Retired::FromBeforeRotator(key)) => f.kept_key = Some(key.clone()),
            Some(Retired::NoPrevious) | None => {}
        }
        f
    }
}

impl fmt::Display for Outcome {
    /// The `summary`: what happened, in a sentence.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::AlreadyCurrent { version, previous } => {
                write!(f, "version {version} is already AWSCURRENT")?;
                match previous {
                    None => write!(f, ": nothing to do"),
                    Some(retired) => write!(f, "{retired}"),
                }
            }
            Outcome::AlreadyCreated { version, key } => {
                write!(f, "version {version} already holds key {key}")
            }
            Outcome::NothingToSet => write!(f, "nothing to set: IAM already holds the key"),
            Outcome::Created(c) => write!(f, "{c}"),
            Outcome::Tested { key, signs_as } => {
                write!(f, "the pending key {key} signs as {signs_as}")
            }
            Outcome::Finished {
                key,
                previous_version,
                replaced,
            } => {
                write!(
                    f,
                    "key {key} is AWSCURRENT; version {previous_version} is AWSPREVIOUS"
                )?;
                match replaced {
                    Some(retired) => write!(f, "{retired}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl fmt::Display for Created {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "created key {} for {} as AWSPENDING, active until at least {}",
            self.key,
            self.user,
            clock::rfc3339(self.active_until)
        )?;
        if self.bridge {
            write!(
                f,
                " (a bridge: the key beside it is promised past the next rotation)"
            )?;
        }
        if let Some((key, until)) = &self.replaced {
            write!(f, "; the replaced key {key} stays active until {until}")?;
        }
        if let Some(key) = &self.deleted {
            write!(f, "; deleted {key}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Retired {
    /// A clause after the step's sentence.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Retired::Deactivated(key) => write!(
                f,
                "; deactivated the replaced key {key} (--signing-key-overlap 0s)"
            ),
            Retired::Promised(key, until) => write!(
                f,
                "; the replaced key {key} stays active until {}, its promise (--signing-key-overlap 0s)",
                clock::rfc3339(*until)
            ),
            Retired::FromBeforeRotator(key) => write!(
                f,
                "; the replaced key {key}, from before the rotation function, stays active until its recorded promise"
            ),
            Retired::NoPrevious => write!(f, "; no AWSPREVIOUS key to deactivate"),
        }
    }
}

/// Every outcome, with every way it can end (each [`Retired`], and none), for the tests of the
/// fields and of the line. The matches have no wildcard: a new variant does not compile until it
/// is listed here, and so until README's table and the line have it.
#[cfg(test)]
pub(super) fn examples() -> Vec<Outcome> {
    use examples::*;
    let endings = || {
        let all = [
            Retired::Deactivated(OLD.into()),
            Retired::Promised(OLD.into(), at(KEPT_UNTIL)),
            Retired::FromBeforeRotator(OLD.into()),
            Retired::NoPrevious,
        ];
        for r in &all {
            match r {
                Retired::Deactivated(_)
                | Retired::Promised(..)
                | Retired::FromBeforeRotator(_)
                | Retired::NoPrevious => {}
            }
        }
        std::iter::once(None).chain(all.into_iter().map(Some))
    };
    let created = |replaced, deleted| {
        Outcome::Created(Created {
            user: "presigner".into(),
            key: NEW.into(),
            active_until: at(MADE_UNTIL),
            bridge: true,
            replaced,
            deleted,
        })
    };
    let mut all = vec![
        Outcome::NothingToSet,
        Outcome::AlreadyCreated {
            version: "v2".into(),
            key: NEW.into(),
        },
        Outcome::Tested {
            key: NEW.into(),
            signs_as: ARN.into(),
        },
        created(None, None),
        created(Some((OLD.into(), REPLACED_UNTIL.into())), Some(GONE.into())),
    ];
    all.extend(endings().map(|replaced| Outcome::Finished {
        key: NEW.into(),
        previous_version: "v1".into(),
        replaced,
    }));
    all.extend(endings().map(|previous| Outcome::AlreadyCurrent {
        version: "v2".into(),
        previous,
    }));
    for o in &all {
        match o {
            Outcome::AlreadyCurrent { .. }
            | Outcome::AlreadyCreated { .. }
            | Outcome::NothingToSet
            | Outcome::Created(_)
            | Outcome::Tested { .. }
            | Outcome::Finished { .. } => {}
        }
    }
    all
}

/// The values of [`examples`]: masked keys, and three distinct moments, so that no two fields
/// can be swapped unseen.
#[cfg(test)]
pub(super) mod examples {
    use std::time::{Duration, SystemTime};

    pub const NEW: &str = "AKIA...NEW1";
    pub const OLD: &str = "AKIA...OLD0";
    pub const GONE: &str = "AKIA...GONE";
    pub const ARN: &str = "arn:aws:iam::123456789012:user/presigner";
    /// 2027-01-15T08:00:00Z.
    pub const MADE_UNTIL: u64 = 1_800_000_000;
    /// 2027-01-15T09:00:00Z.
    pub const KEPT_UNTIL: u64 = 1_800_003_600;
    pub const REPLACED_UNTIL: &str = "2027-01-22T09:00:00Z";

    pub fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::examples::*;
    use super::*;

    /// Each outcome's `outcome` and the fields it fills; every other field is absent from the line.
    #[test]
    fn each_outcome_gives_its_fields() {
        let created = Outcome::Created(Created {
            user: "presigner".into(),
            key: NEW.into(),
            active_until: at(MADE_UNTIL),
            bridge: true,
            replaced: Some((OLD.into(), REPLACED_UNTIL.into())),
            deleted: Some(GONE.into()),
        });
        assert_eq!(
            created.fields(),
            Fields {
                outcome: "created",
                user: Some("presigner".into()),
                created_key: Some(NEW.into()),
                active_until: Some("2027-01-15T08:00:00Z".into()),
                bridge: Some(true),
                replaced_key: Some(OLD.into()),
                replaced_active_until: Some(REPLACED_UNTIL.into()),
                deleted_key: Some(GONE.into()),
                ..Fields::default()
            }
        );
        assert_eq!(
            created.to_string(),
            "created key AKIA...NEW1 for presigner as AWSPENDING, active until at least 2027-01-15T08:00:00Z (a bridge: the key beside it is promised past the next rotation); the replaced key AKIA...OLD0 stays active until 2027-01-22T09:00:00Z; deleted AKIA...GONE"
        );
        let finished = Outcome::Finished {
            key: NEW.into(),
            previous_version: "v1".into(),
            replaced: Some(Retired::Promised(OLD.into(), at(KEPT_UNTIL))),
        };
        assert_eq!(
            finished.fields(),
            Fields {
                outcome: "finished",
                current_key: Some(NEW.into()),
                previous_version_id: Some("v1".into()),
                kept_key: Some(OLD.into()),
                kept_until: Some("2027-01-15T09:00:00Z".into()),
                ..Fields::default()
            }
        );
        let retried = Outcome::AlreadyCurrent {
            version: "v2".into(),
            previous: Some(Retired::Deactivated(OLD.into())),
        };
        let want = Fields {
            outcome: "already_current",
            version_id: Some("v2".into()),
            deactivated_key: Some(OLD.into()),
            ..Fields::default()
        };
        assert_eq!(retried.fields(), want);
        assert_eq!(
            retried.to_string(),
            "version v2 is already AWSCURRENT; deactivated the replaced key AKIA...OLD0 (--signing-key-overlap 0s)"
        );
        let tested = Outcome::Tested {
            key: NEW.into(),
            signs_as: ARN.into(),
        };
        let want = Fields {
            outcome: "tested",
            tested_key: Some(NEW.into()),
            signs_as: Some(ARN.into()),
            ..Fields::default()
        };
        assert_eq!(tested.fields(), want);
    }

    /// README's table of outcomes has one row per `outcome`, listing exactly the fields it can
    /// fill.
    #[test]
    fn readme_lists_each_outcome_and_its_fields() {
        use std::collections::{BTreeMap, BTreeSet};
        let mut want: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for outcome in examples() {
            let fields = outcome.fields();
            want.entry(fields.outcome)
                .or_default()
                .extend(fields.filled());
        }
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let table = readme
            .split("| `outcome` | when | fields |")
            .nth(1)
            .expect("README's table of outcomes");
        let mut got: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for row in table.lines().skip(2).take_while(|l| l.starts_with('|')) {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let kind = cells[1].trim_matches('`');
            let names = cells[3]
                .split('`')
                .skip(1)
                .step_by(2)
                .filter(|w| {
                    w.starts_with(|c: char| c.is_ascii_lowercase())
                        && w.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                })
                .map(str::to_string);
            assert!(
                got.insert(kind, names.collect()).is_none(),
                "README lists {kind} twice"
            );
        }
        assert_eq!(got, want);
    }
}
