//! Abuse of the HTTP API: oversized heads, idle and slow connections, many concurrent clients.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::*;

/// Request heads over 16 KiB are refused with 431, and the daemon keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_get_431() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let daemon = Daemon::start(&aws_env(&endpoint), &["run"]).await;
    let big = "x".repeat(20 * 1024);
    let (status, _) = http(daemon.addr, "GET", "/healthz", &[("x-padding", &big)], "");
    assert_eq!(status, 431);
    assert_eq!(daemon.get("/healthz").0, 200);
}

/// 200 idle connections and 20 that trickle a header byte by byte do not starve `/healthz`; the
/// slow ones are cut off after the header read timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_do_not_starve_healthz() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let daemon = Daemon::start(&aws_env(&endpoint), &["run"]).await;
    let mut idle: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(daemon.addr).unwrap())
        .collect();
    let mut slow: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(daemon.addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    let started = Instant::now();
    let (status, _) = daemon.get("/healthz");
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "healthz took {:?}",
        started.elapsed()
    );
    // A trickling client is closed once the header read timeout (5 s) has passed.
    let stream = &mut slow[0];
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let cut_off = Instant::now();
    let mut buf = [0u8; 1024];
    // Blocks until the daemon gives up on the head: closed (0 bytes), reset, or a 408 first.
    let _ = stream
        .write_all(b"X-Slow: 1\r\n")
        .and_then(|_| stream.read(&mut buf));
    assert!(
        cut_off.elapsed() < Duration::from_secs(9),
        "slow client held {:?}",
        cut_off.elapsed()
    );
    assert_eq!(daemon.get("/healthz").0, 200);
    idle.clear();
    slow.clear();
}

/// 50 concurrent clients mixing valid and invalid presign requests: every valid one is signed,
/// every invalid one refused with a 4xx, never a 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_clients() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let daemon = Daemon::start(
        &aws_env(&endpoint),
        &["run", "--presign-allow", "GET,PUT:scratch"],
    )
    .await;
    daemon
        .wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    let addr = daemon.addr;
    let workers: Vec<_> = (0..50)
        .map(|i| {
            std::thread::spawn(move || {
                let mut outcomes = Vec::new();
                for j in 0..10 {
                    let (body, want_ok) = match (i + j) % 5 {
                        0 => (format!(r#"{{"bucket":"scratch","key":"c{i}/{j}","expires_in":60}}"#), true),
                        1 => (format!(r#"{{"bucket":"scratch","key":"c{i}/{j}","method":"PUT","expires_in":"5m","content_type":"text/plain"}}"#), true),
                        2 => (r#"{"bucket":"scratch","key":"k","expires_in":0}"#.to_string(), false),
                        3 => (r#"{"bucket":"other","key":"k","expires_in":60}"#.to_string(), false),
                        _ => ("{not json".to_string(), false),
                    };
                    let (status, text) = http(addr, "POST", "/v1/presign", &[("content-type", "application/json")], &body);
                    outcomes.push((want_ok, status, text));
                }
                outcomes
            })
        })
        .collect();
    let mut issued = 0;
    for worker in workers {
        for (want_ok, status, text) in worker.join().unwrap() {
            assert!(status < 500, "{status}: {text}");
            if want_ok {
                assert_eq!(status, 200, "{text}");
                issued += 1;
            } else {
                assert!((400..500).contains(&status), "{status}: {text}");
            }
        }
    }
    assert_eq!(issued, 200);
    let (_, metrics) = daemon.get("/metrics");
    assert_eq!(
        sample(
            &metrics,
            "sessionguard_presign_requests_total{result=\"issued\"}"
        ),
        Some(200.0)
    );
    assert_eq!(daemon.get("/healthz").0, 200);
}
