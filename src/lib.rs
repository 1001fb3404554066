//! # sm-pack
//!
//! Validate XGBoost and fastText models and pack them into deterministic
//! `model.tar.gz` archives in the layout Amazon SageMaker's built-in XGBoost
//! and BlazingText containers load, with a manifest and `SHA256SUMS` beside
//! them.
//!
//! Packing a model takes a few lines:
//!
//! ```
//! use sm_pack::pack::{pack, Family, PackJob};
//! # let dir = tempfile::tempdir()?;
//! # let model = dir.path().join("model.bin");
//! # std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/example/churn-xgboost.json"), &model)?;
//! let out = dir.path().join("model.tar.gz");
//! let job = PackJob::new(Family::Xgboost, &model, &out)?;
//! let outcome = pack(&job)?;
//! if outcome.packed {
//!     let manifest = outcome.manifest.expect("written when packed");
//!     println!("{} sha256 {}", out.display(), manifest.archive.sha256);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The jobs, and where they are
//!
//! | job | API | example (`cargo run --example NAME`) |
//! |---|---|---|
//! | inspect a model: summary, findings, every container's verdict | [`xgboost::inspect_bytes`], [`fasttext::inspect_file`], [`container::verdicts_for_model`] | `inspect` |
//! | pack it (validate, convert for the tag, archive, manifest, `SHA256SUMS`) | [`pack::pack`] with a [`pack::PackJob`] | `pack` |
//! | verify an existing archive the way SageMaker will | [`verify::verify_archive`] | `verify` |
//! | convert an XGBoost model for a container tag | [`xgboost::convert::convert`] | `convert` |
//! | predict locally, as the container would | [`xgboost::predict::Predictor`], [`fasttext::Predictor`] | `predict` |
//! | upload an archive to S3, verified (feature `s3`) | `s3::upload_archive_file` | `upload` |
//!
//! Every function returns [`Result`]: an [`Error`] when the input cannot be
//! read at all (with [`Error::exit_code`] and [`Error::hint`] for a CLI);
//! problems found *in* an input are [`Finding`]s, listed in the outcome. The
//! examples run on the model in `testdata/example/` without arguments.
//!
//! Lower-level pieces: [`archive::stage_archive`] writes any set of files as
//! a deterministic archive; [`manifest`] builds the sidecars.

#![deny(missing_docs)]

pub mod archive;
pub mod batch;
pub mod container;
pub mod error;
pub mod fasttext;
pub mod hash;
pub mod input;
pub mod manifest;
pub mod output;
pub mod pack;
mod recordio;
pub mod report;
#[cfg(feature = "s3")]
pub mod s3;
pub mod serve;
pub mod verify;
pub mod xgboost;

pub use error::{Error, Result};

// The README's Rust examples compile (`cargo test --doc`); its shell examples
// are checked by tests/readme_examples.rs.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
pub use report::{Finding, Location, Severity};
