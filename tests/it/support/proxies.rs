//! Loopback proxies in front of AWS endpoints: one that delays every answer, one that fails the
//! calls a test names, as a slow or failing AWS would.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
