//! Secret hygiene: a whole run with canary secrets, and not one of them in any output.

use std::time::Duration;

use sessionguard::ecs_endpoint::{Fault, Options};

use crate::support::*;

const CANARY_SECRET: &str = "CANARYsecretKEYdoNOTlog0123456789abcdefgh";

/// Checks, a rotation, failures, every route and a SIGTERM: the secret key and every session
/// token stay out of stdout, stderr and every HTTP body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_token_in_any_output() {
    let mut options = Options::new(Duration::from_secs(3600));
    options.key_pair = Some(("ASIACANARYKEYEXAMPLE".into(), CANARY_SECRET.into()));
    let endpoint = endpoint_with(options).await;
    let mut daemon = Daemon::start(&aws_env(&endpoint), &["run", "--interval", "1s"]).await;
    let mut tokens = vec![endpoint.current().token];
    daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    tokens.push(endpoint.rotate().token);
    daemon.wait_for_line(|l| l["rotated"] == true).await;
    for fault in [
        Fault::MalformedJson,
        Fault::MissingField("Token"),
        Fault::Status {
            status: 500,
            code: "InternalServerError".into(),
            message: "x".into(),
        },
    ] {
        let mark = daemon.mark();
        endpoint.set_fault(Some(fault));
        daemon
            .wait_for_line_after(mark, |l| l["message"] == "credentials check failed")
            .await;
    }
    endpoint.set_fault(None);
    let mut bodies = String::new();
    for path in [
        "/metrics",
        "/healthz",
        "/readyz",
        "/v1/credentials",
        "/nope",
    ] {
        bodies.push_str(&daemon.get(path).1);
    }
    daemon.terminate();
    daemon
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("exits");
    let everything = format!("{}\n{bodies}", daemon.output());
    assert!(
        everything.contains("credentials check failed"),
        "the scenario ran"
    );
    assert!(!everything.contains(CANARY_SECRET), "secret key leaked");
    assert!(
        !everything.contains("ASIACANARYKEYEXAMPLE"),
        "full access key id leaked"
    );
    for token in tokens {
        assert!(!everything.contains(&token), "session token leaked");
        // Not even a recognisable piece of it.
        assert!(
            !everything.contains(&token[20..60]),
            "part of a session token leaked"
        );
    }
}
