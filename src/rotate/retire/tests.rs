//! Every case of the module doc as one row of a table: the user's keys, the secret's versions, the
//! moment, and what `createSecret` does.

use super::*;
use std::time::UNIX_EPOCH;

const DAY: u64 = 86_400;

fn at(day: f64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_000_000) + Duration::from_secs_f64(day * DAY as f64)
}

/// A version: id, stage ("" for none), made on day, key, `ActiveUntil` day, `ReplacedKey` (key, day).
type V = (
    &'static str,
    &'static str,
    f64,
    &'static str,
    Option<f64>,
    Option<(&'static str, f64)>,
);

/// What the decision must be.
#[derive(Debug)]
enum Want {
    /// Delete this key (or none), the key that stays promised until this day (or none), a record
    /// for the current key (this day).
    Room(Option<&'static str>, Option<f64>, Option<f64>),
    Promised(&'static str, f64),
    Foreign(&'static str),
    NotOfUser,
}

struct Case {
    what: &'static str,
    /// (key, made on day)
    keys: &'static [(&'static str, f64)],
    versions: &'static [V],
    now: f64,
    want: Want,
}

const GRACE: f64 = 7.0 + 1.0 / 24.0;

const CURRENT: V = ("v2", "AWSCURRENT", 30.0, "K2", Some(88.0), None);
const PREVIOUS: V = ("v1", "AWSPREVIOUS", 0.0, "K1", Some(58.0), None);

const CASES: &[Case] = &[
    Case {
        what: "room for a key: nothing to delete; the current key stays, promised",
        keys: &[("K2", 30.0)],
        versions: &[CURRENT, PREVIOUS],
        now: 60.0,
        want: Want::Room(None, Some(88.0), None),
    },
    Case {
        what: "on schedule: the previous key's promise has passed",
        keys: &[("K1", 0.0), ("K2", 30.0)],
        versions: &[CURRENT, PREVIOUS],
        now: 58.0,
        want: Want::Room(Some("K1"), Some(88.0), None),
    },
    Case {
        what: "by hand, early: both keys promised, refused naming the other key and its moment",
        keys: &[("K1", 0.0), ("K2", 30.0)],
        versions: &[CURRENT, PREVIOUS],
        now: 40.0,
        want: Want::Promised("K1", 58.0),
    },
    Case {
        what: "a bridge: the other key is still promised, the current key's promise has passed: the current key goes",
        keys: &[("K1", 0.0), ("K2", 30.0)],
        versions: &[("v2", "AWSCURRENT", 30.0, "K2", Some(31.0), None), PREVIOUS],
        now: 32.0,
        want: Want::Room(Some("K2"), Some(58.0), None),
    },
    Case {
        what: "a key from before the rotator, current: nothing deleted, its promise recorded",
        keys: &[("K0", 0.0)],
        versions: &[("v0", "AWSCURRENT", 0.0, "K0", None, None)],
        now: 10.0,
        want: Want::Room(None, Some(10.0 + GRACE), Some(10.0 + GRACE)),
    },
    Case {
        what: "a key from before the rotator, replaced: held to the commitment recorded in its replacement",
        keys: &[("K0", 0.0), ("K1", 10.0)],
        versions: &[
            (
                "v1",
                "AWSCURRENT",
                10.0,
                "K1",
                Some(11.0),
                Some(("K0", 10.0 + GRACE)),
            ),
            ("v0", "AWSPREVIOUS", 0.0, "K0", None, None),
        ],
        now: 12.0,
        want: Want::Room(Some("K1"), Some(10.0 + GRACE), None),
    },
    Case {
        what: "the record is kept once the replaced key's version is no longer labelled",
        keys: &[("K0", 0.0), ("K2", 12.0)],
        versions: &[
            ("v2", "AWSCURRENT", 12.0, "K2", Some(13.0), None),
            (
                "v1",
                "AWSPREVIOUS",
                10.0,
                "K1",
                Some(11.0),
                Some(("K0", 10.0 + GRACE)),
            ),
            ("v0", "", 0.0, "K0", None, None),
        ],
        now: 17.5,
        want: Want::Room(Some("K0"), None, None),
    },
    Case {
        what: "a key from before the rotator replaced with no record (an older rotator): the current version's date plus the grace",
        keys: &[("K0", 0.0), ("K1", 10.0)],
        versions: &[
            ("v1", "AWSCURRENT", 10.0, "K1", Some(16.0), None),
            ("v0", "AWSPREVIOUS", 0.0, "K0", None, None),
        ],
        now: 16.5,
        want: Want::Room(Some("K1"), Some(10.0 + GRACE), None),
    },
    Case {
        what: "an abandoned pending version, made after the current one: never signed with",
        keys: &[("K2", 30.0), ("K3", 31.0)],
        versions: &[CURRENT, ("v3", "", 31.0, "K3", Some(89.0), None)],
        now: 31.0,
        want: Want::Room(Some("K3"), Some(88.0), None),
    },
    Case {
        what: "a key in no version made after the current one: an interrupted createSecret",
        keys: &[("K2", 30.0), ("K9", 31.0)],
        versions: &[CURRENT, PREVIOUS],
        now: 31.0,
        want: Want::Room(Some("K9"), Some(88.0), None),
    },
    Case {
        what: "a key in no version, older: made outside the rotation, never deleted",
        keys: &[("K0", 1.0), ("K2", 30.0)],
        versions: &[CURRENT, PREVIOUS],
        now: 100.0,
        want: Want::Foreign("K0"),
    },
    Case {
        what: "a key in no version made in the same second as the current version: not proven unused (G)",
        keys: &[("K1", 30.0), ("K2", 30.0)],
        versions: &[CURRENT],
        now: 40.0,
        want: Want::Foreign("K1"),
    },
    Case {
        what: "AWSPREVIOUS made in the same second as the current one was current once: held to its promise (G)",
        keys: &[("K1", 30.0), ("K2", 30.0)],
        versions: &[CURRENT, ("v1", "AWSPREVIOUS", 30.0, "K1", Some(60.0), None)],
        now: 40.0,
        want: Want::Promised("K1", 60.0),
    },
    Case {
        what: "an unlabelled version made in the same second: not proven abandoned (G)",
        keys: &[("K1", 30.0), ("K2", 30.0)],
        versions: &[CURRENT, ("v3", "", 30.0, "K1", Some(88.0), None)],
        now: 40.0,
        want: Want::Promised("K1", 88.0),
    },
    Case {
        what: "the current key is not the user's",
        keys: &[("K1", 0.0)],
        versions: &[CURRENT, PREVIOUS],
        now: 60.0,
        want: Want::NotOfUser,
    },
];

fn version(v: &V) -> Version {
    let (id, stage, created, key, until, replaced) = *v;
    Version {
        id: id.into(),
        stages: if stage.is_empty() {
            vec![]
        } else {
            vec![stage.into()]
        },
        created: Some(at(created)),
        key_id: Some(key.into()),
        active_until: until.map(at),
        replaced: replaced.map(|(k, d)| (k.to_string(), at(d))),
    }
}

#[test]
fn what_make_room_does() {
    for case in CASES {
        let keys: Vec<Key> = case
            .keys
            .iter()
            .map(|(id, made)| Key {
                id: id.to_string(),
                created: Some(at(*made)),
            })
            .collect();
        let versions: Vec<Version> = case.versions.iter().map(version).collect();
        let current = versions
            .iter()
            .find(|v| v.stages.iter().any(|s| s == "AWSCURRENT"))
            .unwrap();
        let got = make_room("presigner", &keys, current, &versions, at(case.now));
        let ok = match (&case.want, &got) {
            (Want::Room(delete, stays, record), Ok(room)) => {
                room.delete.as_ref().map(|(k, _)| k.as_str()) == *delete
                    && room.stays == stays.map(at)
                    && room.record.as_ref().map(|(_, t)| *t) == record.map(at)
            }
            (
                Want::Promised(key, until),
                Err(Refusal::Promised {
                    key: k, until: u, ..
                }),
            ) => k == key && *u == clock::rfc3339(at(*until)),
            (Want::Foreign(key), Err(Refusal::Foreign { key: k, .. })) => k == key,
            (Want::NotOfUser, Err(Refusal::CurrentNotOfUser { .. })) => true,
            _ => false,
        };
        assert!(ok, "{}: want {:?}, got {got:?}", case.what, case.want);
    }
}
