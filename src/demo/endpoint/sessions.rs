//! What the demo endpoint issues and what it remembers having handed out.
//!
//! [`Options`] say how sessions are issued; [`Issued`] is one session as issued. The endpoint's
//! shared state ([`Inner`]) keeps the session currently served, every access key it ever issued (so
//! STS answers only for those), and every answer that carried credentials with the `Expiration` the
//! answer said, read as a client reads it ([`parse_expiration`]), so a test holds each URL to what
//! was really handed out. Secrets never reach a `Debug` string.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Fault;
use crate::clock;

/// How sessions are issued.
#[derive(Clone)]
pub struct Options {
    /// Lifetime of each session.
    pub session: Duration,
    /// A new session is issued on the first request with less than this left.
    pub rotate_before: Duration,
    /// When set, requests must carry exactly this `Authorization` value.
    pub token: Option<String>,
    /// Fixed access key id and secret (for an S3 server that knows one key pair); random otherwise.
    pub key_pair: Option<(String, String)>,
    /// Fixed session token, with `key_pair`: a session an STS server issued (moto checks a
    /// session's token against its key), served as the ECS agent would; random otherwise.
    pub session_token: Option<String>,
}

impl Options {
    /// Sessions of `session`, rotated when a fifth of it is left, as the ECS agent does well before
    /// expiry.
    pub fn new(session: Duration) -> Self {
        Options {
            session,
            rotate_before: session / 5,
            token: None,
            key_pair: None,
            session_token: None,
        }
    }
}

/// By hand: the fixed secret key never reaches a `Debug` string.
impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("session", &self.session)
            .field("rotate_before", &self.rotate_before)
            .field("token", &self.token.as_ref().map(|_| "** redacted **"))
            .field(
                "key_pair",
                &self.key_pair.as_ref().map(|(id, _)| (id, "** redacted **")),
            )
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .finish()
    }
}

/// One session as issued; tests compare the daemon's view against it.
#[derive(Clone)]
pub struct Issued {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub token: String,
    pub expiration: SystemTime,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &clock::rfc3339(self.expiration))
            .finish_non_exhaustive()
    }
}

/// One answer that carried credentials: the session as the body named it, and the `Expiration`
/// the body said (`None` when it said none, or nothing that reads as a time).
#[derive(Clone)]
pub(super) struct HandedOut {
    pub(super) access_key_id: String,
    pub(super) session_token: Option<String>,
    pub(super) expiration: Option<SystemTime>,
}

/// By hand: the session token never reaches a `Debug` string.
impl std::fmt::Debug for HandedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandedOut")
            .field("access_key_id", &self.access_key_id)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .field("expiration", &self.expiration.map(clock::rfc3339))
            .finish()
    }
}

/// The endpoint's state, shared by its handle and every connection.
pub(super) struct Inner {
    pub(super) options: Options,
    pub(super) current: Option<Issued>,
    pub(super) fault: Option<Fault>,
    /// Every access key issued, so STS answers only for those.
    pub(super) issued_keys: Vec<String>,
    /// Every answer that carried credentials (the credentials path and STS `AssumeRole`), in order.
    pub(super) handed_out: Vec<HandedOut>,
    /// GETs of the credentials path received, answered or not.
    pub(super) credentials_requests: usize,
}

impl Inner {
    /// Nothing issued, handed out or requested yet.
    pub(super) fn new(options: Options) -> Self {
        Inner {
            options,
            current: None,
            fault: None,
            issued_keys: Vec::new(),
            handed_out: Vec::new(),
            credentials_requests: 0,
        }
    }

    /// The earliest `Expiration` handed out with credentials that `matches`: when one session was
    /// served with two (a [`Fault`] changed it), a client may hold the earlier, so that is the
    /// most the credentials can be trusted for.
    pub(super) fn earliest(&self, matches: impl Fn(&HandedOut) -> bool) -> Option<SystemTime> {
        self.handed_out
            .iter()
            .filter(|h| matches(h))
            .filter_map(|h| h.expiration)
            .min()
    }

    /// Remembers what a 200 answer carried, as the client reads it: `fields` after any [`Fault`].
    pub(super) fn record(&mut self, fields: &serde_json::Value) {
        let text = |name: &str| {
            fields
                .get(name)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let Some(access_key_id) = text("AccessKeyId") else {
            return;
        };
        let expiration = text("Expiration").and_then(|t| parse_expiration(&t));
        self.handed_out.push(HandedOut {
            access_key_id,
            session_token: text("Token"),
            expiration,
        });
    }
}

/// An `Expiration` as aws-config reads it (RFC 3339 with `Z`, years before 1970 too); `None` for
/// text it rejects (a UTC offset included), since such an answer hands out nothing.
fn parse_expiration(text: &str) -> Option<SystemTime> {
    use aws_smithy_types::date_time::{DateTime, Format};
    let at = DateTime::from_str(text, Format::DateTime).ok()?;
    SystemTime::try_from(at).ok()
}

/// Issues a new session starting now (whole seconds, as the ECS agent writes them).
pub(super) fn issue(inner: &mut Inner, now: SystemTime) -> Issued {
    let whole_now = UNIX_EPOCH
        + Duration::from_secs(now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs());
    let (access_key_id, secret_access_key) = inner
        .options
        .key_pair
        .clone()
        .unwrap_or_else(|| (format!("ASIA{}", random_upper(16)), random_upper(40)));
    let issued = Issued {
        // A fixed key pair still gets a fresh session token per session, so rotation shows.
        access_key_id,
        secret_access_key,
        token: inner
            .options
            .session_token
            .clone()
            .unwrap_or_else(|| format!("IQoJb3JpZ2luX2Vj{}", random_upper(120))),
        expiration: whole_now + inner.options.session,
    };
    inner.issued_keys.push(issued.access_key_id.clone());
    inner.current = Some(issued.clone());
    issued
}

/// Uppercase letters and digits, as in AWS access key ids; unpredictable per process.
pub(super) fn random_upper(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_usize(out.len());
        let mut bits = hasher.finish();
        for _ in 0..12 {
            if out.len() == len {
                break;
            }
            out.push(ALPHABET[(bits & 31) as usize] as char);
            bits >>= 5;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::super::EcsEndpoint;
    use super::*;

    /// An `Expiration` is read as aws-config reads it, whatever a [`Fault`] made of it.
    #[test]
    fn expirations_read_as_a_client_reads_them() {
        let at = UNIX_EPOCH + Duration::from_secs(1_795_867_200);
        let z = clock::rfc3339(at);
        for (text, want) in [
            (z.clone(), Some(at)),
            (z.replace('Z', "+00:00"), None),
            (
                "1960-01-01T00:00:00Z".into(),
                Some(UNIX_EPOCH - Duration::from_secs(315_619_200)),
            ),
            ("not a time".into(), None),
        ] {
            assert_eq!(parse_expiration(&text), want, "{text}");
        }
    }

    /// What an answer carried is remembered per session, the earliest `Expiration` wins, and no
    /// secret reaches the endpoint's `Debug`.
    #[tokio::test]
    async fn handed_out_sessions_are_remembered_without_their_secrets() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut options = Options::new(Duration::from_secs(900));
        options.key_pair = Some(("ASIAFIXEDKEY00000001".into(), "fixed-secret-canary".into()));
        let endpoint = EcsEndpoint::start(listener, options, clock::system()).unwrap();
        let first = endpoint.current();
        assert_eq!(
            endpoint.issued_expiry(&first.access_key_id, Some(&first.token)),
            None
        );
        let served = |expiration: SystemTime| {
            serde_json::json!({
                "AccessKeyId": first.access_key_id,
                "Token": first.token,
                "Expiration": clock::rfc3339(expiration),
            })
        };
        let early = first.expiration - Duration::from_secs(600);
        endpoint.lock().record(&served(first.expiration));
        endpoint.lock().record(&served(early));
        let second = endpoint.rotate();
        endpoint.lock().record(&serde_json::json!({
            "AccessKeyId": second.access_key_id,
            "Token": second.token,
            "Expiration": clock::rfc3339(second.expiration),
        }));
        assert_eq!(
            endpoint.issued_expiry(&first.access_key_id, Some(&first.token)),
            Some(early)
        );
        assert_eq!(
            endpoint.issued_expiry(&second.access_key_id, Some(&second.token)),
            Some(second.expiration)
        );
        assert_eq!(endpoint.issued_expiry(&first.access_key_id, None), None);
        assert_eq!(
            endpoint.issued_expiry("ASIAOTHER", Some(&first.token)),
            None
        );
        let printed = format!("{endpoint:?}");
        assert!(printed.contains("ASIAFIXEDKEY00000001"), "{printed}");
        for secret in ["fixed-secret-canary", &first.token, &second.token] {
            assert!(
                !printed.contains(secret),
                "Debug prints a secret: {printed}"
            );
        }
    }
}
