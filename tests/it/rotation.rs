//! `sessionguard rotate-keys`, the real binary served through a local Lambda runtime API
//! ([`crate::lambda`]) as Lambda runs it, rotating an IAM user's keys in moto (IAM, Secrets
//! Manager, STS). Secrets Manager's part is played by the tests: they invoke the four steps with
//! their own tokens, as Secrets Manager does (moto's `RotateSecret` without a function only records
//! the schedule). What is asserted is what a user sees: the function's response or error, the
//! secret's versions and stages, the keys IAM lists, the step lines the function logs; and, end to
//! end, that no URL the sidecar signed outlives the key that signed it.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use sessionguard::credentials::mask;

use crate::lambda::Function;
use crate::support::*;

const DAY: Duration = Duration::from_secs(86_400);
const HOUR: Duration = Duration::from_secs(3_600);
/// The schedule of every secret here: `AutomaticallyAfterDays` 4, so a window of a day (Secrets
/// Manager's default for day schedules) and a new key's `ActiveUntil` 2 × (4 − 1) = 6 days after
/// it was made.
const PERIOD_DAYS: i32 = 4;
const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

/// The function role's keys, as Lambda passes them in the environment; moto accepts any.
const ROLE_KEY: &str = "ASIAFUNCTIONROLE0001";
const ROLE_SECRET: &str = "functionRoleSecretCanary000000000000000000";

/// The wall clock, through the crate's one allowed reader.
fn now() -> SystemTime {
    sessionguard::clock::system().now()
}

/// A `ClientRequestToken` as Secrets Manager writes them (a UUID: 36 characters).
pub(crate) fn new_token() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let nanos = now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{:08x}-{:04x}-4{:03x}-8000-{n:012x}",
        std::process::id(),
        nanos >> 16,
        nanos & 0xfff
    )
}

/// moto, with the clients the tests set it up and look at it with.
pub(crate) struct Aws {
    pub(crate) moto: MotoServer,
    iam: aws_sdk_iam::Client,
    sm: aws_sdk_secretsmanager::Client,
}

impl Aws {
    pub(crate) fn start() -> Aws {
        let moto = MotoServer::start(false);
        let iam = moto.iam();
        let sm = moto.secrets();
        Aws { moto, iam, sm }
    }

    /// STS, signing with `key`: what a client of the rotated key would call.
    async fn caller(&self, key: &str, secret: &str) -> Result<String, String> {
        use aws_sdk_sts::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.moto.url)
            .credentials_provider(Credentials::new(key, secret, None, None, "test"))
            .build();
        aws_sdk_sts::Client::from_conf(config)
            .get_caller_identity()
            .send()
            .await
            .map(|o| o.arn().unwrap_or_default().to_string())
            .map_err(|e| format!("{e:?}"))
    }

    /// The user's keys, as IAM lists them: id -> status.
    pub(crate) async fn keys(&self, user: &str) -> BTreeMap<String, String> {
        let listed = self
            .iam
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .unwrap();
        listed
            .access_key_metadata()
            .iter()
            .map(|k| {
                (
                    k.access_key_id().unwrap().to_string(),
                    k.status().unwrap().as_str().to_string(),
                )
            })
            .collect()
    }

    /// Every version of the secret with its stages (sorted), deprecated ones included.
    pub(crate) async fn stages(&self, secret: &str) -> BTreeMap<String, Vec<String>> {
        let listed = self
            .sm
            .list_secret_version_ids()
            .secret_id(secret)
            .include_deprecated(true)
            .send()
            .await
            .unwrap();
        listed
            .versions()
            .iter()
            .map(|v| {
                let mut stages = v.version_stages().to_vec();
                stages.sort();
                (v.version_id().unwrap().to_string(), stages)
            })
            .collect()
    }

    /// A version's value; `None` when the version does not exist.
    async fn value(&self, secret: &str, version: &str) -> Option<Value> {
        match self
            .sm
            .get_secret_value()
            .secret_id(secret)
            .version_id(version)
            .send()
            .await
        {
            Ok(v) => Some(serde_json::from_str(v.secret_string().unwrap()).unwrap()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                None
            }
            Err(e) => panic!("GetSecretValue {version}: {e:?}"),
        }
    }

    /// The `AWSCURRENT` value.
    pub(crate) async fn current(&self, secret: &str) -> Value {
        let v = self
            .sm
            .get_secret_value()
            .secret_id(secret)
            .send()
            .await
            .unwrap();
        serde_json::from_str(v.secret_string().unwrap()).unwrap()
    }

    /// Keys and stages: what "unchanged" compares.
    async fn state(
        &self,
        p: &Presigner,
    ) -> (BTreeMap<String, String>, BTreeMap<String, Vec<String>>) {
        (self.keys(&p.user).await, self.stages(&p.arn).await)
    }

    /// An IAM user with one key, and a secret holding it rotated every [`PERIOD_DAYS`], as a
    /// deployment leaves them before the first rotation. moto's `RotateSecret` (no function)
    /// records the rules and makes a copy of the value `AWSCURRENT`: two versions, one key.
    pub(crate) async fn presigner(&self, user: &str) -> Presigner {
        self.iam.create_user().user_name(user).send().await.unwrap();
        let created = self
            .iam
            .create_access_key()
            .user_name(user)
            .send()
            .await
            .unwrap();
        let key = created.access_key().unwrap();
        let (key_id, key_secret) = (
            key.access_key_id().to_string(),
            key.secret_access_key().to_string(),
        );
        let value = json!({"UserName": user, "AccessKeyId": key_id, "SecretAccessKey": key_secret});
        self.secret(&format!("sessionguard/{user}"), &value, key_id, key_secret)
            .await
    }

    /// A secret holding `value`, on the schedule, whose first key is `key_id`.
    async fn secret(
        &self,
        name: &str,
        value: &Value,
        key_id: String,
        key_secret: String,
    ) -> Presigner {
        let created = self
            .sm
            .create_secret()
            .name(name)
            .secret_string(value.to_string())
            .send()
            .await
            .unwrap();
        self.sm
            .rotate_secret()
            .secret_id(name)
            .rotation_rules(
                aws_sdk_secretsmanager::types::RotationRulesType::builder()
                    .automatically_after_days(i64::from(PERIOD_DAYS))
                    .build(),
            )
            .rotate_immediately(false)
            .send()
            .await
            .unwrap();
        // As AWS (tests/moto/moto_server.py): the rules recorded, no new version.
        let stages = self.stages(name).await;
        assert_eq!(stages.len(), 1, "{stages:?}");
        Presigner {
            user: value["UserName"].as_str().unwrap_or_default().to_string(),
            arn: created.arn().unwrap().to_string(),
            first_key: key_id,
            first_secret: key_secret,
            created_version: created.version_id().unwrap().to_string(),
        }
    }
}

/// A rotated user and its secret as set up.
pub(crate) struct Presigner {
    pub(crate) user: String,
    pub(crate) arn: String,
    pub(crate) first_key: String,
    first_secret: String,
    /// The version `CreateSecret` made: `AWSCURRENT` until the first rotation.
    created_version: String,
}

/// The environment Lambda gives the function, with IAM, Secrets Manager and STS at `endpoint`:
/// no instance metadata, the role's keys, and `extra`.
pub(crate) fn function_env(endpoint: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = base_env();
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", ROLE_KEY),
        ("AWS_SECRET_ACCESS_KEY", ROLE_SECRET),
        ("AWS_SESSION_TOKEN", "functionRoleSessionTokenCanary"),
        ("AWS_ENDPOINT_URL_IAM", endpoint),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", endpoint),
        ("AWS_ENDPOINT_URL_STS", endpoint),
    ] {
        set(&mut env, k, v);
    }
    for (k, v) in extra {
        set(&mut env, k, v);
    }
    env
}

/// A fresh function instance with its clock `offset` ahead (`SESSIONGUARD_DEBUG_CLOCK_OFFSET`).
async fn function_at(endpoint: &str, offset: &str, extra: &[(&str, &str)]) -> Function {
    let mut all = vec![("SESSIONGUARD_DEBUG_CLOCK_OFFSET", offset)];
    all.extend_from_slice(extra);
    Function::start(&function_env(endpoint, &all), &[]).await
}

/// Runs `steps` with `token`, each expected to succeed (the response of a rotation function that
/// returns nothing: `null`).
pub(crate) async fn run_steps(f: &Function, p: &Presigner, token: &str, steps: &[&str]) {
    for step in steps {
        match f.invoke(step, &p.arn, token).await {
            Ok(v) => assert_eq!(v, Value::Null, "{step}"),
            Err(e) => panic!("{step} failed: {e}\n{}", f.process.output()),
        }
    }
}

/// The key a version holds.
async fn key_of(aws: &Aws, p: &Presigner, version: &str) -> String {
    aws.value(&p.arn, version)
        .await
        .unwrap_or_else(|| panic!("no version {version}"))["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string()
}

/// No secret access key (nor the role's secret) anywhere in the function's output.
pub(crate) async fn assert_no_secrets(f: &Function, aws: &Aws, p: &Presigner) {
    let output = f.process.output();
    let mut secrets = vec![p.first_secret.clone(), ROLE_SECRET.to_string()];
    for version in aws.stages(&p.arn).await.keys() {
        if let Some(v) = aws.value(&p.arn, version).await
            && let Some(s) = v["SecretAccessKey"].as_str()
        {
            secrets.push(s.to_string());
        }
    }
    for secret in secrets {
        assert!(
            !output.contains(&secret),
            "a secret access key was logged:\n{output}"
        );
    }
}

/// What a finished rotation leaves, named by role rather than by id, so rotations of different
/// secrets compare: each key's role and status, each version's role and stages.
async fn shape(
    aws: &Aws,
    p: &Presigner,
    token: &str,
) -> (Vec<(String, String)>, Vec<(String, Vec<String>)>) {
    let current = aws.current(&p.arn).await;
    let current_key = current["AccessKeyId"].as_str().unwrap();
    let mut keys: Vec<(String, String)> = aws
        .keys(&p.user)
        .await
        .into_iter()
        .map(|(id, status)| {
            let role = if id == p.first_key {
                "first".to_string()
            } else if id == current_key {
                "current".to_string()
            } else {
                format!("unexpected {id}")
            };
            (role, status)
        })
        .collect();
    keys.sort();
    let mut versions: Vec<(String, Vec<String>)> = aws
        .stages(&p.arn)
        .await
        .into_iter()
        .map(|(id, stages)| {
            let role = if id == token {
                "token".to_string()
            } else if id == p.created_version {
                "created".to_string()
            } else {
                format!("unexpected {id}")
            };
            (role, stages)
        })
        .collect();
    versions.sort();
    (keys, versions)
}

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
    assert_eq!(created["created_key"], mask(&new_key).as_str(), "{created}");
    assert_eq!(created["user"], "presigner", "{created}");
    assert_eq!(created["active_until"], pending["ActiveUntil"], "{created}");
    assert_eq!(created["bridge"], true, "{created}");
    assert_eq!(created["replaced_key"], mask(&p.first_key).as_str());
    assert_eq!(
        created["replaced_active_until"],
        pending["ReplacedKey"]["ActiveUntil"]
    );
    assert!(created.get("deleted_key").is_none(), "{created}");
    let summary = created["summary"].as_str().unwrap();
    assert!(summary.contains(&mask(&new_key)), "{summary}");
    assert!(!summary.contains(&new_key), "key ids are masked: {summary}");
    assert!(lines[1].get("created_key").is_none(), "{}", lines[1]);
    assert_eq!(lines[2]["tested_key"], mask(&new_key).as_str());
    assert_eq!(lines[2]["signs_as"], arn.as_str());
    assert_eq!(lines[3]["current_key"], mask(&new_key).as_str());
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
