//! Log lines on stdout: text for a person at a terminal, flat JSON for CloudWatch.
//!
//! A JSON line is one flat object (`timestamp`, `level`, `message`, then every field at top level,
//! no span or target noise) so Logs Insights can `filter level = "WARN"` and
//! `stats min(remaining_seconds)` without parsing. Numbers and booleans stay JSON numbers and
//! booleans. A field recorded as `?OrNull(None)` ([`crate::text::OrNull`]) is written as JSON `null` (`expires_at` of static
//! keys).
//!
//! `--log-format emf` writes the same lines and makes the check and presign-refusal lines CloudWatch
//! Embedded Metric Format records too (`_aws` metadata plus a metric member), so CloudWatch gets
//! `CredentialsRemainingSeconds` and `PresignRefusals` metrics with no agent. The ECS task's
//! identity ([`set_context`]) goes on every JSON line and is the metrics' low-cardinality dimension.

use std::fmt;
use std::io::IsTerminal;
use std::sync::OnceLock;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use super::log_pipe::{self, REQUESTS_TARGET};
use crate::clock::{self, Clock, Precision, Rfc3339};
use crate::tracked::task::CHECK_TARGET;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// JSON when stdout is not a terminal (CloudWatch), text when it is (a person).
    Auto,
    /// Human-readable `key=value` lines.
    Text,
    /// One flat JSON object per line, for CloudWatch Logs Insights.
    Json,
    /// JSON lines that are also CloudWatch Embedded Metric Format records.
    Emf,
}

impl LogFormat {
    /// `auto`, `text`, `json` or `emf`, in any case.
    pub fn parse(text: &str) -> Option<LogFormat> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(LogFormat::Auto),
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            "emf" => Some(LogFormat::Emf),
            _ => None,
        }
    }
}

/// Which events are written unless `RUST_LOG` says otherwise: ours from INFO, the AWS SDK's only
/// at ERROR (its provider-chain WARN repeats what our `credentials check failed` line says).
pub const DEFAULT_FILTER: &str = "sessionguard=info,error";

/// Default `--emf-namespace`: the CloudWatch namespace of the EMF metrics.
pub const DEFAULT_EMF_NAMESPACE: &str = "Sessionguard";

/// Fields that go on every JSON line (the ECS task), set once at start.
static CONTEXT: OnceLock<Vec<(String, Value)>> = OnceLock::new();

/// Puts `fields` on every JSON line from now on; only the first call counts.
pub fn set_context(fields: Vec<(String, Value)>) {
    let _ = CONTEXT.set(fields);
}

/// Targets whose events are never written, at any level: aws-sigv4 traces the canonical request
/// and string to sign, which with the session token make a working URL; the SDK's endpoint
/// resolution logs its parameters at DEBUG, the signing identity among them (the whole access key
/// id, which every other line masks).
const SECRET_BEARING_TARGETS: &[&str] = &[
    "aws_sigv4",
    "aws_smithy_runtime::client::orchestrator::endpoints",
];

/// Whether an event may carry a secret whatever `RUST_LOG` asks for: any event of
/// [`SECRET_BEARING_TARGETS`] (and their modules), and every TRACE event of another crate (the AWS
/// SDK's orchestrator traces whole requests and responses: signatures, session tokens, STS and
/// Secrets Manager answers with their keys). sessionguard's own events never carry one.
pub fn may_carry_secrets(meta: &tracing::Metadata<'_>) -> bool {
    let target = meta.target();
    let crate_name = target.split("::").next().unwrap_or(target);
    if crate_name == "sessionguard" {
        return false;
    }
    let under = |t: &str| {
        target == t
            || target
                .strip_prefix(t)
                .is_some_and(|rest| rest.starts_with("::"))
    };
    SECRET_BEARING_TARGETS.iter().any(|t| under(t)) || *meta.level() == tracing::Level::TRACE
}

/// Installs the global subscriber writing to stdout. A second call (tests) is a no-op.
///
/// Lines go through [`log_pipe`]: a writer thread batches them into few `write` calls, and nothing
/// that logs waits for stdout (per-request lines are dropped and counted when it is not read).
/// `RUST_LOG` chooses the events, except those that [`may_carry_secrets`]. Keep the returned guard
/// until the process ends; dropping it writes what is queued, waiting a bounded time.
pub fn init(format: LogFormat, emf_namespace: &str) -> log_pipe::PipeGuard {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER))
        .and(filter_fn(|meta| !may_carry_secrets(meta)));
    let json = match format {
        LogFormat::Json | LogFormat::Emf => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let (pipe, guard) = log_pipe::start(std::io::stdout(), |dropped| {
        tracing::warn!(
            dropped_lines = dropped,
            dropped_lines_total = log_pipe::dropped_lines(),
            "log lines dropped: stdout was not read fast enough"
        )
    });
    let layer = tracing_subscriber::fmt::layer().with_writer(pipe);
    let layer: Box<dyn Layer<Registry> + Send + Sync> = if json {
        layer
            .event_format(JsonLines {
                clock: clock::system(),
                emf_namespace: (format == LogFormat::Emf).then(|| emf_namespace.to_string()),
            })
            .boxed()
    } else {
        layer
            .with_ansi(std::io::stdout().is_terminal())
            .with_target(false)
            .with_timer(TextTimestamp(clock::system()))
            .boxed()
    };
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
    guard
}

/// Formats each event as one flat JSON object.
pub struct JsonLines {
    /// Wall clock for the `timestamp` field.
    pub clock: Clock,
    /// `Some(namespace)`: add CloudWatch EMF metadata to metric-bearing lines.
    pub emf_namespace: Option<String>,
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let now = self.clock.now();
        let mut fields = FlatFields(Map::new());
        event.record(&mut fields);
        let context = CONTEXT.get().map_or(&[][..], Vec::as_slice);
        if let Some(namespace) = &self.emf_namespace {
            let millis = clock::unix_seconds(now) * 1000.0;
            let target = event.metadata().target();
            add_emf(
                &mut fields.0,
                context,
                target,
                namespace,
                millis.floor() as i64,
            );
        }
        let level = event.metadata().level().as_str();
        let line = render(now, level, context, &fields.0).map_err(|_| fmt::Error)?;
        writeln!(writer, "{line}")
    }
}

/// One JSON line: `timestamp`, `level`, `message`, the context (the task), then the event's other
/// fields; an event's field named like one of these takes its place. The context is read where it
/// lies, never copied into the line's fields.
fn render(
    now: std::time::SystemTime,
    level: &str,
    context: &[(String, Value)],
    fields: &Map<String, Value>,
) -> Result<String, serde_json::Error> {
    const HEAD: [&str; 3] = ["timestamp", "level", "message"];
    let mut line = Line(Vec::with_capacity(512));
    let timestamp = Rfc3339::new(now, Precision::Millis);
    match fields.get("timestamp") {
        Some(given) => line.entry("timestamp", given)?,
        None => line.entry("timestamp", timestamp.as_str())?,
    }
    match fields.get("level") {
        Some(given) => line.entry("level", given)?,
        None => line.entry("level", level)?,
    }
    match fields.get("message") {
        Some(given) => line.entry("message", given)?,
        None => line.entry("message", "")?,
    }
    for (name, value) in context {
        if !HEAD.contains(&name.as_str()) {
            line.entry(name, fields.get(name).unwrap_or(value))?;
        }
    }
    for (name, value) in fields {
        if !HEAD.contains(&name.as_str()) && !context.iter().any(|(n, _)| n == name) {
            line.entry(name, value)?;
        }
    }
    line.0.push(b'}');
    // serde_json writes UTF-8 only.
    Ok(String::from_utf8(line.0).unwrap_or_default())
}

/// A JSON object being written, entry by entry.
struct Line(Vec<u8>);

impl Line {
    fn entry<V: serde::Serialize + ?Sized>(
        &mut self,
        key: &str,
        value: &V,
    ) -> Result<(), serde_json::Error> {
        self.0.push(if self.0.is_empty() { b'{' } else { b',' });
        serde_json::to_writer(&mut self.0, key)?;
        self.0.push(b':');
        serde_json::to_writer(&mut self.0, value)
    }
}

/// The time on a text line: microseconds, as tracing-subscriber's own timer writes them, from the
/// same clock and formatter as every other time the daemon writes.
struct TextTimestamp(Clock);

impl FormatTime for TextTimestamp {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        w.write_str(Rfc3339::new(self.0.now(), Precision::Micros).as_str())
    }
}

/// Makes a line an EMF record when it carries a metric, chosen by the event's target and fields,
/// never its text: a check ([`CHECK_TARGET`]) with a remaining time, or a presign answer
/// ([`REQUESTS_TARGET`]) that is a refusal (it has a `reason`). Dimensions are the ECS task
/// family or the Kubernetes namespace when known (low cardinality: never the task id or the pod),
/// else the credentials source, plus the refusal reason.
fn add_emf(
    fields: &mut Map<String, Value>,
    context: &[(String, Value)],
    target: &str,
    namespace: &str,
    timestamp_ms: i64,
) {
    let base = ["task_family", "k8s_namespace_name"]
        .into_iter()
        .find(|k| fields.contains_key(*k) || context.iter().any(|(n, _)| n == k))
        .unwrap_or("source");
    let (metric, unit, value, dimensions) = match target {
        CHECK_TARGET => match fields.get("remaining_seconds") {
            Some(remaining) => (
                "CredentialsRemainingSeconds",
                "Seconds",
                remaining.clone(),
                vec![base],
            ),
            None => return,
        },
        REQUESTS_TARGET if fields.contains_key("reason") => {
            let mut dims = vec!["reason"];
            if base != "source" {
                dims.insert(0, base);
            }
            ("PresignRefusals", "Count", Value::from(1), dims)
        }
        _ => return,
    };
    fields.insert(metric.into(), value);
    fields.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dimensions],
                "Metrics": [{"Name": metric, "Unit": unit}],
            }],
        }),
    );
}

/// Collects an event's fields as JSON values, keeping numbers and booleans typed.
struct FlatFields(Map<String, Value>);

impl Visit for FlatFields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        let value = if text == "null" {
            Value::Null
        } else {
            text.into()
        };
        self.0.insert(field.name().into(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, UNIX_EPOCH};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The one JSON line `log` writes, with `clock` for its timestamp.
    fn json_line(clock: Clock, log: impl FnOnce()) -> Value {
        line_of(clock, None, log)
    }

    /// The one line `log` writes, EMF in `emf_namespace` when given.
    fn line_of(clock: Clock, emf_namespace: Option<String>, log: impl FnOnce()) -> Value {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .event_format(JsonLines {
                clock,
                emf_namespace,
            })
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        serde_json::from_str(text.trim()).unwrap()
    }

    fn clock_at(t: std::time::SystemTime) -> Clock {
        Clock::new(aws_smithy_async::time::StaticTimeSource::new(t))
    }

    /// A JSON line is flat and typed: what Logs Insights filters and aggregates on.
    #[test]
    fn json_lines_are_flat_and_typed() {
        let clock = clock_at(clock::testing::start());
        let line = json_line(clock, || {
            tracing::warn!(
                remaining_seconds = 42i64,
                rotated = true,
                source = "EcsContainer",
                expires_at = ?crate::text::OrNull::<String>(None),
                at = ?crate::text::OrNull(Some("2026-11-28T12:00:00Z")),
                "credentials checked"
            );
        });
        assert_eq!(
            line,
            serde_json::json!({
                "timestamp": "2026-11-28T12:00:00.000Z",
                "level": "WARN",
                "message": "credentials checked",
                "remaining_seconds": 42,
                "rotated": true,
                "source": "EcsContainer",
                "expires_at": null,
                "at": "2026-11-28T12:00:00Z",
            })
        );
    }

    /// A clock before 1970 (humantime's formatter panicked on one) still gives a line, its
    /// timestamp in milliseconds.
    #[test]
    fn json_line_before_1970() {
        let clock = clock_at(UNIX_EPOCH - Duration::from_millis(1_500));
        let line = json_line(clock, || tracing::info!("sessionguard started"));
        assert_eq!(line["timestamp"], "1969-12-31T23:59:58.500Z");
    }

    /// A text line's time has the form tracing-subscriber's own timer writes
    /// (`2026-11-28T12:00:00.123456Z`): same length, digits and punctuation in the same places.
    #[test]
    fn text_timestamp_keeps_tracing_subscribers_form() {
        let write = |timer: &dyn FormatTime| {
            let mut text = String::new();
            timer.format_time(&mut Writer::new(&mut text)).unwrap();
            text
        };
        let shape = |text: &str| -> String {
            text.chars()
                .map(|c| if c.is_ascii_digit() { '9' } else { c })
                .collect()
        };
        let ours = write(&TextTimestamp(clock::system()));
        let theirs = write(&tracing_subscriber::fmt::time::SystemTime);
        assert_eq!(shape(&ours), shape(&theirs), "{ours} vs {theirs}");
    }

    /// EMF records are chosen by the event, not its text: a check line (its target) and a refusal
    /// (the requests' target, with a `reason`) become records; a line from elsewhere that says
    /// "credentials checked" or "presign refused" does not.
    #[test]
    fn emf_is_chosen_by_the_event() {
        let emf = |log: fn()| {
            let line = line_of(clock::system(), Some("Sessionguard".into()), log);
            line.get("_aws").is_some()
        };
        assert!(emf(|| tracing::info!(
            target: "sessionguard::check",
            remaining_seconds = 840i64,
            "credentials checked"
        )));
        assert!(emf(|| tracing::warn!(
            target: "sessionguard::requests",
            reason = "forbidden",
            "presign refused"
        )));
        assert!(!emf(|| tracing::info!(
            remaining_seconds = 5i64,
            "credentials checked"
        )));
        assert!(!emf(|| tracing::warn!(reason = "other", "presign refused")));
    }

    /// The task context goes on a line after the message, in its order, read where it lies; an
    /// event's field of the same name takes its place, and an EMF record takes its dimension
    /// from the context.
    #[test]
    fn context_on_every_line() {
        let context = vec![
            ("cluster".to_string(), Value::from("demo")),
            ("task_family".to_string(), Value::from("app")),
            ("task_id".to_string(), Value::from("t1")),
        ];
        let mut fields: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "message": "presign refused", "reason": "forbidden", "task_id": "t2", "status": 403
        }))
        .unwrap();
        add_emf(&mut fields, &context, REQUESTS_TARGET, "Sessionguard", 0);
        let line = render(clock::testing::start(), "WARN", &context, &fields).unwrap();
        let aws = r#""_aws":{"Timestamp":0,"CloudWatchMetrics":[{"Namespace":"Sessionguard","Dimensions":[["task_family","reason"]],"Metrics":[{"Name":"PresignRefusals","Unit":"Count"}]}]}"#;
        assert_eq!(
            line,
            format!(
                r#"{{"timestamp":"2026-11-28T12:00:00.000Z","level":"WARN","message":"presign refused","cluster":"demo","task_family":"app","task_id":"t2","reason":"forbidden","status":403,"PresignRefusals":1,{aws}}}"#
            )
        );
    }

    /// An EMF check line: `_aws` metadata in ms, the metric member, dimensions that are fields of
    /// the same line.
    #[test]
    fn emf_check_and_refusal_lines() {
        let mut line: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "message": "credentials checked", "remaining_seconds": 840, "source": "EcsContainer"
        }))
        .unwrap();
        add_emf(
            &mut line,
            &[],
            CHECK_TARGET,
            "Sessionguard",
            1_795_867_200_000,
        );
        assert_eq!(line["CredentialsRemainingSeconds"], 840);
        assert_eq!(
            line["_aws"],
            serde_json::json!({
                "Timestamp": 1_795_867_200_000i64,
                "CloudWatchMetrics": [{
                    "Namespace": "Sessionguard",
                    "Dimensions": [["source"]],
                    "Metrics": [{"Name": "CredentialsRemainingSeconds", "Unit": "Seconds"}],
                }],
            })
        );
        let mut refusal: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "message": "presign refused", "reason": "session_too_short", "task_family": "app"
        }))
        .unwrap();
        add_emf(&mut refusal, &[], REQUESTS_TARGET, "Sessionguard", 0);
        assert_eq!(refusal["PresignRefusals"], 1);
        assert_eq!(
            refusal["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["task_family", "reason"]])
        );
        // On Kubernetes the namespace is the dimension, never the pod.
        let mut pod: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "message": "presign refused", "reason": "forbidden",
            "k8s_namespace_name": "shop", "k8s_pod_name": "shop-api-1"
        }))
        .unwrap();
        add_emf(&mut pod, &[], REQUESTS_TARGET, "Sessionguard", 0);
        assert_eq!(
            pod["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["k8s_namespace_name", "reason"]])
        );
        let mut other: Map<String, Value> =
            serde_json::from_value(serde_json::json!({"message": "sessionguard started"})).unwrap();
        add_emf(&mut other, &[], "sessionguard", "Sessionguard", 0);
        assert!(!other.contains_key("_aws"));
    }
}
