//! The one-shot commands: [`status`] (resolve once, print, exit by the answer), [`presign`] (an
//! honest `aws s3 presign`) and [`healthcheck`] (the ECS `healthCheck` for an image without a
//! shell); [`iam_policy`] (the IAM policy the presign rules need).

pub mod healthcheck;
pub mod iam_policy;
pub mod presign;
pub mod status;
