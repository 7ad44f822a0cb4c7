//! `--signing-source` and the flags of each source to a [`SigningSource`]: a flag given to the
//! other source is named, and so is every missing or malformed one.

use std::time::Duration;

use super::SourceArgs;
use super::problems::{Problems, given};
use crate::tracked::assume_role::{self, MAX_DURATION, MIN_DURATION};
use crate::tracked::secrets;
use crate::tracked::web_identity::{self, ENV_ROLE_ARN, ENV_TOKEN_FILE};
use crate::tracked::{AssumeRoleConfig, SecretConfig, SigningSource, WebIdentityConfig};

/// What `--assume-role-external-id` shows in a problem: a shared secret of the role's trust
/// policy is named, never echoed.
const HIDDEN: &str = "(hidden)";

impl SourceArgs {
    pub(super) fn validate(&self, p: &mut Problems) -> SigningSource {
        let source = self.signing_source.trim();
        self.report_misplaced(source, p);
        // Checked whatever the source, so a typo is caught before the source is switched on.
        let duration = p.duration_min(
            "assume-role-duration",
            &self.assume_role_duration,
            MIN_DURATION,
        );
        let refresh = p.duration_min(
            "signing-secret-refresh",
            &self.signing_secret_refresh,
            Duration::from_secs(1),
        );
        let overlap = self.key_overlap.sidecar(p);
        let session_duration = p.duration_min(
            "signing-session-duration",
            &self.signing_session_duration,
            MIN_DURATION,
        );
        match source {
            "task" => SigningSource::Task,
            assume_role::NAME => SigningSource::AssumeRole(self.assume_role(duration, p)),
            secrets::NAME => SigningSource::SecretsManager(SecretConfig {
                secret_id: self.secret_id(p),
                refresh,
                overlap,
            }),
            web_identity::NAME => {
                SigningSource::WebIdentity(self.web_identity(session_duration, p))
            }
            other => {
                p.push(
                    "signing-source",
                    other,
                    "expected one of task, assume-role, secrets-manager, web-identity",
                );
                SigningSource::Task
            }
        }
    }

    /// A flag of the other source is a mistake in the task definition, not something to ignore.
    fn report_misplaced(&self, source: &str, p: &mut Problems) {
        let external_id = given(&self.assume_role_external_id).map(|_| HIDDEN);
        for (flag, value, belongs_to) in [
            (
                "assume-role-arn",
                given(&self.assume_role_arn),
                assume_role::NAME,
            ),
            ("assume-role-external-id", external_id, assume_role::NAME),
            (
                "signing-secret-id",
                given(&self.signing_secret_id),
                secrets::NAME,
            ),
            (
                "web-identity-role-arn",
                given(&self.web_identity_role_arn),
                web_identity::NAME,
            ),
            (
                "web-identity-token-file",
                given(&self.web_identity_token_file),
                web_identity::NAME,
            ),
        ] {
            if let Some(v) = value
                && source != belongs_to
            {
                p.push(
                    flag,
                    v,
                    &format!("only applies with --signing-source {belongs_to}"),
                );
            }
        }
    }

    /// The `--assume-role-*` flags, each within what STS AssumeRole accepts.
    fn assume_role(&self, duration: Duration, p: &mut Problems) -> AssumeRoleConfig {
        let role_arn = self.role_arn(p);
        if duration > MAX_DURATION || duration.subsec_nanos() != 0 {
            p.push(
                "assume-role-duration",
                &self.assume_role_duration,
                "must be whole seconds from 15m to 12h (STS AssumeRole's DurationSeconds range)",
            );
        }
        let session_name = self.session_name(p);
        let external_id = given(&self.assume_role_external_id);
        if let Some(id) = external_id
            && !sts_text(id, 1224, "_+=,.@:/-")
        {
            p.push(
                "assume-role-external-id",
                HIDDEN,
                "must be 2 to 1224 characters of letters, digits and _+=,.@:/-",
            );
        }
        AssumeRoleConfig {
            role_arn,
            duration,
            session_name: session_name.to_string(),
            external_id: external_id.map(str::to_string),
        }
    }

    /// The `--web-identity-*` flags, falling back to the variables IRSA sets, and
    /// `--signing-session-duration` within what STS accepts.
    fn web_identity(&self, duration: Duration, p: &mut Problems) -> WebIdentityConfig {
        if duration > MAX_DURATION || duration.subsec_nanos() != 0 {
            p.push(
                "signing-session-duration",
                &self.signing_session_duration,
                "must be whole seconds from 15m to 12h (STS AssumeRoleWithWebIdentity's DurationSeconds range)",
            );
        }
        let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let role_arn = given(&self.web_identity_role_arn)
            .map(str::to_string)
            .or_else(|| from_env(ENV_ROLE_ARN));
        let flag = "web-identity-role-arn";
        match &role_arn {
            None => p.push(
                flag,
                "",
                &format!(
                    "is required with --signing-source web-identity when {ENV_ROLE_ARN} is not set (IRSA sets it when the service account has the eks.amazonaws.com/role-arn annotation)"
                ),
            ),
            Some(a) if !is_role_arn(a) => p.push(
                flag,
                a,
                "expected a role ARN like arn:aws:iam::123456789012:role/presigner",
            ),
            Some(_) => {}
        }
        // Required by `run` only (see `require_token_file`): `iam-policy` runs off the cluster.
        let token_file = given(&self.web_identity_token_file)
            .map(str::to_string)
            .or_else(|| from_env(ENV_TOKEN_FILE));
        let session_name = self.session_name(p);
        WebIdentityConfig {
            role_arn: role_arn.unwrap_or_default(),
            token_file: token_file.unwrap_or_default().into(),
            duration,
            session_name: session_name.to_string(),
        }
    }

    /// `--assume-role-session-name` (assume-role and web-identity): STS's `RoleSessionName`.
    fn session_name(&self, p: &mut Problems) -> &str {
        let session_name = self.assume_role_session_name.trim();
        if !sts_text(session_name, 64, "_+=,.@-") {
            p.push(
                "assume-role-session-name",
                session_name,
                "must be 2 to 64 characters of letters, digits and _+=,.@-",
            );
        }
        session_name
    }

    /// `run` reads the web identity token file: with `--signing-source web-identity` it must be
    /// named, by the flag or by the variable IRSA sets.
    pub(super) fn require_token_file(source: &SigningSource, p: &mut Problems) {
        if let SigningSource::WebIdentity(c) = source
            && c.token_file.as_os_str().is_empty()
        {
            p.push(
                "web-identity-token-file",
                "",
                &format!(
                    "is required with --signing-source web-identity when {ENV_TOKEN_FILE} is not set (IRSA sets it)"
                ),
            );
        }
    }

    /// `--assume-role-arn`: required, and a role's ARN.
    fn role_arn(&self, p: &mut Problems) -> String {
        let flag = "assume-role-arn";
        let arn = required(p, flag, given(&self.assume_role_arn), assume_role::NAME);
        if let Some(a) = arn
            && !is_role_arn(a)
        {
            p.push(
                flag,
                a,
                "expected a role ARN like arn:aws:iam::123456789012:role/presigner",
            );
        }
        arn.unwrap_or_default().to_string()
    }

    /// `--signing-secret-id`: required, and no longer than Secrets Manager's `SecretId`.
    fn secret_id(&self, p: &mut Problems) -> String {
        let flag = "signing-secret-id";
        let id = required(p, flag, given(&self.signing_secret_id), secrets::NAME);
        if let Some(id) = id
            && id.len() > 2048
        {
            p.push(flag, id, "must be at most 2048 characters");
        }
        id.unwrap_or_default().to_string()
    }
}

/// The value of a flag that `--signing-source {source}` needs; a problem when it is not given.
fn required<'a>(
    p: &mut Problems,
    flag: &str,
    value: Option<&'a str>,
    source: &str,
) -> Option<&'a str> {
    if value.is_none() {
        p.push(
            flag,
            "",
            &format!("is required with --signing-source {source}"),
        );
    }
    value
}

/// Whether `value` is 2 to `max` characters of letters, digits and `extra`: STS's pattern for a
/// session name and an external id.
fn sts_text(value: &str, max: usize, extra: &str) -> bool {
    (2..=max).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

/// `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`.
fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(
        parts.as_slice(),
        ["arn", partition, "iam", "", account, resource]
            if partition.starts_with("aws")
                && account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit())
                && resource.strip_prefix("role/").is_some_and(|name| !name.is_empty() && !name.ends_with('/'))
    )
}
