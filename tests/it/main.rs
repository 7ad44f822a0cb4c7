//! Integration tests: the real `sessionguard` binary against a test-local endpoint that speaks the
//! ECS container credentials protocol, read through aws-config exactly as in production.

mod abuse;
mod checks;
mod commands;
mod core;
mod eks;
mod enforced;
mod faults;
mod first_run;
mod forms;
mod http;
mod image;
mod lambda;
mod multipart;
mod openapi;
mod operations;
mod permissions;
mod presign;
mod resilience;
mod rotation;
mod secret_keys;
mod secrets;
mod ship;
mod signing;
mod support;
mod trickle;
mod web_identity;
