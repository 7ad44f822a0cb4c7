//! The trust policies of a pod's roles on EKS.
//!
//! `iam-policy --signing-source web-identity --trust-policy` ([`trust`]): the signing role's trust
//! policy for an EKS cluster's OIDC provider (IRSA), and the `MaxSessionDuration` the role needs
//! for `--signing-session-duration`. STS lets a web identity token assume the role only when the
//! trust policy names the cluster's OIDC provider as `Federated` principal; the `aud` condition
//! holds the token to STS's audience and `sub` to the one service account, so no other pod of the
//! cluster can become the signer.
//!
//! `iam-policy --trust-policy --pod-identity` ([`pod_identity_trust`]): the pod's role, given by an
//! EKS Pod Identity association. EKS assumes it as `pods.eks.amazonaws.com` with `sts:AssumeRole`
//! and `sts:TagSession`; with `--service-account`, the session tags EKS sends
//! (`kubernetes-namespace`, `kubernetes-service-account`) hold it to that one service account.

use serde_json::{Value, json};

use crate::tracked::WebIdentityConfig;

/// A Kubernetes service account, `NAMESPACE:NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    pub namespace: String,
    pub name: String,
}

/// The audience EKS's pod identity webhook puts in IRSA tokens.
pub const AUDIENCE: &str = "sts.amazonaws.com";

/// What the trust policy cannot be printed without.
#[derive(Debug, thiserror::Error)]
pub enum OidcTrustError {
    #[error(
        "the web-identity signing role's trust policy names the cluster's OIDC provider and the pod's service account: give --oidc-provider (its ARN, or its issuer host oidc.eks.REGION.amazonaws.com/id/ID with --account-id) and --service-account NAMESPACE:NAME"
    )]
    Missing,
    #[error(
        "--oidc-provider {0:?} is an issuer, not an ARN: give --account-id too, or the provider's ARN (aws iam list-open-id-connect-providers)"
    )]
    NoAccount(String),
    #[error(
        "with --signing-source web-identity the task role needs nothing to sign: the pod's web identity token is exchanged at STS with no credentials; print the signing role's policy (--principal signer)"
    )]
    TaskRoleNeedsNothing,
}

/// The provider's ARN and its issuer host (what the condition keys start with).
fn provider(
    given: &str,
    partition: &str,
    account_id: Option<&str>,
) -> Result<(String, String), OidcTrustError> {
    if let Some((_, host)) = given
        .strip_prefix("arn:")
        .and_then(|rest| rest.split_once(":oidc-provider/"))
    {
        return Ok((given.to_string(), host.to_string()));
    }
    let host = given
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string();
    let account = account_id.ok_or_else(|| OidcTrustError::NoAccount(given.to_string()))?;
    Ok((
        format!("arn:{partition}:iam::{account}:oidc-provider/{host}"),
        host,
    ))
}

/// The trust statement, and what to set on the role (for stderr).
pub fn trust(
    config: &WebIdentityConfig,
    oidc_provider: Option<&str>,
    service_account: Option<&ServiceAccount>,
    partition: &str,
    account_id: Option<&str>,
) -> Result<(Value, Vec<String>), OidcTrustError> {
    let (Some(given), Some(sa)) = (oidc_provider, service_account) else {
        return Err(OidcTrustError::Missing);
    };
    let (arn, host) = provider(given, partition, account_id)?;
    let statement = json!({
        "Sid": "ServiceAccountAssumesWithWebIdentity",
        "Effect": "Allow",
        "Principal": {"Federated": arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {
            format!("{host}:aud"): AUDIENCE,
            format!("{host}:sub"): format!("system:serviceaccount:{}:{}", sa.namespace, sa.name),
        }},
    });
    let seconds = config.duration.as_secs();
    let role_name = config
        .role_arn
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("ROLE");
    let reasons = vec![
        format!(
            "sts:AssumeRoleWithWebIdentity for tokens of service account {}:{} (sub) issued for STS (aud {AUDIENCE}) by {host}",
            sa.namespace, sa.name
        ),
        format!(
            "MaxSessionDuration: set the role's to at least {seconds} (--signing-session-duration {}; the default is 3600, and STS refuses longer sessions): aws iam update-role --role-name {role_name} --max-session-duration {seconds}",
            humantime::format_duration(config.duration)
        ),
    ];
    Ok((statement, reasons))
}

/// The Pod Identity principal, and the session tags it sends that name the pod's service account
/// (AWS's "Create IAM role with trust policy required by EKS Pod Identity").
const POD_IDENTITY: &str = "pods.eks.amazonaws.com";

/// The trust policy of a role an EKS Pod Identity association gives a pod; with `service_account`,
/// only that service account's pods.
pub fn pod_identity_trust(service_account: Option<&ServiceAccount>) -> (Value, Vec<String>) {
    let mut statement = json!({
        "Sid": "EksPodIdentityAssumes",
        "Effect": "Allow",
        "Principal": {"Service": POD_IDENTITY},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
    });
    let mut reasons = vec![format!(
        "sts:AssumeRole and sts:TagSession for {POD_IDENTITY}: the Pod Identity agent's credentials are a session of this role, tagged with the pod's cluster, namespace and service account"
    )];
    if let Some(sa) = service_account {
        statement["Condition"] = json!({"StringEquals": {
            "aws:RequestTag/kubernetes-namespace": sa.namespace,
            "aws:RequestTag/kubernetes-service-account": sa.name,
        }});
        reasons.push(format!(
            "only for service account {}:{} (the session tags; an association created with --disable-session-tags sends none, and this condition then refuses it)",
            sa.namespace, sa.name
        ));
    }
    (statement, reasons)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config() -> WebIdentityConfig {
        WebIdentityConfig {
            role_arn: "arn:aws:iam::123456789012:role/shop-presigner".into(),
            token_file: "/var/run/secrets/eks.amazonaws.com/serviceaccount/token".into(),
            duration: Duration::from_secs(43_200),
            session_name: "sessionguard".into(),
        }
    }

    /// The provider given by ARN or by issuer names the same principal and condition keys.
    #[test]
    fn arn_or_issuer() {
        let sa = ServiceAccount {
            namespace: "shop".into(),
            name: "api".into(),
        };
        let host = "oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF0123456789";
        let arn = format!("arn:aws:iam::123456789012:oidc-provider/{host}");
        for given in [arn.clone(), host.to_string(), format!("https://{host}")] {
            let (statement, reasons) = trust(
                &config(),
                Some(&given),
                Some(&sa),
                "aws",
                Some("123456789012"),
            )
            .unwrap();
            assert_eq!(statement["Principal"]["Federated"], arn.as_str());
            let condition = &statement["Condition"]["StringEquals"];
            assert_eq!(condition[format!("{host}:aud")], "sts.amazonaws.com");
            assert_eq!(
                condition[format!("{host}:sub")],
                "system:serviceaccount:shop:api"
            );
            assert!(
                reasons[1].contains("--max-session-duration 43200")
                    && reasons[1].contains("--role-name shop-presigner"),
                "{reasons:?}"
            );
        }
        assert!(matches!(
            trust(&config(), Some(host), Some(&sa), "aws", None),
            Err(OidcTrustError::NoAccount(_))
        ));
        assert!(matches!(
            trust(&config(), None, Some(&sa), "aws", None),
            Err(OidcTrustError::Missing)
        ));
    }

    /// Pod Identity's trust policy names EKS's principal with both actions it calls, and with a
    /// service account, the session tags that hold it to that one.
    #[test]
    fn pod_identity_trust_names_eks_and_the_service_account() {
        let (open, reasons) = pod_identity_trust(None);
        assert_eq!(open["Principal"]["Service"], "pods.eks.amazonaws.com");
        assert_eq!(open["Action"], json!(["sts:AssumeRole", "sts:TagSession"]));
        assert!(open.get("Condition").is_none(), "{open}");
        assert_eq!(reasons.len(), 1);
        let sa = ServiceAccount {
            namespace: "shop".into(),
            name: "shop-api".into(),
        };
        let (held, _) = pod_identity_trust(Some(&sa));
        assert_eq!(
            held["Condition"],
            json!({"StringEquals": {
                "aws:RequestTag/kubernetes-namespace": "shop",
                "aws:RequestTag/kubernetes-service-account": "shop-api",
            }})
        );
    }
}
