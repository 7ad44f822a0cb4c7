//! Signing sources against moto's server: assumed-role sessions (with the real STS duration
//! checks `tests/moto/moto_server.py` adds), whose URLs a real SigV4-verifying S3 server (s3s-fs)
//! accepts or refuses. Keys from Secrets Manager are in `secret_keys.rs`.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use sessionguard::demo::endpoint::{CREDENTIALS_PATH, ISSUED_PATH};

use crate::openapi::assert_documented;
use crate::presign::{MARGIN, Signer, assert_honest, presign, query_param};
use crate::support::*;

const ROLE: &str = "arn:aws:iam::123456789012:role/presigner";

/// What moto's STS actually issued with the signer's session: the `Expiration` of its AssumeRole
/// answer, as `tests/moto/moto_server.py` lists it (`expiration_rfc3339`), never what the daemon
/// reports.
pub(crate) fn assumed_by(moto: &MotoServer) -> impl Fn(&Signer) -> Option<SystemTime> + '_ {
    |signer| {
        moto.assumed_roles()
            .iter()
            .filter(|r| {
                r["access_key_id"] == signer.access_key_id.as_str()
                    && r["session_token"].as_str() == signer.session_token.as_deref()
            })
            .map(|r| {
                let at = r["expiration_rfc3339"]
                    .as_str()
                    .unwrap_or_else(|| panic!("moto lists no expiration_rfc3339: {r}"));
                humantime::parse_rfc3339(at).unwrap()
            })
            .min()
    }
}

/// Where the demo's embedded credentials endpoint listens, from the start-up text it prints.
async fn demo_endpoint(daemon: &Daemon) -> SocketAddr {
    let stderr = daemon.wait_for_stderr(CREDENTIALS_PATH).await;
    let uri = stderr
        .split_whitespace()
        .find(|w| w.ends_with(CREDENTIALS_PATH))
        .unwrap();
    let addr: SocketAddr = uri
        .trim_start_matches("http://")
        .trim_end_matches(CREDENTIALS_PATH)
        .parse()
        .unwrap();
    assert!(addr.ip().is_loopback(), "{uri}");
    addr
}

/// What the demo's endpoint (inside the daemon, so asked over HTTP at [`ISSUED_PATH`]) handed out
/// with the signer's key.
fn issued_by_demo(addr: SocketAddr) -> impl Fn(&Signer) -> Option<SystemTime> {
    move |signer| {
        let path = format!("{ISSUED_PATH}{}", signer.access_key_id);
        let (status, body) = http(addr, "GET", &path, &[], "");
        if status == 404 {
            return None;
        }
        assert_eq!(status, 200, "{path}: {body}");
        let issued: Value = serde_json::from_str(&body).unwrap();
        Some(humantime::parse_rfc3339(issued["Expiration"].as_str().unwrap()).unwrap())
    }
}

/// The task endpoint's credentials, with STS and Secrets Manager on moto.
pub(crate) fn moto_env(
    endpoint: &sessionguard::demo::endpoint::EcsEndpoint,
    moto: &MotoServer,
) -> Vec<(String, String)> {
    let mut env = aws_env(endpoint);
    set(&mut env, "AWS_ENDPOINT_URL_STS", &moto.url);
    set(&mut env, "AWS_ENDPOINT_URL_SECRETS_MANAGER", &moto.url);
    env
}

async fn assume_role_daemon(env: &[(String, String)], duration: &str) -> Daemon {
    Daemon::start(
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
            ROLE,
            "--assume-role-duration",
            duration,
        ],
    )
    .await
}

/// `/v1/credentials`, held to openapi.yaml.
pub(crate) fn credentials(daemon: &Daemon) -> Value {
    let (status, body) = daemon.get("/v1/credentials");
    assert_eq!(status, 200, "{body}");
    assert_documented("/v1/credentials", "get", status, &body);
    serde_json::from_str(&body).unwrap()
}

/// Waits until the one-hour signing session has aged past the on-demand spacing (10 s), so that a
/// request for what a fresh 1-hour session allows needs a fresh one.
pub(crate) async fn age_past_spacing(daemon: &Daemon) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while credentials(daemon)["signing"]["remaining_seconds"]
        .as_i64()
        .unwrap()
        > 3600 - 12
    {
        assert!(
            Instant::now() < deadline,
            "the signing session does not age"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub(crate) fn seconds_from_now(rfc3339: &str) -> f64 {
    let at = humantime::parse_rfc3339(rfc3339).unwrap();
    sessionguard::clock::seconds_until(at, sessionguard::clock::system().now())
}

/// `sessionguard_signing_credentials_refreshes_total{result}` in a scrape.
pub(crate) fn refreshes(metrics: &str, result: &str) -> Option<f64> {
    sample(
        metrics,
        &format!("sessionguard_signing_credentials_refreshes_total{{result=\"{result}\"}}"),
    )
}

/// An assumed-role session lasts what was asked (2 hours here, moto enforcing no cap), so URLs
/// can outlive the 20-minute task session; the URL is signed with the assumed session's key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assumed_role_sessions_honour_the_requested_duration() {
    let moto = MotoServer::start(false);
    let endpoint = endpoint(Duration::from_secs(1200)).await;
    let daemon = assume_role_daemon(&moto_env(&endpoint, &moto), "2h").await;
    let line = daemon
        .wait_for_line(|l| l["message"] == "signing credentials refreshed")
        .await;
    let remaining = line["remaining_seconds"].as_i64().unwrap();
    assert!((7195..=7200).contains(&remaining), "{line}");
    assert!(
        line["assumed_role_arn"]
            .as_str()
            .unwrap()
            .ends_with(":assumed-role/presigner/sessionguard"),
        "{line}"
    );
    let roles = moto.assumed_roles();
    assert_eq!(roles.len(), 1, "{roles:?}");
    assert_eq!(roles[0]["role_arn"], ROLE);
    assert_eq!(roles[0]["session_name"], "sessionguard");
    let assumed_key = roles[0]["access_key_id"].as_str().unwrap().to_string();

    let view = credentials(&daemon);
    assert_eq!(view["signing"]["source"], "assume-role", "{view}");
    assert_eq!(view["signing"]["session_duration_seconds"], 7200, "{view}");
    assert!(
        view["remaining_seconds"].as_i64().unwrap() <= 1200,
        "{view}"
    );
    let signing_expiry = view["signing"]["expires_at"].as_str().unwrap().to_string();
    assert!(seconds_from_now(&signing_expiry) > 7190.0, "{view}");

    // 1h50m: far more than the task session has, within the assumed one.
    let (status, issued) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "q3.csv", "expires_in": "1h 50m"}),
    );
    assert_eq!(status, 200, "{issued}");
    assert_honest(&issued, assumed_by(&moto));
    assert_eq!(issued["credentials_expire_at"], signing_expiry.as_str());
    let url = issued["url"].as_str().unwrap();
    let credential = query_param(url, "X-Amz-Credential").unwrap();
    assert!(credential.starts_with(&format!("{assumed_key}/")), "{url}");
    assert!(query_param(url, "X-Amz-Security-Token").is_some(), "{url}");

    let (_, metrics) = daemon.get("/metrics");
    let expiry = sample(
        &metrics,
        "sessionguard_signing_credentials_expiry_timestamp_seconds",
    )
    .unwrap();
    let expected = humantime::parse_rfc3339(&signing_expiry)
        .unwrap()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    // expires_at is to the second; the gauge keeps STS's fraction.
    assert!(
        (0.0..1.0).contains(&(expiry - expected)),
        "{expiry} vs {expected}"
    );
    assert_eq!(refreshes(&metrics, "success"), Some(1.0));

    // More than a fresh 2h session allows (2h minus the margin and 5 s of slack for STS's clock):
    // refused without calling STS.
    let (status, refused) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "q3.csv", "expires_in": 7200}),
    );
    assert_eq!(status, 409, "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "a fresh 2h session would allow about {}s",
            7200 - MARGIN - 5
        )),
        "{message}"
    );
    assert_eq!(moto.assumed_roles().len(), 1);
    daemon.terminate();
}

/// From task-role credentials AssumeRole is role chaining: STS refuses 2 hours, the daemon logs
/// the cap once, clamps to 1 hour and says so in 409s. A request beyond the current session but
/// within a fresh one triggers exactly one AssumeRole, however many such requests arrive at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_chaining_is_clamped_and_a_short_session_is_renewed_once() {
    let moto = MotoServer::start(true);
    let endpoint = endpoint(Duration::from_secs(1200)).await;
    let daemon = assume_role_daemon(&moto_env(&endpoint, &moto), "2h").await;
    let first = daemon
        .wait_for_line(|l| l["message"] == "signing credentials refreshed")
        .await;
    let remaining = first["remaining_seconds"].as_i64().unwrap();
    assert!((3595..=3600).contains(&remaining), "{first}");
    let clamped = daemon.lines_with("assume-role duration clamped");
    assert_eq!(clamped.len(), 1, "{clamped:?}");
    assert_eq!(clamped[0]["level"], "WARN");
    assert_eq!(clamped[0]["clamped_to"], "1h");
    assert!(
        clamped[0]["sts_message"]
            .as_str()
            .unwrap()
            .contains("1 hour session limit for roles assumed by role chaining"),
        "{clamped:?}"
    );

    let view = credentials(&daemon);
    assert_eq!(view["signing"]["session_duration_seconds"], 3600, "{view}");
    assert!(
        view["signing"]["duration_cap"]
            .as_str()
            .unwrap()
            .contains("role chaining"),
        "{view}"
    );

    // Two hours cannot be had: the 409 explains the cap, and STS is not asked again.
    let (status, refused) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "q3.csv", "expires_in": "2h"}),
    );
    assert_eq!(status, 409, "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("would allow about 3535s"), "{message}");
    assert!(
        message.contains("STS caps sessions assumed by role chaining"),
        "{message}"
    );
    assert_eq!(moto.assumed_roles().len(), 1);

    // Let the session age past the on-demand spacing (10 s), so that 3535 s is more than it has
    // left but within what a fresh one-hour session gives (1h - margin - 5 s of slack).
    age_past_spacing(&daemon).await;
    let addr = daemon.addr;
    let answers: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                scope.spawn(move || {
                    post_json(addr, "/v1/presign",
                        &json!({"bucket": "reports", "key": format!("part-{i}.csv"), "expires_in": 3535}),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_honest(body, assumed_by(&moto));
        assert!(
            seconds_from_now(body["credentials_expire_at"].as_str().unwrap())
                > seconds_from_now(first["expires_at"].as_str().unwrap()),
            "{body}"
        );
    }
    assert_eq!(
        moto.assumed_roles().len(),
        2,
        "exactly one fresh AssumeRole"
    );
    let refreshed = daemon.lines_with("signing credentials refreshed");
    assert_eq!(refreshed.len(), 2, "{refreshed:?}");
    assert_eq!(refreshed[1]["requested_for_seconds"], 3535);
    assert_eq!(refreshed[1]["new_key"], true);
    assert_eq!(
        daemon.lines_with("assume-role duration clamped").len(),
        1,
        "the cap is logged once"
    );
    let (_, metrics) = daemon.get("/metrics");
    assert_eq!(refreshes(&metrics, "success"), Some(2.0));
    assert_eq!(refreshes(&metrics, "failure"), Some(0.0));
    daemon.terminate();
}

/// By default the task credentials sign: the `signing` view and gauge mirror them, and the
/// signing refresh counter stays at 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_source_signs_with_the_task_credentials() {
    let endpoint = endpoint(Duration::from_secs(1800)).await;
    let daemon = Daemon::start(&aws_env(&endpoint), &["run", "--no-identity"]).await;
    daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    let view = credentials(&daemon);
    assert_eq!(view["signing"]["source"], "task", "{view}");
    assert_eq!(view["signing"]["expires_at"], view["expires_at"], "{view}");
    assert_eq!(
        view["signing"]["access_key_id"], view["access_key_id"],
        "{view}"
    );
    let (_, metrics) = daemon.get("/metrics");
    assert_eq!(
        sample(
            &metrics,
            "sessionguard_signing_credentials_expiry_timestamp_seconds"
        ),
        sample(
            &metrics,
            "sessionguard_credentials_expiry_timestamp_seconds"
        )
    );
    assert_eq!(refreshes(&metrics, "success"), Some(0.0));
}

/// STS unreachable (refused, retried by the SDK, or timed out): the daemon keeps serving and watching the task session, logs and counts the
/// failure, and presign answers 503 with the cause instead of signing with the task credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_sts_is_reported_and_never_replaced_by_the_task_credentials() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let mut env = aws_env(&endpoint);
    set(
        &mut env,
        "AWS_ENDPOINT_URL_STS",
        &format!("http://{}", closed_port()),
    );
    let daemon = Daemon::start(
        &env,
        &[
            "run",
            "--no-identity",
            "--check-timeout",
            "2s",
            "--presign-allow",
            "GET:reports/",
            "--signing-source",
            "assume-role",
            "--assume-role-arn",
            ROLE,
        ],
    )
    .await;
    let failed = daemon
        .wait_for_line(|l| {
            l["message"] == "signing credentials refresh failed; no valid signing credentials"
        })
        .await;
    assert_eq!(failed["level"], "ERROR");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .starts_with("sts AssumeRole"),
        "{failed}"
    );
    let (status, _) = daemon.get("/healthz");
    assert_eq!(status, 200);
    let (status, body) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "q3.csv", "expires_in": 60}),
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "credentials_unavailable");
    assert!(
        body["last_error"]
            .as_str()
            .unwrap()
            .starts_with("sts AssumeRole"),
        "{body}"
    );
    let (_, metrics) = daemon.get("/metrics");
    assert!(refreshes(&metrics, "failure").unwrap() >= 1.0);
    assert_eq!(
        sample(
            &metrics,
            "sessionguard_signing_credentials_expiry_timestamp_seconds"
        ),
        None
    );
    // The task session is still watched.
    assert!(sample(&metrics, "sessionguard_credentials_remaining_seconds").unwrap() > 3500.0);
}

/// SIGTERM while an AssumeRole hangs (STS accepts the connection and never answers) still exits 0
/// promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_hung_assume_role() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let mut env = aws_env(&endpoint);
    set(
        &mut env,
        "AWS_ENDPOINT_URL_STS",
        &format!("http://{}", silent.local_addr().unwrap()),
    );
    let mut daemon = Daemon::start(
        &env,
        &[
            "run",
            "--no-identity",
            "--check-timeout",
            "1m",
            "--signing-source",
            "assume-role",
            "--assume-role-arn",
            ROLE,
        ],
    )
    .await;
    // The refresh has started (and hangs on the silent listener).
    let deadline = Instant::now() + WAIT;
    while credentials(&daemon)["signing"]["last_refresh_at"].is_null() {
        assert!(Instant::now() < deadline, "no AssumeRole attempt");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    daemon.terminate();
    let status = daemon
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("hung");
    assert_eq!(status.code(), Some(0));
    drop(silent);
}

/// The demo needs no AWS account for `assume-role` either: its STS answers AssumeRole as real STS
/// does for task-role credentials, so a 2h request is clamped to 1h and URLs outlive the demo's
/// 2-minute task sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_the_role_chaining_cap() {
    let daemon = Daemon::start(
        &base_env(),
        &[
            "demo",
            "--session",
            "2m",
            "--presign-allow",
            "GET:reports/",
            "--signing-source",
            "assume-role",
            "--assume-role-arn",
            ROLE,
            "--assume-role-duration",
            "2h",
        ],
    )
    .await;
    let line = daemon
        .wait_for_line(|l| l["message"] == "signing credentials refreshed")
        .await;
    assert!(line["remaining_seconds"].as_i64().unwrap() > 3590, "{line}");
    assert_eq!(daemon.lines_with("assume-role duration clamped").len(), 1);
    let (status, issued) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "q3.csv", "expires_in": "50m"}),
    );
    assert_eq!(status, 200, "{issued}");
    assert_honest(&issued, issued_by_demo(demo_endpoint(&daemon).await));
    daemon.terminate();
}

/// Without role chaining the role's MaxSessionDuration is the limit: STS (moto, with the role
/// created at 1 hour) refuses 3 hours, and the clamp names MaxSessionDuration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_max_session_duration_is_clamped_too() {
    let moto = MotoServer::start(false);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
    let form = format!(
        "Action=CreateRole&Version=2010-05-08&RoleName=presigner&MaxSessionDuration=3600&AssumeRolePolicyDocument={}",
        percent_encode(trust)
    );
    // moto routes by the SigV4 scope and does not check the signature.
    let (status, body) = http(
        moto.addr,
        "POST",
        "/",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIATESTSETUP0000001/20261128/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
            ),
        ],
        &form,
    );
    assert_eq!(status, 200, "{body}");
    let endpoint = endpoint(Duration::from_secs(1200)).await;
    let daemon = assume_role_daemon(&moto_env(&endpoint, &moto), "3h").await;
    let line = daemon
        .wait_for_line(|l| l["message"] == "signing credentials refreshed")
        .await;
    assert!(
        line["remaining_seconds"].as_i64().unwrap() >= 3595,
        "{line}"
    );
    let clamped = daemon.lines_with("assume-role duration clamped");
    assert_eq!(clamped.len(), 1, "{clamped:?}");
    assert!(
        clamped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("MaxSessionDuration"),
        "{clamped:?}"
    );
    assert_eq!(moto.assumed_roles().len(), 1);
    daemon.terminate();
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
