//! The refusal vocabulary: every way a presign request is turned down, each with the `result`
//! label it is counted under in `sessionguard_presign_requests_total` (also the `reason` of its
//! `presign refused` line), its HTTP status and the `error` of its JSON body. The metrics
//! registration (every label at 0), the answer and the log line all read this table, so adding a
//! kind is one row of [`refusals!`] below, plus its test.

use http::StatusCode;

/// The `result` of a signed answer, the one outcome that is no refusal.
pub const ISSUED: &str = "issued";

/// Declares [`Refusal`], its [`Refusal::ALL`] and its row from one list of
/// `Kind => (result, status, error)`.
macro_rules! refusals {
    ($($(#[$doc:meta])* $kind:ident => ($result:literal, $status:literal, $error:literal),)+) => {
        /// Why a presign request was turned down, as the caller, the metrics and the log see it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Refusal {
            $($(#[$doc])* $kind,)+
        }

        impl Refusal {
            /// Every kind, in the order the metric's help names their results.
            pub const ALL: &[Refusal] = &[$(Refusal::$kind,)+];

            /// `(result, status, error)`.
            const fn row(self) -> (&'static str, u16, &'static str) {
                match self {
                    $(Refusal::$kind => ($result, $status, $error),)+
                }
            }
        }
    };
}

refusals! {
    /// The session cannot cover `expires_in` (nor `min_expires_in`).
    SessionTooShort => ("session_too_short", 409, "session_too_short"),
    /// No `--presign-allow` rule matches.
    Forbidden => ("forbidden", 403, "forbidden"),
    /// The body is no valid request; the answer names the field.
    InvalidRequest => ("invalid", 400, "invalid_request"),
    /// A presign path asked with another method than POST.
    MethodNotAllowed => ("invalid", 405, "method_not_allowed"),
    /// The body did not arrive in time after the head.
    RequestTimeout => ("invalid", 408, "request_timeout"),
    /// The body is larger than the route takes.
    PayloadTooLarge => ("invalid", 413, "payload_too_large"),
    /// The body is not `application/json`.
    UnsupportedMediaType => ("invalid", 415, "unsupported_media_type"),
    /// No valid credentials to sign with.
    CredentialsUnavailable => ("unavailable", 503, "credentials_unavailable"),
    /// Every regular connection is taken; this one is reserved for health and metrics.
    Overloaded => ("overloaded", 503, "overloaded"),
    /// The SDK could not sign: a configuration problem, never the request's.
    SigningFailed => ("error", 500, "signing_failed"),
}

impl Refusal {
    /// The `result` label it is counted under, and the `reason` of its log line.
    pub const fn result(self) -> &'static str {
        self.row().0
    }

    /// The HTTP status of its answer.
    pub fn status(self) -> StatusCode {
        StatusCode::from_u16(self.row().1).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The `error` of its JSON body.
    pub const fn error(self) -> &'static str {
        self.row().2
    }

    /// Every `result` label a presign answer is counted under: [`ISSUED`], then each refusal's,
    /// once each.
    pub fn results() -> Vec<&'static str> {
        let mut results = vec![ISSUED];
        for refusal in Refusal::ALL {
            if !results.contains(&refusal.result()) {
                results.push(refusal.result());
            }
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readme() -> String {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
    }

    /// The backticked words of a markdown cell.
    fn ticked(cell: &str) -> Vec<&str> {
        cell.split('`').skip(1).step_by(2).collect()
    }

    /// Every status is a real one: no kind answers the 500 of the fallback by mistake.
    #[test]
    fn statuses_are_valid() {
        for refusal in Refusal::ALL {
            assert_eq!(refusal.status().as_u16(), refusal.row().1, "{refusal:?}");
        }
    }

    /// README's table of answers (status and `error`) is the vocabulary, a row per kind.
    #[test]
    fn readme_answers_table_is_the_vocabulary() {
        let readme = readme();
        let table = readme
            .split("| status | `error` | when |")
            .nth(1)
            .expect("README has the table of answers");
        let mut rows: Vec<(u16, String)> = table
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                let status: u16 = cells[1].parse().ok()?;
                let error = ticked(cells[2]).first()?.to_string();
                Some((status, error))
            })
            .collect();
        rows.sort();
        let mut declared: Vec<(u16, String)> = Refusal::ALL
            .iter()
            .map(|r| (r.status().as_u16(), r.error().to_string()))
            .collect();
        declared.sort();
        assert_eq!(rows, declared, "README's answers against the vocabulary");
    }

    /// README's metrics table lists every `result` of `sessionguard_presign_requests_total`.
    #[test]
    fn readme_metrics_results_are_the_vocabulary() {
        let readme = readme();
        let row = readme
            .lines()
            .find(|l| l.starts_with("| `sessionguard_presign_requests_total{result}`"))
            .expect("README's metrics table has the presign counter");
        let meaning = row.split('|').nth(3).unwrap();
        let mut listed: Vec<&str> = ticked(meaning);
        listed.sort();
        let mut declared = Refusal::results();
        declared.sort();
        assert_eq!(listed, declared, "README's results against the vocabulary");
    }
}
