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

/// RFC 3339 in UTC with whole seconds (`2026-11-28T12:00:00Z`), the form the ECS agent uses.
pub fn rfc3339(t: SystemTime) -> String {
    use std::fmt::Write;
    let mut text = String::new();
    // humantime refuses years past 9999; such a time can only come from a nonsense input.
    match write!(text, "{}", humantime::format_rfc3339_seconds(t)) {
        Ok(()) => text,
        Err(_) => "9999-12-31T23:59:59Z".into(),
    }
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
}
