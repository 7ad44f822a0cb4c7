//! `iam-policy` flags to [`IamPolicyConfig`]: the same rules and signing source as `run`.

use super::IamPolicyArgs;
use super::problems::{ConfigError, Problems, given};
use crate::commands::eks_trust::ServiceAccount;
use crate::commands::iam_policy::{IamPolicyConfig, Principal};

impl TryFrom<&IamPolicyArgs> for IamPolicyConfig {
    type Error = ConfigError;

    fn try_from(args: &IamPolicyArgs) -> Result<Self, ConfigError> {
        let mut p = Problems::default();
        let rules = p.rules(&args.presign_allow);
        let source = args.source.validate(&mut p);
        let principal_text = args.principal.trim();
        let principal = Principal::parse(principal_text).unwrap_or_else(|| {
            p.push("principal", principal_text, "expected signer or task-role");
            Principal::Signer
        });
        let kms_keys = p.kms_keys(&args.kms_key_arn);
        if let Some(account) = &args.account_id
            && (account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()))
        {
            p.push("account-id", account, "expected a 12-digit account id");
        }
        let service_account = given(&args.service_account).and_then(|sa| {
            let parsed = service_account(sa);
            if parsed.is_none() {
                p.push(
                    "service-account",
                    sa,
                    "expected NAMESPACE:NAME, each a Kubernetes name (lowercase letters, digits, - and .)",
                );
            }
            parsed
        });
        if args.pod_identity && !args.trust_policy {
            p.push(
                "pod-identity",
                "true",
                "changes only the trust policy: add --trust-policy",
            );
        }
        let given = |v| given(v).map(str::to_string);
        p.finish(IamPolicyConfig {
            rules,
            source,
            region: given(&args.region),
            kms_keys,
            principal,
            trust_policy: args.trust_policy,
            account_id: given(&args.account_id),
            task_role_arn: given(&args.task_role_arn),
            oidc_provider: given(&args.oidc_provider),
            service_account,
            pod_identity: args.pod_identity,
        })
    }
}

/// `NAMESPACE:NAME`, each a DNS subdomain name as Kubernetes requires (at most 253 characters).
fn service_account(text: &str) -> Option<ServiceAccount> {
    let (namespace, name) = text.split_once(':')?;
    let valid = |part: &str| {
        (1..=253).contains(&part.len())
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && part
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric())
            && part
                .bytes()
                .last()
                .is_some_and(|b| b.is_ascii_alphanumeric())
    };
    (valid(namespace) && valid(name)).then(|| ServiceAccount {
        namespace: namespace.to_string(),
        name: name.to_string(),
    })
}
