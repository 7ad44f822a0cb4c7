//! The four steps of a Secrets Manager rotation of an IAM user's access keys, each idempotent:
//! Secrets Manager retries a failed step with the same `ClientRequestToken`.
//!
//! - `createSecret`: unless the token's version already has a value, make room ([`retire`]),
//!   create a key and store it as `AWSPENDING` under the token, with `ActiveUntil`;
//! - `setSecret`: nothing to set: IAM already holds the key;
//! - `testSecret`: STS `GetCallerIdentity` with the pending key answers the user (new IAM keys take
//!   seconds to work: retried within `--test-timeout`);
//! - `finishSecret`: move `AWSCURRENT` to the token (the old version becomes `AWSPREVIOUS`); with
//!   `--signing-key-overlap 0s`, deactivate the replaced key at once.

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_sdk_iam::types::StatusType;
use aws_sdk_secretsmanager::Client as Secrets;
use aws_smithy_runtime_api::client::result::SdkError;
use tracing::info;

use super::retire::{self, Key, Room, Version};
use super::{Event, RotateConfig, RotateError, Step};
use crate::clock::{self, Clock};
use crate::credentials::mask;
use crate::keylife::promise::{active_until, usable};
use crate::keylife::schedule::Schedule;
use crate::keylife::value::{KeyPair, KeyValue, ReplacedKey};

const CURRENT: &str = "AWSCURRENT";
const PENDING: &str = "AWSPENDING";

/// The clients and settings of one function instance.
pub struct Rotator {
    pub secrets: Secrets,
    pub iam: aws_sdk_iam::Client,
    pub sdk: SdkConfig,
    pub config: RotateConfig,
    pub clock: Clock,
}

/// What `DescribeSecret` says that every step needs.
struct Described {
    arn: String,
    period: Duration,
    window: Duration,
    /// The version that is `AWSCURRENT`, and the token's stages.
    current: String,
    token_is_current: bool,
}

fn aws<E, R>(what: &'static str) -> impl FnOnce(SdkError<E, R>) -> RotateError
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

impl Rotator {
    /// Runs one step; the outcome's log line is written by the caller.
    pub async fn step(&self, event: &Event) -> Result<String, RotateError> {
        let described = self.describe(&event.secret_id, &event.token).await?;
        if described.token_is_current {
            // A retried finishSecret may have moved the stage and failed to deactivate.
            if event.step == Step::FinishSecret && self.config.overlap.is_zero() {
                return self.deactivate_previous(&described).await;
            }
            return Ok(format!(
                "version {} is already AWSCURRENT: nothing to do",
                event.token
            ));
        }
        match event.step {
            Step::CreateSecret => self.create(event, &described).await,
            Step::SetSecret => Ok("nothing to set: IAM already holds the key".into()),
            Step::TestSecret => self.test(event).await,
            Step::FinishSecret => self.finish(event, &described).await,
        }
    }

    async fn describe(&self, secret_id: &str, token: &str) -> Result<Described, RotateError> {
        let d = self
            .secrets
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(aws("secretsmanager DescribeSecret"))?;
        let arn = d.arn().unwrap_or(secret_id).to_string();
        let schedule = Schedule::of(&d);
        let period = schedule
            .period
            .ok_or_else(|| RotateError::Schedule(arn.clone()))?;
        let window = schedule.window;
        let stages = d.version_ids_to_stages();
        let current = stages
            .and_then(|s| {
                s.iter()
                    .find(|(_, st)| st.iter().any(|x| x == CURRENT))
                    .map(|(v, _)| v.clone())
            })
            .ok_or_else(|| RotateError::NoCurrent(arn.clone()))?;
        Ok(Described {
            token_is_current: current == token,
            arn,
            period,
            window,
            current,
        })
    }

    async fn value(&self, secret: &str, version: &str) -> Result<Option<KeyValue>, RotateError> {
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

    /// `createSecret`: make room for a key, create it and store it as `AWSPENDING` with the
    /// moment the rotator commits to (`ActiveUntil`), and, when the key it replaces is from before
    /// the rotator, the commitment for that key (`ReplacedKey`).
    async fn create(&self, event: &Event, d: &Described) -> Result<String, RotateError> {
        if let Some(pending) = self.value(&d.arn, &event.token).await? {
            return Ok(format!(
                "version {} already holds key {}",
                event.token,
                mask(&pending.keys.access_key_id)
            ));
        }
        usable(d.period, d.window, self.config.overlap).map_err(|why| RotateError::Useless {
            secret: d.arn.clone(),
            why,
        })?;
        let current_value = self
            .value(&d.arn, &d.current)
            .await?
            .ok_or_else(|| RotateError::NoCurrent(d.arn.clone()))?;
        let user = current_value.user_name.clone();
        let keys = self.keys(&user).await?;
        let versions = self.versions(&d.arn).await?;
        let now = self.clock.now();
        let room = self
            .make_room(d, &current_value, &keys, &versions, now)
            .await?;
        let commitment = active_until(now, d.period, d.window, self.config.overlap, room.stays);
        let replaced = room.record.map(|(key, until)| ReplacedKey {
            access_key_id: key,
            active_until: clock::rfc3339(until),
        });
        let value = self
            .store_pending(event, d, &user, commitment.until, replaced.clone())
            .await?;
        Ok(format!(
            "created key {} for {user} as AWSPENDING, active until at least {}{}{}{}",
            mask(&value.keys.access_key_id),
            clock::rfc3339(commitment.until),
            if commitment.bridge {
                " (a bridge: the key beside it is promised past the next rotation)"
            } else {
                ""
            },
            replaced
                .map(|r| format!(
                    "; the replaced key {} stays active until {}",
                    mask(&r.access_key_id),
                    r.active_until
                ))
                .unwrap_or_default(),
            room.delete
                .map(|(k, _)| format!("; deleted {}", mask(&k)))
                .unwrap_or_default()
        ))
    }

    /// Deletes the key [`retire::make_room`] says may go, so IAM has room for a new one.
    async fn make_room(
        &self,
        d: &Described,
        current_value: &KeyValue,
        keys: &[Key],
        versions: &[Version],
        now: SystemTime,
    ) -> Result<Room, RotateError> {
        let user = &current_value.user_name;
        let current = versions
            .iter()
            .find(|v| v.id == d.current)
            .cloned()
            .unwrap_or(Version {
                id: d.current.clone(),
                stages: vec![CURRENT.into()],
                created: None,
                key_id: Some(current_value.keys.access_key_id.clone()),
                active_until: current_value.keys.active_until(),
                replaced: None,
            });
        let room =
            retire::make_room(user, keys, &current, versions, now).map_err(RotateError::Refused)?;
        if let Some((key, why)) = &room.delete {
            self.iam
                .delete_access_key()
                .user_name(user)
                .access_key_id(key)
                .send()
                .await
                .map_err(aws("iam DeleteAccessKey"))?;
            info!(
                secret_id = %d.arn,
                user = %user,
                deleted_access_key_id = %mask(key),
                why = %why,
                "rotation deleted a key to make room"
            );
        }
        Ok(room)
    }

    /// A new key for `user`, stored as the token's `AWSPENDING` version, active until `until`.
    async fn store_pending(
        &self,
        event: &Event,
        d: &Described,
        user: &str,
        until: SystemTime,
        replaced: Option<ReplacedKey>,
    ) -> Result<KeyValue, RotateError> {
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
        let value = KeyValue {
            user_name: user.to_string(),
            keys: KeyPair {
                access_key_id: key.access_key_id().to_string(),
                secret_access_key: key.secret_access_key().to_string(),
                active_until: Some(clock::rfc3339(until)),
            },
            replaced,
        };
        self.secrets
            .put_secret_value()
            .secret_id(&d.arn)
            .client_request_token(&event.token)
            .secret_string(value.to_json())
            .version_stages(PENDING)
            .send()
            .await
            .map_err(aws("secretsmanager PutSecretValue"))?;
        Ok(value)
    }

    async fn test(&self, event: &Event) -> Result<String, RotateError> {
        let pending = self
            .value(&event.secret_id, &event.token)
            .await?
            .ok_or_else(|| RotateError::NoPending(event.token.clone()))?;
        let credentials = Credentials::new(
            &pending.keys.access_key_id,
            &pending.keys.secret_access_key,
            None,
            None,
            "rotation",
        );
        let config = aws_sdk_sts::config::Builder::from(&self.sdk)
            .credentials_provider(credentials)
            .build();
        let sts = aws_sdk_sts::Client::from_conf(config);
        let deadline = tokio::time::Instant::now() + self.config.test_timeout;
        let mut wait = Duration::from_millis(500);
        loop {
            let last = match sts.get_caller_identity().send().await {
                Ok(identity) => {
                    let arn = identity.arn().unwrap_or_default();
                    if arn.ends_with(&format!("/{}", pending.user_name)) && arn.contains(":user/") {
                        return Ok(format!(
                            "the pending key {} signs as {arn}",
                            mask(&pending.keys.access_key_id)
                        ));
                    }
                    return Err(RotateError::WrongUser {
                        arn: arn.to_string(),
                        user: pending.user_name.clone(),
                    });
                }
                Err(e) => aws("sts GetCallerIdentity")(e).to_string(),
            };
            if tokio::time::Instant::now() + wait > deadline {
                return Err(RotateError::KeyNotWorking {
                    timeout: humantime::format_duration(self.config.test_timeout).to_string(),
                    last,
                });
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
        }
    }

    async fn finish(&self, event: &Event, d: &Described) -> Result<String, RotateError> {
        let pending = self
            .value(&d.arn, &event.token)
            .await?
            .ok_or_else(|| RotateError::NoPending(event.token.clone()))?;
        let replaced = self.value(&d.arn, &d.current).await?;
        self.secrets
            .update_secret_version_stage()
            .secret_id(&d.arn)
            .version_stage(CURRENT)
            .move_to_version_id(&event.token)
            .remove_from_version_id(&d.current)
            .send()
            .await
            .map_err(aws("secretsmanager UpdateSecretVersionStage"))?;
        let mut said = format!(
            "key {} is AWSCURRENT; version {} is AWSPREVIOUS",
            mask(&pending.keys.access_key_id),
            d.current
        );
        if self.config.overlap.is_zero()
            && let Some(old) = replaced
            && old.keys.access_key_id != pending.keys.access_key_id
        {
            said.push_str(&self.deactivate_if_over(&old).await?);
        }
        Ok(said)
    }

    /// `--signing-key-overlap 0s`: the replaced key goes inactive when its promise is over (on
    /// schedule, at once). A key still promised (a rotation by hand, a key from before the rotator)
    /// stays active, and a later rotation deletes it once its promise has passed.
    async fn deactivate_if_over(&self, old: &KeyValue) -> Result<String, RotateError> {
        let key = mask(&old.keys.access_key_id);
        match old.keys.active_until() {
            Some(until) if until <= self.clock.now() => {
                self.deactivate(old).await?;
                Ok(format!(
                    "; deactivated the replaced key {key} (--signing-key-overlap 0s)"
                ))
            }
            Some(until) => Ok(format!(
                "; the replaced key {key} stays active until {}, its promise (--signing-key-overlap 0s)",
                clock::rfc3339(until)
            )),
            None => Ok(format!(
                "; the replaced key {key}, from before the rotation function, stays active until its recorded promise"
            )),
        }
    }

    /// `--signing-key-overlap 0s`: the `AWSPREVIOUS` key, inactive.
    async fn deactivate_previous(&self, d: &Described) -> Result<String, RotateError> {
        let previous = self
            .versions(&d.arn)
            .await?
            .into_iter()
            .find(|v| v.stages.iter().any(|s| s == "AWSPREVIOUS"));
        let Some(previous) = previous else {
            return Ok("already AWSCURRENT; no AWSPREVIOUS key to deactivate".into());
        };
        match self.value(&d.arn, &previous.id).await? {
            Some(old) => Ok(format!(
                "already AWSCURRENT{}",
                self.deactivate_if_over(&old).await?
            )),
            None => Ok("already AWSCURRENT".into()),
        }
    }

    async fn deactivate(&self, old: &KeyValue) -> Result<(), RotateError> {
        match self
            .iam
            .update_access_key()
            .user_name(&old.user_name)
            .access_key_id(&old.keys.access_key_id)
            .status(StatusType::Inactive)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Deleted already: nothing signs with it either way.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_no_such_entity_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(aws("iam UpdateAccessKey")(e)),
        }
    }

    /// The user's keys; a user that does not exist is a clear error.
    async fn keys(&self, user: &str) -> Result<Vec<Key>, RotateError> {
        let listed = self
            .iam
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_no_such_entity_exception())
                {
                    RotateError::NoSuchUser(user.to_string())
                } else {
                    aws("iam ListAccessKeys")(e)
                }
            })?;
        Ok(listed
            .access_key_metadata()
            .iter()
            .filter_map(|k| {
                Some(Key {
                    id: k.access_key_id()?.to_string(),
                    created: k.create_date().and_then(|d| SystemTime::try_from(*d).ok()),
                })
            })
            .collect())
    }

    /// Every version, deprecated ones included, with the key each holds.
    async fn versions(&self, arn: &str) -> Result<Vec<Version>, RotateError> {
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
