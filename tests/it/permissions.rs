//! The sidecar and `iam-policy` agree on what the signer may do: the region (and so the partition)
//! both resolve the same way, an upload may name only the KMS keys the policy grants, a prefix no
//! policy can hold is refused by both, and a secret ARN without its random suffix is matched as
//! IAM sees it.

use std::time::Duration;

use serde_json::{Value, json};

use crate::presign::{daemon, env_for, presign, s3_endpoint};
use crate::support::*;

const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const OTHER_KEY: &str =
    "arn:aws:kms:us-east-1:123456789012:key/9999abcd-12ab-34cd-56ef-1234567890ab";

/// `iam-policy` with `env` and `args`: (exit code, stdout as JSON or Null, stderr).
async fn iam_policy(env: &[(String, String)], args: &[&str]) -> (i32, Value, String) {
    let mut all = vec!["iam-policy"];
    all.extend_from_slice(args);
    let out = run_once(env, &all).await;
    let json = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, out.stderr)
}

/// The binary with `args` and [`base_env`], killed if it has not exited after 10 s (a `run`
/// that accepted its flags serves until stopped).
async fn exit_within(args: &[&str]) -> Output {
    let mut cmd = command(&base_env(), args);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    Output {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

fn region_env(region: &str) -> Vec<(String, String)> {
    let mut env = base_env();
    set(&mut env, "AWS_REGION", region);
    env
}

/// With the region only in `AWS_REGION` (as task definitions give it), every ARN `iam-policy`
/// prints is in that region's partition, and the KMS statement holds only through that
/// region's S3, with the partition's DNS suffix; `--region` still wins over `AWS_REGION`.
#[tokio::test]
async fn iam_policy_partition_follows_aws_region() {
    let cases = [
        ("cn-north-1", "aws-cn", "s3.cn-north-1.amazonaws.com.cn"),
        (
            "us-gov-west-1",
            "aws-us-gov",
            "s3.us-gov-west-1.amazonaws.com",
        ),
        ("eu-west-1", "aws", "s3.eu-west-1.amazonaws.com"),
    ];
    for (region, partition, via) in cases {
        let key = format!("arn:{partition}:kms:{region}:123456789012:key/k-1");
        let (code, policy, stderr) = iam_policy(
            &region_env(region),
            &[
                "--presign-allow",
                "GET:reports/exports/,PUT:uploads/in/",
                "--kms-key-arn",
                &key,
            ],
        )
        .await;
        assert_eq!(code, 0, "{stderr}");
        let statements = policy["Statement"].as_array().unwrap();
        assert_eq!(
            statements[0]["Resource"],
            format!("arn:{partition}:s3:::reports/exports/*"),
            "{region}"
        );
        assert_eq!(
            statements[1]["Resource"],
            format!("arn:{partition}:s3:::uploads/in/*")
        );
        assert_eq!(
            statements[2]["Condition"],
            json!({"StringEquals": {"kms:ViaService": via}}),
            "{region}"
        );
    }
    let (_, policy, _) = iam_policy(
        &region_env("cn-north-1"),
        &[
            "--presign-allow",
            "GET:reports/",
            "--region",
            "us-gov-east-1",
        ],
    )
    .await;
    assert_eq!(
        policy["Statement"][0]["Resource"],
        "arn:aws-us-gov:s3:::reports/*"
    );
    // The task role's trust policy and a secret named by name take the region from there too.
    let (code, policy, stderr) = iam_policy(
        &region_env("cn-northwest-1"),
        &[
            "--presign-allow",
            "GET:reports/",
            "--signing-source",
            "secrets-manager",
            "--signing-secret-id",
            "my-app/presigner",
            "--account-id",
            "123456789012",
            "--principal",
            "task-role",
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        policy["Statement"][0]["Resource"],
        "arn:aws-cn:secretsmanager:cn-northwest-1:123456789012:secret:my-app/presigner-??????"
    );
}

/// A KMS statement with no region to name S3's endpoint by is refused, with the way out.
#[tokio::test]
async fn iam_policy_kms_needs_a_region() {
    let mut env = base_env();
    env.retain(|(k, _)| k != "AWS_REGION");
    let (code, _, stderr) = iam_policy(
        &env,
        &["--presign-allow", "PUT:uploads/", "--kms-key-arn", KEY],
    )
    .await;
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("--region"), "{stderr}");
}

/// A secret ARN without Secrets Manager's six random characters is matched as `-??????` (IAM
/// authorises on the full ARN); a full ARN is printed as given.
#[tokio::test]
async fn partial_secret_arn_is_matched_with_its_suffix() {
    let partial = "arn:aws:secretsmanager:us-east-1:123456789012:secret:my-app/presigner";
    for (given, printed) in [
        (partial.to_string(), format!("{partial}-??????")),
        (format!("{partial}-AbCdEf"), format!("{partial}-AbCdEf")),
    ] {
        let (code, policy, stderr) = iam_policy(
            &base_env(),
            &[
                "--presign-allow",
                "GET:reports/",
                "--signing-source",
                "secrets-manager",
                "--signing-secret-id",
                &given,
                "--principal",
                "task-role",
            ],
        )
        .await;
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(policy["Statement"][0]["Resource"], printed);
    }
}

/// A prefix with a character IAM policy documents cannot hold is refused by `run` and by
/// `iam-policy` alike, naming the character; Latin-1 is accepted by both.
#[tokio::test]
async fn prefix_beyond_latin1_is_refused_by_both() {
    for command in ["run", "iam-policy"] {
        let out = exit_within(&[command, "--presign-allow", "GET:odd/日本/"]).await;
        assert_eq!(out.status.code(), Some(64), "{command}: {}", out.stderr);
        assert!(
            out.stderr.contains("U+65E5") && out.stderr.contains("IAM policy"),
            "{command}: {}",
            out.stderr
        );
    }
    let (code, policy, stderr) =
        iam_policy(&base_env(), &["--presign-allow", "GET:odd/café/"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        policy["Statement"][0]["Resource"],
        "arn:aws:s3:::odd/café/*"
    );
}

/// `run` takes `--kms-key-arn` as `iam-policy` does, and rejects an alias there.
#[tokio::test]
async fn run_rejects_a_kms_alias() {
    let out = run_once(
        &base_env(),
        &[
            "run",
            "--presign-allow",
            "PUT:uploads/",
            "--kms-key-arn",
            "alias/uploads",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(64), "{}", out.stderr);
    assert!(
        out.stderr.contains("--kms-key-arn") && out.stderr.contains("never by alias"),
        "{}",
        out.stderr
    );
}

/// An upload naming a KMS key is signed only when the key is one of `--kms-key-arn` (the keys the
/// signer's policy grants), by that ARN: PUT, a form and a multipart create naming another key,
/// an alias or any key without the flag are 403 `forbidden`, naming the key and the flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_name_only_the_configured_kms_keys() {
    let s3 = S3Server::start(&["uploads"]);
    let endpoint = s3_endpoint(Duration::from_secs(1200)).await;
    let env = env_for(&endpoint, &s3);
    let with_key = daemon(&env, "PUT:uploads/", &["--kms-key-arn", KEY]).await;
    let without = daemon(&env, "PUT:uploads/", &[]).await;
    let kms = |key: &str| json!({"server_side_encryption": "aws:kms", "sse_kms_key_id": key});
    let merge = |base: Value, extra: &Value| {
        let mut base = base;
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    };
    let put = json!({"bucket": "uploads", "key": "k.bin", "method": "PUT", "expires_in": 60});
    let create = json!({"bucket": "uploads", "key": "k.bin", "method": "POST", "expires_in": 60});
    let form = json!({"bucket": "uploads", "key": "k.bin", "expires_in": 60});
    type Ask = fn(&Daemon, &Value) -> (u16, Value);
    let asks: [(&str, Value, Ask); 3] = [
        ("PUT", put, presign),
        ("multipart create", create, presign),
        ("form", form, |d, body| {
            post_json(d.addr, "/v1/presign/post", body)
        }),
    ];
    for (what, base, ask) in asks {
        let (status, body) = ask(&with_key, &merge(base.clone(), &kms(KEY)));
        assert_eq!(status, 200, "{what}: {body}");
        let (status, body) = ask(&with_key, &base);
        assert_eq!(status, 200, "{what} without a key: {body}");
        for (daemon, key) in [
            (&with_key, OTHER_KEY),
            (&with_key, "alias/uploads"),
            (&with_key, "1234abcd-12ab-34cd-56ef-1234567890ab"),
            (&without, KEY),
        ] {
            let (status, body) = ask(daemon, &merge(base.clone(), &kms(key)));
            assert_eq!(status, 403, "{what} {key}: {body}");
            assert_eq!(body["error"], "forbidden", "{body}");
            let message = body["message"].as_str().unwrap_or_default();
            assert!(
                message.contains(key) && message.contains("--kms-key-arn"),
                "{what}: {body}"
            );
        }
    }
}
