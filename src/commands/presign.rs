//! `sessionguard presign s3://BUCKET/KEY`: an `aws s3 presign` that tells the truth.
//!
//! It resolves the credentials and applies the daemon's decision (no allow-list: the operator is
//! the user), then prints the URL on stdout, and on stderr every signed header the client must
//! send (`send header: name: value`) and the true expiry.

use aws_config::SdkConfig;

use crate::clock::Clock;
use crate::config::PresignConfig;
use crate::presign::{AllowList, Guard, PresignError};
use crate::tracked::task::{TaskCredentials, TaskSource};
use crate::{RunError, credentials_provider, signer};

/// Exit code when the session cannot cover the URL.
pub const EXIT_SESSION_TOO_SHORT: i32 = 3;
/// Exit code when no valid credentials could be resolved.
pub const EXIT_NO_CREDENTIALS: i32 = 2;

/// Presigns once; returns the exit code.
pub async fn presign(
    config: &PresignConfig,
    sdk: &SdkConfig,
    clock: Clock,
) -> Result<i32, RunError> {
    let provider = credentials_provider(sdk)?;
    let task = TaskCredentials::new(
        TaskSource::new(
            provider,
            None,
            config.check_timeout,
            std::time::Duration::ZERO,
        ),
        clock,
    );
    task.tracked.attempt(None).await;
    let guard = Guard {
        signing: task.tracked.clone(),
        signer: signer(sdk, &config.signing)?,
        allow_list: AllowList::Unrestricted,
        limits: config.signing.limits,
        first_wait: config.check_timeout,
    };
    Ok(match guard.presign(&config.request).await {
        Ok(issued) => {
            println!("{}", issued.url);
            for (name, value) in &issued.headers {
                eprintln!("send header: {name}: {value}");
            }
            eprintln!(
                "expires at {} (in {}s); the credentials expire at {}",
                issued.expires_at,
                issued.expires_in,
                issued
                    .credentials_expire_at
                    .as_deref()
                    .unwrap_or("never (static keys)")
            );
            0
        }
        Err(e @ PresignError::SessionTooShort { .. }) => {
            eprintln!("session too short: {e}");
            EXIT_SESSION_TOO_SHORT
        }
        Err(e @ PresignError::Unavailable { .. }) => {
            eprintln!("{e}");
            EXIT_NO_CREDENTIALS
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    })
}
