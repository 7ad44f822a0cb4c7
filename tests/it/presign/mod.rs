//! Guarded presigning against a real SigV4-verifying S3 server (s3s-fs): URLs that work, URLs the
//! session cannot cover refused or shortened, policy, bad requests, the CLI.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use sessionguard::demo::endpoint::{EcsEndpoint, Fault, Options};

use crate::support::*;

/// The default `--presign-margin`.
pub(crate) const MARGIN: u64 = 60;

pub(crate) async fn s3_endpoint(session: Duration) -> EcsEndpoint {
    let mut options = Options::new(session);
    options.key_pair = Some((S3_ACCESS_KEY.into(), S3_SECRET_KEY.into()));
    endpoint_with(options).await
}

pub(crate) fn env_for(endpoint: &EcsEndpoint, s3: &S3Server) -> Vec<(String, String)> {
    let mut env = aws_env(endpoint);
    set(&mut env, "AWS_ENDPOINT_URL_S3", &s3.endpoint());
    set(&mut env, "SESSIONGUARD_S3_FORCE_PATH_STYLE", "true");
    env
}

pub(crate) async fn daemon(env: &[(String, String)], allow: &str, extra: &[&str]) -> Daemon {
    let mut args = vec!["run", "--presign-allow", allow];
    args.extend_from_slice(extra);
    let d = Daemon::start(env, &args).await;
    d.wait_for_line(|l| l["message"] == "credentials checked")
        .await;
    d
}

pub(crate) fn presign(daemon: &Daemon, body: &Value) -> (u16, Value) {
    post_json(daemon.addr, "/v1/presign", body)
}

/// A URL's query parameter, percent-decoded.
pub(crate) fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Who signed a URL or a form: the access key id (what `X-Amz-Credential` holds before its first
/// `/`) and the session token, if it carries one. No `Debug`: the token is a secret.
pub(crate) struct Signer {
    pub(crate) access_key_id: String,
    pub(crate) session_token: Option<String>,
}

impl Signer {
    /// From a presigned URL's `X-Amz-Credential` and `X-Amz-Security-Token`.
    pub(crate) fn of_url(url: &str) -> Signer {
        let credential = query_param(url, "X-Amz-Credential")
            .unwrap_or_else(|| panic!("no X-Amz-Credential in {url}"));
        Signer::new(&credential, query_param(url, "X-Amz-Security-Token"))
    }

    /// From a form's `x-amz-credential` and `x-amz-security-token` fields.
    pub(crate) fn of_form(form: &Value) -> Signer {
        let fields = &form["fields"];
        let credential = fields["x-amz-credential"]
            .as_str()
            .unwrap_or_else(|| panic!("no x-amz-credential in {form}"));
        let token = fields["x-amz-security-token"].as_str().map(str::to_string);
        Signer::new(credential, token)
    }

    fn new(credential: &str, session_token: Option<String>) -> Signer {
        let (access_key_id, _scope) = credential.split_once('/').unwrap_or_else(|| {
            panic!("a credential is KEY/date/region/s3/aws4_request: {credential}")
        });
        Signer {
            access_key_id: access_key_id.to_string(),
            session_token,
        }
    }
}

/// What the test's credentials endpoint actually handed out with the signer's session (its
/// `Expiration`), never what the daemon says it signed with.
pub(crate) fn issued_by(endpoint: &EcsEndpoint) -> impl Fn(&Signer) -> Option<SystemTime> + '_ {
    |signer| endpoint.issued_expiry(&signer.access_key_id, signer.session_token.as_deref())
}

/// The promise: `X-Amz-Date + X-Amz-Expires <= credentials expiry - margin`, where the expiry is
/// what the credentials source `issued` for the URL's signing key, and the response's
/// `expires_at` says exactly when the URL stops working.
pub(crate) fn assert_honest(response: &Value, issued: impl Fn(&Signer) -> Option<SystemTime>) {
    let url = response["url"].as_str().unwrap();
    let date = query_param(url, "X-Amz-Date").expect("X-Amz-Date");
    let expires: u64 = query_param(url, "X-Amz-Expires").unwrap().parse().unwrap();
    let ends = amz_date(&date) + Duration::from_secs(expires);
    assert_eq!(
        humantime::format_rfc3339_seconds(ends).to_string(),
        response["expires_at"],
        "{response}"
    );
    assert_eq!(response["expires_in"], expires, "{response}");
    assert_within_session(ends, &Signer::of_url(url), issued, response);
}

/// `X-Amz-Date` (`20261201T220000Z`) as a time.
pub(crate) fn amz_date(date: &str) -> std::time::SystemTime {
    let text = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &date[0..4],
        &date[4..6],
        &date[6..8],
        &date[9..11],
        &date[11..13],
        &date[13..15]
    );
    humantime::parse_rfc3339(&text).unwrap()
}

/// What a response grants ends no later than the expiry its credentials source `issued` for the
/// `signer`, minus the margin; a key the source never issued fails the test.
pub(crate) fn assert_within_session(
    ends: SystemTime,
    signer: &Signer,
    issued: impl Fn(&Signer) -> Option<SystemTime>,
    response: &Value,
) {
    let Some(credentials_end) = issued(signer) else {
        panic!(
            "signed with {}, a session the credentials source never handed out: {response}",
            signer.access_key_id
        );
    };
    assert!(
        ends + Duration::from_secs(MARGIN) <= credentials_end,
        "outlives the issued session ({}) minus margin: {response}",
        sessionguard::clock::rfc3339(credentials_end)
    );
}

mod refusals;
mod urls;
