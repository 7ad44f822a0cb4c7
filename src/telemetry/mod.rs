//! What people and machines read about the daemon: [`logging`] (text or flat JSON lines, EMF, and
//! the events never written), [`log_pipe`] (their way to stdout, which never makes a caller wait),
//! [`metrics`] (the Prometheus registry, computed at scrape time), [`task_metadata`] (the ECS task the
//! sidecar runs in) and [`pod`] (the Kubernetes pod, from the Downward API), which label both.

pub mod log_pipe;
pub mod logging;
pub mod metrics;
pub mod pod;
pub mod task_metadata;
