//! SIGTERM (what ECS sends on stop) or SIGINT (Ctrl-C) becomes one cancel signal for the loop and
//! every listener.

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first SIGTERM or SIGINT and returns the signal's name.
pub async fn on_signal(token: CancellationToken) -> &'static str {
    let name = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        },
        // Without signal handlers (not expected on Linux) the daemon runs until killed.
        _ => std::future::pending().await,
    };
    token.cancel();
    name
}
