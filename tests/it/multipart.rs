//! The multipart flow on `/v1/presign` and `/v1/presign/uppy`, on the real binary, against s3s-fs
//! (which implements create, upload part, list parts, complete and abort, and verifies every
//! signature): each URL held to the promise while the task session rotates.

use std::time::Duration;

use serde_json::{Value, json};

use crate::openapi::assert_documented;
use sessionguard::demo::endpoint::EcsEndpoint;

use crate::presign::{assert_honest, daemon, env_for, issued_by, presign, s3_endpoint};
use crate::support::*;

const PART: usize = 5 * 1024 * 1024;

/// The text between `<tag>` and `</tag>` in an S3 XML answer.
fn xml(body: &str, tag: &str) -> Option<String> {
    let start = body.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(body[start..end].to_string())
}

/// The 200 of a presign, checked against the promise and the session `endpoint` handed out.
fn signed(daemon: &Daemon, endpoint: &EcsEndpoint, body: Value) -> Value {
    let (status, r) = presign(daemon, &body);
    assert_eq!(status, 200, "{body}: {r}");
    assert_honest(&r, issued_by(endpoint));
    r
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Create, two parts, list, complete: the object on the server is the parts joined, and every URL
/// keeps the promise though the session rotates between the steps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_parts_list_complete() {
    let s3 = S3Server::start(&["uploads"]);
    let endpoint = s3_endpoint(Duration::from_secs(1200)).await;
    let daemon = daemon(
        &env_for(&endpoint, &s3),
        "PUT:uploads/big/",
        &["--interval", "1s"],
    )
    .await;
    let key = "big/video.bin";

    let create = signed(
        &daemon,
        &endpoint,
        json!({"bucket": "uploads", "key": key, "method": "POST", "expires_in": 600, "content_type": "video/mp4"}),
    );
    assert!(
        create["url"].as_str().unwrap().contains("?uploads="),
        "{create}"
    );
    assert_eq!(create["headers"]["content-type"], "video/mp4");
    let (status, body) = http_url(
        "POST",
        create["url"].as_str().unwrap(),
        &[("content-type", "video/mp4")],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let upload_id = xml(&body, "UploadId").expect("an UploadId");

    let parts = ["a".repeat(PART), "the last part may be small".to_string()];
    let mut etags = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        endpoint.rotate();
        let url = signed(
            &daemon,
            &endpoint,
            json!({"bucket": "uploads", "key": key, "method": "PUT", "upload_id": upload_id, "part_number": i + 1, "expires_in": 600}),
        );
        let (status, headers, body) = http_url_full("PUT", url["url"].as_str().unwrap(), &[], part);
        assert_eq!(status, 200, "part {}: {body}", i + 1);
        etags.push(header(&headers, "etag").expect("an ETag").to_string());
    }

    let list = signed(
        &daemon,
        &endpoint,
        json!({"bucket": "uploads", "key": key, "method": "GET", "upload_id": upload_id, "expires_in": 60}),
    );
    let (status, body) = http_url("GET", list["url"].as_str().unwrap(), &[], "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.matches("<Part>").count(), 2, "{body}");

    let complete = signed(
        &daemon,
        &endpoint,
        json!({"bucket": "uploads", "key": key, "method": "POST", "upload_id": upload_id, "expires_in": 60}),
    );
    let manifest: String = etags
        .iter()
        .enumerate()
        .map(|(i, e)| {
            format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{e}</ETag></Part>",
                i + 1
            )
        })
        .collect();
    let (status, body) = http_url(
        "POST",
        complete["url"].as_str().unwrap(),
        &[("content-type", "application/xml")],
        &format!("<CompleteMultipartUpload>{manifest}</CompleteMultipartUpload>"),
    );
    assert_eq!(status, 200, "{body}");
    let stored = std::fs::read(s3.root.join("uploads").join(key)).unwrap();
    assert_eq!(stored, parts.concat().into_bytes());

    // A part URL with its part number changed is refused: the number is inside the signature.
    let url = signed(
        &daemon,
        &endpoint,
        json!({"bucket": "uploads", "key": key, "method": "PUT", "upload_id": upload_id, "part_number": 1, "expires_in": 60}),
    );
    let tampered = url["url"]
        .as_str()
        .unwrap()
        .replace("partNumber=1", "partNumber=2");
    assert_eq!(http_url("PUT", &tampered, &[], "x").0, 403);
}

/// Abort removes the upload; a rule allowing PUT allows the whole flow, abort included, but not
/// deleting the object, nor a rule that allows only GET.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_and_the_allow_list() {
    let s3 = S3Server::start(&["uploads"]);
    let endpoint = s3_endpoint(Duration::from_secs(1200)).await;
    let daemon = daemon(
        &env_for(&endpoint, &s3),
        "PUT:uploads/big/,GET:uploads/public/",
        &[],
    )
    .await;
    let create = signed(
        &daemon,
        &endpoint,
        json!({"bucket": "uploads", "key": "big/x.bin", "method": "POST", "expires_in": 60}),
    );
    let (_, body) = http_url("POST", create["url"].as_str().unwrap(), &[], "");
    let upload_id = xml(&body, "UploadId").expect("an UploadId");
    let part = signed(
        &daemon,
        &endpoint,
        json!({"bucket": "uploads", "key": "big/x.bin", "method": "PUT", "upload_id": upload_id, "part_number": 1, "expires_in": 60}),
    );
    assert_eq!(
        http_url("PUT", part["url"].as_str().unwrap(), &[], "part").0,
        200
    );
    let leftovers = || {
        std::fs::read_dir(&s3.root)
            .unwrap()
            .flatten()
            .chain(
                std::fs::read_dir(s3.root.join("uploads"))
                    .unwrap()
                    .flatten(),
            )
            .filter(|e| e.file_name().to_string_lossy().starts_with(".upload"))
            .count()
    };
    assert!(leftovers() > 0, "the part is not on the server");
    let abort = signed(
        &daemon,
        &endpoint,
        json!({"bucket": "uploads", "key": "big/x.bin", "method": "DELETE", "upload_id": upload_id, "expires_in": 60}),
    );
    let (status, body) = http_url("DELETE", abort["url"].as_str().unwrap(), &[], "");
    assert_eq!(status, 204, "{body}");
    assert_eq!(leftovers(), 0);

    for (body, why) in [
        (
            json!({"bucket": "uploads", "key": "big/x.bin", "method": "DELETE", "expires_in": 60}),
            "deleting the object needs a rule naming DELETE",
        ),
        (
            json!({"bucket": "uploads", "key": "public/x.bin", "method": "POST", "expires_in": 60}),
            "a GET rule allows no upload",
        ),
    ] {
        let (status, r) = presign(&daemon, &body);
        assert_eq!(status, 403, "{why}: {r}");
    }
}

/// Uppy's own requests: answered as Uppy reads them, shortened to what the session allows down to
/// `--uppy-min-expires-in`, refused below it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uppy_sign_request() {
    let s3 = S3Server::start(&["uploads"]);
    let endpoint = s3_endpoint(Duration::from_secs(600)).await;
    let daemon = daemon(
        &env_for(&endpoint, &s3),
        "PUT:uploads/u/",
        &[
            "--interval",
            "1h",
            "--uppy-expires-in",
            "15m",
            "--uppy-min-expires-in",
            "5m",
        ],
    )
    .await;
    let uppy = |body: Value, bucket: &str| {
        let path = format!("/v1/presign/uppy?bucket={bucket}");
        let (status, text) = http(
            daemon.addr,
            "POST",
            &path,
            &[("content-type", "application/json")],
            &body.to_string(),
        );
        assert_documented("/v1/presign/uppy", "post", status, &text);
        (status, serde_json::from_str::<Value>(&text).unwrap())
    };
    let (status, put) = uppy(
        json!({"method": "PUT", "key": "u/a.png", "contentType": "image/png"}),
        "uploads",
    );
    assert_eq!(status, 200, "{put}");
    // 15m asked, a 10-minute session: shortened to what it allows.
    assert!(put["expires_in"].as_u64().unwrap() < 600, "{put}");
    assert_eq!(put["headers"]["content-type"], "image/png");
    let (status, body) = http_url(
        "PUT",
        put["url"].as_str().unwrap(),
        &[("content-type", "image/png")],
        "png",
    );
    assert_eq!(status, 200, "{body}");

    let (status, r) = uppy(
        json!({"method": "PUT", "key": "u/a.png", "uploadId": "u"}),
        "uploads",
    );
    assert_eq!(
        (status, r["field"].as_str()),
        (400, Some("partNumber")),
        "{r}"
    );
    let (status, r) = uppy(json!({"method": "POST", "key": "u/a.png"}), "reports");
    assert_eq!(status, 403, "{r}");

    endpoint.set_session(Duration::from_secs(240));
    endpoint.rotate();
    let (status, r) = uppy(json!({"method": "POST", "key": "u/b.bin"}), "uploads");
    // Rechecks are spaced; once the daemon sees the 4-minute session, 3 minutes are left after
    // the margin, under the 5-minute minimum.
    let deadline = std::time::Instant::now() + WAIT;
    let (mut status, mut r) = (status, r);
    while status == 200 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        (status, r) = uppy(json!({"method": "POST", "key": "u/b.bin"}), "uploads");
    }
    assert_eq!(status, 409, "{r}");
    assert_eq!(r["error"], "session_too_short");
}
