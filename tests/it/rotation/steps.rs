//! The four steps, retried and failed, against moto: what the function answers, the secret's
//! versions and stages, the keys IAM lists and the step lines it logs.

use super::*;

/// The four steps in order make a new key, store it as `AWSPENDING` under the token with its
/// `ActiveUntil` (made + 2 × (period − window)), prove it works as the user, and make it
/// `AWSCURRENT`, the old version `AWSPREVIOUS`; each step logs one `rotation step done` line and
/// no secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_four_steps_rotate_the_key() {
    let aws = Aws::start();
    let p = aws.presigner("presigner").await;
    let f = function_at(&aws.moto.url, "0s", &[]).await;
    let token = new_token();

    let before = now();
    run_steps(&f, &p, &token, &["createSecret"]).await;
    let after = now();
    let keys = aws.keys(&p.user).await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    let pending = aws
        .value(&p.arn, &token)
        .await
        .expect("the token's version");
    let new_key = pending["AccessKeyId"].as_str().unwrap().to_string();
    let new_secret = pending["SecretAccessKey"].as_str().unwrap().to_string();
    assert_ne!(new_key, p.first_key);
    assert_eq!(keys[&new_key], "Active");
    assert_eq!(keys[&p.first_key], "Active");
    assert_eq!(pending["UserName"], "presigner");
    let until = humantime::parse_rfc3339(pending["ActiveUntil"].as_str().unwrap()).unwrap();
    // The key it replaces is from before the function: promised 7 days and an hour from now
    // (recorded as ReplacedKey), past the earliest next rotation (4 days − a day's window), so
    // the new key is a bridge the next rotation can delete: 3 days. Values are to the second.
    let within = |t: SystemTime, keep: Duration| {
        t + Duration::from_secs(1) >= before + keep && t <= after + keep
    };
    assert!(within(until, 3 * DAY), "{pending:#}");
    assert_eq!(pending["ReplacedKey"]["AccessKeyId"], p.first_key.as_str());
    let recorded =
        humantime::parse_rfc3339(pending["ReplacedKey"]["ActiveUntil"].as_str().unwrap()).unwrap();
    assert!(within(recorded, 7 * DAY + HOUR), "{pending:#}");
    let stages = aws.stages(&p.arn).await;
    assert_eq!(stages[&token], ["AWSPENDING"], "{stages:?}");
    assert_eq!(stages[&p.created_version], ["AWSCURRENT"], "{stages:?}");

    run_steps(&f, &p, &token, &["setSecret", "testSecret", "finishSecret"]).await;
    let stages = aws.stages(&p.arn).await;
    assert!(
        stages[&token].contains(&"AWSCURRENT".to_string()),
        "{stages:?}"
    );
    assert_eq!(stages[&p.created_version], ["AWSPREVIOUS"], "{stages:?}");
    let current_holders: Vec<_> = stages
        .iter()
        .filter(|(_, s)| s.contains(&"AWSCURRENT".to_string()))
        .collect();
    assert_eq!(current_holders.len(), 1, "{stages:?}");
    assert_eq!(aws.current(&p.arn).await["AccessKeyId"], new_key.as_str());
    // Both keys work: the previous one stays active one rotation (two-key rotation).
    let keys = aws.keys(&p.user).await;
    assert_eq!(
        keys.values().collect::<Vec<_>>(),
        ["Active", "Active"],
        "{keys:?}"
    );
    let arn = aws.caller(&new_key, &new_secret).await.unwrap();
    assert_eq!(arn, "arn:aws:iam::123456789012:user/presigner");

    let lines = f.step_lines(4).await;
    assert_eq!(lines.len(), 4, "{lines:#?}");
    for (line, step) in lines.iter().zip(STEPS) {
        assert_eq!(line["message"], "rotation step done", "{line}");
        assert_eq!(line["level"], "INFO", "{line}");
        assert_eq!(line["step"], step, "{line}");
        assert_eq!(line["secret_id"], p.arn.as_str(), "{line}");
        assert_eq!(line["client_request_token"], token.as_str(), "{line}");
    }
    // What each step did, one field per fact (absent where it does not apply), key ids masked.
    let outcomes: Vec<_> = lines.iter().map(|l| l["outcome"].clone()).collect();
    assert_eq!(
        outcomes,
        ["created", "nothing_to_set", "tested", "finished"]
    );
    let created = &lines[0];
    assert_masked(&created["created_key"], &new_key);
    assert_eq!(created["user"], "presigner", "{created}");
    assert_eq!(created["active_until"], pending["ActiveUntil"], "{created}");
    assert_eq!(created["bridge"], true, "{created}");
    assert_masked(&created["replaced_key"], &p.first_key);
    assert_eq!(
        created["replaced_active_until"],
        pending["ReplacedKey"]["ActiveUntil"]
    );
    assert!(created.get("deleted_key").is_none(), "{created}");
    let summary = created["summary"].as_str().unwrap();
    assert!(summary.contains(&mask(&new_key)), "{summary}");
    assert!(!summary.contains(&new_key), "key ids are masked: {summary}");
    assert!(lines[1].get("created_key").is_none(), "{}", lines[1]);
    assert_masked(&lines[2]["tested_key"], &new_key);
    assert_eq!(lines[2]["signs_as"], arn.as_str());
    assert_masked(&lines[3]["current_key"], &new_key);
    assert_eq!(lines[3]["previous_version_id"], p.created_version.as_str());
    assert_eq!(
        lines[3]["summary"],
        format!(
            "key {} is AWSCURRENT; version {} is AWSPREVIOUS",
            mask(&new_key),
            p.created_version
        )
    );
    assert!(lines[3].get("kept_key").is_none(), "{}", lines[3]);
    assert_no_secrets(&f, &aws, &p).await;
}

/// Secrets Manager retries steps with the same token: every step twice, and all four again after
/// the rotation finished, succeed and change nothing more (no third key, no second pending
/// version, the same key under the token).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_repeated_changes_nothing_more() {
    let aws = Aws::start();
    let p = aws.presigner("presigner").await;
    let f = function_at(&aws.moto.url, "0s", &[]).await;
    let token = new_token();

    run_steps(&f, &p, &token, &["createSecret", "createSecret"]).await;
    let made = key_of(&aws, &p, &token).await;
    let after_create = aws.state(&p).await;
    assert_eq!(after_create.0.len(), 2, "{after_create:?}");
    run_steps(
        &f,
        &p,
        &token,
        &["setSecret", "setSecret", "testSecret", "testSecret"],
    )
    .await;
    assert_eq!(
        aws.state(&p).await,
        after_create,
        "set and test change nothing"
    );
    run_steps(&f, &p, &token, &["finishSecret", "finishSecret"]).await;
    let finished = aws.state(&p).await;
    run_steps(&f, &p, &token, &STEPS).await;
    assert_eq!(
        aws.state(&p).await,
        finished,
        "steps after the finish change nothing"
    );

    let (keys, stages) = finished;
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys.contains_key(&p.first_key) && keys.contains_key(&made),
        "{keys:?}"
    );
    assert_eq!(key_of(&aws, &p, &token).await, made);
    let pending: Vec<_> = stages
        .iter()
        .filter(|(_, s)| s.contains(&"AWSPENDING".to_string()))
        .map(|(v, _)| v.clone())
        .collect();
    assert_eq!(pending, std::slice::from_ref(&token), "{stages:?}");
    assert!(
        stages[&token].contains(&"AWSCURRENT".to_string()),
        "{stages:?}"
    );
    assert_eq!(stages.len(), 2, "created, the token's: {stages:?}");

    let lines = f.step_lines(12).await;
    assert_eq!(lines.len(), 12, "{lines:#?}");
    assert!(
        lines.iter().all(|l| l["message"] == "rotation step done"),
        "{lines:#?}"
    );
    assert_eq!(lines[1]["outcome"], "already_created", "{}", lines[1]);
    assert_eq!(
        lines[1]["created_key"],
        mask(&made).as_str(),
        "{}",
        lines[1]
    );
    for line in &lines[8..] {
        assert_eq!(line["outcome"], "already_current", "{line}");
        assert_eq!(line["version_id"], token.as_str(), "{line}");
    }
    assert_no_secrets(&f, &aws, &p).await;
}

/// A failure at each step (an AWS call answered 500 through a proxy, with the SDK's retries off so
/// one failure fails the step), then Secrets Manager's retry with the same token, ends exactly as
/// a clean rotation does. A failure between `CreateAccessKey` and `PutSecretValue` leaves a key in
/// no version: the retry deletes it rather than refusing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_step_retried_ends_as_a_clean_rotation() {
    let aws = Aws::start();
    let proxy = FaultProxy::start(aws.moto.addr);
    let extra = [
        ("AWS_MAX_ATTEMPTS", "1"),
        ("SESSIONGUARD_TEST_TIMEOUT", "1s"),
    ];

    let clean = aws.presigner("clean").await;
    let f = function_at(&proxy.url(), "0s", &extra).await;
    let token = new_token();
    run_steps(&f, &clean, &token, &STEPS).await;
    let expected = shape(&aws, &clean, &token).await;
    let active = |role: &str| (role.to_string(), "Active".to_string());
    assert_eq!(
        expected.0,
        [active("current"), active("first")],
        "{expected:?}"
    );

    // (step that fails, the call that fails, calls of it let through first, times, errorType)
    let cases: [(usize, &str, usize, usize, &str); 6] = [
        (0, "CreateAccessKey", 0, 1, "AwsError"),
        (0, "PutSecretValue", 0, 1, "AwsError"),
        (1, "DescribeSecret", 0, 1, "AwsError"),
        // testSecret retries the key for --test-timeout (1s): fail every attempt.
        (2, "GetCallerIdentity", 0, 1000, "TestFailed"),
        // finishSecret reads the pending value, then the current one: the second read fails.
        (3, "GetSecretValue", 1, 1, "AwsError"),
        (3, "UpdateSecretVersionStage", 0, 1, "AwsError"),
    ];
    for (i, (at, action, after, times, kind)) in cases.into_iter().enumerate() {
        let p = aws.presigner(&format!("faulty-{i}")).await;
        let f = function_at(&proxy.url(), "0s", &extra).await;
        let token = new_token();
        run_steps(&f, &p, &token, &STEPS[..at]).await;
        let before = aws.state(&p).await;
        proxy.fail(action, after, times);
        let error = f
            .invoke(STEPS[at], &p.arn, &token)
            .await
            .expect_err(&format!("{action} failed: {} must fail", STEPS[at]));
        proxy.clear();
        assert!(
            proxy.failed().contains(&action.to_string()),
            "{:?}",
            proxy.actions()
        );
        assert_eq!(error["errorType"], kind, "{action}: {error}");
        let message = error["errorMessage"].as_str().unwrap();
        assert!(
            message.contains(&format!("injected failure of {action}")),
            "{message}"
        );
        let failed = f.step_lines(at + 1).await.pop().unwrap();
        assert_eq!(failed["message"], "rotation step failed", "{failed}");
        assert_eq!(failed["level"], "ERROR", "{failed}");
        assert_eq!(failed["step"], STEPS[at], "{failed}");
        assert_eq!(failed["error_type"], kind, "{failed}");

        let after_failure = aws.state(&p).await;
        if action == "PutSecretValue" {
            // The key was made and is in no version: an orphan for the retry to clean up.
            assert_eq!(after_failure.0.len(), 2, "{after_failure:?}");
            assert_eq!(after_failure.1, before.1, "no version was written");
        } else {
            assert_eq!(
                after_failure, before,
                "{action}: a failed step leaves things as they were"
            );
        }

        run_steps(&f, &p, &token, &STEPS[at..]).await;
        assert_eq!(shape(&aws, &p, &token).await, expected, "{action}");
        if action == "PutSecretValue" {
            let orphan = after_failure.0.keys().find(|k| **k != p.first_key).unwrap();
            assert!(
                !aws.keys(&p.user).await.contains_key(orphan),
                "the orphan key is deleted"
            );
            let retried = &f.step_lines(5).await[at + 1];
            assert_eq!(retried["outcome"], "created", "{retried}");
            assert_eq!(retried["deleted_key"], mask(orphan).as_str(), "{retried}");
        }
        assert_no_secrets(&f, &aws, &p).await;
    }
}

/// A user whose other key is in no version of the secret and older than it (made outside the
/// rotation): `createSecret` refuses (`RotationRefused`, naming the key), deletes and creates
/// nothing, and leaves the secret as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_made_outside_the_rotation_is_never_deleted() {
    let aws = Aws::start();
    aws.iam
        .create_user()
        .user_name("presigner")
        .send()
        .await
        .unwrap();
    let foreign = aws
        .iam
        .create_access_key()
        .user_name("presigner")
        .send()
        .await
        .unwrap();
    let foreign = foreign.access_key().unwrap().access_key_id().to_string();
    let key = aws
        .iam
        .create_access_key()
        .user_name("presigner")
        .send()
        .await
        .unwrap();
    let key = key.access_key().unwrap();
    let value = json!({"UserName": "presigner", "AccessKeyId": key.access_key_id(), "SecretAccessKey": key.secret_access_key()});
    let p = aws
        .secret(
            "sessionguard/presigner",
            &value,
            key.access_key_id().to_string(),
            key.secret_access_key().to_string(),
        )
        .await;
    let before = aws.state(&p).await;
    assert_eq!(before.0.len(), 2);

    let f = function_at(&aws.moto.url, "0s", &[]).await;
    let token = new_token();
    let error = f
        .invoke("createSecret", &p.arn, &token)
        .await
        .expect_err("a foreign key blocks the rotation");
    assert_eq!(error["errorType"], "RotationRefused", "{error}");
    let message = error["errorMessage"].as_str().unwrap();
    assert!(message.contains(&foreign), "{message}");
    assert!(message.contains("in no version"), "{message}");
    assert!(message.contains("not deleted"), "{message}");
    assert_eq!(aws.state(&p).await, before);
    assert!(aws.value(&p.arn, &token).await.is_none());
    // Retried, it refuses again: nothing changes by asking.
    let again = f.invoke("createSecret", &p.arn, &token).await.unwrap_err();
    assert_eq!(again["errorType"], "RotationRefused", "{again}");
    assert_eq!(aws.state(&p).await, before);
    let failed = f.step_lines(2).await;
    assert_eq!(failed.len(), 2, "{failed:#?}");
    assert_eq!(failed[0]["error_type"], "RotationRefused", "{failed:#?}");
    assert_no_secrets(&f, &aws, &p).await;
}

/// A secret that names no `UserName`, or a user IAM does not know: `InvalidSecret`, saying which,
/// and nothing created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_without_a_known_user_is_invalid() {
    let aws = Aws::start();
    let f = function_at(&aws.moto.url, "0s", &[]).await;
    let cases = [
        (
            "sessionguard/no-user",
            json!({"AccessKeyId": "AKIANOUSER0000000001", "SecretAccessKey": "noUserSecretCanary"}),
            "UserName",
        ),
        (
            "sessionguard/ghost",
            json!({"UserName": "ghost-user", "AccessKeyId": "AKIAGHOST00000000001", "SecretAccessKey": "ghostSecretCanary"}),
            "ghost-user",
        ),
    ];
    for (name, value, named) in cases {
        let secret = value["SecretAccessKey"].as_str().unwrap().to_string();
        let p = aws
            .secret(
                name,
                &value,
                value["AccessKeyId"].as_str().unwrap().to_string(),
                secret,
            )
            .await;
        let stages = aws.stages(&p.arn).await;
        let token = new_token();
        let error = f.invoke("createSecret", &p.arn, &token).await.unwrap_err();
        assert_eq!(error["errorType"], "InvalidSecret", "{error}");
        let message = error["errorMessage"].as_str().unwrap();
        assert!(message.contains(named), "{message}");
        assert_eq!(aws.stages(&p.arn).await, stages);
        assert!(aws.value(&p.arn, &token).await.is_none());
        assert_no_secrets(&f, &aws, &p).await;
    }
    // An event whose Step is none of the four: the runtime's own error, naming the field.
    let unknown = f
        .api
        .invoke(
            json!({"SecretId": "sessionguard/ghost", "ClientRequestToken": new_token(), "Step": "rotateSecret"}),
            crate::lambda::INVOKE_WAIT,
        )
        .await
        .expect("an answer")
        .unwrap_err();
    let message = unknown["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("Step") && message.contains("rotateSecret"),
        "{unknown}"
    );
    let ghost = aws
        .iam
        .list_access_keys()
        .user_name("ghost-user")
        .send()
        .await;
    assert!(ghost.is_err(), "no user was created");
    let message = f.step_lines(2).await[1]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("does not exist"), "{message}");
}

/// Outside Lambda (none of the variables it sets), `rotate-keys` exits 64 naming each missing
/// variable; with some set, it names only the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_lambda_it_exits_64_naming_the_missing_variables() {
    let out = run_once(&base_env(), &["rotate-keys"]).await;
    assert_eq!(out.status.code(), Some(64), "{}", out.stderr);
    for v in sessionguard::rotate::LAMBDA_VARIABLES {
        assert!(out.stderr.contains(v), "{v}: {}", out.stderr);
    }
    assert!(out.stderr.contains("Lambda"), "{}", out.stderr);
    assert_eq!(out.stdout, "");

    let mut env = base_env();
    set(&mut env, "AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9");
    set(
        &mut env,
        "AWS_LAMBDA_FUNCTION_NAME",
        crate::lambda::FUNCTION_NAME,
    );
    let out = run_once(&env, &["rotate-keys"]).await;
    assert_eq!(out.status.code(), Some(64), "{}", out.stderr);
    assert!(
        out.stderr.contains("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("AWS_LAMBDA_FUNCTION_VERSION"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("AWS_LAMBDA_RUNTIME_API,"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("AWS_LAMBDA_FUNCTION_NAME"),
        "{}",
        out.stderr
    );
}
