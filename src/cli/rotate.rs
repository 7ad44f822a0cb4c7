//! `rotate-keys` flags to [`RotateConfig`].

use std::time::Duration;

use super::RotateKeysArgs;
use super::problems::{ConfigError, Problems};
use crate::keylife::schedule::Overlap;
use crate::rotate::RotateConfig;

impl TryFrom<&RotateKeysArgs> for RotateConfig {
    type Error = ConfigError;

    fn try_from(args: &RotateKeysArgs) -> Result<Self, ConfigError> {
        let mut p = Problems::default();
        let overlap = match args.signing_key_overlap.trim() {
            "rotation-period" => Overlap::RotationPeriod,
            other => match humantime::parse_duration(other) {
                Ok(d) if d.is_zero() => Overlap::Fixed(Duration::ZERO),
                _ => {
                    p.push(
                        "signing-key-overlap",
                        other,
                        "the rotator keeps a replaced key one rotation (rotation-period) or deactivates it at once (0s)",
                    );
                    Overlap::RotationPeriod
                }
            },
        };
        let test_timeout =
            p.duration_min("test-timeout", &args.test_timeout, Duration::from_secs(1));
        p.finish(RotateConfig {
            overlap,
            test_timeout,
        })
    }
}
