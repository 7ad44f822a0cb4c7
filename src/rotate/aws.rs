//! The rotation's calls to Secrets Manager, IAM and STS. Each returns plain values that the steps
//! ([`super::steps`]) decide on, and makes no rotation decision itself: an answer that something
//! does not exist becomes a plain value (`None`, or done for a key already deleted), a version
//! whose value cannot be read lists its key as unknown, and any other SDK error becomes
//! [`RotateError::Aws`], naming the call and keeping the SDK's error as its source.

use std::time::SystemTime;

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_sdk_iam::types::StatusType;
use aws_sdk_secretsmanager::Client as Secrets;
use aws_smithy_runtime_api::client::result::SdkError;

use super::retire::{Key, Version};
use super::{CURRENT, PENDING, RotateError};
use crate::keylife::schedule::Schedule;
use crate::keylife::value::{KeyPair, KeyValue};

/// The clients of one function instance.
pub struct Aws {
    pub secrets: Secrets,
    pub iam: aws_sdk_iam::Client,
    /// For the STS client that signs as a pending key.
    pub sdk: SdkConfig,
}

/// What `DescribeSecret` says that every step needs.
#[derive(Debug, Clone)]
pub struct Described {
    /// The secret's ARN (the id the event gave, if Secrets Manager answered none).
    pub arn: String,
    pub schedule: Schedule,
    /// The version that is `AWSCURRENT`, if any.
    pub current: Option<String>,
}

/// What a failed SDK call becomes: `what` failed, with the service's code and message (or the
/// error's chain) and the SDK's error as the source, without the raw response (whose body may
/// carry a new key).
pub fn aws<E, R>(what: &'static str) -> impl FnOnce(SdkError<E, R>) -> RotateError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    move |e| {
        let detail = match e.as_service_error() {
            Some(service) => format!(
                "{}: {}",
                service.code().unwrap_or("error"),
                service.message().unwrap_or("no message")
            ),
            None => crate::text::error_chain(&e),
        };
        RotateError::Aws {
            what,
            detail,
            source: e.into_source().ok(),
        }
    }
}

impl Aws {
    pub fn new(sdk: SdkConfig) -> Self {
        Aws {
            secrets: Secrets::new(&sdk),
            iam: aws_sdk_iam::Client::new(&sdk),
            sdk,
        }
    }

    /// `DescribeSecret`: the ARN, the schedule and which version is `AWSCURRENT`.
    pub async fn describe(&self, secret_id: &str) -> Result<Described, RotateError> {
        let d = self
            .secrets
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(aws("secretsmanager DescribeSecret"))?;
        let current = d.version_ids_to_stages().and_then(|stages| {
            stages
                .iter()
                .find(|(_, st)| st.iter().any(|s| s == CURRENT))
                .map(|(v, _)| v.clone())
        });
        Ok(Described {
            arn: d.arn().unwrap_or(secret_id).to_string(),
            schedule: Schedule::of(&d),
            current,
        })
    }

    /// The value of `version`; `None` when the version has none (or does not exist).
    pub async fn value(
        &self,
        secret: &str,
        version: &str,
    ) -> Result<Option<KeyValue>, RotateError> {
        match self
            .secrets
            .get_secret_value()
            .secret_id(secret)
            .version_id(version)
            .send()
            .await
        {
            Ok(v) => {
                KeyValue::parse(v.secret_string())
                    .map(Some)
                    .map_err(|why| RotateError::Value {
                        version: version.to_string(),
                        why,
                    })
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(aws("secretsmanager GetSecretValue")(e)),
        }
    }

    /// Every version, deprecated ones included, with the key each holds.
    pub async fn versions(&self, arn: &str) -> Result<Vec<Version>, RotateError> {
        let listed = self
            .secrets
            .list_secret_version_ids()
            .secret_id(arn)
            .include_deprecated(true)
            .send()
            .await
            .map_err(aws("secretsmanager ListSecretVersionIds"))?;
        let mut versions = Vec::new();
        for v in listed.versions() {
            let Some(id) = v.version_id() else { continue };
            // A version whose value cannot be read still counts: its key is simply unknown.
            let value = self.value(arn, id).await.ok().flatten();
            versions.push(Version {
                id: id.to_string(),
                stages: v.version_stages().to_vec(),
                created: v.created_date().and_then(|d| SystemTime::try_from(*d).ok()),
                key_id: value.as_ref().map(|k| k.keys.access_key_id.clone()),
                active_until: value.as_ref().and_then(|v| v.keys.active_until()),
                replaced: value.as_ref().and_then(|v| {
                    let r = v.replaced.as_ref()?;
                    Some((r.access_key_id.clone(), r.active_until()?))
                }),
            });
        }
        Ok(versions)
    }

    /// `PutSecretValue`: `value` as the token's `AWSPENDING` version.
    pub async fn put_pending(
        &self,
        arn: &str,
        token: &str,
        value: &KeyValue,
    ) -> Result<(), RotateError> {
        self.secrets
            .put_secret_value()
            .secret_id(arn)
            .client_request_token(token)
            .secret_string(value.to_json())
            .version_stages(PENDING)
            .send()
            .await
            .map_err(aws("secretsmanager PutSecretValue"))?;
        Ok(())
    }

    /// `UpdateSecretVersionStage`: `AWSCURRENT` moves from version `from` to `to`.
    pub async fn move_current(&self, arn: &str, to: &str, from: &str) -> Result<(), RotateError> {
        self.secrets
            .update_secret_version_stage()
            .secret_id(arn)
            .version_stage(CURRENT)
            .move_to_version_id(to)
            .remove_from_version_id(from)
            .send()
            .await
            .map_err(aws("secretsmanager UpdateSecretVersionStage"))?;
        Ok(())
    }

    /// The user's keys; `None` when the user does not exist.
    pub async fn keys(&self, user: &str) -> Result<Option<Vec<Key>>, RotateError> {
        let listed = match self.iam.list_access_keys().user_name(user).send().await {
            Ok(listed) => listed,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_no_such_entity_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(aws("iam ListAccessKeys")(e)),
        };
        Ok(Some(
            listed
                .access_key_metadata()
                .iter()
                .filter_map(|k| {
                    Some(Key {
                        id: k.access_key_id()?.to_string(),
                        created: k.create_date().and_then(|d| SystemTime::try_from(*d).ok()),
                    })
                })
                .collect(),
        ))
    }

    /// `CreateAccessKey`: a new key pair for `user`, with no `ActiveUntil` yet.
    pub async fn create_key(&self, user: &str) -> Result<KeyPair, RotateError> {
        let created = self
            .iam
            .create_access_key()
            .user_name(user)
            .send()
            .await
            .map_err(aws("iam CreateAccessKey"))?;
        let key = created.access_key().ok_or(RotateError::Aws {
            what: "iam CreateAccessKey",
            detail: "answered no key".into(),
            source: None,
        })?;
        Ok(KeyPair {
            access_key_id: key.access_key_id().to_string(),
            secret_access_key: key.secret_access_key().to_string(),
            active_until: None,
        })
    }

    /// `DeleteAccessKey`.
    pub async fn delete_key(&self, user: &str, key: &str) -> Result<(), RotateError> {
        self.iam
            .delete_access_key()
            .user_name(user)
            .access_key_id(key)
            .send()
            .await
            .map_err(aws("iam DeleteAccessKey"))?;
        Ok(())
    }

    /// `UpdateAccessKey` to `Inactive`. A key deleted already counts as done: nothing signs with
    /// it either way.
    pub async fn deactivate(&self, user: &str, key: &str) -> Result<(), RotateError> {
        match self
            .iam
            .update_access_key()
            .user_name(user)
            .access_key_id(key)
            .status(StatusType::Inactive)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_no_such_entity_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(aws("iam UpdateAccessKey")(e)),
        }
    }

    /// STS `GetCallerIdentity` signed with `keys`: the ARN they sign as.
    pub async fn caller_arn(&self, keys: &KeyPair) -> Result<String, RotateError> {
        let credentials = Credentials::new(
            &keys.access_key_id,
            &keys.secret_access_key,
            None,
            None,
            "rotation",
        );
        let config = aws_sdk_sts::config::Builder::from(&self.sdk)
            .credentials_provider(credentials)
            .build();
        let identity = aws_sdk_sts::Client::from_conf(config)
            .get_caller_identity()
            .send()
            .await
            .map_err(aws("sts GetCallerIdentity"))?;
        Ok(identity.arn().unwrap_or_default().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_iam::operation::create_access_key::CreateAccessKeyError;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

    /// An SDK error says which call failed and keeps the SDK's error as its `source`, for whoever
    /// walks the chain.
    #[test]
    fn sdk_errors_are_kept_as_source() {
        let e: SdkError<CreateAccessKeyError, HttpResponse> =
            SdkError::construction_failure("no region configured");
        let err = aws("iam CreateAccessKey")(e);
        assert!(
            err.to_string().starts_with("iam CreateAccessKey: "),
            "{err}"
        );
        let source = std::error::Error::source(&err).expect("the SDK's error");
        assert!(
            source.to_string().contains("no region configured"),
            "{source}"
        );
    }
}
