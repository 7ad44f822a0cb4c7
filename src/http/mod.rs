//! The HTTP surface: [`routes`] (every route, one place), [`presign`] (the presign routes' bodies
//! and answers), [`response`] (JSON and text helpers) and [`server`] (serving the routes on a bound
//! listener with limits and graceful shutdown).

pub mod presign;
pub mod response;
pub mod routes;
pub mod server;
