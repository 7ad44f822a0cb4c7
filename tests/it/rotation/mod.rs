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

/// A log field naming key `full`: its first and last four characters around `...`, never the
/// whole id (checked by hand, not only against the crate's own `mask`).
fn assert_masked(field: &Value, full: &str) {
    let shown = field
        .as_str()
        .unwrap_or_else(|| panic!("no key in {field}"));
    assert_eq!(
        shown,
        format!("{}...{}", &full[..4], &full[full.len() - 4..]),
        "{full}"
    );
    assert_eq!(shown, mask(full));
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

mod promises;
mod steps;
