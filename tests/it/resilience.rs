//! What a sidecar's surroundings cannot do to it: a stdout nobody reads, clients that trickle
//! their bodies or take every connection, and the audit trail of every presign answer.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;
use crate::trickle::Trickling;

/// A daemon whose stdout the test reads only when it chooses: the log driver's pipe, stalled.
struct StalledDaemon {
    child: Child,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
    /// Lines read so far.
    lines: Vec<Value>,
}

impl StalledDaemon {
    /// Starts `run` with `args` and reads its stdout up to `sessionguard started`, then stops.
    fn start(env: &[(String, String)], args: &[&str]) -> StalledDaemon {
        let mut all = args.to_vec();
        all.extend(["--log-format", "json", "--listen", "127.0.0.1:0"]);
        let mut child = command(env, &all)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut daemon = StalledDaemon {
            child,
            stdout,
            addr: "0.0.0.0:0".parse().unwrap(),
            lines: Vec::new(),
        };
        let started = daemon.read_until(|l| l["message"] == "sessionguard started");
        daemon.addr = started["listen"].as_str().unwrap().parse().unwrap();
        daemon
    }

    /// Reads stdout (unblocking the daemon's writer) until a line matches; returns it.
    fn read_until(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let mut line = String::new();
            let n = self.stdout.read_line(&mut line).unwrap();
            assert!(n > 0, "stdout closed before the line came");
            let value: Value = serde_json::from_str(&line).unwrap();
            self.lines.push(value.clone());
            if pred(&value) {
                return value;
            }
        }
    }

    /// Stops the daemon (SIGTERM) and reads the rest of stdout.
    fn stop_and_read_all(&mut self) {
        // SAFETY: kill(2) on the PID of a child this test started and has not reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        for line in rest.lines() {
            self.lines.push(serde_json::from_str(line).unwrap());
        }
        self.child.wait().unwrap();
    }

    fn count(&self, message: &str) -> usize {
        self.lines
            .iter()
            .filter(|l| l["message"] == message)
            .count()
    }

    fn metric(&self, name: &str) -> f64 {
        let (status, text) = http(self.addr, "GET", "/metrics", &[], "");
        assert_eq!(status, 200);
        sample(&text, name).unwrap_or_else(|| panic!("no {name} in\n{text}"))
    }
}

impl Drop for StalledDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const CHECKS_OK: &str = "sessionguard_credentials_checks_total{result=\"success\"}";
const DROPPED: &str = "sessionguard_log_lines_dropped_total";

/// With nobody reading stdout (the awslogs driver blocking while CloudWatch Logs throttles), 6,000
/// presign requests are all answered, `/healthz` and `/readyz` answer, checks go on; the request
/// lines beyond the queue are dropped and counted, and once stdout is read again every check line
/// is there, one line sums up the drops, and issued lines plus drops make every request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_stdout_stops_nothing() {
    const REQUESTS: usize = 6000;
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let mut env = aws_env(&endpoint);
    set(&mut env, "AWS_REGION", "us-east-1");
    let mut daemon = StalledDaemon::start(
        &env,
        &[
            "run",
            "--interval",
            "1s",
            "--no-identity",
            "--presign-allow",
            "GET:reports/",
        ],
    );
    let addr = daemon.addr;
    let body = json!({"bucket": "reports", "key": "exports/q3.csv", "expires_in": 60}).to_string();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let body = body.clone();
            std::thread::spawn(move || {
                for _ in 0..REQUESTS / 4 {
                    let (status, answer) = http(
                        addr,
                        "POST",
                        "/v1/presign",
                        &[("content-type", "application/json")],
                        &body,
                    );
                    assert_eq!(status, 200, "{answer}");
                }
            })
        })
        .collect();
    for w in workers {
        w.join()
            .expect("every presign answered while stdout is stalled");
    }
    assert_eq!(http(addr, "GET", "/healthz", &[], "").0, 200);
    assert_eq!(http(addr, "GET", "/readyz", &[], "").0, 200);
    let dropped = daemon.metric(DROPPED);
    assert!(dropped > 0.0, "6,000 lines fit a pipe nobody reads?");
    // The check loop does not wait for stdout either.
    let checks = daemon.metric(CHECKS_OK);
    let deadline = Instant::now() + WAIT;
    while daemon.metric(CHECKS_OK) < checks + 2.0 {
        assert!(Instant::now() < deadline, "checks stopped while stalled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let checks_while_stalled = daemon.metric(CHECKS_OK);

    let summary =
        daemon.read_until(|l| l["message"] == "log lines dropped: stdout was not read fast enough");
    assert_eq!(summary["level"], "WARN");
    let dropped_total = daemon.metric(DROPPED);
    daemon.stop_and_read_all();
    let summed: f64 = daemon
        .lines
        .iter()
        .filter(|l| l["message"] == summary["message"])
        .map(|l| l["dropped_lines"].as_f64().unwrap())
        .sum();
    assert_eq!(
        summed, dropped_total,
        "the summary lines add up to the metric"
    );
    assert_eq!(
        daemon.count("presign issued") as f64 + dropped_total,
        REQUESTS as f64,
        "a request's line is written or counted as dropped"
    );
    assert!(
        daemon.count("credentials checked") as f64 >= checks_while_stalled,
        "no check line is dropped: {} lines, {checks_while_stalled} checks",
        daemon.count("credentials checked")
    );
    assert_eq!(daemon.count("sessionguard stopped"), 1);
}

/// More clients than the daemon serves (its 256 connections and 16 reserved, and 8 more waiting
/// in the backlog) send a presign head and trickle its body at one byte a second. They take every
/// API connection; the health check, readiness and metrics still answer throughout, on the
/// reserved connections, where a presign is a 503 with `Retry-After`; each trickling client gets
/// README's 408 with the connection closed once its body is 5 s late (a client in the backlog
/// after at most one more 5 s, while the ones before it are cut off), and then presigning works
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_bodies_do_not_starve_health() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let mut env = aws_env(&endpoint);
    set(&mut env, "AWS_REGION", "us-east-1");
    let daemon = Daemon::start(
        &env,
        &["run", "--no-identity", "--presign-allow", "GET:reports/"],
    )
    .await;
    let (regular, reserved) = (256, 16);
    let head = format!(
        "POST /v1/presign HTTP/1.1\r\nHost: {}\r\ncontent-type: application/json\r\nContent-Length: 100\r\n\r\n",
        daemon.addr
    );
    let trickle = format!("{{{:99}", "");
    let clients = Trickling::start(daemon.addr, regular + reserved + 8, &head, &trickle);
    // The regular connections are all taken once the daemon has accepted the 256.
    let deadline = Instant::now() + WAIT;
    let body = json!({"bucket": "reports", "key": "a.csv", "expires_in": 60}).to_string();
    let overloaded = loop {
        let reply = send(
            "POST",
            &format!("http://{}/v1/presign", daemon.addr),
            &[("content-type", "application/json")],
            &body,
        );
        if reply.status == 503 {
            break reply;
        }
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(Instant::now() < deadline, "the 256 were never all accepted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let answer: Value = serde_json::from_str(&overloaded.body).unwrap();
    assert_eq!(answer["error"], "overloaded", "{answer}");
    crate::openapi::assert_documented("/v1/presign", "post", 503, &overloaded.body);
    assert_eq!(overloaded.header("retry-after"), Some("1"));
    // Health, readiness and metrics answer all along, until every client is cut off.
    let deadline = Instant::now() + WAIT * 2;
    while !clients.all_done() {
        for path in ["/healthz", "/readyz", "/metrics"] {
            let (status, text) = daemon.get(path);
            assert_eq!(status, 200, "{path} while the API is full: {text}");
        }
        assert!(Instant::now() < deadline, "{} cut off", clients.done());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, metrics) = daemon.get("/metrics");
    assert!(
        sample(
            &metrics,
            "sessionguard_presign_requests_total{result=\"overloaded\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    let mut late = 0;
    let mut bytes_before_408 = Vec::new();
    for seen in clients.results() {
        let answer = &seen.answer;
        if answer.starts_with("HTTP/1.1 503") {
            // A reserved connection: answered at once.
            assert!(answer.contains("overloaded"), "{answer}");
            continue;
        }
        assert!(answer.starts_with("HTTP/1.1 408"), "{seen:?}");
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{answer}"
        );
        let (_, text) = answer.split_once("\r\n\r\n").unwrap();
        crate::openapi::assert_documented("/v1/presign", "post", 408, text);
        late += 1;
        bytes_before_408.push(seen.bytes);
    }
    assert!(late >= regular, "{late} clients got a 408");
    // One byte a second: README's 5 s, and a second for the pace. The first 256 are served at
    // once; one in the backlog waits at most one more 5 s for a slot.
    bytes_before_408.sort_unstable();
    assert!(
        bytes_before_408[regular - 1] <= 5 + 1,
        "{bytes_before_408:?}"
    );
    assert!(
        bytes_before_408.iter().all(|&b| b <= 2 * (5 + 1)),
        "{bytes_before_408:?}"
    );
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, text) = http(
            daemon.addr,
            "POST",
            "/v1/presign",
            &[("content-type", "application/json")],
            &body,
        );
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{text}");
        assert!(Instant::now() < deadline, "the slots never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refusals: Vec<Value> = daemon
        .lines_with("presign refused")
        .into_iter()
        .filter(|l| l["status"] == 408)
        .collect();
    assert_eq!(refusals.len(), late, "each 408 is a logged refusal");
}

/// A batch of an allowed, a forbidden and a malformed request writes three lines (the forbidden
/// one with its bucket and key, for an audit of the log group), counts each by its result, and is
/// one observation of the duration histogram.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_batch_answer_is_logged_and_counted() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let mut env = aws_env(&endpoint);
    set(&mut env, "AWS_REGION", "us-east-1");
    let daemon = Daemon::start(
        &env,
        &["run", "--no-identity", "--presign-allow", "GET:reports/"],
    )
    .await;
    let batch = json!({"requests": [
        {"bucket": "reports", "key": "a.csv", "expires_in": 60},
        {"bucket": "payroll", "key": "salaries.csv", "expires_in": 60},
        {"bucket": "reports", "key": "b.csv", "expires": 60},
    ]});
    let (status, text) = http(
        daemon.addr,
        "POST",
        "/v1/presign/batch",
        &[("content-type", "application/json")],
        &batch.to_string(),
    );
    assert_eq!(status, 200, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    let statuses: Vec<u64> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 403, 400]);

    let forbidden = daemon
        .wait_for_line(|l| l["message"] == "presign refused" && l["reason"] == "forbidden")
        .await;
    assert_eq!(forbidden["bucket"], "payroll");
    assert_eq!(forbidden["key"], "salaries.csv");
    assert_eq!(forbidden["method"], "GET");
    assert_eq!(forbidden["status"], 403);
    let invalid = daemon
        .wait_for_line(|l| l["message"] == "presign refused" && l["reason"] == "invalid")
        .await;
    assert_eq!(invalid["status"], 400);
    assert_eq!(daemon.lines_with("presign issued").len(), 1);

    let (_, metrics) = daemon.get("/metrics");
    for (result, n) in [("issued", 1.0), ("forbidden", 1.0), ("invalid", 1.0)] {
        let name = format!("sessionguard_presign_requests_total{{result=\"{result}\"}}");
        assert_eq!(sample(&metrics, &name), Some(n), "{name}");
    }
    assert_eq!(
        sample(&metrics, "sessionguard_presign_duration_seconds_count"),
        Some(1.0),
        "one HTTP request, one observation"
    );
}
