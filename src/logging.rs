//! Log lines on stdout: text for a person at a terminal, flat JSON for CloudWatch.
//!
//! A JSON line is one flat object (`timestamp`, `level`, `message`, then every field at top level,
//! no span or target noise) so Logs Insights can `filter level = "WARN"` and
//! `stats min(remaining_seconds)` without parsing. Numbers and booleans stay JSON numbers and
//! booleans. A field recorded as `?OrNull(None)` is written as JSON `null` (`expires_at` of static
//! keys).

use std::fmt;
use std::io::IsTerminal;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::clock::{self, Clock};
use crate::config::LogFormat;

/// Which events are written unless `RUST_LOG` says otherwise: ours from INFO, the AWS SDK's only
/// at ERROR (its provider-chain WARN repeats what our `credentials check failed` line says).
pub const DEFAULT_FILTER: &str = "sessionguard=info,error";

/// Records an optional value as itself or as `null`: JSON `null` in a JSON line. Record it with
/// `?`, since tracing only passes `Debug` values through to the formatter.
pub struct OrNull<T>(pub Option<T>);

impl<T: fmt::Display> fmt::Debug for OrNull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => write!(f, "{v}"),
            None => f.write_str("null"),
        }
    }
}

/// Installs the global subscriber writing to stdout. A second call (tests) is a no-op.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    let _ = if json {
        builder
            .event_format(JsonLines {
                clock: clock::system(),
            })
            .try_init()
    } else {
        builder
            .with_ansi(std::io::stdout().is_terminal())
            .with_target(false)
            .try_init()
    };
}

/// Formats each event as one flat JSON object.
pub struct JsonLines {
    /// Wall clock for the `timestamp` field.
    pub clock: Clock,
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
        let mut fields = FlatFields(Map::new());
        fields.0.insert(
            "timestamp".into(),
            humantime::format_rfc3339_millis(self.clock.now())
                .to_string()
                .into(),
        );
        fields
            .0
            .insert("level".into(), event.metadata().level().as_str().into());
        // Placed before the fields so every line reads timestamp, level, message, then the rest.
        fields.0.insert("message".into(), "".into());
        event.record(&mut fields);
        let line = serde_json::to_string(&fields.0).map_err(|_| fmt::Error)?;
        writeln!(writer, "{line}")
    }
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

    /// A JSON line is flat and typed: what Logs Insights filters and aggregates on.
    #[test]
    fn json_lines_are_flat_and_typed() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let clock = Clock::new(aws_smithy_async::time::StaticTimeSource::new(
            UNIX_EPOCH + Duration::from_secs(1_795_867_200),
        ));
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .event_format(JsonLines { clock })
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(
                remaining_seconds = 42i64,
                rotated = true,
                source = "EcsContainer",
                expires_at = ?OrNull::<String>(None),
                at = ?OrNull(Some("2026-11-28T12:00:00Z")),
                "credentials checked"
            );
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
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
}
