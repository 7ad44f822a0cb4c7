//! Every long-running task of the daemon is supervised: one that ends before shutdown was asked
//! for (a panic, an early return) is logged at ERROR with its cause, stops the others and makes
//! the daemon exit non-zero, so ECS replaces the task instead of keeping a half-working process
//! that still answers `/healthz`.
//!
//! Debug builds (the tests' binary) honour `SESSIONGUARD_DEBUG_PANIC=<task name>`: that task
//! panics as it starts, so the integration tests can watch supervision work on the real binary.

use std::collections::HashMap;
use std::future::Future;

use tokio::task::{Id, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::error;

/// A task that ended on its own.
#[derive(Debug, thiserror::Error)]
#[error("task {task} {cause}")]
pub struct TaskEnded {
    pub task: &'static str,
    pub cause: String,
}

/// The daemon's tasks, by name.
pub struct Tasks {
    set: JoinSet<()>,
    names: HashMap<Id, &'static str>,
    shutdown: CancellationToken,
}

impl Tasks {
    /// Tasks that all stop when `shutdown` is cancelled.
    pub fn new(shutdown: CancellationToken) -> Self {
        Tasks {
            set: JoinSet::new(),
            names: HashMap::new(),
            shutdown,
        }
    }

    /// Starts `task` under `name` (`monitor`, `signing`, `api-server`, `metrics-server`).
    pub fn spawn(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        let panic_at_start = cfg!(debug_assertions)
            && std::env::var("SESSIONGUARD_DEBUG_PANIC").is_ok_and(|v| v == name);
        let handle = self.set.spawn(async move {
            if panic_at_start {
                panic!("SESSIONGUARD_DEBUG_PANIC={name}");
            }
            task.await
        });
        self.names.insert(handle.id(), name);
    }

    /// Waits for every task. The first to end before shutdown is logged, cancels the rest and is
    /// returned; a panic during shutdown is logged and returned too.
    pub async fn join(mut self) -> Result<(), TaskEnded> {
        let mut first: Option<TaskEnded> = None;
        while let Some(joined) = self.set.join_next_with_id().await {
            let (id, cause) = match joined {
                Ok((id, ())) if self.shutdown.is_cancelled() => {
                    self.names.remove(&id);
                    continue;
                }
                Ok((id, ())) => (id, "returned before shutdown".to_string()),
                Err(e) if e.is_panic() => {
                    let id = e.id();
                    (id, format!("panicked: {}", panic_message(e.into_panic())))
                }
                Err(e) => (e.id(), "was cancelled".to_string()),
            };
            let task = self.names.remove(&id).unwrap_or("unknown");
            error!(
                task,
                error = cause.as_str(),
                "task ended unexpectedly; exiting so ECS replaces the task"
            );
            self.shutdown.cancel();
            first.get_or_insert(TaskEnded { task, cause });
        }
        first.map_or(Ok(()), Err)
    }
}

/// The text a panic was raised with.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(text) => (*text).to_string(),
            Err(_) => "a non-text panic".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Tasks with a `server` that runs until shutdown, and the shutdown that stops them.
    fn with_a_server() -> (CancellationToken, Tasks) {
        let shutdown = CancellationToken::new();
        let mut tasks = Tasks::new(shutdown.clone());
        let waiting = shutdown.clone();
        tasks.spawn("server", async move { waiting.cancelled().await });
        (shutdown, tasks)
    }

    /// A task that panics is reported by name with its message, and the others are stopped.
    #[tokio::test]
    async fn a_panic_stops_everything() {
        let (shutdown, mut tasks) = with_a_server();
        tasks.spawn("monitor", async { panic!("formatting failed") });
        let ended = tokio::time::timeout(Duration::from_secs(5), tasks.join())
            .await
            .expect("the other task stops")
            .unwrap_err();
        assert_eq!(ended.task, "monitor");
        assert_eq!(ended.cause, "panicked: formatting failed");
        assert!(shutdown.is_cancelled());
    }

    /// A task that returns before shutdown is as much a failure as a panic.
    #[tokio::test]
    async fn an_early_return_is_reported() {
        let shutdown = CancellationToken::new();
        let mut tasks = Tasks::new(shutdown.clone());
        tasks.spawn("signing", async {});
        let ended = tasks.join().await.unwrap_err();
        assert_eq!(
            (ended.task, ended.cause.as_str()),
            ("signing", "returned before shutdown")
        );
    }

    /// Tasks that end because shutdown was asked for are no failure.
    #[tokio::test]
    async fn shutdown_is_quiet() {
        let (shutdown, tasks) = with_a_server();
        shutdown.cancel();
        assert!(tasks.join().await.is_ok());
    }
}
