//! The commands as an operator runs them: exit codes, config errors, signals, the demo.

use std::time::{Duration, Instant};

use sessionguard::demo::endpoint::Fault;

use crate::support::*;

/// `status` prints one line and exits 0 with enough left, 1 with too little, 2 unresolved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_exit_codes() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let env = aws_env(&endpoint);

    let out = run_once(&env, &["status"]).await;
    assert_eq!(out.status.code(), Some(0), "{}{}", out.stdout, out.stderr);
    let at = sessionguard::clock::rfc3339(endpoint.current().expiration);
    assert!(
        out.stdout
            .starts_with("credentials from EcsContainer expire in 59m 5")
            && out.stdout.trim_end().ends_with(&format!("at {at}")),
        "{}",
        out.stdout
    );

    let out = run_once(&env, &["status", "--min-remaining", "2h"]).await;
    assert_eq!(out.status.code(), Some(1), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("less than the required 2h"),
        "{}",
        out.stderr
    );

    endpoint.set_fault(Some(Fault::Expired));
    let out = run_once(&env, &["status"]).await;
    assert_eq!(out.status.code(), Some(1), "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("expired 1m"), "{}", out.stdout);

    endpoint.set_fault(Some(Fault::Status {
        status: 503,
        code: "CredentialsUninitialized".into(),
        message: "not yet".into(),
    }));
    let out = run_once(&env, &["status"]).await;
    assert_eq!(out.status.code(), Some(2), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("503 CredentialsUninitialized: not yet"),
        "{}",
        out.stderr
    );
}

/// Bad values exit 64 with one message naming every bad flag, before anything starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_errors_exit_64() {
    let out = run_once(
        &base_env(),
        &[
            "run",
            "--interval",
            "soon",
            "--listen",
            "nowhere",
            "--log-format",
            "xml",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(64), "{}", out.stderr);
    for flag in ["--interval", "--listen", "--log-format"] {
        assert!(
            out.stderr.contains(flag),
            "{flag} not named: {}",
            out.stderr
        );
    }
    let mut env = base_env();
    set(&mut env, "SESSIONGUARD_CHECK_TIMEOUT", "ten");
    let out = run_once(&env, &["status"]).await;
    assert_eq!(out.status.code(), Some(64), "{}", out.stderr);
    assert!(
        out.stderr.contains("SESSIONGUARD_CHECK_TIMEOUT"),
        "{}",
        out.stderr
    );
    let out = run_once(&base_env(), &["run", "--no-such-flag"]).await;
    assert_eq!(out.status.code(), Some(64), "{}", out.stderr);
}

/// SIGTERM stops the loop, drains HTTP, logs a final line and exits 0 within 5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_zero_quickly() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let mut daemon = Daemon::start(&aws_env(&endpoint), &["run"]).await;
    daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    daemon.terminate();
    let status = daemon
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("still running 5 s after SIGTERM");
    assert_eq!(status.code(), Some(0));
    let last = daemon.lines().pop().unwrap();
    assert_eq!(last["message"], "sessionguard stopped");
    assert_eq!(last["signal"], "SIGTERM");
}

/// SIGTERM while a check hangs (its GET has reached the endpoint, which never answers) still
/// exits 0 promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_hung_check() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    endpoint.set_fault(Some(Fault::Hang));
    let mut daemon = Daemon::start(&aws_env(&endpoint), &["run", "--check-timeout", "1m"]).await;
    let deadline = Instant::now() + WAIT;
    while endpoint.credentials_requests() == 0 {
        assert!(
            Instant::now() < deadline,
            "the check never reached the endpoint: {}",
            daemon.output()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    daemon.terminate();
    let status = daemon
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("hung");
    assert_eq!(status.code(), Some(0));
}

/// `demo` needs no AWS account: it serves a gauge between 0 and the session length, with the
/// identity from its embedded STS, and exits 0 on SIGINT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_a_live_gauge() {
    let mut env = base_env();
    // The demo must ignore credentials the machine has.
    set(&mut env, "AWS_ACCESS_KEY_ID", "AKIDSHOULDNOTBEUSED1");
    set(&mut env, "AWS_SECRET_ACCESS_KEY", "should-not-be-used");
    let mut daemon = Daemon::start(&env, &["demo", "--session", "1m", "--interval", "1s"]).await;
    let line = daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    assert_eq!(line["source"], "EcsContainer", "{line}");
    assert_eq!(line["account"], "123456789012", "{line}");
    let (_, metrics) = daemon.get("/metrics");
    let remaining = sample(&metrics, "sessionguard_credentials_remaining_seconds").unwrap();
    assert!(remaining > 0.0 && remaining <= 60.0, "{remaining}");
    assert!(
        daemon.output().contains("curl -s http://"),
        "demo says where to look"
    );
    // SAFETY: kill(2) on our own child's PID.
    assert_eq!(unsafe { libc::kill(daemon_pid(&daemon), libc::SIGINT) }, 0);
    let status = daemon
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("demo hung");
    assert_eq!(status.code(), Some(0));
}

fn daemon_pid(daemon: &Daemon) -> libc::pid_t {
    daemon.pid() as libc::pid_t
}

/// README's configuration table names every flag of `run` with its env var and default, as
/// `run --help` has them: the table is what operators read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_configuration_table_matches_the_flags() {
    let out = run_once(&base_env(), &["run", "--help"]).await;
    assert!(out.status.success(), "{}", out.stderr);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let lines: Vec<&str> = out.stdout.lines().collect();
    let mut checked = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some(flag) = line.trim().strip_prefix("--") else {
            continue;
        };
        let flag = flag.split_whitespace().next().unwrap();
        if flag == "help" {
            continue;
        }
        let help = lines.get(i + 1).copied().unwrap_or_default();
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `--{flag}` |")))
            .unwrap_or_else(|| panic!("README has no configuration row for --{flag}"));
        let env = help
            .split("[env: ")
            .nth(1)
            .and_then(|rest| rest.split('=').next())
            .unwrap_or_else(|| panic!("--{flag} has no env var"));
        // | flag | env var | default | meaning |
        let columns: Vec<&str> = row.split(" | ").collect();
        assert!(
            columns[1].contains(&format!("`{env}`")),
            "{row} lacks {env}"
        );
        if let Some(default) = help
            .split("[default: ")
            .nth(1)
            .and_then(|rest| rest.strip_suffix(']'))
        {
            assert_eq!(
                columns[2],
                format!("`{default}`"),
                "the default of --{flag}"
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 20,
        "only {checked} flags found in:\n{}",
        out.stdout
    );
}
