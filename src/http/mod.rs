//! The HTTP surface: [`routes`] (every route, one place) and [`server`] (serving them on a bound
//! listener with limits and graceful shutdown).

pub mod routes;
pub mod server;
