//! The presign guard: sign an S3 URL only when the signing credentials outlive it.
//!
//! It applies the allow-list, asks the signing credentials (a [`Tracked`] handle: it never learns
//! which source answers) what is available, applies [`decide`], and signs; the HTTP layer writes
//! each answer's line and counts it. Signing uses exactly the credentials whose expiry was checked
//! and a start time fixed here, so `X-Amz-Date + X-Amz-Expires <= expiry - margin` holds by
//! construction.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::allow_list::{AllowList, Method};
use super::decision::{Ask, Decision, Limits, decide};
use super::error::PresignError;
use super::post::{self, PostForm, PostRequest};
use super::request::PresignRequest;
use super::signer::Signer;
use crate::clock;
use crate::credentials::Snapshot;
use crate::tracked::Tracked;

/// The signed header naming an SSE-KMS upload's key (PUT and a multipart upload's create).
const KMS_KEY_HEADER: &str = "x-amz-server-side-encryption-aws-kms-key-id";

/// The 200 body.
#[derive(Debug, Clone, Serialize)]
pub struct Presigned {
    pub url: String,
    pub method: &'static str,
    /// Every header the client must send with the request (e.g. `content-type` for a PUT).
    pub headers: BTreeMap<String, String>,
    /// Seconds granted: `expires_in` or, when shortened, `available`.
    pub expires_in: u64,
    /// When the URL stops working.
    pub expires_at: String,
    pub credentials_expire_at: Option<String>,
}

/// The guard: allow-list, decision, signing.
pub struct Guard {
    /// The credentials URLs are signed with.
    pub signing: Tracked,
    pub signer: Signer,
    pub allow_list: AllowList,
    pub limits: Limits,
    /// How long a request right after start waits for the first credentials (`--check-timeout`).
    pub first_wait: Duration,
}

/// What the signing credentials offer at one instant.
struct Now {
    snapshot: Option<Arc<Snapshot>>,
    /// The signing start: now, truncated to the second as in `X-Amz-Date`.
    start: SystemTime,
    available: Option<u64>,
}

/// What the decision granted: the credentials to sign with, the start, the seconds.
struct Grant {
    snapshot: Arc<Snapshot>,
    start: SystemTime,
    seconds: u64,
}

impl Guard {
    /// Applies the allow-list and the decision, and signs.
    pub async fn presign(&self, request: &PresignRequest) -> Result<Presigned, PresignError> {
        self.allow(request)?;
        let grant = self.grant(ask_of(request)).await?;
        self.sign(&grant, request).await
    }

    /// A browser form upload: the same allow-list (as a `POST`), decision and promise.
    pub async fn presign_post(&self, request: &PostRequest) -> Result<PostForm, PresignError> {
        let ask = Ask {
            expires_in: request.expires_in,
            min_expires_in: request.min_expires_in,
        };
        self.allow_list
            .permits(Method::Post, &request.bucket, request.key_for_allow_list())
            .and_then(|()| {
                self.allow_list
                    .permits_kms_key(request.sse_kms_key_id.as_deref())
            })
            .map_err(PresignError::Forbidden)?;
        let grant = self.grant(ask).await?;
        post::sign(
            &self.signer,
            &grant.snapshot,
            request,
            grant.start,
            grant.seconds,
        )
        .await
    }

    /// Many requests on one credentials snapshot, with at most one refresh for all of them; each
    /// answer is what [`Guard::presign`] would give alone, in order. `Err` items (the caller's
    /// parse errors) are answered as they are.
    pub async fn presign_batch(
        &self,
        requests: Vec<Result<PresignRequest, PresignError>>,
    ) -> Vec<Result<Presigned, PresignError>> {
        let allowed: Vec<Result<PresignRequest, PresignError>> = requests
            .into_iter()
            .map(|r| r.and_then(|r| self.allow(&r).map(|()| r)))
            .collect();
        let asks: Vec<Ask> = allowed.iter().flatten().map(ask_of).collect();
        let (now, decisions) = self.decide_together(&asks).await;
        let mut decisions = decisions.into_iter();
        let mut answers = Vec::with_capacity(allowed.len());
        for item in allowed {
            answers.push(match item {
                Err(e) => Err(e),
                Ok(request) => {
                    let decision = decisions.next().expect("one decision per allowed request");
                    match self.finish(ask_of(&request), decision, &now) {
                        Ok(grant) => self.sign(&grant, &request).await,
                        Err(e) => Err(e),
                    }
                }
            });
        }
        answers
    }

    fn allow(&self, request: &PresignRequest) -> Result<(), PresignError> {
        self.allow_list
            .permits(
                request.operation.allow_list_method(),
                &request.bucket,
                &request.key,
            )
            .and_then(|()| {
                self.allow_list
                    .permits_kms_key(request.header(KMS_KEY_HEADER))
            })
            .map_err(PresignError::Forbidden)
    }

    /// What the signing credentials offer now, after waiting for their first answer if there is
    /// none yet (right after start).
    async fn settled_now(&self) -> Now {
        let now = self.now();
        if now.snapshot.is_some() {
            return now;
        }
        self.signing.settled(self.first_wait).await;
        self.now()
    }

    /// The decision for one request, with at most one refresh.
    async fn grant(&self, ask: Ask) -> Result<Grant, PresignError> {
        let (now, decisions) = self.decide_together(&[ask]).await;
        self.finish(ask, decisions[0], &now)
    }

    /// Decides every ask on one view of the signing credentials, refreshing them at most once for
    /// all: when any ask could use fresh credentials, one refresh covers the longest need, and
    /// every ask is decided again on the newer view, without another refresh.
    async fn decide_together(&self, asks: &[Ask]) -> (Now, Vec<Decision>) {
        let mut now = self.settled_now().await;
        let fresh = self.signing.fresh();
        let decide_all = |now: &Now, may_refresh: bool| -> Vec<Decision> {
            asks.iter()
                .map(|ask| decide(*ask, now.available, &self.limits, fresh, may_refresh))
                .collect()
        };
        let mut decisions = decide_all(&now, true);
        let need = decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Refresh(need) => Some(*need),
                _ => None,
            })
            .max();
        if let Some(need) = need {
            self.signing.refresh_for(need).await;
            now = self.now();
            decisions = decide_all(&now, false);
        }
        (now, decisions)
    }

    /// A final decision as a grant or the refusal that explains it.
    fn finish(&self, ask: Ask, decision: Decision, now: &Now) -> Result<Grant, PresignError> {
        match (decision, &now.snapshot) {
            (Decision::Sign(seconds), Some(snapshot)) => Ok(Grant {
                snapshot: snapshot.clone(),
                start: now.start,
                seconds,
            }),
            (Decision::TooShort { available }, snapshot) => {
                Err(self.too_short(ask, available, snapshot.as_deref()))
            }
            (Decision::Unavailable | Decision::Sign(_) | Decision::Refresh(_), snapshot) => {
                let last_error = self.signing.unavailable_reason(
                    snapshot.is_some(),
                    self.fresh_seconds(),
                    self.limits.cap(),
                );
                Err(PresignError::Unavailable {
                    last_error: Some(last_error),
                    retry_after_seconds: self.signing.retry_after().as_secs(),
                })
            }
        }
    }

    fn fresh_seconds(&self) -> Option<u64> {
        self.limits.fresh_seconds(self.signing.fresh())
    }

    fn too_short(&self, ask: Ask, available: u64, snapshot: Option<&Snapshot>) -> PresignError {
        let cap = self.limits.cap();
        let (limit, advice) = if available == cap {
            (
                format!("--presign-max-expires-in caps every URL at {cap}s"),
                "ask for less, or raise --presign-max-expires-in (at most 7d) where the credentials allow it",
            )
        } else {
            let limit = self.signing.limit(self.fresh_seconds(), cap);
            (limit.reason, limit.advice)
        };
        PresignError::SessionTooShort {
            requested: ask.expires_in,
            available,
            credentials_expire_at: snapshot.and_then(|s| s.expiry()).map(clock::rfc3339),
            limit,
            advice,
        }
    }

    fn now(&self) -> Now {
        let start = clock::whole_second(self.signing.now());
        let snapshot = self.signing.current();
        let available = snapshot
            .as_ref()
            .and_then(|s| self.limits.available(s, start));
        Now {
            snapshot,
            start,
            available,
        }
    }

    async fn sign(
        &self,
        grant: &Grant,
        request: &PresignRequest,
    ) -> Result<Presigned, PresignError> {
        let signed = self
            .signer
            .sign(&grant.snapshot, request, grant.start, grant.seconds)
            .await?;
        Ok(Presigned {
            url: signed.url,
            method: request.method.as_str(),
            headers: signed
                .headers
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            expires_in: grant.seconds,
            expires_at: clock::rfc3339(grant.start + Duration::from_secs(grant.seconds)),
            credentials_expire_at: grant.snapshot.expiry().map(clock::rfc3339),
        })
    }
}

fn ask_of(request: &PresignRequest) -> Ask {
    Ask {
        expires_in: request.expires_in,
        min_expires_in: request.min_expires_in,
    }
}

/// Margin 1m, cap 12h: the defaults, for unit tests elsewhere.
#[cfg(test)]
pub fn tests_limits() -> Limits {
    Limits {
        margin: Duration::from_secs(60),
        max_expires_in: Duration::from_secs(43_200),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::ecs_session;
    use crate::tracked::Tracked;
    use aws_smithy_async::test_util::ManualTimeSource;
    use serde_json::json;
    use std::time::UNIX_EPOCH;

    fn parse(v: serde_json::Value) -> PresignRequest {
        PresignRequest::from_json(v.to_string().as_bytes()).unwrap()
    }

    /// On a manual clock: a URL within the session is signed from the clock's second; the same
    /// request after the clock steps past expiry is refused as unavailable, and a long one as too
    /// short with what is left.
    #[tokio::test]
    async fn clock_stepping_past_expiry() {
        let start = UNIX_EPOCH + Duration::from_secs(1_795_867_200);
        let manual = ManualTimeSource::new(start);
        let creds = ecs_session("ASIAEXAMPLE00000", start + Duration::from_secs(900));
        let guard = Guard {
            signing: Tracked::fixed(creds, clock::Clock::new(manual.clone())),
            signer: Signer::new("us-east-1".into(), None, false),
            allow_list: AllowList::Unrestricted,
            limits: tests_limits(),
            first_wait: Duration::ZERO,
        };
        guard.signing.attempt(None).await;
        let request = parse(json!({"bucket": "abc", "key": "k", "expires_in": 60}));

        let issued = guard.presign(&request).await.unwrap();
        assert!(
            issued.url.contains("X-Amz-Date=20261128T120000Z"),
            "{}",
            issued.url
        );
        assert!(issued.url.contains("X-Amz-Expires=60"), "{}", issued.url);
        assert_eq!(issued.expires_at, "2026-11-28T12:01:00Z");

        let long = parse(json!({"bucket": "abc", "key": "k", "expires_in": 600}));
        manual.advance(Duration::from_secs(600));
        match guard.presign(&long).await {
            Err(PresignError::SessionTooShort { available, .. }) => assert_eq!(available, 240),
            other => panic!("{other:?}"),
        }

        manual.advance(Duration::from_secs(301));
        assert!(matches!(
            guard.presign(&request).await,
            Err(PresignError::Unavailable { .. })
        ));
    }
}
