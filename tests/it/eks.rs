//! The sidecar on EKS: the Pod Identity agent's production path (`http://169.254.170.23/v1/credentials`
//! with a token file the test rotates) in a network namespace the test makes, and IRSA's web
//! identity session as the monitored one (moto's STS `AssumeRoleWithWebIdentity`); the pod's
//! Downward API labels on every line and in `sessionguard_pod_info`, absent when not given; and
//! the EKS failures named: no role at all, and the node's instance role instead of the pod's.
//!
//! The Pod Identity test runs on a thread that has moved into a network namespace of its own
//! (`unshare(CLONE_NEWNET)`, we are root): loopback there also carries `169.254.170.23`, the test's
//! endpoint listens on its port 80, and the daemon, spawned from that thread, inherits the
//! namespace. Nothing of it is visible outside the test.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sessionguard::demo::endpoint::{EcsEndpoint, Options, POD_IDENTITY_PATH};

use crate::support::*;

/// The EKS Pod Identity agent's address, a local address of the test's namespace.
const POD_IDENTITY_AGENT: &str = "169.254.170.23:80";

/// Runs `body` on a thread of its own inside a new network namespace whose loopback is up and also
/// carries `addresses`; processes spawned by `body` share the namespace.
pub(crate) fn in_private_network<F, Fut>(addresses: &[&str], body: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let addresses: Vec<String> = addresses.iter().map(|a| a.to_string()).collect();
    let thread = std::thread::spawn(move || {
        // SAFETY: unshare(2) with CLONE_NEWNET moves only this thread into a new namespace; it
        // touches no memory of ours.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "unshare(CLONE_NEWNET) failed ({}): these tests run as root, like scripts/test.sh",
            std::io::Error::last_os_error()
        );
        let ip = |args: &[&str]| {
            let status = Command::new("ip")
                .args(args)
                .status()
                .expect("ip (iproute2)");
            assert!(status.success(), "ip {args:?}");
        };
        ip(&["link", "set", "lo", "up"]);
        for a in &addresses {
            ip(&["addr", "add", &format!("{a}/32"), "dev", "lo"]);
        }
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(body());
    });
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

/// The Downward API variables deploy/kubernetes/ sets; the node's is given empty here, so it must
/// be absent.
fn pod_env(env: &mut Vec<(String, String)>) {
    set(env, "SESSIONGUARD_POD_NAME", "shop-api-7d9f8-x2x9q");
    set(env, "SESSIONGUARD_POD_NAMESPACE", "shop");
    set(env, "SESSIONGUARD_NODE_NAME", "");
    set(env, "KUBERNETES_SERVICE_HOST", "10.100.0.1");
}

/// Pod Identity at its real address: the check line (with the pod's labels, the empty one absent),
/// the gauges and `/readyz` as on ECS; a token the kubelet rotates is read again for the next call;
/// an unreadable token file, and an agent that stopped answering, are named as such.
#[test]
fn pod_identity_agent_with_a_rotated_token_file() {
    in_private_network(&["169.254.170.23"], || async {
        let dir = scratch("pod-identity");
        let token_file = dir.join("eks-pod-identity-token");
        write_token(&token_file, "pod-token-1");
        let listener = tokio::net::TcpListener::bind(POD_IDENTITY_AGENT)
            .await
            .unwrap();
        let mut options = Options::new(Duration::from_secs(1200));
        options.token = Some("pod-token-1".into());
        let agent = EcsEndpoint::start(listener, options, sessionguard::clock::system()).unwrap();

        let mut env = base_env();
        set(
            &mut env,
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            &format!("http://169.254.170.23{POD_IDENTITY_PATH}"),
        );
        set(
            &mut env,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            token_file.to_str().unwrap(),
        );
        set(&mut env, "AWS_ENDPOINT_URL_STS", &agent.sts_uri());
        pod_env(&mut env);
        let daemon = Daemon::start(&env, &["run", "--interval", "1s"]).await;

        let line = daemon
            .wait_for_line(|l| l["message"] == "credentials checked")
            .await;
        assert_eq!(line["source"], "EcsContainer", "{line}");
        assert_eq!(line["k8s_pod_name"], "shop-api-7d9f8-x2x9q", "{line}");
        assert_eq!(line["k8s_namespace_name"], "shop", "{line}");
        assert!(line.get("k8s_node_name").is_none(), "{line}");
        assert!(line.get("task_family").is_none(), "{line}");
        assert!(
            line["role_arn"]
                .as_str()
                .is_some_and(|a| a.contains(":assumed-role/")),
            "{line}"
        );
        let remaining = line["remaining_seconds"].as_i64().unwrap();
        assert!((1190..=1200).contains(&remaining), "{line}");
        let started = daemon.lines_with("sessionguard started");
        assert_eq!(started[0]["k8s_pod_name"], "shop-api-7d9f8-x2x9q");

        let (status, metrics) = daemon.get("/metrics");
        assert_eq!(status, 200);
        assert_eq!(
            sample(
                &metrics,
                "sessionguard_pod_info{k8s_namespace_name=\"shop\",k8s_pod_name=\"shop-api-7d9f8-x2x9q\"}"
            ),
            Some(1.0),
            "{metrics}"
        );
        assert!(!metrics.contains("sessionguard_task_info{"), "{metrics}");
        promtool_accepts(&metrics);
        let left = sample(&metrics, "sessionguard_credentials_remaining_seconds").unwrap();
        assert!((1100.0..=1200.0).contains(&left), "{left}");
        daemon.wait_for_status("/readyz", 200).await;

        // The agent accepts only a new token the file does not hold yet: its refusal is named,
        // with where to look on EKS.
        let mark = daemon.mark();
        agent.set_token(Some("pod-token-2".into()));
        let issued = agent.rotate();
        let refused = daemon
            .wait_for_line_after(mark, |l| l["message"] == "credentials check failed")
            .await;
        assert_eq!(refused["endpoint_status"], 403, "{refused}");
        assert_eq!(refused["ecs_error_code"], "AccessDenied", "{refused}");
        assert!(
            refused["error"]
                .as_str()
                .unwrap()
                .contains("aws eks list-pod-identity-associations"),
            "{refused}"
        );
        // The kubelet rotates the projected token: the next call reads the new one.
        let before = agent.credentials_requests();
        let mark = daemon.mark();
        write_token(&token_file, "pod-token-2");
        let line = daemon
            .wait_for_line_after(mark, |l| {
                l["message"] == "credentials checked" && l["rotated"] == true
            })
            .await;
        assert!(agent.credentials_requests() > before);
        assert_eq!(
            line["access_key_id"],
            format!(
                "{}...{}",
                &issued.access_key_id[..4],
                &issued.access_key_id[issued.access_key_id.len() - 4..]
            ),
            "{line}"
        );

        // The token file disappears (the volume is gone): named, with where it comes from.
        std::fs::remove_file(&token_file).unwrap();
        let mark = daemon.mark();
        let failed = daemon
            .wait_for_line_after(mark, |l| l["message"] == "credentials check failed")
            .await;
        let error = failed["error"].as_str().unwrap();
        assert!(
            error.contains(&format!(
                "authorization token file {} cannot be read",
                token_file.display()
            )) && error.contains("eks-pod-identity-token"),
            "{failed}"
        );

        // The agent stops answering (its DaemonSet pod is gone from the node).
        write_token(&token_file, "pod-token-2");
        drop(agent);
        let mark = daemon.mark();
        let failed = daemon
            .wait_for_line_after(mark, |l| {
                l["message"] == "credentials check failed"
                    && l["error"]
                        .as_str()
                        .is_some_and(|e| e.contains("eks-pod-identity-agent"))
            })
            .await;
        assert!(
            failed["error"]
                .as_str()
                .unwrap()
                .contains("nothing answered at http://169.254.170.23/v1/credentials"),
            "{failed}"
        );
        // The last good session still has most of its 20 minutes: still ready, as on ECS.
        assert_eq!(daemon.get("/readyz").0, 200);
        assert!(
            !daemon.output().contains("pod-token-"),
            "a token was logged"
        );
        let _ = std::fs::remove_dir_all(&dir);
    });
}

/// A pod on Kubernetes with neither Pod Identity nor IRSA variables: the failure says the pod was
/// given no role and how to give it one, and no empty pod label appears anywhere.
#[tokio::test(flavor = "multi_thread")]
async fn a_pod_without_a_role_is_told_why() {
    let mut env = base_env();
    set(&mut env, "KUBERNETES_SERVICE_HOST", "10.100.0.1");
    let daemon = Daemon::start(&env, &["run", "--interval", "1s", "--check-timeout", "3s"]).await;
    let failed = daemon
        .wait_for_line(|l| l["message"] == "credentials check failed")
        .await;
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("was given no AWS role") && error.contains("eks.amazonaws.com/role-arn"),
        "{failed}"
    );
    for line in daemon.lines() {
        let keys: Vec<&String> = line.as_object().unwrap().keys().collect();
        assert!(
            keys.iter().all(|k| !k.starts_with("k8s_")),
            "no pod label was given: {line}"
        );
    }
    let (_, metrics) = daemon.get("/metrics");
    assert!(!metrics.contains("sessionguard_pod_info"), "{metrics}");
    assert_eq!(daemon.get("/readyz").0, 503);
}

/// IRSA as the monitored session: aws-config's web identity provider exchanges the token file at
/// STS (moto), and the check line, identity and gauges are those of the web identity session.
#[tokio::test(flavor = "multi_thread")]
async fn irsa_is_the_monitored_session() {
    let moto = MotoServer::start(false);
    let dir = scratch("irsa-monitored");
    let token_file = dir.join("token");
    write_token(&token_file, "irsa-token-1");
    let mut env = base_env();
    set(&mut env, "AWS_ENDPOINT_URL_STS", &moto.url);
    set(
        &mut env,
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        token_file.to_str().unwrap(),
    );
    set(
        &mut env,
        "AWS_ROLE_ARN",
        "arn:aws:iam::123456789012:role/shop-api",
    );
    set(&mut env, "AWS_ROLE_SESSION_NAME", "shop-api");
    pod_env(&mut env);
    let daemon = Daemon::start(&env, &["run", "--interval", "1s"]).await;
    let line: Value = daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    assert_eq!(line["source"], "WebIdentityToken", "{line}");
    assert_eq!(line["k8s_namespace_name"], "shop", "{line}");
    assert!(
        line["role_arn"]
            .as_str()
            .is_some_and(|a| a.ends_with(":assumed-role/shop-api/shop-api")),
        "{line}"
    );
    // The SDKs ask web identity for 1 hour; nothing asks longer for the monitored session.
    let remaining = line["remaining_seconds"].as_i64().unwrap();
    assert!((3590..=3600).contains(&remaining), "{line}");
    daemon.wait_for_status("/readyz", 200).await;
    // aws-config's web identity provider has no cache: every check is a fresh session, so the
    // remaining time stays near an hour and each check after the first counts as a rotation.
    let second = daemon
        .wait_for_nth(2, |l| l["message"] == "credentials checked")
        .await;
    assert_eq!(second["rotated"], true, "{second}");
    let (_, metrics) = daemon.get("/metrics");
    assert!(
        sample(&metrics, "sessionguard_credentials_remaining_seconds").is_some(),
        "{metrics}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An EC2 instance metadata service on `127.0.0.1:0` as aws-config's IMDSv2 client reads it (a
/// session token, the instance profile's role name, its credentials), one connection at a time,
/// until the test process ends. Returns its base URL.
fn instance_metadata(expiration: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let credentials = serde_json::json!({
        "Code": "Success", "LastUpdated": "2026-12-06T10:00:00Z", "Type": "AWS-HMAC",
        "AccessKeyId": "ASIANODEROLEEXAMPLE1", "SecretAccessKey": "node-role-secret",
        "Token": "node-role-token", "Expiration": expiration,
    })
    .to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or_default();
            let (extra, body) = match path {
                "/latest/api/token" => (
                    "x-aws-ec2-metadata-token-ttl-seconds: 21600\r\n",
                    "imds-session-token".to_string(),
                ),
                "/latest/meta-data/iam/security-credentials/" => ("", "eks-node-role".to_string()),
                "/latest/meta-data/iam/security-credentials/eks-node-role" => {
                    ("", credentials.clone())
                }
                _ => ("", String::new()),
            };
            let status = if body.is_empty() {
                "404 Not Found"
            } else {
                "200 OK"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// On Kubernetes, credentials that come from the node's instance metadata are the node's role,
/// shared by every pod there: the check line is a WARN that says so and how to give the pod its own.
#[tokio::test(flavor = "multi_thread")]
async fn the_node_role_is_not_the_pod_role() {
    let expiration = sessionguard::clock::rfc3339(
        sessionguard::clock::system().now() + Duration::from_secs(6 * 3600),
    );
    let mut env = base_env();
    env.retain(|(k, _)| k != "AWS_EC2_METADATA_DISABLED");
    set(
        &mut env,
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        &instance_metadata(&expiration),
    );
    set(&mut env, "KUBERNETES_SERVICE_HOST", "10.100.0.1");
    let daemon = Daemon::start(&env, &["run", "--no-identity"]).await;
    let line = daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    assert_eq!(line["source"], "IMDSv2", "{line}");
    assert_eq!(line["level"], "WARN", "{line}");
    let warning = line["role_warning"].as_str().unwrap();
    assert!(
        warning.contains("the node's role") && warning.contains("Pod Identity association"),
        "{line}"
    );
    assert!(!daemon.output().contains("node-role-secret"));
}
