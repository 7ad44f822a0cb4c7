//! Defaults, humantime forms, every bad value at once, and each signing source's flags.

use super::*;
use crate::cli::{Cli, Command};
use crate::tracked::{AssumeRoleConfig, Overlap, SecretConfig, SigningSource, WebIdentityConfig};
use clap::Parser;

fn run_args(extra: &[&str]) -> RunArgs {
    let mut argv = vec!["sessionguard", "run"];
    argv.extend_from_slice(extra);
    match Cli::try_parse_from(argv).expect("flags parse").command {
        Command::Run(args) => args,
        other => panic!("expected run, got {other:?}"),
    }
}

/// The documented defaults are what an operator gets with no flags at all.
#[test]
fn defaults() {
    let c = Config::try_from(&run_args(&[])).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:9780");
    assert_eq!(c.metrics_listen, None);
    assert_eq!(c.interval, Duration::from_secs(60));
    assert_eq!(c.check_timeout, Duration::from_secs(10));
    assert_eq!(c.warn_below, Duration::from_secs(900));
    assert_eq!(c.ready_min_remaining, Duration::ZERO);
    assert_eq!(c.log_format, LogFormat::Auto);
    assert!(c.identity);
}

/// Durations take humantime forms, including compound ones.
#[test]
fn humantime_durations() {
    let c = Config::try_from(&run_args(&[
        "--interval",
        "90s",
        "--warn-below",
        "1h 30m",
        "--log-format",
        "JSON",
        "--no-identity",
    ]))
    .unwrap();
    assert_eq!(c.interval, Duration::from_secs(90));
    assert_eq!(c.warn_below, Duration::from_secs(5400));
    assert_eq!(c.log_format, LogFormat::Json);
    assert!(!c.identity);
}

/// Every bad value is named in one error, with its flag and env var.
#[test]
fn reports_every_bad_value_at_once() {
    let err = Config::try_from(&run_args(&[
        "--listen",
        "localhost",
        "--metrics-listen",
        "0.0.0.0",
        "--interval",
        "soon",
        "--check-timeout",
        "0s",
        "--warn-below=-5m",
        "--log-format",
        "xml",
    ]))
    .unwrap_err();
    assert_names(
        &err,
        &[
            "--listen (env SESSIONGUARD_LISTEN) = \"localhost\"",
            "--metrics-listen (env SESSIONGUARD_METRICS_LISTEN)",
            "--interval (env SESSIONGUARD_INTERVAL) = \"soon\"",
            "--check-timeout",
            "--warn-below",
            "--log-format (env SESSIONGUARD_LOG_FORMAT) = \"xml\"",
        ],
    );
    assert_eq!(err.problems.len(), 6, "{err}");
}

/// Rule lists split on commas, except between the methods of one rule.
#[test]
fn presign_allow_lists() {
    let c = Config::try_from(&run_args(&[
        "--presign-allow",
        "GET,PUT:scratch, PUT:uploads/incoming/",
        "--presign-allow",
        "GET:reports/exports/",
    ]))
    .unwrap();
    let rules: Vec<String> = c.presign_allow.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        rules,
        [
            "GET,PUT:scratch",
            "PUT:uploads/incoming/",
            "GET:reports/exports/"
        ]
    );
    let err = Config::try_from(&run_args(&["--presign-allow", "GET"])).unwrap_err();
    assert!(err.to_string().contains("--presign-allow"), "{err}");
    // The env var form: every method name joins the rule after it.
    let c = Config::try_from(&run_args(&[
        "--presign-allow",
        "DELETE,GET:reports/tmp/,HEAD:probes,PUT,POST:uploads,scratch",
    ]))
    .unwrap();
    let rules: Vec<String> = c.presign_allow.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        rules,
        [
            "DELETE,GET:reports/tmp/",
            "HEAD:probes",
            "PUT,POST:uploads",
            "scratch"
        ]
    );
    // A lowercase method name not followed by a rule's `:` is a bucket of that name.
    let c = Config::try_from(&run_args(&[
        "--presign-allow",
        "delete,reports,head,get:scratch,post",
    ]))
    .unwrap();
    let rules: Vec<String> = c.presign_allow.iter().map(|r| r.to_string()).collect();
    assert_eq!(rules, ["delete", "reports", "HEAD,GET:scratch", "post"]);
}

/// `demo` validates its own flag and the `run` flags together.
#[test]
fn demo_reports_session_and_run_flags() {
    let cli = Cli::try_parse_from(["sessionguard", "demo", "--session", "1s", "--interval", "x"])
        .unwrap();
    let Command::Demo(args) = cli.command else {
        panic!("expected demo")
    };
    let err = DemoConfig::try_from(&args).unwrap_err();
    assert_eq!(err.problems.len(), 2, "{err}");
    assert!(err.to_string().contains("--session"));
}

/// With no `--signing-source`, URLs are signed with the task's own credentials.
#[test]
fn task_is_the_default_signing_source() {
    let c = Config::try_from(&run_args(&[])).unwrap();
    assert_eq!(c.source, SigningSource::Task);
}

/// `assume-role` takes the role's ARN, and defaults the duration and the session name.
#[test]
fn assume_role_flags() {
    let c = Config::try_from(&run_args(&[
        "--signing-source",
        "assume-role",
        "--assume-role-arn",
        "arn:aws:iam::123456789012:role/presigner",
    ]))
    .unwrap();
    assert_eq!(
        c.source,
        SigningSource::AssumeRole(AssumeRoleConfig {
            role_arn: "arn:aws:iam::123456789012:role/presigner".into(),
            duration: Duration::from_secs(3600),
            session_name: "sessionguard".into(),
            external_id: None,
        })
    );
}

/// `secrets-manager` takes the secret's id, and defaults the refresh.
#[test]
fn secrets_manager_flags() {
    let c = Config::try_from(&run_args(&[
        "--signing-source",
        "secrets-manager",
        "--signing-secret-id",
        "presigner-keys",
        "--signing-key-overlap",
        "0s",
    ]))
    .unwrap();
    assert_eq!(
        c.source,
        SigningSource::SecretsManager(SecretConfig {
            secret_id: "presigner-keys".into(),
            refresh: Duration::from_secs(300),
            overlap: Overlap::Fixed(Duration::ZERO),
        })
    );
}

/// `web-identity` takes the role and token file by flag (the variables IRSA sets are the
/// fallback) and asks for 12 hours unless told otherwise; a duration STS never grants, a flag of
/// another source and a missing token file are named together.
#[test]
fn web_identity_flags() {
    let c = Config::try_from(&run_args(&[
        "--signing-source",
        "web-identity",
        "--web-identity-role-arn",
        "arn:aws:iam::123456789012:role/presigner",
        "--web-identity-token-file",
        "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
    ]))
    .unwrap();
    assert_eq!(
        c.source,
        SigningSource::WebIdentity(WebIdentityConfig {
            role_arn: "arn:aws:iam::123456789012:role/presigner".into(),
            token_file: "/var/run/secrets/eks.amazonaws.com/serviceaccount/token".into(),
            duration: Duration::from_secs(43_200),
            session_name: "sessionguard".into(),
        })
    );
    let err = Config::try_from(&run_args(&[
        "--signing-source",
        "web-identity",
        "--web-identity-role-arn",
        "arn:aws:iam::123456789012:role/presigner",
        "--signing-session-duration",
        "13h",
        "--assume-role-arn",
        "arn:aws:iam::123456789012:role/other",
    ]))
    .unwrap_err()
    .to_string();
    for flag in [
        "--signing-session-duration",
        "--assume-role-arn",
        // Unless the test runner itself has IRSA's variable.
        if std::env::var_os("AWS_WEB_IDENTITY_TOKEN_FILE").is_some() {
            "--signing-session-duration"
        } else {
            "--web-identity-token-file"
        },
    ] {
        assert!(err.contains(flag), "{flag} not named: {err}");
    }
    let wrong = Config::try_from(&run_args(&["--web-identity-token-file", "/tmp/token"]))
        .unwrap_err()
        .to_string();
    assert!(
        wrong.contains("only applies with --signing-source web-identity"),
        "{wrong}"
    );
}

/// Malformed assume-role flags and a flag of the other source are all named at once.
#[test]
fn bad_assume_role_flags_are_named() {
    let err = Config::try_from(&run_args(&[
        "--signing-source",
        "assume-role",
        "--assume-role-arn",
        "arn:aws:iam::1234:user/me",
        "--assume-role-duration",
        "13h",
        "--assume-role-session-name",
        "a b",
        "--signing-secret-id",
        "keys",
    ]))
    .unwrap_err();
    assert_names(
        &err,
        &[
            "--assume-role-arn (env SESSIONGUARD_ASSUME_ROLE_ARN)",
            "--assume-role-duration (env SESSIONGUARD_ASSUME_ROLE_DURATION) = \"13h\"",
            "--assume-role-session-name",
            "--signing-secret-id (env SESSIONGUARD_SIGNING_SECRET_ID) = \"keys\": only applies with --signing-source secrets-manager",
        ],
    );
    let err = Config::try_from(&run_args(&[
        "--signing-source",
        "assume-role",
        "--assume-role-arn",
        "arn:aws:iam::123456789012:role/r",
        "--assume-role-duration",
        "10m",
    ]))
    .unwrap_err();
    assert!(err.to_string().contains("at least 15m"), "{err}");
}

/// A missing secret id, an overlap beyond any rotation period and an unknown source are named.
#[test]
fn bad_secrets_manager_and_source_flags_are_named() {
    let err = Config::try_from(&run_args(&["--signing-source", "secrets-manager"])).unwrap_err();
    assert!(err.to_string().contains("is required"), "{err}");
    let err = Config::try_from(&run_args(&[
        "--signing-source",
        "secrets-manager",
        "--signing-secret-id",
        "keys",
        "--signing-key-overlap",
        "10000y",
    ]))
    .unwrap_err();
    assert!(err.to_string().contains("at most 1000d"), "{err}");
    let err = Config::try_from(&run_args(&["--signing-source", "vault"])).unwrap_err();
    assert!(
        err.to_string()
            .contains("expected one of task, assume-role, secrets-manager"),
        "{err}"
    );
}

/// Fails naming every missing needle, with the whole error.
fn assert_names(err: &ConfigError, needles: &[&str]) {
    let text = err.to_string();
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

fn presign_config(extra: &[&str]) -> Result<PresignConfig, ConfigError> {
    let mut argv = vec!["sessionguard", "presign", "s3://uploads/in/a.csv"];
    argv.extend_from_slice(extra);
    match Cli::try_parse_from(argv).expect("flags parse").command {
        Command::Presign(args) => PresignConfig::try_from(&args),
        other => panic!("expected presign, got {other:?}"),
    }
}

/// The presign flags become the body of `POST /v1/presign`: the same fields, the same checks.
#[test]
fn presign_flags_are_request_fields() {
    let c = presign_config(&[
        "--method",
        "put",
        "--content-length",
        "11",
        "--checksum-sha256",
        "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=",
        "--server-side-encryption",
        "aws:kms",
        "--sse-kms-key-id",
        "alias/uploads",
        "--metadata",
        "Project=q3",
        "--metadata",
        "owner=me=you",
        "--tagging",
        "team=data eng",
        "--storage-class",
        "STANDARD_IA",
    ])
    .unwrap();
    let r = &c.request;
    assert_eq!(r.method, crate::presign::Method::Put);
    assert_eq!(r.header("content-length"), Some("11"));
    assert_eq!(r.header("x-amz-server-side-encryption"), Some("aws:kms"));
    assert_eq!(r.header("x-amz-meta-project"), Some("q3"));
    assert_eq!(r.header("x-amz-meta-owner"), Some("me=you"));
    assert_eq!(r.header("x-amz-tagging"), Some("team=data+eng"));
    assert_eq!(r.header("x-amz-storage-class"), Some("STANDARD_IA"));

    let c = presign_config(&["--method", "HEAD", "--version-id", "v1"]).unwrap();
    assert_eq!(c.request.query, [("versionId", "v1".to_string())]);
    let c = presign_config(&["--response-content-disposition", "attachment"]).unwrap();
    assert_eq!(
        c.request.query,
        [("response-content-disposition", "attachment".to_string())]
    );
}

/// A bad presign flag exits 64 naming the flag; pair flags report every bad pair.
#[test]
fn bad_presign_flags_name_the_flag() {
    let put = ["--method", "PUT"];
    let cases: &[(&[&str], &str)] = &[
        (&["--method", "PATCH"], "--method"),
        (&["--content-length", "5"], "--content-length"),
        (
            &[put[0], put[1], "--content-length", "ten"],
            "--content-length",
        ),
        (&[put[0], put[1], "--content-md5", "abc"], "--content-md5"),
        (
            &[put[0], put[1], "--checksum-crc32", "AAAAAAAA"],
            "--checksum-crc32",
        ),
        (
            &[put[0], put[1], "--storage-class", "COLD"],
            "--storage-class",
        ),
        (
            &[put[0], put[1], "--sse-kms-key-id", "k"],
            "--sse-kms-key-id",
        ),
        (&[put[0], put[1], "--metadata", "name=été"], "--metadata"),
        (&[put[0], put[1], "--metadata", "novalue"], "--metadata"),
        (
            &[put[0], put[1], "--tagging", "a=1", "--tagging", "a=2"],
            "--tagging",
        ),
        (&[put[0], put[1], "--version-id", "v1"], "--version-id"),
        (&["--response-expires", "soon"], "--response-expires"),
    ];
    for (flags, named) in cases {
        let err = presign_config(flags).unwrap_err();
        assert!(err.to_string().contains(named), "{flags:?}: {err}");
    }
    let err =
        presign_config(&["--method", "PUT", "--metadata", "a", "--tagging", "b"]).unwrap_err();
    assert_eq!(err.problems.len(), 2, "{err}");
}

/// `--assume-role-external-id` is a shared secret: printing the flags redacts it.
#[test]
fn external_id_never_reaches_debug() {
    let args = run_args(&["--assume-role-external-id", "canary-external-id"]);
    let printed = format!("{args:?}");
    assert!(!printed.contains("canary-external-id"), "{printed}");
    assert!(
        printed.contains(r#"assume_role_external_id: Some("** redacted **")"#),
        "{printed}"
    );
}
