//! The mechanism with a scripted source: single flight, spacing, waiting for the first answer.

use super::*;
use aws_credential_types::Credentials;
use aws_smithy_async::test_util::ManualTimeSource;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::UNIX_EPOCH;

/// Answers after `delay` with a session of `lifetime`, counting its fetches.
struct Counting {
    fetches: AtomicUsize,
    delay: Duration,
    lifetime: Duration,
}

impl Source for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }

    fn fetch<'a>(&'a self, attempt: Attempt<'a>) -> BoxFuture<'a, Result<Fetched, Failure>> {
        Box::pin(async move {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            Ok(Fetched {
                credentials: Credentials::new(
                    format!("ASIACOUNTING{n:04}"),
                    "secret",
                    Some("token".into()),
                    Some(attempt.now + self.lifetime),
                    "Counting",
                ),
                warning: None,
            })
        })
    }

    fn spacing(&self) -> Duration {
        Duration::from_secs(5)
    }

    fn fresh(&self) -> Fresh {
        Fresh::Unknown
    }

    fn log_success(&self, _: &Success<'_>) {}

    fn log_failure(&self, _: &Failed<'_>) {}

    fn limit(&self, _: Option<&Snapshot>, _: Option<u64>, _: u64) -> Limit {
        Limit {
            reason: String::new(),
            advice: "",
        }
    }
}

fn tracked(delay: Duration) -> (Tracked, Arc<Counting>, ManualTimeSource) {
    let manual = ManualTimeSource::new(UNIX_EPOCH + Duration::from_secs(1_795_867_200));
    let source = Arc::new(Counting {
        fetches: AtomicUsize::new(0),
        delay,
        lifetime: Duration::from_secs(600),
    });
    let tracked = Tracked::new(
        source.clone(),
        Clock::new(manual.clone()),
        Counters::new("test_attempts_total", "test", None),
    );
    (tracked, source, manual)
}

/// A hundred requests short at once make one fetch, and every one of them sees its answer.
#[tokio::test]
async fn concurrent_refreshes_share_one_fetch() {
    let (tracked, source, _) = tracked(Duration::from_millis(50));
    let waiters: Vec<_> = (0..100)
        .map(|_| {
            let t = tracked.clone();
            tokio::spawn(async move { t.refresh_for(3600).await })
        })
        .collect();
    for w in waiters {
        w.await.unwrap();
    }
    assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
    assert!(tracked.current().is_some());
}

/// Requests one after another within the spacing decide on the newest answer; after it, one more
/// fetch; the periodic refresh ignores the spacing.
#[tokio::test]
async fn on_demand_refreshes_are_spaced() {
    let (tracked, source, manual) = tracked(Duration::ZERO);
    let fetches = || source.fetches.load(Ordering::SeqCst);
    tracked.refresh(None).await;
    assert_eq!(fetches(), 1);
    for _ in 0..50 {
        tracked.refresh_for(3600).await;
    }
    assert_eq!(fetches(), 1);
    manual.advance(Duration::from_secs(4));
    tracked.refresh_for(3600).await;
    assert_eq!(fetches(), 1);
    manual.advance(Duration::from_secs(1));
    tracked.refresh_for(3600).await;
    assert_eq!(fetches(), 2);
    tracked.refresh(None).await;
    assert_eq!(fetches(), 3);
    let attempts = &tracked.counters().attempts;
    assert_eq!(attempts.with_label_values(&["success"]).get(), 3);
}

/// A caller that arrives before the first answer waits for it (bounded), and is told the
/// credentials are still loading when the wait runs out.
#[tokio::test]
async fn waits_for_the_first_answer() {
    let (tracked, _, _) = tracked(Duration::from_millis(100));
    assert!(
        tracked
            .unavailable_reason(false, None, 3600)
            .contains("still loading: their first refresh has not finished"),
        "{}",
        tracked.unavailable_reason(false, None, 3600)
    );
    tracked.settled(Duration::from_millis(10)).await;
    assert!(tracked.current().is_none());
    let t = tracked.clone();
    tokio::spawn(async move { t.attempt(None).await });
    tracked.settled(Duration::from_secs(5)).await;
    assert!(tracked.current().is_some());
}
