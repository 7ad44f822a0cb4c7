//! The rule that decides a presign: sign, shorten, refresh first, refuse, or say there is nothing
//! to sign with. Plain values in, a value out: no HTTP, no clock, no credentials.
//!
//! `available` is what the signing credentials have left at the signing start, minus
//! `--presign-margin` (clock skew and the time a client needs to start), capped at
//! `--presign-max-expires-in`. A request for at most that is signed. Otherwise fresh credentials
//! are asked for once when they could help (the endpoint may have rotated; a fresh assumed-role
//! session may be longer), and then the URL is either shortened to `available` (when the caller
//! allowed it with `min_expires_in`) or refused with what could be granted.

use std::time::{Duration, SystemTime};

use crate::clock;
use crate::credentials::Snapshot;
use crate::tracked::Fresh;

/// Default margin: covers clock skew between hosts and the time a client needs to start using a URL.
pub const DEFAULT_MARGIN: &str = "1m";
/// Default cap on any URL, whatever the session allows.
pub const DEFAULT_MAX_EXPIRES_IN: &str = "12h";

/// How long a URL may last: margin and cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub margin: Duration,
    /// Never above SigV4's 7 days.
    pub max_expires_in: Duration,
}

impl Limits {
    /// The cap in seconds.
    pub fn cap(&self) -> u64 {
        self.max_expires_in.as_secs()
    }

    /// The longest URL the credentials allow when signing at `start` (whole seconds), or `None`
    /// when they have expired.
    pub fn available(&self, snapshot: &Snapshot, start: SystemTime) -> Option<u64> {
        let Some(expiry) = snapshot.expiry() else {
            return Some(self.cap());
        };
        let left = clock::seconds_until(expiry, start);
        if left <= 0.0 {
            return None;
        }
        let usable = (left - self.margin.as_secs_f64()).floor();
        Some(if usable <= 0.0 {
            0
        } else {
            (usable as u64).min(self.cap())
        })
    }

    /// The longest URL credentials lasting `lifetime` from now would allow.
    pub fn within(&self, lifetime: Duration) -> u64 {
        lifetime
            .saturating_sub(self.margin)
            .min(self.max_expires_in)
            .as_secs()
    }

    /// What fresh credentials would allow, when that is known.
    pub fn fresh_seconds(&self, fresh: Fresh) -> Option<u64> {
        match fresh {
            Fresh::Lasts(lifetime) => Some(self.within(lifetime)),
            Fresh::Unknown | Fresh::Same => None,
        }
    }
}

/// What the caller asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ask {
    pub expires_in: u64,
    /// The least the caller accepts when `expires_in` cannot be had.
    pub min_expires_in: Option<u64>,
}

/// What to do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Sign for this many seconds (`expires_in`, or `available` when shortened).
    Sign(u64),
    /// Ask for fresh credentials that would cover this many seconds, then decide again.
    Refresh(u64),
    /// The credentials allow only `available` seconds, less than the caller accepts.
    TooShort { available: u64 },
    /// Nothing valid to sign with.
    Unavailable,
}

/// Decides one request. `available` is [`Limits::available`] now; `fresh` what fresh credentials
/// could cover; `may_refresh` is false once a refresh has been asked for, so a request refreshes at
/// most once.
pub fn decide(
    ask: Ask,
    available: Option<u64>,
    limits: &Limits,
    fresh: Fresh,
    may_refresh: bool,
) -> Decision {
    if let Some(available) = available
        && ask.expires_in <= available
    {
        return Decision::Sign(ask.expires_in);
    }
    // At the cap already, fresh credentials cannot make the URL any longer.
    if may_refresh && available != Some(limits.cap()) {
        let current = available.unwrap_or(0);
        let need = match fresh {
            // Only asking tells: the endpoint may have rotated since the last check.
            Fresh::Unknown => Some(ask.expires_in),
            // The whole request when a fresh session would cover it; otherwise the minimum the
            // caller accepts, if the current credentials fall short of that.
            Fresh::Lasts(lifetime) => {
                let fresh = limits.within(lifetime);
                if ask.expires_in <= fresh {
                    Some(ask.expires_in)
                } else {
                    ask.min_expires_in.filter(|m| current < *m && *m <= fresh)
                }
            }
            Fresh::Same => None,
        };
        if let Some(need) = need {
            return Decision::Refresh(need);
        }
    }
    let Some(available) = available else {
        return Decision::Unavailable;
    };
    if ask.min_expires_in.is_some_and(|m| m <= available) {
        return Decision::Sign(available);
    }
    Decision::TooShort { available }
}

#[cfg(test)]
mod tests {
    use super::Decision::*;
    use super::*;
    use crate::clock::testing;
    use aws_credential_types::Credentials;

    const LIMITS: Limits = Limits {
        margin: Duration::from_secs(60),
        max_expires_in: Duration::from_secs(43_200),
    };

    /// Fresh credentials that would last just under an hour.
    const HOUR: Fresh = Fresh::Lasts(Duration::from_secs(3_595));

    const fn ask(expires_in: u64, min_expires_in: Option<u64>) -> Ask {
        Ask {
            expires_in,
            min_expires_in,
        }
    }

    /// What `decide` answers, case by case: (ask, available, fresh, may_refresh, decision).
    const DECISIONS: &[(Ask, Option<u64>, Fresh, bool, Decision)] = &[
        (ask(600, None), Some(840), Fresh::Unknown, true, Sign(600)),
        (ask(840, None), Some(840), Fresh::Same, true, Sign(840)),
        // Short: the task endpoint may have rotated, ask once.
        (
            ask(900, None),
            Some(840),
            Fresh::Unknown,
            true,
            Refresh(900),
        ),
        (
            ask(900, None),
            Some(840),
            Fresh::Unknown,
            false,
            TooShort { available: 840 },
        ),
        // Shortened to what is available when the caller allows it.
        (
            ask(900, Some(600)),
            Some(840),
            Fresh::Unknown,
            false,
            Sign(840),
        ),
        (
            ask(900, Some(841)),
            Some(840),
            Fresh::Unknown,
            false,
            TooShort { available: 840 },
        ),
        // A key that asking again does not lengthen: no refresh.
        (
            ask(900, None),
            Some(840),
            Fresh::Same,
            true,
            TooShort { available: 840 },
        ),
        (ask(900, Some(60)), Some(840), Fresh::Same, true, Sign(840)),
        // A fresh hour-long session covers 3535 s but not 3600 s.
        (ask(3_535, None), Some(100), HOUR, true, Refresh(3_535)),
        (
            ask(3_600, None),
            Some(100),
            HOUR,
            true,
            TooShort { available: 100 },
        ),
        // ... but it covers the minimum the current session falls short of.
        (
            ask(7_200, Some(1_800)),
            Some(100),
            HOUR,
            true,
            Refresh(1_800),
        ),
        (ask(7_200, Some(60)), Some(100), HOUR, true, Sign(100)),
        // At the cap, nothing fresh is longer.
        (
            ask(86_400, None),
            Some(43_200),
            Fresh::Unknown,
            true,
            TooShort { available: 43_200 },
        ),
        // Nothing to sign with: refresh first when it could help, else unavailable.
        (ask(60, None), None, Fresh::Unknown, true, Refresh(60)),
        (ask(60, None), None, Fresh::Unknown, false, Unavailable),
        (ask(60, None), None, Fresh::Same, true, Unavailable),
        (ask(60, None), None, HOUR, true, Refresh(60)),
        // Inside the margin: zero left, refused however little is asked.
        (
            ask(1, None),
            Some(0),
            Fresh::Same,
            true,
            TooShort { available: 0 },
        ),
    ];

    /// Every answer the guard can give, from the values alone.
    #[test]
    fn decisions() {
        for &(ask, available, fresh, may_refresh, want) in DECISIONS {
            assert_eq!(
                decide(ask, available, &LIMITS, fresh, may_refresh),
                want,
                "{ask:?} available {available:?} fresh {fresh:?} may_refresh {may_refresh}"
            );
        }
    }

    /// `available` subtracts the margin, floors, caps, and is `None` once expired.
    #[test]
    fn available_seconds() {
        let start = testing::start();
        let snap = |left: Duration| Snapshot::new(testing::session_credentials(start + left));
        let cases = [
            (Duration::from_secs(900), Some(840)),
            (Duration::from_millis(900_500), Some(840)),
            (Duration::from_secs(30), Some(0)),
            (Duration::from_secs(86_400), Some(43_200)),
            (Duration::ZERO, None),
        ];
        for (left, want) in cases {
            assert_eq!(LIMITS.available(&snap(left), start), want, "{left:?}");
        }
        let static_keys = Snapshot::new(Credentials::new(
            "AKIDEXAMPLE00000",
            "s",
            None,
            None,
            "Static",
        ));
        assert_eq!(LIMITS.available(&static_keys, start), Some(43_200));
        assert_eq!(LIMITS.within(Duration::from_secs(3_595)), 3_535);
        assert_eq!(LIMITS.within(Duration::from_secs(30)), 0);
    }
}
