//! Real servers on loopback: s3s-fs (verifying SigV4 signatures and expiry) and moto's server
//! (STS, IAM, Secrets Manager), each stopped by its PID when dropped.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{closed_port, http};

/// A real S3-compatible server (s3s-fs) verifying SigV4 signatures and expiry, on loopback, with
/// one key pair. Killed (by PID, through `Child`) when dropped; its data directory removed.
pub struct S3Server {
    child: Child,
    pub root: std::path::PathBuf,
    pub addr: SocketAddr,
}

/// The key pair the S3 server accepts; the test ECS endpoint hands it out with a session token.
pub const S3_ACCESS_KEY: &str = "ASIAS3SFSTESTKEY0001";
pub const S3_SECRET_KEY: &str = "s3sFsTestSecretKeyCanary0123456789abcdef";

impl S3Server {
    /// Starts s3s-fs with `buckets` created. The binary comes from `$S3S_FS`, `PATH`, or where
    /// `scripts/test.sh` installs it.
    pub fn start(buckets: &[&str]) -> S3Server {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "sessionguard-s3-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&root);
        for bucket in buckets {
            std::fs::create_dir_all(root.join(bucket)).unwrap();
        }
        let binary = s3s_fs_binary();
        for _ in 0..5 {
            let addr = closed_port();
            let mut child = Command::new(&binary)
                .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
                .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
                .arg(&root)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    break; // lost the port race; try another
                }
                if TcpStream::connect(addr).is_ok() {
                    return S3Server { child, root, addr };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("s3s-fs did not start");
    }

    /// The value for `AWS_ENDPOINT_URL_S3`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn s3s_fs_binary() -> std::path::PathBuf {
    if let Some(path) = std::env::var_os("S3S_FS") {
        return path.into();
    }
    let installed = std::path::Path::new(&std::env::var("HOME").unwrap_or_default())
        .join(".cache/sessionguard/tools/bin/s3s-fs");
    if installed.exists() {
        return installed;
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("s3s-fs"))
                .find(|p| p.exists())
        })
        .expect(
            "s3s-fs not found: run scripts/test.sh, which installs s3s-fs 0.14.1, or set S3S_FS",
        )
}

/// moto's server (STS, Secrets Manager, ...) on `127.0.0.1:0`, from `tests/moto/moto_server.py`,
/// with the real-STS duration checks that script adds. Stopped (by PID) when dropped; it also
/// exits when its stdin pipe closes, so it never outlives the test process.
pub struct MotoServer {
    child: Child,
    pub url: String,
    pub addr: SocketAddr,
}

impl MotoServer {
    /// `chain_all`: every AssumeRole caller counts as role chaining (capped at 1 hour), as the
    /// task-role credentials of a real ECS task do.
    pub fn start(chain_all: bool) -> MotoServer {
        let python = std::env::var_os("MOTO_PYTHON")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-deploy/bin/python")
            });
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/moto/moto_server.py");
        let mut child = Command::new(&python)
            .arg(script)
            .env("MOTO_CHAIN_ALL", if chain_all { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} (moto): {e}; run scripts/test.sh, which creates .venv-deploy, or set MOTO_PYTHON",
                    python.display()
                )
            });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(url) = line
            .trim()
            .strip_prefix("listening on ")
            .map(str::to_string)
        else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("moto did not start: {line:?}");
        };
        let addr = url.trim_start_matches("http://").parse().unwrap();
        MotoServer { child, url, addr }
    }

    /// Every AssumeRole moto has answered (`/moto-api/data.json`: `sts.AssumedRole`).
    pub fn assumed_roles(&self) -> Vec<Value> {
        let (status, body) = http(self.addr, "GET", "/moto-api/data.json", &[], "");
        assert_eq!(status, 200, "{body}");
        let data: Value = serde_json::from_str(&body).unwrap();
        data["sts"]["AssumedRole"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The keys moto's clients set the test up with (moto accepts any).
    fn setup_credentials() -> aws_credential_types::Credentials {
        aws_credential_types::Credentials::new(
            "AKIATESTSETUP0000001",
            "test-setup-secret",
            None,
            None,
            "test",
        )
    }

    /// An IAM client for setting the test up.
    pub fn iam(&self) -> aws_sdk_iam::Client {
        let config = aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_types::region::Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(Self::setup_credentials())
            .build();
        aws_sdk_iam::Client::from_conf(config)
    }

    /// An STS client for setting the test up.
    pub fn sts(&self) -> aws_sdk_sts::Client {
        let config = aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_types::region::Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(Self::setup_credentials())
            .build();
        aws_sdk_sts::Client::from_conf(config)
    }

    /// A Secrets Manager client for setting the test up.
    pub fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        let config = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .region(aws_types::region::Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(Self::setup_credentials())
            .build();
        aws_sdk_secretsmanager::Client::from_conf(config)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
