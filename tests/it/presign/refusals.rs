//! What presign refuses and how: the allow-list, bad requests (4xx naming the field), no
//! credentials (503), and the `presign` command's exit codes.

use super::*;

/// Policy: wrong bucket, prefix or method is 403; with no rule at all every presign is 403 and the
/// message names the flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_refusals() {
    let s3 = S3Server::start(&["reports"]);
    let endpoint = s3_endpoint(Duration::from_secs(3600)).await;
    let env = env_for(&endpoint, &s3);
    let allowed = daemon(&env, "GET:reports/exports/", &[]).await;
    for body in [
        json!({"bucket": "other", "key": "exports/a", "expires_in": 60}),
        json!({"bucket": "reports", "key": "private/a", "expires_in": 60}),
        json!({"bucket": "reports", "key": "exports/a", "expires_in": 60, "method": "PUT"}),
    ] {
        let (status, r) = presign(&allowed, &body);
        assert_eq!(status, 403, "{body}: {r}");
        assert_eq!(r["error"], "forbidden");
    }
    let (status, _) = presign(
        &allowed,
        &json!({"bucket": "reports", "key": "exports/a", "expires_in": 60}),
    );
    assert_eq!(status, 200);

    let off = Daemon::start(&env, &["run"]).await;
    let (status, r) = presign(
        &off,
        &json!({"bucket": "reports", "key": "exports/a", "expires_in": 60}),
    );
    assert_eq!(status, 403, "{r}");
    assert!(
        r["message"].as_str().unwrap().contains("--presign-allow"),
        "{r}"
    );
}

/// Bad requests each get their 4xx with a JSON body, never a 5xx, and the daemon stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_4xx() {
    let s3 = S3Server::start(&["reports"]);
    let endpoint = s3_endpoint(Duration::from_secs(3600)).await;
    let d = daemon(&env_for(&endpoint, &s3), "reports", &[]).await;
    let ok = json!({"bucket": "reports", "key": "k", "expires_in": 60});
    let with = |field: &str, value: Value| {
        let mut v = ok.clone();
        v[field] = value;
        v.to_string()
    };
    let without = |field: &str| {
        let mut v = ok.clone();
        v.as_object_mut().unwrap().remove(field);
        v.to_string()
    };
    let json_type = ("content-type", "application/json");
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, String, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            vec![json_type],
            "{\"bucket\":".into(),
            400,
            "body",
        ),
        (
            "missing bucket",
            vec![json_type],
            without("bucket"),
            400,
            "bucket",
        ),
        (
            "empty key",
            vec![json_type],
            with("key", json!("")),
            400,
            "key",
        ),
        (
            "missing expires_in",
            vec![json_type],
            without("expires_in"),
            400,
            "expires_in",
        ),
        (
            "zero",
            vec![json_type],
            with("expires_in", json!(0)),
            400,
            "expires_in",
        ),
        (
            "negative",
            vec![json_type],
            with("expires_in", json!(-60)),
            400,
            "expires_in",
        ),
        (
            "non-numeric",
            vec![json_type],
            with("expires_in", json!("later")),
            400,
            "expires_in",
        ),
        (
            "over 7 days",
            vec![json_type],
            with("expires_in", json!(604_801)),
            400,
            "expires_in",
        ),
        (
            "unknown method",
            vec![json_type],
            with("method", json!("PATCH")),
            400,
            "method",
        ),
        (
            "unknown field",
            vec![json_type],
            with("expires", json!(60)),
            400,
            "expires",
        ),
        (
            "content_type on GET",
            vec![json_type],
            with("content_type", json!("text/plain")),
            400,
            "content_type",
        ),
        (
            "huge body",
            vec![json_type],
            with("key", json!("k".repeat(20_000))),
            413,
            "",
        ),
        (
            "wrong content type",
            vec![("content-type", "text/plain")],
            ok.to_string(),
            415,
            "",
        ),
    ];
    for (name, headers, body, status, field) in cases {
        let (got, text) = http(d.addr, "POST", "/v1/presign", &headers, &body);
        assert_eq!(got, status, "{name}: {text}");
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {text}"));
        assert!(
            v["error"].is_string() && v["message"].is_string(),
            "{name}: {v}"
        );
        if !field.is_empty() {
            assert_eq!(v["field"], field, "{name}: {v}");
        }
    }
    assert_eq!(http(d.addr, "GET", "/v1/presign", &[], "").0, 405);
    assert_eq!(d.get("/healthz").0, 200);
    let (status, _) = presign(&d, &ok);
    assert_eq!(status, 200, "still signing after the abuse");
}

/// No valid credentials: 503 `credentials_unavailable` carrying the last check's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_without_credentials() {
    let s3 = S3Server::start(&["reports"]);
    let endpoint = s3_endpoint(Duration::from_secs(3600)).await;
    endpoint.set_fault(Some(Fault::Status {
        status: 503,
        code: "CredentialsUninitialized".into(),
        message: "not yet".into(),
    }));
    let d = Daemon::start(
        &env_for(&endpoint, &s3),
        &["run", "--presign-allow", "reports"],
    )
    .await;
    d.wait_for_line(|l| l["message"] == "credentials check failed")
        .await;
    let (status, r) = presign(
        &d,
        &json!({"bucket": "reports", "key": "k", "expires_in": 60}),
    );
    assert_eq!(status, 503, "{r}");
    assert_eq!(r["error"], "credentials_unavailable");
    assert!(
        r["last_error"]
            .as_str()
            .unwrap()
            .contains("CredentialsUninitialized"),
        "{r}"
    );
    // When to ask again: the task credentials are rechecked for a request at most every 5 s.
    assert_eq!(r["retry_after_seconds"], 5, "{r}");
    let reply = send(
        "POST",
        &format!("http://{}/v1/presign", d.addr),
        &[("content-type", "application/json")],
        &json!({"bucket": "reports", "key": "k", "expires_in": 60}).to_string(),
    );
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after"), Some("5"));
}

/// The CLI: URL on stdout that the server accepts, the true expiry on stderr; exit 3 when the
/// session is too short, 2 without credentials, 64 for a bad URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presign_command_exit_codes() {
    let s3 = S3Server::start(&["reports"]);
    std::fs::write(s3.root.join("reports/a.txt"), "cli").unwrap();
    let endpoint = s3_endpoint(Duration::from_secs(600)).await;
    let mut env = env_for(&endpoint, &s3);

    let out = run_once(
        &env,
        &["presign", "s3://reports/a.txt", "--expires-in", "5m"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let url = out.stdout.trim();
    assert_eq!(http_url("GET", url, &[], ""), (200, "cli".to_string()));
    assert!(
        out.stderr.contains("expires at ") && out.stderr.contains("the credentials expire at"),
        "{}",
        out.stderr
    );

    let out = run_once(
        &env,
        &["presign", "s3://reports/a.txt", "--expires-in", "1h"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", out.stderr);
    assert!(out.stdout.is_empty());
    assert!(out.stderr.contains("session too short"), "{}", out.stderr);

    let out = run_once(
        &env,
        &[
            "presign",
            "s3://reports/a.txt",
            "--expires-in",
            "1h",
            "--min-expires-in",
            "1m",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);

    let out = run_once(&env, &["presign", "reports/a.txt"]).await;
    assert_eq!(out.status.code(), Some(64), "{}", out.stderr);
    let out = run_once(
        &env,
        &["presign", "s3://reports/a.txt", "--expires-in", "8d"],
    )
    .await;
    assert_eq!(out.status.code(), Some(64), "{}", out.stderr);
    assert!(out.stderr.contains("--expires-in"), "{}", out.stderr);

    endpoint.set_fault(Some(Fault::MalformedJson));
    set(&mut env, "SESSIONGUARD_CHECK_TIMEOUT", "3s");
    let out = run_once(&env, &["presign", "s3://reports/a.txt"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
}
