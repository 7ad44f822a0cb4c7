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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// 2027-01-15T08:00:00Z, and two other moments, so that no two time fields can be swapped
    /// unseen.
    const MADE_UNTIL: u64 = 1_800_000_000;
    const KEPT_UNTIL: u64 = 1_800_003_600;

    /// Each outcome's `outcome` and the fields it fills; every other field is absent from the line.
    #[test]
    fn each_outcome_gives_its_fields() {
        let created = Outcome::Created(Created {
            user: "presigner".into(),
            key: "AKIA...NEW1".into(),
            active_until: at(MADE_UNTIL),
            bridge: true,
            replaced: Some(("AKIA...OLD0".into(), "2027-01-22T09:00:00Z".into())),
            deleted: Some("AKIA...GONE".into()),
        });
        assert_eq!(
            created.fields(),
            Fields {
                outcome: "created",
                user: Some("presigner".into()),
                created_key: Some("AKIA...NEW1".into()),
                active_until: Some("2027-01-15T08:00:00Z".into()),
                bridge: Some(true),
                replaced_key: Some("AKIA...OLD0".into()),
                replaced_active_until: Some("2027-01-22T09:00:00Z".into()),
                deleted_key: Some("AKIA...GONE".into()),
                ..Fields::default()
            }
        );
        assert_eq!(
            created.to_string(),
            "created key AKIA...NEW1 for presigner as AWSPENDING, active until at least 2027-01-15T08:00:00Z (a bridge: the key beside it is promised past the next rotation); the replaced key AKIA...OLD0 stays active until 2027-01-22T09:00:00Z; deleted AKIA...GONE"
        );
        let finished = Outcome::Finished {
            key: "AKIA...NEW1".into(),
            previous_version: "v1".into(),
            replaced: Some(Retired::Promised("AKIA...OLD0".into(), at(KEPT_UNTIL))),
        };
        assert_eq!(
            finished.fields(),
            Fields {
                outcome: "finished",
                current_key: Some("AKIA...NEW1".into()),
                previous_version_id: Some("v1".into()),
                kept_key: Some("AKIA...OLD0".into()),
                kept_until: Some("2027-01-15T09:00:00Z".into()),
                ..Fields::default()
            }
        );
        let retried = Outcome::AlreadyCurrent {
            version: "v2".into(),
            previous: Some(Retired::Deactivated("AKIA...OLD0".into())),
        };
        assert_eq!(
            retried.fields(),
            Fields {
                outcome: "already_current",
                version_id: Some("v2".into()),
                deactivated_key: Some("AKIA...OLD0".into()),
                ..Fields::default()
            }
        );
        assert_eq!(
            retried.to_string(),
            "version v2 is already AWSCURRENT; deactivated the replaced key AKIA...OLD0 (--signing-key-overlap 0s)"
        );
        let tested = Outcome::Tested {
            key: "AKIA...NEW1".into(),
            signs_as: "arn:aws:iam::123456789012:user/presigner".into(),
        };
        assert_eq!(
            tested.fields(),
            Fields {
                outcome: "tested",
                tested_key: Some("AKIA...NEW1".into()),
                signs_as: Some("arn:aws:iam::123456789012:user/presigner".into()),
                ..Fields::default()
            }
        );
        assert_eq!(
            Outcome::NothingToSet.fields(),
            Fields {
                outcome: "nothing_to_set",
                ..Fields::default()
            }
        );
    }

    /// Every outcome, each with every way it can end (`None` and each [`Retired`]): a new variant
    /// of either does not compile until it is listed here, and so until README's table has it.
    fn examples() -> Vec<Outcome> {
        let retired = |r: &Retired| -> Vec<Option<Retired>> {
            match r {
                Retired::Deactivated(_)
                | Retired::Promised(..)
                | Retired::FromBeforeRotator(_)
                | Retired::NoPrevious => {}
            }
            vec![
                None,
                Some(Retired::Deactivated("AKIA...OLD0".into())),
                Some(Retired::Promised("AKIA...OLD0".into(), at(KEPT_UNTIL))),
                Some(Retired::FromBeforeRotator("AKIA...OLD0".into())),
                Some(Retired::NoPrevious),
            ]
        };
        let endings = retired(&Retired::NoPrevious);
        let mut all = Vec::new();
        for kind in [
            Outcome::NothingToSet,
            Outcome::AlreadyCreated {
                version: String::new(),
                key: String::new(),
            },
            Outcome::Tested {
                key: String::new(),
                signs_as: String::new(),
            },
            Outcome::Created(Created {
                user: String::new(),
                key: String::new(),
                active_until: at(MADE_UNTIL),
                bridge: false,
                replaced: None,
                deleted: None,
            }),
            Outcome::Finished {
                key: String::new(),
                previous_version: String::new(),
                replaced: None,
            },
            Outcome::AlreadyCurrent {
                version: String::new(),
                previous: None,
            },
        ] {
            match kind {
                Outcome::NothingToSet => all.push(Outcome::NothingToSet),
                Outcome::AlreadyCreated { .. } => all.push(Outcome::AlreadyCreated {
                    version: "v2".into(),
                    key: "AKIA...NEW1".into(),
                }),
                Outcome::Tested { .. } => all.push(Outcome::Tested {
                    key: "AKIA...NEW1".into(),
                    signs_as: "arn:aws:iam::123456789012:user/presigner".into(),
                }),
                Outcome::Created(_) => {
                    for (replaced, deleted) in [
                        (None, None),
                        (
                            Some(("AKIA...OLD0".into(), "2027-01-22T09:00:00Z".into())),
                            Some("AKIA...GONE".into()),
                        ),
                    ] {
                        all.push(Outcome::Created(Created {
                            user: "presigner".into(),
                            key: "AKIA...NEW1".into(),
                            active_until: at(MADE_UNTIL),
                            bridge: true,
                            replaced,
                            deleted,
                        }));
                    }
                }
                Outcome::Finished { .. } => {
                    for replaced in endings.clone() {
                        all.push(Outcome::Finished {
                            key: "AKIA...NEW1".into(),
                            previous_version: "v1".into(),
                            replaced,
                        });
                    }
                }
                Outcome::AlreadyCurrent { .. } => {
                    for previous in endings.clone() {
                        all.push(Outcome::AlreadyCurrent {
                            version: "v2".into(),
                            previous,
                        });
                    }
                }
            }
        }
        all
    }

    /// README's table of outcomes has one row per `outcome`, listing exactly the fields it can
    /// fill.
    #[test]
    fn readme_lists_each_outcome_and_its_fields() {
        use std::collections::{BTreeMap, BTreeSet};
        let mut want: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for outcome in examples() {
            let fields = outcome.fields();
            let json = serde_json::to_value(&fields).unwrap();
            let filled = json
                .as_object()
                .unwrap()
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, _)| k.clone());
            want.entry(fields.outcome).or_default().extend(filled);
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
