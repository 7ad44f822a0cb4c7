//! A local Lambda runtime API on `127.0.0.1:0`, and the real binary served through it as Lambda
//! runs a function: `sessionguard rotate-keys`, with the variables Lambda sets.
//!
//! The subset of the runtime API (`2018-06-01`) that `lambda_runtime` 1.x speaks, as this server
//! answers it:
//!
//! | request | answer |
//! |---|---|
//! | `GET /2018-06-01/runtime/invocation/next` | long-polled: held until an event is queued, then `200` with the event as the body and `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms` (now + 60 s, Unix milliseconds), `Lambda-Runtime-Invoked-Function-Arn`, `Lambda-Runtime-Trace-Id` |
//! | `POST /2018-06-01/runtime/invocation/{id}/response` | `202`; the body (JSON) is the invocation's result |
//! | `POST /2018-06-01/runtime/invocation/{id}/error` | `202`; the body (`{"errorType", "errorMessage"}`) is the invocation's failure |
//! | `POST /2018-06-01/runtime/init/error` | `202`; recorded: the function failed to start |
//! | anything else | `404` |
//!
//! `lambda_runtime`'s client keeps its connection alive and asks for the next event as soon as it
//! has answered one, so `next` waits without a timeout; the server is hyper's, on the test's
//! runtime, and goes with it. One server serves one function process: an event is handed to
//! whichever `next` is waiting, so a fresh process gets a fresh server ([`Function::start`]).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::support::{Daemon, now, set};

/// How long [`Function::invoke`] waits for an answer: more than the steps' own bounds (the SDK's
/// timeouts, `--test-timeout`), far less than a hung test.
pub const INVOKE_WAIT: Duration = Duration::from_secs(60);

/// What Lambda passes as `Lambda-Runtime-Deadline-Ms`: this long from now.
const DEADLINE: Duration = Duration::from_secs(60);

/// The function's name, as Lambda sets `AWS_LAMBDA_FUNCTION_NAME` and the invoked ARN.
pub const FUNCTION_NAME: &str = "sessionguard-rotate-keys";

const INVOKED_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:sessionguard-rotate-keys";

/// How an invocation ended.
#[derive(Debug, Clone)]
enum Outcome {
    Response(Value),
    Error(Value),
}

#[derive(Default)]
struct State {
    /// Events not yet handed to `next`: (request id, body).
    queue: VecDeque<(String, Value)>,
    outcomes: HashMap<String, Outcome>,
    init_errors: Vec<Value>,
    /// Request ids handed out, so an answer for an unknown id is a 404 as Lambda's.
    handed_out: Vec<String>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    queued: Notify,
    answered: Notify,
}

/// The runtime API server. Stops when dropped.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let state = shared.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(answer(&shared, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        RuntimeApi {
            addr,
            shared,
            server,
        }
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API`: host and port, no scheme.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    /// Queues `event` and waits up to `wait` for the function's answer: `Ok` with the response
    /// body, `Err` with the error body; `None` when nothing came.
    pub async fn invoke(&self, event: Value, wait: Duration) -> Option<Result<Value, Value>> {
        let id = request_id();
        {
            let mut state = self.shared.state.lock().unwrap();
            state.queue.push_back((id.clone(), event));
        }
        self.shared.queued.notify_waiters();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let answered = self.shared.answered.notified();
            tokio::pin!(answered);
            answered.as_mut().enable();
            if let Some(outcome) = self.shared.state.lock().unwrap().outcomes.remove(&id) {
                return Some(match outcome {
                    Outcome::Response(v) => Ok(v),
                    Outcome::Error(v) => Err(v),
                });
            }
            if tokio::time::timeout_at(deadline, answered).await.is_err() {
                return None;
            }
        }
    }

    /// Every `/runtime/init/error` body so far.
    pub fn init_errors(&self) -> Vec<Value> {
        self.shared.state.lock().unwrap().init_errors.clone()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The wall clock, through the crate's one allowed reader.
/// A request id as Lambda writes them (a UUID).
fn request_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("{:08x}-0000-4000-8000-{n:012x}", std::process::id())
}

async fn answer(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return reply(StatusCode::BAD_REQUEST, json!({"errorMessage": "body"})),
    };
    let parsed = || serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    let invocation = path
        .strip_prefix("/2018-06-01/runtime/invocation/")
        .and_then(|rest| rest.split_once('/'));
    match (&method, path.as_str(), invocation) {
        (&Method::GET, "/2018-06-01/runtime/invocation/next", _) => next(shared).await,
        (&Method::POST, "/2018-06-01/runtime/init/error", _) => {
            shared.state.lock().unwrap().init_errors.push(parsed());
            shared.answered.notify_waiters();
            reply(StatusCode::ACCEPTED, json!({"status": "OK"}))
        }
        (&Method::POST, _, Some((id, kind @ ("response" | "error")))) => {
            let mut state = shared.state.lock().unwrap();
            if !state.handed_out.iter().any(|h| h == id) {
                return reply(
                    StatusCode::NOT_FOUND,
                    json!({"errorType": "InvalidRequestID", "errorMessage": id}),
                );
            }
            let outcome = if kind == "response" {
                Outcome::Response(parsed())
            } else {
                Outcome::Error(parsed())
            };
            state.outcomes.insert(id.to_string(), outcome);
            drop(state);
            shared.answered.notify_waiters();
            reply(StatusCode::ACCEPTED, json!({"status": "OK"}))
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            json!({"errorType": "NotFound", "errorMessage": path}),
        ),
    }
}

/// The long poll: the first queued event, whenever it comes.
async fn next(shared: &Shared) -> Response<Full<Bytes>> {
    loop {
        let queued = shared.queued.notified();
        tokio::pin!(queued);
        queued.as_mut().enable();
        let event = {
            let mut state = shared.state.lock().unwrap();
            let event = state.queue.pop_front();
            if let Some((id, _)) = &event {
                state.handed_out.push(id.clone());
            }
            event
        };
        if let Some((id, event)) = event {
            let deadline = now() + DEADLINE;
            let deadline_ms = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis();
            return Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .header("lambda-runtime-aws-request-id", &id)
                .header("lambda-runtime-deadline-ms", deadline_ms.to_string())
                .header("lambda-runtime-invoked-function-arn", INVOKED_ARN)
                .header(
                    "lambda-runtime-trace-id",
                    format!("Root=1-00000000-{};Sampled=0", &id[id.len() - 12..]),
                )
                .body(Full::new(Bytes::from(event.to_string())))
                .unwrap();
        }
        queued.await;
    }
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// The variables Lambda sets for a function, pointing at `api`.
pub fn lambda_env(api: &RuntimeApi) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", api.host_port()),
        ("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME.to_string()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{FUNCTION_NAME}"),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/12/02/[$LATEST]0123456789abcdef".to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// One instance of the function: `sessionguard rotate-keys <args>` with `env` plus the Lambda
/// variables, served by its own [`RuntimeApi`]. The process is killed (by PID) when dropped.
pub struct Function {
    pub api: RuntimeApi,
    pub process: Daemon,
}

impl Function {
    pub async fn start(env: &[(String, String)], args: &[&str]) -> Function {
        let api = RuntimeApi::start().await;
        let mut env = env.to_vec();
        for (k, v) in lambda_env(&api) {
            set(&mut env, &k, &v);
        }
        let mut all = vec!["rotate-keys"];
        all.extend_from_slice(args);
        let process = Daemon::launch_exact(&env, &all);
        Function { api, process }
    }

    /// Invokes the function with a Secrets Manager rotation event, as Secrets Manager does:
    /// `Ok` with the response, `Err` with `{"errorType", "errorMessage"}`. Fails the test, with
    /// the function's output, when no answer comes within [`INVOKE_WAIT`].
    pub async fn invoke(&self, step: &str, secret_id: &str, token: &str) -> Result<Value, Value> {
        let event = json!({"SecretId": secret_id, "ClientRequestToken": token, "Step": step});
        match self.api.invoke(event, INVOKE_WAIT).await {
            Some(answer) => answer,
            None => panic!(
                "{step} got no answer within {INVOKE_WAIT:?}; init errors {:?}; output:\n{}",
                self.api.init_errors(),
                self.process.output()
            ),
        }
    }

    /// The function's `rotation step done` / `rotation step failed` lines, once there are at
    /// least `n` (the log is written apart from the answer, so it may trail it); fails the test
    /// after [`crate::support::WAIT`].
    pub async fn step_lines(&self, n: usize) -> Vec<Value> {
        let is_step = |l: &Value| {
            l["message"] == "rotation step done" || l["message"] == "rotation step failed"
        };
        if n > 0 {
            self.process.wait_for_nth(n, is_step).await;
        }
        self.process.lines().into_iter().filter(is_step).collect()
    }
}
