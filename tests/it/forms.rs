//! Browser form uploads (`/v1/presign/post`) and batches (`/v1/presign/batch`) on the real binary,
//! against s3s-fs, which verifies POST-policy signatures, the policy's expiration and its
//! conditions.

use std::time::Duration;

use serde_json::{Value, json};
use sessionguard::demo::endpoint::EcsEndpoint;

use crate::openapi::assert_documented;
use crate::presign::{
    Signer, amz_date, assert_honest, assert_within_session, daemon, env_for, issued_by, s3_endpoint,
};
use crate::support::*;

fn post(daemon: &Daemon, path: &str, body: &Value) -> (u16, Value) {
    let (status, text) = http(
        daemon.addr,
        "POST",
        path,
        &[("content-type", "application/json")],
        &body.to_string(),
    );
    assert_documented(path, "post", status, &text);
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, value)
}

const BOUNDARY: &str = "sessionguardFormBoundary7MA4YWxkTrZu0gW";

/// Posts a form as a browser does: every field in order, then `file`.
fn submit(form: &Value, overrides: &[(&str, &str)], file: &str) -> (u16, String) {
    let mut body = String::new();
    for (name, value) in form["fields"].as_object().unwrap() {
        let value = overrides.iter().find(|(n, _)| n == name).map_or_else(
            || value.as_str().unwrap().to_string(),
            |(_, v)| v.to_string(),
        );
        body.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\n{file}\r\n--{BOUNDARY}--\r\n"
    ));
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    http_url(
        "POST",
        form["url"].as_str().unwrap(),
        &[("content-type", &content_type)],
        &body,
    )
}

/// The policy inside a form, decoded.
fn policy(form: &Value) -> Value {
    let text = form["fields"]["policy"].as_str().unwrap();
    serde_json::from_slice(&aws_smithy_types::base64::decode(text).unwrap()).unwrap()
}

/// The policy's expiration keeps the promise: the granted time from signing, and no later than
/// the end of the session the endpoint handed out with the form's `x-amz-credential` key and
/// `x-amz-security-token`, minus the margin.
fn assert_form_honest(form: &Value, endpoint: &EcsEndpoint) {
    let policy = policy(form);
    assert_eq!(policy["expiration"], form["expires_at"], "{policy}");
    let signed_at = amz_date(form["fields"]["x-amz-date"].as_str().unwrap());
    let ends = humantime::parse_rfc3339(form["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        ends.duration_since(signed_at).unwrap().as_secs(),
        form["expires_in"].as_u64().unwrap()
    );
    assert_within_session(ends, &Signer::of_form(form), issued_by(endpoint), form);
}

/// A form with the returned fields uploads the file, byte for byte; one whose file is outside
/// `content_length_range`, whose key leaves `key_prefix`, or whose fields were altered is refused
/// by the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_uploads_and_their_conditions() {
    let s3 = S3Server::start(&["uploads"]);
    let endpoint = s3_endpoint(Duration::from_secs(1200)).await;
    let daemon = daemon(&env_for(&endpoint, &s3), "PUT:uploads/u/1/", &[]).await;

    let (status, form) = post(
        &daemon,
        "/v1/presign/post",
        &json!({
            "bucket": "uploads", "key_prefix": "u/1/", "expires_in": "10m",
            "content_length_range": {"min": 1, "max": 64}, "content_type_prefix": "text/",
            "success_action_status": 201
        }),
    );
    assert_eq!(status, 200, "{form}");
    assert_form_honest(&form, &endpoint);
    assert_eq!(form["fields"]["key"], "u/1/${filename}");
    let token = &form["fields"]["x-amz-security-token"];
    assert!(token.as_str().is_some_and(|t| !t.is_empty()), "{form}");
    let mut with_type = form.clone();
    with_type["fields"]
        .as_object_mut()
        .unwrap()
        .insert("Content-Type".into(), "text/plain".into());

    let (status, body) = submit(&with_type, &[("key", "u/1/report.txt")], "hello form");
    assert_eq!(status, 201, "{body}");
    let stored = std::fs::read_to_string(s3.root.join("uploads/u/1/report.txt")).unwrap();
    assert_eq!(stored, "hello form");

    // s3s-fs answers a broken condition 400 InvalidPolicyDocument naming it (S3 itself: 403
    // AccessDenied), and a bad signature 403.
    let refused = |case: &str, (status, body): (u16, String), names: &str| {
        assert!(
            (400..500).contains(&status) && body.contains(names),
            "{case}: {status} {body}"
        );
    };
    refused(
        "a key outside key_prefix",
        submit(&with_type, &[("key", "u/2/x.txt")], "outside the prefix"),
        "&apos;key&apos;",
    );
    refused(
        "a file over the range",
        submit(&with_type, &[("key", "u/1/big.txt")], &"x".repeat(65)),
        "EntityTooLarge",
    );
    refused(
        "a content type outside the prefix",
        submit(
            &with_type,
            &[("key", "u/1/t.bin"), ("Content-Type", "image/png")],
            "x",
        ),
        "&apos;content-type&apos;",
    );
    refused(
        "an altered signed field",
        submit(&with_type, &[("x-amz-date", "20200101T000000Z")], "x"),
        "x-amz-date does not match policy",
    );
    let mut signature = with_type["fields"]["x-amz-signature"]
        .as_str()
        .unwrap()
        .to_string();
    let last = if signature.ends_with('0') { "1" } else { "0" };
    signature.replace_range(63.., last);
    refused(
        "a tampered signature",
        submit(
            &with_type,
            &[("key", "u/1/t.txt"), ("x-amz-signature", &signature)],
            "x",
        ),
        "Signature",
    );
    assert!(!s3.root.join("uploads/u/2/x.txt").exists());
    assert!(!s3.root.join("uploads/u/1/big.txt").exists());
}

/// A form used after its policy's expiration is refused by the server; a form for more than the
/// session allows is 409, or shortened with `min_expires_in`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_expiry_follows_the_session() {
    let s3 = S3Server::start(&["uploads"]);
    let endpoint = s3_endpoint(Duration::from_secs(300)).await;
    let daemon = daemon(&env_for(&endpoint, &s3), "uploads", &["--interval", "1h"]).await;

    let (status, form) = post(
        &daemon,
        "/v1/presign/post",
        &json!({"bucket": "uploads", "key": "late.txt", "expires_in": 2}),
    );
    assert_eq!(status, 200, "{form}");
    assert_form_honest(&form, &endpoint);
    // The expiration is the time rule itself: no poll can pass it without uploading, so wait
    // until the stated expiration is behind, then the server says it has expired.
    let expires_at = humantime::parse_rfc3339(form["expires_at"].as_str().unwrap()).unwrap();
    if let Ok(left) = expires_at.duration_since(sessionguard::clock::system().now()) {
        tokio::time::sleep(left + Duration::from_millis(50)).await;
    }
    let (status, body) = submit(&form, &[], "too late");
    assert_eq!(status, 403, "an expired form: {body}");
    assert!(
        body.contains("AccessDenied") && body.contains("Request has expired"),
        "an expired form: {body}"
    );
    assert!(!s3.root.join("uploads/late.txt").exists());

    let (status, refused) = post(
        &daemon,
        "/v1/presign/post",
        &json!({"bucket": "uploads", "key": "k.txt", "expires_in": "1h"}),
    );
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"], "session_too_short");
    let (status, shortened) = post(
        &daemon,
        "/v1/presign/post",
        &json!({"bucket": "uploads", "key": "k.txt", "expires_in": "1h", "min_expires_in": "1m"}),
    );
    assert_eq!(status, 200, "{shortened}");
    assert!(shortened["expires_in"].as_u64().unwrap() < 300);
    assert_form_honest(&shortened, &endpoint);
    let (status, body) = submit(&shortened, &[], "in time");
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        std::fs::read_to_string(s3.root.join("uploads/k.txt")).unwrap(),
        "in time"
    );
}

/// Form uploads need a rule that allows uploading: `GET` alone is 403, and bad bodies name their
/// field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_refusals() {
    let s3 = S3Server::start(&["uploads"]);
    let endpoint = s3_endpoint(Duration::from_secs(1200)).await;
    let daemon = daemon(&env_for(&endpoint, &s3), "GET:uploads", &[]).await;
    let (status, body) = post(
        &daemon,
        "/v1/presign/post",
        &json!({"bucket": "uploads", "key": "k", "expires_in": 60}),
    );
    assert_eq!(status, 403, "{body}");
    let (status, body) = post(
        &daemon,
        "/v1/presign/post",
        &json!({"bucket": "uploads", "key": "k", "key_prefix": "u/", "expires_in": 60}),
    );
    assert_eq!((status, body["field"].as_str()), (400, Some("key_prefix")));
    let (status, body) = post(
        &daemon,
        "/v1/presign/post",
        &json!({"bucket": "uploads", "key": "k", "expires_in": 60, "content_length_range": {"min": 9, "max": 1}}),
    );
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("content_length_range"))
    );
}

/// A batch answers each request exactly as `/v1/presign` would alone, in order, on one snapshot
/// with at most one recheck; too many requests are 413, a malformed batch 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_answer_each_request() {
    let s3 = S3Server::start(&["reports"]);
    let endpoint = s3_endpoint(Duration::from_secs(600)).await;
    let daemon = daemon(
        &env_for(&endpoint, &s3),
        "GET:reports/ok/",
        &["--interval", "1h"],
    )
    .await;
    std::fs::create_dir_all(s3.root.join("reports/ok")).unwrap();
    std::fs::write(s3.root.join("reports/ok/a.csv"), "a,b\n").unwrap();
    let checks_before = daemon.lines_with("credentials checked").len();

    let requests = json!([
        {"bucket": "reports", "key": "ok/a.csv", "expires_in": 60},
        {"bucket": "reports", "key": "secret/b.csv", "expires_in": 60},
        {"bucket": "reports", "key": "ok/a.csv", "expires_in": "11h"},
        {"bucket": "reports", "key": "ok/a.csv", "expires": 60},
        {"bucket": "reports", "key": "ok/a.csv", "expires_in": "11h", "min_expires_in": "1m"},
        {"bucket": "reports", "key": "ok/a.csv", "expires_in": "12h"},
    ]);
    let (status, batch) = post(&daemon, "/v1/presign/batch", &json!({"requests": requests}));
    assert_eq!(status, 200, "{batch}");
    let results = batch["results"].as_array().unwrap();
    let statuses: Vec<u64> = results
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 403, 409, 400, 200, 409], "{batch}");
    assert_eq!(results[3]["body"]["field"], "expires");
    assert_eq!(results[2]["body"]["error"], "session_too_short");
    for r in [&results[0], &results[4]] {
        assert_honest(&r["body"], issued_by(&endpoint));
    }
    let url = results[0]["body"]["url"].as_str().unwrap();
    assert_eq!(http_url("GET", url, &[], "").0, 200);
    // Each body is what /v1/presign answers alone.
    for (i, request) in requests
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .skip(1)
        .take(3)
    {
        let (status, alone) = crate::presign::presign(&daemon, request);
        assert_eq!(u64::from(status), statuses[i], "{request}");
        let mut alone = alone;
        let mut in_batch = results[i]["body"].clone();
        for body in [&mut alone, &mut in_batch] {
            // The available time moves on by a second between the two answers.
            if let Some(o) = body.as_object_mut() {
                o.remove("available_seconds");
                o.remove("message");
            }
        }
        assert_eq!(alone, in_batch, "{request}");
    }
    let checks = daemon.lines_with("credentials checked").len() - checks_before;
    assert!(checks <= 1, "a batch rechecked {checks} times");

    let many: Vec<Value> = (0..101)
        .map(|_| json!({"bucket": "reports", "key": "ok/a.csv", "expires_in": 60}))
        .collect();
    let (status, body) = post(&daemon, "/v1/presign/batch", &json!({"requests": many}));
    assert_eq!(status, 413, "{body}");
    let (status, body) = post(&daemon, "/v1/presign/batch", &json!({"request": []}));
    assert_eq!((status, body["field"].as_str()), (400, Some("request")));
    let (status, body) = post(&daemon, "/v1/presign/batch", &json!([]));
    assert_eq!((status, body["field"].as_str()), (400, Some("body")));
}
