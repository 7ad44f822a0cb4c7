//! The wall clock, injected.
//!
//! `tokio::time` schedules the checks; this clock answers "what time is it" for every expiry
//! computation, so unit tests can run a 15-minute session out in milliseconds with
//! aws-smithy-async's `ManualTimeSource`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use aws_smithy_async::time::SharedTimeSource as Clock;

/// The real wall clock: the one place the daemon reads `SystemTime::now` (through aws-smithy-async).
pub fn system() -> Clock {
    Clock::new(aws_smithy_async::time::SystemTimeSource::new())
}

/// The real clock moved `by` into the future: debug builds of `rotate-keys` take it from
/// `SESSIONGUARD_DEBUG_CLOCK_OFFSET`, so a test runs a rotation days after the last one without
/// waiting days.
pub fn ahead(by: Duration) -> Clock {
    #[derive(Debug)]
    struct Ahead(Duration, aws_smithy_async::time::SystemTimeSource);
    impl aws_smithy_async::time::TimeSource for Ahead {
        fn now(&self) -> SystemTime {
            self.1.now() + self.0
        }
    }
    Clock::new(Ahead(by, aws_smithy_async::time::SystemTimeSource::new()))
}

/// Signed seconds from `now` until `at`: negative once `at` has passed.
pub fn seconds_until(at: SystemTime, now: SystemTime) -> f64 {
    match at.duration_since(now) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// `t` truncated to whole seconds, the precision of `X-Amz-Date`.
pub fn whole_second(t: SystemTime) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs())
}

/// Seconds since the Unix epoch, as Prometheus wants absolute times.
pub fn unix_seconds(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// Earliest time [`rfc3339`] writes as itself: RFC 3339 has four-digit years.
const FIRST_WRITABLE: &str = "0001-01-01T00:00:00Z";
/// Latest time [`rfc3339`] writes as itself.
const LAST_WRITABLE: &str = "9999-12-31T23:59:59Z";

/// RFC 3339 in UTC with whole seconds (`2026-11-28T12:00:00Z`), the form the ECS agent uses.
///
/// Total: times come from outside (an endpoint's `Expiration`, STS, Secrets Manager), and aws-config
/// accepts ones before 1970 that humantime's formatter panics on. aws-smithy-types writes years 1
/// to 9999 either side of the epoch; anything beyond is clamped to the nearest end.
pub fn rfc3339(t: SystemTime) -> String {
    use aws_smithy_types::date_time::{DateTime, Format};
    // `as` saturates: a time beyond i64 seconds is still out of range, not a wrap-around.
    let seconds = unix_seconds(t).floor();
    match DateTime::from_secs(seconds as i64).fmt(Format::DateTime) {
        Ok(text) => text,
        Err(_) if seconds < 0.0 => FIRST_WRITABLE.into(),
        Err(_) => LAST_WRITABLE.into(),
    }
}

/// Parses RFC 3339 (`2026-11-28T12:00:00Z`, an offset, fractions), as [`rfc3339`] writes it and
/// more; `None` for anything else or a time outside what [`rfc3339`] writes.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    use aws_smithy_types::date_time::{DateTime, Format};
    let parsed = DateTime::from_str(text.trim(), Format::DateTime).ok()?;
    SystemTime::try_from(parsed).ok()
}

/// The last second of year 9999, in Unix seconds.
const LAST_SECOND_OF_9999: f64 = 253_402_300_799.0;

/// Whether `t` lies in the years a real session can end in: from the epoch to year 9999.
pub fn plausible(t: SystemTime) -> bool {
    t >= UNIX_EPOCH && unix_seconds(t) <= LAST_SECOND_OF_9999
}

/// A remaining time a person reads: `14m 59s`, or `expired 3s ago`.
pub fn human_remaining(seconds: i64) -> String {
    let d = humantime::format_duration(Duration::from_secs(seconds.unsigned_abs()));
    if seconds < 0 {
        format!("expired {d} ago")
    } else {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Remaining time is signed so an expired session reads as negative, not as a huge number.
    #[test]
    fn signed_seconds_and_human_form() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(seconds_until(now + Duration::from_secs(899), now), 899.0);
        assert_eq!(seconds_until(now - Duration::from_secs(3), now), -3.0);
        assert_eq!(human_remaining(899), "14m 59s");
        assert_eq!(human_remaining(0), "0s");
        assert_eq!(human_remaining(-3), "expired 3s ago");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_867_200)),
            "2026-11-28T12:00:00Z"
        );
        // Past year 9999 (only a nonsense input gets there): clamped, not a panic.
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(400_000_000_000)),
            "9999-12-31T23:59:59Z"
        );
    }

    /// Every time an endpoint can send formats without a panic: before 1970, at the edges of
    /// four-digit years, and beyond them.
    #[test]
    fn formatting_is_total() {
        let before = |secs: u64| UNIX_EPOCH - Duration::from_secs(secs);
        let after = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
        let cases = [
            (before(315_619_200), "1960-01-01T00:00:00Z"),
            (before(1), "1969-12-31T23:59:59Z"),
            (
                UNIX_EPOCH - Duration::from_millis(500),
                "1969-12-31T23:59:59Z",
            ),
            (UNIX_EPOCH, "1970-01-01T00:00:00Z"),
            (before(62_135_596_800), "0001-01-01T00:00:00Z"),
            (before(62_135_596_801), "0001-01-01T00:00:00Z"),
            (before(u32::MAX as u64 * 100), "0001-01-01T00:00:00Z"),
            (after(253_402_300_799), "9999-12-31T23:59:59Z"),
            (after(253_402_300_800), "9999-12-31T23:59:59Z"),
            (after(u64::MAX / 4), "9999-12-31T23:59:59Z"),
        ];
        for (t, want) in cases {
            assert_eq!(rfc3339(t), want, "{t:?}");
        }
        assert!(!plausible(before(1)));
        assert!(plausible(UNIX_EPOCH));
        assert!(!plausible(after(253_402_300_800)));
    }
}
