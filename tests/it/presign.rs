//! Guarded presigning against a real SigV4-verifying S3 server (s3s-fs): URLs that work, URLs the
//! session cannot cover refused or shortened, policy, bad requests, the CLI.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use sessionguard::demo::endpoint::{EcsEndpoint, Fault, Options};

use crate::support::*;

/// The default `--presign-margin`.
pub(crate) const MARGIN: u64 = 60;

pub(crate) async fn s3_endpoint(session: Duration) -> EcsEndpoint {
    let mut options = Options::new(session);
    options.key_pair = Some((S3_ACCESS_KEY.into(), S3_SECRET_KEY.into()));
    endpoint_with(options).await
}

pub(crate) fn env_for(endpoint: &EcsEndpoint, s3: &S3Server) -> Vec<(String, String)> {
    let mut env = aws_env(endpoint);
    set(&mut env, "AWS_ENDPOINT_URL_S3", &s3.endpoint());
    set(&mut env, "SESSIONGUARD_S3_FORCE_PATH_STYLE", "true");
    env
}

pub(crate) async fn daemon(env: &[(String, String)], allow: &str, extra: &[&str]) -> Daemon {
    let mut args = vec!["run", "--presign-allow", allow];
    args.extend_from_slice(extra);
    let d = Daemon::start(env, &args).await;
    d.wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    d
}

pub(crate) fn presign(daemon: &Daemon, body: &Value) -> (u16, Value) {
    let (status, text) = http(
        daemon.addr,
        "POST",
        "/v1/presign",
        &[("content-type", "application/json")],
        &body.to_string(),
    );
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, value)
}

/// A URL's query parameter, percent-decoded.
pub(crate) fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Who signed a URL or a form: the access key id (what `X-Amz-Credential` holds before its first
/// `/`) and the session token, if it carries one. No `Debug`: the token is a secret.
pub(crate) struct Signer {
    pub(crate) access_key_id: String,
    pub(crate) session_token: Option<String>,
}

impl Signer {
    /// From a presigned URL's `X-Amz-Credential` and `X-Amz-Security-Token`.
    pub(crate) fn of_url(url: &str) -> Signer {
        let credential = query_param(url, "X-Amz-Credential")
            .unwrap_or_else(|| panic!("no X-Amz-Credential in {url}"));
        Signer::new(&credential, query_param(url, "X-Amz-Security-Token"))
    }

    /// From a form's `x-amz-credential` and `x-amz-security-token` fields.
    pub(crate) fn of_form(form: &Value) -> Signer {
        let fields = &form["fields"];
        let credential = fields["x-amz-credential"]
            .as_str()
            .unwrap_or_else(|| panic!("no x-amz-credential in {form}"));
        let token = fields["x-amz-security-token"].as_str().map(str::to_string);
        Signer::new(credential, token)
    }

    fn new(credential: &str, session_token: Option<String>) -> Signer {
        let (access_key_id, _scope) = credential.split_once('/').unwrap_or_else(|| {
            panic!("a credential is KEY/date/region/s3/aws4_request: {credential}")
        });
        Signer {
            access_key_id: access_key_id.to_string(),
            session_token,
        }
    }
}

/// What the test's credentials endpoint actually handed out with the signer's session (its
/// `Expiration`), never what the daemon says it signed with.
pub(crate) fn issued_by(endpoint: &EcsEndpoint) -> impl Fn(&Signer) -> Option<SystemTime> + '_ {
    |signer| endpoint.issued_expiry(&signer.access_key_id, signer.session_token.as_deref())
}

/// The promise: `X-Amz-Date + X-Amz-Expires <= credentials expiry - margin`, where the expiry is
/// what the credentials source `issued` for the URL's signing key, and the response's
/// `expires_at` says exactly when the URL stops working.
pub(crate) fn assert_honest(response: &Value, issued: impl Fn(&Signer) -> Option<SystemTime>) {
    let url = response["url"].as_str().unwrap();
    let date = query_param(url, "X-Amz-Date").expect("X-Amz-Date");
    let expires: u64 = query_param(url, "X-Amz-Expires").unwrap().parse().unwrap();
    let ends = amz_date(&date) + Duration::from_secs(expires);
    assert_eq!(
        humantime::format_rfc3339_seconds(ends).to_string(),
        response["expires_at"],
        "{response}"
    );
    assert_eq!(response["expires_in"], expires, "{response}");
    assert_within_session(ends, &Signer::of_url(url), issued, response);
}

/// `X-Amz-Date` (`20261201T220000Z`) as a time.
pub(crate) fn amz_date(date: &str) -> std::time::SystemTime {
    let text = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &date[0..4],
        &date[4..6],
        &date[6..8],
        &date[9..11],
        &date[11..13],
        &date[13..15]
    );
    humantime::parse_rfc3339(&text).unwrap()
}

/// What a response grants ends no later than the expiry its credentials source `issued` for the
/// `signer`, minus the margin; a key the source never issued fails the test.
pub(crate) fn assert_within_session(
    ends: SystemTime,
    signer: &Signer,
    issued: impl Fn(&Signer) -> Option<SystemTime>,
    response: &Value,
) {
    let Some(credentials_end) = issued(signer) else {
        panic!(
            "signed with {}, a session the credentials source never handed out: {response}",
            signer.access_key_id
        );
    };
    assert!(
        ends + Duration::from_secs(MARGIN) <= credentials_end,
        "outlives the issued session ({}) minus margin: {response}",
        sessionguard::clock::rfc3339(credentials_end)
    );
}

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
