//! What one client may take of the HTTP server: time, bytes, connections. Each bound keeps a slow
//! or hostile client from holding what the others (and the ECS health check) need.

use std::time::Duration;

/// A client has this long to send its request headers; idle or trickling connections
/// (slowloris) are closed instead of holding a slot.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; further ones wait in the kernel's backlog, so a flood of idle
/// connections cannot exhaust the process.
pub const MAX_CONNECTIONS: usize = 256;
/// Connections kept for `/healthz`, `/readyz` and `/metrics` when all [`MAX_CONNECTIONS`] are
/// taken: the ECS health check and Prometheus still get an answer while clients flood the API. A
/// reserved connection answers anything else with 503 and closes.
pub const RESERVED_CONNECTIONS: usize = 16;
/// Longest request head accepted; hyper answers 431 beyond it.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// How long in-flight requests get to finish after shutdown is asked for.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// A body has this long to arrive once its request head has (which hyper bounds by
/// [`HEADER_READ_TIMEOUT`]): a client trickling its body a byte a second gets a
/// 408 and loses the connection instead of holding a slot. A real body is a few hundred bytes.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(5);
