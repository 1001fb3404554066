//! Writers: a [`Model`] back to bytes, in the encoding and dialect a given
//! XGBoost version writes (and therefore reads).
//!
//! [`write_model`] is mechanical: it writes the IR as it is, choosing which
//! keys, array types and header fields to emit by the [`Dialect`]'s version.
//! It does not change values; bringing a model into the shape a target
//! version needs (base_score space, objective configuration, multi-target
//! layout, attributes) is [`crate::xgboost::convert`]'s job. A model the
//! dialect cannot hold (categorical splits in legacy binary, a vector
//! base_score before 3.1, ...) is an error, never silently dropped.
//!
//! | version | encodings | what the writer emits |
//! |---|---|---|
//! | 0.90 | legacy binary | no magic, header version 0, `base_score` as a margin, `num_output_group`, 0.90 attribute/`max_delta_step` tail |
//! | 1.0 – 1.2 | binary, JSON | `leaf_child_counts`, boolean `default_left`; binary with `binf` from 1.1 and the `objective` attribute |
//! | 1.3 – 1.5 | binary, JSON | `split_type` + `categories*`, boolean `default_left`, `feature_names` from 1.4 |
//! | 1.6 – 3.0 | binary, JSON, UBJSON | integer `default_left`, `num_parallel_tree`, `num_target`, `boost_from_average` (1.7), `iteration_indptr` (2.0), typed UBJSON arrays `$d $U $l $L` |
//! | 3.1 + | JSON, UBJSON | vector `base_score` string, `cats` when the model has them, 3.2 `leaf_weights` multi-target layout |

mod binary;
pub mod emit;
mod model_doc;

use super::ir::{Encoding, Model, Version};
use crate::error::{Error, Result};
use serde::Serialize;
use std::fmt;

/// An encoding plus the XGBoost version whose writer it imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Dialect {
    /// Legacy binary, JSON or UBJSON.
    pub encoding: Encoding,
    /// The XGBoost version (major.minor; patch recorded in JSON `version`).
    pub version: Version,
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} as xgboost {}.{} writes it",
            self.encoding.describe(),
            self.version.major,
            self.version.minor
        )
    }
}

impl Dialect {
    /// A dialect.
    pub fn new(encoding: Encoding, version: Version) -> Self {
        Dialect { encoding, version }
    }

    /// True when the dialect's version is at least `major.minor`.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.version.major, self.version.minor) >= (major, minor)
    }

    /// The encoding sm-pack prefers for a version: legacy binary for 0.90
    /// (the only one it reads), JSON for 1.0 – 1.5 (also readable by every
    /// later xgboost, unlike legacy binary), UBJSON from 1.6 (compact,
    /// floats stored bit-exact, the default `save_model` format since 2.1).
    pub fn preferred_encoding(version: Version) -> Encoding {
        if version.major == 0 {
            Encoding::LegacyBinary
        } else if (version.major, version.minor) < (1, 6) {
            Encoding::Json
        } else {
            Encoding::Ubjson
        }
    }

    /// The preferred dialect for a version.
    pub fn preferred(version: Version) -> Self {
        Dialect::new(Self::preferred_encoding(version), version)
    }

    /// Checks that the version writes this encoding at all.
    pub fn check(&self) -> Result<()> {
        let v = self.version;
        let ok = match self.encoding {
            Encoding::LegacyBinary => {
                v.major == 0 && v.minor == 90 || (v.major >= 1 && !self.at_least(3, 1))
            }
            Encoding::Json => v.major >= 1,
            Encoding::Ubjson => self.at_least(1, 6),
        };
        let known = (v.major == 0 && v.minor == 90) || (v.major >= 1 && !self.at_least(3, 5));
        if !known {
            return Err(Error::Usage {
                message: format!(
                    "unknown xgboost version {v} for a dialect (sm-pack writes 0.90 and 1.0 - 3.4)"
                ),
            });
        }
        if !ok {
            let why = match self.encoding {
                Encoding::LegacyBinary => "legacy binary exists from 0.90 to 3.0 only",
                Encoding::Json => "JSON models exist from xgboost 1.0",
                Encoding::Ubjson => "UBJSON models exist from xgboost 1.6",
            };
            return Err(Error::Usage {
                message: format!(
                    "xgboost {}.{} has no {} model format ({why})",
                    v.major,
                    v.minor,
                    self.encoding.describe()
                ),
            });
        }
        Ok(())
    }
}

/// Writes `model` in `dialect`. The model must already be in the shape the
/// dialect needs (see [`crate::xgboost::convert`]); the writer refuses what
/// the dialect cannot hold rather than dropping it.
pub fn write_model(model: &Model, dialect: &Dialect) -> Result<Vec<u8>> {
    dialect.check()?;
    match dialect.encoding {
        Encoding::LegacyBinary => binary::write(model, dialect),
        Encoding::Json => Ok(emit::to_json(&model_doc::document(model, dialect)?)),
        Encoding::Ubjson => Ok(emit::to_ubjson(&model_doc::document(model, dialect)?)),
    }
}

pub(crate) fn unrepresentable(dialect: &Dialect, what: impl fmt::Display) -> Error {
    Error::Usage {
        message: format!("cannot write {what} as {dialect}"),
    }
}
