//! The life of a signing key under rotation, in one place below both the sidecar's
//! [`crate::tracked`] (which signs with it) and the rotation function [`crate::rotate`] (which
//! makes, deactivates and deletes it):
//! - [`schedule`]: the secret's rotation schedule as `DescribeSecret` tells it, read once for both;
//! - [`value`]: a version's value (`UserName`, the key pair, `ActiveUntil`, `ReplacedKey`), one
//!   parser for both readers;
//! - [`promise`]: the contract between them, what each key is committed to and what the sidecar
//!   may sign with it, as plain functions.

pub mod promise;
pub mod schedule;
pub mod value;

/// The stage of the version the sidecar signs with.
pub const CURRENT: &str = "AWSCURRENT";
/// The stage of the version a rotation is making.
pub const PENDING: &str = "AWSPENDING";
/// The stage Secrets Manager gives the version `AWSCURRENT` was moved from.
pub const PREVIOUS: &str = "AWSPREVIOUS";
