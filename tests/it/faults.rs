//! Endpoint failures: each is an ERROR line with the cause and a counted failure, the daemon keeps
//! serving, and it recovers by itself when the fault clears.

use std::time::Duration;

use sessionguard::demo::endpoint::Fault;

use crate::support::*;

fn presign(daemon: &Daemon) -> (u16, String) {
    http(
        daemon.addr,
        "POST",
        "/v1/presign",
        &[("content-type", "application/json")],
        r#"{"bucket":"scratch","key":"k","expires_in":60}"#,
    )
}

fn failures(daemon: &Daemon) -> f64 {
    sample(
        &daemon.get("/metrics").1,
        "sessionguard_credentials_checks_total{result=\"failure\"}",
    )
    .unwrap()
}

/// 503 CredentialsUninitialized, 500, malformed JSON, a missing field, a `+00:00` Expiration and a
/// hang past `--check-timeout`: one after another against one daemon.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_is_logged_counted_and_recovered() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let daemon = Daemon::start(
        &aws_env(&endpoint),
        // aws-config retries a 500 three times with backoff: leave it room to finish.
        &[
            "run",
            "--interval",
            "1s",
            "--check-timeout",
            "5s",
            "--presign-allow",
            "scratch",
        ],
    )
    .await;
    daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;

    let status = |status: u16, code: &str, message: &str| Fault::Status {
        status,
        code: code.into(),
        message: message.into(),
    };
    let cases: Vec<(Fault, Vec<&str>, Option<&str>)> = vec![
        (
            status(
                503,
                "CredentialsUninitialized",
                "credentials not yet available",
            ),
            vec!["503 CredentialsUninitialized: credentials not yet available"],
            Some("CredentialsUninitialized"),
        ),
        (
            status(500, "InternalServerError", "agent fell over"),
            vec!["500 InternalServerError: agent fell over"],
            Some("InternalServerError"),
        ),
        (
            Fault::MalformedJson,
            vec!["its body is not a JSON object"],
            None,
        ),
        (
            Fault::MissingField("SecretAccessKey"),
            vec!["it lacks SecretAccessKey"],
            None,
        ),
        (
            Fault::OffsetExpiration,
            vec!["has a UTC offset instead of Z, which aws-config rejects"],
            None,
        ),
        (
            Fault::Expired,
            vec![
                "served credentials that expired at",
                "keeping the last good ones",
            ],
            None,
        ),
        (Fault::Hang, vec!["did not answer within 5s"], None),
    ];
    for (fault, needles, code) in cases {
        let before = failures(&daemon);
        let mark = daemon.mark();
        endpoint.set_fault(Some(fault.clone()));
        let line = daemon
            .wait_for_line_after(mark, |l| l["message"] == "credentials check failed")
            .await;
        assert_eq!(line["level"], "ERROR", "{fault:?}: {line}");
        let error = line["error"].as_str().unwrap();
        for needle in needles {
            assert!(
                error.contains(needle),
                "{fault:?}: {needle:?} not in {error}"
            );
        }
        if let Some(code) = code {
            assert_eq!(line["ecs_error_code"], code, "{line}");
        }
        assert!(failures(&daemon) > before, "{fault:?} not counted");
        // Still serving, still ready and still signing on the last good (unexpired) credentials.
        assert_eq!(daemon.get("/healthz").0, 200);
        assert_eq!(daemon.get("/readyz").0, 200);
        let (status, body) = presign(&daemon);
        assert_eq!(status, 200, "{fault:?}: {body}");
        let (_, view) = daemon.get("/v1/credentials");
        let view: serde_json::Value = serde_json::from_str(&view).unwrap();
        assert!(view["last_error"].is_string(), "{view}");

        let mark = daemon.mark();
        endpoint.set_fault(None);
        let recovered = daemon
            .wait_for_line_after(mark, |l| l["message"] == "credentials checked")
            .await;
        assert_eq!(
            recovered["source"], "EcsContainer",
            "{fault:?} did not recover"
        );
    }
}

/// The endpoint down at start: not ready, ERROR lines naming the refused connection; once it
/// listens, the daemon recovers with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_at_start_then_recovers() {
    let addr = closed_port();
    let mut env = base_env();
    set(
        &mut env,
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        &format!(
            "http://{addr}{}",
            sessionguard::demo::endpoint::CREDENTIALS_PATH
        ),
    );
    set(&mut env, "AWS_CONTAINER_AUTHORIZATION_TOKEN", TOKEN);
    let daemon = Daemon::start(
        &env,
        &[
            "run",
            "--interval",
            "1s",
            "--no-identity",
            "--presign-allow",
            "scratch",
        ],
    )
    .await;
    let line = daemon
        .wait_for_line(|l| l["message"] == "credentials check failed")
        .await;
    assert!(
        line["error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("connection refused"),
        "{line}"
    );
    let (status, body) = daemon.get("/readyz");
    assert_eq!(status, 503);
    assert!(body.contains("never_resolved"), "{body}");
    assert_eq!(daemon.get("/healthz").0, 200);
    let (status, body) = presign(&daemon);
    assert_eq!(status, 503, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"], "credentials_unavailable");
    assert!(
        v["last_error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("connection refused"),
        "{v}"
    );

    let _endpoint = endpoint_on(addr, Duration::from_secs(3600)).await;
    daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    daemon.wait_for_status("/readyz", 200).await;
    let (status, body) = presign(&daemon);
    assert_eq!(status, 200, "{body}\n{}", daemon.output());
}

/// A wrong authorization token is reported with the endpoint's own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_is_explained() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let mut env = aws_env(&endpoint);
    set(
        &mut env,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "not-the-token",
    );
    let daemon = Daemon::start(&env, &["run", "--no-identity"]).await;
    let line = daemon
        .wait_for_line(|l| l["message"] == "credentials check failed")
        .await;
    assert_eq!(line["ecs_error_code"], "AccessDenied", "{line}");
    assert_eq!(line["endpoint_status"], 403, "{line}");
    assert!(!daemon.output().contains("not-the-token"), "token leaked");
}

/// No authorization token at all: the endpoint's 401 reaches the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_token_is_explained() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let mut env = aws_env(&endpoint);
    env.retain(|(k, _)| k != "AWS_CONTAINER_AUTHORIZATION_TOKEN");
    let daemon = Daemon::start(&env, &["run", "--no-identity"]).await;
    let line = daemon
        .wait_for_line(|l| l["message"] == "credentials check failed")
        .await;
    assert_eq!(line["endpoint_status"], 401, "{line}");
    assert_eq!(line["ecs_error_code"], "Unauthorized", "{line}");
}

/// The token file (EKS rotates it) is read on every check: a trailing newline is named as the
/// cause, a wrong token is the endpoint's 403, and replacing the file recovers with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_file_replaced_mid_run() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let dir = std::env::temp_dir().join(format!("sessionguard-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let mut env = aws_env(&endpoint);
    env.retain(|(k, _)| k != "AWS_CONTAINER_AUTHORIZATION_TOKEN");
    set(
        &mut env,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        file.to_str().unwrap(),
    );
    let daemon = Daemon::start(&env, &["run", "--interval", "1s", "--no-identity"]).await;
    let line = daemon
        .wait_for_line(|l| l["message"] == "credentials check failed")
        .await;
    assert!(
        line["error"]
            .as_str()
            .unwrap()
            .contains("ends with a newline"),
        "{line}"
    );

    let mark = daemon.mark();
    std::fs::write(&file, "wrong-token").unwrap();
    let line = daemon
        .wait_for_line_after(mark, |l| l["ecs_error_code"] == "AccessDenied")
        .await;
    assert_eq!(line["endpoint_status"], 403);

    // Replace the file the way a kubelet does: write aside, rename over.
    let aside = dir.join("token.new");
    std::fs::write(&aside, TOKEN).unwrap();
    std::fs::rename(&aside, &file).unwrap();
    daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    assert!(!daemon.output().contains("wrong-token") && !daemon.output().contains(TOKEN));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The endpoint restarts on the same port: failures while it is down, then a new session is picked
/// up and counted as a rotation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_restarted_on_the_same_port() {
    let first = endpoint(Duration::from_secs(3600)).await;
    let addr = first.addr();
    let env = aws_env(&first);
    let daemon = Daemon::start(&env, &["run", "--interval", "1s", "--no-identity"]).await;
    daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    let mark = daemon.mark();
    drop(first);
    daemon
        .wait_for_line_after(mark, |l| l["message"] == "credentials check failed")
        .await;
    assert_eq!(
        daemon.get("/readyz").0,
        200,
        "last good credentials still valid"
    );
    let _second = endpoint_on(addr, Duration::from_secs(3600)).await;
    let line = daemon.wait_for_line(|l| l["rotated"] == true).await;
    assert_eq!(line["level"], "INFO");
}
