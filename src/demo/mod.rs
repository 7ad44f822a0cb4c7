//! `sessionguard demo`: the whole daemon against an embedded ECS credentials endpoint.
//!
//! The endpoint runs in-process on loopback; the daemon reads it exactly as in production, through
//! aws-config's default chain and `AWS_CONTAINER_CREDENTIALS_FULL_URI` plus an authorization token.
//! The environment is pointed at it before any thread starts ([`prepare_environment`]), and every
//! other credential source is switched off so nothing on this machine (a profile, IMDS) answers
//! instead and nothing leaves loopback.
//!
//! Given the Downward API variables of a pod (`SESSIONGUARD_POD_NAME`, ...), the demo plays a pod
//! on EKS instead of an ECS task: the endpoint is read at the Pod Identity agent's path
//! (`/v1/credentials`) and no ECS task metadata is offered, so the log lines and metrics carry the
//! pod's labels alone, as on EKS.

use std::fmt::Write as _;
use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;

pub mod endpoint;
pub mod examples;

use crate::clock;
use crate::config::DemoConfig;
use crate::telemetry::pod::PodLabels;
use crate::{Listeners, RunError};
use endpoint::{
    CREDENTIALS_PATH, EcsEndpoint, METADATA_PATH, Options, POD_IDENTITY_PATH, STS_PATH,
};

/// Whether the demo plays a pod on EKS: the Downward API variables are given.
fn as_pod() -> bool {
    !PodLabels::from_env().is_empty()
}

/// Variables that would make another credential source answer before the container endpoint.
const CLEARED: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
];

/// Points the AWS environment at the demo endpoint on `addr` and returns the token it requires.
///
/// # Safety
/// Changes the process environment: call it before any other thread exists.
pub unsafe fn prepare_environment(addr: SocketAddr) -> String {
    let token = format!("demo-token-{}", std::process::id());
    // SAFETY: the caller guarantees no other thread reads or writes the environment.
    unsafe {
        for name in CLEARED {
            std::env::remove_var(name);
        }
        let path = if as_pod() {
            POD_IDENTITY_PATH
        } else {
            CREDENTIALS_PATH
        };
        std::env::set_var(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("http://{addr}{path}"),
        );
        std::env::set_var("AWS_CONTAINER_AUTHORIZATION_TOKEN", &token);
        std::env::set_var("AWS_ENDPOINT_URL_STS", format!("http://{addr}{STS_PATH}"));
        if as_pod() {
            std::env::remove_var("ECS_CONTAINER_METADATA_URI_V4");
        } else {
            std::env::set_var(
                "ECS_CONTAINER_METADATA_URI_V4",
                format!("http://{addr}{METADATA_PATH}"),
            );
        }
        // No instance metadata lookups (169.254.169.254) and no profile files.
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::set_var("AWS_CONFIG_FILE", "/dev/null");
        std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
        if std::env::var_os("AWS_REGION").is_none() {
            std::env::set_var("AWS_REGION", "us-east-1");
        }
    }
    token
}

/// Starts the endpoint on `endpoint_listener`, then runs the daemon until `shutdown`.
pub async fn run(
    config: &DemoConfig,
    endpoint_listener: std::net::TcpListener,
    token: String,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    endpoint_listener
        .set_nonblocking(true)
        .map_err(RunError::Listener)?;
    let listener =
        tokio::net::TcpListener::from_std(endpoint_listener).map_err(RunError::Listener)?;
    let mut options = Options::new(config.session);
    options.token = Some(token);
    let rotate_before = options.rotate_before;
    let endpoint =
        EcsEndpoint::start(listener, options, clock::system()).map_err(RunError::Listener)?;
    let api = listeners.api.local_addr().map_err(RunError::Listener)?;
    let sessions = examples::Sessions {
        session: config.session,
        rotate_before,
        interval: config.run.interval,
    };
    let presign = presign_text(config, sessions, api);
    eprintln!(
        "sessionguard demo: {kind} at {uri}\n\
         issues {session} sessions and rotates them {rotate} before they expire; the daemon checks every {interval}.\n\
         Look:  curl -s http://{api}/metrics | grep '^sessionguard_'\n       \
         curl -s http://{api}/v1/credentials\n       \
         curl -s http://{api}/readyz\n\
         {presign}\
         Stop with Ctrl-C.",
        kind = if as_pod() {
            "a pod's EKS Pod Identity endpoint (Downward API labels given, no ECS task metadata)"
        } else {
            "an ECS container credentials endpoint"
        },
        uri = std::env::var("AWS_CONTAINER_CREDENTIALS_FULL_URI")
            .unwrap_or_else(|_| endpoint.credentials_uri()),
        session = humantime::format_duration(config.session),
        rotate = humantime::format_duration(rotate_before),
        interval = humantime::format_duration(config.run.interval),
    );
    let result = crate::run(&config.run, listeners, shutdown).await;
    drop(endpoint);
    result
}

/// The presign part of the start-up text: a request that is signed and one that is refused, for
/// the first `--presign-allow` rule, each under a shell comment saying why.
fn presign_text(config: &DemoConfig, sessions: examples::Sessions, api: SocketAddr) -> String {
    let Some(rule) = config.run.presign_allow.first() else {
        return "       (add --presign-allow BUCKET[/PREFIX] to try POST /v1/presign)\n"
            .to_string();
    };
    let limits = &config.run.signing.limits;
    let found = examples::examples(sessions, limits, &config.run.source);
    let mut text = String::new();
    if let Some(note) = &found.note {
        let _ = writeln!(text, "       # {note}");
    }
    for example in [&found.signed, &found.refused].into_iter().flatten() {
        let body = examples::request_body(rule, example.expires_in);
        let _ = writeln!(
            text,
            "       # {why}\n       \
             curl -s -X POST http://{api}/v1/presign -H 'content-type: application/json' -d '{body}'",
            why = example.why,
        );
    }
    text
}
