//! `--signing-key-overlap`, declared and parsed once: the sidecar (`run`, `demo`, `iam-policy`,
//! through the signing source's flags) and the rotation function (`rotate-keys`) read the same
//! flag, the same variable and the same words, since both must be given the same value.

use std::time::Duration;

use clap::Args;

use super::problems::Problems;
use crate::keylife::schedule::{MAX_ROTATION_PERIOD, Overlap};

/// The flag's name, as problems name it.
const FLAG: &str = "signing-key-overlap";

/// The word for two-key rotation.
const ROTATION_PERIOD: &str = "rotation-period";

/// `--signing-key-overlap`.
#[derive(Debug, Clone, Args)]
pub struct KeyOverlapArgs {
    /// How long a key stays active after rotation replaces it: rotation-period (two-key rotation:
    /// deleted by the rotation after next) or a duration (0s: deactivated when the new key becomes
    /// current). Give the sidecar (secrets-manager) and rotate-keys the same value; rotate-keys
    /// takes only rotation-period or 0s.
    #[arg(long, env = "SESSIONGUARD_SIGNING_KEY_OVERLAP", default_value = crate::tracked::secrets::DEFAULT_KEY_OVERLAP)]
    pub signing_key_overlap: String,
}

impl KeyOverlapArgs {
    /// What the sidecar accepts: `rotation-period`, or a duration Secrets Manager can rotate
    /// within.
    pub(super) fn sidecar(&self, p: &mut Problems) -> Overlap {
        let text = &self.signing_key_overlap;
        parse(text).unwrap_or_else(|why| {
            p.push(FLAG, text, &why);
            Overlap::RotationPeriod
        })
    }

    /// What the rotation function accepts: it keeps a replaced key one rotation
    /// (`rotation-period`) or deactivates it at once (`0s`), nothing in between.
    pub(super) fn rotator(&self, p: &mut Problems) -> Overlap {
        let text = &self.signing_key_overlap;
        match parse(text) {
            Ok(overlap @ (Overlap::RotationPeriod | Overlap::Fixed(Duration::ZERO))) => overlap,
            _ => {
                p.push(
                    FLAG,
                    text,
                    "the rotator keeps a replaced key one rotation (rotation-period) or deactivates it at once (0s)",
                );
                Overlap::RotationPeriod
            }
        }
    }
}

/// The flag's value, or why it is none.
fn parse(text: &str) -> Result<Overlap, String> {
    let text = text.trim();
    if text == ROTATION_PERIOD {
        return Ok(Overlap::RotationPeriod);
    }
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("{e} (expected a duration like 90s, 15m or 1h 30m)"))?;
    if d > MAX_ROTATION_PERIOD {
        return Err(format!(
            "must be at most 1000d (Secrets Manager's longest rotation period) or {ROTATION_PERIOD}"
        ));
    }
    Ok(Overlap::Fixed(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(value: &str) -> KeyOverlapArgs {
        KeyOverlapArgs {
            signing_key_overlap: value.into(),
        }
    }

    /// What each side accepts of one flag: the sidecar any duration up to 1000d, the rotator
    /// only the two contracts it keeps.
    #[test]
    fn each_side_accepts_its_values() {
        let day = Duration::from_secs(86_400);
        let cases: &[(&str, Option<Overlap>, Option<Overlap>)] = &[
            (
                "rotation-period",
                Some(Overlap::RotationPeriod),
                Some(Overlap::RotationPeriod),
            ),
            (
                " rotation-period ",
                Some(Overlap::RotationPeriod),
                Some(Overlap::RotationPeriod),
            ),
            (
                "0s",
                Some(Overlap::Fixed(Duration::ZERO)),
                Some(Overlap::Fixed(Duration::ZERO)),
            ),
            ("1d", Some(Overlap::Fixed(day)), None),
            ("1000d", Some(Overlap::Fixed(day * 1000)), None),
            ("1001d", None, None),
            ("soon", None, None),
        ];
        for (value, sidecar, rotator) in cases {
            let mut p = Problems::default();
            let got = args(value).sidecar(&mut p);
            assert_eq!(p.finish(got).ok(), *sidecar, "sidecar {value:?}");
            let mut p = Problems::default();
            let got = args(value).rotator(&mut p);
            assert_eq!(p.finish(got).ok(), *rotator, "rotator {value:?}");
        }
    }
}
