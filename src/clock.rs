//! The wall clock, injected, and the one way the daemon writes a time ([`Rfc3339`]).
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
    seconds_until(t, UNIX_EPOCH)
}

/// First second RFC 3339 writes (0001-01-01T00:00:00Z, in Unix seconds): it has four-digit years.
pub const FIRST_WRITABLE_SECOND: i64 = -62_135_596_800;
/// Last second RFC 3339 writes (9999-12-31T23:59:59Z, in Unix seconds).
pub const LAST_WRITABLE_SECOND: i64 = 253_402_300_799;

/// How much of the second a written time keeps: whole seconds for the times the daemon reports
/// (the ECS agent's form), milliseconds for a JSON log line, microseconds for a text log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// `2026-11-28T12:00:00Z`
    Seconds,
    /// `2026-11-28T12:00:00.123Z`
    Millis,
    /// `2026-11-28T12:00:00.123456Z`
    Micros,
}

/// A time written as RFC 3339 in UTC (`2026-11-28T12:00:00.123Z`), held on the stack so a log
/// line can write one without allocating.
///
/// Every time the daemon writes goes through [`Rfc3339::new`], and it is total: times come from
/// outside (an endpoint's `Expiration`, STS, Secrets Manager), aws-config accepts ones before 1970
/// that humantime's formatter panics on, and a time outside years 1 to 9999 (which RFC 3339 cannot
/// write) is clamped to the nearest end. Within them the fraction is truncated, and a time before
/// 1970 is floored like any other: a written time is never later than the time itself.
#[derive(Clone, Copy)]
pub struct Rfc3339 {
    text: [u8; Rfc3339::LONGEST],
    len: usize,
}

impl Rfc3339 {
    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
    const LONGEST: usize = 27;

    /// `t` written with `precision`.
    pub fn new(t: SystemTime, precision: Precision) -> Self {
        let (seconds, nanos) = clamped_unix(t);
        let (year, month, day) = civil_date(seconds.div_euclid(86_400));
        let second_of_day = seconds.rem_euclid(86_400);
        let mut text = *b"0000-00-00T00:00:00.000000Z";
        put_digits(&mut text[0..4], year as u32);
        put_digits(&mut text[5..7], month);
        put_digits(&mut text[8..10], day);
        put_digits(&mut text[11..13], (second_of_day / 3_600) as u32);
        put_digits(&mut text[14..16], (second_of_day / 60 % 60) as u32);
        put_digits(&mut text[17..19], (second_of_day % 60) as u32);
        let digits = match precision {
            Precision::Seconds => 0,
            Precision::Millis => 3,
            Precision::Micros => 6,
        };
        if digits > 0 {
            put_digits(&mut text[20..26], nanos / 1_000);
        }
        // Whole seconds end at `SS`, a fraction after its `.`: the `Z` goes right after.
        let len = if digits == 0 { 19 } else { 20 + digits };
        text[len] = b'Z';
        Rfc3339 { text, len: len + 1 }
    }

    /// The written time.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.text[..self.len]).expect("digits and ASCII punctuation")
    }
}

impl std::fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// RFC 3339 in UTC with whole seconds (`2026-11-28T12:00:00Z`), the form the ECS agent uses: what
/// every reported time (an expiry, a last success, a rotation date) is written as.
pub fn rfc3339(t: SystemTime) -> String {
    Rfc3339::new(t, Precision::Seconds).as_str().to_string()
}

/// Whole Unix seconds (floored) and the nanoseconds past them, clamped to the writable years: the
/// earliest second with no fraction, the latest with every digit of one.
fn clamped_unix(t: SystemTime) -> (i64, u32) {
    let (seconds, nanos) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(e) => {
            let d = e.duration();
            let seconds = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            match d.subsec_nanos() {
                0 => (-seconds, 0),
                n => (-seconds - 1, 1_000_000_000 - n),
            }
        }
    };
    if seconds < FIRST_WRITABLE_SECOND {
        (FIRST_WRITABLE_SECOND, 0)
    } else if seconds > LAST_WRITABLE_SECOND {
        (LAST_WRITABLE_SECOND, 999_999_999)
    } else {
        (seconds, nanos)
    }
}

/// Year, month and day of `days` since 1970-01-01 in the proleptic Gregorian calendar (Howard
/// Hinnant's `civil_from_days`), for the days of years 1 to 9999.
fn civil_date(days: i64) -> (i64, u32, u32) {
    // Counted from 0000-03-01, so a leap day ends its 400-year era's year.
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Writes the last `out.len()` decimal digits of `value` into `out`, zero-padded.
fn put_digits(out: &mut [u8], mut value: u32) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Parses RFC 3339 (`2026-11-28T12:00:00Z`, an offset, fractions), as [`rfc3339`] writes it and
/// more; `None` for anything else or a time outside what [`rfc3339`] writes.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    use aws_smithy_types::date_time::{DateTime, Format};
    let parsed = DateTime::from_str(text.trim(), Format::DateTime).ok()?;
    SystemTime::try_from(parsed).ok()
}

/// Whether `t` lies in the years a real session can end in: from the epoch to year 9999.
pub fn plausible(t: SystemTime) -> bool {
    t >= UNIX_EPOCH && unix_seconds(t) <= LAST_WRITABLE_SECOND as f64
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

/// Fixtures for unit tests anywhere in the crate: the time they start at, a manual clock there,
/// and session credentials. They live with the clock because every module may depend on it, so
/// any test can use them without a dependency cycle; they name no other module of the crate.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use aws_credential_types::Credentials;
    use aws_smithy_async::test_util::ManualTimeSource;

    /// 2026-11-28T12:00:00Z, the time unit tests start at.
    pub(crate) fn start() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_867_200)
    }

    /// A manual clock at [`start`], and the handle that moves it.
    pub(crate) fn manual() -> (ManualTimeSource, Clock) {
        let manual = ManualTimeSource::new(start());
        (manual.clone(), Clock::new(manual))
    }

    /// Session credentials as the ECS endpoint hands them out, ending at `expiry`. The session
    /// token holds characters a URL must encode, so every signing test covers its encoding.
    pub(crate) fn session_credentials(expiry: SystemTime) -> Credentials {
        Credentials::new(
            "ASIAEXAMPLE00000",
            "secret",
            Some("token/with+special=chars".into()),
            Some(expiry),
            "EcsContainer",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Precision::*;
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

    /// `seconds` from the epoch (negative before it), then `nanos` later.
    fn unix(seconds: i64, nanos: u32) -> SystemTime {
        let whole = Duration::from_secs(seconds.unsigned_abs());
        let whole = if seconds < 0 {
            UNIX_EPOCH - whole
        } else {
            UNIX_EPOCH + whole
        };
        whole + Duration::from_nanos(nanos.into())
    }

    /// (Unix seconds, nanoseconds after them, precision, written form).
    // One case a line, a column a field: the table reads as one.
    #[rustfmt::skip]
    const EXTREMES: &[(i64, u32, Precision, &str)] = &[
        (1_795_867_200, 0, Millis, "2026-11-28T12:00:00.000Z"),
        (1_795_867_200, 123_456_789, Millis, "2026-11-28T12:00:00.123Z"),
        (1_795_867_200, 123_456_789, Micros, "2026-11-28T12:00:00.123456Z"),
        (1_795_867_200, 999_999_999, Seconds, "2026-11-28T12:00:00Z"),
        (0, 0, Micros, "1970-01-01T00:00:00.000000Z"),
        (-1, 999_000_000, Millis, "1969-12-31T23:59:59.999Z"),
        (-1, 999_999_999, Micros, "1969-12-31T23:59:59.999999Z"),
        (-2, 500_000_000, Millis, "1969-12-31T23:59:58.500Z"),
        (951_782_400, 0, Millis, "2000-02-29T00:00:00.000Z"),
        (-62_135_596_800, 0, Millis, "0001-01-01T00:00:00.000Z"),
        (-62_135_596_801, 0, Micros, "0001-01-01T00:00:00.000000Z"),
        (i64::MIN / 2, 0, Seconds, "0001-01-01T00:00:00Z"),
        (253_402_300_799, 999_999_999, Micros, "9999-12-31T23:59:59.999999Z"),
        (253_402_300_800, 0, Millis, "9999-12-31T23:59:59.999Z"),
        (i64::MAX / 2, 0, Micros, "9999-12-31T23:59:59.999999Z"),
    ];

    /// Log lines keep milliseconds (JSON) or microseconds (text), truncated; before 1970 the
    /// fraction counts forward from the floored second, and the clamped ends keep their digits.
    #[test]
    fn every_precision_at_the_extremes() {
        for &(seconds, nanos, precision, want) in EXTREMES {
            let written = Rfc3339::new(unix(seconds, nanos), precision);
            assert_eq!(
                written.as_str(),
                want,
                "{seconds} s {nanos} ns {precision:?}"
            );
            assert_eq!(written.to_string(), want);
        }
    }

    /// The calendar agrees with two independent ones over every year RFC 3339 writes: whole
    /// seconds with aws-smithy-types (before 1970 too), fractions with humantime (which stops at
    /// 1970), the formatters the log lines and reports used before this one.
    #[test]
    fn agrees_with_aws_smithy_and_humantime() {
        use aws_smithy_types::date_time::{DateTime, Format};
        // A step of about 22 days that is no multiple of a day, so the samples land on every
        // month and time of day; about 160 000 of them, each with its own fraction.
        const STEP: i64 = 1_940_003;
        let mut seconds = FIRST_WRITABLE_SECOND;
        while seconds <= LAST_WRITABLE_SECOND {
            let t = unix(seconds, seconds.rem_euclid(1_000_000_000) as u32);
            let smithy = DateTime::from_secs(seconds).fmt(Format::DateTime).unwrap();
            assert_eq!(rfc3339(t), smithy, "{seconds}");
            if seconds >= 0 {
                let millis = humantime::format_rfc3339_millis(t).to_string();
                let micros = humantime::format_rfc3339_micros(t).to_string();
                assert_eq!(
                    Rfc3339::new(t, Precision::Millis).as_str(),
                    millis,
                    "{seconds}"
                );
                assert_eq!(
                    Rfc3339::new(t, Precision::Micros).as_str(),
                    micros,
                    "{seconds}"
                );
            }
            seconds += STEP;
        }
    }
}
