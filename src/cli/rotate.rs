//! `rotate-keys` flags to [`RotateConfig`].

use std::time::Duration;

use super::RotateKeysArgs;
use super::problems::{ConfigError, Problems};
use crate::rotate::RotateConfig;

impl TryFrom<&RotateKeysArgs> for RotateConfig {
    type Error = ConfigError;

    fn try_from(args: &RotateKeysArgs) -> Result<Self, ConfigError> {
        let mut p = Problems::default();
        let overlap = args.key_overlap.rotator(&mut p);
        let test_timeout =
            p.duration_min("test-timeout", &args.test_timeout, Duration::from_secs(1));
        p.finish(RotateConfig {
            overlap,
            test_timeout,
        })
    }
}
