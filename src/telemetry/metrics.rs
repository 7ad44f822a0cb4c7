//! Prometheus metrics, in an owned registry (no globals).
//!
//! The tracked credentials own their attempt counters ([`crate::tracked::Counters`]); this module
//! registers them with its own. Everything derived from the credentials (expiry, remaining time,
//! identity, last success, the longest URL grantable) is computed by [`SessionCollector`] when
//! Prometheus scrapes, from the stored facts and the injected clock, so the remaining time is
//! `expiry - now` at scrape time, not a value from the last check.

use std::sync::Mutex;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry,
    TextEncoder,
};

use crate::clock;
use crate::presign::{Limits, Refusal};
use crate::tracked::task::TaskCredentials;
use crate::tracked::{Tracked, signing_counters};

/// The registry and the counters the HTTP layer updates.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    presign_requests: IntCounterVec,
    presign_duration: Histogram,
    task: GaugeVec,
}

impl Metrics {
    /// Registers every metric at start, so a scrape shows the full set (counters at 0) from the
    /// first second.
    pub fn new(task: &TaskCredentials, signing: &Tracked, limits: Limits) -> Self {
        let metrics = Metrics {
            registry: Registry::new(),
            presign_requests: presign_requests(),
            presign_duration: presign_duration(),
            // Empty until `set_task` knows the ECS task.
            task: info_gauge(
                "sessionguard_task_info",
                "Always 1; the ECS task sessionguard runs in (from task metadata v4).",
                &[
                    "cluster",
                    "family",
                    "revision",
                    "task_id",
                    "availability_zone",
                ],
            ),
        };
        // With `--signing-source task` nothing refreshes signing credentials of their own; the
        // counter still exists, at 0, so dashboards and alerts see the same set everywhere.
        let signing_counters = if signing.same(&task.tracked) {
            signing_counters()
        } else {
            signing.counters().clone()
        };
        let task_counters = task.tracked.counters();
        let mut collectors: Vec<Box<dyn Collector>> = vec![
            Box::new(metrics.task.clone()),
            Box::new(task_counters.attempts.clone()),
            Box::new(metrics.presign_requests.clone()),
            Box::new(metrics.presign_duration.clone()),
            Box::new(build_info()),
            Box::new(signing_counters.attempts),
            Box::new(SessionCollector::new(task.clone(), signing.clone(), limits)),
            Box::new(DroppedLines::new()),
            #[cfg(target_os = "linux")]
            Box::new(prometheus::process_collector::ProcessCollector::for_self()),
        ];
        collectors.extend(
            task_counters
                .rotations
                .clone()
                .map(|r| Box::new(r) as Box<dyn Collector>),
        );
        for c in collectors {
            metrics
                .registry
                .register(c)
                .expect("metric names are unique");
        }
        metrics
    }

    /// Exports the ECS task's identity as `sessionguard_task_info`.
    pub fn set_task(&self, task: &super::task_metadata::TaskMetadata) {
        self.task
            .with_label_values(&[
                task.cluster.as_str(),
                task.family.as_str(),
                task.revision.as_str(),
                task.task_id.as_str(),
                task.availability_zone.as_str(),
            ])
            .set(1.0);
    }

    /// Exports the Kubernetes pod's identity as `sessionguard_pod_info`, with only the labels the
    /// Downward API gave (none given: no such series).
    pub fn set_pod(&self, pod: &super::pod::PodLabels) {
        if pod.is_empty() {
            return;
        }
        let opts = Opts::new(
            "sessionguard_pod_info",
            "Always 1; the Kubernetes pod sessionguard runs in (from the Downward API variables).",
        )
        .const_labels(
            pod.pairs()
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        );
        // Label values come from the pod spec: a value Prometheus cannot carry is not worth failing for.
        if let Ok(gauge) = prometheus::Gauge::with_opts(opts) {
            gauge.set(1.0);
            let _ = self.registry.register(Box::new(gauge));
        }
    }

    /// Counts one presign answer (a batch gives one per request).
    pub fn presign_counted(&self, result: &str) {
        self.presign_requests.with_label_values(&[result]).inc();
    }

    /// Times one presign HTTP request (a batch is one).
    pub fn presign_timed(&self, seconds: f64) {
        self.presign_duration.observe(seconds);
    }

    /// The Prometheus text exposition of every metric, computed now.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(out).expect("text format is UTF-8")
    }
}

/// An `_info` gauge: an identity in its labels, its value always 1.
fn info_gauge(name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    GaugeVec::new(Opts::new(name, help), labels).expect("valid metric")
}

/// `sessionguard_build_info`, set to 1 with the running version as its label.
fn build_info() -> GaugeVec {
    let build = info_gauge(
        "sessionguard_build_info",
        "Always 1; the version label tells which sessionguard runs.",
        &["version"],
    );
    build
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1.0);
    build
}

/// `sessionguard_presign_requests_total`, every result of the refusal vocabulary
/// ([`Refusal::results`]) at 0, so `rate()` works from the first scrape.
fn presign_requests() -> IntCounterVec {
    let results = Refusal::results();
    let help = format!(
        "Presign answers, by result ({}); each request of a batch counts once.",
        results.join(", ")
    );
    let presign_requests = IntCounterVec::new(
        Opts::new("sessionguard_presign_requests_total", help),
        &["result"],
    )
    .expect("valid metric");
    for result in results {
        presign_requests.with_label_values(&[result]);
    }
    presign_requests
}

/// `sessionguard_presign_duration_seconds`, in buckets from 100 µs to 5 s.
fn presign_duration() -> Histogram {
    Histogram::with_opts(
        HistogramOpts::new(
            "sessionguard_presign_duration_seconds",
            "Time to answer a presign HTTP request, refusals included; a batch is one request, however many it holds.",
        )
        .buckets(vec![
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
        ]),
    )
    .expect("valid metric")
}

/// `sessionguard_log_lines_dropped_total`, read from the log pipe when Prometheus scrapes: the
/// pipe's own count is the only state.
struct DroppedLines(IntCounter);

const DROPPED_LINES: &str = "sessionguard_log_lines_dropped_total";
const DROPPED_LINES_HELP: &str = "Log lines dropped because stdout was not read fast enough (per-request lines first; see README's Log lines).";

impl DroppedLines {
    fn new() -> Self {
        DroppedLines(IntCounter::new(DROPPED_LINES, DROPPED_LINES_HELP).expect("valid metric"))
    }
}

impl Collector for DroppedLines {
    fn desc(&self) -> Vec<&Desc> {
        self.0.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let now = IntCounter::new(DROPPED_LINES, DROPPED_LINES_HELP).expect("valid metric");
        now.inc_by(super::log_pipe::dropped_lines());
        now.collect()
    }
}

/// Metrics computed at scrape time from the tracked facts and the clock.
struct SessionCollector {
    task: TaskCredentials,
    /// The credentials URLs are signed with (the task's own with `--signing-source task`).
    signing: Tracked,
    signing_expiry: Gauge,
    expiry: Gauge,
    remaining: Gauge,
    last_success: Gauge,
    info: GaugeVec,
    max_expires_in: Gauge,
    limits: Limits,
    /// Serialises scrapes: `info` is reset and refilled on each one.
    lock: Mutex<()>,
    descs: Vec<Desc>,
}

impl SessionCollector {
    fn new(task: TaskCredentials, signing: Tracked, limits: Limits) -> Self {
        let gauge = |name: &str, help: &str| Gauge::new(name, help).expect("valid metric");
        let expiry = gauge(
            "sessionguard_credentials_expiry_timestamp_seconds",
            "When the current credentials expire, in Unix seconds; absent for credentials that do not expire.",
        );
        let remaining = gauge(
            "sessionguard_credentials_remaining_seconds",
            "Seconds until the current credentials expire, computed at scrape time; negative once expired.",
        );
        let last_success = gauge(
            "sessionguard_credentials_last_success_timestamp_seconds",
            "When a credential check last succeeded, in Unix seconds.",
        );
        let info = info_gauge(
            "sessionguard_credentials_info",
            "Always 1; labels name the credentials' source, role ARN and account.",
            &["source", "role_arn", "account"],
        );
        let max_expires_in = gauge(
            "sessionguard_presign_max_expires_in_seconds",
            "Longest presigned URL the daemon would sign now (remaining time minus margin, capped), computed at scrape time.",
        );
        let signing_expiry = gauge(
            "sessionguard_signing_credentials_expiry_timestamp_seconds",
            "When the credentials URLs are signed with may stop working (session expiry, or the key's possible deactivation under rotation), in Unix seconds; absent when unbounded.",
        );
        let descs = [
            &expiry as &dyn Collector,
            &signing_expiry,
            &remaining,
            &last_success,
            &info,
            &max_expires_in,
        ]
        .iter()
        .flat_map(|c| c.desc().into_iter().cloned())
        .collect();
        SessionCollector {
            task,
            signing,
            signing_expiry,
            expiry,
            remaining,
            last_success,
            info,
            max_expires_in,
            limits,
            lock: Mutex::new(()),
            descs,
        }
    }
}

impl Collector for SessionCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let (current, last_success_at) = self
            .task
            .tracked
            .peek(|s| (s.current.clone(), s.last_success_at));
        let now = self.task.tracked.now();
        let mut families = Vec::new();
        let start = clock::whole_second(now);
        let signing = self.signing.current();
        let available = signing
            .as_ref()
            .and_then(|c| self.limits.available(c, start))
            .unwrap_or(0);
        self.max_expires_in.set(available as f64);
        families.extend(self.max_expires_in.collect());
        if let Some(expiry) = signing.as_ref().and_then(|c| c.expiry()) {
            self.signing_expiry.set(clock::unix_seconds(expiry));
            families.extend(self.signing_expiry.collect());
        }
        if let Some(at) = last_success_at {
            self.last_success.set(clock::unix_seconds(at));
            families.extend(self.last_success.collect());
        }
        let Some(current) = &current else {
            return families;
        };
        if let Some(expiry) = current.expiry() {
            self.expiry.set(clock::unix_seconds(expiry));
            self.remaining.set(clock::seconds_until(expiry, now));
            families.extend(self.expiry.collect());
            families.extend(self.remaining.collect());
        }
        let identity = self.task.identity();
        let identity = identity.as_ref();
        self.info.reset();
        self.info
            .with_label_values(&[
                current.source.as_str(),
                identity.map_or("", |i| i.arn.as_str()),
                identity.map_or("", |i| i.account.as_str()),
            ])
            .set(1.0);
        families.extend(self.info.collect());
        families
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, testing};
    use crate::tracked::task::TaskSource;
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    use std::time::Duration;

    fn sample(text: &str, name: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
    }

    /// Task credentials whose endpoint always serves `creds` (no identity lookup; the warning
    /// threshold, which only picks a log level, at zero).
    fn task(creds: Credentials, clock: Clock) -> TaskCredentials {
        let provider = SharedCredentialsProvider::new(creds);
        let source = TaskSource::new(provider, None, Duration::from_secs(1), Duration::ZERO);
        TaskCredentials::new(source, clock)
    }

    /// The remaining-time gauge follows the clock between scrapes, with no check in between.
    #[tokio::test]
    async fn remaining_is_computed_at_scrape() {
        let (manual, clock) = testing::manual();
        let creds = testing::session_credentials(testing::start() + Duration::from_secs(900));
        let task = task(creds, clock);
        let metrics = Metrics::new(&task, &task.tracked, crate::presign::guard::tests_limits());

        let text = metrics.render();
        assert_eq!(
            sample(&text, "sessionguard_credentials_remaining_seconds"),
            None
        );
        assert_eq!(
            sample(
                &text,
                "sessionguard_credentials_checks_total{result=\"failure\"}"
            ),
            Some(0.0)
        );
        assert_eq!(
            sample(
                &text,
                "sessionguard_signing_credentials_refreshes_total{result=\"success\"}"
            ),
            Some(0.0)
        );

        task.tracked.attempt(None).await;
        let text = metrics.render();
        assert_eq!(
            sample(&text, "sessionguard_credentials_remaining_seconds"),
            Some(900.0)
        );
        assert_eq!(
            sample(&text, "sessionguard_credentials_expiry_timestamp_seconds"),
            Some(1_795_868_100.0)
        );
        assert_eq!(
            sample(&text, "sessionguard_presign_max_expires_in_seconds"),
            Some(840.0)
        );
        assert!(text.contains(
            "sessionguard_credentials_info{account=\"\",role_arn=\"\",source=\"EcsContainer\"} 1"
        ));

        manual.advance(Duration::from_secs(905));
        let text = metrics.render();
        assert_eq!(
            sample(&text, "sessionguard_credentials_remaining_seconds"),
            Some(-5.0)
        );
    }

    /// Every presign `result` (`error`, a 500, included) is scraped at 0 before any request, so
    /// `rate()` and alerts see it from the first scrape.
    #[test]
    fn every_presign_result_starts_at_zero() {
        let creds = Credentials::new("AKIDEXAMPLE12345", "s", None, None, "EnvironmentVariable");
        let task = task(creds, crate::clock::system());
        let metrics = Metrics::new(&task, &task.tracked, crate::presign::guard::tests_limits());
        let text = metrics.render();
        for result in [
            "issued",
            "session_too_short",
            "forbidden",
            "invalid",
            "unavailable",
            "overloaded",
            "error",
        ] {
            let series = format!("sessionguard_presign_requests_total{{result=\"{result}\"}}");
            assert_eq!(sample(&text, &series), Some(0.0), "{series}");
        }
    }

    /// Static keys have no expiry, so the expiry and remaining gauges are absent, not zero.
    #[tokio::test]
    async fn static_keys_have_no_expiry_gauges() {
        let creds = Credentials::new("AKIDEXAMPLE12345", "s", None, None, "EnvironmentVariable");
        let task = task(creds, crate::clock::system());
        let metrics = Metrics::new(&task, &task.tracked, crate::presign::guard::tests_limits());
        task.tracked.attempt(None).await;
        let text = metrics.render();
        assert!(
            !text.contains("sessionguard_credentials_remaining_seconds "),
            "{text}"
        );
        assert!(
            !text.contains("sessionguard_credentials_expiry_timestamp_seconds "),
            "{text}"
        );
        assert!(text.contains("source=\"EnvironmentVariable\"} 1"), "{text}");
    }
}
