//! `sessionguard status`: resolve once, print one line a person reads, exit by the answer.

use aws_credential_types::provider::SharedCredentialsProvider;

use crate::clock::{self, Clock};
use crate::config::StatusConfig;
use crate::credentials::{self, whole_seconds};
use crate::tracked::readiness::{Verdict, verdict};

/// Exit code when at least `--min-remaining` is left.
pub const EXIT_OK: i32 = 0;
/// Exit code when less than `--min-remaining` is left (or the credentials expired).
pub const EXIT_SHORT: i32 = 1;
/// Exit code when no credentials could be resolved.
pub const EXIT_UNRESOLVED: i32 = 2;

/// Resolves the credentials, prints the verdict (stdout, or stderr for a failure) and returns the
/// exit code.
pub async fn status(
    config: &StatusConfig,
    provider: &SharedCredentialsProvider,
    clock: &Clock,
) -> i32 {
    let snapshot = match credentials::check(provider, config.check_timeout).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("credentials could not be resolved: {}", e.describe());
            return EXIT_UNRESOLVED;
        }
    };
    let source = &snapshot.source;
    let remaining = snapshot.remaining_seconds(clock.now());
    let verdict = verdict(remaining, config.min_remaining);
    let left = clock::human_remaining(remaining.map(whole_seconds).unwrap_or_default());
    let at = snapshot.expiry().map(clock::rfc3339).unwrap_or_default();
    match verdict {
        Verdict::DoNotExpire => println!("credentials from {source} do not expire (static keys)"),
        Verdict::Expired => println!("credentials from {source} {left} at {at}"),
        Verdict::BelowMinimum | Verdict::Enough => {
            println!("credentials from {source} expire in {left} at {at}")
        }
    }
    if verdict == Verdict::BelowMinimum {
        eprintln!(
            "less than the required {} is left",
            humantime::format_duration(config.min_remaining)
        );
    }
    exit_code(verdict)
}

/// The exit code of a verdict on resolved credentials.
fn exit_code(verdict: Verdict) -> i32 {
    match verdict {
        Verdict::DoNotExpire | Verdict::Enough => EXIT_OK,
        Verdict::BelowMinimum | Verdict::Expired => EXIT_SHORT,
    }
}
