//! Every documented form parses, and each bad request names its field.

use super::*;
use serde_json::json;

fn parse(v: Value) -> Result<PresignRequest, PresignError> {
    PresignRequest::from_json(v.to_string().as_bytes())
}

/// Good requests in every documented form.
#[test]
fn valid_requests() {
    let r = parse(json!({"bucket": "reports", "key": "a b+c~%//é", "expires_in": 3600})).unwrap();
    assert_eq!(
        (r.method, r.expires_in, r.min_expires_in),
        (Method::Get, 3600, None)
    );
    let r = parse(json!({"bucket": "ups", "key": "k", "method": "PUT", "expires_in": "1h 30m", "min_expires_in": "10m", "content_type": "text/csv"})).unwrap();
    assert_eq!(
        (r.method, r.expires_in, r.min_expires_in),
        (Method::Put, 5400, Some(600))
    );
    assert_eq!(r.content_type.as_deref(), Some("text/csv"));
    assert_eq!(
        parse(json!({"bucket": "abc", "key": "k", "expires_in": "604800"}))
            .unwrap()
            .expires_in,
        604_800
    );
}

/// Each bad request names its field.
#[test]
fn invalid_requests_name_the_field() {
    let cases = [
        (json!({"key": "k", "expires_in": 60}), "bucket"),
        (
            json!({"bucket": "", "key": "k", "expires_in": 60}),
            "bucket",
        ),
        (
            json!({"bucket": "Bad_Bucket", "key": "k", "expires_in": 60}),
            "bucket",
        ),
        (json!({"bucket": "abc", "expires_in": 60}), "key"),
        (json!({"bucket": "abc", "key": "", "expires_in": 60}), "key"),
        (
            json!({"bucket": "abc", "key": "a\nb", "expires_in": 60}),
            "key",
        ),
        (
            json!({"bucket": "abc", "key": " ", "expires_in": 60}),
            "key",
        ),
        (
            json!({"bucket": "abc", "key": "\u{a0}\u{3000}", "expires_in": 60}),
            "key",
        ),
        (
            json!({"bucket": "abc", "key": "k", "expires_in": 60, "method": "get"}),
            "method",
        ),
        (
            json!({"bucket": "abc", "key": "k", "expires_in": 60, "method": null}),
            "method",
        ),
        (
            json!({"bucket": "abc", "key": "k", "expires_in": 60, "min_expires_in": null}),
            "min_expires_in",
        ),
        (
            json!({"bucket": "abc", "key": "k".repeat(1025), "expires_in": 60}),
            "key",
        ),
        (json!({"bucket": "abc", "key": "k"}), "expires_in"),
        (
            json!({"bucket": "abc", "key": "k", "expires_in": 0}),
            "expires_in",
        ),
        (
            json!({"bucket": "abc", "key": "k", "expires_in": -5}),
            "expires_in",
        ),
        (
            json!({"bucket": "abc", "key": "k", "expires_in": 1.5}),
            "expires_in",
        ),
        (
            json!({"bucket": "abc", "key": "k", "expires_in": "soon"}),
            "expires_in",
        ),
        (
            json!({"bucket": "abc", "key": "k", "expires_in": 604_801}),
            "expires_in",
        ),
        (
            json!({"bucket": "abc", "key": "k", "expires_in": "8d"}),
            "expires_in",
        ),
        (
            json!({"bucket": "abc", "key": "k", "expires_in": true}),
            "expires_in",
        ),
        (
            json!({"bucket": "abc", "key": "k", "expires_in": 60, "min_expires_in": 61}),
            "min_expires_in",
        ),
        (
            json!({"bucket": "abc", "key": "k", "expires_in": 60, "method": "DELETE"}),
            "method",
        ),
        (
            json!({"bucket": "abc", "key": "k", "expires_in": 60, "content_type": "text/csv"}),
            "content_type",
        ),
        (
            json!({"bucket": "abc", "key": "k", "expires_in": 60, "method": "PUT", "content_type": "a\r\nb"}),
            "content_type",
        ),
        (
            json!({"bucket": "abc", "key": "k", "expires": 60}),
            "expires",
        ),
        (json!({"bucket": 5, "key": "k", "expires_in": 60}), "bucket"),
        (json!(["not", "an", "object"]), "body"),
    ];
    for (body, field) in cases {
        match parse(body.clone()) {
            Err(PresignError::Invalid { field: got, .. }) => assert_eq!(got, field, "{body}"),
            other => panic!("{body}: expected invalid {field}, got {other:?}"),
        }
    }
    assert!(
        matches!(PresignRequest::from_json(b"{not json"), Err(PresignError::Invalid { field, .. }) if field == "body")
    );
}

/// [`FIELDS`] is exactly what serde accepts: its own list of expected fields, in order.
#[test]
fn fields_match_the_body() {
    let err = PresignRequest::from_json(br#"{"bucket":"abc","nope":1}"#).unwrap_err();
    let PresignError::Invalid { field, message } = err else {
        panic!("expected invalid")
    };
    assert_eq!(field, "nope");
    let mut json = serde_json::Deserializer::from_slice(br#"{"nope":1}"#);
    let serde_message = serde_path_to_error::deserialize::<_, Body>(&mut json)
        .err()
        .unwrap()
        .inner()
        .to_string();
    let listed: Vec<&str> = serde_message.split('`').skip(3).step_by(2).collect();
    assert_eq!(listed, FIELDS, "{serde_message}");
    assert!(message.contains("bucket, key, method"), "{message}");
}
