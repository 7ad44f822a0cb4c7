//! `sessionguard iam-policy`: the least-privilege IAM policy (or trust policy) that the
//! `--presign-allow` rules and the signing source need, printed as one document to paste into
//! `aws iam put-role-policy`, a CloudFormation template or Terraform.
//!
//! The signer (who S3 sees signing every URL) needs the S3 actions of the rules
//! ([`crate::presign::iam`]); with `--signing-source assume-role` or `secrets-manager` the task
//! role needs only the way to the signer: `sts:AssumeRole` on the role, or reading the secret.

use serde_json::{Value, json};

use super::eks_trust::ServiceAccount;
use crate::presign::Rule;
use crate::presign::iam;
use crate::tracked::SigningSource;

/// Validated `iam-policy` flags.
#[derive(Debug, Clone)]
pub struct IamPolicyConfig {
    pub rules: Vec<Rule>,
    pub source: SigningSource,
    pub region: Option<String>,
    /// KMS key ARNs the buckets' objects are encrypted with.
    pub kms_keys: Vec<String>,
    pub principal: Principal,
    pub trust_policy: bool,
    pub account_id: Option<String>,
    pub task_role_arn: Option<String>,
    /// `--oidc-provider`: the EKS cluster's OIDC provider (ARN or issuer host), for the
    /// web-identity signing role's trust policy.
    pub oidc_provider: Option<String>,
    /// `--service-account NAMESPACE:NAME`: the pod's service account that trust policy admits.
    pub service_account: Option<ServiceAccount>,
    /// `--pod-identity`: the pod's role comes from an EKS Pod Identity association.
    pub pod_identity: bool,
}

/// Whose policy `iam-policy` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    /// The principal URLs are signed as: the task role, the assumed role or the secret's IAM user.
    Signer,
    /// The task role itself (with `--signing-source task`, the signer).
    TaskRole,
}

impl Principal {
    /// The value of `--principal`: `signer` or `task-role`.
    pub fn parse(text: &str) -> Option<Principal> {
        match text {
            "signer" => Some(Principal::Signer),
            "task-role" => Some(Principal::TaskRole),
            _ => None,
        }
    }
}

/// What `iam-policy` cannot print, and what to give it instead.
#[derive(Debug, thiserror::Error)]
pub enum IamPolicyError {
    #[error(
        "no --presign-allow rule (env SESSIONGUARD_PRESIGN_ALLOW): presigning is off and the signer needs no S3 permission"
    )]
    NoRules,
    #[error(
        "the secret {0:?} is a name: give its ARN (--signing-secret-id arn:aws:secretsmanager:...), or --region and --account-id to build one"
    )]
    SecretName(String),
    #[error(
        "--kms-key-arn: the KMS statement holds only through S3 of the buckets' region (kms:ViaService): give --region (env SESSIONGUARD_REGION) or AWS_REGION"
    )]
    KmsNeedsRegion,
    #[error(
        "the signer of --signing-source secrets-manager is an IAM user, which has no trust policy"
    )]
    UserHasNoTrust,
    #[error(
        "the signing role's trust policy names the task role that assumes it: give --task-role-arn"
    )]
    NoTaskRoleArn,
    #[error(transparent)]
    WebIdentity(#[from] super::eks_trust::OidcTrustError),
}

/// The document, and one line per action saying why it is there (for stderr).
#[derive(Debug)]
pub struct Printed {
    pub document: Value,
    pub reasons: Vec<String>,
}

/// The policy `config` asks for.
pub fn policy(config: &IamPolicyConfig) -> Result<Printed, IamPolicyError> {
    let partition = iam::partition_of(config.region.as_deref());
    let signer_is_task = matches!(config.source, SigningSource::Task);
    let for_signer = config.principal == Principal::Signer || signer_is_task;
    if config.trust_policy {
        return trust(config, partition, for_signer);
    }
    if for_signer {
        return signer(config, partition);
    }
    // The task role's statement and why, from one match of the signing source.
    let (statement, reason) = match &config.source {
        // The task role is the signer (`for_signer` above): its S3 permissions.
        SigningSource::Task => return signer(config, partition),
        SigningSource::AssumeRole(role) => (
            json!({
                "Sid": "AssumeSigningRole",
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": role.role_arn,
            }),
            "sts:AssumeRole: --signing-source assume-role assumes the signing role with the task credentials",
        ),
        SigningSource::WebIdentity(_) => {
            return Err(super::eks_trust::OidcTrustError::TaskRoleNeedsNothing.into());
        }
        SigningSource::SecretsManager(secret) => (
            json!({
                "Sid": "ReadSigningKey",
                "Effect": "Allow",
                "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
                "Resource": secret_arn(config, partition, &secret.secret_id)?,
            }),
            "secretsmanager:GetSecretValue and secretsmanager:DescribeSecret: --signing-source secrets-manager reads the key pair and its rotation schedule",
        ),
    };
    Ok(Printed {
        document: iam::document(vec![statement]),
        reasons: vec![reason.to_string()],
    })
}

/// The signer's S3 (and KMS) permissions.
fn signer(config: &IamPolicyConfig, partition: &str) -> Result<Printed, IamPolicyError> {
    if config.rules.is_empty() {
        return Err(IamPolicyError::NoRules);
    }
    let mut reasons = Vec::new();
    for rule in &config.rules {
        for need in iam::rule_needs(rule) {
            reasons.push(format!(
                "{} on {}: {} (rule {rule})",
                need.action,
                iam::object_arn(partition, rule),
                need.reason
            ));
        }
    }
    if !config.kms_keys.is_empty() {
        for need in iam::kms_needs(&config.rules) {
            reasons.push(format!(
                "{} on the KMS keys, through S3 only (kms:ViaService): {}",
                need.action, need.reason
            ));
        }
    }
    let region = match (&config.region, config.kms_keys.is_empty()) {
        (Some(region), _) => region.as_str(),
        (None, true) => "",
        (None, false) => return Err(IamPolicyError::KmsNeedsRegion),
    };
    Ok(Printed {
        document: iam::document(iam::signer_statements(
            partition,
            region,
            &config.rules,
            &config.kms_keys,
        )),
        reasons,
    })
}

/// Who may become the principal.
fn trust(
    config: &IamPolicyConfig,
    partition: &str,
    for_signer: bool,
) -> Result<Printed, IamPolicyError> {
    let statement = match (&config.source, for_signer) {
        (SigningSource::SecretsManager(_), true) => return Err(IamPolicyError::UserHasNoTrust),
        (SigningSource::WebIdentity(role), true) => {
            let (statement, reasons) = super::eks_trust::trust(
                role,
                config.oidc_provider.as_deref(),
                config.service_account.as_ref(),
                partition,
                config.account_id.as_deref(),
            )?;
            return Ok(Printed {
                document: iam::document(vec![statement]),
                reasons,
            });
        }
        (SigningSource::AssumeRole(role), true) => {
            let task_role = config
                .task_role_arn
                .as_ref()
                .ok_or(IamPolicyError::NoTaskRoleArn)?;
            let mut statement = json!({
                "Sid": "TaskRoleAssumes",
                "Effect": "Allow",
                "Principal": {"AWS": task_role},
                "Action": "sts:AssumeRole",
            });
            if role.external_id.is_some() {
                // The external id is a shared secret of this policy: never printed.
                statement["Condition"] =
                    json!({"StringEquals": {"sts:ExternalId": "REPLACE-WITH-THE-EXTERNAL-ID"}});
            }
            statement
        }
        _ if config.pod_identity => {
            let (statement, reasons) =
                super::eks_trust::pod_identity_trust(config.service_account.as_ref());
            return Ok(Printed {
                document: iam::document(vec![statement]),
                reasons,
            });
        }
        _ => {
            let mut statement = json!({
                "Sid": "EcsTasksAssume",
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            });
            if let Some(account) = &config.account_id {
                let mut condition = json!({"StringEquals": {"aws:SourceAccount": account}});
                if let Some(region) = &config.region {
                    condition["ArnLike"] = json!({"aws:SourceArn": format!("arn:{partition}:ecs:{region}:{account}:*")});
                }
                statement["Condition"] = condition;
            }
            statement
        }
    };
    Ok(Printed {
        document: iam::document(vec![statement]),
        reasons: Vec::new(),
    })
}

/// The secret's ARN: as given, or built from its name. Secrets Manager appends `-` and six random
/// characters to the name in the ARN, and IAM authorises on that full ARN, so a name, or an ARN
/// without the suffix (a partial ARN, which Secrets Manager resolves for the sidecar), is matched
/// with `-??????`.
fn secret_arn(
    config: &IamPolicyConfig,
    partition: &str,
    id: &str,
) -> Result<String, IamPolicyError> {
    if id.starts_with("arn:") {
        return Ok(if has_random_suffix(id) {
            id.to_string()
        } else {
            format!("{id}-??????")
        });
    }
    match (&config.region, &config.account_id) {
        (Some(region), Some(account)) => Ok(format!(
            "arn:{partition}:secretsmanager:{region}:{account}:secret:{id}-??????"
        )),
        _ => Err(IamPolicyError::SecretName(id.to_string())),
    }
}

/// Whether a secret ARN ends in Secrets Manager's `-` and six random letters or digits. A name
/// that itself ends so (`my-app/presigner-backup`) reads as a full ARN: Secrets Manager's own
/// partial-ARN lookup has the same ambiguity, and its documentation advises against such names.
fn has_random_suffix(arn: &str) -> bool {
    let name = arn.rsplit_once(":secret:").map_or(arn, |(_, name)| name);
    match name.rsplit_once('-') {
        Some((head, suffix)) => {
            !head.is_empty()
                && suffix.len() == 6
                && suffix.bytes().all(|b| b.is_ascii_alphanumeric())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presign::Rule;
    use crate::tracked::{AssumeRoleConfig, Overlap, SecretConfig};
    use std::time::Duration;

    fn config(source: SigningSource, principal: Principal) -> IamPolicyConfig {
        IamPolicyConfig {
            rules: vec![Rule::parse("GET:reports/exports/").unwrap()],
            source,
            region: Some("eu-west-1".into()),
            kms_keys: vec![],
            principal,
            trust_policy: false,
            account_id: Some("123456789012".into()),
            task_role_arn: None,
            oidc_provider: None,
            service_account: None,
            pod_identity: false,
        }
    }

    fn secrets(id: &str) -> SigningSource {
        SigningSource::SecretsManager(SecretConfig {
            secret_id: id.into(),
            refresh: Duration::from_secs(300),
            overlap: Overlap::RotationPeriod,
        })
    }

    fn assume(external_id: Option<&str>) -> SigningSource {
        SigningSource::AssumeRole(AssumeRoleConfig {
            role_arn: "arn:aws:iam::123456789012:role/signer".into(),
            duration: Duration::from_secs(3600),
            session_name: "sessionguard".into(),
            external_id: external_id.map(str::to_string),
        })
    }

    /// The task role of each source needs exactly its way to the signer.
    #[test]
    fn task_role_per_source() {
        let task = policy(&config(SigningSource::Task, Principal::TaskRole)).unwrap();
        assert_eq!(
            task.document["Statement"][0]["Action"],
            json!(["s3:GetObject", "s3:GetObjectVersion"])
        );
        let assumed = policy(&config(assume(None), Principal::TaskRole)).unwrap();
        assert_eq!(
            assumed.document["Statement"],
            json!([{"Sid": "AssumeSigningRole", "Effect": "Allow", "Action": "sts:AssumeRole",
                    "Resource": "arn:aws:iam::123456789012:role/signer"}])
        );
        let secret = policy(&config(secrets("presigner"), Principal::TaskRole)).unwrap();
        assert_eq!(
            secret.document["Statement"][0]["Resource"],
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:presigner-??????"
        );
        let mut no_account = config(secrets("presigner"), Principal::TaskRole);
        no_account.account_id = None;
        assert!(matches!(
            policy(&no_account),
            Err(IamPolicyError::SecretName(_))
        ));
    }

    /// Trust policies: ECS tasks (guarded by the account), the task role for an assumed signer
    /// (never printing the external id), none for an IAM user.
    #[test]
    fn trust_policies() {
        let mut task = config(SigningSource::Task, Principal::Signer);
        task.trust_policy = true;
        let printed = policy(&task).unwrap();
        assert_eq!(
            printed.document["Statement"][0]["Principal"],
            json!({"Service": "ecs-tasks.amazonaws.com"})
        );
        assert_eq!(
            printed.document["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"],
            "arn:aws:ecs:eu-west-1:123456789012:*"
        );
        let mut signer = config(assume(Some("s3cret-external")), Principal::Signer);
        signer.trust_policy = true;
        assert!(matches!(
            policy(&signer),
            Err(IamPolicyError::NoTaskRoleArn)
        ));
        signer.task_role_arn = Some("arn:aws:iam::123456789012:role/app-task".into());
        let text = policy(&signer).unwrap().document.to_string();
        assert!(!text.contains("s3cret-external"), "{text}");
        assert!(text.contains("sts:ExternalId"), "{text}");
        let mut user = config(
            secrets("arn:aws:secretsmanager:eu-west-1:1:secret:x"),
            Principal::Signer,
        );
        user.trust_policy = true;
        assert!(matches!(policy(&user), Err(IamPolicyError::UserHasNoTrust)));
        // On EKS with Pod Identity, the role the platform gives the pod trusts EKS, not ECS
        // tasks: the task source's signer, and another source's task role; an assumed signer
        // still trusts the task role.
        for (source, principal) in [
            (SigningSource::Task, Principal::Signer),
            (assume(None), Principal::TaskRole),
        ] {
            let mut pod = config(source, principal);
            pod.trust_policy = true;
            pod.pod_identity = true;
            let printed = policy(&pod).unwrap();
            assert_eq!(
                printed.document["Statement"][0]["Principal"],
                json!({"Service": "pods.eks.amazonaws.com"})
            );
        }
        signer.pod_identity = true;
        assert_eq!(
            policy(&signer).unwrap().document["Statement"][0]["Principal"],
            json!({"AWS": "arn:aws:iam::123456789012:role/app-task"})
        );
    }

    /// No rules, no S3 permission to print.
    #[test]
    fn no_rules() {
        let mut c = config(SigningSource::Task, Principal::Signer);
        c.rules.clear();
        assert!(matches!(policy(&c), Err(IamPolicyError::NoRules)));
    }

    /// A secret ARN without its random suffix is matched as `-??????`, as for a name: IAM
    /// authorises on the full ARN, which Secrets Manager resolves the partial one to.
    #[test]
    fn partial_secret_arn() {
        let partial = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:my-app/presigner";
        let printed = policy(&config(secrets(partial), Principal::TaskRole)).unwrap();
        assert_eq!(
            printed.document["Statement"][0]["Resource"],
            format!("{partial}-??????")
        );
        let full = format!("{partial}-AbCdEf");
        let printed = policy(&config(secrets(&full), Principal::TaskRole)).unwrap();
        assert_eq!(printed.document["Statement"][0]["Resource"], full);
    }

    /// KMS keys need a region (kms:ViaService names S3's regional endpoint).
    #[test]
    fn kms_needs_a_region() {
        let mut c = config(SigningSource::Task, Principal::Signer);
        c.kms_keys = vec!["arn:aws:kms:eu-west-1:123456789012:key/k".into()];
        let printed = policy(&c).unwrap();
        assert_eq!(
            printed.document["Statement"][1]["Condition"]["StringEquals"]["kms:ViaService"],
            "s3.eu-west-1.amazonaws.com"
        );
        c.region = None;
        assert!(matches!(policy(&c), Err(IamPolicyError::KmsNeedsRegion)));
    }
}
