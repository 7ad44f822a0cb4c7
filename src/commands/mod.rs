//! The one-shot commands: [`status`] (resolve once, print, exit by the answer), [`presign`] (an
//! honest `aws s3 presign`) and [`healthcheck`] (the ECS `healthCheck` for an image without a
//! shell); [`iam_policy`] (the IAM policy the presign rules need) and [`oidc_trust`] (the
//! web-identity signing role's trust policy for an EKS OIDC provider).

pub mod healthcheck;
pub mod iam_policy;
pub mod oidc_trust;
pub mod presign;
pub mod status;
