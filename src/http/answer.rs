//! Every presign answer's log line and count, in one place.
//!
//! A presign route returns an [`Answered`]: its response and one [`Item`] per answer it gave (one
//! for `/v1/presign`, `/post` and `/uppy`, one per request of a batch, one for a refusal before the
//! body was read). The router hands it to [`record`], the only code that writes `presign issued` /
//! `presign refused` and counts `sessionguard_presign_requests_total`, so no route can answer
//! without a line and a count. The lines go to [`REQUESTS_TARGET`], which the log pipe may drop
//! (and counts) while stdout is not read.

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use tracing::{info, warn};

use crate::presign::refusal::ISSUED;
use crate::presign::{PresignError, Refusal};
use crate::telemetry::log_pipe::REQUESTS_TARGET;
use crate::telemetry::metrics::Metrics;

/// What was asked for, as the line names it.
#[derive(Debug, Clone)]
pub struct Subject {
    pub bucket: String,
    pub key: String,
    pub method: &'static str,
    pub requested_seconds: u64,
}

/// What one answer was.
#[derive(Debug, Clone)]
pub enum Outcome {
    Issued {
        granted_seconds: u64,
        expires_at: String,
    },
    Refused {
        /// Its `result` label (the line's `reason`), status and body `error` kind.
        refusal: Refusal,
        error: String,
        /// What could be granted, for a 409.
        available_seconds: Option<u64>,
    },
}

/// One answer: what was asked (unknown when the body could not be read or parsed) and what it got.
#[derive(Debug, Clone)]
pub struct Item {
    pub subject: Option<Subject>,
    pub outcome: Outcome,
}

impl Item {
    /// A signed answer (only a parsed request is signed, so a caller has its subject to give).
    pub fn issued(subject: Option<Subject>, granted_seconds: u64, expires_at: &str) -> Item {
        Item {
            subject,
            outcome: Outcome::Issued {
                granted_seconds,
                expires_at: expires_at.to_string(),
            },
        }
    }

    /// A refusal the guard or the parser explained.
    pub fn refused(subject: Option<Subject>, e: &PresignError) -> Item {
        let available_seconds = match e {
            PresignError::SessionTooShort { available, .. } => Some(*available),
            _ => None,
        };
        Item {
            subject,
            outcome: Outcome::Refused {
                refusal: e.refusal(),
                error: e.to_string(),
                available_seconds,
            },
        }
    }

    /// A refusal of the HTTP request itself (method, media type, size, time, a reserved
    /// connection), before any body was parsed.
    pub fn rejected(refusal: Refusal, error: impl Into<String>) -> Item {
        Item {
            subject: None,
            outcome: Outcome::Refused {
                refusal,
                error: error.into(),
                available_seconds: None,
            },
        }
    }

    /// The `result` label it is counted under.
    pub fn result(&self) -> &'static str {
        match &self.outcome {
            Outcome::Issued { .. } => ISSUED,
            Outcome::Refused { refusal, .. } => refusal.result(),
        }
    }
}

/// A presign route's response and the answers it gave.
pub struct Answered {
    pub response: Response<Full<Bytes>>,
    pub items: Vec<Item>,
}

/// Writes one line and counts one result per item, and times the HTTP request once: a batch is one
/// observation of `sessionguard_presign_duration_seconds`, as long as the batch took.
pub fn record(metrics: &Metrics, answered: &Answered, seconds: f64) {
    for item in &answered.items {
        log(item);
        metrics.presign_counted(item.result());
    }
    metrics.presign_timed(seconds);
}

fn log(item: &Item) {
    let subject = item.subject.as_ref();
    let bucket = subject.map(|s| s.bucket.as_str());
    let key = subject.map(|s| s.key.as_str());
    let method = subject.map(|s| s.method);
    let requested_seconds = subject.map(|s| s.requested_seconds);
    match &item.outcome {
        Outcome::Issued {
            granted_seconds,
            expires_at,
        } => info!(
            target: REQUESTS_TARGET,
            bucket,
            key,
            method,
            requested_seconds,
            granted_seconds,
            expires_at = expires_at.as_str(),
            shortened = requested_seconds.is_some_and(|r| *granted_seconds < r),
            "presign issued"
        ),
        Outcome::Refused {
            refusal,
            error,
            available_seconds,
        } => warn!(
            target: REQUESTS_TARGET,
            bucket,
            key,
            method,
            requested_seconds,
            available_seconds,
            reason = refusal.result(),
            status = refusal.status().as_u16(),
            error = error.as_str(),
            "presign refused"
        ),
    }
}
