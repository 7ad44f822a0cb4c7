//! The promise kept from the rotator's side: a rotation before every promise is refused, a bridge
//! key goes first, `--signing-key-overlap 0s` deactivates a key only once its promise is over, and a
//! schedule that leaves no useful URL is refused.

use super::*;

/// The moment in a `RotationRefused` message: "... promised until 2026-12-08T10:00:00Z ...".
fn promised_until(message: &str) -> SystemTime {
    let at = message
        .split("promised until ")
        .nth(1)
        .and_then(|rest| rest.get(..20))
        .unwrap_or_else(|| panic!("no 'promised until' time in {message}"));
    humantime::parse_rfc3339(at).unwrap_or_else(|e| panic!("{at}: {e} in {message}"))
}

/// A version's `ActiveUntil`.
async fn active_until(aws: &Aws, p: &Presigner, version: &str) -> SystemTime {
    let value = aws.value(&p.arn, version).await.unwrap();
    humantime::parse_rfc3339(value["ActiveUntil"].as_str().unwrap()).unwrap()
}

/// A humantime offset that puts a fresh function's clock `past` `at` (plus an hour), from now.
fn offset_past(at: SystemTime) -> String {
    let ahead = at.duration_since(now()).unwrap_or_default() + Duration::from_secs(3600);
    format!("{}s", ahead.as_secs())
}

/// After the first rotation of a key from before the function (K0, promised 7 days and an hour)
/// the new key K1 is a bridge. A rotation while both are promised is refused (`RotationRefused`,
/// naming K0 and the moment) and changes nothing; once K1's promise has passed the same rotation
/// goes through and deletes K1, not K0, which still has URLs running; once K0's has passed, the
/// next deletes K0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_before_every_promise_is_refused_and_the_bridge_goes_first() {
    let aws = Aws::start();
    let p = aws.presigner("presigner").await;
    let first = new_token();
    run_steps(
        &function_at(&aws.moto.url, "0s", &[]).await,
        &p,
        &first,
        &STEPS,
    )
    .await;
    let k1 = key_of(&aws, &p, &first).await;
    let v1 = aws.value(&p.arn, &first).await.unwrap();
    let k1_until = humantime::parse_rfc3339(v1["ActiveUntil"].as_str().unwrap()).unwrap();
    let k0_until =
        humantime::parse_rfc3339(v1["ReplacedKey"]["ActiveUntil"].as_str().unwrap()).unwrap();
    let before = aws.state(&p).await;

    // A day on: K1 and K0 are both promised.
    let early = function_at(&aws.moto.url, "1d", &[]).await;
    let second = new_token();
    let error = early
        .invoke("createSecret", &p.arn, &second)
        .await
        .expect_err("an early rotation is refused");
    assert_eq!(error["errorType"], "RotationRefused", "{error}");
    let message = error["errorMessage"].as_str().unwrap();
    assert!(message.contains(&p.first_key), "{message}");
    assert_eq!(
        sessionguard::clock::rfc3339(promised_until(message)),
        sessionguard::clock::rfc3339(k0_until),
        "{message}"
    );
    assert_eq!(aws.state(&p).await, before, "nothing changed");
    assert!(aws.value(&p.arn, &second).await.is_none());
    assert_no_secrets(&early, &aws, &p).await;
    drop(early);

    // Past K1's promise: the same rotation (Secrets Manager retries with the same token) deletes
    // the bridge K1 and keeps K0.
    let later = function_at(&aws.moto.url, &offset_past(k1_until), &[]).await;
    run_steps(&later, &p, &second, &STEPS).await;
    let k2 = key_of(&aws, &p, &second).await;
    let keys = aws.keys(&p.user).await;
    assert_eq!(
        keys.keys()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        [p.first_key.clone(), k2.clone()].into_iter().collect(),
        "K1 deleted, K0 kept: {keys:?}"
    );
    let created = later.step_lines(4).await[0].clone();
    assert_eq!(created["deleted_key"], mask(&k1).as_str(), "{created}");
    // K0 is still promised past the earliest next rotation: K2 is a bridge too (README's
    // timeline, day 3–4), committed one step (3 days) after it was made.
    assert_eq!(created["bridge"], true, "{created}");
    let k2_until = active_until(&aws, &p, &second).await;
    let k2_made = k1_until + HOUR;
    assert!(
        k2_until + Duration::from_secs(60) >= k2_made + 3 * DAY
            && k2_until <= k2_made + 3 * DAY + Duration::from_secs(60),
        "{}",
        sessionguard::clock::rfc3339(k2_until)
    );
    drop(later);

    // Past K0's promise: the next rotation deletes K0.
    let third = new_token();
    let last = function_at(&aws.moto.url, &offset_past(k0_until), &[]).await;
    run_steps(&last, &p, &third, &STEPS).await;
    let keys = aws.keys(&p.user).await;
    assert!(!keys.contains_key(&p.first_key), "{keys:?}");
    assert_eq!(keys.len(), 2, "{keys:?}");
    // Nothing promised past the next rotation stays beside K3: committed the full 6 days.
    let k3_until = active_until(&aws, &p, &third).await;
    let k3_made = k0_until + HOUR;
    assert!(
        k3_until + Duration::from_secs(60) >= k3_made + 6 * DAY
            && k3_until <= k3_made + 6 * DAY + Duration::from_secs(60),
        "{}",
        sessionguard::clock::rfc3339(k3_until)
    );
    assert_no_secrets(&last, &aws, &p).await;
}

/// With `--signing-key-overlap 0s` (`SESSIONGUARD_SIGNING_KEY_OVERLAP`), a key from before the
/// function is not deactivated by the first rotation (a sidecar may have promised its URLs for up to
/// a week: issue 26, A): it stays active until the promise recorded for it, and a later rotation
/// deletes it. A key the function made is deactivated by the rotation that replaces it once its
/// `ActiveUntil` (one step, period − window, away) has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_overlap_a_replaced_key_goes_inactive_when_its_promise_is_over() {
    let aws = Aws::start();
    let p = aws.presigner("presigner").await;
    let zero = [("SESSIONGUARD_SIGNING_KEY_OVERLAP", "0s")];
    let f = function_at(&aws.moto.url, "0s", &zero).await;
    let first = new_token();
    let before = now();
    run_steps(&f, &p, &first, &STEPS).await;
    let k1 = key_of(&aws, &p, &first).await;
    let keys = aws.keys(&p.user).await;
    assert_eq!(keys[&p.first_key], "Active", "K0 kept: {keys:?}");
    assert_eq!(keys[&k1], "Active", "{keys:?}");
    let v1 = aws.value(&p.arn, &first).await.unwrap();
    let k1_until = humantime::parse_rfc3339(v1["ActiveUntil"].as_str().unwrap()).unwrap();
    let k0_until =
        humantime::parse_rfc3339(v1["ReplacedKey"]["ActiveUntil"].as_str().unwrap()).unwrap();
    assert!(k1_until + Duration::from_secs(1) >= before + 3 * DAY && k1_until < now() + 3 * DAY);
    let finished = f.step_lines(4).await[3].clone();
    assert_eq!(finished["outcome"], "finished", "{finished}");
    assert_eq!(
        finished["kept_key"],
        mask(&p.first_key).as_str(),
        "{finished}"
    );
    assert!(finished.get("kept_until").is_none(), "{finished}");
    assert!(
        finished["summary"]
            .as_str()
            .unwrap()
            .contains("from before the rotation function, stays active"),
        "{finished}"
    );
    drop(f);

    // Past K1's promise, K0 still promised: K1 goes, K0 stays active.
    let second = new_token();
    let later = function_at(&aws.moto.url, &offset_past(k1_until), &zero).await;
    run_steps(&later, &p, &second, &STEPS).await;
    let k2 = key_of(&aws, &p, &second).await;
    let keys = aws.keys(&p.user).await;
    assert_eq!(
        keys.get(&p.first_key).map(String::as_str),
        Some("Active"),
        "{keys:?}"
    );
    assert_eq!(
        keys.get(&k2).map(String::as_str),
        Some("Active"),
        "{keys:?}"
    );
    assert!(!keys.contains_key(&k1), "{keys:?}");
    drop(later);

    // Past K0's promise and K2's: K0 deleted to make room, K2 deactivated when replaced.
    let third = new_token();
    let last = function_at(&aws.moto.url, &offset_past(k0_until), &zero).await;
    run_steps(&last, &p, &third, &STEPS).await;
    let k3 = key_of(&aws, &p, &third).await;
    let keys = aws.keys(&p.user).await;
    assert_eq!(
        keys,
        [
            (k2.clone(), "Inactive".to_string()),
            (k3, "Active".to_string())
        ]
        .into_iter()
        .collect(),
        "K0 deleted, K2 deactivated"
    );
    let finished = last.step_lines(4).await[3].clone();
    assert_eq!(
        finished["deactivated_key"],
        mask(&k2).as_str(),
        "{finished}"
    );
    assert_no_secrets(&last, &aws, &p).await;
}

/// A schedule that lets no useful URL be signed (issue 26, F): `rate(1 day)` with its default
/// window, a day, commits each key for 2 × (1 day − 1 day) = 0s. The function refuses
/// `createSecret` (`InvalidSecret`, naming the schedule and the fix) and makes nothing; the sidecar
/// fails its read of the secret with the same reason and signs nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_that_allows_no_useful_url_is_refused_at_start() {
    let aws = Aws::start();
    aws.iam
        .create_user()
        .user_name("daily")
        .send()
        .await
        .unwrap();
    let key = aws
        .iam
        .create_access_key()
        .user_name("daily")
        .send()
        .await
        .unwrap();
    let key = key.access_key().unwrap();
    let value = json!({"UserName": "daily", "AccessKeyId": key.access_key_id(),
        "SecretAccessKey": key.secret_access_key()});
    let arn = aws
        .sm
        .create_secret()
        .name("sessionguard/daily")
        .secret_string(value.to_string())
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    aws.sm
        .rotate_secret()
        .secret_id(&arn)
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .schedule_expression("rate(1 day)")
                .build(),
        )
        .rotate_immediately(false)
        .send()
        .await
        .unwrap();
    let f = function_at(&aws.moto.url, "0s", &[]).await;
    let token = new_token();
    let error = f.invoke("createSecret", &arn, &token).await.unwrap_err();
    assert_eq!(error["errorType"], "InvalidSecret", "{error}");
    let message = error["errorMessage"].as_str().unwrap();
    for said in ["commits each key for only 0s", "shorten the window"] {
        assert!(message.contains(said), "{message}");
    }
    assert!(aws.value(&arn, &token).await.is_none());
    assert_eq!(aws.keys("daily").await.len(), 1);

    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let sidecar = Daemon::start(
        &crate::signing::moto_env(&endpoint, &aws.moto),
        &[
            "run",
            "--no-identity",
            "--presign-allow",
            "GET:reports/",
            "--signing-source",
            "secrets-manager",
            "--signing-secret-id",
            &arn,
        ],
    )
    .await;
    let failed = sidecar
        .wait_for_line(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("signing credentials refresh failed"))
        })
        .await;
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("commits each key for only 0s"), "{failed}");
    let (status, body) = http(
        sidecar.addr,
        "POST",
        "/v1/presign",
        &[("content-type", "application/json")],
        r#"{"bucket":"reports","key":"a.csv","expires_in":"1h"}"#,
    );
    assert_eq!(status, 503, "{body}");
}

/// With `--signing-key-overlap 0s`, a retried `finishSecret` settles only a key that was replaced:
/// when the `AWSPREVIOUS` version holds the current key too (a value saved twice by hand), that
/// key stays active, whatever its `ActiveUntil` says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_finish_never_deactivates_the_current_key() {
    let aws = Aws::start();
    let p = aws.presigner("presigner").await;
    let past = sessionguard::clock::rfc3339(now() - DAY);
    let value = json!({"UserName": p.user, "AccessKeyId": p.first_key,
        "SecretAccessKey": p.first_secret, "ActiveUntil": past});
    for _ in 0..2 {
        aws.sm
            .put_secret_value()
            .secret_id(&p.arn)
            .secret_string(value.to_string())
            .send()
            .await
            .unwrap();
    }
    let stages = aws.stages(&p.arn).await;
    let holding = |stage: &str| {
        stages
            .iter()
            .find(|(_, s)| s.iter().any(|x| x == stage))
            .map(|(v, _)| v.clone())
            .unwrap_or_else(|| panic!("no {stage}: {stages:?}"))
    };
    let current = holding("AWSCURRENT");
    assert_ne!(holding("AWSPREVIOUS"), current, "{stages:?}");
    let f = function_at(
        &aws.moto.url,
        "0s",
        &[("SESSIONGUARD_SIGNING_KEY_OVERLAP", "0s")],
    )
    .await;
    run_steps(&f, &p, &current, &["finishSecret"]).await;
    let keys = aws.keys(&p.user).await;
    assert_eq!(keys[&p.first_key], "Active", "{keys:?}");
    let line = f.step_lines(1).await[0].clone();
    assert_eq!(line["outcome"], "already_current", "{line}");
    assert!(line.get("deactivated_key").is_none(), "{line}");
    assert_no_secrets(&f, &aws, &p).await;
}
