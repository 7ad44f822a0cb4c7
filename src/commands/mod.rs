//! The one-shot commands: [`status`] (resolve once, print, exit by the answer), [`presign`] (an
//! honest `aws s3 presign`) and [`healthcheck`] (the ECS `healthCheck` for an image without a
//! shell); [`iam_policy`] (the IAM policy the presign rules need) and [`eks_trust`] (the trust
//! policies of a pod's roles on EKS: IRSA's OIDC provider, or Pod Identity).

pub mod eks_trust;
pub mod healthcheck;
pub mod iam_policy;
pub mod presign;
pub mod status;
