//! The built image, run as ECS and Lambda run it: `podman run` of `$SESSIONGUARD_IMAGE` (built
//! from the unchanged `Dockerfile` by `scripts/test-image.sh`), with the container definition of
//! `task-definition.json` and the function of `deploy/cloudformation/presigner.yaml`.
//!
//! These tests are `#[ignore]`d in a plain `cargo test`: they need the image and a network
//! namespace of their own. `scripts/test-image.sh` runs them with `--ignored` inside `unshare -n`,
//! where loopback also carries ECS's `169.254.170.2`: the test's ECS endpoint listens there on port
//! 80 and the container finds it through `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, exactly the
//! production path. Containers share that namespace (`--network host`), so the image's fixed ports
//! (9780, 9781) are the tests' alone; they run one at a time (`--test-threads 1`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sessionguard::demo::endpoint::{
    CREDENTIALS_PATH, EcsEndpoint, Fault, METADATA_PATH, Options, STS_PATH,
};

use crate::lambda::{Function, RuntimeApi, lambda_env};
use crate::presign::presign;
use crate::rotation::{Aws, assert_no_secrets, function_env, new_token, run_steps};
use crate::support::*;

/// ECS's credentials and task metadata address, a local address of the test's namespace.
const ECS_AGENT: &str = "169.254.170.2:80";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The image under test; the tests fail (never pass) without it.
fn image() -> String {
    std::env::var("SESSIONGUARD_IMAGE")
        .expect("SESSIONGUARD_IMAGE names the image to run; scripts/test-image.sh builds it")
}

fn podman() -> Command {
    Command::new("podman")
}

/// A container of the image, removed (by name) when dropped, whatever the test did.
struct Container {
    name: String,
}

impl Container {
    /// `podman run --rm --network host <flags> -e K=V... IMAGE <args>`, attached: the container's
    /// stdout and stderr are the returned process's.
    fn run(
        name: &str,
        flags: &[String],
        env: &[(String, String)],
        args: &[&str],
    ) -> (Container, Daemon) {
        let name = format!("sessionguard-test-{name}-{}", std::process::id());
        let _ = podman().args(["rm", "-f", "-t", "0", &name]).output();
        let mut cmd = podman();
        cmd.args(["run", "--rm", "--name", &name, "--network", "host"]);
        cmd.args(flags);
        for (k, v) in env {
            cmd.arg("-e").arg(format!("{k}={v}"));
        }
        cmd.arg(image()).args(args);
        (Container { name }, Daemon::from_command(cmd))
    }

    /// `podman healthcheck run`: the image's `HEALTHCHECK`, run once now (no systemd here to run
    /// its timer). True when it passed.
    fn healthy(&self) -> bool {
        let out = podman()
            .args(["healthcheck", "run", &self.name])
            .output()
            .unwrap();
        out.status.success()
    }

    /// Sends `signal` to the container's main process, as `docker stop` (ECS) does.
    fn kill(&self, signal: &str) {
        let out = podman()
            .args(["kill", "--signal", signal, &self.name])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman()
            .args(["rm", "-f", "-t", "0", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The `sessionguard` container of `task-definition.json`.
fn container_definition() -> Value {
    let text = std::fs::read_to_string(repo().join("task-definition.json")).unwrap();
    let td: Value = serde_json::from_str(&text).unwrap();
    td["containerDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "sessionguard")
        .cloned()
        .expect("a sessionguard container in task-definition.json")
}

/// What `docker run` gets from ECS for that container definition: a read-only root, the dropped
/// capabilities, the task definition's user (checked against the image's own `USER`).
fn ecs_flags(definition: &Value) -> Vec<String> {
    let mut flags = Vec::new();
    if definition["readonlyRootFilesystem"] == true {
        // ECS mounts nothing writable; podman's default tmpfs on /tmp would hide a write.
        flags.extend(["--read-only".into(), "--read-only-tmpfs=false".into()]);
    }
    for cap in definition["linuxParameters"]["capabilities"]["drop"]
        .as_array()
        .into_iter()
        .flatten()
    {
        flags.extend(["--cap-drop".into(), cap.as_str().unwrap().into()]);
    }
    flags
}

/// The container's environment as ECS makes it: the task definition's `environment`, the variables
/// the ECS agent adds (credentials and metadata at 169.254.170.2, the region), and the test's
/// S3 (s3s-fs) and STS (the endpoint's) in place of AWS's.
fn ecs_env(definition: &Value, s3: &S3Server) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for e in definition["environment"].as_array().unwrap() {
        set(
            &mut env,
            e["name"].as_str().unwrap(),
            e["value"].as_str().unwrap(),
        );
    }
    let region = env
        .iter()
        .find(|(k, _)| k == "AWS_REGION")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "us-east-1".into());
    for (k, v) in [
        (
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            CREDENTIALS_PATH.to_string(),
        ),
        (
            "ECS_CONTAINER_METADATA_URI_V4",
            format!("http://{ECS_AGENT}{METADATA_PATH}"),
        ),
        ("AWS_EXECUTION_ENV", "AWS_ECS_FARGATE".into()),
        ("AWS_DEFAULT_REGION", region),
        (
            "AWS_ENDPOINT_URL_STS",
            format!("http://{ECS_AGENT}{STS_PATH}"),
        ),
        ("AWS_ENDPOINT_URL_S3", s3.endpoint()),
        ("SESSIONGUARD_S3_FORCE_PATH_STYLE", "true".into()),
    ] {
        set(&mut env, k, &v);
    }
    env
}

/// The ECS agent's credentials endpoint at 169.254.170.2:80, handing out the S3 server's keys
/// (with a session token) for `session`. ECS checks no token on the relative URI.
async fn ecs_agent(session: Duration) -> EcsEndpoint {
    let listener = tokio::net::TcpListener::bind(ECS_AGENT)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot listen on {ECS_AGENT} ({e}): run these tests through scripts/test-image.sh"
            )
        });
    let mut options = Options::new(session);
    options.key_pair = Some((S3_ACCESS_KEY.into(), S3_SECRET_KEY.into()));
    EcsEndpoint::start(listener, options, sessionguard::clock::system()).unwrap()
}

/// The sidecar's container started as ECS starts it, once it has logged `sessionguard started`.
async fn sidecar(env: &[(String, String)]) -> (Container, Daemon) {
    let (container, mut daemon) =
        Container::run("sidecar", &ecs_flags(&container_definition()), env, &[]);
    let started = daemon
        .wait_for_line(|l| l["message"] == "sessionguard started")
        .await;
    daemon.addr = started["listen"].as_str().unwrap().parse().unwrap();
    (container, daemon)
}

/// The image, run as ECS runs the task definition's sidecar (its environment, user, read-only root
/// and dropped capabilities; credentials from 169.254.170.2), logs the check line, serves
/// `/metrics` and `/readyz`, signs a GET and a PUT that s3s-fs accepts, passes its `HEALTHCHECK`,
/// and exits 0 on SIGTERM within the task definition's `stopTimeout` (ECS's default, 30 s, when
/// unset).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs the built image: scripts/test-image.sh"]
async fn the_sidecar_runs_as_ecs_runs_the_task_definition() {
    let definition = container_definition();
    let user = String::from_utf8(
        podman()
            .args(["image", "inspect", "--format", "{{.Config.User}}", &image()])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(
        user.trim().split(':').next(),
        definition["user"].as_str(),
        "the task definition's user is the image's own"
    );
    let s3 = S3Server::start(&["reports", "uploads"]);
    std::fs::create_dir_all(s3.root.join("reports/exports")).unwrap();
    std::fs::write(
        s3.root.join("reports/exports/q3.csv"),
        "region,total\neu,42\n",
    )
    .unwrap();
    let agent = ecs_agent(Duration::from_secs(6 * 3600)).await;
    let (container, mut daemon) = sidecar(&ecs_env(&definition, &s3)).await;

    let check = daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    assert_eq!(check["source"], "EcsContainer", "{check}");
    assert_eq!(check["account"], "123456789012", "{check}");
    let remaining = check["remaining_seconds"].as_f64().unwrap();
    assert!(
        (6.0 * 3600.0 - 60.0..=6.0 * 3600.0).contains(&remaining),
        "{check}"
    );
    assert!(agent.credentials_requests() >= 1);
    assert!(
        check["_aws"]["CloudWatchMetrics"].is_array(),
        "EMF, as the task definition asks: {check}"
    );

    daemon.wait_for_status("/readyz", 200).await;
    let metrics_addr: SocketAddr = daemon.lines_with("sessionguard started")[0]["metrics_listen"]
        .as_str()
        .unwrap()
        .replace("0.0.0.0", "127.0.0.1")
        .parse()
        .unwrap();
    let (status, metrics) = http(metrics_addr, "GET", "/metrics", &[], "");
    assert_eq!(status, 200);
    let gauge = sample(&metrics, "sessionguard_credentials_remaining_seconds").expect(&metrics);
    assert!(gauge > 6.0 * 3600.0 - 120.0, "{gauge}");

    let (status, get) = presign(
        &daemon,
        &json!({"bucket": "reports", "key": "exports/q3.csv", "expires_in": "15m"}),
    );
    assert_eq!(status, 200, "{get}");
    let (status, body) = http_url("GET", get["url"].as_str().unwrap(), &[], "");
    assert_eq!((status, body.as_str()), (200, "region,total\neu,42\n"));
    let (status, put) = presign(
        &daemon,
        &json!({"bucket": "uploads", "key": "incoming/a.txt", "method": "PUT", "expires_in": "15m"}),
    );
    assert_eq!(status, 200, "{put}");
    let (status, body) = http_url("PUT", put["url"].as_str().unwrap(), &[], "hello");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        std::fs::read_to_string(s3.root.join("uploads/incoming/a.txt")).unwrap(),
        "hello"
    );

    assert!(
        container.healthy(),
        "HEALTHCHECK failed:\n{}",
        daemon.output()
    );

    let stop_timeout = definition["stopTimeout"].as_u64().unwrap_or(30);
    container.kill("TERM");
    let status = daemon.wait_exit(Duration::from_secs(stop_timeout)).await;
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "not exit 0 within {stop_timeout}s of SIGTERM:\n{}",
        daemon.output()
    );
}

/// The image's `HEALTHCHECK` fails while the daemon is not ready (the ECS agent answers 503
/// `CredentialsUninitialized`, as it does right after a task starts) and passes once credentials
/// come: ECS would replace a task whose sidecar never gets them, not one that is merely early.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs the built image: scripts/test-image.sh"]
async fn the_healthcheck_fails_until_the_daemon_is_ready() {
    let definition = container_definition();
    let s3 = S3Server::start(&["reports"]);
    let agent = ecs_agent(Duration::from_secs(6 * 3600)).await;
    agent.set_fault(Some(Fault::Status {
        status: 503,
        code: "CredentialsUninitialized".into(),
        message: "credentials not yet available".into(),
    }));
    let mut env = ecs_env(&definition, &s3);
    set(&mut env, "SESSIONGUARD_INTERVAL", "1s");
    let (container, daemon) = sidecar(&env).await;
    daemon
        .wait_for_line(|l| l["message"] == "credentials check failed")
        .await;
    assert_eq!(daemon.get("/readyz").0, 503);
    assert!(
        !container.healthy(),
        "HEALTHCHECK passed while /readyz is 503"
    );

    agent.set_fault(None);
    daemon.wait_for_status("/readyz", 200).await;
    assert!(
        container.healthy(),
        "HEALTHCHECK failed once ready:\n{}",
        daemon.output()
    );
}

/// A test CA and a certificate for `127.0.0.1` it signed: (CA PEM, leaf DER, leaf key DER).
fn test_ca() -> (String, Vec<u8>, Vec<u8>) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "sessionguard test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    (ca_cert.pem(), leaf.der().to_vec(), leaf_key.serialize_der())
}

/// A TLS front for `target` on `127.0.0.1:0` with the leaf certificate of [`test_ca`]: it ends TLS
/// and passes the bytes on, so the container speaks HTTPS to AWS's stand-in. Stops when dropped.
struct TlsFront {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TlsFront {
    async fn start(target: SocketAddr, cert: Vec<u8>, key: Vec<u8>) -> TlsFront {
        use tokio_rustls::rustls::{self, pki_types};
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![pki_types::CertificateDer::from(cert)],
                pki_types::PrivatePkcs8KeyDer::from(key).into(),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake: nothing to pass on.
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    if let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                    }
                });
            }
        });
        TlsFront { addr, task }
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// HTTPS to AWS from the image: the binary trusts the image's CA bundle
/// (`/etc/ssl/certs/ca-certificates.crt`, read through rustls-native-certs). With a test CA mounted
/// over that file, STS `GetCallerIdentity` over TLS succeeds and the check line names the account;
/// with the image's own bundle, which does not hold that CA, it fails with a certificate error on the
/// check line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs the built image: scripts/test-image.sh"]
async fn https_to_aws_trusts_the_images_ca_bundle() {
    let definition = container_definition();
    let s3 = S3Server::start(&["reports"]);
    let agent = ecs_agent(Duration::from_secs(6 * 3600)).await;
    let (ca, cert, key) = test_ca();
    let front = TlsFront::start(agent.addr(), cert, key).await;
    let dir = std::env::temp_dir().join(format!("sessionguard-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bundle: PathBuf = dir.join("ca-certificates.crt");
    std::fs::write(&bundle, ca).unwrap();
    let mut env = ecs_env(&definition, &s3);
    set(
        &mut env,
        "AWS_ENDPOINT_URL_STS",
        &format!("https://{}{STS_PATH}", front.addr),
    );

    let mut flags = ecs_flags(&definition);
    flags.extend([
        "-v".to_string(),
        format!("{}:/etc/ssl/certs/ca-certificates.crt:ro", bundle.display()),
    ]);
    let check = {
        let (_container, daemon) = Container::run("tls", &flags, &env, &[]);
        daemon
            .wait_for_line(|l| l["message"] == "credentials checked")
            .await
    };
    assert_eq!(check["account"], "123456789012", "{check}");
    assert!(check["identity_error"].is_null(), "{check}");

    let (_container, daemon) = sidecar(&env).await;
    let check = daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    let error = check["identity_error"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        error.contains("certificate"),
        "no certificate error: {check}"
    );
    assert!(check["account"].is_null(), "{check}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The function's definition in `deploy/cloudformation/presigner.yaml`: the command Lambda runs
/// (`ImageConfig.Command`, which replaces the image's `CMD`) and its environment.
fn rotation_function() -> (Vec<String>, Vec<(String, String)>) {
    let text =
        std::fs::read_to_string(repo().join("deploy/cloudformation/presigner.yaml")).unwrap();
    let template: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let properties = &template["Resources"]["RotationFunction"]["Properties"];
    let command = properties["ImageConfig"]["Command"]
        .as_sequence()
        .expect("ImageConfig.Command")
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let env = properties["Environment"]["Variables"]
        .as_mapping()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_string(),
                v.as_str().unwrap().to_string(),
            )
        })
        .collect();
    (command, env)
}

/// `rotate-keys` from the image as Lambda runs a container image: the template's command and
/// environment, a read-only root with only `/tmp` writable, an arbitrary non-root user, the
/// `AWS_LAMBDA_*` variables and the runtime API on loopback; the four steps of one rotation against
/// moto leave the new key `AWSCURRENT` and both keys active, and log no secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs the built image: scripts/test-image.sh"]
async fn rotate_keys_runs_as_lambda_runs_the_image() {
    let aws = Aws::start();
    let p = aws.presigner("presigner").await;
    let api = RuntimeApi::start().await;
    let (command, variables) = rotation_function();
    let mut env = function_env(&aws.moto.url, &[]);
    for (k, v) in variables.iter().cloned().chain(lambda_env(&api)) {
        set(&mut env, &k, &v);
    }
    let flags: Vec<String> = [
        "--read-only",
        "--read-only-tmpfs=false",
        "--tmpfs",
        "/tmp:rw,size=512m",
        "--user",
        "993:990",
        "--cap-drop",
        "ALL",
    ]
    .map(String::from)
    .into();
    let command: Vec<&str> = command.iter().map(String::as_str).collect();
    let (_container, process) = Container::run("rotate-keys", &flags, &env, &command);
    let f = Function { api, process };
    let token = new_token();
    run_steps(
        &f,
        &p,
        &token,
        &["createSecret", "setSecret", "testSecret", "finishSecret"],
    )
    .await;

    let stages = aws.stages(&p.arn).await;
    assert!(
        stages[&token].contains(&"AWSCURRENT".to_string()),
        "{stages:?}"
    );
    let current = aws.current(&p.arn).await;
    assert_ne!(current["AccessKeyId"], p.first_key.as_str());
    let keys = aws.keys(&p.user).await;
    assert_eq!(
        keys.values().collect::<Vec<_>>(),
        ["Active", "Active"],
        "{keys:?}"
    );
    let lines = f.step_lines(4).await;
    assert!(
        lines.iter().all(|l| l["message"] == "rotation step done"),
        "{lines:#?}"
    );
    assert_no_secrets(&f, &aws, &p).await;
}
