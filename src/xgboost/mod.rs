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

/// Fewest items (trees) for which the per-tree passes use more than one
/// thread; below it, thread start-up costs more than it saves.
const PARALLEL_MIN_ITEMS: usize = 64;

/// How many contiguous runs to split `n` items into: one per available CPU
/// for large inputs, one (the calling thread) otherwise.
fn runs_for(n: usize) -> usize {
    #[cfg(test)]
    if tests::ONE_THREAD.with(std::cell::Cell::get) {
        return 1;
    }
    if n < PARALLEL_MIN_ITEMS {
        return 1;
    }
    std::thread::available_parallelism()
        .map_or(1, |p| p.get())
        .clamp(1, n / (PARALLEL_MIN_ITEMS / 2))
}

/// Runs `work(first_index, run)` over contiguous runs of `items`, one run per
/// thread ([`par_each`]), and returns the results in item order. The
/// per-tree passes (building a tree from the document, decoding a binary
/// tree, validating a tree) are independent per tree; merging their results
/// in order keeps the output identical to a sequential pass. Work is split,
/// never duplicated: memory use is that of the sequential pass plus
/// per-thread scratch.
pub(crate) fn par_runs<T, R, F>(items: Vec<T>, work: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(usize, Vec<T>) -> R + Sync,
{
    let runs = runs_for(items.len());
    if runs <= 1 {
        return vec![work(0, items)];
    }
    let per = items.len().div_ceil(runs);
    let mut parts = Vec::with_capacity(runs);
    let (mut rest, mut start) = (items, 0);
    while !rest.is_empty() {
        let tail = rest.split_off(per.min(rest.len()));
        let len = rest.len();
        parts.push((start, rest));
        start += len;
        rest = tail;
    }
    par_each(parts, |(start, run)| work(start, run))
}

/// Runs `work` on every item, each on its own scoped thread (the last on the
/// calling thread), and returns the results in item order. An item whose
/// thread cannot be started is worked on by the calling thread; a panic in
/// a thread is resumed on the calling thread.
pub(crate) fn par_each<T, R, F>(items: Vec<T>, work: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(T) -> R + Sync,
{
    use std::sync::{Mutex, PoisonError};
    // Items wait in a queue that the started threads and the calling thread
    // empty together (as the predictor's blocks do): if a thread cannot be
    // started, the others take its share.
    let n = items.len();
    let queue = Mutex::new(items.into_iter().enumerate().rev().collect::<Vec<_>>());
    let results = Mutex::new((0..n).map(|_| None).collect::<Vec<Option<R>>>());
    let run = || {
        loop {
            let next = queue.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let Some((i, item)) = next else { break };
            let r = work(item);
            results.lock().unwrap_or_else(PoisonError::into_inner)[i] = Some(r);
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..n {
            let _ = std::thread::Builder::new().spawn_scoped(scope, run);
        }
        run();
    });
    // Every item was taken exactly once.
    results
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
        .into_iter()
        .flatten()
        .collect()
}

fn invalid(format: &str, code: &str, msg: impl Into<String>, loc: Location) -> Error {
    Error::InvalidModel {
        format: format.to_string(),
        finding: Box::new(Finding::error(code, msg).at(loc)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// Makes [`runs_for`] answer 1 on this thread: the one-thread
        /// reference the parallel paths are compared with.
        pub(super) static ONE_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// The inspection (or error) of `bytes`, on one thread or several.
    fn inspected(bytes: &[u8], one_thread: bool) -> String {
        ONE_THREAD.with(|o| o.set(one_thread));
        let r = format!("{:#?}", inspect_bytes(bytes));
        ONE_THREAD.with(|o| o.set(false));
        r
    }

    // A UBJSON model the way XGBoost writes one: sorted keys, typed arrays.
    fn key(o: &mut Vec<u8>, k: &str) {
        o.push(b'L');
        o.extend((k.len() as i64).to_be_bytes());
        o.extend(k.as_bytes());
    }
    fn text(o: &mut Vec<u8>, k: &str, v: &str) {
        key(o, k);
        o.push(b'S');
        key(o, v);
    }
    fn typed(o: &mut Vec<u8>, k: &str, marker: u8, n: usize, data: &[u8]) {
        key(o, k);
        o.extend([b'[', b'$', marker, b'#', b'L']);
        o.extend((n as i64).to_be_bytes());
        o.extend(data);
    }
    fn i32s(o: &mut Vec<u8>, k: &str, v: &[i32]) {
        let d: Vec<u8> = v.iter().flat_map(|x| x.to_be_bytes()).collect();
        typed(o, k, b'l', v.len(), &d);
    }
    fn f32s(o: &mut Vec<u8>, k: &str, v: &[f32]) {
        let d: Vec<u8> = v.iter().flat_map(|x| x.to_be_bytes()).collect();
        typed(o, k, b'd', v.len(), &d);
    }

    /// `trees` full trees of depth 4 over 4 features, ~1.3 KB each.
    fn big_ubj(trees: usize) -> Vec<u8> {
        let n = 31usize;
        let left: Vec<i32> = (0..n)
            .map(|i| if i < 15 { 2 * i as i32 + 1 } else { -1 })
            .collect();
        let right: Vec<i32> = left
            .iter()
            .map(|&l| if l < 0 { -1 } else { l + 1 })
            .collect();
        let parents: Vec<i32> = (0..n)
            .map(|i| if i == 0 { i32::MAX } else { (i as i32 - 1) / 2 })
            .collect();
        let mut o = vec![b'{'];
        key(&mut o, "learner");
        o.push(b'{');
        key(&mut o, "attributes");
        o.extend(b"{}");
        key(&mut o, "feature_names");
        o.extend(b"[]");
        key(&mut o, "feature_types");
        o.extend(b"[]");
        key(&mut o, "gradient_booster");
        o.push(b'{');
        key(&mut o, "model");
        o.push(b'{');
        key(&mut o, "gbtree_model_param");
        o.push(b'{');
        text(&mut o, "num_parallel_tree", "1");
        text(&mut o, "num_trees", &trees.to_string());
        o.push(b'}');
        let indptr: Vec<i32> = (0..=trees as i32).collect();
        i32s(&mut o, "iteration_indptr", &indptr);
        i32s(&mut o, "tree_info", &vec![0; trees]);
        key(&mut o, "trees");
        o.extend([b'[', b'#', b'L']);
        o.extend((trees as i64).to_be_bytes());
        for t in 0..trees {
            let f = |i: usize| ((t * 7 + i) % 13) as f32 / 8.0 - 0.75;
            let values: Vec<f32> = (0..n).map(f).collect();
            o.push(b'{');
            f32s(&mut o, "base_weights", &values);
            i32s(&mut o, "categories", &[]);
            i32s(&mut o, "categories_nodes", &[]);
            typed(&mut o, "categories_segments", b'L', 0, &[]);
            typed(&mut o, "categories_sizes", b'L', 0, &[]);
            let dl: Vec<u8> = (0..n).map(|i| (i % 2) as u8).collect();
            typed(&mut o, "default_left", b'U', n, &dl);
            key(&mut o, "id");
            o.push(b'L');
            o.extend((t as i64).to_be_bytes());
            i32s(&mut o, "left_children", &left);
            f32s(&mut o, "loss_changes", &values);
            i32s(&mut o, "parents", &parents);
            i32s(&mut o, "right_children", &right);
            f32s(&mut o, "split_conditions", &values);
            let feats: Vec<i32> = (0..n)
                .map(|i| if i < 15 { (i % 4) as i32 } else { 0 })
                .collect();
            i32s(&mut o, "split_indices", &feats);
            typed(&mut o, "split_type", b'U', n, &vec![0; n]);
            f32s(&mut o, "sum_hessian", &values);
            key(&mut o, "tree_param");
            o.push(b'{');
            text(&mut o, "num_deleted", "0");
            text(&mut o, "num_feature", "4");
            text(&mut o, "num_nodes", &n.to_string());
            text(&mut o, "size_leaf_vector", "1");
            o.extend(b"}}");
        }
        o.push(b'}');
        text(&mut o, "name", "gbtree");
        o.push(b'}');
        key(&mut o, "learner_model_param");
        o.push(b'{');
        text(&mut o, "base_score", "5E-1");
        text(&mut o, "boost_from_average", "1");
        text(&mut o, "num_class", "0");
        text(&mut o, "num_feature", "4");
        text(&mut o, "num_target", "1");
        o.push(b'}');
        key(&mut o, "objective");
        o.push(b'{');
        text(&mut o, "name", "binary:logistic");
        key(&mut o, "reg_loss_param");
        o.push(b'{');
        text(&mut o, "scale_pos_weight", "1");
        o.extend(b"}}}");
        i32s(&mut o, "version", &[3, 2, 0]);
        o.push(b'}');
        o
    }

    /// Replaces the `nth` occurrence of `from` (same length) with `to`.
    fn replace_nth(b: &[u8], from: &[u8], to: &[u8], nth: usize) -> Vec<u8> {
        let mut out = b.to_vec();
        let at = b
            .windows(from.len())
            .enumerate()
            .filter(|(_, w)| *w == from)
            .nth(nth)
            .map(|(i, _)| i)
            .expect("pattern present");
        out[at..at + to.len()].copy_from_slice(to);
        out
    }

    #[test]
    fn parallel_reading_equals_one_thread() {
        let trees = 3000;
        let clean = big_ubj(trees);
        assert!(clean.len() > 2 * ubjson_parallel_min());
        let ok = inspected(&clean, false);
        assert!(ok.starts_with("Ok("), "{}", &ok[..ok.len().min(400)]);
        assert_eq!(ok, inspected(&clean, true));
        let mut variants = Vec::new();
        // Truncations, including inside the trees of either half.
        for frac in [0.2, 0.5, 0.5003, 0.9] {
            variants.push(clean[..(clean.len() as f64 * frac) as usize].to_vec());
        }
        // A split feature out of range in trees of both halves (findings
        // merged across runs, more than MAX_PER_CODE of them).
        let mut from = b"\x0dsplit_indices[$l#L".to_vec();
        from.extend(31i64.to_be_bytes());
        from.extend(0i32.to_be_bytes());
        let mut to = from.clone();
        let k = to.len() - 4;
        to[k..].copy_from_slice(&99i32.to_be_bytes());
        let mut many = clean.clone();
        for (replaced, t) in (0..trees).step_by(97).enumerate() {
            many = replace_nth(&many, &from, &to, t - replaced);
        }
        variants.push(many);
        // An unknown key early and late (reported once), a missing key late
        // and later still (the first one is the error).
        let unk = replace_nth(&clean, b"\x02id", b"\x02ie", 2500);
        variants.push(replace_nth(&unk, b"\x02id", b"\x02ie", 10));
        variants.push(unk);
        let miss = replace_nth(&clean, b"\x0bsum_hessian", b"\x0bsum_hessiaX", 2999);
        variants.push(replace_nth(
            &miss,
            b"\x0bsum_hessian",
            b"\x0bsum_hessiaX",
            1700,
        ));
        // The first key of the tree nearest the middle, where the runs are cut.
        variants.push(replace_nth(
            &clean,
            b"\x0cbase_weights",
            b"\x0cbase_weightz",
            trees / 2,
        ));
        for (i, v) in variants.iter().enumerate() {
            assert_eq!(inspected(v, false), inspected(v, true), "variant {i}");
        }
    }

    #[test]
    fn parallel_binary_decoding_equals_one_thread() {
        // A real 1.7.4 binary model with its trees repeated 64 times.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/xgboost/1.7.4/logistic.bin"
        );
        let b = std::fs::read(path).expect("fixture");
        let (m, _) = read_model(&b).expect("fixture parses");
        let offset = |item: &str| match m.locate(item, None) {
            Some(Location::Offset(o)) => o as usize,
            other => panic!("{item}: {other:?}"),
        };
        let (param, trees, info) = (offset("num_trees"), offset("trees"), offset("tree_info"));
        let n = m.trees().len();
        let copies = 64;
        let mut big = b[..trees].to_vec();
        big[param..param + 4].copy_from_slice(&((n * copies) as i32).to_le_bytes());
        (0..copies).for_each(|_| big.extend(&b[trees..info]));
        (0..copies).for_each(|_| big.extend(&b[info..info + 4 * n]));
        big.extend(&b[info + 4 * n..]);
        let ok = inspected(&big, false);
        assert!(ok.starts_with("Ok("), "{}", &ok[..ok.len().min(400)]);
        assert_eq!(ok, inspected(&big, true));
        let per = info - trees;
        let mut variants = vec![big[..trees + per * 40 + 100].to_vec()];
        // Flipped bits in node records of trees in both halves.
        let mut flipped = big.clone();
        for k in [3, 20, 40, 63] {
            let at = trees + per * k + 148 + 20 + 3;
            flipped[at] ^= 0x80;
        }
        variants.push(flipped);
        for (i, v) in variants.iter().enumerate() {
            assert_eq!(inspected(v, false), inspected(v, true), "variant {i}");
        }
    }

    fn ubjson_parallel_min() -> usize {
        1 << 20
    }

    #[test]
    fn par_runs_covers_every_item_once_in_order() {
        for n in [0, 1, 63, 64, 65, 127, 1000, 2001] {
            let items: Vec<usize> = (0..n).collect();
            let runs = par_runs(items, |first, run: Vec<usize>| {
                // Each run is told where it starts.
                assert_eq!(run.first().copied().unwrap_or(first), first);
                run
            });
            assert!(runs.len() <= runs_for(n).max(1));
            let flat: Vec<usize> = runs.into_iter().flatten().collect();
            assert_eq!(flat, (0..n).collect::<Vec<_>>(), "n = {n}");
        }
    }

    #[test]
    fn par_each_keeps_item_order() {
        let out = par_each((0..5).collect(), |i: u32| i * 10);
        assert_eq!(out, vec![0, 10, 20, 30, 40]);
        assert!(par_each(Vec::<u8>::new(), |x| x).is_empty());
    }
}
