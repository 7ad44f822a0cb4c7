//! Explains a failed check with what the container credentials endpoint itself said.
//!
//! aws-config's container provider reports a non-2xx answer only as its status code and rejects an
//! `Expiration` with a UTC offset as a bare parse error. After such a failure this module asks the
//! same endpoint once more, with the same authorization token, and reports the agent's error body
//! (`{"code":"CredentialsUninitialized","message":"..."}`) or what is wrong with the answer. It never
//! keeps or returns any credential value from the body.
//!
//! On EKS it also names what a platform engineer has to fix: the Pod Identity agent
//! (`169.254.170.23`) not answering (the add-on not installed, or not running on the node), its
//! refusal (the association gone or wrong), a token file the container cannot read, and a pod on
//! Kubernetes that was given no role at all (no association and no IRSA annotation, so EKS set no
//! variable).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

/// Where ECS serves credentials for `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
const ECS_AGENT_ENDPOINT: &str = "http://169.254.170.2";
/// Upper bound on the diagnostic request, whatever is left of the check's budget.
const MAX_WAIT: Duration = Duration::from_secs(2);
/// Hosts of the EKS Pod Identity agent, in the form a URI names them.
const POD_IDENTITY_HOSTS: [&str; 2] = ["169.254.170.23", "[fd00:ec2::23]"];
/// What to check when the Pod Identity agent does not answer.
const AGENT_HINT: &str = "the EKS Pod Identity agent does not answer on this node: install the eks-pod-identity-agent add-on (aws eks create-addon --addon-name eks-pod-identity-agent) and check that its DaemonSet pod runs on the node";
/// What to check when the Pod Identity agent refuses.
const ASSOCIATION_HINT: &str = "the EKS Pod Identity agent refused: check the pod's association (aws eks list-pod-identity-associations --cluster-name CLUSTER --namespace NS --service-account SA) and the role's trust policy (pods.eks.amazonaws.com, sts:AssumeRole and sts:TagSession)";
/// Set in every container Kubernetes starts.
const ENV_KUBERNETES: &str = "KUBERNETES_SERVICE_HOST";
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
        /// What to check, when the endpoint is one whose refusals have a known cause (EKS).
        hint: Option<&'static str>,
    },
    /// An answer that is not usable credentials, and why.
    BadAnswer {
        status: u16,
        problem: String,
        hint: Option<&'static str>,
    },
    /// The authorization token cannot be sent as a header, or its file cannot be read (aws-config
    /// fails before asking).
    BadToken { problem: String },
    /// The EKS Pod Identity agent at `endpoint` did not answer.
    AgentUnreachable { endpoint: String },
    /// On Kubernetes with no container endpoint and no web identity token: EKS gave the pod no role.
    NoRole,
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diagnosis::EndpointError {
                status,
                code,
                message,
                hint,
            } => {
                write!(
                    f,
                    "credentials endpoint answered {status} {code}: {message}"
                )?;
                hint.map_or(Ok(()), |h| write!(f, "; {h}"))
            }
            Diagnosis::BadAnswer {
                status,
                problem,
                hint,
            } => {
                write!(f, "credentials endpoint answered {status}, but {problem}")?;
                hint.map_or(Ok(()), |h| write!(f, "; {h}"))
            }
            Diagnosis::BadToken { problem } => write!(f, "authorization token {problem}"),
            Diagnosis::AgentUnreachable { endpoint } => {
                write!(f, "nothing answered at {endpoint}: {AGENT_HINT}")
            }
            Diagnosis::NoRole => write!(
                f,
                "this pod runs on Kubernetes but was given no AWS role: neither AWS_CONTAINER_CREDENTIALS_FULL_URI (EKS Pod Identity) nor AWS_WEB_IDENTITY_TOKEN_FILE (IRSA) is set; create a Pod Identity association for the pod's namespace and service account, or annotate the service account with eks.amazonaws.com/role-arn, then restart the pod (EKS sets the variables only when a pod starts)"
            ),
        }
    }
}

/// The provider name aws-config gives credentials from EC2 instance metadata.
const IMDS_PROVIDER: &str = "IMDSv2";
/// Why credentials from instance metadata are wrong for a pod.
const NODE_ROLE: &str = "these credentials come from the node's instance metadata: the node's role, shared by every pod on the node, not a role of this pod; give the pod its own (a Pod Identity association, or an IRSA annotation on its service account), and limit pods' access to instance metadata (IMDSv2 hop limit 1)";

/// On Kubernetes, credentials from instance metadata are the node's role, not the pod's: a
/// warning for the check line, whose `source` names the provider that answered.
pub fn node_role_warning(source: &str) -> Option<&'static str> {
    node_role(
        source,
        std::env::var_os(ENV_KUBERNETES).is_some_and(|v| !v.is_empty()),
    )
}

fn node_role(source: &str, on_kubernetes: bool) -> Option<&'static str> {
    (on_kubernetes && source == IMDS_PROVIDER).then_some(NODE_ROLE)
}

/// Asks the container credentials endpoint named by the environment, if any, why it failed.
/// `None` when no container endpoint is configured, it is not plain HTTP, or it cannot be reached
/// (aws-config's own error already says so).
pub async fn container_endpoint(budget: Duration) -> Option<Diagnosis> {
    let Some(uri) = endpoint_from_env() else {
        return no_role().then_some(Diagnosis::NoRole);
    };
    let token = match authorization_from_env() {
        Ok(token) => token,
        Err(problem) => return Some(Diagnosis::BadToken { problem }),
    };
    if let Some(problem) = token.as_deref().and_then(token_problem) {
        return Some(Diagnosis::BadToken { problem });
    }
    let wait = budget.min(MAX_WAIT);
    if wait.is_zero() {
        return None;
    }
    let pod_identity = is_pod_identity(&uri);
    let Some((status, body)) = fetch(&uri, token, wait).await else {
        return pod_identity.then_some(Diagnosis::AgentUnreachable { endpoint: uri });
    };
    let hint = (pod_identity && (400..500).contains(&status)).then_some(ASSOCIATION_HINT);
    explain(status, &body, hint)
}

/// Whether `uri` is the EKS Pod Identity agent's.
fn is_pod_identity(uri: &str) -> bool {
    let host = uri
        .strip_prefix("http://")
        .unwrap_or(uri)
        .split('/')
        .next()
        .unwrap_or_default();
    POD_IDENTITY_HOSTS
        .iter()
        .any(|h| host == *h || host.strip_prefix(h).is_some_and(|p| p.starts_with(':')))
}

/// On Kubernetes, with neither of the variables EKS sets for a pod's role.
fn no_role() -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    set(ENV_KUBERNETES)
        && !set("AWS_WEB_IDENTITY_TOKEN_FILE")
        && !set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        && !set("AWS_CONTAINER_CREDENTIALS_FULL_URI")
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

/// The token aws-config sends: the file wins (EKS rotates it, so it is read now), then the
/// variable. A file that cannot be read is the problem, in words that point at the fix.
fn authorization_from_env() -> Result<Option<Vec<u8>>, String> {
    if let Some(path) = std::env::var_os("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
        return std::fs::read(&path).map(Some).map_err(|e| {
            format!(
                "file {} cannot be read ({e}); on EKS the Pod Identity webhook mounts it from a projected service account token volume (eks-pod-identity-token): check the pod's volumes and that the container's user may read it",
                path.to_string_lossy()
            )
        });
    }
    Ok(std::env::var("AWS_CONTAINER_AUTHORIZATION_TOKEN")
        .ok()
        .map(String::into_bytes))
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

/// Turns an answer into a diagnosis, with `hint` (where to look) for an error; `None` when it
/// looks like good credentials.
fn explain(status: u16, body: &[u8], hint: Option<&'static str>) -> Option<Diagnosis> {
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
            hint,
        });
    }
    let bad = |problem: String| {
        Some(Diagnosis::BadAnswer {
            status,
            problem,
            hint,
        })
    };
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
            let got = explain(*status, body.as_bytes(), None).map(|d| d.to_string());
            assert_eq!(got.as_deref(), *want, "status {status} body {body}");
        }
    }

    /// The Pod Identity agent's addresses, with and without a port, and nothing else.
    #[test]
    fn pod_identity_endpoints() {
        for (uri, want) in [
            ("http://169.254.170.23/v1/credentials", true),
            ("http://169.254.170.23:80/v1/credentials", true),
            ("http://[fd00:ec2::23]/v1/credentials", true),
            ("http://169.254.170.2/v2/credentials/x", false),
            ("http://169.254.170.230/v1/credentials", false),
            ("http://127.0.0.1:8080/v1/credentials", false),
        ] {
            assert_eq!(is_pod_identity(uri), want, "{uri}");
        }
    }

    /// A refusal by the Pod Identity agent says where to look, after what the agent said.
    #[test]
    fn pod_identity_refusal_names_the_association() {
        let d = explain(
            400,
            br#"{"code":"AccessDeniedException","message":"no association"}"#,
            Some(ASSOCIATION_HINT),
        )
        .unwrap()
        .to_string();
        assert!(
            d.starts_with(
                "credentials endpoint answered 400 AccessDeniedException: no association; "
            ) && d.contains("list-pod-identity-associations"),
            "{d}"
        );
        assert!(
            Diagnosis::AgentUnreachable {
                endpoint: "http://169.254.170.23/v1/credentials".into()
            }
            .to_string()
            .contains("eks-pod-identity-agent")
        );
        assert!(
            Diagnosis::NoRole
                .to_string()
                .contains("eks.amazonaws.com/role-arn")
        );
    }

    /// Only instance-metadata credentials on Kubernetes are the node's role.
    #[test]
    fn node_role_on_kubernetes_only() {
        assert!(node_role("IMDSv2", true).is_some_and(|w| w.contains("node's role")));
        assert_eq!(node_role("IMDSv2", false), None);
        assert_eq!(node_role("EcsContainer", true), None);
        assert_eq!(node_role("WebIdentityToken", true), None);
    }

    /// A diagnosis never repeats a credential value from the body.
    #[test]
    fn never_echoes_secrets() {
        let body =
            r#"{"AccessKeyId":"AKIDCANARY","SecretAccessKey":"SECRETCANARY","Expiration":"x"}"#;
        let text = explain(200, body.as_bytes(), None).unwrap().to_string();
        assert!(
            !text.contains("SECRETCANARY") && !text.contains("AKIDCANARY"),
            "{text}"
        );
    }
}
