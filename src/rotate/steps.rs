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

use super::aws::Aws;
use super::outcome::{Created, Outcome, Retired};
use super::retire::{self, Key, Room, Version};
use super::{CURRENT, Event, PREVIOUS, RotateConfig, RotateError, Step};
use crate::clock::{self, Clock};
use crate::credentials::mask;
use crate::keylife::promise::{active_until, usable};
use crate::keylife::value::{KeyValue, ReplacedKey};

/// The calls and settings of one function instance.
pub struct Rotator {
    pub aws: Aws,
    pub config: RotateConfig,
    pub clock: Clock,
}

/// The secret as every step needs it: rotated on a period, with an `AWSCURRENT` version.
struct Secret {
    arn: String,
    period: Duration,
    window: Duration,
    current: String,
}

impl Rotator {
    /// Runs one step; the outcome's log line is written by the caller.
    pub async fn step(&self, event: &Event) -> Result<Outcome, RotateError> {
        let secret = self.secret(&event.secret_id).await?;
        if secret.current == event.token {
            // A retried finishSecret may have moved the stage and failed to deactivate.
            let previous = if event.step == Step::FinishSecret && self.config.overlap.is_zero() {
                self.retire_previous(&secret).await?
            } else {
                None
            };
            return Ok(Outcome::AlreadyCurrent {
                version: event.token.clone(),
                previous,
            });
        }
        match event.step {
            Step::CreateSecret => self.create(event, &secret).await,
            Step::SetSecret => Ok(Outcome::NothingToSet),
            Step::TestSecret => self.test(event).await,
            Step::FinishSecret => self.finish(event, &secret).await,
        }
    }

    /// `DescribeSecret`, held to what a rotation needs: a period to keep promises by, and a
    /// current version.
    async fn secret(&self, secret_id: &str) -> Result<Secret, RotateError> {
        let d = self.aws.describe(secret_id).await?;
        let period = d
            .schedule
            .period
            .ok_or_else(|| RotateError::Schedule(d.arn.clone()))?;
        let current = d
            .current
            .ok_or_else(|| RotateError::NoCurrent(d.arn.clone()))?;
        Ok(Secret {
            period,
            window: d.schedule.window,
            current,
            arn: d.arn,
        })
    }

    /// `createSecret`: make room for a key, create it and store it as `AWSPENDING` with the
    /// moment the rotator commits to (`ActiveUntil`), and, when the key it replaces is from before
    /// the rotator, the commitment for that key (`ReplacedKey`).
    async fn create(&self, event: &Event, s: &Secret) -> Result<Outcome, RotateError> {
        if let Some(pending) = self.aws.value(&s.arn, &event.token).await? {
            return Ok(Outcome::AlreadyCreated {
                version: event.token.clone(),
                key: mask(&pending.keys.access_key_id),
            });
        }
        usable(s.period, s.window, self.config.overlap).map_err(|why| RotateError::Useless {
            secret: s.arn.clone(),
            why: Box::new(why),
        })?;
        let current_value = self
            .aws
            .value(&s.arn, &s.current)
            .await?
            .ok_or_else(|| RotateError::NoCurrent(s.arn.clone()))?;
        let user = current_value.user_name.clone();
        let keys = self
            .aws
            .keys(&user)
            .await?
            .ok_or_else(|| RotateError::NoSuchUser(user.clone()))?;
        let versions = self.aws.versions(&s.arn).await?;
        let now = self.clock.now();
        let room = self
            .make_room(s, &current_value, &keys, &versions, now)
            .await?;
        let commitment = active_until(now, s.period, s.window, self.config.overlap, room.stays);
        let replaced = room.record.map(|(key, until)| ReplacedKey {
            access_key_id: key,
            active_until: clock::rfc3339(until),
        });
        let mut keys = self.aws.create_key(&user).await?;
        keys.active_until = Some(clock::rfc3339(commitment.until));
        let value = KeyValue {
            user_name: user.clone(),
            keys,
            replaced: replaced.clone(),
        };
        self.aws.put_pending(&s.arn, &event.token, &value).await?;
        Ok(Outcome::Created(Created {
            user,
            key: mask(&value.keys.access_key_id),
            active_until: commitment.until,
            bridge: commitment.bridge,
            replaced: replaced.map(|r| (mask(&r.access_key_id), r.active_until)),
            deleted: room.delete.map(|(k, _)| mask(&k)),
        }))
    }

    /// Deletes the key [`retire::make_room`] says may go, so IAM has room for a new one.
    async fn make_room(
        &self,
        s: &Secret,
        current_value: &KeyValue,
        keys: &[Key],
        versions: &[Version],
        now: SystemTime,
    ) -> Result<Room, RotateError> {
        let user = &current_value.user_name;
        let current = versions
            .iter()
            .find(|v| v.id == s.current)
            .cloned()
            .unwrap_or(Version {
                id: s.current.clone(),
                stages: vec![CURRENT.into()],
                created: None,
                key_id: Some(current_value.keys.access_key_id.clone()),
                active_until: current_value.keys.active_until(),
                replaced: None,
            });
        let room =
            retire::make_room(user, keys, &current, versions, now).map_err(RotateError::Refused)?;
        if let Some((key, why)) = &room.delete {
            self.aws.delete_key(user, key).await?;
            tracing::info!(
                secret_id = %s.arn,
                user = %user,
                deleted_access_key_id = %mask(key),
                why = %why,
                "rotation deleted a key to make room"
            );
        }
        Ok(room)
    }

    /// `testSecret`: the pending key signs as the user, retried while IAM propagates it.
    async fn test(&self, event: &Event) -> Result<Outcome, RotateError> {
        let pending = self
            .aws
            .value(&event.secret_id, &event.token)
            .await?
            .ok_or_else(|| RotateError::NoPending(event.token.clone()))?;
        let deadline = tokio::time::Instant::now() + self.config.test_timeout;
        let mut wait = Duration::from_millis(500);
        loop {
            let last = match self.aws.caller_arn(&pending.keys).await {
                Ok(arn) => return signs_as_user(&pending, arn),
                Err(e) => e.to_string(),
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

    /// `finishSecret`: `AWSCURRENT` moves to the token; with `0s`, the replaced key is retired.
    async fn finish(&self, event: &Event, s: &Secret) -> Result<Outcome, RotateError> {
        let pending = self
            .aws
            .value(&s.arn, &event.token)
            .await?
            .ok_or_else(|| RotateError::NoPending(event.token.clone()))?;
        let replaced = self.aws.value(&s.arn, &s.current).await?;
        self.aws
            .move_current(&s.arn, &event.token, &s.current)
            .await?;
        let replaced = match replaced {
            Some(old)
                if self.config.overlap.is_zero()
                    && old.keys.access_key_id != pending.keys.access_key_id =>
            {
                Some(self.retire(&old).await?)
            }
            _ => None,
        };
        Ok(Outcome::Finished {
            key: mask(&pending.keys.access_key_id),
            previous_version: s.current.clone(),
            replaced,
        })
    }

    /// `--signing-key-overlap 0s`: the replaced key goes inactive when its promise is over (on
    /// schedule, at once). A key still promised (a rotation by hand, a key from before the rotator)
    /// stays active, and a later rotation deletes it once its promise has passed.
    async fn retire(&self, old: &KeyValue) -> Result<Retired, RotateError> {
        let key = mask(&old.keys.access_key_id);
        Ok(match old.keys.active_until() {
            Some(until) if until <= self.clock.now() => {
                self.aws
                    .deactivate(&old.user_name, &old.keys.access_key_id)
                    .await?;
                Retired::Deactivated(key)
            }
            Some(until) => Retired::Promised(key, until),
            None => Retired::FromBeforeRotator(key),
        })
    }

    /// `--signing-key-overlap 0s`, `finishSecret` retried: the `AWSPREVIOUS` key retired.
    async fn retire_previous(&self, s: &Secret) -> Result<Option<Retired>, RotateError> {
        let previous = self
            .aws
            .versions(&s.arn)
            .await?
            .into_iter()
            .find(|v| v.stages.iter().any(|st| st == PREVIOUS));
        let Some(previous) = previous else {
            return Ok(Some(Retired::NoPrevious));
        };
        let current = self.aws.value(&s.arn, &s.current).await?;
        match self.aws.value(&s.arn, &previous.id).await? {
            // As in `finish`: a previous version holding the current key leaves it alone.
            Some(old) if current.is_none_or(|c| c.keys.access_key_id != old.keys.access_key_id) => {
                Ok(Some(self.retire(&old).await?))
            }
            _ => Ok(None),
        }
    }
}

/// Whether the pending key signs as its user (an IAM user ARN ending in `/NAME`).
fn signs_as_user(pending: &KeyValue, arn: String) -> Result<Outcome, RotateError> {
    if arn.ends_with(&format!("/{}", pending.user_name)) && arn.contains(":user/") {
        return Ok(Outcome::Tested {
            key: mask(&pending.keys.access_key_id),
            signs_as: arn,
        });
    }
    Err(RotateError::WrongUser {
        arn,
        user: pending.user_name.clone(),
    })
}
