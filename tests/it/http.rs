//! The HTTP surface: routes, the metrics-only listener, and Prometheus's own lint.

use std::time::Duration;

use crate::support::*;

/// Unknown paths are a JSON 404, wrong methods a JSON 405 with `Allow`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_path_and_wrong_method() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let daemon = Daemon::start(&aws_env(&endpoint), &["run"]).await;
    let (status, body) = daemon.get("/nope");
    assert_eq!(status, 404);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"], "not_found");
    let (status, body) = http(daemon.addr, "POST", "/v1/credentials", &[], "{}");
    assert_eq!(status, 405);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"], "method_not_allowed");
    assert_eq!(daemon.get("/healthz").0, 200);
}

/// `/v1/credentials` shows the session with the key masked and the time left computed now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_view() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let daemon = Daemon::start(&aws_env(&endpoint), &["run"]).await;
    daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    let (status, body) = daemon.get("/v1/credentials");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let issued = endpoint.current();
    assert_eq!(v["source"], "EcsContainer");
    assert_eq!(
        v["access_key_id"],
        sessionguard::credentials::mask(&issued.access_key_id)
    );
    assert_eq!(v["account"], "123456789012");
    assert_eq!(
        v["expires_at"],
        sessionguard::clock::rfc3339(issued.expiration)
    );
    let remaining = v["remaining_seconds"].as_i64().unwrap();
    assert!((3590..=3600).contains(&remaining), "{v}");
    assert!(
        v["last_check_at"].is_string() && v["last_success_at"].is_string(),
        "{v}"
    );
    assert!(v["last_error"].is_null());
    assert!(!body.contains(&issued.secret_access_key) && !body.contains(&issued.token));
}

/// `--metrics-listen` serves metrics and health, never the `/v1/` API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_listener_never_serves_the_api() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let daemon = Daemon::start(
        &aws_env(&endpoint),
        &["run", "--metrics-listen", "127.0.0.1:0"],
    )
    .await;
    let started = daemon
        .wait_for_line(|l| l["message"] == "sessionguard started")
        .await;
    let metrics_addr = started["metrics_listen"].as_str().unwrap().parse().unwrap();
    daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    let (status, body) = http(metrics_addr, "GET", "/metrics", &[], "");
    assert_eq!(status, 200);
    assert!(sample(&body, "sessionguard_credentials_remaining_seconds").is_some());
    assert_eq!(http(metrics_addr, "GET", "/healthz", &[], "").0, 200);
    assert_eq!(http(metrics_addr, "GET", "/readyz", &[], "").0, 200);
    assert_eq!(http(metrics_addr, "GET", "/v1/credentials", &[], "").0, 404);
    assert_eq!(daemon.get("/v1/credentials").0, 200);
}

/// A real scrape passes `promtool check metrics` (Debian's `prometheus` package).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_accepts_a_real_scrape() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let daemon = Daemon::start(&aws_env(&endpoint), &["run"]).await;
    daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    let (status, metrics) = daemon.get("/metrics");
    assert_eq!(status, 200);
    for name in [
        "sessionguard_credentials_expiry_timestamp_seconds",
        "sessionguard_credentials_remaining_seconds",
        "sessionguard_credentials_checks_total{result=\"success\"}",
        "sessionguard_credentials_checks_total{result=\"failure\"}",
        "sessionguard_credentials_last_success_timestamp_seconds",
        "sessionguard_credentials_rotations_total",
        "process_resident_memory_bytes",
    ] {
        assert!(
            sample(&metrics, name).is_some(),
            "{name} missing:\n{metrics}"
        );
    }
    promtool_accepts(&metrics);
}
