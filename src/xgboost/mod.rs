//! XGBoost models: sniffing, readers for every encoding, validation.
//!
//! Entry points:
//! * [`inspect_bytes`] / [`inspect_file`]: read any XGBoost model (legacy
//!   binary 0.90 – 3.0, JSON 1.0+, UBJSON 1.6+, memory snapshots, Python
//!   pickles of a Booster or a scikit-learn wrapper — never executed) into
//!   one [`ir::Model`], validate it, and summarise it ([`Inspection`]);
//! * [`read_model`]: parse only;
//! * [`examine_file`]: what the packing pipeline calls;
//! * [`predict`]: the evaluator ([`Predictor`], [`predict_as_container`]).
//!
//! ```
//! # fn main() -> sm_pack::Result<()> {
//! let json = br#"{"learner":{"attributes":{},"feature_names":[],"feature_types":[],
//!   "gradient_booster":{"model":{"gbtree_model_param":{"num_parallel_tree":"1","num_trees":"1"},
//!   "iteration_indptr":[0,1],"tree_info":[0],"trees":[{"base_weights":[0E0],"categories":[],
//!   "categories_nodes":[],"categories_segments":[],"categories_sizes":[],"default_left":[0],"id":0,
//!   "left_children":[-1],"loss_changes":[0E0],"parents":[2147483647],"right_children":[-1],
//!   "split_conditions":[2.5E-1],"split_indices":[0],"split_type":[0],"sum_hessian":[1E0],
//!   "tree_param":{"num_deleted":"0","num_feature":"1","num_nodes":"1","size_leaf_vector":"1"}}]},
//!   "name":"gbtree"},"learner_model_param":{"base_score":"5E-1","boost_from_average":"1",
//!   "num_class":"0","num_feature":"1","num_target":"1"},
//!   "objective":{"name":"reg:squarederror","reg_loss_param":{"scale_pos_weight":"1"}}},
//!   "version":[2,1,4]}"#;
//! let inspection = sm_pack::xgboost::inspect_bytes(json)?;
//! assert_eq!(inspection.summary.objective, "reg:squarederror");
//! assert_eq!(inspection.model.trees().len(), 1);
//! println!("{}", inspection.human_summary());
//! # Ok(()) }
//! ```

pub mod binary;
pub mod convert;
pub mod doc;
mod from_doc;
pub mod inspect;
pub mod ir;
pub mod json;
pub mod pickle;
pub mod predict;
pub mod sniff;
pub mod ubjson;
pub mod validate;
pub mod write;

pub use inspect::{Inspection, Summary};
pub use predict::{DenseMatrix, Predictions, Predictor, predict_as_container};

use crate::error::{Error, Result};
use crate::pack::Examination;
use crate::report::{Finding, Location};
use ir::{Encoding, Model, SnapshotKind};
use sniff::Kind;
use std::borrow::Cow;
use std::path::Path;

/// Reads a model from bytes without validating it. Returns the model and
/// the findings the readers made on the way (trailing bytes, dialect
/// problems, pickle facts).
pub fn read_model(bytes: &[u8]) -> Result<(Model, Vec<Finding>)> {
    let mut findings = Vec::new();
    let mut model = decode(bytes, 0, &mut findings, true)?;
    model.source.input_len = bytes.len() as u64;
    Ok((model, findings))
}

/// Reads, validates and summarises a model held in memory.
pub fn inspect_bytes(bytes: &[u8]) -> Result<Inspection> {
    let (model, mut findings) = read_model(bytes)?;
    let (more, stats) = validate::validate(&model);
    findings.extend(more);
    Ok(Inspection::new(model, findings, &stats))
}

/// Reads, validates and summarises a model file: a regular file of at most
/// [`crate::input::MAX_MODEL_BYTES`] (devices, FIFOs and larger files are
/// refused before anything is read).
pub fn inspect_file(path: &Path) -> Result<Inspection> {
    let bytes = crate::input::read_model_file(path, crate::input::MAX_MODEL_BYTES)?;
    inspect_bytes(&bytes)
}

/// Reads and validates an XGBoost model file for the packing pipeline.
pub fn examine_file(path: &Path) -> Result<Examination> {
    let bytes = crate::input::read_model_file(path, crate::input::MAX_MODEL_BYTES)?;
    examine_bytes(&bytes)
}

/// [`examine_file`] for a model already in memory.
pub fn examine_bytes(bytes: &[u8]) -> Result<Examination> {
    let i = inspect_bytes(bytes)?;
    Ok(Examination {
        summary: Some(i.summary_json()),
        findings: i.findings,
    })
}

fn decode(
    bytes: &[u8],
    base: u64,
    findings: &mut Vec<Finding>,
    allow_pickle: bool,
) -> Result<Model> {
    match sniff::sniff(bytes)? {
        Kind::Pickle => {
            if !allow_pickle {
                return Err(invalid(
                    "Python pickle",
                    "xgb.pickle.nested",
                    "the pickled model payload is itself a pickle",
                    Location::Offset(base),
                ));
            }
            let u = pickle::walk(bytes)?;
            findings.extend(u.findings);
            let (payload_base, relative) = match &u.payload {
                Cow::Borrowed(_) => (u.info.payload_offset, false),
                Cow::Owned(_) => (0, true),
            };
            if let Err(e) = sniff::sniff(&u.payload) {
                let what = match e {
                    Error::UnrecognizedFormat { what, .. } => what,
                    other => other.to_string(),
                };
                return Err(invalid(
                    "Python pickle",
                    "xgb.pickle.payload",
                    format!(
                        "the pickled Booster's handle does not hold an XGBoost model: it is {what}"
                    ),
                    Location::Offset(u.info.payload_offset),
                ));
            }
            let mut m = decode(&u.payload, payload_base, findings, false).map_err(|e| match e {
                Error::InvalidModel {
                    format,
                    mut finding,
                } => {
                    if relative {
                        finding
                            .message
                            .push_str(" (offset within the pickled model bytes)");
                    }
                    Error::InvalidModel {
                        format: format!("pickled {format}"),
                        finding,
                    }
                }
                other => other,
            })?;
            if m.feature_names.is_empty()
                && let Some(n) = &u.info.state_feature_names
            {
                m.feature_names = n.clone();
            }
            if m.feature_types.is_empty()
                && let Some(t) = &u.info.state_feature_types
            {
                m.feature_types = t.clone();
            }
            m.source.pickle = Some(u.info);
            Ok(m)
        }
        Kind::BinaryWithMagic | Kind::HeaderlessBinary => binary::parse(bytes, base, findings),
        Kind::ConfigOffset => {
            let tag = sniff::CONFIG_OFFSET_TAG.len();
            let off_bytes = bytes.get(tag..tag + 8).ok_or_else(|| {
                invalid(
                    "XGBoost memory snapshot",
                    "xgb.truncated",
                    "the CONFIG-offset snapshot ends before its 8-byte offset",
                    Location::Offset(base + tag as u64),
                )
            })?;
            let mut a = [0u8; 8];
            a.copy_from_slice(off_bytes);
            let n = i64::from_le_bytes(a);
            let start = tag + 8;
            let end = usize::try_from(n)
                .ok()
                .and_then(|n| start.checked_add(n))
                .filter(|&e| e <= bytes.len());
            let Some(end) = end else {
                return Err(invalid(
                    "XGBoost memory snapshot",
                    "xgb.length_exceeds_input",
                    format!(
                        "the CONFIG-offset snapshot declares a {n}-byte model but only {} bytes follow",
                        bytes.len().saturating_sub(start)
                    ),
                    Location::Offset(base + tag as u64),
                ));
            };
            let mut m = binary::parse(&bytes[start..end], base + start as u64, findings)?;
            let config = &bytes[end..];
            match json::parse(config) {
                Ok((cfg, _)) => {
                    if let ir::Booster::Trees(t) = &mut m.booster {
                        t.config_num_parallel_tree = from_doc::config_num_parallel_tree(&cfg);
                    }
                }
                Err(e) => findings.push(
                    Finding::warning(
                        "xgb.snapshot.config_invalid",
                        format!(
                            "the snapshot's JSON configuration does not parse: {}",
                            e.message
                        ),
                    )
                    .at(Location::Offset(base + end as u64 + e.offset)),
                ),
            }
            m.source.snapshot = Some(SnapshotKind::ConfigOffset);
            Ok(m)
        }
        Kind::Json => {
            let (root, facts) = json::parse(bytes).map_err(|e| {
                let code = if e.offset as usize >= bytes.len() {
                    "xgb.truncated"
                } else {
                    "xgb.json.syntax"
                };
                invalid(
                    "XGBoost JSON",
                    code,
                    format!("{} at byte {}", e.message, base + e.offset),
                    Location::JsonPath(e.path),
                )
            })?;
            not_a_model_check(&root, "JSON")?;
            if (facts.end as usize) < bytes.len() {
                findings.push(
                    Finding::warning(
                        "xgb.trailing_bytes",
                        format!(
                            "{} bytes after the end of the JSON document",
                            bytes.len() - facts.end as usize
                        ),
                    )
                    .at(Location::Offset(base + facts.end)),
                );
            }
            let ctx = from_doc::Ctx::new(Encoding::Json, base, findings);
            let (dm, mut dialect, spans) = ctx.model(root)?;
            dialect.long_float_text = facts.long_floats;
            let mut m = dm.model;
            m.source.dialect = Some(dialect);
            m.spans = spans;
            if dm.snapshot {
                m.source.snapshot = Some(SnapshotKind::Json);
            }
            Ok(m)
        }
        Kind::Ubjson => {
            let (root, facts) = ubjson::parse(bytes).map_err(|e| {
                invalid(
                    "XGBoost UBJSON",
                    if e.truncated {
                        "xgb.truncated"
                    } else {
                        "xgb.ubj.syntax"
                    },
                    e.message,
                    Location::Offset(base + e.offset),
                )
            })?;
            not_a_model_check(&root, "UBJSON")?;
            if (facts.end as usize) < bytes.len() {
                findings.push(
                    Finding::warning(
                        "xgb.trailing_bytes",
                        format!(
                            "{} bytes after the end of the UBJSON document",
                            bytes.len() - facts.end as usize
                        ),
                    )
                    .at(Location::Offset(base + facts.end)),
                );
            }
            if facts.non_l_lengths {
                findings.push(
                    Finding::error(
                        "xgb.ubj.length_marker",
                        "some UBJSON key, string or count length does not use the 'L' (int64) marker; XGBoost reads only 'L' lengths and will refuse this file",
                    )
                    .with_hint("re-save the model with XGBoost itself (save_model(\"model.ubj\"))"),
                );
            }
            let ctx = from_doc::Ctx::new(Encoding::Ubjson, base, findings);
            let (dm, mut dialect, spans) = ctx.model(root)?;
            dialect.typed_array_markers = facts.typed_markers;
            dialect.scalar_markers = facts.scalar_markers;
            if dialect.scalar_markers.contains('D') {
                dialect.f64_values = true;
            }
            let mut m = dm.model;
            m.source.dialect = Some(dialect);
            m.spans = spans;
            if dm.snapshot {
                m.source.snapshot = Some(SnapshotKind::Ubjson);
            }
            Ok(m)
        }
    }
}

/// A well-formed document that is not an XGBoost model (no `learner`, no
/// snapshot `Model`) is "not an XGBoost model", not a corrupt one.
fn not_a_model_check(root: &doc::Node, enc: &str) -> Result<()> {
    match &root.value {
        doc::Value::Object(entries) => {
            if entries.iter().any(|(k, _)| k == "learner" || k == "Model") {
                return Ok(());
            }
            let keys: Vec<String> = entries
                .iter()
                .take(8)
                .map(|(k, _)| format!("{k:?}"))
                .collect();
            Err(Error::UnrecognizedFormat {
                expected: "an XGBoost model",
                what: if keys.is_empty() {
                    format!("an empty {enc} object")
                } else {
                    format!(
                        "a {enc} document without XGBoost's \"learner\" key (top-level keys: {}{})",
                        keys.join(", "),
                        if entries.len() > 8 { ", …" } else { "" }
                    )
                },
                hint: Some("save the model with booster.save_model(\"model.json\")".into()),
            })
        }
        v => Err(Error::UnrecognizedFormat {
            expected: "an XGBoost model",
            what: format!("a {enc} document holding {}", v.type_name()),
            hint: None,
        }),
    }
}

fn invalid(format: &str, code: &str, msg: impl Into<String>, loc: Location) -> Error {
    Error::InvalidModel {
        format: format.to_string(),
        finding: Box::new(Finding::error(code, msg).at(loc)),
    }
}
