//! The two presign requests the demo prints at start: one the daemon signs whenever it is pasted,
//! one it refuses with `session_too_short`.
//!
//! Their `expires_in` values come from the demo's own sessions and `--presign-margin`, so a
//! newcomer sees both answers instead of two refusals (a fixed `10m` was refused by every session
//! shorter than 11 minutes). Plain values in, plain values out: a table of cases tests it.

use std::time::Duration;

use serde_json::{Value, json};

use crate::presign::{Limits, Method, Rule, SIGV4_MAX_EXPIRES_IN};
use crate::tracked::SigningSource;
use crate::tracked::assume_role::{FRESH_SESSION_SLACK, ROLE_CHAINING_CAP};

/// Round values an example asks for, in seconds: `10s` reads better than `13s`.
const ROUND: &[u64] = &[
    1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1_200, 1_800, 3_600, 7_200, 10_800, 21_600,
    43_200, 86_400, 172_800, 604_800,
];

/// How the demo's endpoint issues task sessions, and how often the daemon asks for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sessions {
    /// Lifetime of each session (`--session`).
    pub session: Duration,
    /// The endpoint hands out a new session once this little is left.
    pub rotate_before: Duration,
    /// Time between the daemon's checks (`--interval`).
    pub interval: Duration,
}

/// One request to print, and why it gets the answer it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub expires_in: Duration,
    /// For people: printed as a shell comment above the request.
    pub why: String,
}

/// What the demo prints about presigning.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Examples {
    /// A request that is signed (`None` when these flags leave nothing to sign).
    pub signed: Option<Example>,
    /// A request refused with 409 `session_too_short`.
    pub refused: Option<Example>,
    /// Said instead of an example that cannot be given.
    pub note: Option<String>,
}

/// The examples for the demo's sessions, the presign limits and the signing source.
pub fn examples(sessions: Sessions, limits: &Limits, source: &SigningSource) -> Examples {
    match source {
        SigningSource::Task => task(sessions, limits),
        SigningSource::AssumeRole(config) => assume_role(config.duration, limits),
        SigningSource::SecretsManager(_) => Examples {
            note: Some(
                "with --signing-source secrets-manager the answer depends on the secret's rotation schedule"
                    .into(),
            ),
            ..Examples::default()
        },
        SigningSource::WebIdentity(_) => Examples {
            note: Some(
                "the demo's endpoint serves no web identity sessions: --signing-source web-identity needs STS (IRSA on EKS)"
                    .into(),
            ),
            ..Examples::default()
        },
    }
}

/// URLs signed with the demo's task sessions. The daemon signs with a session until the endpoint
/// rotates it (at `rotate_before` left) and it next checks (`interval` later), so `lowest` is the
/// least any session has left when a request comes; what fits under that minus the margin is
/// signed whenever the request is pasted. A whole session can never cover a URL as long as itself
/// plus the margin.
fn task(s: Sessions, limits: &Limits) -> Examples {
    let margin = text(limits.margin);
    let lowest = s.rotate_before.saturating_sub(s.interval);
    // Signing starts at a whole second: one more second off.
    let always = limits.within(lowest).saturating_sub(1);
    let young = limits.within(s.session);
    let signed = if always >= 2 {
        let asked = round_down(always / 2);
        Some(Example {
            expires_in: secs(asked),
            why: format!(
                "signed whenever you run it: the daemon's session never has less than {} left, enough for {} plus the {margin} margin",
                text(lowest),
                text(secs(asked)),
            ),
        })
    } else if young >= 2 {
        let asked = round_down(young / 2);
        Some(Example {
            expires_in: secs(asked),
            why: format!(
                "signed only in the first {} of each {} session (later, what is left minus the {margin} margin is under {}): lower --presign-margin to have it signed throughout",
                text(secs(young - asked)),
                text(s.session),
                text(secs(asked)),
            ),
        })
    } else {
        None
    };
    let asked = if limits.within(s.session) < s.session.as_secs() {
        s.session.as_secs()
    } else {
        s.session.as_secs() + 1
    };
    let refused = (asked <= SIGV4_MAX_EXPIRES_IN.as_secs()).then(|| Example {
        expires_in: secs(asked),
        why: format!(
            "refused with 409 session_too_short: even a fresh {} session cannot cover {} plus the {margin} margin",
            text(s.session),
            text(secs(asked)),
        ),
    });
    let note = signed.is_none().then(|| {
        format!(
            "nothing can be signed: a {} session minus the {margin} margin leaves no time; lower --presign-margin",
            text(s.session)
        )
    });
    Examples {
        signed,
        refused,
        note,
    }
}

/// URLs signed with assumed-role sessions: a request a fresh session covers is signed (one is
/// assumed when needed), and the demo's STS caps sessions at an hour as real STS does for role
/// chaining, so a URL as long as the session asked for is refused with the reason.
fn assume_role(duration: Duration, limits: &Limits) -> Examples {
    let session = duration.min(ROLE_CHAINING_CAP);
    let fresh = limits.within(session.saturating_sub(FRESH_SESSION_SLACK));
    let signed = (fresh >= 2).then(|| {
        let asked = round_down(fresh / 2);
        Example {
            expires_in: secs(asked),
            why: format!(
                "signed: a fresh {} assumed-role session covers it, whatever the task session has left",
                text(session)
            ),
        }
    });
    let asked = duration.as_secs().max(fresh + 1);
    let refused = (asked <= SIGV4_MAX_EXPIRES_IN.as_secs()).then(|| Example {
        expires_in: secs(asked),
        why: format!(
            "refused with 409 session_too_short: no assumed-role session covers {} plus the {} margin",
            text(secs(asked)),
            text(limits.margin),
        ),
    });
    Examples {
        note: signed
            .is_none()
            .then(|| "nothing can be signed: lower --presign-margin".to_string()),
        signed,
        refused,
    }
}

/// The body of a `POST /v1/presign` that `rule` allows, asking for `expires_in`.
pub fn request_body(rule: &Rule, expires_in: Duration) -> Value {
    let mut body = json!({
        "bucket": rule.bucket,
        "key": format!("{}example.csv", rule.prefix),
        "expires_in": text(expires_in),
    });
    // A rule that does not allow GET, the default method: ask for one it allows.
    if let Some(method) = rule.methods.first()
        && !rule.methods.contains(&Method::Get)
    {
        body["method"] = method.as_str().into();
    }
    body
}

/// The largest round value at most `seconds` (at least 1 s).
fn round_down(seconds: u64) -> u64 {
    ROUND.iter().copied().rfind(|&r| r <= seconds).unwrap_or(1)
}

fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

/// `1m 30s`, as flags are written.
pub fn text(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracked::AssumeRoleConfig;

    fn limits(margin: u64) -> Limits {
        Limits {
            margin: secs(margin),
            max_expires_in: secs(43_200),
        }
    }

    /// The demo endpoint's sessions: rotated when a fifth is left.
    fn sessions(session: u64, interval: u64) -> Sessions {
        Sessions {
            session: secs(session),
            rotate_before: secs(session) / 5,
            interval: secs(interval),
        }
    }

    fn asked(example: &Option<Example>) -> Option<String> {
        example.as_ref().map(|e| text(e.expires_in))
    }

    /// For each set of flags: what is asked for in the signed and the refused example, and whether
    /// the signed one holds for the whole session.
    #[test]
    fn task_examples() {
        let cases = [
            // (session, interval, margin, signed, refused, signed at any time)
            // README's first command: 3m sessions rotated at 36s left, checked every 5s, 10s
            // margin: at least 31s left, 20s beyond the margin.
            (180, 5, 10, Some("10s"), Some("3m"), true),
            // The old first command: 2m with the 1m margin never leaves 60s at rotation.
            (120, 5, 60, Some("30s"), Some("2m"), false),
            // The demo's defaults: 15m sessions, checks every minute.
            (900, 60, 60, Some("20s"), Some("15m"), true),
            (21_600, 60, 60, Some("30m"), Some("6h"), true),
            // A session no longer than the margin leaves nothing to sign.
            (60, 5, 60, None, Some("1m"), false),
            // No margin: a URL as long as the session is signed at its first second, so one
            // second more is asked for.
            (180, 5, 0, Some("15s"), Some("3m 1s"), true),
            // Longer than SigV4 allows: no refusal to show that is not a 400; the 12h cap halved.
            (700_000, 60, 60, Some("3h"), None, true),
        ];
        for (session, interval, margin, signed, refused, always) in cases {
            let got = examples(
                sessions(session, interval),
                &limits(margin),
                &SigningSource::Task,
            );
            let case = format!("{session}s/{interval}s/{margin}s: {got:?}");
            assert_eq!(asked(&got.signed).as_deref(), signed, "{case}");
            assert_eq!(asked(&got.refused).as_deref(), refused, "{case}");
            if let Some(example) = &got.signed {
                assert_eq!(example.why.starts_with("signed whenever"), always, "{case}");
            }
            assert_eq!(got.note.is_some(), got.signed.is_none(), "{case}");
        }
    }

    /// What is asked never exceeds what the decision would sign: the signed example fits in the
    /// least a session has left minus the margin (when it claims to hold throughout), the refused
    /// one exceeds what a fresh session allows.
    #[test]
    fn task_examples_agree_with_the_limits() {
        for session in [5, 10, 30, 60, 120, 180, 300, 900, 3_600, 21_600] {
            for interval in [1, 5, 60] {
                for margin in [0, 5, 10, 60] {
                    let s = sessions(session, interval);
                    let l = limits(margin);
                    let got = examples(s, &l, &SigningSource::Task);
                    if let Some(e) = &got.signed {
                        let lowest = if e.why.starts_with("signed whenever") {
                            s.rotate_before.saturating_sub(s.interval)
                        } else {
                            s.session
                        };
                        assert!(
                            e.expires_in.as_secs() < l.within(lowest),
                            "{s:?} {l:?} {e:?}"
                        );
                    }
                    if let Some(e) = &got.refused {
                        assert!(e.expires_in.as_secs() > l.within(s.session), "{s:?} {l:?}");
                    }
                }
            }
        }
    }

    /// With an assumed role the demo's STS caps sessions at an hour: half of that is signed, the
    /// duration asked for (or an hour, when that is all) is refused.
    #[test]
    fn assume_role_examples() {
        let cases = [
            (7_200, 60, Some("20m"), Some("2h")),
            (3_600, 60, Some("20m"), Some("1h")),
            (900, 60, Some("5m"), Some("15m")),
            (900, 0, Some("5m"), Some("15m")),
        ];
        for (duration, margin, signed, refused) in cases {
            let source = SigningSource::AssumeRole(AssumeRoleConfig {
                role_arn: "arn:aws:iam::123456789012:role/presigner".into(),
                duration: secs(duration),
                session_name: "sessionguard".into(),
                external_id: None,
            });
            let got = examples(sessions(180, 5), &limits(margin), &source);
            let case = format!("{duration}s/{margin}s: {got:?}");
            assert_eq!(asked(&got.signed).as_deref(), signed, "{case}");
            assert_eq!(asked(&got.refused).as_deref(), refused, "{case}");
        }
    }

    /// The body names a key under the rule's prefix, and a method the rule allows.
    #[test]
    fn request_bodies() {
        let cases = [
            (
                "GET:reports/",
                r#"{"bucket":"reports","key":"example.csv","expires_in":"10s"}"#,
            ),
            (
                "PUT:uploads/incoming/",
                r#"{"bucket":"uploads","key":"incoming/example.csv","expires_in":"10s","method":"PUT"}"#,
            ),
            (
                "scratch",
                r#"{"bucket":"scratch","key":"example.csv","expires_in":"10s"}"#,
            ),
        ];
        for (rule, want) in cases {
            let body = request_body(&Rule::parse(rule).unwrap(), secs(10));
            assert_eq!(body.to_string(), want, "{rule}");
        }
    }

    /// Asked-for values are round: `10s` rather than `13s`.
    #[test]
    fn round_values() {
        for (seconds, want) in [(0, 1), (1, 1), (9, 5), (10, 10), (29, 20), (1_767, 1_200)] {
            assert_eq!(round_down(seconds), want, "{seconds}");
        }
    }
}
