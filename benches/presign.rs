//! In-process cost of one presign: the guard's whole decision (policy, available time, signing with
//! aws-sdk-s3, the response body) and the request parsing in front of it. No HTTP, no logging
//! subscriber. Run with `cargo bench --bench presign`.

use std::hint::black_box;
use std::time::Duration;

use aws_credential_types::Credentials;
use criterion::{Criterion, criterion_group, criterion_main};
use sessionguard::clock;
use sessionguard::presign::{AllowList, Guard, Limits, PresignRequest, Rule, Signer};
use sessionguard::tracked::Tracked;

/// The `--kms-key-arn` the SSE-KMS upload names (an upload may name only a configured key).
const KMS_KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/0b5f3e4a-1c2d-4e5f-8a9b-0c1d2e3f4a5b";

fn guard(runtime: &tokio::runtime::Runtime) -> Guard {
    let clock = clock::system();
    let creds = Credentials::new(
        "ASIABENCHEXAMPLE0001",
        "benchSecretKeyExample0123456789abcdefghij",
        Some("IQoJb3JpZ2luX2VjBENCH".repeat(20)),
        Some(clock.now() + Duration::from_secs(6 * 3600)),
        "EcsContainer",
    );
    let signing = Tracked::fixed(creds, clock);
    runtime.block_on(signing.attempt(None));
    Guard {
        signing,
        signer: Signer::new("us-east-1".into(), None, false),
        allow_list: AllowList::Rules {
            rules: vec![Rule::parse("GET,PUT:reports/exports/").unwrap()],
            kms_keys: vec![KMS_KEY.to_string()],
        },
        limits: Limits {
            margin: Duration::from_secs(60),
            max_expires_in: Duration::from_secs(43_200),
        },
        first_wait: Duration::ZERO,
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let guard = guard(&runtime);
    let body = br#"{"bucket":"reports","key":"exports/2026/q3 report.csv","expires_in":600}"#;
    let request = PresignRequest::from_json(body).unwrap();
    c.bench_function("parse_request", |b| {
        b.iter(|| PresignRequest::from_json(black_box(body)).unwrap())
    });
    c.bench_function("presign_get", |b| {
        b.iter(|| {
            runtime
                .block_on(guard.presign(black_box(&request)))
                .unwrap()
        })
    });
    let put = PresignRequest::from_json(
        br#"{"bucket":"reports","key":"exports/in.csv","method":"PUT","expires_in":600,"content_type":"text/csv"}"#,
    )
    .unwrap();
    c.bench_function("presign_put_content_type", |b| {
        b.iter(|| runtime.block_on(guard.presign(black_box(&put))).unwrap())
    });
    // Five signed headers: what a bucket policy demanding SSE-KMS and an exact size asks for.
    let put_headers = PresignRequest::from_json(
        br#"{"bucket":"reports","key":"exports/in.csv","method":"PUT","expires_in":600,"content_type":"text/csv","content_length":1048576,"checksum_sha256":"My7h7CZvuNnOUtfHEn0CUKoF7ltJGKe5URmULlaIzQs=","server_side_encryption":"aws:kms","sse_kms_key_id":"arn:aws:kms:us-east-1:123456789012:key/0b5f3e4a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"}"#,
    )
    .unwrap();
    c.bench_function("presign_put_five_headers", |b| {
        b.iter(|| {
            runtime
                .block_on(guard.presign(black_box(&put_headers)))
                .unwrap()
        })
    });
}

/// A form upload: the policy's conditions, its base64, and its signature with the day's key.
fn bench_post(c: &mut Criterion) {
    use sessionguard::presign::post::PostRequest;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let guard = guard(&runtime);
    let form = PostRequest::from_json(
        br#"{"bucket":"reports","key_prefix":"exports/u/1/","expires_in":600,"content_length_range":{"min":1,"max":10485760},"content_type_prefix":"image/","success_action_status":201}"#,
    )
    .unwrap();
    c.bench_function("presign_post_policy", |b| {
        b.iter(|| {
            runtime
                .block_on(guard.presign_post(black_box(&form)))
                .unwrap()
        })
    });
}

criterion_group!(benches, bench, bench_post);
criterion_main!(benches);
