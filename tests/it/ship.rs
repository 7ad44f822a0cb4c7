//! Running in ECS: the shell-less health check, CloudWatch EMF lines and the task metadata.

use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// `healthcheck` exits 0 for a ready daemon (and `--live`), 1 for a not-ready one, a closed port
/// or a server that never answers, within about 2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exit_codes() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let ready = Daemon::start(&aws_env(&endpoint), &["run"]).await;
    ready.wait_for_status("/readyz", 200).await;
    let mut env = base_env();
    set(&mut env, "SESSIONGUARD_LISTEN", &ready.addr.to_string());
    assert_eq!(
        run_once(&env, &["healthcheck"]).await.status.code(),
        Some(0)
    );
    assert_eq!(
        run_once(&env, &["healthcheck", "--live"])
            .await
            .status
            .code(),
        Some(0)
    );

    let not_ready =
        Daemon::start(&aws_env(&endpoint), &["run", "--ready-min-remaining", "2h"]).await;
    not_ready
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    let url = format!("http://{}/readyz", not_ready.addr);
    let out = run_once(&base_env(), &["healthcheck", "--url", &url]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr.contains("answered 503") && out.stderr.contains("below_minimum"),
        "{}",
        out.stderr
    );
    let live = format!("http://{}/healthz", not_ready.addr);
    assert_eq!(
        run_once(&base_env(), &["healthcheck", "--url", &live])
            .await
            .status
            .code(),
        Some(0)
    );

    let closed = format!("http://{}/readyz", closed_port());
    assert_eq!(
        run_once(&base_env(), &["healthcheck", "--url", &closed])
            .await
            .status
            .code(),
        Some(1)
    );

    // Accepts connections, never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/readyz", silent.local_addr().unwrap());
    let out = run_once(&base_env(), &["healthcheck", "--url", &url]).await;
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    // It gave up by its own timeout, and says so.
    let timeout = humantime::format_duration(sessionguard::commands::healthcheck::TIMEOUT);
    assert_eq!(
        out.stderr.trim(),
        format!("{url}: no answer within {timeout}")
    );
    drop(silent);
}

/// Every EMF directive names metrics and dimensions that are members of the same line.
fn assert_valid_emf(line: &Value, namespace: &str) {
    let aws = &line["_aws"];
    let ts = aws["Timestamp"].as_i64().expect("_aws.Timestamp in ms");
    let logged = humantime::parse_rfc3339(line["timestamp"].as_str().unwrap()).unwrap();
    let logged_ms = logged
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!((ts - logged_ms).abs() < 1000, "{line}");
    for directive in aws["CloudWatchMetrics"].as_array().unwrap() {
        assert_eq!(directive["Namespace"], namespace);
        for set in directive["Dimensions"].as_array().unwrap() {
            for dim in set.as_array().unwrap() {
                let name = dim.as_str().unwrap();
                assert!(
                    line[name].is_string(),
                    "dimension {name} is not a field: {line}"
                );
                assert!(
                    !["task_id", "access_key_id"].contains(&name),
                    "high-cardinality dimension {name}"
                );
            }
        }
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(
                line[name].is_number(),
                "metric {name} has no numeric member: {line}"
            );
            assert!(metric["Unit"].is_string());
        }
    }
}

/// `--log-format emf`: check lines carry `CredentialsRemainingSeconds` and presign refusals
/// `PresignRefusals`, dimensioned by the task family from task metadata, which is also on every
/// line and in `sessionguard_task_info`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emf_lines_with_task_metadata() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let mut env = aws_env(&endpoint);
    set(
        &mut env,
        "ECS_CONTAINER_METADATA_URI_V4",
        &endpoint.metadata_uri(),
    );
    let daemon = Daemon::spawn(
        &env,
        &[
            "run",
            "--log-format",
            "emf",
            "--emf-namespace",
            "Team/Sessionguard",
            "--listen",
            "127.0.0.1:0",
            "--presign-allow",
            "GET:reports",
        ],
    )
    .await;
    let line = daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    assert_valid_emf(&line, "Team/Sessionguard");
    assert_eq!(
        line["CredentialsRemainingSeconds"],
        line["remaining_seconds"]
    );
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"],
        "Seconds"
    );
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["task_family"]])
    );
    for l in daemon.lines() {
        assert_eq!(l["task_family"], "sessionguard-demo", "{l}");
        assert_eq!(l["cluster"], "demo", "{l}");
        assert_eq!(l["task_id"], "0123456789abcdef0123456789abcdef", "{l}");
    }
    let (status, _) = http(
        daemon.addr,
        "POST",
        "/v1/presign",
        &[("content-type", "application/json")],
        r#"{"bucket":"other","key":"k","expires_in":60}"#,
    );
    assert_eq!(status, 403);
    let refusal = daemon
        .wait_for_line(|l| l["message"] == "presign refused")
        .await;
    assert_valid_emf(&refusal, "Team/Sessionguard");
    assert_eq!(refusal["PresignRefusals"], 1);
    assert_eq!(
        refusal["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["task_family", "reason"]])
    );

    let (_, metrics) = daemon.get("/metrics");
    assert_eq!(
        sample(
            &metrics,
            "sessionguard_task_info{availability_zone=\"us-east-1a\",cluster=\"demo\",family=\"sessionguard-demo\",revision=\"1\",task_id=\"0123456789abcdef0123456789abcdef\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
}

/// Task metadata that cannot be read is a WARN; the daemon runs on without task fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_task_metadata_is_a_warning() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let mut env = aws_env(&endpoint);
    set(
        &mut env,
        "ECS_CONTAINER_METADATA_URI_V4",
        &format!("http://{}/v4/x", closed_port()),
    );
    let daemon = Daemon::start(&env, &["run"]).await;
    let warn = daemon
        .wait_for_line(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("task metadata unavailable"))
        })
        .await;
    assert_eq!(warn["level"], "WARN");
    assert!(
        warn["error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("connection refused"),
        "{warn}"
    );
    let line = daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    assert!(line.get("task_family").is_none());
    assert!(!daemon.get("/metrics").1.contains("sessionguard_task_info{"));
}
