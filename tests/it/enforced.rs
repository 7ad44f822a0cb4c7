//! The sidecar's `assume-role` source against moto's server with IAM enforced
//! (`/moto-api/reset-auth`, moto/iam/access_control.py), the task role holding exactly what
//! `iam-policy --principal task-role` prints and the signing role trusting exactly what
//! `iam-policy --trust-policy` prints: a call the code makes that the policy lacks fails with
//! AccessDenied, as in AWS.
//!
//! Gaps of moto's evaluator these tests work around, each documented where it is used:
//! - its trust check compares the caller's ARN with the trust policy's `Principal` literally, so
//!   the session ARN of the task role (`assumed-role/app-task/task`) stands where AWS takes the
//!   role's ARN (iam_policy's own tests pin the printed principal to `--task-role-arn`);
//! - it authorises Secrets Manager calls against `Resource: "*"` only, so the `secrets-manager`
//!   source's task-role policy (which names the secret) cannot be judged by it: not run here.

use std::time::Duration;

use serde_json::Value;
use sessionguard::demo::endpoint::{EcsEndpoint, Options};

use crate::signing::moto_env;
use crate::support::*;

const SIGNER: &str = "arn:aws:iam::123456789012:role/presigner";

/// `sessionguard iam-policy ARGS` (region us-east-1), as a JSON string.
async fn printed(args: &[&str]) -> String {
    let mut all = vec!["iam-policy"];
    all.extend_from_slice(args);
    let out = run_once(&base_env(), &all).await;
    assert!(out.status.success(), "{}", out.stderr);
    let _: Value = serde_json::from_str(&out.stdout).unwrap();
    out.stdout
}

/// moto enforces IAM from the next request on.
fn enforce(moto: &MotoServer) {
    let (status, body) = http(
        moto.addr,
        "POST",
        "/moto-api/reset-auth",
        &[("content-type", "text/plain")],
        "0",
    );
    assert_eq!(status, 200, "{body}");
}

/// A task role holding `policy`, and an ECS endpoint serving a session of it (issued by moto's
/// STS, so moto knows its key and token).
async fn task_session(moto: &MotoServer, name: &str, policy: &str) -> (EcsEndpoint, String) {
    let iam = moto.iam();
    let ecs_trust = printed(&["--presign-allow", "GET:reports/", "--trust-policy"]).await;
    iam.create_role()
        .role_name(name)
        .assume_role_policy_document(ecs_trust)
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name(name)
        .policy_name("sessionguard")
        .policy_document(policy)
        .send()
        .await
        .unwrap();
    let sts = moto.sts();
    let session = sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::123456789012:role/{name}"))
        .role_session_name("task")
        .duration_seconds(3600)
        .send()
        .await
        .unwrap();
    let creds = session.credentials().unwrap();
    let mut options = Options::new(Duration::from_secs(3600));
    options.key_pair = Some((
        creds.access_key_id().into(),
        creds.secret_access_key().into(),
    ));
    options.session_token = Some(creds.session_token().into());
    let arn = session.assumed_role_user().unwrap().arn().to_string();
    (endpoint_with(options).await, arn)
}

fn assume_role_daemon(env: &[(String, String)]) -> Daemon {
    Daemon::launch(
        env,
        &[
            "run",
            "--interval",
            "1s",
            "--no-identity",
            "--presign-allow",
            "GET:reports/",
            "--signing-source",
            "assume-role",
            "--assume-role-arn",
            SIGNER,
        ],
    )
}

/// With exactly the printed task-role policy and trust policy, the sidecar assumes the signing
/// role under enforcement; with the task-role policy narrowed by its one action, moto refuses
/// the AssumeRole and the sidecar reports it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assume_role_source_under_enforcement() {
    let moto = MotoServer::start(false);
    let task_policy = printed(&[
        "--presign-allow",
        "GET:reports/",
        "--signing-source",
        "assume-role",
        "--assume-role-arn",
        SIGNER,
        "--principal",
        "task-role",
    ])
    .await;
    let (allowed, session_arn) = task_session(&moto, "app-task", &task_policy).await;
    // A policy narrowed by its one action: the same statement for another action.
    let narrowed = task_policy.replace("sts:AssumeRole", "sts:TagSession");
    assert_ne!(narrowed, task_policy);
    let (denied, _) = task_session(&moto, "app-task-narrowed", &narrowed).await;
    // moto's trust check matches the caller's ARN literally: the session ARN stands for the
    // task role (see the module doc).
    let trust = printed(&[
        "--presign-allow",
        "GET:reports/",
        "--signing-source",
        "assume-role",
        "--assume-role-arn",
        SIGNER,
        "--trust-policy",
        "--task-role-arn",
        &session_arn,
    ])
    .await;
    let signer_policy = printed(&[
        "--presign-allow",
        "GET:reports/",
        "--signing-source",
        "assume-role",
        "--assume-role-arn",
        SIGNER,
    ])
    .await;
    let iam = moto.iam();
    iam.create_role()
        .role_name("presigner")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name("presigner")
        .policy_name("presign-s3")
        .policy_document(signer_policy)
        .send()
        .await
        .unwrap();
    enforce(&moto);

    let daemon = assume_role_daemon(&moto_env(&allowed, &moto));
    let line = daemon
        .wait_for_line(|l| l["message"] == "signing credentials refreshed")
        .await;
    assert!(
        line["assumed_role_arn"]
            .as_str()
            .unwrap_or_default()
            .contains(":assumed-role/presigner/"),
        "{line}"
    );

    let daemon = assume_role_daemon(&moto_env(&denied, &moto));
    let failed = daemon
        .wait_for_line(|l| {
            l["message"] == "signing credentials refresh failed; no valid signing credentials"
        })
        .await;
    let error = failed["error"].as_str().unwrap_or_default();
    // moto writes its AccessDenied in IAM's error shape (`<Errors><Error>`), which the SDK's STS
    // parser reports without the code; what moto did is in its own record: one presigner
    // session, the allowed daemon's.
    assert!(error.starts_with("sts AssumeRole failed"), "{failed}");
    let signer_sessions = moto
        .assumed_roles()
        .into_iter()
        .filter(|r| r["role_arn"] == SIGNER)
        .count();
    assert_eq!(signer_sessions, 1);
}
