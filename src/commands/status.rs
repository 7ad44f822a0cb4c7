//! `sessionguard status`: resolve once, print one line a person reads, exit by the answer.

use aws_credential_types::provider::SharedCredentialsProvider;

use crate::clock::{self, Clock};
use crate::config::StatusConfig;
use crate::credentials::{self, whole_seconds};

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
    let (Some(expiry), Some(remaining)) =
        (snapshot.expiry(), snapshot.remaining_seconds(clock.now()))
    else {
        println!("credentials from {source} do not expire (static keys)");
        return EXIT_OK;
    };
    let at = clock::rfc3339(expiry);
    let secs = whole_seconds(remaining);
    if remaining <= 0.0 {
        println!(
            "credentials from {source} {} at {at}",
            clock::human_remaining(secs)
        );
        return EXIT_SHORT;
    }
    println!(
        "credentials from {source} expire in {} at {at}",
        clock::human_remaining(secs)
    );
    if remaining < config.min_remaining.as_secs_f64() {
        eprintln!(
            "less than the required {} is left",
            humantime::format_duration(config.min_remaining)
        );
        EXIT_SHORT
    } else {
        EXIT_OK
    }
}
