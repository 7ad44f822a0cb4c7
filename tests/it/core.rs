//! The credentials core under stress: presigns that must not become endpoint calls, times that
//! cannot be formatted, tasks that end, the first presign after start with a signing source, and
//! the external id kept out of every output.

use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};
use sessionguard::demo::endpoint::{Fault, Options};

use crate::presign::{presign, query_param};
use crate::support::*;

const ROLE: &str = "arn:aws:iam::123456789012:role/presigner";
const SECRET: &str = "sessionguard/core-presigner";
/// Passed as `--assume-role-external-id`; it must never be written anywhere.
const EXTERNAL_ID_CANARY: &str = "canary-external-id-7f3a";
const ENDED_MESSAGE: &str = "task ended unexpectedly; exiting so ECS replaces the task";

/// Waits for the `n`-th line after `mark` matching `pred`, failing at once (with the output) if the
/// daemon panicked meanwhile, since a panic in a task leaves a process that never writes the line.
async fn expect_nth(
    daemon: &Daemon,
    mark: usize,
    n: usize,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let found: Vec<Value> = daemon
            .lines()
            .into_iter()
            .skip(mark)
            .filter(|l| pred(l))
            .collect();
        if found.len() >= n {
            return found[n - 1].clone();
        }
        let output = daemon.output();
        assert!(
            !output.contains("panicked at"),
            "the daemon panicked instead of writing {what}; output:\n{output}"
        );
        assert!(
            Instant::now() < deadline,
            "no {what} within {WAIT:?}; output:\n{output}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// GET /readyz, which must answer with JSON: a dropped connection (a handler that panicked) or a
/// body that is not JSON fails the test with that said.
fn readyz(daemon: &Daemon) -> (u16, Value) {
    let (status, body) = try_http(daemon.addr, "GET", "/readyz", &[], "").unwrap_or_else(|e| {
        panic!(
            "/readyz gave no answer (the connection was dropped: did the handler panic?): {e}\noutput:\n{}",
            daemon.output()
        )
    });
    let value = serde_json::from_str(&body).unwrap_or_else(|e| {
        panic!("/readyz answered {status} with a body that is not JSON ({e}): {body:?}")
    });
    (status, value)
}

/// Polls /readyz until it answers `want`.
async fn wait_for_readyz(daemon: &Daemon, want: u16) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = readyz(daemon);
        if status == want {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz still {status}, not {want}: {body}\noutput:\n{}",
            daemon.output()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A check line, successful or not.
fn is_check(line: &Value) -> bool {
    line["message"] == "credentials checked" || line["message"] == "credentials check failed"
}

/// Presign requests a 10-minute session cannot cover do not each cost a GET of the credentials
/// endpoint (which ECS throttles per task): 40 in a row are refused 409 with at most one on-demand
/// recheck between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_sessions_do_not_turn_presigns_into_endpoint_calls() {
    let endpoint = endpoint(Duration::from_secs(600)).await;
    let daemon = Daemon::start(
        &aws_env(&endpoint),
        &[
            "run",
            "--interval",
            "1m",
            "--no-identity",
            "--presign-allow",
            "GET:reports/",
        ],
    )
    .await;
    daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    let request = json!({"bucket": "reports", "key": "a.csv", "expires_in": "11h"});
    for i in 0..40 {
        let (status, body) = presign(&daemon, &request);
        assert_eq!(status, 409, "presign {i}: {body}");
        assert_eq!(body["error"], "session_too_short", "presign {i}: {body}");
    }
    // Each refusal is logged after any recheck made for it.
    daemon
        .wait_for_nth(40, |l| l["message"] == "presign refused")
        .await;
    let checks = daemon.lines_with("credentials checked").len();
    assert!(
        checks <= 2,
        "{checks} `credentials checked` lines for one start-up check and 40 short presigns: \
         each presign re-resolved the credentials (one endpoint GET each)"
    );
    let (_, metrics) = daemon.get("/metrics");
    let successes = sample(
        &metrics,
        "sessionguard_credentials_checks_total{result=\"success\"}",
    );
    assert!(successes.is_some_and(|n| n <= 2.0), "{successes:?} checks");
}

/// An `Expiration` before 1970 (which aws-config accepts) is a failed check with a clear error,
/// not a panic that silently ends the check loop: checks go on, /readyz answers 503 with JSON, and
/// the daemon recovers when the endpoint does. One in the year 10000 is either refused clearly or
/// accepted, and checks go on either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expirations_that_cannot_be_formatted_do_not_stop_the_checks() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    endpoint.set_fault(Some(Fault::Expiration("1960-01-01T00:00:00Z".into())));
    let daemon = Daemon::start(
        &aws_env(&endpoint),
        &["run", "--interval", "1s", "--no-identity"],
    )
    .await;
    let failed = |l: &Value| l["message"] == "credentials check failed";
    let what = "a `credentials check failed` line for Expiration 1960-01-01T00:00:00Z";
    let first = expect_nth(&daemon, 0, 1, what, failed).await;
    assert_eq!(first["level"], "ERROR", "{first}");
    let error = first["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("Expiration") && error.contains("1970"),
        "the error does not explain the Expiration before 1970: {first}"
    );
    expect_nth(
        &daemon,
        0,
        2,
        "a second `credentials check failed` line",
        failed,
    )
    .await;
    let (status, body) = readyz(&daemon);
    assert_eq!(status, 503, "{body}");

    let mark = daemon.mark();
    endpoint.set_fault(None);
    expect_nth(
        &daemon,
        mark,
        1,
        "`credentials checked` once the endpoint recovered",
        |l| l["message"] == "credentials checked",
    )
    .await;
    wait_for_readyz(&daemon, 200).await;

    let mark = daemon.mark();
    endpoint.set_fault(Some(Fault::Expiration("10000-01-01T00:00:00Z".into())));
    // The first check after the mark may have started before the fault: look at the next two.
    for n in [2, 3] {
        let line = expect_nth(
            &daemon,
            mark,
            n,
            "a check line for Expiration 10000-01-01T00:00:00Z",
            is_check,
        )
        .await;
        if line["message"] == "credentials check failed" {
            assert_eq!(line["level"], "ERROR", "{line}");
            assert!(
                line["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("Expiration")),
                "the error does not name the Expiration: {line}"
            );
        }
    }
    // Whatever a check makes of year 10000, such a session is never the current one, and the last
    // good one (an hour long) is kept: still ready.
    let (status, body) = readyz(&daemon);
    assert_eq!(status, 200, "{body}");
    assert!(
        !daemon.output().contains("panicked at"),
        "{}",
        daemon.output()
    );
}

/// Waits for a daemon told to panic in one task (`SESSIONGUARD_DEBUG_PANIC`) to log the task's end
/// at ERROR, with its name and cause, and to exit 1 after its final `sessionguard failed` line.
async fn assert_ends_because_of(mut daemon: Daemon, task: &str) {
    let Some(status) = daemon.wait_exit(WAIT).await else {
        panic!(
            "still running {WAIT:?} after its {task} task was made to panic \
             (SESSIONGUARD_DEBUG_PANIC={task}); output:\n{}",
            daemon.output()
        );
    };
    // The process is gone; its last lines may still be on their way through the pipe.
    let ended = daemon
        .wait_for_line(|l| l["message"] == ENDED_MESSAGE && l["task"] == task)
        .await;
    assert_eq!(ended["level"], "ERROR", "{ended}");
    assert!(
        ended["error"]
            .as_str()
            .is_some_and(|e| e.contains("panicked")),
        "{ended}"
    );
    daemon
        .wait_for_line(|l| l["message"] == "sessionguard failed")
        .await;
    let lines = daemon.lines();
    let at = |message: &str| lines.iter().position(|l| l["message"] == message);
    assert!(
        at(ENDED_MESSAGE) < at("sessionguard failed"),
        "`sessionguard failed` is the last word:\n{}",
        daemon.output()
    );
    assert_eq!(status.code(), Some(1), "{}", daemon.output());
}

/// A check loop that ends (here it panics at its start) ends the daemon, so ECS replaces the task
/// instead of keeping one that answers /healthz but never checks again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_that_panics_takes_the_daemon_down() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let mut env = aws_env(&endpoint);
    set(&mut env, "SESSIONGUARD_DEBUG_PANIC", "monitor");
    let daemon = Daemon::launch(&env, &["run", "--interval", "1s", "--no-identity"]);
    assert_ends_because_of(daemon, "monitor").await;
}

/// The signing refresh loop, the API server and the metrics server are supervised like the
/// monitor: any one of them ending takes the daemon down with an ERROR line naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_other_supervised_task_that_panics_takes_the_daemon_down() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let args = [
        "run",
        "--interval",
        "1s",
        "--no-identity",
        "--metrics-listen",
        "127.0.0.1:0",
        "--signing-source",
        "assume-role",
        "--assume-role-arn",
        ROLE,
    ];
    // Started together, so they die (or, today, fail to) in the same few seconds.
    let daemons: Vec<(Daemon, &str)> = ["signing", "api-server", "metrics-server"]
        .into_iter()
        .map(|task| {
            let mut env = aws_env(&endpoint);
            set(&mut env, "SESSIONGUARD_DEBUG_PANIC", task);
            (Daemon::launch(&env, &args), task)
        })
        .collect();
    for (daemon, task) in daemons {
        assert_ends_because_of(daemon, task).await;
    }
}

/// With `--signing-source secrets-manager`, the first presign after /readyz turns 200 (when ECS
/// starts the app container) waits for the first secret read, slowed to 1.5 s here, and is signed
/// with the secret's key: a URL s3s-fs accepts, not a 503 with `last_error: null`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_presign_right_after_ready_waits_for_the_first_secret_read() {
    let moto = MotoServer::start(false);
    let s3 = S3Server::start(&["reports"]);
    std::fs::write(s3.root.join("reports/q3.csv"), "region,total\neu,42\n").unwrap();
    moto.secrets()
        .create_secret()
        .name(SECRET)
        .secret_string(
            json!({"AccessKeyId": S3_ACCESS_KEY, "SecretAccessKey": S3_SECRET_KEY}).to_string(),
        )
        .send()
        .await
        .unwrap();
    let slow = DelayProxy::start(moto.addr, Duration::from_millis(1500));
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let mut env = aws_env(&endpoint);
    set(&mut env, "AWS_ENDPOINT_URL_SECRETS_MANAGER", &slow.url());
    set(&mut env, "AWS_ENDPOINT_URL_S3", &s3.endpoint());
    set(&mut env, "SESSIONGUARD_S3_FORCE_PATH_STYLE", "true");
    let daemon = Daemon::start(
        &env,
        &[
            "run",
            "--no-identity",
            "--check-timeout",
            "5s",
            "--presign-allow",
            "GET:reports/",
            "--signing-source",
            "secrets-manager",
            "--signing-secret-id",
            SECRET,
        ],
    )
    .await;
    let deadline = Instant::now() + WAIT;
    while daemon.get("/readyz").0 != 200 {
        assert!(
            Instant::now() < deadline,
            "never ready: {}",
            daemon.output()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, issued) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "q3.csv", "expires_in": 60}),
    );
    assert_eq!(
        status, 200,
        "the first presign after /readyz turned 200 was not signed: {issued}"
    );
    let url = issued["url"].as_str().unwrap();
    let credential = query_param(url, "X-Amz-Credential").unwrap();
    assert!(
        credential.starts_with(&format!("{S3_ACCESS_KEY}/")),
        "{url}"
    );
    let (status, body) = http_url("GET", url, &[], "");
    assert_eq!((status, body.as_str()), (200, "region,total\neu,42\n"));
    assert!(
        slow.forwarded() >= 1,
        "the secret was not read through the proxy"
    );
}

/// A whole assume-role run with an external id, debug logging, every route, a good and a bad
/// presign and a SIGTERM: the external id reaches STS and no output or response body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_external_id_appears_in_no_output() {
    let moto = MotoServer::start(false);
    let endpoint = endpoint(Duration::from_secs(1200)).await;
    let mut env = aws_env(&endpoint);
    set(&mut env, "AWS_ENDPOINT_URL_STS", &moto.url);
    set(&mut env, "RUST_LOG", "sessionguard=debug");
    let mut daemon = Daemon::start(
        &env,
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
            "--assume-role-external-id",
            EXTERNAL_ID_CANARY,
        ],
    )
    .await;
    daemon
        .wait_for_line(|l| l["message"] == "signing credentials refreshed")
        .await;
    let roles = moto.assumed_roles();
    assert_eq!(
        roles.first().map(|r| &r["external_id"]),
        Some(&json!(EXTERNAL_ID_CANARY)),
        "the external id did not reach STS: {roles:?}"
    );
    let mut bodies = String::new();
    for path in [
        "/v1/credentials",
        "/metrics",
        "/readyz",
        "/healthz",
        "/nope",
    ] {
        bodies.push_str(&daemon.get(path).1);
    }
    for (request, want) in [
        (
            json!({"bucket": "reports", "key": "q3.csv", "expires_in": 60}),
            200,
        ),
        // Not even a fresh session (an hour, --assume-role-duration's default) covers 2h.
        (
            json!({"bucket": "reports", "key": "q3.csv", "expires_in": "2h"}),
            409,
        ),
        (
            json!({"bucket": "elsewhere", "key": "q3.csv", "expires_in": 60}),
            403,
        ),
        (json!({"bucket": "reports", "expires_in": "soon"}), 400),
    ] {
        let (status, body) = presign(&daemon, &request);
        assert_eq!(status, want, "{request}: {body}");
        bodies.push_str(&body.to_string());
    }
    daemon.terminate();
    let status = daemon.wait_exit(Duration::from_secs(5)).await;
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{}",
        daemon.output()
    );
    daemon
        .wait_for_line(|l| l["message"] == "sessionguard stopped")
        .await;
    let everything = format!("{}\n{bodies}", daemon.output());
    assert!(
        !everything.contains(EXTERNAL_ID_CANARY),
        "the external id leaked:\n{everything}"
    );
}

/// A usage error (exit 64) names the bad flags but never echoes the external id, whether the id
/// itself is wrong, misplaced, or fine next to another bad flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_never_echo_the_external_id() {
    let misplaced = [
        "--signing-source",
        "task",
        "--assume-role-external-id",
        EXTERNAL_ID_CANARY,
    ];
    let beside_a_bad_interval = [
        "--signing-source",
        "assume-role",
        "--assume-role-arn",
        ROLE,
        "--assume-role-external-id",
        EXTERNAL_ID_CANARY,
    ];
    let invalid = format!("{EXTERNAL_ID_CANARY}!");
    let malformed = [
        "--signing-source",
        "assume-role",
        "--assume-role-arn",
        ROLE,
        "--assume-role-external-id",
        invalid.as_str(),
    ];
    for flags in [&misplaced[..], &beside_a_bad_interval[..], &malformed[..]] {
        let mut args = vec!["run", "--interval", "soon"];
        args.extend_from_slice(flags);
        let out = run_once(&base_env(), &args).await;
        let everything = format!("{}\n{}", out.stdout, out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {everything}");
        assert!(everything.contains("--interval"), "{args:?}: {everything}");
        assert!(
            !everything.contains(EXTERNAL_ID_CANARY),
            "{args:?}: the usage error echoes the external id:\n{everything}"
        );
    }
}

/// The test endpoint's options print the access key id but not the secret key.
#[test]
fn endpoint_options_debug_hides_the_secret_key() {
    let mut options = Options::new(Duration::from_secs(3600));
    options.key_pair = Some(("AKIDCANARY".into(), "canary-secret-key-9d2e".into()));
    let printed = format!("{options:?}");
    assert!(
        !printed.contains("canary-secret-key-9d2e"),
        "Debug prints the secret key: {printed}"
    );
}

/// Neither the parsed flags nor the validated configuration print the external id in `Debug`.
#[test]
fn config_debug_hides_the_external_id() {
    let cli = sessionguard::cli::Cli::try_parse_from([
        "sessionguard",
        "run",
        "--signing-source",
        "assume-role",
        "--assume-role-arn",
        ROLE,
        "--assume-role-external-id",
        EXTERNAL_ID_CANARY,
    ])
    .unwrap();
    let printed = format!("{cli:?}");
    assert!(
        !printed.contains(EXTERNAL_ID_CANARY),
        "the flags' Debug prints the external id: {printed}"
    );
    let sessionguard::cli::Command::Run(args) = &cli.command else {
        unreachable!("parsed `run`");
    };
    let config = sessionguard::config::Config::try_from(args).unwrap();
    let printed = format!("{config:?}");
    assert!(
        !printed.contains(EXTERNAL_ID_CANARY),
        "the configuration's Debug prints the external id: {printed}"
    );
}
