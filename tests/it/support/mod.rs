//! Test helpers: an ECS credentials endpoint on `127.0.0.1:0`, the real binary in an isolated
//! environment, its log lines, and plain HTTP/1.1 requests to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sessionguard::demo::endpoint::{EcsEndpoint, Options};

mod proxies;
mod servers;

pub use proxies::*;
pub use servers::*;

/// How long a test waits for something the daemon should do within a few intervals.
pub const WAIT: Duration = Duration::from_secs(15);

/// The token the test endpoint requires, as ECS/EKS would hand it to the container.
pub const TOKEN: &str = "test-authorization-token";

/// Starts an endpoint issuing sessions of `session` on loopback, requiring [`TOKEN`].
pub async fn endpoint(session: Duration) -> EcsEndpoint {
    endpoint_with(Options::new(session)).await
}

pub async fn endpoint_with(options: Options) -> EcsEndpoint {
    start_endpoint("127.0.0.1:0".parse().unwrap(), options).await
}

/// An endpoint on a given loopback address (a restart on the same port).
pub async fn endpoint_on(addr: SocketAddr, session: Duration) -> EcsEndpoint {
    start_endpoint(addr, Options::new(session)).await
}

async fn start_endpoint(addr: SocketAddr, mut options: Options) -> EcsEndpoint {
    options.token.get_or_insert_with(|| TOKEN.to_string());
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    EcsEndpoint::start(listener, options, sessionguard::clock::system()).unwrap()
}

/// An address nothing listens on (bound, then released).
pub fn closed_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The environment a daemon gets: nothing from the machine running the tests, the container
/// endpoint and STS of `endpoint`, no instance metadata, no profile files.
pub fn aws_env(endpoint: &EcsEndpoint) -> Vec<(String, String)> {
    let mut env = base_env();
    env.push((
        "AWS_CONTAINER_CREDENTIALS_FULL_URI".into(),
        endpoint.credentials_uri(),
    ));
    env.push(("AWS_CONTAINER_AUTHORIZATION_TOKEN".into(), TOKEN.into()));
    env.push(("AWS_ENDPOINT_URL_STS".into(), endpoint.sts_uri()));
    env
}

/// Isolation without any credential source.
pub fn base_env() -> Vec<(String, String)> {
    [
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("HOME", "/nonexistent"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Sets one variable in an env list, replacing an earlier value.
pub fn set(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    env.retain(|(k, _)| k != key);
    env.push((key.into(), value.into()));
}

/// The binary under test with a cleared environment.
pub fn command(env: &[(String, String)], args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sessionguard"));
    cmd.env_clear().envs(env.iter().cloned()).args(args);
    cmd
}

/// Output of a one-shot command.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a one-shot command (`status`, a bad flag) to completion.
pub async fn run_once(env: &[(String, String)], args: &[&str]) -> Output {
    let mut cmd = command(env, args);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    Output {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

#[derive(Default)]
struct Captured {
    stdout: Vec<String>,
    stderr: String,
}

/// A running daemon; killed (by its PID, through `Child`) when dropped.
pub struct Daemon {
    child: Child,
    captured: Arc<(Mutex<Captured>, Condvar)>,
    pub addr: SocketAddr,
}

impl Daemon {
    /// Starts `sessionguard <args> --log-format json --listen 127.0.0.1:0` and waits for its
    /// `sessionguard started` line to learn the address.
    pub async fn start(env: &[(String, String)], args: &[&str]) -> Daemon {
        let mut all = args.to_vec();
        all.extend(["--log-format", "json", "--listen", "127.0.0.1:0"]);
        Self::spawn(env, &all).await
    }

    /// Starts the binary with exactly `args`.
    pub async fn spawn(env: &[(String, String)], args: &[&str]) -> Daemon {
        let mut daemon = Self::spawn_child(env, args);
        let started = daemon
            .wait_for_line(|l| l["message"] == "sessionguard started")
            .await;
        daemon.addr = started["listen"].as_str().unwrap().parse().unwrap();
        daemon
    }

    /// Like [`Daemon::start`], without waiting for the `sessionguard started` line: for a daemon
    /// that may exit before or right after it. `addr` stays `0.0.0.0:0`.
    pub fn launch(env: &[(String, String)], args: &[&str]) -> Daemon {
        let mut all = args.to_vec();
        all.extend(["--log-format", "json", "--listen", "127.0.0.1:0"]);
        Self::spawn_child(env, &all)
    }

    /// Starts the binary with exactly `args` and waits for nothing: for a process that is not the
    /// daemon (`rotate-keys`, served through the Lambda runtime API). `addr` stays `0.0.0.0:0`.
    pub fn launch_exact(env: &[(String, String)], args: &[&str]) -> Daemon {
        Self::spawn_child(env, args)
    }

    fn spawn_child(env: &[(String, String)], args: &[&str]) -> Daemon {
        Self::from_command(command(env, args))
    }

    /// Runs `cmd` (the binary, or a container of the image) with its output captured.
    pub fn from_command(mut cmd: Command) -> Daemon {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let captured = Arc::new((Mutex::new(Captured::default()), Condvar::new()));
        let stdout = child.stdout.take().unwrap();
        let sink = captured.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.0.lock().unwrap().stdout.push(line);
                sink.1.notify_all();
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let sink = captured.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.0
                    .lock()
                    .unwrap()
                    .stderr
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
                sink.1.notify_all();
            }
        });
        Daemon {
            child,
            captured,
            addr: "0.0.0.0:0".parse().unwrap(),
        }
    }

    /// Every stdout line so far, parsed as JSON (a non-JSON line fails the test).
    pub fn lines(&self) -> Vec<Value> {
        self.captured
            .0
            .lock()
            .unwrap()
            .stdout
            .iter()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))
            })
            .collect()
    }

    /// Everything written so far, stdout and stderr.
    pub fn output(&self) -> String {
        let c = self.captured.0.lock().unwrap();
        format!("{}\n{}", c.stdout.join("\n"), c.stderr)
    }

    /// Lines whose message is `message`.
    pub fn lines_with(&self, message: &str) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|l| l["message"] == message)
            .collect()
    }

    /// Waits until a line matches; fails the test after [`WAIT`].
    pub async fn wait_for_line(&self, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_nth(1, pred).await
    }

    /// How many lines were written so far: a mark for [`Daemon::wait_for_line_after`].
    pub fn mark(&self) -> usize {
        self.captured.0.lock().unwrap().stdout.len()
    }

    /// Waits for a matching line written after `mark`.
    pub async fn wait_for_line_after(&self, mark: usize, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for(mark, 1, pred).await
    }

    /// Waits until `n` lines written after `mark` match and returns the n-th.
    pub async fn wait_for_nth_after(
        &self,
        mark: usize,
        n: usize,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        self.wait_for(mark, n, pred).await
    }

    /// Waits until `n` lines match and returns the n-th.
    pub async fn wait_for_nth(&self, n: usize, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for(0, n, pred).await
    }

    async fn wait_for(&self, skip: usize, n: usize, pred: impl Fn(&Value) -> bool) -> Value {
        let found = self.wait_until(|c| {
            let matches: Vec<Value> = c
                .stdout
                .iter()
                .skip(skip)
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|v| pred(v))
                .collect();
            matches.get(n.wrapping_sub(1)).cloned()
        });
        found.unwrap_or_else(|| {
            panic!(
                "no matching line within {WAIT:?}; output:\n{}",
                self.output()
            )
        })
    }

    /// Waits until stderr contains `needle` and returns all of stderr; fails the test after
    /// [`WAIT`].
    pub async fn wait_for_stderr(&self, needle: &str) -> String {
        let found = self.wait_until(|c| c.stderr.contains(needle).then(|| c.stderr.clone()));
        found.unwrap_or_else(|| {
            panic!(
                "stderr never said {needle:?} within {WAIT:?}; output:\n{}",
                self.output()
            )
        })
    }

    /// What `found` finds in the output, waiting for each new line until [`WAIT`] has passed.
    fn wait_until<T>(&self, found: impl Fn(&Captured) -> Option<T>) -> Option<T> {
        let captured = self.captured.clone();
        let deadline = Instant::now() + WAIT;
        tokio::task::block_in_place(|| {
            let mut guard = captured.0.lock().unwrap();
            loop {
                if let Some(t) = found(&guard) {
                    return Some(t);
                }
                let now = Instant::now();
                if now >= deadline {
                    return None;
                }
                guard = captured.1.wait_timeout(guard, deadline - now).unwrap().0;
            }
        })
    }

    /// GET `path` on the API listener.
    pub fn get(&self, path: &str) -> (u16, String) {
        http(self.addr, "GET", path, &[], "")
    }

    /// Polls `path` until its status is `want`; fails the test after [`WAIT`].
    pub async fn wait_for_status(&self, path: &str, want: u16) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let (status, body) = self.get(path);
            if status == want {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{path} still {status}, not {want}: {body}\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM to the daemon (by its PID).
    pub fn terminate(&self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on the PID of a child this test started and has not reaped.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    }

    /// Waits for the process to exit, up to `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request with `Connection: close`; returns status and body.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    try_http(addr, method, path, headers, body).unwrap_or_else(|e| panic!("{e}"))
}

/// [`http`] that reports a refused or dropped connection (a handler that panicked closes it with
/// no answer) as an error instead of failing the test.
pub fn try_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String), String> {
    try_http_full(addr, method, path, headers, body).map(|(status, _, body)| (status, body))
}

/// [`try_http`] with the response head (status line and headers) too.
pub fn try_http_full(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String, String), String> {
    let fail = |e: std::io::Error| format!("{method} {path} on {addr}: {e}");
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(fail)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(fail)?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).map_err(fail)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(fail)?;
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{method} {path} on {addr}: no status line in {text:?}"))?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Ok((status, head.to_string(), body.to_string()))
}

/// POSTs `body` as JSON to `path` and returns the status and the JSON answer (every answer of the
/// API is JSON; anything else fails the test).
pub fn post_json(addr: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let (status, text) = http(
        addr,
        "POST",
        path,
        &[("content-type", "application/json")],
        &body.to_string(),
    );
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, value)
}

/// The address and the path (with its query) of an `http://` URL on loopback; tests talk to
/// nothing else.
fn loopback(url: &str) -> (SocketAddr, &str) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr: SocketAddr = host.parse().expect("a loopback IP:PORT host");
    assert!(
        addr.ip().is_loopback(),
        "tests only talk to loopback: {url}"
    );
    (addr, path)
}

/// Now, as the daemon's clock reads it.
pub fn now() -> std::time::SystemTime {
    sessionguard::clock::system().now()
}

/// `promtool check metrics` (Debian's `prometheus` package) finds nothing to say about `metrics`.
pub fn promtool_accepts(metrics: &str) {
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool not found: run the README test command (scripts/test.sh), which installs Debian's prometheus package");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n{metrics}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh directory for one test's files.
pub fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sessionguard-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Replaces a token file the way the kubelet does (a new file renamed over the old one), with no
/// trailing newline.
pub fn write_token(path: &std::path::Path, token: &str) {
    let next = path.with_extension("next");
    std::fs::write(&next, token).unwrap();
    std::fs::rename(&next, path).unwrap();
}

/// The value of one sample in a Prometheus text exposition (`name` may include labels).
pub fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            l.strip_prefix(name).is_some_and(|rest| {
                rest.starts_with(' ') || (rest.starts_with('{') && !name.contains('{'))
            })
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Seconds from RFC 3339 `a` to `b`.
pub fn seconds_between(a: &str, b: &str) -> f64 {
    let a = humantime::parse_rfc3339(a).unwrap();
    let b = humantime::parse_rfc3339(b).unwrap();
    match b.duration_since(a) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// Sends `method` to a full `http://127.0.0.1:PORT/...` URL (a presigned URL), as a plain HTTP
/// client would: the path and query exactly as given.
pub fn http_url(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let (addr, path) = loopback(url);
    http(addr, method, path, headers, body)
}

/// [`http_url`] with the response's headers, names lowercase.
pub fn http_url_full(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let (addr, path) = loopback(url);
    let (status, head, body) =
        try_http_full(addr, method, path, headers, body).unwrap_or_else(|e| panic!("{e}"));
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body)
}

/// An answer with its headers (names lowercased), for tests that check what S3 answered.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `method` to a loopback URL with exactly `headers` (a `Content-Length` is added only when
/// they carry none), as a client following a presign response would, and returns the whole
/// answer.
pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let (addr, path) = loopback(url);
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {url}: no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}
