//! Explains a failed check with what the container credentials endpoint itself said.
//!
//! aws-config's container provider reports a non-2xx answer only as its status code and rejects an
//! `Expiration` with a UTC offset as a bare parse error. After such a failure this module asks the
//! same endpoint once more, with the same authorization token, and reports the agent's error body
//! (`{"code":"CredentialsUninitialized","message":"..."}`) or what is wrong with the answer. It never
//! keeps or returns any credential value from the body.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

/// Where ECS serves credentials for `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
const ECS_AGENT_ENDPOINT: &str = "http://169.254.170.2";
/// Upper bound on the diagnostic request, whatever is left of the check's budget.
const MAX_WAIT: Duration = Duration::from_secs(2);
/// Longest endpoint message carried into a log line.
const MAX_MESSAGE: usize = 512;

/// What the endpoint said when aws-config could not use its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Diagnosis {
    /// The agent's error body: `{"code": ..., "message": ...}`.
    EndpointError {
        status: u16,
        code: String,
        message: String,
    },
    /// An answer that is not usable credentials, and why.
    BadAnswer { status: u16, problem: String },
    /// The authorization token cannot be sent as a header (aws-config fails before asking).
    BadToken { problem: String },
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diagnosis::EndpointError {
                status,
                code,
                message,
            } => write!(
                f,
                "credentials endpoint answered {status} {code}: {message}"
            ),
            Diagnosis::BadAnswer { status, problem } => {
                write!(f, "credentials endpoint answered {status}, but {problem}")
            }
            Diagnosis::BadToken { problem } => write!(f, "authorization token {problem}"),
        }
    }
}

/// Asks the container credentials endpoint named by the environment, if any, why it failed.
/// `None` when no container endpoint is configured, it is not plain HTTP, or it cannot be reached
/// (aws-config's own error already says so).
pub async fn container_endpoint(budget: Duration) -> Option<Diagnosis> {
    let uri = endpoint_from_env()?;
    let token = authorization_from_env();
    if let Some(problem) = token.as_deref().and_then(token_problem) {
        return Some(Diagnosis::BadToken { problem });
    }
    let wait = budget.min(MAX_WAIT);
    if wait.is_zero() {
        return None;
    }
    let (status, body) = fetch(&uri, token, wait).await?;
    explain(status, &body)
}

fn endpoint_from_env() -> Option<String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    // ECS sets the relative form; it wins over the full URI, as in every AWS SDK.
    let uri = match var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
        Some(relative) => format!("{ECS_AGENT_ENDPOINT}{relative}"),
        None => var("AWS_CONTAINER_CREDENTIALS_FULL_URI")?,
    };
    uri.starts_with("http://").then_some(uri)
}

/// The token aws-config sends: the file wins (EKS rotates it), then the variable.
fn authorization_from_env() -> Option<Vec<u8>> {
    if let Ok(path) = std::env::var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
        return std::fs::read(path).ok();
    }
    std::env::var("AWS_CONTAINER_AUTHORIZATION_TOKEN")
        .ok()
        .map(String::into_bytes)
}

/// What makes a token unusable as an `Authorization` value, in words that point at the fix. The
/// token itself is never repeated.
fn token_problem(token: &[u8]) -> Option<String> {
    let file = std::env::var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").ok();
    let from = match &file {
        Some(path) => format!("from file {path}"),
        None => "from AWS_CONTAINER_AUTHORIZATION_TOKEN".to_string(),
    };
    if token.ends_with(b"\n") || token.ends_with(b"\r") {
        Some(format!(
            "{from} ends with a newline, which aws-config rejects; write the file without one (printf, not echo)"
        ))
    } else if http::HeaderValue::from_bytes(token).is_err() {
        Some(format!(
            "{from} holds characters not allowed in an HTTP header"
        ))
    } else {
        None
    }
}

async fn fetch(uri: &str, token: Option<Vec<u8>>, wait: Duration) -> Option<(u16, Bytes)> {
    let mut headers = Vec::new();
    if let Some(token) = token {
        headers.push((
            http::header::AUTHORIZATION,
            http::HeaderValue::from_bytes(&token).ok()?,
        ));
    }
    crate::http_client::get(uri, &headers, wait).await.ok()
}

/// Turns an answer into a diagnosis; `None` when it looks like good credentials.
fn explain(status: u16, body: &[u8]) -> Option<Diagnosis> {
    let json: Option<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(body).ok();
    let text = |map: &serde_json::Map<String, serde_json::Value>, key: &str| {
        map.get(key).and_then(|v| v.as_str()).map(str::to_string)
    };
    if let Some(map) = &json
        && let Some(code) = text(map, "code")
    {
        let mut message = text(map, "message").unwrap_or_default();
        message.truncate(
            message
                .char_indices()
                .nth(MAX_MESSAGE)
                .map_or(message.len(), |(i, _)| i),
        );
        return Some(Diagnosis::EndpointError {
            status,
            code,
            message,
        });
    }
    let bad = |problem: String| Some(Diagnosis::BadAnswer { status, problem });
    if !(200..300).contains(&status) {
        return bad("its body is not the ECS error form {\"code\",\"message\"}".to_string());
    }
    let Some(map) = json else {
        return bad("its body is not a JSON object".to_string());
    };
    let missing: Vec<&str> = ["AccessKeyId", "SecretAccessKey", "Token", "Expiration"]
        .into_iter()
        .filter(|k| text(&map, k).is_none())
        .collect();
    if !missing.is_empty() {
        return bad(format!("it lacks {}", missing.join(", ")));
    }
    let expiration = text(&map, "Expiration").unwrap_or_default();
    // The parser aws-config uses, so the verdict matches the failure being explained.
    if aws_smithy_types::DateTime::from_str(
        &expiration,
        aws_smithy_types::date_time::Format::DateTime,
    )
    .is_err()
    {
        let why = if expiration.ends_with('Z') {
            "is not an RFC 3339 time"
        } else {
            "has a UTC offset instead of Z, which aws-config rejects (it accepts only times like 2026-11-28T12:00:00Z)"
        };
        return bad(format!("its Expiration {expiration:?} {why}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The agent's error body becomes the code and message a log line carries.
    #[test]
    fn error_bodies_and_bad_answers() {
        let cases: &[(u16, &str, Option<&str>)] = &[
            (
                503,
                r#"{"code":"CredentialsUninitialized","message":"not yet"}"#,
                Some("credentials endpoint answered 503 CredentialsUninitialized: not yet"),
            ),
            (
                500,
                "oops",
                Some(
                    "credentials endpoint answered 500, but its body is not the ECS error form {\"code\",\"message\"}",
                ),
            ),
            (
                200,
                "{not json",
                Some("credentials endpoint answered 200, but its body is not a JSON object"),
            ),
            (
                200,
                r#"{"AccessKeyId":"A","SecretAccessKey":"s","Expiration":"2026-11-28T12:00:00Z"}"#,
                Some("credentials endpoint answered 200, but it lacks Token"),
            ),
            (
                200,
                r#"{"AccessKeyId":"A","SecretAccessKey":"s","Token":"t","Expiration":"2026-11-28T12:00:00+00:00"}"#,
                Some(
                    "credentials endpoint answered 200, but its Expiration \"2026-11-28T12:00:00+00:00\" has a UTC offset instead of Z, which aws-config rejects (it accepts only times like 2026-11-28T12:00:00Z)",
                ),
            ),
            (
                200,
                r#"{"AccessKeyId":"A","SecretAccessKey":"s","Token":"t","Expiration":"2026-11-28T12:00:00Z"}"#,
                None,
            ),
        ];
        for (status, body, want) in cases {
            let got = explain(*status, body.as_bytes()).map(|d| d.to_string());
            assert_eq!(got.as_deref(), *want, "status {status} body {body}");
        }
    }

    /// A diagnosis never repeats a credential value from the body.
    #[test]
    fn never_echoes_secrets() {
        let body =
            r#"{"AccessKeyId":"AKIDCANARY","SecretAccessKey":"SECRETCANARY","Expiration":"x"}"#;
        let text = explain(200, body.as_bytes()).unwrap().to_string();
        assert!(
            !text.contains("SECRETCANARY") && !text.contains("AKIDCANARY"),
            "{text}"
        );
    }
}
