//! `--signing-source secrets-manager` against moto's server: the key pair a secret holds signs
//! URLs that a real SigV4-verifying S3 server (s3s-fs) accepts, each bounded by the key's promise
//! (`ActiveUntil`, or 7 days and an hour after a quiet read for a key from before the rotation
//! function), and a key no read has promised anything signs nothing and says why.

use std::time::{Duration, SystemTime};

use serde_json::json;
use sessionguard::demo::endpoint::EcsEndpoint;

use crate::presign::{Signer, assert_honest, presign, query_param};
use crate::signing::{credentials, moto_env, refreshes, seconds_from_now};
use crate::support::*;

const SECRET: &str = "sessionguard/presigner";
const WRONG_SECRET_KEY: &str = "wrongSecretKeyCanary0000000000000000000000";
const DAY: Duration = Duration::from_secs(86_400);

/// The latest a URL signed with `key` may end, worked out here from the contract, not from what
/// the daemon reports: a key without `ActiveUntil` (from before the rotation function) is promised
/// for 7 days and an hour after a read that saw no rotation in progress, and every such read began
/// before now; a key with `ActiveUntil` exactly until then (`until`).
fn secret_key_bound(
    key: &'static str,
    until: Option<SystemTime>,
) -> impl Fn(&Signer) -> Option<SystemTime> {
    let bound = until.unwrap_or_else(|| now() + DAY * 7 + Duration::from_secs(3600));
    move |signer| (signer.access_key_id == key && signer.session_token.is_none()).then_some(bound)
}

fn key_pair(access_key_id: &str, secret_access_key: &str) -> String {
    json!({"AccessKeyId": access_key_id, "SecretAccessKey": secret_access_key, "UserName": "presigner"})
        .to_string()
}

fn committed_key_pair(access_key_id: &str, secret_access_key: &str, until: SystemTime) -> String {
    json!({"AccessKeyId": access_key_id, "SecretAccessKey": secret_access_key,
        "UserName": "presigner", "ActiveUntil": sessionguard::clock::rfc3339(until)})
    .to_string()
}

/// s3s-fs with `reports/q3.csv`, and moto with the secret holding `value`, rotated every 2 days
/// (moto sets NextRotationDate = now + 2 days) and no rotation Lambda run; and the secret's
/// client with the version `CreateSecret` made.
async fn world(
    value: String,
) -> (
    MotoServer,
    S3Server,
    aws_sdk_secretsmanager::Client,
    aws_sdk_secretsmanager::operation::create_secret::CreateSecretOutput,
) {
    let moto = MotoServer::start(false);
    let s3 = S3Server::start(&["reports"]);
    std::fs::write(s3.root.join("reports/q3.csv"), "region,total\neu,42\n").unwrap();
    let sm = moto.secrets();
    let created = sm
        .create_secret()
        .name(SECRET)
        .secret_string(value)
        .send()
        .await
        .unwrap();
    sm.rotate_secret()
        .secret_id(SECRET)
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .automatically_after_days(2)
                .build(),
        )
        .rotate_immediately(false)
        .send()
        .await
        .unwrap();
    (moto, s3, sm, created)
}

/// The sidecar signing with the secret's keys for `GET:reports/`, reading the secret every 2 s;
/// `extra` flags after those. The task's credentials endpoint lives as long as what is returned.
async fn secret_daemon(moto: &MotoServer, s3: &S3Server, extra: &[&str]) -> (Daemon, EcsEndpoint) {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let mut env = moto_env(&endpoint, moto);
    set(&mut env, "AWS_ENDPOINT_URL_S3", &s3.endpoint());
    set(&mut env, "SESSIONGUARD_S3_FORCE_PATH_STYLE", "true");
    let mut args = vec![
        "run",
        "--interval",
        "1s",
        "--no-identity",
        "--presign-allow",
        "GET:reports/",
        "--signing-source",
        "secrets-manager",
        "--signing-secret-id",
        SECRET,
        "--signing-secret-refresh",
        "2s",
    ];
    args.extend_from_slice(extra);
    (Daemon::start(&env, &args).await, endpoint)
}

/// Keys from Secrets Manager: a key from before the rotation function is promised for 7 days and
/// an hour after the last read that saw no rotation in progress, and stops growing once a version
/// is `AWSPENDING`; a key with `ActiveUntil` bounds every URL by it exactly (a URL past it is a 409
/// naming it); a new `AWSCURRENT` version is picked up within one refresh and its URLs work against
/// s3s-fs; and a value that cannot be read keeps the last good keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_keys_sign_rotate_and_survive_bad_values() {
    let (moto, s3, sm, _) = world(key_pair("AKIAPLACEHOLDER00001", WRONG_SECRET_KEY)).await;
    let wrong = sm
        .put_secret_value()
        .secret_id(SECRET)
        .secret_string(key_pair("AKIAWRONGKEY00000001", WRONG_SECRET_KEY))
        .send()
        .await
        .unwrap();

    let (daemon, _endpoint) = secret_daemon(&moto, &s3, &["--presign-max-expires-in", "7d"]).await;
    let line = daemon
        .wait_for_line(|l| l["message"] == "signing credentials refreshed")
        .await;
    assert_eq!(line["secret_version_id"], wrong.version_id().unwrap());
    assert_eq!(line["rotation_enabled"], true);
    assert_eq!(line["access_key_id"], "AKIA...0001");
    // A key from before the rotation function: 7 days and an hour from the last quiet read.
    let usable = seconds_from_now(line["expires_at"].as_str().unwrap());
    let grace = 7.0 * 86_400.0 + 3_600.0;
    assert!((grace - 10.0..=grace).contains(&usable), "{line}");
    assert!(
        line["usable_until_reason"]
            .as_str()
            .unwrap()
            .contains("from before the rotation function"),
        "{line}"
    );
    let view = credentials(&daemon);
    let secret = &view["signing"]["secret"];
    assert_eq!(secret["key_overlap_seconds"], 2 * 86_400, "{view}");
    assert_eq!(secret["rotation_window_seconds"], 86_400, "{view}");
    let next = seconds_from_now(secret["next_rotation_date"].as_str().unwrap());
    assert!(
        (2.0 * 86_400.0 - 10.0..=2.0 * 86_400.0).contains(&next),
        "{view}"
    );
    let (status, issued) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "q3.csv", "expires_in": "7d"}),
    );
    assert_eq!(status, 200, "{issued}");
    assert_honest(&issued, secret_key_bound("AKIAWRONGKEY00000001", None));
    let url = issued["url"].as_str().unwrap();
    assert!(query_param(url, "X-Amz-Security-Token").is_none(), "{url}");
    let (status, body) = http_url("GET", url, &[], "");
    assert_eq!(status, 403, "{body}");

    // A rotation begins (a version AWSPENDING): the key's promise stops growing.
    let mark = daemon.mark();
    sm.put_secret_value()
        .secret_id(SECRET)
        .secret_string(key_pair("AKIAPENDINGKEY000001", WRONG_SECRET_KEY))
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
    let first = daemon
        .wait_for_nth_after(mark, 2, |l| l["message"] == "signing credentials refreshed")
        .await;
    let later = daemon
        .wait_for_nth_after(mark, 4, |l| l["message"] == "signing credentials refreshed")
        .await;
    assert_eq!(first["expires_at"], later["expires_at"], "{first} {later}");

    // A key with ActiveUntil, two days out: URLs end by then, exactly.
    let until = now() + 2 * DAY;
    let mark = daemon.mark();
    let committed = sm
        .put_secret_value()
        .secret_id(SECRET)
        .secret_string(committed_key_pair(
            "AKIACOMMITTEDKEY0001",
            WRONG_SECRET_KEY,
            until,
        ))
        .send()
        .await
        .unwrap();
    let line = daemon
        .wait_for_line_after(mark, |l| {
            l["message"] == "signing credentials refreshed"
                && l["secret_version_id"] == committed.version_id().unwrap()
        })
        .await;
    assert_eq!(
        line["expires_at"],
        sessionguard::clock::rfc3339(until),
        "{line}"
    );
    let (status, refused) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "q3.csv", "expires_in": "3d"}),
    );
    assert_eq!(status, 409, "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("ActiveUntil"), "{message}");
    let (status, issued) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "q3.csv", "expires_in": "47h"}),
    );
    assert_eq!(status, 200, "{issued}");
    assert_honest(
        &issued,
        secret_key_bound("AKIACOMMITTEDKEY0001", Some(until)),
    );

    // Rotation: a new AWSCURRENT version holding the key pair s3s-fs accepts.
    let mark = daemon.mark();
    let reads = || {
        let (_, metrics) = daemon.get("/metrics");
        let name = "sessionguard_signing_credentials_refreshes_total{result=\"success\"}";
        sample(&metrics, name).unwrap()
    };
    let reads_before = reads();
    let s3_until = now() + DAY;
    let rotated = sm
        .put_secret_value()
        .secret_id(SECRET)
        .secret_string(committed_key_pair(S3_ACCESS_KEY, S3_SECRET_KEY, s3_until))
        .send()
        .await
        .unwrap();
    let version = rotated.version_id().unwrap().to_string();
    let line = daemon
        .wait_for_line_after(mark, |l| {
            l["message"] == "signing credentials refreshed"
                && l["secret_version_id"] == version.as_str()
        })
        .await;
    // The read under way when the secret changed may have found the old value; the next finds it.
    let reads_until_picked_up = reads() - reads_before;
    assert!(
        reads_until_picked_up <= 2.0,
        "picked up by read {reads_until_picked_up} after the rotation, not the next"
    );
    assert_eq!(line["new_key"], true);
    let (status, issued) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "q3.csv", "expires_in": "1h"}),
    );
    assert_eq!(status, 200, "{issued}");
    assert_honest(&issued, secret_key_bound(S3_ACCESS_KEY, Some(s3_until)));
    let (status, body) = http_url("GET", issued["url"].as_str().unwrap(), &[], "");
    assert_eq!((status, body.as_str()), (200, "region,total\neu,42\n"));

    // A value that is not a key pair: logged, counted, and the last good keys keep signing.
    let mark = daemon.mark();
    sm.put_secret_value()
        .secret_id(SECRET)
        .secret_string("AKIA-not-json-canary")
        .send()
        .await
        .unwrap();
    let failed = daemon
        .wait_for_line_after(mark, |l| {
            l["message"] == "signing credentials refresh failed; keeping the last good ones"
        })
        .await;
    assert_eq!(failed["level"], "WARN");
    assert!(
        failed["error"].as_str().unwrap().contains("is not JSON"),
        "{failed}"
    );
    assert_eq!(failed["kept_access_key_id"], line["access_key_id"]);
    let (status, issued) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "q3.csv", "expires_in": "1h"}),
    );
    assert_eq!(status, 200, "{issued}");
    let (status, _) = http_url("GET", issued["url"].as_str().unwrap(), &[], "");
    assert_eq!(status, 200);
    let view = credentials(&daemon);
    assert!(
        view["signing"]["last_error"]
            .as_str()
            .unwrap()
            .contains("is not JSON"),
        "{view}"
    );
    let (_, metrics) = daemon.get("/metrics");
    assert!(refreshes(&metrics, "failure").unwrap() >= 1.0);

    // No secret anywhere a person or a scraper reads.
    let everything = format!("{}{}{}", daemon.output(), view, metrics);
    for secret in [
        S3_SECRET_KEY,
        WRONG_SECRET_KEY,
        "AKIA-not-json-canary",
        S3_ACCESS_KEY,
    ] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
    daemon.terminate();
}

/// A key from before the rotation function, first read while a rotation is in progress (another
/// version `AWSPENDING`): no read has promised it anything, so it signs nothing, and the 503 says
/// why without naming a moment (no "deactivated at 1970"). Once the rotation finishes, the rotated
/// key is read and signs URLs that s3s-fs accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_first_read_during_a_rotation_signs_nothing_until_the_rotated_key() {
    let (moto, s3, sm, created) = world(key_pair("AKIAOLDKEYBEFORE0001", WRONG_SECRET_KEY)).await;
    let pending = sm
        .put_secret_value()
        .secret_id(SECRET)
        .secret_string(key_pair(S3_ACCESS_KEY, S3_SECRET_KEY))
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();

    let (daemon, _endpoint) = secret_daemon(&moto, &s3, &[]).await;
    let line = daemon
        .wait_for_line(|l| {
            l["signing_source"] == "secrets-manager" && l.get("access_key_id").is_some()
        })
        .await;
    assert_eq!(
        line["message"],
        "signing key read during a rotation; nothing is signed with it until the rotated key is read"
    );
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["secret_version_id"], created.version_id().unwrap());
    assert!(line.get("expires_at").is_none(), "{line}");
    let reason = line["usable_until_reason"].as_str().unwrap();
    assert!(
        reason.contains("read while a rotation is in progress"),
        "{line}"
    );
    let (status, body) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "q3.csv", "expires_in": 60}),
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "credentials_unavailable", "{body}");
    let last_error = body["last_error"].as_str().unwrap();
    assert!(
        last_error.starts_with("the signing key may sign no URL yet: ")
            && last_error.contains("no URL until the rotated key is read"),
        "{body}"
    );
    assert!(!last_error.contains("1970"), "{body}");
    // Nothing is promised past the read: /v1/credentials names no 1970 either.
    let view = credentials(&daemon);
    assert!(!view.to_string().contains("1970"), "{view}");

    // finishSecret: AWSCURRENT moves to the pending version; its key is read and signs.
    let mark = daemon.mark();
    sm.update_secret_version_stage()
        .secret_id(SECRET)
        .version_stage("AWSCURRENT")
        .move_to_version_id(pending.version_id().unwrap())
        .remove_from_version_id(created.version_id().unwrap())
        .send()
        .await
        .unwrap();
    daemon
        .wait_for_line_after(mark, |l| {
            l["message"] == "signing credentials refreshed"
                && l["secret_version_id"] == pending.version_id().unwrap()
        })
        .await;
    let (status, issued) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "q3.csv", "expires_in": "1h"}),
    );
    assert_eq!(status, 200, "{issued}");
    assert_honest(&issued, secret_key_bound(S3_ACCESS_KEY, None));
    let (status, body) = http_url("GET", issued["url"].as_str().unwrap(), &[], "");
    assert_eq!((status, body.as_str()), (200, "region,total\neu,42\n"));
    daemon.terminate();
}
