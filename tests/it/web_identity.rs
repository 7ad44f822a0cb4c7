//! `--signing-source web-identity` against moto's STS `AssumeRoleWithWebIdentity` (with the
//! MaxSessionDuration check `tests/moto/moto_server.py` adds), with a token file the test rotates as
//! the kubelet does: every URL held to the `Expiration` moto actually issued.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::presign::{MARGIN, assert_honest, presign, query_param};
use crate::signing::{age_past_spacing, assumed_by, credentials};
use crate::support::*;

const ROLE_NAME: &str = "shop-presigner";
const ROLE: &str = "arn:aws:iam::123456789012:role/shop-presigner";

/// A fresh directory with the token file, written as the kubelet writes it.
fn token_file(name: &str, token: &str) -> PathBuf {
    let file = scratch(name).join("token");
    write_token(&file, token);
    file
}

/// The role in moto's IAM, with its MaxSessionDuration.
async fn create_role(moto: &MotoServer, max_session: i32) {
    moto.iam()
        .create_role()
        .role_name(ROLE_NAME)
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .max_session_duration(max_session)
        .send()
        .await
        .unwrap();
}

/// The sessions moto issued to the signer (session name `sessionguard`; the monitored IRSA
/// session has the SDK's own), oldest first.
fn signer_sessions(moto: &MotoServer) -> Vec<Value> {
    moto.assumed_roles()
        .into_iter()
        .filter(|r| r["session_name"] == "sessionguard")
        .collect()
}

/// IRSA's environment (the monitored session is web identity too) with STS on moto.
async fn web_identity_daemon(moto: &MotoServer, token: &Path, duration: &str) -> Daemon {
    let mut env = base_env();
    set(&mut env, "AWS_ENDPOINT_URL_STS", &moto.url);
    set(
        &mut env,
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        token.to_str().unwrap(),
    );
    set(&mut env, "AWS_ROLE_ARN", ROLE);
    Daemon::start(
        &env,
        &[
            "run",
            "--no-identity",
            "--presign-allow",
            "GET:reports/",
            "--signing-source",
            "web-identity",
            "--signing-session-duration",
            duration,
        ],
    )
    .await
}

/// A role allowing 12 hours gets a 12-hour session from the token IRSA gave the pod (not the
/// SDKs' one hour), and an 11-hour URL signed with it is held to the Expiration moto issued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_identity_session_lasts_what_the_role_allows() {
    let moto = MotoServer::start(false);
    create_role(&moto, 43_200).await;
    let token = token_file("web-identity-12h", "irsa-token-1");
    let daemon = web_identity_daemon(&moto, &token, "12h").await;
    let line = daemon
        .wait_for_line(|l| l["message"] == "signing credentials refreshed")
        .await;
    assert_eq!(line["signing_source"], "web-identity", "{line}");
    let remaining = line["remaining_seconds"].as_i64().unwrap();
    assert!((43_195..=43_200).contains(&remaining), "{line}");
    assert!(
        line["assumed_role_arn"]
            .as_str()
            .unwrap()
            .ends_with(":assumed-role/shop-presigner/sessionguard"),
        "{line}"
    );
    let sessions = signer_sessions(&moto);
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0]["web_identity_token"], "irsa-token-1");
    assert!(
        daemon
            .lines_with("web-identity duration clamped")
            .is_empty()
    );

    let view = credentials(&daemon);
    assert_eq!(view["signing"]["source"], "web-identity", "{view}");
    assert_eq!(
        view["signing"]["session_duration_seconds"], 43_200,
        "{view}"
    );
    assert_eq!(view["source"], "WebIdentityToken", "{view}");
    assert!(
        view["remaining_seconds"].as_i64().unwrap() <= 3600,
        "{view}"
    );

    let (status, issued) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "q3.csv", "expires_in": "11h"}),
    );
    assert_eq!(status, 200, "{issued}");
    assert_honest(&issued, assumed_by(&moto));
    let credential = query_param(issued["url"].as_str().unwrap(), "X-Amz-Credential").unwrap();
    assert!(
        credential.starts_with(&format!(
            "{}/",
            sessions[0]["access_key_id"].as_str().unwrap()
        )),
        "{credential}"
    );
    assert!(
        !daemon.output().contains("irsa-token-"),
        "a token was logged"
    );
    daemon.terminate();
}

/// A role left at the default MaxSessionDuration (1 hour): STS refuses 12 hours, the daemon says
/// why and what to change on the role, signs with 1-hour sessions, and a 2-hour request is refused
/// with that reason. After the kubelet rotates the token, a request the aged session cannot cover
/// but a fresh one can is signed with exactly one new session, asked for with the new token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_duration_is_explained_and_a_short_session_renewed_with_the_new_token() {
    let moto = MotoServer::start(false);
    create_role(&moto, 3600).await;
    let token = token_file("web-identity-1h", "irsa-token-1");
    let daemon = web_identity_daemon(&moto, &token, "12h").await;
    let first = daemon
        .wait_for_line(|l| l["message"] == "signing credentials refreshed")
        .await;
    let remaining = first["remaining_seconds"].as_i64().unwrap();
    assert!((3595..=3600).contains(&remaining), "{first}");
    let clamped = daemon.lines_with("web-identity duration clamped");
    assert_eq!(clamped.len(), 1, "{clamped:?}");
    assert_eq!(clamped[0]["level"], "WARN");
    assert_eq!(clamped[0]["clamped_to"], "1h");
    assert!(
        clamped[0]["sts_message"]
            .as_str()
            .unwrap()
            .contains("exceeds the MaxSessionDuration set for this role"),
        "{clamped:?}"
    );
    let reason = clamped[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains(
            "aws iam update-role --role-name shop-presigner --max-session-duration 43200"
        ),
        "{reason}"
    );
    let view = credentials(&daemon);
    assert_eq!(view["signing"]["session_duration_seconds"], 3600, "{view}");
    assert!(
        view["signing"]["duration_cap"]
            .as_str()
            .unwrap()
            .contains("MaxSessionDuration"),
        "{view}"
    );

    let (status, refused) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "q3.csv", "expires_in": "2h"}),
    );
    assert_eq!(status, 409, "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("would allow about {}s", 3600 - MARGIN - 5))
            && message.contains("MaxSessionDuration"),
        "{message}"
    );
    assert_eq!(signer_sessions(&moto).len(), 1);

    // The kubelet replaces the token; the session ages past the on-demand spacing (10 s).
    write_token(&token, "irsa-token-2");
    age_past_spacing(&daemon).await;
    let asked = 3600 - MARGIN - 5;
    let (status, issued) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "q3.csv", "expires_in": asked}),
    );
    assert_eq!(status, 200, "{issued}");
    assert_eq!(issued["expires_in"], asked, "{issued}");
    assert_honest(&issued, assumed_by(&moto));
    let sessions = signer_sessions(&moto);
    assert_eq!(sessions.len(), 2, "exactly one fresh session: {sessions:?}");
    assert_eq!(sessions[1]["web_identity_token"], "irsa-token-2");
    let refreshed = daemon.lines_with("signing credentials refreshed");
    assert_eq!(refreshed.len(), 2, "{refreshed:?}");
    assert_eq!(refreshed[1]["requested_for_seconds"], asked);
    assert_eq!(daemon.lines_with("web-identity duration clamped").len(), 1);

    // A token file gone is named in the refresh failure; the last good session is kept.
    std::fs::remove_file(&token).unwrap();
    age_past_spacing(&daemon).await;
    let (status, refused) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "q3.csv", "expires_in": asked}),
    );
    assert_eq!(status, 409, "{refused}");
    let failed = daemon
        .wait_for_line(|l| {
            l["message"] == "signing credentials refresh failed; keeping the last good ones"
        })
        .await;
    assert!(
        failed["error"].as_str().unwrap().contains(&format!(
            "web identity token file {} cannot be read",
            token.display()
        )),
        "{failed}"
    );
    assert!(
        !daemon.output().contains("irsa-token-"),
        "a token was logged"
    );
    daemon.terminate();
}
