//! Secret hygiene: whole runs with canary secrets, one per signing source (`task`, `assume-role`,
//! `secrets-manager` and `web-identity` against moto) at the default log level and at `RUST_LOG=trace`, each
//! through every presign route, and not one secret in any output.
//!
//! The canaries are the secret keys and session tokens the daemon holds (the task session's, and
//! the signing source's), and what it hands back: every presigned URL, its `X-Amz-Signature`, and
//! a form's signature and policy (which carries the session token). Presigned URLs are bearer
//! credentials: handed to the caller, never written anywhere else. Full access key ids are
//! looked for too: the daemon only ever writes them masked (`ASIA...MPLE`).

use std::time::Duration;

use serde_json::{Value, json};
use sessionguard::demo::endpoint::{EcsEndpoint, Fault, Options};

use crate::presign::query_param;
use crate::support::*;

const CANARY_KEY_ID: &str = "ASIACANARYKEYEXAMPLE";
const CANARY_SECRET: &str = "CANARYsecretKEYdoNOTlog0123456789abcdefgh";
/// The IAM user's key pair the Secrets Manager secret holds.
const CANARY_SIGNING_KEY_ID: &str = "AKIACANARYSIGNING001";
const CANARY_SIGNING_SECRET: &str = "CANARYsigningSECRETdoNOTlog0123456789abc";
const ROLE: &str = "arn:aws:iam::123456789012:role/presigner";
/// The pod's web identity token (a bearer credential for STS).
const CANARY_WEB_IDENTITY_TOKEN: &str = "eyJCANARYwebIdentityTOKENdoNOTlog.0123456789abcdef.sig";
const SECRET: &str = "sessionguard/canary-presigner";
/// A multipart upload id; the URLs are only signed, never sent, so no upload needs to exist.
const UPLOAD_ID: &str = "2~sessionguardCanaryUploadId";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Task,
    AssumeRole,
    SecretsManager,
    WebIdentity,
}

/// `RUST_LOG` for a run: unset (the daemon's default filter), or everything at TRACE.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LogLevel {
    Default,
    Trace,
}

/// The task source at the default log level: checks, a rotation, failures and every presign
/// route leave no secret key, session token, URL, signature or full access key id in stdout,
/// stderr or any other HTTP body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_source_writes_no_secret() {
    canary_run(Source::Task, LogLevel::Default).await;
}

/// The task source with `RUST_LOG=trace`: the same run writes none of them either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_source_writes_no_secret_at_trace() {
    // aws-smithy-runtime's DEBUG event "resolving endpoint" (target
    // aws_smithy_runtime::client::orchestrator::endpoints) carries the full access key id in
    // `endpoint_params`; logging drops that target at every level (`SECRET_BEARING_TARGETS`),
    // and this run holds it dropped.
    canary_run(Source::Task, LogLevel::Trace).await;
}

/// `--signing-source assume-role` against moto at the default log level: neither the task
/// session's secrets and key id nor the assumed session's, nor any URL, reach an output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assume_role_source_writes_no_secret() {
    canary_run(Source::AssumeRole, LogLevel::Default).await;
}

/// `--signing-source assume-role` with `RUST_LOG=trace`: none of them either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assume_role_source_writes_no_secret_at_trace() {
    // aws-smithy-runtime's DEBUG event "resolving endpoint" (target
    // aws_smithy_runtime::client::orchestrator::endpoints) carries the full access key id in
    // `endpoint_params`; logging drops that target at every level (`SECRET_BEARING_TARGETS`),
    // and this run holds it dropped.
    canary_run(Source::AssumeRole, LogLevel::Trace).await;
}

/// `--signing-source secrets-manager` against moto at the default log level: neither the task
/// session's secrets and key id nor the secret's key pair, nor any URL, reach an output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_manager_source_writes_no_secret() {
    canary_run(Source::SecretsManager, LogLevel::Default).await;
}

/// `--signing-source secrets-manager` with `RUST_LOG=trace`: none of them either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_manager_source_writes_no_secret_at_trace() {
    // aws-smithy-runtime's DEBUG event "resolving endpoint" (target
    // aws_smithy_runtime::client::orchestrator::endpoints) carries the full access key id in
    // `endpoint_params`; logging drops that target at every level (`SECRET_BEARING_TARGETS`),
    // and this run holds it dropped.
    canary_run(Source::SecretsManager, LogLevel::Trace).await;
}

/// `--signing-source web-identity` against moto at the default log level: neither the web
/// identity token, nor the task session's or the web identity session's secrets, nor any URL,
/// reach an output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_identity_source_writes_no_secret() {
    canary_run(Source::WebIdentity, LogLevel::Default).await;
}

/// `--signing-source web-identity` with `RUST_LOG=trace`: none of them either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_identity_source_writes_no_secret_at_trace() {
    canary_run(Source::WebIdentity, LogLevel::Trace).await;
}

/// One daemon signing with `source`, logging at `level`, through the whole scenario; then every
/// canary is looked for in all it wrote.
async fn canary_run(source: Source, level: LogLevel) {
    let mut options = Options::new(Duration::from_secs(3600));
    options.key_pair = Some((CANARY_KEY_ID.into(), CANARY_SECRET.into()));
    let endpoint = endpoint_with(options).await;
    let moto = (source != Source::Task).then(|| MotoServer::start(false));
    let mut env = aws_env(&endpoint);
    // URLs name an S3 on loopback; none is ever sent.
    set(
        &mut env,
        "AWS_ENDPOINT_URL_S3",
        &format!("http://{}", closed_port()),
    );
    set(&mut env, "SESSIONGUARD_S3_FORCE_PATH_STYLE", "true");
    if level == LogLevel::Trace {
        set(&mut env, "RUST_LOG", "trace");
    }
    let mut token_file = None;
    let mut args = vec![
        "run",
        "--interval",
        "1s",
        "--presign-allow",
        "GET,PUT,POST,DELETE:scratch",
    ];
    match (source, &moto) {
        (Source::Task, _) => {}
        (Source::AssumeRole, Some(moto)) => {
            set(&mut env, "AWS_ENDPOINT_URL_STS", &moto.url);
            args.extend(["--signing-source", "assume-role", "--assume-role-arn", ROLE]);
        }
        (Source::SecretsManager, Some(moto)) => {
            moto.secrets()
                .create_secret()
                .name(SECRET)
                .secret_string(
                    json!({"AccessKeyId": CANARY_SIGNING_KEY_ID, "SecretAccessKey": CANARY_SIGNING_SECRET})
                        .to_string(),
                )
                .send()
                .await
                .unwrap();
            set(&mut env, "AWS_ENDPOINT_URL_SECRETS_MANAGER", &moto.url);
            args.extend([
                "--signing-source",
                "secrets-manager",
                "--signing-secret-id",
                SECRET,
            ]);
        }
        (Source::WebIdentity, Some(moto)) => {
            set(&mut env, "AWS_ENDPOINT_URL_STS", &moto.url);
            let token = std::env::temp_dir().join(format!(
                "sessionguard-canary-web-identity-{}-{}",
                std::process::id(),
                level == LogLevel::Trace
            ));
            std::fs::write(&token, CANARY_WEB_IDENTITY_TOKEN).unwrap();
            token_file = Some(token);
            args.extend([
                "--signing-source",
                "web-identity",
                "--web-identity-role-arn",
                ROLE,
                "--signing-session-duration",
                "1h",
            ]);
        }
        (_, None) => unreachable!("moto runs for every source but the task's"),
    }
    if let Some(token) = &token_file {
        set(
            &mut env,
            "SESSIONGUARD_WEB_IDENTITY_TOKEN_FILE",
            token.to_str().unwrap(),
        );
    }

    let mut daemon = Daemon::start(&env, &args).await;
    let mut secrets = vec![CANARY_SECRET.to_string(), endpoint.current().token];
    daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    if source == Source::Task {
        task_session_trouble(&daemon, &endpoint, &mut secrets).await;
    } else {
        daemon
            .wait_for_line(|l| l["message"] == "signing credentials refreshed")
            .await;
    }
    let handed_back = presign_on_every_route(&daemon, source);

    let mut bodies = String::new();
    for path in [
        "/metrics",
        "/healthz",
        "/readyz",
        "/v1/credentials",
        "/nope",
    ] {
        bodies.push_str(&daemon.get(path).1);
    }
    daemon.terminate();
    daemon
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("exits");
    // The last line, so everything before it has been read.
    daemon
        .wait_for_line(|l| l["message"] == "sessionguard stopped")
        .await;

    let mut key_ids = vec![CANARY_KEY_ID.to_string()];
    match (source, &moto) {
        (Source::AssumeRole | Source::WebIdentity, Some(moto)) => {
            let roles = moto.assumed_roles();
            assert!(!roles.is_empty(), "no AssumeRole reached moto");
            for role in roles {
                key_ids.push(role["access_key_id"].as_str().unwrap().to_string());
                for field in ["secret_access_key", "session_token"] {
                    secrets.push(role[field].as_str().unwrap().to_string());
                }
            }
        }
        (Source::SecretsManager, _) => {
            key_ids.push(CANARY_SIGNING_KEY_ID.into());
            secrets.push(CANARY_SIGNING_SECRET.into());
        }
        _ => {}
    }

    if let Some(token) = &token_file {
        secrets.push(CANARY_WEB_IDENTITY_TOKEN.into());
        let _ = std::fs::remove_file(token);
    }
    let output = daemon.output();
    if source == Source::Task {
        assert!(
            output.contains("credentials check failed"),
            "the scenario ran"
        );
    }
    assert!(
        !output.contains("log lines dropped"),
        "lines were dropped, unread: {output}"
    );
    if level == LogLevel::Trace {
        assert!(
            output.contains("\"level\":\"DEBUG\""),
            "RUST_LOG=trace wrote no more than the default: {output}"
        );
    }
    let everything = format!("{output}\n{bodies}");
    let mut leaks = Vec::new();
    for secret in &secrets {
        leaks.extend(find(&everything, "a secret key or session token", secret));
        if secret.len() >= 60 {
            // Not even a recognisable piece of a session token.
            leaks.extend(find(
                &everything,
                "part of a session token",
                &secret[20..60],
            ));
        }
    }
    for value in &handed_back {
        leaks.extend(find(
            &everything,
            "a presigned URL, signature or form policy",
            value,
        ));
    }
    for key_id in &key_ids {
        leaks.extend(find(&everything, "a full access key id", key_id));
    }
    assert!(leaks.is_empty(), "{}", leaks.join("\n\n"));
}

/// What the task source goes through besides presigning: a rotation and three kinds of failed
/// check. The rotated session's token joins `secrets`.
async fn task_session_trouble(daemon: &Daemon, endpoint: &EcsEndpoint, secrets: &mut Vec<String>) {
    secrets.push(endpoint.rotate().token);
    daemon.wait_for_line(|l| l["rotated"] == true).await;
    for fault in [
        Fault::MalformedJson,
        Fault::MissingField("Token"),
        Fault::Status {
            status: 500,
            code: "InternalServerError".into(),
            message: "x".into(),
        },
    ] {
        let mark = daemon.mark();
        endpoint.set_fault(Some(fault));
        daemon
            .wait_for_line_after(mark, |l| l["message"] == "credentials check failed")
            .await;
    }
    endpoint.set_fault(None);
}

/// POSTs `body` to `path` and returns the status and the JSON answer.
/// A presigned URL and its signature: both are canaries.
fn url_canaries(answer: &Value, out: &mut Vec<String>) {
    let url = answer["url"]
        .as_str()
        .unwrap_or_else(|| panic!("no url in {answer}"));
    let signature =
        query_param(url, "X-Amz-Signature").unwrap_or_else(|| panic!("no signature in {url}"));
    out.push(url.to_string());
    out.push(signature);
}

/// Every presign route, each with requests it signs and one it refuses: `/v1/presign` (GET, PUT,
/// the multipart flow), `/v1/presign/batch`, `/v1/presign/post` and `/v1/presign/uppy`. Returns
/// every URL, signature and form policy handed back.
fn presign_on_every_route(daemon: &Daemon, source: Source) -> Vec<String> {
    let mut out = Vec::new();
    // Longer than the task session (1h) and the assumed one (1h, not renewable past that), and
    // than --presign-max-expires-in (12h) that bounds a key without rotation.
    let too_long = if source == Source::SecretsManager {
        "7d"
    } else {
        "2h"
    };
    let single = [
        (
            json!({"bucket": "scratch", "key": "a", "expires_in": 60}),
            200,
        ),
        (
            json!({"bucket": "scratch", "key": "b", "method": "PUT", "expires_in": 60, "content_type": "text/csv"}),
            200,
        ),
        (
            json!({"bucket": "scratch", "key": "big.bin", "method": "POST", "expires_in": 60}),
            200,
        ),
        (
            json!({"bucket": "scratch", "key": "big.bin", "method": "PUT", "upload_id": UPLOAD_ID, "part_number": 1, "expires_in": 60}),
            200,
        ),
        (
            json!({"bucket": "scratch", "key": "big.bin", "method": "GET", "upload_id": UPLOAD_ID, "expires_in": 60}),
            200,
        ),
        (
            json!({"bucket": "scratch", "key": "big.bin", "method": "POST", "upload_id": UPLOAD_ID, "expires_in": 60}),
            200,
        ),
        (
            json!({"bucket": "scratch", "key": "big.bin", "method": "DELETE", "upload_id": UPLOAD_ID, "expires_in": 60}),
            200,
        ),
        (
            json!({"bucket": "scratch", "key": "c", "expires_in": too_long}),
            409,
        ),
        (
            json!({"bucket": "other", "key": "d", "expires_in": 60}),
            403,
        ),
    ];
    for (body, want) in &single {
        let (status, answer) = post_json(daemon.addr, "/v1/presign", body);
        assert_eq!(status, *want, "{body}: {answer}");
        if status == 200 {
            url_canaries(&answer, &mut out);
        }
    }

    let requests: Vec<Value> = single.iter().map(|(body, _)| body.clone()).collect();
    let (status, batch) = post_json(
        daemon.addr,
        "/v1/presign/batch",
        &json!({"requests": requests}),
    );
    assert_eq!(status, 200, "{batch}");
    let results = batch["results"].as_array().unwrap();
    for (result, (body, want)) in results.iter().zip(&single) {
        assert_eq!(result["status"], *want, "{body}: {result}");
        if *want == 200 {
            url_canaries(&result["body"], &mut out);
        }
    }

    let (status, form) = post_json(
        daemon.addr,
        "/v1/presign/post",
        &json!({"bucket": "scratch", "key_prefix": "u/", "expires_in": 60, "content_length_range": {"min": 1, "max": 64}}),
    );
    assert_eq!(status, 200, "{form}");
    for field in ["x-amz-signature", "policy"] {
        out.push(form["fields"][field].as_str().unwrap().to_string());
    }
    let (status, refused) = post_json(
        daemon.addr,
        "/v1/presign/post",
        &json!({"bucket": "scratch", "key": "u/e", "expires_in": too_long}),
    );
    assert_eq!(status, 409, "{refused}");

    for (bucket, body, want) in [
        (
            "scratch",
            json!({"method": "PUT", "key": "u/a.png", "contentType": "image/png"}),
            200,
        ),
        (
            "scratch",
            json!({"method": "POST", "key": "u/big.bin"}),
            200,
        ),
        (
            "scratch",
            json!({"method": "PUT", "key": "u/big.bin", "uploadId": UPLOAD_ID, "partNumber": 1}),
            200,
        ),
        (
            "scratch",
            json!({"method": "POST", "key": "u/big.bin", "uploadId": UPLOAD_ID}),
            200,
        ),
        ("other", json!({"method": "PUT", "key": "u/a.png"}), 403),
    ] {
        let path = format!("/v1/presign/uppy?bucket={bucket}");
        let (status, answer) = post_json(daemon.addr, &path, &body);
        assert_eq!(status, want, "{path} {body}: {answer}");
        if status == 200 {
            url_canaries(&answer, &mut out);
        }
    }
    out
}

/// Where `needle` (a canary: `what`) was written in `haystack`, if anywhere: how many lines, and
/// the first.
fn find(haystack: &str, what: &str, needle: &str) -> Option<String> {
    let lines: Vec<&str> = haystack.lines().filter(|l| l.contains(needle)).collect();
    let first = lines.first()?;
    Some(format!(
        "{what} leaked in {} line(s), the first:\n{}",
        lines.len(),
        &first[..first.len().min(2000)]
    ))
}
