//! Secret hygiene: a whole run with canary secrets, and not one of them in any output.

use std::time::Duration;

use sessionguard::demo::endpoint::{Fault, Options};

use crate::support::*;

const CANARY_SECRET: &str = "CANARYsecretKEYdoNOTlog0123456789abcdefgh";

/// Checks, a rotation, failures, presigning, every route and a SIGTERM: the secret key, every
/// session token and every URL signature stay out of stdout, stderr and every HTTP body other than
/// the presign answer itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_token_in_any_output() {
    let mut options = Options::new(Duration::from_secs(3600));
    options.key_pair = Some(("ASIACANARYKEYEXAMPLE".into(), CANARY_SECRET.into()));
    let endpoint = endpoint_with(options).await;
    let mut daemon = Daemon::start(
        &aws_env(&endpoint),
        &[
            "run",
            "--interval",
            "1s",
            "--presign-allow",
            "GET,PUT:scratch",
        ],
    )
    .await;
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
    // Presigned URLs are bearer credentials: handed to the caller, never written anywhere else.
    let mut signatures = Vec::new();
    for body in [
        r#"{"bucket":"scratch","key":"a","expires_in":60}"#,
        r#"{"bucket":"scratch","key":"b","method":"PUT","expires_in":60,"content_type":"text/csv"}"#,
        r#"{"bucket":"scratch","key":"c","expires_in":"7d"}"#,
        r#"{"bucket":"other","key":"d","expires_in":60}"#,
    ] {
        let (status, text) = http(
            daemon.addr,
            "POST",
            "/v1/presign",
            &[("content-type", "application/json")],
            body,
        );
        if status == 200 {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            let url = v["url"].as_str().unwrap();
            let signature = url.split("X-Amz-Signature=").nth(1).unwrap();
            signatures.push(signature.split('&').next().unwrap().to_string());
        }
    }
    assert_eq!(signatures.len(), 2);
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
    for signature in signatures {
        assert!(!everything.contains(&signature), "a URL signature leaked");
    }
    for token in tokens {
        assert!(!everything.contains(&token), "session token leaked");
        // Not even a recognisable piece of it.
        assert!(
            !everything.contains(&token[20..60]),
            "part of a session token leaked"
        );
    }
}
