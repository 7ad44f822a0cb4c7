//! The first run, as README tells a newcomer to make it: its first command, and the presign
//! requests the demo then prints, pasted as printed.

use std::net::SocketAddr;

use serde_json::Value;

use crate::support::*;

/// README's first command, `cargo run -- ARGS   # comment`: the ARGS.
fn readme_first_command() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let line = readme
        .lines()
        .skip_while(|l| *l != "```sh")
        .nth(1)
        .expect("README opens with a sh block");
    let command = line.split(" #").next().unwrap();
    let args = command
        .strip_prefix("cargo run -- ")
        .unwrap_or_else(|| panic!("README's first command is not `cargo run -- ...`: {line}"));
    args.split_whitespace().map(str::to_string).collect()
}

/// A printed `curl -s -X POST http://ADDR/PATH -H '...' -d 'BODY'`: address, path and body.
fn parse_curl(line: &str) -> (SocketAddr, String, String) {
    let rest = line
        .trim()
        .strip_prefix("curl -s -X POST http://")
        .unwrap_or_else(|| panic!("not a printed presign request: {line}"));
    let (url, rest) = rest.split_once(' ').unwrap();
    let (host, path) = url.split_at(url.find('/').unwrap());
    assert_eq!(
        rest.split(" -d '").next().unwrap(),
        "-H 'content-type: application/json'",
        "{line}"
    );
    let body = rest
        .split_once(" -d '")
        .and_then(|(_, b)| b.strip_suffix('\''))
        .unwrap_or_else(|| panic!("no -d '...' body: {line}"));
    (host.parse().unwrap(), path.to_string(), body.to_string())
}

/// README's first command prints two presign requests; pasted as printed, the first is signed
/// (200, a URL) and the second refused (409 `session_too_short`), so the first impression shows
/// both answers rather than two refusals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_first_command_prints_a_signed_and_a_refused_presign() {
    let args = readme_first_command();
    assert_eq!(args.first().map(String::as_str), Some("demo"), "{args:?}");
    assert!(
        args.iter().any(|a| a == "--presign-allow"),
        "README's first command should let the demo presign: {args:?}"
    );
    // The same flags; only the port is the system's choice, through the variable `--listen`
    // reads, so the test never collides with a demo someone runs on 9780.
    let mut env = base_env();
    set(&mut env, "SESSIONGUARD_LISTEN", "127.0.0.1:0");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let daemon = Daemon::spawn(&env, &args).await;
    let text = daemon.wait_for_stderr("Stop with Ctrl-C.").await;

    let requests: Vec<_> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("curl -s -X POST "))
        .map(parse_curl)
        .collect();
    assert_eq!(requests.len(), 2, "{text}");
    let mut answers = Vec::new();
    for (addr, path, body) in &requests {
        assert_eq!(*addr, daemon.addr, "{text}");
        assert_eq!(path, "/v1/presign");
        let (status, answer) = http(
            *addr,
            "POST",
            path,
            &[("content-type", "application/json")],
            body,
        );
        let answer: Value = serde_json::from_str(&answer).unwrap();
        answers.push((status, answer));
    }
    let (signed, refused) = (&answers[0], &answers[1]);
    assert_eq!(signed.0, 200, "{}\n{text}", signed.1);
    assert!(
        signed.1["url"]
            .as_str()
            .unwrap()
            .starts_with("https://reports.s3.us-east-1.amazonaws.com/"),
        "{}",
        signed.1
    );
    assert_eq!(refused.0, 409, "{}\n{text}", refused.1);
    assert_eq!(refused.1["error"], "session_too_short", "{}", refused.1);
    // Each request is preceded by the reason for its answer.
    let comments: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("# "))
        .collect();
    assert!(
        comments[0].starts_with("# signed whenever you run it"),
        "{text}"
    );
    assert!(
        comments[1].starts_with("# refused with 409 session_too_short"),
        "{text}"
    );
    daemon.terminate();
}
