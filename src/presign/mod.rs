//! Presigning, following the request: [`request`] (the body, parsed by serde), [`policy`] (the
//! `--presign-allow` rules), [`decision`] (the plain rule: sign, shorten, refresh, refuse),
//! [`signer`] (aws-sdk-s3's endpoint rules and aws-sigv4) and [`guard`] (all of it); [`post`]
//! builds browser form uploads and [`uppy`] reads Uppy's `signRequest`. [`error`] names each
//! refusal by what the caller should do; [`iam`] says which IAM actions the rules need.

pub mod body;
pub mod decision;
pub mod error;
pub mod guard;
pub mod iam;
pub mod policy;
pub mod post;
pub mod request;
pub mod signer;
pub mod uppy;

pub use decision::{DEFAULT_MARGIN, DEFAULT_MAX_EXPIRES_IN, Limits};
pub use error::PresignError;
pub use guard::{Guard, Presigned};
pub use policy::{Method, Policy, Rule};
pub use request::fields::FIELDS;
pub use request::{PresignRequest, SIGV4_MAX_EXPIRES_IN};
pub use signer::Signer;
