//! Text forms shared by log lines, errors and answers: a cause chain on one line, and optional
//! log fields that are JSON `null` when absent.

use std::fmt;

/// Joins an error and its sources with `: `, the way a person reads a cause chain.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        // Some errors repeat their source's text in their own; print it once.
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    /// Every cause in the chain reaches the log line.
    #[test]
    fn chain_joins_causes() {
        let err = Outer(std::io::Error::other("connection refused"));
        assert_eq!(error_chain(&err), "outer: connection refused");
    }
}
