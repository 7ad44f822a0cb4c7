//! Why a presign was not issued; each kind maps to one HTTP status, named by what the caller
//! should do.

use super::refusal::Refusal;

/// Why a presign was not issued.
#[derive(Debug, thiserror::Error)]
pub enum PresignError {
    /// 400: the caller's mistake, naming the field.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// 403: the allow-list says no.
    #[error("{0}")]
    Forbidden(String),
    /// 409: the session ends before the URL would.
    #[error(
        "{limit}, so a URL can last at most {available}s now, less than the {requested}s asked for; {advice}"
    )]
    SessionTooShort {
        requested: u64,
        available: u64,
        credentials_expire_at: Option<String>,
        /// Why the credentials allow no more, for people.
        limit: String,
        advice: &'static str,
    },
    /// 503: no valid credentials are known.
    #[error("no valid credentials to sign with{}", .last_error.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    Unavailable {
        last_error: Option<String>,
        /// The earliest a request may find otherwise: the signing source's spacing between
        /// on-demand rechecks (the `Retry-After` of the 503).
        retry_after_seconds: u64,
    },
    /// 500: the SDK refused to sign (a configuration problem, not the caller's).
    #[error("signing failed: {0}")]
    Signing(String),
}

impl PresignError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        PresignError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// Its kind in the refusal vocabulary: the `result` label, the status and the body's `error`.
    pub fn refusal(&self) -> Refusal {
        match self {
            PresignError::Invalid { .. } => Refusal::InvalidRequest,
            PresignError::Forbidden(_) => Refusal::Forbidden,
            PresignError::SessionTooShort { .. } => Refusal::SessionTooShort,
            PresignError::Unavailable { .. } => Refusal::CredentialsUnavailable,
            PresignError::Signing(_) => Refusal::SigningFailed,
        }
    }
}
