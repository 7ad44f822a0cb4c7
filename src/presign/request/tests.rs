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
    assert_eq!(r.header("content-type"), Some("text/csv"));
    assert_eq!(r.headers.len(), 1);
    assert!(r.query.is_empty());
    assert_eq!(
        parse(json!({"bucket": "abc", "key": "k", "expires_in": "604800"}))
            .unwrap()
            .expires_in,
        604_800
    );
}

/// Whole bodies, each with the field its 400 names.
#[rustfmt::skip]
const BAD_REQUESTS: &[(&str, &str)] = &[
    (r#"{"key": "k", "expires_in": 60}"#, "bucket"),
    (r#"{"bucket": "", "key": "k", "expires_in": 60}"#, "bucket"),
    (r#"{"bucket": "Bad_Bucket", "key": "k", "expires_in": 60}"#, "bucket"),
    (r#"{"bucket": "abc", "expires_in": 60}"#, "key"),
    (r#"{"bucket": "abc", "key": "", "expires_in": 60}"#, "key"),
    (r#"{"bucket": "abc", "key": "a\nb", "expires_in": 60}"#, "key"),
    (r#"{"bucket": "abc", "key": " ", "expires_in": 60}"#, "key"),
    (r#"{"bucket": "abc", "key": "\u00a0\u3000", "expires_in": 60}"#, "key"),
    (r#"{"bucket": "abc", "key": "k", "expires_in": 60, "method": "get"}"#, "method"),
    (r#"{"bucket": "abc", "key": "k", "expires_in": 60, "method": null}"#, "method"),
    (r#"{"bucket": "abc", "key": "k", "expires_in": 60, "min_expires_in": null}"#, "min_expires_in"),
    (r#"{"bucket": "abc", "key": "k"}"#, "expires_in"),
    (r#"{"bucket": "abc", "key": "k", "expires_in": 0}"#, "expires_in"),
    (r#"{"bucket": "abc", "key": "k", "expires_in": -5}"#, "expires_in"),
    (r#"{"bucket": "abc", "key": "k", "expires_in": 1.5}"#, "expires_in"),
    (r#"{"bucket": "abc", "key": "k", "expires_in": "soon"}"#, "expires_in"),
    (r#"{"bucket": "abc", "key": "k", "expires_in": 604801}"#, "expires_in"),
    (r#"{"bucket": "abc", "key": "k", "expires_in": "8d"}"#, "expires_in"),
    (r#"{"bucket": "abc", "key": "k", "expires_in": true}"#, "expires_in"),
    (r#"{"bucket": "abc", "key": "k", "expires_in": 60, "min_expires_in": 61}"#, "min_expires_in"),
    (r#"{"bucket": "abc", "key": "k", "expires_in": 60, "method": "PATCH"}"#, "method"),
    (r#"{"bucket": "abc", "key": "k", "expires_in": 60, "method": "delete"}"#, "method"),
    (r#"{"bucket": "abc", "key": "k", "expires_in": 60, "content_type": "text/csv"}"#, "content_type"),
    (r#"{"bucket": "abc", "key": "k", "expires_in": 60, "method": "PUT", "content_type": "a\r\nb"}"#, "content_type"),
    (r#"{"bucket": "abc", "key": "k", "expires": 60}"#, "expires"),
    (r#"{"bucket": 5, "key": "k", "expires_in": 60}"#, "bucket"),
    (r#"["not", "an", "object"]"#, "body"),
];

/// Each bad request names its field.
#[test]
fn invalid_requests_name_the_field() {
    let long_key = json!({"bucket": "abc", "key": "k".repeat(1025), "expires_in": 60});
    let cases = BAD_REQUESTS
        .iter()
        .map(|(body, field)| (serde_json::from_str::<Value>(body).unwrap(), *field))
        .chain([(long_key, "key")]);
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

/// A GET with a version and every response override: query parameters in [`FIELDS`] order, the
/// expiry as an HTTP date; HEAD and DELETE take a version; none of them carries a header.
#[test]
fn get_head_delete_fields() {
    let r = parse(json!({
        "bucket": "reports", "key": "q3.csv", "expires_in": 60,
        "version_id": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
        "response_content_type": "text/csv",
        "response_content_disposition": "attachment; filename=\"a.csv\"; filename*=UTF-8''%C3%A9t%C3%A9.csv",
        "response_content_encoding": "gzip",
        "response_content_language": "fr-CH",
        "response_cache_control": "no-store",
        "response_expires": "2026-10-21T07:28:00Z",
    }))
    .unwrap();
    assert_eq!(r.method, Method::Get);
    let query: Vec<(&str, &str)> = r.query.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        query,
        [
            ("versionId", "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"),
            ("response-content-type", "text/csv"),
            (
                "response-content-disposition",
                "attachment; filename=\"a.csv\"; filename*=UTF-8''%C3%A9t%C3%A9.csv"
            ),
            ("response-content-encoding", "gzip"),
            ("response-content-language", "fr-CH"),
            ("response-cache-control", "no-store"),
            ("response-expires", "Wed, 21 Oct 2026 07:28:00 GMT"),
        ]
    );
    assert!(r.headers.is_empty());
    let http_date = parse(json!({"bucket": "abc", "key": "k", "expires_in": 60, "response_expires": "Wed, 21 Oct 2026 07:28:00 GMT"})).unwrap();
    assert_eq!(http_date.query[0].1, "Wed, 21 Oct 2026 07:28:00 GMT");
    for method in ["HEAD", "DELETE"] {
        let r = parse(json!({"bucket": "abc", "key": "k", "expires_in": 60, "method": method, "version_id": "null"})).unwrap();
        assert_eq!(r.method.as_str(), method);
        assert_eq!(r.query, [("versionId", "null".to_string())]);
        assert!(r.headers.is_empty());
    }
}

/// A PUT with every signed header: names as S3 spells them, metadata names lowercased, tags
/// URL-encoded in the order given.
#[test]
fn put_signed_headers() {
    let r = parse(json!({
        "bucket": "uploads", "key": "in/a.csv", "method": "PUT", "expires_in": 60,
        "content_type": "text/csv",
        "content_length": 11,
        "content_md5": "XrY7u+Ae7tCTyyK7j1rNww==",
        "checksum_sha256": "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=",
        "server_side_encryption": "aws:kms",
        "sse_kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "metadata": {"Project": "q3", "owner-id": "42"},
        "tagging": {"team": "data eng", "pii": "no&yes=maybe"},
        "storage_class": "STANDARD_IA",
        "cache_control": "max-age=3600",
        "content_disposition": "attachment; filename=\"q3.csv\"",
        "content_encoding": "gzip",
    }))
    .unwrap();
    let headers: Vec<(&str, &str)> = r
        .headers
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_str()))
        .collect();
    assert_eq!(
        headers,
        [
            ("content-type", "text/csv"),
            ("content-length", "11"),
            ("content-md5", "XrY7u+Ae7tCTyyK7j1rNww=="),
            (
                "x-amz-checksum-sha256",
                "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
            ),
            ("x-amz-server-side-encryption", "aws:kms"),
            (
                "x-amz-server-side-encryption-aws-kms-key-id",
                "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
            ),
            ("x-amz-meta-project", "q3"),
            ("x-amz-meta-owner-id", "42"),
            ("x-amz-tagging", "team=data+eng&pii=no%26yes%3Dmaybe"),
            ("x-amz-storage-class", "STANDARD_IA"),
            ("cache-control", "max-age=3600"),
            ("content-disposition", "attachment; filename=\"q3.csv\""),
            ("content-encoding", "gzip"),
        ]
    );
    assert!(r.query.is_empty());
    for (field, value) in [
        ("checksum_crc32", "AAAAAA=="),
        ("checksum_crc32c", "yZRlqg=="),
    ] {
        let mut body = json!({"bucket": "abc", "key": "k", "method": "PUT", "expires_in": 60, "server_side_encryption": "AES256"});
        body[field] = json!(value);
        let r = parse(body).unwrap();
        assert_eq!(
            r.header(&format!("x-amz-{}", field.replace('_', "-"))),
            Some(value)
        );
        assert_eq!(r.header("x-amz-server-side-encryption"), Some("AES256"));
    }
}

/// `(method, fields added to a request of that method, the field the 400 names)`.
type Case = (&'static str, &'static str, &'static str);

/// Fields on an operation that does not take them.
#[rustfmt::skip]
const MISPLACED: &[Case] = &[
    ("PUT", r#"{"version_id": "v1"}"#, "version_id"),
    ("HEAD", r#"{"response_content_type": "text/csv"}"#, "response_content_type"),
    ("PUT", r#"{"response_content_disposition": "inline"}"#, "response_content_disposition"),
    ("DELETE", r#"{"response_cache_control": "no-store"}"#, "response_cache_control"),
    ("HEAD", r#"{"response_expires": "2026-10-21T07:28:00Z"}"#, "response_expires"),
    ("GET", r#"{"content_length": 5}"#, "content_length"),
    ("HEAD", r#"{"metadata": {"a": "b"}}"#, "metadata"),
    ("DELETE", r#"{"storage_class": "STANDARD"}"#, "storage_class"),
    ("GET", r#"{"checksum_sha256": "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="}"#, "checksum_sha256"),
    ("GET", r#"{"server_side_encryption": "AES256"}"#, "server_side_encryption"),
    ("GET", r#"{"cache_control": "no-store"}"#, "cache_control"),
    // The first misplaced field, in the documented order, is the one named.
    ("GET", r#"{"tagging": {"a": "b"}, "content_encoding": "gzip"}"#, "tagging"),
];

/// Values each field's own check refuses.
#[rustfmt::skip]
const BAD_VALUES: &[Case] = &[
    ("GET", r#"{"version_id": ""}"#, "version_id"),
    ("GET", r#"{"version_id": "has space"}"#, "version_id"),
    ("GET", r#"{"version_id": null}"#, "version_id"),
    ("GET", r#"{"response_content_disposition": "attachment; filename=\"été.csv\""}"#, "response_content_disposition"),
    ("GET", r#"{"response_content_type": "text/csv\r\nx-evil: 1"}"#, "response_content_type"),
    ("GET", r#"{"response_content_language": " fr"}"#, "response_content_language"),
    ("GET", r#"{"response_expires": "tomorrow"}"#, "response_expires"),
    ("GET", r#"{"response_expires": "10000-01-01T00:00:00Z"}"#, "response_expires"),
    ("GET", r#"{"response_expires": 1795867200}"#, "response_expires"),
    ("PUT", r#"{"content_length": -1}"#, "content_length"),
    ("PUT", r#"{"content_length": "11"}"#, "content_length"),
    ("PUT", r#"{"content_length": 1.5}"#, "content_length"),
    ("PUT", r#"{"content_length": 5368709121}"#, "content_length"),
    ("PUT", r#"{"content_md5": "not base64!"}"#, "content_md5"),
    ("PUT", r#"{"content_md5": "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="}"#, "content_md5"),
    ("PUT", r#"{"content_md5": "XrY7u+Ae7tCTyyK7j1rNww"}"#, "content_md5"),
    ("PUT", r#"{"checksum_sha256": "XrY7u+Ae7tCTyyK7j1rNww=="}"#, "checksum_sha256"),
    ("PUT", r#"{"checksum_crc32": "AAAAAAA="}"#, "checksum_crc32"),
    ("PUT", r#"{"checksum_crc32c": ""}"#, "checksum_crc32c"),
    ("PUT", r#"{"checksum_crc32": "AAAAAA==", "checksum_crc32c": "yZRlqg=="}"#, "checksum_crc32c"),
    ("PUT", r#"{"server_side_encryption": "aes256"}"#, "server_side_encryption"),
    ("PUT", r#"{"server_side_encryption": "aws:kms:dsse:x"}"#, "server_side_encryption"),
    ("PUT", r#"{"sse_kms_key_id": "alias/uploads"}"#, "sse_kms_key_id"),
    ("PUT", r#"{"server_side_encryption": "AES256", "sse_kms_key_id": "alias/uploads"}"#, "sse_kms_key_id"),
    ("PUT", r#"{"server_side_encryption": "aws:kms", "sse_kms_key_id": "alias with space"}"#, "sse_kms_key_id"),
    ("PUT", r#"{"metadata": {"name": "été"}}"#, "metadata"),
    ("PUT", r#"{"metadata": {"na me": "x"}}"#, "metadata"),
    ("PUT", r#"{"metadata": {"né": "x"}}"#, "metadata"),
    ("PUT", r#"{"metadata": {"A": "1", "a": "2"}}"#, "metadata"),
    ("PUT", r#"{"metadata": {"a": 1}}"#, "metadata"),
    ("PUT", r#"{"metadata": {}}"#, "metadata"),
    ("PUT", r#"{"metadata": ["a"]}"#, "metadata"),
    ("PUT", r#"{"tagging": {"a": 1}}"#, "tagging"),
    ("PUT", r#"{"tagging": {"aws:owner": "me"}}"#, "tagging"),
    ("PUT", r#"{"tagging": {}}"#, "tagging"),
    ("PUT", r#"{"storage_class": "standard"}"#, "storage_class"),
    ("PUT", r#"{"storage_class": "COLD"}"#, "storage_class"),
    ("PUT", r#"{"cache_control": "max-age=60  "}"#, "cache_control"),
    ("PUT", r#"{"content_disposition": "attachment;\nfilename=a"}"#, "content_disposition"),
    ("PUT", r#"{"content_encoding": ""}"#, "content_encoding"),
];

/// A request of `method` with the fields of the JSON object `extra` added.
fn case(method: &str, extra: &str) -> Value {
    let mut body = json!({"bucket": "abc", "key": "k", "expires_in": 60});
    if method != "GET" {
        body["method"] = json!(method);
    }
    with(&body, serde_json::from_str(extra).unwrap())
}

/// Each body is a 400 naming `field`, in a message without serde's position.
fn assert_names_the_field(body: Value, field: &str) {
    match parse(body.clone()) {
        Err(PresignError::Invalid {
            field: got,
            message,
        }) => {
            assert_eq!(got, field, "{body}: {message}");
            assert!(!message.contains(" at line "), "{message}");
        }
        other => panic!("{body}: expected invalid {field}, got {other:?}"),
    }
}

/// A field of another operation names itself, and says which operations take it.
#[test]
fn fields_of_another_operation_name_themselves() {
    for (method, extra, field) in MISPLACED {
        assert_names_the_field(case(method, extra), field);
    }
    let Err(PresignError::Invalid { message, .. }) = parse(case("GET", r#"{"content_length": 5}"#))
    else {
        panic!("expected invalid")
    };
    assert_eq!(
        message,
        "only applies to PUT and PUT with upload_id and part_number (UploadPart), not GET"
    );
    let Err(PresignError::Invalid { message, .. }) = parse(case("PUT", r#"{"version_id": "v"}"#))
    else {
        panic!("expected invalid")
    };
    assert_eq!(message, "only applies to GET, HEAD and DELETE, not PUT");
}

/// A malformed digest, non-ASCII metadata, an unknown enum value: each names its field.
#[test]
fn bad_values_name_their_field() {
    for (method, extra, field) in BAD_VALUES {
        assert_names_the_field(case(method, extra), field);
    }
    let big = json!({"metadata": {"big": "x".repeat(2048)}});
    assert_names_the_field(with(&case("PUT", "{}"), big), "metadata");
    let tags: serde_json::Map<_, _> = (0..11).map(|i| (i.to_string(), json!("v"))).collect();
    assert_names_the_field(
        with(&case("PUT", "{}"), json!({"tagging": tags})),
        "tagging",
    );
}

/// An unknown field is named, and the message lists [`FIELDS`], in order.
#[test]
fn unknown_fields_list_the_fields() {
    let err = PresignRequest::from_json(br#"{"bucket":"abc","nope":1}"#).unwrap_err();
    let PresignError::Invalid { field, message } = err else {
        panic!("expected invalid")
    };
    assert_eq!(field, "nope");
    let listed: Vec<&str> = message
        .strip_prefix("unknown field; expected one of ")
        .unwrap()
        .split(", ")
        .collect();
    let names: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
    assert_eq!(listed, names, "{message}");
    assert!(message.contains("bucket, key, method"), "{message}");
}

/// The multipart flow in S3's own REST shapes: each operation's query parameters and the headers
/// it takes.
#[test]
fn multipart_operations() {
    use super::operation::Operation::*;
    let base = json!({"bucket": "abc", "key": "big.bin", "expires_in": 600});
    let cases = [
        (
            json!({"method": "POST"}),
            CreateMultipartUpload,
            vec![("uploads", "")],
        ),
        (
            json!({"method": "PUT", "upload_id": "u-1", "part_number": 3}),
            UploadPart,
            vec![("partNumber", "3"), ("uploadId", "u-1")],
        ),
        (
            json!({"method": "POST", "upload_id": "u-1"}),
            CompleteMultipartUpload,
            vec![("uploadId", "u-1")],
        ),
        (
            json!({"method": "GET", "upload_id": "u-1"}),
            ListParts,
            vec![("uploadId", "u-1")],
        ),
        (
            json!({"method": "DELETE", "upload_id": "u-1"}),
            AbortMultipartUpload,
            vec![("uploadId", "u-1")],
        ),
    ];
    for (extra, operation, query) in cases {
        let r = parse(with(&base, extra.clone())).unwrap();
        assert_eq!(r.operation, operation, "{extra}");
        let got: Vec<(&str, &str)> = r.query.iter().map(|(n, v)| (*n, v.as_str())).collect();
        assert_eq!(got, query, "{extra}");
    }
    let create = parse(with(
        &base,
        json!({"method": "POST", "content_type": "video/mp4", "metadata": {"a": "b"}, "server_side_encryption": "AES256"}),
    ))
    .unwrap();
    assert_eq!(create.header("content-type"), Some("video/mp4"));
    assert_eq!(create.header("x-amz-meta-a"), Some("b"));
    let part = parse(with(
        &base,
        json!({"method": "PUT", "upload_id": "u", "part_number": 1, "content_length": 5242880}),
    ))
    .unwrap();
    assert_eq!(part.header("content-length"), Some("5242880"));
}

/// A multipart request that fits no operation, or carries a field its operation does not take,
/// names the field.
#[test]
fn multipart_misfits_name_the_field() {
    let base = json!({"bucket": "abc", "key": "big.bin", "expires_in": 600});
    for (extra, field) in [
        (json!({"method": "PUT", "upload_id": "u"}), "part_number"),
        (json!({"method": "PUT", "part_number": 1}), "part_number"),
        (
            json!({"method": "PUT", "upload_id": "u", "part_number": 0}),
            "part_number",
        ),
        (
            json!({"method": "PUT", "upload_id": "u", "part_number": 10001}),
            "part_number",
        ),
        (json!({"method": "HEAD", "upload_id": "u"}), "upload_id"),
        (
            json!({"method": "POST", "upload_id": "u", "part_number": 2}),
            "part_number",
        ),
        (json!({"method": "POST", "upload_id": ""}), "upload_id"),
        (
            json!({"method": "PUT", "upload_id": "u", "part_number": 1, "content_type": "a/b"}),
            "content_type",
        ),
        (
            json!({"method": "POST", "content_length": 5}),
            "content_length",
        ),
        (
            json!({"method": "DELETE", "upload_id": "u", "version_id": "v"}),
            "version_id",
        ),
    ] {
        match parse(with(&base, extra.clone())) {
            Err(PresignError::Invalid { field: got, .. }) => assert_eq!(got, field, "{extra}"),
            other => panic!("{extra}: expected invalid {field}, got {other:?}"),
        }
    }
}

/// `base` with the fields of `extra` added or replaced.
fn with(base: &Value, extra: Value) -> Value {
    let mut v = base.clone();
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// A field given twice names itself, whichever body it is in.
#[test]
fn duplicate_fields_name_themselves() {
    let err = PresignRequest::from_json(br#"{"bucket":"abc","key":"k","key":"j","expires_in":60}"#)
        .unwrap_err();
    assert!(
        matches!(&err, PresignError::Invalid { field, message } if field == "key" && message == "is given twice"),
        "{err:?}"
    );
}

/// A batch's items are read from the JSON already parsed ([`PresignRequest::from_value`]), with no
/// text in between, and get what the same body gets alone: the same request or the same 400.
#[test]
fn items_read_as_bodies() {
    let bodies = [
        json!({"bucket": "bkt", "key": "a/b", "expires_in": "1h", "min_expires_in": 60}),
        json!({"bucket": "bkt", "key": "a", "method": "PUT", "content_type": "text/csv"}),
        json!({"bucket": "bkt", "key": "a", "expires_in": 60, "method": "PUT", "part_number": 2}),
        json!({"bucket": "bkt", "key": "a", "expires_in": 0}),
        json!({"bucket": "bkt", "expires_in": 60}),
        json!({"bucket": "bkt", "key": "a", "expires_in": 60, "colour": "red"}),
        json!({"bucket": "bkt", "key": "a", "expires_in": null}),
        json!(["bkt"]),
        json!(5),
    ];
    for body in bodies {
        let alone = PresignRequest::from_json(body.to_string().as_bytes());
        let item = PresignRequest::from_value(body.clone());
        assert_eq!(format!("{item:?}"), format!("{alone:?}"), "{body}");
    }
}
