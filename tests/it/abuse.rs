//! Abuse of the HTTP API: oversized heads, idle and slow connections, many concurrent clients.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::*;
use crate::trickle::Trickling;

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

/// More clients than the daemon serves (its 256 connections, 16 reserved and 8 more) trickle a
/// request head at one byte a second, beside 50 idle connections: `/healthz` answers throughout,
/// and each trickling client is cut off once README's 5 s for the head are over (a client in the
/// backlog after at most one more 5 s, while the ones before it are cut off).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_do_not_starve_healthz() {
    let endpoint = endpoint(Duration::from_secs(3600)).await;
    let daemon = Daemon::start(&aws_env(&endpoint), &["run"]).await;
    let idle_clients = 50;
    let idle: Vec<TcpStream> = (0..idle_clients)
        .map(|_| TcpStream::connect(daemon.addr).unwrap())
        .collect();
    let trickle = format!("X-Slow: {}\r\n", "a".repeat(64));
    let clients = Trickling::start(
        daemon.addr,
        256 + 16 + 8,
        "GET /healthz HTTP/1.1\r\nHost: x\r\n",
        &trickle,
    );
    let deadline = Instant::now() + WAIT * 2;
    let mut polls = 0;
    while !clients.all_done() {
        let (status, text) = daemon.get("/healthz");
        assert_eq!(status, 200, "{text}");
        polls += 1;
        assert!(Instant::now() < deadline, "{} cut off", clients.done());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(polls > 1, "healthz was asked while the clients trickled");
    let mut bytes: Vec<usize> = clients.results().iter().map(|seen| seen.bytes).collect();
    bytes.sort_unstable();
    // One byte a second: README's 5 s, and a second for the pace, for the ones served at once
    // (the idle connections hold the other slots, until their own 5 s are over); one in the
    // backlog waits at most one more 5 s for a slot.
    assert!(bytes[256 - idle_clients - 1] <= 5 + 1, "{bytes:?}");
    assert!(bytes.iter().all(|&b| b <= 2 * (5 + 1)), "{bytes:?}");
    assert_eq!(daemon.get("/healthz").0, 200);
    drop(idle);
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
