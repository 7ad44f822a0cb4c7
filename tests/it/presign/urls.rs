//! URLs that work against s3s-fs, keys that round-trip, an expired URL refused by the server, and a
//! session too short for the URL asked: refused or shortened, then signed after the rotation.

use super::*;

/// A GET URL downloads the object with a plain HTTP client; a PUT URL uploads with the returned
/// headers and the object appears on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_put_urls_work_against_a_real_s3_server() {
    let s3 = S3Server::start(&["reports", "uploads"]);
    std::fs::create_dir_all(s3.root.join("reports/exports")).unwrap();
    std::fs::write(
        s3.root.join("reports/exports/q3.csv"),
        "region,total\neu,42\n",
    )
    .unwrap();
    let endpoint = s3_endpoint(Duration::from_secs(3600)).await;
    let daemon = daemon(
        &env_for(&endpoint, &s3),
        "GET:reports/exports/,PUT:uploads/incoming/",
        &[],
    )
    .await;

    let (status, get) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "exports/q3.csv", "expires_in": "10m"}),
    );
    assert_eq!(status, 200, "{get}");
    assert_eq!(get["method"], "GET");
    assert_honest(&get, issued_by(&endpoint));
    let (status, body) = http_url("GET", get["url"].as_str().unwrap(), &[], "");
    assert_eq!((status, body.as_str()), (200, "region,total\neu,42\n"));

    let (status, put) = presign(
        &daemon,
        &json!({"bucket": "uploads", "key": "incoming/new.json", "method": "PUT", "expires_in": 600, "content_type": "application/json"}),
    );
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["headers"]["content-type"], "application/json", "{put}");
    assert!(
        !put["url"].as_str().unwrap().contains("x-amz-checksum"),
        "no checksum parameters: {put}"
    );
    assert_honest(&put, issued_by(&endpoint));
    let headers: Vec<(String, String)> = put["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, body) = http_url(
        "PUT",
        put["url"].as_str().unwrap(),
        &headers,
        "{\"ok\":true}",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        std::fs::read_to_string(s3.root.join("uploads/incoming/new.json")).unwrap(),
        "{\"ok\":true}"
    );

    // The signature is real: the same URL with the content type the client did not sign fails.
    let (status, _) = http_url(
        "PUT",
        put["url"].as_str().unwrap(),
        &[("content-type", "text/plain")],
        "tampered",
    );
    assert_eq!(status, 403);

    let (_, metrics) = daemon.get("/metrics");
    assert_eq!(
        sample(
            &metrics,
            "sessionguard_presign_requests_total{result=\"issued\"}"
        ),
        Some(2.0)
    );
    let max = sample(&metrics, "sessionguard_presign_max_expires_in_seconds").unwrap();
    assert!((3500.0..=3540.0).contains(&max), "{max}");
    // Lines reach stdout through the log pipe's writer thread: wait for both.
    daemon
        .wait_for_nth(2, |l| l["message"] == "presign issued")
        .await;
    let issued = daemon.lines_with("presign issued");
    assert_eq!(issued.len(), 2);
    assert_eq!(issued[0]["bucket"], "reports");
    assert_eq!(issued[0]["granted_seconds"], 600);
    let output = daemon.output();
    for r in [&get, &put] {
        let signature = query_param(r["url"].as_str().unwrap(), "X-Amz-Signature").unwrap();
        assert!(
            !output.contains(&signature),
            "a URL signature reached the logs"
        );
    }
    assert!(!output.contains(S3_SECRET_KEY));
}

/// Keys with spaces, `+`, `~`, `%`, `//` and non-ASCII round-trip: uploaded with a PUT URL and
/// read back with a GET URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tricky_keys_round_trip() {
    let s3 = S3Server::start(&["scratch"]);
    let endpoint = s3_endpoint(Duration::from_secs(3600)).await;
    let daemon = daemon(&env_for(&endpoint, &s3), "scratch", &[]).await;
    let keys = [
        "with space.txt",
        "plus+sign.txt",
        "tilde~name.txt",
        "percent%20literal.txt",
        "double//slash.txt",
        "ünïcödé/日本語.txt",
        "q?and=amp&hash#.txt",
    ];
    for key in keys {
        let (status, put) = presign(
            &daemon,
            &json!({"bucket": "scratch", "key": key, "method": "PUT", "expires_in": 300}),
        );
        assert_eq!(status, 200, "{key}: {put}");
        assert_honest(&put, issued_by(&endpoint));
        let (status, body) = http_url("PUT", put["url"].as_str().unwrap(), &[], key);
        assert_eq!(status, 200, "PUT {key}: {body}");
        let (status, get) = presign(
            &daemon,
            &json!({"bucket": "scratch", "key": key, "expires_in": 300}),
        );
        assert_eq!(status, 200, "{key}: {get}");
        let (status, body) = http_url("GET", get["url"].as_str().unwrap(), &[], "");
        assert_eq!((status, body.as_str()), (200, key), "GET {key}");
    }
}

/// A URL past its own `expires_in` is rejected by the server: the expiry is real.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_url_is_rejected_by_the_server() {
    let s3 = S3Server::start(&["reports"]);
    std::fs::write(s3.root.join("reports/a.txt"), "a").unwrap();
    let endpoint = s3_endpoint(Duration::from_secs(3600)).await;
    let daemon = daemon(&env_for(&endpoint, &s3), "GET:reports", &[]).await;
    let (status, r) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "a.txt", "expires_in": 1}),
    );
    assert_eq!(status, 200, "{r}");
    let url = r["url"].as_str().unwrap().to_string();
    // X-Amz-Date is truncated to the second: the URL is dead at most 2 s from now.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = http_url("GET", &url, &[], "");
        if status == 403 {
            assert!(body.contains("expired"), "{body}");
            break;
        }
        assert_eq!(status, 200);
        assert!(
            std::time::Instant::now() < deadline,
            "URL still works after its expiry"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Beyond the session: 409 with `available_seconds` within a second of the truth; with
/// `min_expires_in` the grant is exactly `available`; after the endpoint rotates to a longer
/// session the same request succeeds without waiting for the next interval, once the on-demand
/// recheck spacing since the last check has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_too_short_then_rotation() {
    let s3 = S3Server::start(&["reports"]);
    let endpoint = s3_endpoint(Duration::from_secs(300)).await;
    let daemon = daemon(&env_for(&endpoint, &s3), "reports", &["--interval", "1h"]).await;
    let expiry = endpoint.current().expiration;

    let (status, refused) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "k", "expires_in": "1h"}),
    );
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"], "session_too_short");
    assert_eq!(refused["requested_seconds"], 3600);
    let truth = expiry
        .duration_since(sessionguard::clock::system().now())
        .unwrap()
        .as_secs_f64()
        - MARGIN as f64;
    let available = refused["available_seconds"].as_f64().unwrap();
    assert!(
        (available - truth).abs() <= 1.0,
        "available {available} vs {truth}"
    );
    assert_eq!(
        refused["credentials_expire_at"],
        sessionguard::clock::rfc3339(expiry)
    );
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("ask for less") && message.contains("rotate"),
        "{message}"
    );

    let (status, shortened) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "k", "expires_in": "1h", "min_expires_in": "1m"}),
    );
    assert_eq!(status, 200, "{shortened}");
    let granted = shortened["expires_in"].as_f64().unwrap();
    assert!(
        (granted - truth).abs() <= 1.0,
        "granted {granted} vs available {truth}"
    );
    assert_honest(&shortened, issued_by(&endpoint));

    let (status, r) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "k", "expires_in": "1h", "min_expires_in": "59m"}),
    );
    assert_eq!(status, 409, "{r}");

    endpoint.set_session(Duration::from_secs(7200));
    endpoint.rotate();
    // Rechecks for short requests are spaced (one endpoint call per few seconds, however many
    // requests fall short): the time rule itself is what is waited for here.
    let (_, view) = daemon.get("/v1/credentials");
    let view: serde_json::Value = serde_json::from_str(&view).unwrap();
    let last_check = humantime::parse_rfc3339(view["last_check_at"].as_str().unwrap()).unwrap();
    let spaced = last_check + sessionguard::tracked::task::RECHECK_SPACING + Duration::from_secs(1);
    if let Ok(wait) = spaced.duration_since(sessionguard::clock::system().now()) {
        tokio::time::sleep(wait).await;
    }
    let (status, r) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "k", "expires_in": "1h"}),
    );
    assert_eq!(status, 200, "after rotation: {r}");
    assert_eq!(r["expires_in"], 3600);
    assert_honest(&r, issued_by(&endpoint));
    let (_, metrics) = daemon.get("/metrics");
    assert_eq!(
        sample(
            &metrics,
            "sessionguard_presign_requests_total{result=\"session_too_short\"}"
        ),
        Some(2.0)
    );
    let refusal = daemon
        .wait_for_line(|l| l["message"] == "presign refused")
        .await;
    assert_eq!(refusal["level"], "WARN");
    assert_eq!(refusal["reason"], "session_too_short");
    assert_eq!(refusal["requested_seconds"], 3600);
}
