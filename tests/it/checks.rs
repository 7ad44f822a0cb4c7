//! The check loop as a user sees it: log lines, the gauge, rotation and readiness.

use std::time::Duration;

use crate::support::*;

/// Each interval writes one `credentials checked` line whose `remaining_seconds` matches the
/// endpoint's `Expiration` within a second, with the identity from STS and a masked key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_line_per_interval_matching_the_endpoint() {
    let endpoint = endpoint(Duration::from_secs(600)).await;
    let daemon = Daemon::start(
        &aws_env(&endpoint),
        &["run", "--interval", "1s", "--warn-below", "5m"],
    )
    .await;
    let third = daemon
        .wait_for_nth(3, |l| l["message"] == "credentials checked")
        .await;
    let issued = endpoint.current();
    let lines = daemon.lines_with("credentials checked");
    for line in &lines[..3] {
        let expected = seconds_between(
            line["timestamp"].as_str().unwrap(),
            &sessionguard::clock::rfc3339(issued.expiration),
        );
        let got = line["remaining_seconds"].as_f64().unwrap();
        assert!(
            (got - expected).abs() <= 1.0,
            "remaining {got} vs {expected}: {line}"
        );
        assert_eq!(line["level"], "INFO", "{line}");
        assert_eq!(
            line["expires_at"],
            sessionguard::clock::rfc3339(issued.expiration)
        );
        assert_eq!(line["source"], "EcsContainer");
        assert_eq!(
            line["access_key_id"],
            sessionguard::credentials::mask(&issued.access_key_id)
        );
        assert_eq!(line["account"], "123456789012");
        assert!(
            line["role_arn"]
                .as_str()
                .unwrap()
                .starts_with("arn:aws:sts::123456789012:assumed-role/")
        );
        assert_eq!(line["rotated"], false);
        assert!(
            line["remaining"].as_str().unwrap().starts_with("9m 5"),
            "{line}"
        );
    }
    // One line per interval: consecutive checks about a second apart, not bursts.
    for pair in lines[..3].windows(2) {
        let gap = seconds_between(
            pair[0]["timestamp"].as_str().unwrap(),
            pair[1]["timestamp"].as_str().unwrap(),
        );
        assert!(
            (0.7..=1.5).contains(&gap),
            "gap {gap}s between {} and {}",
            pair[0],
            pair[1]
        );
    }
    assert!(third.get("error").is_none());
}

/// Below `--warn-below` the same line is WARN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warn_below_threshold() {
    let endpoint = endpoint(Duration::from_secs(120)).await;
    let daemon = Daemon::start(&aws_env(&endpoint), &["run", "--warn-below", "15m"]).await;
    let line = daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    assert_eq!(line["level"], "WARN", "{line}");
}

/// The gauge is `expiry - now` at scrape time: each scrape's remaining time puts "now" between
/// the moments the scrape was sent and answered, and a later scrape, with no check in between,
/// reads a later "now".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gauge_is_computed_at_scrape() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let daemon = Daemon::start(&aws_env(&endpoint), &["run", "--interval", "1h"]).await;
    daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    let clock = sessionguard::clock::system();
    let unix = || sessionguard::clock::unix_seconds(clock.now());
    let name = "sessionguard_credentials_remaining_seconds";
    let expiry_name = "sessionguard_credentials_expiry_timestamp_seconds";
    // The moment the gauge was computed, and the scrape around it.
    let scrape = || {
        let sent = unix();
        let (status, text) = daemon.get("/metrics");
        let answered = unix();
        assert_eq!(status, 200);
        let computed_at = sample(&text, expiry_name).unwrap() - sample(&text, name).unwrap();
        // A millisecond for the sum's rounding.
        assert!(
            (sent - 0.001..=answered + 0.001).contains(&computed_at),
            "computed at {computed_at}, scraped from {sent} to {answered}"
        );
        (computed_at, text)
    };
    let (first, _) = scrape();
    let second = loop {
        let (at, text) = scrape();
        if at > first {
            break text;
        }
    };
    assert_eq!(
        sample(
            &second,
            "sessionguard_credentials_checks_total{result=\"success\"}"
        ),
        Some(1.0)
    );
    let expiry = sample(&second, "sessionguard_credentials_expiry_timestamp_seconds").unwrap();
    let want = endpoint
        .current()
        .expiration
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert_eq!(expiry, want);
    assert!(second.contains("sessionguard_credentials_info{account=\"123456789012\",role_arn=\"arn:aws:sts::123456789012:assumed-role/"), "{second}");
    assert!(second.contains(&format!(
        "sessionguard_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )));
}

/// A new access key from the endpoint is logged with `rotated: true` and counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_is_logged_and_counted() {
    let endpoint = endpoint(Duration::from_secs(600)).await;
    let daemon = Daemon::start(&aws_env(&endpoint), &["run", "--interval", "1s"]).await;
    let first = daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    let rotated = endpoint.rotate();
    let line = daemon.wait_for_line(|l| l["rotated"] == true).await;
    assert_eq!(
        line["access_key_id"],
        sessionguard::credentials::mask(&rotated.access_key_id)
    );
    assert_ne!(line["access_key_id"], first["access_key_id"]);
    assert_eq!(
        line["account"], "123456789012",
        "identity looked up again: {line}"
    );
    let (_, metrics) = daemon.get("/metrics");
    assert_eq!(
        sample(&metrics, "sessionguard_credentials_rotations_total"),
        Some(1.0)
    );
    // Later checks of the same key are not rotations.
    daemon
        .wait_for_line(|l| {
            l["message"] == "credentials checked"
                && l["rotated"] == false
                && l["access_key_id"] == line["access_key_id"]
        })
        .await;
}

/// `/readyz` turns 503 `expired` when the session runs out and 200 again after rotation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_expiry_and_rotation() {
    let mut options = sessionguard::demo::endpoint::Options::new(Duration::from_secs(3));
    options.rotate_before = Duration::ZERO;
    let endpoint = endpoint_with(options).await;
    let daemon = Daemon::start(&aws_env(&endpoint), &["run", "--interval", "4s"]).await;
    daemon.wait_for_status("/readyz", 200).await;
    let body = daemon.wait_for_status("/readyz", 503).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["reason"], "expired", "{v}");
    assert!(v["remaining_seconds"].as_i64().unwrap() < 0);
    let (_, metrics) = daemon.get("/metrics");
    assert!(sample(&metrics, "sessionguard_credentials_remaining_seconds").unwrap() < 0.0);
    daemon.wait_for_status("/readyz", 200).await;
    daemon.wait_for_line(|l| l["rotated"] == true).await;
}

/// `--ready-min-remaining` makes readiness demand more than "not expired".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_minimum_remaining() {
    let endpoint = endpoint(Duration::from_secs(300)).await;
    let daemon = Daemon::start(
        &aws_env(&endpoint),
        &["run", "--ready-min-remaining", "10m"],
    )
    .await;
    daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    let (status, body) = daemon.get("/readyz");
    assert_eq!(status, 503, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["reason"], "below_minimum");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("less than the required 10m"),
        "{v}"
    );
}

/// Static keys have no expiry: the line says so with `expires_at: null`, the gauges are absent
/// and the daemon is ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_keys_do_not_expire() {
    let mut env = base_env();
    set(&mut env, "AWS_ACCESS_KEY_ID", "AKIDSTATICEXAMPLE123");
    set(&mut env, "AWS_SECRET_ACCESS_KEY", "static-secret-canary");
    let daemon = Daemon::start(&env, &["run", "--no-identity"]).await;
    let line = daemon
        .wait_for_line(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("credentials checked"))
        })
        .await;
    assert_eq!(
        line["message"],
        "credentials checked; static credentials do not expire"
    );
    assert!(line["expires_at"].is_null(), "{line}");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["source"], "EnvironmentVariable");
    let (_, metrics) = daemon.get("/metrics");
    assert_eq!(
        sample(&metrics, "sessionguard_credentials_remaining_seconds"),
        None
    );
    assert_eq!(
        sample(
            &metrics,
            "sessionguard_credentials_expiry_timestamp_seconds"
        ),
        None
    );
    assert_eq!(daemon.get("/readyz").0, 200);
    assert!(!daemon.output().contains("static-secret-canary"));
}

/// STS out of reach is a WARN on the check line, never fatal; the daemon goes on checking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sts_unreachable_is_a_warning() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let mut env = aws_env(&endpoint);
    set(
        &mut env,
        "AWS_ENDPOINT_URL_STS",
        &format!("http://{}/", closed_port()),
    );
    let daemon = Daemon::start(&env, &["run", "--interval", "1s", "--check-timeout", "3s"]).await;
    let line = daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    assert_eq!(line["level"], "WARN", "{line}");
    assert!(
        line["identity_error"]
            .as_str()
            .unwrap()
            .contains("GetCallerIdentity"),
        "{line}"
    );
    assert!(line.get("role_arn").is_none());
    daemon
        .wait_for_nth(2, |l| l["message"] == "credentials checked")
        .await;
    assert_eq!(daemon.get("/readyz").0, 200);
}

/// `--no-identity` never calls STS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_identity_skips_sts() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let mut env = aws_env(&endpoint);
    set(
        &mut env,
        "AWS_ENDPOINT_URL_STS",
        &format!("http://{}/", closed_port()),
    );
    let daemon = Daemon::start(&env, &["run", "--no-identity"]).await;
    let line = daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    assert_eq!(line["level"], "INFO", "{line}");
    assert!(
        line.get("identity_error").is_none() && line.get("account").is_none(),
        "{line}"
    );
}

/// Credentials the endpoint hands out already expired are logged at WARN with a negative time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_credentials_are_a_warning() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    endpoint.set_fault(Some(sessionguard::demo::endpoint::Fault::Expired));
    let daemon = Daemon::start(&aws_env(&endpoint), &["run", "--no-identity"]).await;
    let line = daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    assert_eq!(line["level"], "WARN", "{line}");
    assert!(line["remaining_seconds"].as_i64().unwrap() <= -59, "{line}");
    assert!(
        line["remaining"]
            .as_str()
            .unwrap()
            .starts_with("expired 1m"),
        "{line}"
    );
    let (status, body) = daemon.get("/readyz");
    assert_eq!(status, 503);
    assert!(body.contains("\"expired\""), "{body}");
}
