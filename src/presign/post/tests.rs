//! Form requests parse and refuse by field; the policy holds the conditions and expiry asked for.

use super::*;
use aws_credential_types::Credentials;
use std::time::UNIX_EPOCH;

fn parse(v: Value) -> Result<PostRequest, PresignError> {
    PostRequest::from_json(v.to_string().as_bytes())
}

/// The documented forms parse.
#[test]
fn valid_requests() {
    let r = parse(json!({"bucket": "uploads", "key": "u/1/a.png", "expires_in": "10m"})).unwrap();
    assert_eq!(r.key, KeyRule::Exact("u/1/a.png".into()));
    assert_eq!(r.expires_in, 600);
    let r = parse(json!({
        "bucket": "uploads", "key_prefix": "u/1/", "expires_in": 600, "min_expires_in": 60,
        "content_length_range": {"min": 1, "max": 1048576}, "content_type_prefix": "image/",
        "success_action_status": 201
    }))
    .unwrap();
    assert_eq!(r.key, KeyRule::Prefix("u/1/".into()));
    assert_eq!(r.content_length_range, Some((1, 1_048_576)));
    assert_eq!(r.content_type, Some(TypeRule::Prefix("image/".into())));
    assert_eq!(r.success_action_status, Some(201));
    assert_eq!(r.key_for_allow_list(), "u/1/");
    let r = parse(json!({
        "bucket": "uploads", "key": "k", "expires_in": 60, "metadata": {"Project": "q3"},
        "server_side_encryption": "aws:kms", "sse_kms_key_id": "alias/uploads"
    }))
    .unwrap();
    assert_eq!(r.metadata, [("project".to_string(), "q3".to_string())]);
    assert_eq!(r.server_side_encryption, Some("aws:kms"));
}

/// Each bad request names its field.
#[test]
fn invalid_requests_name_the_field() {
    let cases = [
        (json!({"bucket": "uploads", "expires_in": 60}), "key"),
        (
            json!({"bucket": "uploads", "key": "k", "key_prefix": "u/", "expires_in": 60}),
            "key_prefix",
        ),
        (
            json!({"bucket": "uploads", "key_prefix": "u/${filename}", "expires_in": 60}),
            "key_prefix",
        ),
        (
            json!({"bucket": "uploads", "key": "u/1/${filename}", "expires_in": 60}),
            "key",
        ),
        (
            json!({"bucket": "uploads", "key": "k", "expires_in": 60, "content_length_range": {"min": 5, "max": 1}}),
            "content_length_range",
        ),
        (
            json!({"bucket": "uploads", "key": "k", "expires_in": 60, "content_length_range": {"min": 0, "max": 6_000_000_000u64}}),
            "content_length_range",
        ),
        (
            json!({"bucket": "uploads", "key": "k", "expires_in": 60, "content_length_range": [0, 5]}),
            "content_length_range",
        ),
        (
            json!({"bucket": "uploads", "key": "k", "expires_in": 60, "content_length_range": {"min": 0}}),
            "content_length_range",
        ),
        (
            json!({"bucket": "uploads", "key": "k", "expires_in": 60, "content_type": "a", "content_type_prefix": "b"}),
            "content_type_prefix",
        ),
        (
            json!({"bucket": "uploads", "key": "k", "expires_in": 60, "success_action_status": 302}),
            "success_action_status",
        ),
        (
            json!({"bucket": "uploads", "key": "k", "expires_in": 60, "method": "POST"}),
            "method",
        ),
        (
            json!({"bucket": "uploads", "key": "k", "expires_in": 60, "min_expires_in": 61}),
            "min_expires_in",
        ),
        (json!({"bucket": "uploads", "key": "k"}), "expires_in"),
        (
            json!({"bucket": "uploads", "key": "k", "expires_in": 60, "key_prefix": null}),
            "key_prefix",
        ),
        (json!([1, 2]), "body"),
        (
            json!({"bucket": "uploads", "key": "k", "expires_in": 60, "metadata": {"a": "é"}}),
            "metadata",
        ),
        (
            json!({"bucket": "uploads", "key": "k", "expires_in": 60, "server_side_encryption": "AES256", "sse_kms_key_id": "k"}),
            "sse_kms_key_id",
        ),
        (
            json!({"bucket": "uploads", "key": "k", "expires_in": 60, "server_side_encryption": "rot13"}),
            "server_side_encryption",
        ),
    ];
    for (body, field) in cases {
        match parse(body.clone()) {
            Err(PresignError::Invalid { field: got, .. }) => assert_eq!(got, field, "{body}"),
            other => panic!("{body}: expected invalid {field}, got {other:?}"),
        }
    }
}

/// The policy's expiration is the granted time from the start, every sent field has its
/// condition, and the session token is one of them.
#[tokio::test]
async fn policy_conditions_and_fields() {
    let start = UNIX_EPOCH + Duration::from_secs(1_795_867_200);
    let snapshot = Snapshot::new(Credentials::new(
        "ASIAEXAMPLE00000",
        "secret",
        Some("token/with+chars".into()),
        Some(start + Duration::from_secs(3600)),
        "EcsContainer",
    ));
    let signer = Signer::new(
        "eu-west-1".into(),
        Some("http://127.0.0.1:9000".into()),
        true,
    );
    let request = parse(json!({
        "bucket": "uploads", "key_prefix": "u/1/", "expires_in": 600,
        "content_length_range": {"min": 1, "max": 10}, "content_type": "image/png",
        "success_action_status": 201
    }))
    .unwrap();
    let form = sign(&signer, &snapshot, &request, start, 600)
        .await
        .unwrap();
    assert_eq!(form.url, "http://127.0.0.1:9000/uploads");
    assert_eq!(form.expires_at, "2026-11-28T12:10:00Z");
    let names: Vec<&str> = form.fields.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "key",
            "Content-Type",
            "success_action_status",
            "x-amz-algorithm",
            "x-amz-credential",
            "x-amz-date",
            "x-amz-security-token",
            "policy",
            "x-amz-signature"
        ]
    );
    assert_eq!(form.fields["key"], "u/1/${filename}");
    assert_eq!(
        form.fields["x-amz-credential"],
        "ASIAEXAMPLE00000/20261128/eu-west-1/s3/aws4_request"
    );
    assert_eq!(form.fields["x-amz-date"], "20261128T120000Z");
    let policy = aws_smithy_types::base64::decode(form.fields["policy"].as_str().unwrap()).unwrap();
    let policy: Value = serde_json::from_slice(&policy).unwrap();
    assert_eq!(policy["expiration"], "2026-11-28T12:10:00Z");
    let conditions = policy["conditions"].as_array().unwrap();
    for expected in [
        json!({"bucket": "uploads"}),
        json!(["starts-with", "$key", "u/1/"]),
        json!({"Content-Type": "image/png"}),
        json!({"success_action_status": "201"}),
        json!(["content-length-range", 1, 10]),
        json!({"x-amz-algorithm": "AWS4-HMAC-SHA256"}),
        json!({"x-amz-security-token": "token/with+chars"}),
    ] {
        assert!(conditions.contains(&expected), "{expected} not in {policy}");
    }
    // Every field but the signature and the policy itself has a condition.
    for name in names
        .iter()
        .filter(|n| !["policy", "x-amz-signature"].contains(n))
    {
        let key = if *name == "key" { "$key" } else { name };
        assert!(
            conditions.iter().any(|c| c.get(*name).is_some()
                || c.as_array().is_some_and(|a| a.get(1) == Some(&json!(key)))),
            "no condition for {name}: {policy}"
        );
    }
    let signature = form.fields["x-amz-signature"].as_str().unwrap();
    assert_eq!(signature.len(), 64);
    assert!(!form.fields.values().any(|v| v == "secret"));
}
