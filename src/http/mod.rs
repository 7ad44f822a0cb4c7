//! The HTTP surface: [`routes`] (every route, one place), [`presign`] (the presign routes' bodies
//! and answers), [`answer`] (every presign answer's line and count, in one place), [`limits`]
//! (what one client may take: time, bytes, connections), [`response`] (JSON and text helpers) and
//! [`server`] (serving the routes on a bound listener with limits, a reserve for health and
//! metrics, and graceful shutdown).

pub mod answer;
pub mod limits;
pub mod presign;
pub mod response;
pub mod routes;
pub mod server;
