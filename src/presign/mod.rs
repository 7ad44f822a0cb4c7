//! Presigning, following the request: [`body`] reads a JSON body against a table of its
//! fields, [`request`] declares `/v1/presign`'s ([`request::fields`]) and lays them out for the
//! signer, [`allow_list`] (the `--presign-allow` rules), [`decision`] (the plain rule: sign,
//! shorten, refresh, refuse), [`signer`] (aws-sdk-s3's endpoint rules and aws-sigv4) and
//! [`guard`] (all of it); [`post`] builds browser form uploads (S3's POST policies) and [`uppy`]
//! reads Uppy's `signRequest`. [`error`] names each refusal by what the caller should do,
//! [`refusal`] gives each kind its status, body `error` and metric label; [`iam`] says which IAM
//! actions the rules need.

pub mod allow_list;
pub mod body;
pub mod decision;
pub mod error;
pub mod guard;
pub mod iam;
pub mod post;
pub mod refusal;
pub mod request;
pub mod signer;
pub mod uppy;

pub use allow_list::{AllowList, Method, Rule};
pub use decision::{DEFAULT_MARGIN, DEFAULT_MAX_EXPIRES_IN, Limits};
pub use error::PresignError;
pub use guard::{Guard, Presigned};
pub use refusal::Refusal;
pub use request::fields::FIELDS;
pub use request::{PresignRequest, SIGV4_MAX_EXPIRES_IN};
pub use signer::Signer;
