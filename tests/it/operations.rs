//! The operations beyond a plain GET and PUT, against s3s-fs (which verifies SigV4 query
//! signatures, signed headers included): HEAD, DELETE and the allow-list that guards it, GET
//! response overrides and versions, PUT signed headers, their 400s, and the `presign` command.

use std::time::Duration;

use serde_json::{Value, json};

use crate::openapi::assert_documented;
use sessionguard::demo::endpoint::EcsEndpoint;

use crate::presign::{
    assert_honest, daemon, env_for, issued_by, presign, query_param, s3_endpoint,
};
use crate::support::*;

/// The body every upload test sends, and its digests (`openssl dgst -md5|-sha256 -binary |
/// base64`, and the big-endian CRC32).
const BODY: &str = "region,total\neu,42\n";
const BODY_MD5: &str = "jhv+z0+qc2UuRZ5vbE1jKw==";
const BODY_SHA256: &str = "My7h7CZvuNnOUtfHEn0CUKoF7ltJGKe5URmULlaIzQs=";
const BODY_CRC32: &str = "xPxS4w==";
/// The SHA-256 of another body (`eu,43`): valid, and wrong.
const OTHER_SHA256: &str = "jMBrSaan+Th6EMRwGZfFxZR3Io5MlODz8msRvgTsRR4=";

/// The `headers` of a 200 as pairs.
fn headers_of(response: &Value) -> Vec<(String, String)> {
    response["headers"]
        .as_object()
        .unwrap_or_else(|| panic!("no headers in {response}"))
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

fn borrowed(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// `url` with query parameter `name` set to `value` (already encoded), or removed for `None`.
fn with_param(url: &str, name: &str, value: Option<&str>) -> String {
    let (base, query) = url.split_once('?').unwrap();
    let params: Vec<String> = query
        .split('&')
        .filter_map(|p| match p.split_once('=') {
            Some((k, _)) if k == name => value.map(|v| format!("{k}={v}")),
            _ => Some(p.to_string()),
        })
        .collect();
    assert!(
        query.split('&').any(|p| p.starts_with(&format!("{name}="))),
        "{name} not in {url}"
    );
    format!("{base}?{}", params.join("&"))
}

/// The 200 of a presign, checked against the promise and the session `endpoint` handed out.
fn issued(daemon: &Daemon, endpoint: &EcsEndpoint, body: Value) -> Value {
    let (status, r) = presign(daemon, &body);
    assert_eq!(status, 200, "{body}: {r}");
    assert_eq!(r["method"], body["method"].as_str().unwrap_or("GET"), "{r}");
    assert_honest(&r, issued_by(endpoint));
    r
}

/// A HEAD URL answers the object's headers (its size, no body), and the same URL sent as a GET
/// is refused: the method is signed. A `GET` rule allows HEAD.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_url_answers_the_objects_headers() {
    let s3 = S3Server::start(&["reports"]);
    std::fs::create_dir_all(s3.root.join("reports/exports")).unwrap();
    std::fs::write(s3.root.join("reports/exports/q3.csv"), BODY).unwrap();
    let endpoint = s3_endpoint(Duration::from_secs(3600)).await;
    let d = daemon(&env_for(&endpoint, &s3), "GET:reports/exports/", &[]).await;

    let head = issued(
        &d,
        &endpoint,
        json!({"bucket": "reports", "key": "exports/q3.csv", "method": "HEAD", "expires_in": 300}),
    );
    assert_eq!(head["headers"], json!({}), "{head}");
    let url = head["url"].as_str().unwrap();
    let reply = send("HEAD", url, &[], "");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.header("content-length"),
        Some(BODY.len().to_string().as_str())
    );
    assert!(reply.header("etag").is_some(), "{:?}", reply.headers);
    assert_eq!(reply.body, "");
    assert_eq!(
        send("GET", url, &[], "").status,
        403,
        "a HEAD URL used as GET"
    );

    let missing = issued(
        &d,
        &endpoint,
        json!({"bucket": "reports", "key": "exports/none.csv", "method": "HEAD", "expires_in": 300}),
    );
    assert_eq!(
        send("HEAD", missing["url"].as_str().unwrap(), &[], "").status,
        404
    );
}

/// DELETE is signed only where a rule names it: a rule of GET and PUT, and a rule naming no
/// method, refuse it (403); with `DELETE:reports/` the URL removes the object and a later GET is
/// 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_url_removes_the_object_where_a_rule_names_delete() {
    let s3 = S3Server::start(&["reports", "scratch"]);
    std::fs::write(s3.root.join("reports/old.csv"), BODY).unwrap();
    std::fs::write(s3.root.join("scratch/old.csv"), BODY).unwrap();
    let endpoint = s3_endpoint(Duration::from_secs(3600)).await;
    let env = env_for(&endpoint, &s3);

    let without = daemon(&env, "GET,PUT:reports/,scratch", &[]).await;
    for bucket in ["reports", "scratch"] {
        let (status, r) = presign(
            &without,
            &json!({"bucket": bucket, "key": "old.csv", "method": "DELETE", "expires_in": 60}),
        );
        assert_eq!(status, 403, "{bucket}: {r}");
        assert_eq!(r["error"], "forbidden");
        assert!(
            r["message"].as_str().unwrap().contains("DELETE s3://"),
            "{r}"
        );
        // GET still signed.
        issued(
            &without,
            &endpoint,
            json!({"bucket": bucket, "key": "old.csv", "expires_in": 60}),
        );
    }
    drop(without);

    let with = daemon(&env, "DELETE:reports/,GET:reports/", &[]).await;
    let get = issued(
        &with,
        &endpoint,
        json!({"bucket": "reports", "key": "old.csv", "expires_in": 60}),
    );
    let get_url = get["url"].as_str().unwrap();
    assert_eq!(send("GET", get_url, &[], "").status, 200);
    let delete = issued(
        &with,
        &endpoint,
        json!({"bucket": "reports", "key": "old.csv", "method": "DELETE", "expires_in": 60}),
    );
    let delete_url = delete["url"].as_str().unwrap();
    assert_eq!(
        send("GET", delete_url, &[], "").status,
        403,
        "a DELETE URL used as GET"
    );
    let reply = send("DELETE", delete_url, &[], "");
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert!(!s3.root.join("reports/old.csv").exists());
    assert_eq!(send("GET", get_url, &[], "").status, 404);
    assert!(s3.root.join("scratch/old.csv").exists());
    let (status, r) = presign(
        &with,
        &json!({"bucket": "scratch", "key": "old.csv", "method": "DELETE", "expires_in": 60}),
    );
    assert_eq!(status, 403, "{r}");
}

/// A GET with `response_content_disposition` downloads and S3 answers the override (an ASCII
/// name, and a non-ASCII one in `filename*`); the same URL with the parameter changed or removed
/// is refused (403): a link cannot be renamed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_overrides_are_answered_and_signed() {
    let s3 = S3Server::start(&["reports"]);
    std::fs::write(s3.root.join("reports/q3.csv"), BODY).unwrap();
    let endpoint = s3_endpoint(Duration::from_secs(3600)).await;
    let d = daemon(&env_for(&endpoint, &s3), "GET:reports", &[]).await;

    for disposition in [
        "attachment; filename=\"q3.csv\"",
        "attachment; filename=\"a.csv\"; filename*=UTF-8''%C3%A9t%C3%A9.csv",
    ] {
        let r = issued(
            &d,
            &endpoint,
            json!({
                "bucket": "reports", "key": "q3.csv", "expires_in": 300,
                "response_content_disposition": disposition,
                "response_content_type": "text/csv; charset=utf-8",
                "response_cache_control": "no-store",
            }),
        );
        let url = r["url"].as_str().unwrap();
        assert_eq!(
            query_param(url, "response-content-disposition").as_deref(),
            Some(disposition)
        );
        let reply = send("GET", url, &[], "");
        assert_eq!((reply.status, reply.body.as_str()), (200, BODY), "{url}");
        assert_eq!(reply.header("content-disposition"), Some(disposition));
        assert_eq!(
            reply.header("content-type"),
            Some("text/csv; charset=utf-8")
        );
        assert_eq!(reply.header("cache-control"), Some("no-store"));

        let renamed = with_param(
            url,
            "response-content-disposition",
            Some("attachment%3B%20filename%3D%22evil.exe%22"),
        );
        assert_eq!(send("GET", &renamed, &[], "").status, 403, "{renamed}");
        let dropped = with_param(url, "response-content-disposition", None);
        assert_eq!(send("GET", &dropped, &[], "").status, 403, "{dropped}");
    }
}

/// `version_id` is a signed query parameter: present as `versionId`, and another version (or
/// none) breaks the signature. s3s-fs keeps no versions and answers the current object for any
/// `versionId`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_id_is_signed_into_the_url() {
    let s3 = S3Server::start(&["reports"]);
    std::fs::write(s3.root.join("reports/q3.csv"), BODY).unwrap();
    let endpoint = s3_endpoint(Duration::from_secs(3600)).await;
    let d = daemon(&env_for(&endpoint, &s3), "GET,DELETE:reports", &[]).await;

    for method in ["GET", "HEAD", "DELETE"] {
        let r = issued(
            &d,
            &endpoint,
            json!({"bucket": "reports", "key": "q3.csv", "method": method, "expires_in": 300, "version_id": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"}),
        );
        let url = r["url"].as_str().unwrap();
        assert_eq!(
            query_param(url, "versionId").as_deref(),
            Some("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"),
            "{url}"
        );
        let other = with_param(url, "versionId", Some("another"));
        assert_eq!(
            send(method, &other, &[], "").status,
            403,
            "{method} {other}"
        );
        let none = with_param(url, "versionId", None);
        assert_eq!(send(method, &none, &[], "").status, 403, "{method} {none}");
        if method == "GET" {
            let reply = send(method, url, &[], "");
            assert_eq!(
                (reply.status, reply.body.as_str()),
                (200, BODY),
                "s3s-fs ignores versionId"
            );
        }
    }
}

/// A PUT with signed headers uploads when the client sends exactly the returned headers (and
/// s3s-fs stores the type, metadata and content headers they carry); another body (so another
/// `content-length`), another checksum value, a missing SSE header or another metadata value is
/// refused (403), and another body of the same length fails the signed digests (400).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_with_signed_headers_uploads_only_as_signed() {
    let s3 = S3Server::start(&["uploads"]);
    let endpoint = s3_endpoint(Duration::from_secs(3600)).await;
    let d = daemon(
        &env_for(&endpoint, &s3),
        "PUT:uploads/incoming/,GET:uploads",
        &[],
    )
    .await;

    let put = issued(
        &d,
        &endpoint,
        json!({
            "bucket": "uploads", "key": "incoming/q3.csv", "method": "PUT", "expires_in": 300,
            "content_type": "text/csv",
            "content_length": BODY.len(),
            "content_md5": BODY_MD5,
            "checksum_sha256": BODY_SHA256,
            "server_side_encryption": "AES256",
            "metadata": {"Project": "q3", "owner-id": "42"},
            "tagging": {"team": "data eng", "pii": "no"},
            "storage_class": "REDUCED_REDUNDANCY",
            "cache_control": "max-age=3600",
            "content_disposition": "attachment; filename=\"q3.csv\"",
        }),
    );
    let headers = headers_of(&put);
    let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "cache-control",
            "content-disposition",
            "content-length",
            "content-md5",
            "content-type",
            "x-amz-checksum-sha256",
            "x-amz-meta-owner-id",
            "x-amz-meta-project",
            "x-amz-server-side-encryption",
            "x-amz-storage-class",
            "x-amz-tagging",
        ]
    );
    assert_eq!(put["headers"]["x-amz-tagging"], "team=data+eng&pii=no");
    let url = put["url"].as_str().unwrap();
    let signed = query_param(url, "X-Amz-SignedHeaders").unwrap();
    assert_eq!(
        signed,
        format!("{};host;{}", names[..5].join(";"), names[5..].join(";")),
        "every returned header is signed"
    );
    for (name, _) in &headers {
        assert!(
            query_param(url, name).is_none(),
            "{name} must be a header, not a query parameter"
        );
    }

    let without = |name: &str| -> Vec<(String, String)> {
        headers.iter().filter(|(k, _)| k != name).cloned().collect()
    };
    let replaced = |name: &str, value: &str| -> Vec<(String, String)> {
        headers
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    if k == name {
                        value.to_string()
                    } else {
                        v.clone()
                    },
                )
            })
            .collect()
    };
    let refused = [
        (
            "another body, so another content-length",
            without("content-length"),
            "region,total\neu,42,7\n",
        ),
        (
            "another checksum",
            replaced("x-amz-checksum-sha256", OTHER_SHA256),
            BODY,
        ),
        (
            "no SSE header",
            without("x-amz-server-side-encryption"),
            BODY,
        ),
        (
            "another metadata value",
            replaced("x-amz-meta-project", "q4"),
            BODY,
        ),
        (
            "another storage class",
            replaced("x-amz-storage-class", "STANDARD"),
            BODY,
        ),
    ];
    for (case, sent, body) in &refused {
        let reply = send("PUT", url, &borrowed(sent), body);
        assert_eq!(reply.status, 403, "{case}: {}", reply.body);
        assert!(!s3.root.join("uploads/incoming/q3.csv").exists(), "{case}");
    }

    // Another body of the same length passes the signature and fails the signed digests.
    let reply = send("PUT", url, &borrowed(&headers), "region,total\neu,43\n");
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("BadDigest"), "{}", reply.body);

    let reply = send("PUT", url, &borrowed(&headers), BODY);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("x-amz-checksum-sha256"), Some(BODY_SHA256));
    assert_eq!(
        std::fs::read_to_string(s3.root.join("uploads/incoming/q3.csv")).unwrap(),
        BODY
    );
    let head = issued(
        &d,
        &endpoint,
        json!({"bucket": "uploads", "key": "incoming/q3.csv", "method": "HEAD", "expires_in": 60}),
    );
    let stored = send("HEAD", head["url"].as_str().unwrap(), &[], "");
    assert_eq!(stored.status, 200);
    for (name, value) in [
        ("content-type", "text/csv"),
        ("x-amz-meta-project", "q3"),
        ("x-amz-meta-owner-id", "42"),
        ("cache-control", "max-age=3600"),
        ("content-disposition", "attachment; filename=\"q3.csv\""),
    ] {
        assert_eq!(stored.header(name), Some(value), "{:?}", stored.headers);
    }

    // A CRC32 upload: the other checksum header, signed the same way.
    let crc = issued(
        &d,
        &endpoint,
        json!({"bucket": "uploads", "key": "incoming/crc.csv", "method": "PUT", "expires_in": 300, "checksum_crc32": BODY_CRC32}),
    );
    let crc_headers = headers_of(&crc);
    let crc_url = crc["url"].as_str().unwrap();
    assert_eq!(
        send(
            "PUT",
            crc_url,
            &[("x-amz-checksum-crc32", "AAAAAA==")],
            BODY
        )
        .status,
        403
    );
    let reply = send("PUT", crc_url, &borrowed(&crc_headers), BODY);
    assert_eq!(reply.status, 200, "{}", reply.body);
}

/// A field on the wrong method, a malformed MD5 or checksum, non-ASCII metadata, an unknown
/// storage class or SSE value, a KMS key without KMS, a POST: 400 naming the field, as
/// documented.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_operation_fields_get_400_naming_the_field() {
    let s3 = S3Server::start(&["reports"]);
    let endpoint = s3_endpoint(Duration::from_secs(3600)).await;
    let d = daemon(&env_for(&endpoint, &s3), "reports,DELETE:reports", &[]).await;
    let put = json!({"bucket": "reports", "key": "k", "method": "PUT", "expires_in": 60});
    let get = json!({"bucket": "reports", "key": "k", "expires_in": 60});
    let with = |base: &Value, field: &str, value: Value| {
        let mut v = base.clone();
        v[field] = value;
        v
    };
    let cases = [
        (with(&get, "content_length", json!(5)), "content_length"),
        (with(&get, "metadata", json!({"a": "b"})), "metadata"),
        (with(&put, "version_id", json!("v1")), "version_id"),
        (
            with(&put, "response_content_disposition", json!("inline")),
            "response_content_disposition",
        ),
        (
            with(
                &with(&get, "method", json!("DELETE")),
                "response_content_type",
                json!("text/csv"),
            ),
            "response_content_type",
        ),
        (
            with(&put, "content_md5", json!("bm90IGFuIG1kNQ==")),
            "content_md5",
        ),
        (
            with(&put, "content_md5", json!("not base64")),
            "content_md5",
        ),
        (
            with(&put, "checksum_sha256", json!(BODY_MD5)),
            "checksum_sha256",
        ),
        (
            with(&put, "checksum_crc32c", json!("%%%")),
            "checksum_crc32c",
        ),
        (with(&put, "metadata", json!({"name": "été"})), "metadata"),
        (with(&put, "storage_class", json!("COLD")), "storage_class"),
        (
            with(&put, "server_side_encryption", json!("aws:kms:x")),
            "server_side_encryption",
        ),
        (
            with(&put, "sse_kms_key_id", json!("alias/uploads")),
            "sse_kms_key_id",
        ),
        (with(&put, "content_length", json!("19")), "content_length"),
        (with(&get, "method", json!("PATCH")), "method"),
        (with(&get, "part_number", json!(1)), "part_number"),
    ];
    let count = cases.len() as f64;
    for (body, field) in cases {
        let (status, text) = http(
            d.addr,
            "POST",
            "/v1/presign",
            &[("content-type", "application/json")],
            &body.to_string(),
        );
        assert_eq!(status, 400, "{body}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["field"], field, "{body}: {v}");
        assert_eq!(v["error"], "invalid_request", "{v}");
        assert_documented("/v1/presign", "post", status, &text);
    }
    let (_, metrics) = d.get("/metrics");
    assert_eq!(
        sample(
            &metrics,
            "sessionguard_presign_requests_total{result=\"invalid\"}"
        ),
        Some(count)
    );
}

/// `presign --method HEAD` prints a URL that answers the object's headers; the PUT header flags
/// print every header to send, and a PUT sending them uploads; a bad flag exits 64 naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presign_command_head_and_put_headers() {
    let s3 = S3Server::start(&["reports"]);
    std::fs::write(s3.root.join("reports/a.txt"), BODY).unwrap();
    let endpoint = s3_endpoint(Duration::from_secs(3600)).await;
    let env = env_for(&endpoint, &s3);

    let out = run_once(
        &env,
        &[
            "presign",
            "s3://reports/a.txt",
            "--method",
            "HEAD",
            "--expires-in",
            "5m",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let reply = send("HEAD", out.stdout.trim(), &[], "");
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-length"),
        Some(BODY.len().to_string().as_str())
    );
    assert!(!out.stderr.contains("send header"), "{}", out.stderr);

    let length = BODY.len().to_string();
    let out = run_once(
        &env,
        &[
            "presign",
            "s3://reports/up.csv",
            "--expires-in",
            "5m",
            "--method",
            "PUT",
            "--content-type",
            "text/csv",
            "--content-length",
            &length,
            "--checksum-sha256",
            BODY_SHA256,
            "--server-side-encryption",
            "AES256",
            "--metadata",
            "project=q3",
            "--tagging",
            "team=data",
            "--storage-class",
            "STANDARD",
            "--cache-control",
            "no-cache",
            "--content-disposition",
            "inline",
            "--content-encoding",
            "identity",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let printed: Vec<(String, String)> = out
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("send header: "))
        .map(|l| {
            let (k, v) = l.split_once(": ").unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    let names: Vec<&str> = printed.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "cache-control",
            "content-disposition",
            "content-encoding",
            "content-length",
            "content-type",
            "x-amz-checksum-sha256",
            "x-amz-meta-project",
            "x-amz-server-side-encryption",
            "x-amz-storage-class",
            "x-amz-tagging",
        ],
        "{}",
        out.stderr
    );
    let url = out.stdout.trim();
    assert_eq!(
        send("PUT", url, &[], BODY).status,
        403,
        "without the headers"
    );
    let reply = send("PUT", url, &borrowed(&printed), BODY);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        std::fs::read_to_string(s3.root.join("reports/up.csv")).unwrap(),
        BODY
    );

    for (flags, named) in [
        (
            &["--method", "PUT", "--checksum-sha256", "short"][..],
            "--checksum-sha256",
        ),
        (
            &["--method", "PUT", "--metadata", "no-equals"][..],
            "--metadata",
        ),
        (&["--content-length", "19"][..], "--content-length"),
        (&["--method", "PATCH"][..], "--method"),
    ] {
        let mut args = vec!["presign", "s3://reports/up.csv"];
        args.extend_from_slice(flags);
        let out = run_once(&env, &args).await;
        assert_eq!(out.status.code(), Some(64), "{flags:?}: {}", out.stderr);
        assert!(out.stderr.contains(named), "{flags:?}: {}", out.stderr);
        assert!(out.stdout.is_empty());
    }
}
