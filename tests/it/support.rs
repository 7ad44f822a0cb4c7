//! Test helpers: an ECS credentials endpoint on `127.0.0.1:0`, the real binary in an isolated
//! environment, its log lines, and plain HTTP/1.1 requests to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sessionguard::demo::endpoint::{EcsEndpoint, Options};

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
        let captured = self.captured.clone();
        let deadline = Instant::now() + WAIT;
        let found = tokio::task::block_in_place(|| {
            let mut guard = captured.0.lock().unwrap();
            loop {
                let matches: Vec<Value> = guard
                    .stdout
                    .iter()
                    .skip(skip)
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .filter(|v| pred(v))
                    .collect();
                if matches.len() >= n {
                    return Some(matches[n - 1].clone());
                }
                let now = Instant::now();
                if now >= deadline {
                    return None;
                }
                guard = captured.1.wait_timeout(guard, deadline - now).unwrap().0;
            }
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
        let captured = self.captured.clone();
        let deadline = Instant::now() + WAIT;
        let found = tokio::task::block_in_place(|| {
            let mut guard = captured.0.lock().unwrap();
            loop {
                if guard.stderr.contains(needle) {
                    return Some(guard.stderr.clone());
                }
                let now = Instant::now();
                if now >= deadline {
                    return None;
                }
                guard = captured.1.wait_timeout(guard, deadline - now).unwrap().0;
            }
        });
        found.unwrap_or_else(|| {
            panic!(
                "stderr never said {needle:?} within {WAIT:?}; output:\n{}",
                self.output()
            )
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

/// A loopback HTTP/1.1 proxy in front of `target` that holds every answer for `delay`, as a slow
/// AWS endpoint would. Each request gets a fresh upstream connection and the answer goes back with
/// `Connection: close`, so keep-alive never bypasses the delay. Stops accepting when dropped.
pub struct DelayProxy {
    pub addr: SocketAddr,
    forwarded: Arc<std::sync::atomic::AtomicUsize>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl DelayProxy {
    pub fn start(target: SocketAddr, delay: Duration) -> DelayProxy {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let forwarded = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopped) = (forwarded.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let count = count.clone();
                std::thread::spawn(move || {
                    if forward(stream, target, delay).is_ok() {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        DelayProxy {
            addr,
            forwarded,
            stop,
        }
    }

    /// The value for an `AWS_ENDPOINT_URL_*` variable.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests answered so far.
    pub fn forwarded(&self) -> usize {
        self.forwarded.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// A loopback HTTP/1.1 proxy in front of an AWS endpoint (moto) that answers chosen requests with
/// a 500 instead of forwarding them, as a failing AWS service would. A request is named by its
/// action: the operation of `X-Amz-Target` (`secretsmanager.PutSecretValue`: the JSON protocol of
/// Secrets Manager) or the `Action` form field (`Action=CreateAccessKey`: the query protocol of
/// IAM and STS). One request per connection, answered with `Connection: close`, as
/// [`DelayProxy`]. Stops accepting when dropped.
pub struct FaultProxy {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Faults>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Default)]
struct Faults {
    /// (action, requests of it still let through, requests of it still failed).
    armed: Vec<(String, usize, usize)>,
    /// Every request's action, in order, and whether it was failed.
    seen: Vec<(String, bool)>,
}

impl FaultProxy {
    pub fn start(target: SocketAddr) -> FaultProxy {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Mutex::new(Faults::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (faults, stopped) = (shared.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let faults = faults.clone();
                std::thread::spawn(move || {
                    let _ = forward_or_fail(stream, target, &faults);
                });
            }
        });
        FaultProxy { addr, shared, stop }
    }

    /// Lets the next `after` requests of `action` through, then fails the `times` after them.
    pub fn fail(&self, action: &str, after: usize, times: usize) {
        self.shared
            .lock()
            .unwrap()
            .armed
            .push((action.to_string(), after, times));
    }

    /// Disarms every fault not yet spent.
    pub fn clear(&self) {
        self.shared.lock().unwrap().armed.clear();
    }

    /// The actions of every request so far, in order.
    pub fn actions(&self) -> Vec<String> {
        let f = self.shared.lock().unwrap();
        f.seen.iter().map(|(a, _)| a.clone()).collect()
    }

    /// The actions of the requests answered with an injected 500, in order.
    pub fn failed(&self) -> Vec<String> {
        let f = self.shared.lock().unwrap();
        f.seen
            .iter()
            .filter(|(_, failed)| *failed)
            .map(|(a, _)| a.clone())
            .collect()
    }

    /// The value for an `AWS_ENDPOINT_URL_*` variable.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// The action a request to an AWS endpoint names: `X-Amz-Target`'s operation, else the `Action`
/// form field; empty when neither.
fn aws_action(request: &[u8]) -> String {
    let Some(head_end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
        return String::new();
    };
    let head = String::from_utf8_lossy(&request[..head_end]);
    let target = head.split("\r\n").find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("x-amz-target")
            .then(|| value.trim().to_string())
    });
    if let Some(target) = target {
        return target.rsplit('.').next().unwrap_or_default().to_string();
    }
    form_urlencoded::parse(&request[head_end + 4..])
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// One request: failed with a 500 when a fault is armed for its action, else forwarded.
fn forward_or_fail(
    mut client: TcpStream,
    target: SocketAddr,
    faults: &Mutex<Faults>,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    let request = read_request(&mut client)?;
    let action = aws_action(&request);
    let json = request
        .windows(13)
        .any(|w| w.eq_ignore_ascii_case(b"x-amz-target:"));
    let fail = {
        let mut f = faults.lock().unwrap();
        let fail = match f
            .armed
            .iter_mut()
            .find(|(a, _, times)| *a == action && *times > 0)
        {
            Some((_, after, _)) if *after > 0 => {
                *after -= 1;
                false
            }
            Some((_, _, times)) => {
                *times -= 1;
                true
            }
            None => false,
        };
        f.seen.push((action.clone(), fail));
        fail
    };
    if !fail {
        let mut upstream = TcpStream::connect_timeout(&target, Duration::from_secs(5))?;
        upstream.set_read_timeout(Some(Duration::from_secs(10)))?;
        upstream.write_all(&connection_close(&request))?;
        let mut response = Vec::new();
        upstream.read_to_end(&mut response)?;
        client.write_all(&connection_close(&response))?;
        return client.shutdown(std::net::Shutdown::Both);
    }
    let message = format!("injected failure of {action}");
    let (content_type, body) = if json {
        (
            "application/x-amz-json-1.1",
            format!(r#"{{"__type":"InternalServiceError","message":"{message}"}}"#),
        )
    } else {
        (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceFailure</Code><Message>{message}</Message></Error><RequestId>injected</RequestId></ErrorResponse>"
            ),
        )
    };
    let answer = format!(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    client.write_all(answer.as_bytes())?;
    client.shutdown(std::net::Shutdown::Both)
}

/// One request from `client` to `target` and its answer back, `delay` later.
fn forward(mut client: TcpStream, target: SocketAddr, delay: Duration) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    let request = read_request(&mut client)?;
    let mut upstream = TcpStream::connect_timeout(&target, Duration::from_secs(5))?;
    upstream.set_read_timeout(Some(Duration::from_secs(10)))?;
    upstream.write_all(&connection_close(&request))?;
    let mut response = Vec::new();
    upstream.read_to_end(&mut response)?;
    std::thread::sleep(delay);
    client.write_all(&connection_close(&response))?;
    client.shutdown(std::net::Shutdown::Both)
}

/// Reads one request: the head, then `Content-Length` bytes of body.
fn read_request(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        data.extend_from_slice(&buf[..n]);
    }
    Ok(data)
}

/// `message` with its `Connection` and `Keep-Alive` headers replaced by `Connection: close`.
fn connection_close(message: &[u8]) -> Vec<u8> {
    let Some(head_end) = message.windows(4).position(|w| w == b"\r\n\r\n") else {
        return message.to_vec();
    };
    let head = String::from_utf8_lossy(&message[..head_end]);
    let mut out = String::new();
    for line in head.split("\r\n") {
        let name = line.split(':').next().unwrap_or_default().trim();
        if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&message[head_end + 4..]);
    bytes
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
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr: SocketAddr = host.parse().expect("a loopback IP:PORT host");
    assert!(
        addr.ip().is_loopback(),
        "tests only talk to loopback: {url}"
    );
    http(addr, method, path, headers, body)
}

/// [`http_url`] with the response's headers, names lowercase.
pub fn http_url_full(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr: SocketAddr = host.parse().expect("a loopback IP:PORT host");
    assert!(
        addr.ip().is_loopback(),
        "tests only talk to loopback: {url}"
    );
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
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr: SocketAddr = host.parse().expect("a loopback IP:PORT host");
    assert!(
        addr.ip().is_loopback(),
        "tests only talk to loopback: {url}"
    );
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
