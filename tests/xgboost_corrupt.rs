//! Hostile and corrupt XGBoost inputs: truncations at many offsets, byte
//! flips, absurd counts and lengths, deep nesting, cyclic trees, non-UTF-8
//! strings, things that are not models at all. Every case must give a
//! precise error or error finding, never a panic, and must not allocate more
//! than the input could justify (checked with a counting allocator).

use sm_pack::report::{Finding, Location, Severity};
use sm_pack::xgboost::ir::Model;
use sm_pack::xgboost::{Inspection, inspect_bytes, read_model};
use sm_pack::{Error, Result};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};

// ------------------------------------------------------------------ allocation accounting

struct Counting;

thread_local! {
    static MAX_ONE: Cell<usize> = const { Cell::new(0) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note_alloc(size: usize) {
    let _ = MAX_ONE.try_with(|m| m.set(m.get().max(size)));
    let _ = LIVE.try_with(|l| {
        let v = l.get() + size as isize;
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

fn note_free(size: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get() - size as isize));
}

// SAFETY: delegates to the system allocator; only records sizes in
// thread-local cells with const initialisers (no allocation, no recursion).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_free(layout.size());
        // SAFETY: ptr was allocated by System with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_free(layout.size());
        note_alloc(new_size);
        // SAFETY: ptr was allocated by System with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns its result with the largest single allocation and
/// the peak of live bytes it caused on this thread.
fn measured<R>(f: impl FnOnce() -> R) -> (R, usize, usize) {
    MAX_ONE.with(|m| m.set(0));
    let base = LIVE.with(|l| l.get());
    PEAK.with(|p| p.set(base));
    let r = f();
    let max_one = MAX_ONE.with(|m| m.get());
    let peak = PEAK.with(|p| p.get()) - base;
    (r, max_one, peak.max(0) as usize)
}

/// Inspects `bytes` and checks the allocation bound: no single allocation
/// beyond 32 × input + 64 KiB, no more than 96 × input + 256 KiB live
/// (the pickle walker's bookkeeping is the worst case: an 8-byte stack value
/// and a 16-byte object per 1-byte opcode, doubled by vector growth).
fn inspect_bounded(bytes: &[u8], what: &str) -> Result<Inspection> {
    let (r, max_one, peak) = measured(|| inspect_bytes(bytes));
    let n = bytes.len();
    assert!(
        max_one <= 32 * n + 64 * 1024,
        "{what}: one allocation of {max_one} bytes for a {n}-byte input"
    );
    assert!(
        peak <= 96 * n + 256 * 1024,
        "{what}: {peak} bytes live at peak for a {n}-byte input"
    );
    r
}

// ------------------------------------------------------------------ fixtures

fn fixture(rel: &str) -> Vec<u8> {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/xgboost")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// One fixture per encoding/wrapper/booster shape.
const SAMPLES: &[&str] = &[
    "0.90/logistic.bin",          // headerless binary, 0.90 header
    "0.90/dart.bin",              // 0.90 dart
    "1.0.0/gblinear.bin",         // headerless 1.0 gblinear
    "1.7.4/softprob.bin",         // binf
    "1.0.0/logistic.json",        // JSON with leaf_child_counts, bool default_left
    "2.1.4/logistic.pretty.json", // pretty JSON
    "3.2.0/mtree.json",           // vector leaves, leaf_weights
    "1.7.4/dart.ubj",             // UBJSON dart
    "3.2.0/cat.ubj",              // categorical, cats with $i
    "1.0.0/logistic.p2.pkl",      // latin-1 CONFIG-offset pickle
    "1.5.2/logistic.p4.pkl",      // BINBYTES JSON snapshot
    "3.2.0/dart.p5.pkl",          // BYTEARRAY8 UBJSON snapshot
    "2.0.3/logistic.sklearn.pkl", // scikit-learn wrapper
];

fn finding_location(e: &Error) -> Option<&Location> {
    match e {
        Error::InvalidModel { finding, .. } => finding.location.as_ref(),
        _ => None,
    }
}

fn codes(i: &Inspection) -> Vec<&str> {
    i.findings.iter().map(|f| f.code.as_str()).collect()
}

fn find<'a>(i: &'a Inspection, code: &str) -> &'a Finding {
    i.findings
        .iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no {code} finding; got {:?}", codes(i)))
}

fn err_code(e: &Error) -> String {
    match e {
        Error::InvalidModel { finding, .. } => finding.code.clone(),
        Error::UnrecognizedFormat { .. } => "unrecognized".into(),
        other => format!("other: {other}"),
    }
}

fn model_of(bytes: &[u8]) -> Model {
    read_model(bytes).expect("fixture parses").0
}

fn offset(l: &Location) -> usize {
    match l {
        Location::Offset(o) => *o as usize,
        other => panic!("expected a byte offset, got {other}"),
    }
}

// ------------------------------------------------------------------ truncation

#[test]
fn truncations_give_located_errors() {
    for rel in SAMPLES {
        let b = fixture(rel);
        let trailing_ws = b
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_whitespace())
            .count();
        let full = b.len() - trailing_ws;
        let step = (full / 1500).max(1);
        let mut cut = 0;
        while cut < full {
            let what = format!("{rel} cut at {cut}");
            match inspect_bounded(&b[..cut], &what) {
                Ok(_) => panic!("{what}: a truncated model was accepted"),
                Err(e @ Error::InvalidModel { .. }) => {
                    assert!(
                        finding_location(&e).is_some(),
                        "{what}: error without location: {e}"
                    );
                }
                Err(Error::UnrecognizedFormat { what: w, .. }) => {
                    // Only a prefix too short to identify the encoding.
                    assert!(
                        cut < 200,
                        "{what}: truncated model reported as not a model: {w}"
                    );
                }
                Err(other) => panic!("{what}: unexpected error {other}"),
            }
            cut += step;
        }
    }
}

#[test]
fn truncated_binary_says_where_and_how_much() {
    let b = fixture("1.7.4/softprob.bin");
    // Cut inside the last attribute string: its declared length no longer fits.
    let e = read_model(&b[..b.len() - 10]).expect_err("truncated");
    assert_eq!(err_code(&e), "xgb.length_exceeds_input");
    assert!(e.to_string().contains("truncated"), "{e}");
    // Cut inside the fixed-size header: a plain truncation.
    let e = read_model(&b[..100]).expect_err("truncated");
    assert_eq!(err_code(&e), "xgb.truncated");
    let msg = e.to_string();
    assert!(msg.contains("needed") && msg.contains("remain"), "{msg}");
}

// ------------------------------------------------------------------ byte flips

#[test]
fn byte_flips_never_panic_or_overallocate() {
    for rel in SAMPLES {
        let b = fixture(rel);
        let positions = 400usize.min(b.len());
        let step = (b.len() / positions).max(1);
        let mut buf = b.clone();
        for p in (0..b.len()).step_by(step) {
            for v in [b[p] ^ 0xFF, b[p] ^ 0x80, 0x00, 0x7F] {
                buf[p] = v;
                let what = format!("{rel} byte {p} = {v:#04x}");
                if let Ok(i) = inspect_bounded(&buf, &what) {
                    // Exercise the renderers on whatever came out.
                    let _ = i.human_summary();
                    let _ = i.summary_json();
                }
            }
            buf[p] = b[p];
        }
    }
}

// ------------------------------------------------------------------ absurd counts

fn patch(b: &mut [u8], at: usize, bytes: &[u8]) {
    b[at..at + bytes.len()].copy_from_slice(bytes);
}

#[test]
fn absurd_binary_counts_are_refused_before_allocating() {
    let b = fixture("1.7.4/softprob.bin");
    let m = model_of(&b);
    // num_trees (GBTreeModelParam offset 0).
    let at = offset(&m.locate("num_trees", None).expect("num_trees span"));
    for v in [i32::MAX, 1 << 24, 100_000] {
        let mut c = b.clone();
        patch(&mut c, at, &v.to_le_bytes());
        let e = inspect_bounded(&c, "num_trees").expect_err("absurd num_trees");
        assert_eq!(err_code(&e), "xgb.length_exceeds_input", "{e}");
        assert_eq!(finding_location(&e), Some(&Location::Offset(at as u64)));
    }
    let mut c = b.clone();
    patch(&mut c, at, &(-5i32).to_le_bytes());
    assert_eq!(
        err_code(&read_model(&c).expect_err("negative")),
        "xgb.gbtree.num_trees"
    );
    // num_nodes of tree 0.
    let at = offset(&m.locate_tree(0, Some("num_nodes")).expect("num_nodes span"));
    let mut c = b.clone();
    patch(&mut c, at, &i32::MAX.to_le_bytes());
    let e = inspect_bounded(&c, "num_nodes").expect_err("absurd num_nodes");
    assert_eq!(err_code(&e), "xgb.length_exceeds_input");
    assert_eq!(finding_location(&e), Some(&Location::Offset(at as u64)));
    // Objective string length (u64 right after the 136-byte header + binf).
    let at = offset(&m.locate("objective", None).expect("objective span"));
    let mut c = b.clone();
    patch(&mut c, at, &(u64::MAX / 2).to_le_bytes());
    let e = inspect_bounded(&c, "objective length").expect_err("absurd string");
    assert_eq!(err_code(&e), "xgb.length_exceeds_input");
    // Attribute count.
    let at = offset(&m.locate("attributes", None).expect("attributes span"));
    let mut c = b.clone();
    patch(&mut c, at, &(1u64 << 40).to_le_bytes());
    let e = inspect_bounded(&c, "attribute count").expect_err("absurd attribute count");
    assert_eq!(err_code(&e), "xgb.length_exceeds_input");
    assert_eq!(finding_location(&e), Some(&Location::Offset(at as u64)));
    // gblinear weight count.
    let g = fixture("1.0.0/gblinear.bin");
    let gm = model_of(&g);
    let at = offset(&gm.locate("weights", None).expect("weights span")) - 8;
    let mut c = g.clone();
    patch(&mut c, at, &(u64::MAX - 3).to_le_bytes());
    let e = inspect_bounded(&c, "weights").expect_err("absurd weight count");
    assert_eq!(err_code(&e), "xgb.length_exceeds_input");
}

#[test]
fn absurd_ubjson_counts_are_refused_before_allocating() {
    let b = fixture("1.7.4/dart.ubj");
    let m = model_of(&b);
    // The count of tree 0's split_conditions typed array sits 8 bytes before its data.
    let data = offset(&m.locate_node(0, "split_conditions", 0));
    assert_eq!(&b[data - 13..data - 8], b"[$d#L");
    for v in [i64::MAX, 1 << 40, 1 << 20, -1] {
        let mut c = b.clone();
        patch(&mut c, data - 8, &v.to_be_bytes());
        let e = inspect_bounded(&c, "typed count").expect_err("absurd count");
        assert!(
            matches!(err_code(&e).as_str(), "xgb.truncated" | "xgb.ubj.syntax"),
            "{e}"
        );
        assert_eq!(
            finding_location(&e),
            Some(&Location::Offset((data - 9) as u64)),
            "{e}"
        );
    }
    // A key length.
    let mut c = b.clone();
    patch(&mut c, 2, &(1i64 << 50).to_be_bytes());
    let e = inspect_bounded(&c, "key length").expect_err("absurd key");
    assert_eq!(finding_location(&e), Some(&Location::Offset(1)));
}

#[test]
fn absurd_pickle_and_snapshot_lengths_are_refused() {
    let b = fixture("1.5.2/logistic.p4.pkl");
    let m = model_of(&b);
    let p = m.source.pickle.as_ref().expect("pickle");
    let at = p.payload_offset as usize - 4; // BINBYTES u32 length
    let mut c = b.clone();
    patch(&mut c, at, &u32::MAX.to_le_bytes());
    let e = inspect_bounded(&c, "BINBYTES").expect_err("absurd BINBYTES");
    assert_eq!(err_code(&e), "xgb.length_exceeds_input", "{e}");

    let b = fixture("3.2.0/dart.p5.pkl");
    let p = model_of(&b).source.pickle.expect("pickle");
    let at = p.payload_offset as usize - 8; // BYTEARRAY8 u64 length
    let mut c = b.clone();
    patch(&mut c, at, &(u64::MAX - 1).to_le_bytes());
    let e = inspect_bounded(&c, "BYTEARRAY8").expect_err("absurd BYTEARRAY8");
    assert_eq!(err_code(&e), "xgb.length_exceeds_input", "{e}");

    // A CONFIG-offset snapshot (the payload of a 1.0–1.2 pickle) with a huge offset.
    let payload = {
        let b = fixture("1.2.0/logistic.bin");
        let mut s = b"CONFIG-offset:".to_vec();
        s.extend((b.len() as i64).to_le_bytes());
        s.extend(&b);
        s.extend(b"{\"learner\":{}}");
        s
    };
    let i = inspect_bounded(&payload, "config-offset").expect("well-formed snapshot");
    assert_eq!(
        i.model.source.snapshot,
        Some(sm_pack::xgboost::ir::SnapshotKind::ConfigOffset)
    );
    let mut c = payload.clone();
    patch(&mut c, 14, &(i64::MAX).to_le_bytes());
    let e = inspect_bounded(&c, "config offset").expect_err("absurd offset");
    assert_eq!(err_code(&e), "xgb.length_exceeds_input");
    assert_eq!(finding_location(&e), Some(&Location::Offset(14)));
}

// ------------------------------------------------------------------ nesting

#[test]
fn deep_nesting_is_capped() {
    let mut j = b"{\"learner\":".to_vec();
    j.extend(std::iter::repeat_n(b'[', 200_000));
    let e = inspect_bounded(&j, "deep JSON").expect_err("deep JSON");
    assert!(e.to_string().contains("nesting deeper than"), "{e}");
    match &e {
        Error::InvalidModel { finding, .. } => {
            assert!(
                matches!(&finding.location, Some(Location::JsonPath(p)) if p.starts_with("$.learner[0][0]"))
            );
        }
        other => panic!("{other}"),
    }
    let mut u = vec![b'{', b'L'];
    u.extend(7i64.to_be_bytes());
    u.extend(b"learner");
    u.extend(std::iter::repeat_n(b'[', 200_000));
    let e = inspect_bounded(&u, "deep UBJSON").expect_err("deep UBJSON");
    assert!(e.to_string().contains("nesting deeper than"), "{e}");
    // Pickles have no recursion at all: a million MARKs is just an error.
    let mut p = vec![0x80, 4];
    p.extend(std::iter::repeat_n(b'(', 1_000_000));
    p.push(b'.');
    assert!(inspect_bounded(&p, "marks").is_err());
    let mut p = vec![0x80, 4];
    p.extend(std::iter::repeat_n(b']', 100_000)); // 100k empty lists, never popped
    p.push(b'.');
    assert!(inspect_bounded(&p, "lists").is_err());
}

// ------------------------------------------------------------------ trees: cycles and friends

fn json_fixture() -> serde_json::Value {
    serde_json::from_slice(&fixture("2.1.4/logistic.json")).expect("fixture JSON")
}

fn inspect_json(v: &serde_json::Value) -> Inspection {
    let text = serde_json::to_vec(v).expect("serialise");
    inspect_bounded(&text, "edited JSON").expect("edited JSON still parses")
}

const T0: &str = "/learner/gradient_booster/model/trees/0";

fn set(v: &mut serde_json::Value, ptr: &str, x: serde_json::Value) {
    *v.pointer_mut(ptr).unwrap_or_else(|| panic!("{ptr}")) = x;
}

#[test]
fn cyclic_tree_is_found_with_its_json_path() {
    let mut v = json_fixture();
    // Node 1 is a split; make its left child point back to the root.
    set(&mut v, &format!("{T0}/left_children/1"), 0.into());
    let i = inspect_json(&v);
    let f = find(&i, "xgb.tree.child_range"); // 0 is never a valid child
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        f.location,
        Some(Location::JsonPath(
            "$.learner.gradient_booster.model.trees[0].left_children[1]".into()
        ))
    );
    // A real cycle deeper down: node 3's left child is its parent 1.
    let mut v = json_fixture();
    set(&mut v, &format!("{T0}/left_children/3"), 1.into());
    let i = inspect_json(&v);
    let f = find(&i, "xgb.tree.cycle");
    assert_eq!(
        f.location,
        Some(Location::JsonPath(
            "$.learner.gradient_booster.model.trees[0].left_children[3]".into()
        ))
    );
    assert!(i.has_errors());
}

#[test]
fn shared_and_unreachable_nodes() {
    let mut v = json_fixture();
    let right1 = v
        .pointer(&format!("{T0}/right_children/1"))
        .cloned()
        .expect("right");
    set(&mut v, &format!("{T0}/left_children/2"), right1);
    let i = inspect_json(&v);
    let c = codes(&i);
    assert!(c.contains(&"xgb.tree.shared_node"), "{c:?}");
    assert!(c.contains(&"xgb.tree.parent_mismatch"), "{c:?}");
    assert!(c.contains(&"xgb.tree.unreachable"), "{c:?}");
}

#[test]
fn cyclic_tree_in_binary_and_ubjson_is_located_by_offset() {
    // Binary: node 3's cleft := 1 (its parent).
    let b = fixture("1.7.4/softprob.bin");
    let m = model_of(&b);
    let at = offset(&m.locate_node(0, "left_children", 3));
    let mut c = b.clone();
    patch(&mut c, at, &1i32.to_le_bytes());
    let i = inspect_bounded(&c, "binary cycle").expect("parses");
    assert_eq!(
        find(&i, "xgb.tree.cycle").location,
        Some(Location::Offset(at as u64))
    );
    // UBJSON typed array element, big-endian.
    let b = fixture("1.7.4/dart.ubj");
    let m = model_of(&b);
    let at = offset(&m.locate_node(0, "left_children", 3));
    let mut c = b.clone();
    patch(&mut c, at, &1i32.to_be_bytes());
    let i = inspect_bounded(&c, "ubj cycle").expect("parses");
    assert_eq!(
        find(&i, "xgb.tree.cycle").location,
        Some(Location::Offset(at as u64))
    );
}

#[test]
fn split_feature_out_of_range_is_located_in_every_encoding() {
    let mut v = json_fixture();
    set(&mut v, &format!("{T0}/split_indices/0"), 7.into());
    let i = inspect_json(&v);
    assert_eq!(
        find(&i, "xgb.tree.split_feature").location,
        Some(Location::JsonPath(
            "$.learner.gradient_booster.model.trees[0].split_indices[0]".into()
        ))
    );
    let b = fixture("1.7.4/dart.ubj");
    let at = offset(&model_of(&b).locate_node(2, "split_indices", 0));
    let mut c = b.clone();
    patch(&mut c, at, &99i32.to_be_bytes());
    let i = inspect_bounded(&c, "ubj split").expect("parses");
    let f = find(&i, "xgb.tree.split_feature");
    assert_eq!(f.location, Some(Location::Offset(at as u64)));
    assert!(
        f.message.contains("tree 2 node 0") && f.message.contains("99"),
        "{}",
        f.message
    );
    let b = fixture("2.0.3/logistic.bin");
    let at = offset(&model_of(&b).locate_node(1, "split_indices", 0));
    let mut c = b.clone();
    patch(&mut c, at, &(0x8000_0000u32 | 42).to_le_bytes()); // default_left + feature 42
    let i = inspect_bounded(&c, "bin split").expect("parses");
    assert_eq!(
        find(&i, "xgb.tree.split_feature").location,
        Some(Location::Offset(at as u64))
    );
}

#[test]
fn numeric_problems_are_findings() {
    use serde_json::json;
    let leaf = |v: &serde_json::Value| {
        (0..v
            .pointer(&format!("{T0}/left_children"))
            .and_then(|a| a.as_array())
            .map(|a| a.len())
            .unwrap_or(0))
            .find(|&n| v.pointer(&format!("{T0}/left_children/{n}")) == Some(&json!(-1)))
            .expect("a leaf")
    };
    // NaN threshold / infinite leaf: JSON allows the bare tokens.
    let v = json_fixture();
    let l = leaf(&v);
    let mut text = String::from_utf8(serde_json::to_vec(&v).expect("ser")).expect("utf8");
    // Rewrite split_conditions of tree 0 with NaN at the root and Infinity at a leaf.
    let sc: Vec<String> = v
        .pointer(&format!("{T0}/split_conditions"))
        .and_then(|a| a.as_array())
        .expect("split_conditions")
        .iter()
        .enumerate()
        .map(|(k, x)| match k {
            0 => "NaN".to_string(),
            k if k == l => "-Infinity".to_string(),
            _ => x.to_string(),
        })
        .collect();
    let old = serde_json::to_string(v.pointer(&format!("{T0}/split_conditions")).expect("sc"))
        .expect("ser");
    text = text.replacen(&old, &format!("[{}]", sc.join(",")), 1);
    let i = inspect_bounded(text.as_bytes(), "NaN").expect("parses");
    let c = codes(&i);
    assert!(
        c.contains(&"xgb.tree.threshold_not_finite") && c.contains(&"xgb.tree.leaf_not_finite"),
        "{c:?}"
    );

    // base_score outside the logistic domain.
    let mut v = json_fixture();
    set(
        &mut v,
        "/learner/learner_model_param/base_score",
        "1.5E0".into(),
    );
    let i = inspect_json(&v);
    let f = find(&i, "xgb.base_score.domain");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        f.location,
        Some(Location::JsonPath(
            "$.learner.learner_model_param.base_score".into()
        ))
    );
    // Unknown objective.
    let mut v = json_fixture();
    set(&mut v, "/learner/objective/name", "binary:logistik".into());
    assert_eq!(
        find(&inspect_json(&v), "xgb.objective.unknown").severity,
        Severity::Error
    );
    // tree_info out of range; iteration_indptr inconsistent; num_trees off.
    let mut v = json_fixture();
    set(
        &mut v,
        "/learner/gradient_booster/model/tree_info/2",
        3.into(),
    );
    set(
        &mut v,
        "/learner/gradient_booster/model/iteration_indptr/3",
        1.into(),
    );
    set(
        &mut v,
        "/learner/gradient_booster/model/gbtree_model_param/num_trees",
        "500000".into(),
    );
    let i = inspect_json(&v);
    assert_eq!(
        find(&i, "xgb.gbtree.tree_info_value").location,
        Some(Location::JsonPath(
            "$.learner.gradient_booster.model.tree_info[2]".into()
        ))
    );
    let c = codes(&i);
    assert!(
        c.contains(&"xgb.gbtree.iteration_indptr") && c.contains(&"xgb.gbtree.num_trees"),
        "{c:?}"
    );
    // num_nodes larger than the arrays, integers where floats belong.
    let mut v = json_fixture();
    set(&mut v, &format!("{T0}/tree_param/num_nodes"), "900".into());
    set(&mut v, &format!("{T0}/sum_hessian"), json!([1, 2, 3]));
    let i = inspect_json(&v);
    let c = codes(&i);
    assert!(c.contains(&"xgb.tree.num_nodes"), "{c:?}");
    assert!(c.contains(&"xgb.doc.int_in_float_field"), "{c:?}");
    assert!(c.contains(&"xgb.tree.array_length"), "{c:?}");
}

#[test]
fn absurd_parameters_do_not_overflow() {
    let huge = i64::MAX.to_string();
    let mut v = json_fixture();
    set(
        &mut v,
        &format!("{T0}/tree_param/size_leaf_vector"),
        huge.clone().into(),
    );
    set(
        &mut v,
        "/learner/gradient_booster/model/gbtree_model_param/num_parallel_tree",
        huge.clone().into(),
    );
    set(
        &mut v,
        "/learner/learner_model_param/num_class",
        huge.clone().into(),
    );
    set(
        &mut v,
        "/learner/learner_model_param/num_target",
        huge.clone().into(),
    );
    set(
        &mut v,
        "/learner/learner_model_param/num_feature",
        u64::MAX.to_string().into(),
    );
    let text = serde_json::to_vec(&v).expect("ser");
    match inspect_bounded(&text, "huge params") {
        Ok(i) => {
            assert!(i.has_errors());
            let _ = i.human_summary();
        }
        Err(e) => assert!(e.finding_code_for_test().is_some(), "{e}"),
    }
    let mut v: serde_json::Value =
        serde_json::from_slice(&fixture("2.1.4/gblinear.json")).expect("gblinear");
    set(
        &mut v,
        "/learner/learner_model_param/num_class",
        huge.into(),
    );
    let i =
        inspect_bounded(&serde_json::to_vec(&v).expect("ser"), "huge gblinear").expect("parses");
    assert!(codes(&i).contains(&"xgb.gblinear.weights_length"));
}

trait CodeOf {
    fn finding_code_for_test(&self) -> Option<String>;
}

impl CodeOf for Error {
    fn finding_code_for_test(&self) -> Option<String> {
        match self {
            Error::InvalidModel { finding, .. } => Some(finding.code.clone()),
            _ => None,
        }
    }
}

#[test]
fn dart_and_gblinear_shapes_are_checked() {
    let mut v: serde_json::Value =
        serde_json::from_slice(&fixture("2.1.4/dart.json")).expect("dart");
    let w = v
        .pointer_mut("/learner/gradient_booster/weight_drop")
        .expect("weights");
    w.as_array_mut().expect("array").pop();
    let i = inspect_json(&v);
    assert_eq!(
        find(&i, "xgb.dart.weight_count").location,
        Some(Location::JsonPath(
            "$.learner.gradient_booster.weight_drop".into()
        ))
    );
    let mut v: serde_json::Value =
        serde_json::from_slice(&fixture("2.1.4/gblinear.json")).expect("gblinear");
    set(
        &mut v,
        "/learner/learner_model_param/num_feature",
        "7".into(),
    );
    let i = inspect_json(&v);
    let f = find(&i, "xgb.gblinear.weights_length");
    assert!(f.message.contains("(num_feature 7 + 1)"), "{}", f.message);
}

#[test]
fn trailing_bytes_are_reported() {
    for rel in [
        "1.7.4/softprob.bin",
        "1.7.4/logistic.json",
        "1.7.4/dart.ubj",
        "1.5.2/logistic.p4.pkl",
    ] {
        let mut b = fixture(rel);
        let end = b.len();
        b.extend(b"GARBAGE");
        let i = inspect_bounded(&b, rel).expect("parses");
        let f = find(&i, "xgb.trailing_bytes");
        assert_eq!(f.location, Some(Location::Offset(end as u64)), "{rel}");
    }
}

// ------------------------------------------------------------------ strings

#[test]
fn non_utf8_strings_are_precise_errors() {
    // JSON: a feature name.
    let b = fixture("2.1.4/logistic.json");
    let at = b
        .windows(4)
        .position(|w| w == b"\"fa\"")
        .expect("feature name")
        + 1;
    let mut c = b.clone();
    c[at] = 0xFF;
    let e = inspect_bounded(&c, "json utf8").expect_err("invalid UTF-8");
    assert_eq!(err_code(&e), "xgb.json.syntax");
    assert_eq!(
        finding_location(&e),
        Some(&Location::JsonPath("$.learner.feature_names[0]".into()))
    );
    assert!(e.to_string().contains(&format!("at byte {at}")), "{e}");
    // UBJSON: the same name.
    let b = fixture("2.1.4/logistic.ubj");
    let at = b
        .windows(3)
        .position(|w| w == b"\x02fa")
        .expect("feature name")
        + 1;
    let mut c = b.clone();
    c[at] = 0xC3; // a lone UTF-8 lead byte
    let e = inspect_bounded(&c, "ubj utf8").expect_err("invalid UTF-8");
    assert_eq!(finding_location(&e), Some(&Location::Offset(at as u64)));
    // Binary with magic: the objective name.
    let b = fixture("1.7.4/softprob.bin");
    let at = offset(&model_of(&b).locate("objective", None).expect("objective")) + 8;
    let mut c = b.clone();
    c[at + 2] = 0xFE;
    let e = inspect_bounded(&c, "bin utf8").expect_err("invalid UTF-8");
    assert_eq!(err_code(&e), "xgb.invalid_utf8");
    assert_eq!(
        finding_location(&e),
        Some(&Location::Offset((at + 2) as u64))
    );
}

// ------------------------------------------------------------------ not a model

#[test]
fn things_that_are_not_models_say_what_they_are() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "empty"),
        ("gzip", vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0], "gzip"),
        ("zip", b"PK\x03\x04rest".to_vec(), "zip"),
        ("elf", b"\x7fELF\x02\x01\x01".to_vec(), "ELF"),
        ("text", b"hello, this is a readme\n".to_vec(), "text"),
        (
            "dump",
            b"booster[0]:\n0:[f0<0.5] yes=1,no=2\n".to_vec(),
            "text dump",
        ),
        (
            "json",
            b"{\"name\": \"x\", \"version\": 1}".to_vec(),
            "without XGBoost's \"learner\"",
        ),
        ("json array", b"[1,2,3]".to_vec(), "JSON-like"),
        ("bs64", b"bs64AAAAAAAA".to_vec(), "base64"),
        (
            "fasttext",
            vec![0xba, 0x16, 0x4f, 0x2f, 12, 0, 0, 0],
            "fastText",
        ),
        ("pickle of a dict", b"\x80\x04}\x94.".to_vec(), "pickle"),
        (
            "pickle of a sklearn forest",
            b"\x80\x02csklearn.ensemble._forest\nRandomForestClassifier\nq\x00)\x81q\x01}q\x02b."
                .to_vec(),
            "RandomForestClassifier",
        ),
        (
            "random",
            (0..64u8)
                .map(|x| x.wrapping_mul(37).wrapping_add(3))
                .collect(),
            "binary data",
        ),
    ];
    for (name, bytes, expect) in cases {
        match inspect_bounded(&bytes, name) {
            Err(e @ Error::UnrecognizedFormat { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(expect), "{name}: {msg}");
                assert_eq!(e.exit_code(), 1);
            }
            other => panic!(
                "{name}: expected UnrecognizedFormat, got {:?}",
                other.map(|i| i.summary)
            ),
        }
    }
}

#[test]
fn a_pickle_that_runs_code_is_never_executed_and_is_flagged() {
    // os.system("touch /tmp/sm-pack-pwned") inside a Booster state, protocol 2.
    let marker = std::env::temp_dir().join("sm-pack-xgb-pwned");
    let _ = std::fs::remove_file(&marker);
    let cmd = format!("touch {}", marker.display());
    let mut p = b"\x80\x02cxgboost.core\nBooster\nq\x00)\x81q\x01}q\x02(X\x06\x00\x00\x00handlecos\nsystem\nX".to_vec();
    p.extend((cmd.len() as u32).to_le_bytes());
    p.extend(cmd.as_bytes());
    p.extend(b"\x85Rub.");
    let e = inspect_bounded(&p, "evil").expect_err("no model inside");
    assert_eq!(err_code(&e), "xgb.pickle.no_payload", "{e}");
    assert!(!marker.exists(), "the pickle was executed");
    // With a real payload, the dangerous global is an error finding.
    let model = fixture("2.1.4/logistic.ubj");
    let mut p =
        b"\x80\x02cxgboost.core\nBooster\nq\x00)\x81q\x01}q\x02(X\x06\x00\x00\x00handleB".to_vec();
    p.extend((model.len() as u32).to_le_bytes());
    p.extend(&model);
    p.extend(b"X\x01\x00\x00\x00xcos\nsystem\nX\x04\x00\x00\x00true\x85Rub.");
    let i = inspect_bounded(&p, "evil with model").expect("model found");
    assert_eq!(
        find(&i, "xgb.pickle.dangerous_global").severity,
        Severity::Error
    );
    assert!(!marker.exists());
}

#[test]
fn sklearn_wrapper_is_an_error_with_the_fix() {
    for rel in [
        "0.90/logistic.sklearn.pkl",
        "1.7.4/softprob.sklearn.pkl",
        "3.2.0/logistic.sklearn.pkl",
    ] {
        let i = inspect_bounded(&fixture(rel), rel).expect("parses");
        let f = find(&i, "xgb.pickle.wrapper");
        assert_eq!(f.severity, Severity::Error);
        assert!(
            f.hint
                .as_deref()
                .is_some_and(|h| h.contains("get_booster().save_model")),
            "{f}"
        );
        let p = i.model.source.pickle.as_ref().expect("pickle");
        assert_eq!(p.class, "XGBClassifier");
        assert_eq!(p.protocol, 4);
    }
}

#[test]
fn examine_file_refuses_errors_and_summarises() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("xgboost-model");
    std::fs::write(&good, fixture("3.0.5/logistic.ubj")).expect("write");
    let ex = sm_pack::xgboost::examine_file(&good).expect("examines");
    assert!(ex.findings.iter().all(|f| f.severity != Severity::Error));
    let s = ex.summary.expect("summary");
    assert_eq!(s["objective"], "binary:logistic");
    assert_eq!(s["producer"]["version"], "3.0.5");
    let bad = dir.path().join("model.tar.gz");
    std::fs::write(&bad, [0x1f, 0x8b, 8, 0]).expect("write");
    let e = sm_pack::xgboost::examine_file(&bad).expect_err("not a model");
    assert_eq!(e.exit_code(), 1);
    let missing = dir.path().join("nope");
    let e = sm_pack::xgboost::examine_file(&missing).expect_err("missing");
    assert_eq!(e.exit_code(), 2);
}

// ------------------------------------------------------------------ every structural check

/// One edited fixture: the finding `code` with `severity` is expected at
/// `path` (a JSON path; `None`: no location is asserted).
struct Case {
    what: &'static str,
    fixture: &'static str,
    edit: fn(&mut serde_json::Value),
    code: &'static str,
    severity: Severity,
    path: Option<&'static str>,
}

const T1: &str = "/learner/gradient_booster/model/trees/1";

/// Replaces the first element of the numeric array `key` with the bare
/// token `token` (serde_json cannot write NaN / Infinity; XGBoost's JSON can).
fn with_token(v: &serde_json::Value, key: &str, token: &str) -> Vec<u8> {
    let text = serde_json::to_string(v).expect("ser");
    let start = text.find(&format!("\"{key}\":[")).expect(key) + key.len() + 4;
    let end = start + text[start..].find([',', ']']).expect("element end");
    format!("{}{token}{}", &text[..start], &text[end..]).into_bytes()
}

#[test]
fn every_structural_check_gives_a_located_finding() {
    use serde_json::json;
    let cases = [
        Case {
            what: "tree_info shorter than the trees",
            fixture: "2.1.4/logistic.json",
            edit: |v| {
                v.pointer_mut("/learner/gradient_booster/model/tree_info")
                    .and_then(|a| a.as_array_mut())
                    .expect("tree_info")
                    .pop();
            },
            code: "xgb.gbtree.tree_info_length",
            severity: Severity::Error,
            path: Some("$.learner.gradient_booster.model.tree_info"),
        },
        Case {
            what: "root with a parent",
            fixture: "2.1.4/logistic.json",
            edit: |v| set(v, &format!("{T0}/parents/0"), 5.into()),
            code: "xgb.tree.root_parent",
            severity: Severity::Error,
            path: Some("$.learner.gradient_booster.model.trees[0].parents[0]"),
        },
        Case {
            what: "num_deleted disagrees",
            fixture: "2.1.4/logistic.json",
            edit: |v| set(v, &format!("{T0}/tree_param/num_deleted"), "2".into()),
            code: "xgb.tree.num_deleted",
            severity: Severity::Error,
            path: None,
        },
        Case {
            what: "a reachable leaf marked deleted",
            fixture: "2.1.4/logistic.json",
            edit: |v| {
                set(v, &format!("{T0}/split_indices/4"), 2147483647.into());
                set(v, &format!("{T0}/default_left/4"), 1.into());
                set(v, &format!("{T0}/tree_param/num_deleted"), "1".into());
            },
            code: "xgb.tree.deleted_reachable",
            severity: Severity::Error,
            path: Some("$.learner.gradient_booster.model.trees[0].split_indices[4]"),
        },
        Case {
            what: "a split whose left child is -1 (leaves vs splits)",
            fixture: "2.1.4/logistic.json",
            edit: |v| set(v, &format!("{T0}/left_children/1"), (-1).into()),
            code: "xgb.tree.leaf_with_child",
            severity: Severity::Error,
            path: Some("$.learner.gradient_booster.model.trees[0].right_children[1]"),
        },
        Case {
            what: "a split whose right child is -1 (leaves vs splits)",
            fixture: "2.1.4/logistic.json",
            edit: |v| set(v, &format!("{T0}/right_children/1"), (-1).into()),
            code: "xgb.tree.child_range",
            severity: Severity::Error,
            path: Some("$.learner.gradient_booster.model.trees[0].right_children[1]"),
        },
        Case {
            what: "tree id out of place",
            fixture: "2.1.4/logistic.json",
            edit: |v| set(v, &format!("{T1}/id"), 0.into()),
            code: "xgb.tree.id",
            severity: Severity::Error,
            path: Some("$.learner.gradient_booster.model.trees[1].id"),
        },
        Case {
            what: "num_parallel_tree 0",
            fixture: "2.1.4/logistic.json",
            edit: |v| {
                set(
                    v,
                    "/learner/gradient_booster/model/gbtree_model_param/num_parallel_tree",
                    "0".into(),
                )
            },
            code: "xgb.gbtree.num_parallel_tree",
            severity: Severity::Error,
            path: None,
        },
        Case {
            what: "multi:softprob with num_class 1",
            fixture: "2.1.4/softprob.json",
            edit: |v| set(v, "/learner/learner_model_param/num_class", "1".into()),
            code: "xgb.objective.num_class",
            severity: Severity::Error,
            path: Some("$.learner.learner_model_param.num_class"),
        },
        Case {
            what: "vector base_score of the wrong length",
            fixture: "3.2.0/softprob.json",
            edit: |v| {
                set(
                    v,
                    "/learner/learner_model_param/base_score",
                    "[1E-1,2E-1]".into(),
                )
            },
            code: "xgb.base_score.length",
            severity: Severity::Error,
            path: Some("$.learner.learner_model_param.base_score"),
        },
        Case {
            what: "base_score that is not a number",
            fixture: "2.1.4/logistic.json",
            edit: |v| set(v, "/learner/learner_model_param/base_score", "half".into()),
            code: "xgb.base_score.invalid",
            severity: Severity::Error,
            path: Some("$.learner.learner_model_param.base_score"),
        },
        Case {
            what: "fewer feature names than features",
            fixture: "2.1.4/logistic.json",
            edit: |v| {
                v.pointer_mut("/learner/feature_names")
                    .and_then(|a| a.as_array_mut())
                    .expect("names")
                    .pop();
            },
            code: "xgb.features.names_length",
            severity: Severity::Warning,
            path: Some("$.learner.feature_names"),
        },
        Case {
            what: "a duplicate feature name",
            fixture: "2.1.4/logistic.json",
            edit: |v| set(v, "/learner/feature_names/1", "fa".into()),
            code: "xgb.features.duplicate_name",
            severity: Severity::Warning,
            path: Some("$.learner.feature_names[1]"),
        },
        Case {
            what: "an unknown feature type",
            fixture: "3.2.0/cat.json",
            edit: |v| set(v, "/learner/feature_types/0", "decimal".into()),
            code: "xgb.features.type_unknown",
            severity: Severity::Warning,
            path: Some("$.learner.feature_types[0]"),
        },
        Case {
            what: "categories of a node outside the tree",
            fixture: "3.2.0/cat.json",
            edit: |v| set(v, &format!("{T0}/categories_nodes/0"), 99.into()),
            code: "xgb.tree.category_node",
            severity: Severity::Error,
            path: Some("$.learner.gradient_booster.model.trees[0].categories_nodes[0]"),
        },
        Case {
            what: "a categorical split without categories",
            fixture: "3.2.0/cat.json",
            edit: |v| set(v, &format!("{T0}/categories_nodes/0"), 99.into()),
            code: "xgb.tree.category_missing",
            severity: Severity::Error,
            path: Some("$.learner.gradient_booster.model.trees[0].split_type[0]"),
        },
        Case {
            what: "a category segment beyond the categories",
            fixture: "3.2.0/cat.json",
            edit: |v| set(v, &format!("{T0}/categories_sizes/0"), 9.into()),
            code: "xgb.tree.category_range",
            severity: Severity::Error,
            path: Some("$.learner.gradient_booster.model.trees[0].categories_segments[0]"),
        },
        Case {
            what: "a negative category code",
            fixture: "3.2.0/cat.json",
            edit: |v| set(v, &format!("{T0}/categories/1"), (-2).into()),
            code: "xgb.tree.category_value",
            severity: Severity::Error,
            path: Some("$.learner.gradient_booster.model.trees[0].categories[1]"),
        },
        Case {
            what: "categories CSR arrays of different lengths",
            fixture: "3.2.0/cat.json",
            edit: |v| set(v, &format!("{T0}/categories_segments"), json!([0, 0])),
            code: "xgb.tree.category_arrays",
            severity: Severity::Error,
            path: None,
        },
        Case {
            what: "vector leaves of the wrong size",
            fixture: "3.2.0/mtree.json",
            edit: |v| set(v, &format!("{T0}/tree_param/size_leaf_vector"), "3".into()),
            code: "xgb.tree.leaf_vector_size",
            severity: Severity::Error,
            path: None,
        },
        Case {
            what: "a vector leaf indexing past leaf_weights",
            fixture: "3.2.0/mtree.json",
            edit: |v| set(v, &format!("{T0}/right_children/7"), 99.into()),
            code: "xgb.tree.leaf_value_missing",
            severity: Severity::Error,
            path: Some("$.learner.gradient_booster.model.trees[0].right_children[7]"),
        },
        Case {
            what: "a tree without nodes",
            fixture: "2.1.4/logistic.json",
            edit: |v| {
                let t = v.pointer_mut(T1).expect("tree 1");
                for k in [
                    "base_weights",
                    "default_left",
                    "left_children",
                    "loss_changes",
                    "parents",
                    "right_children",
                    "split_conditions",
                    "split_indices",
                    "split_type",
                    "sum_hessian",
                ] {
                    t[k] = json!([]);
                }
                t["tree_param"]["num_nodes"] = "0".into();
            },
            code: "xgb.tree.empty",
            severity: Severity::Error,
            path: None,
        },
    ];
    for c in &cases {
        let mut v: serde_json::Value =
            serde_json::from_slice(&fixture(c.fixture)).expect("fixture JSON");
        (c.edit)(&mut v);
        let i = inspect_json(&v);
        let f = i
            .findings
            .iter()
            .find(|f| f.code == c.code)
            .unwrap_or_else(|| panic!("{}: no {} finding; got {:?}", c.what, c.code, codes(&i)));
        assert_eq!(f.severity, c.severity, "{}: {f}", c.what);
        if let Some(p) = c.path {
            assert_eq!(
                f.location,
                Some(Location::JsonPath(p.into())),
                "{}: {f}",
                c.what
            );
        }
        assert_eq!(i.has_errors(), c.severity == Severity::Error, "{}", c.what);
    }
}

#[test]
fn non_finite_weights_and_base_score_are_errors() {
    // JSON bare tokens, as XGBoost's own JSON allows them.
    let dart: serde_json::Value =
        serde_json::from_slice(&fixture("2.1.4/dart.json")).expect("dart");
    let i = inspect_bounded(&with_token(&dart, "weight_drop", "NaN"), "dart NaN").expect("parses");
    let f = find(&i, "xgb.dart.weight_not_finite");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        f.location,
        Some(Location::JsonPath(
            "$.learner.gradient_booster.weight_drop[0]".into()
        ))
    );
    let lin: serde_json::Value =
        serde_json::from_slice(&fixture("2.1.4/gblinear.json")).expect("gblinear");
    let i =
        inspect_bounded(&with_token(&lin, "weights", "Infinity"), "gblinear inf").expect("parses");
    let f = find(&i, "xgb.gblinear.weight_not_finite");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        f.location,
        Some(Location::JsonPath(
            "$.learner.gradient_booster.model.weights[0]".into()
        ))
    );
    let mut v = json_fixture();
    set(
        &mut v,
        "/learner/learner_model_param/base_score",
        "inf".into(),
    );
    let f = find(&inspect_json(&v), "xgb.base_score.not_finite").clone();
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        f.location,
        Some(Location::JsonPath(
            "$.learner.learner_model_param.base_score".into()
        ))
    );
    // A 3.1+ vector holding NaN.
    set(
        &mut v,
        "/learner/learner_model_param/base_score",
        "[NaN]".into(),
    );
    let i = inspect_json(&v);
    assert!(
        find(&i, "xgb.base_score.not_finite")
            .message
            .contains("NaN")
    );
}

#[test]
fn legacy_binary_header_checks() {
    // 0.90 header: num_output_group (GBTreeModelParam offset 24) must be max(num_class, 1).
    let b = fixture("0.90/softprob.bin");
    let m = model_of(&b);
    let at = offset(&m.locate("num_trees", None).expect("num_trees span")) + 24;
    assert_eq!(
        &b[at..at + 4],
        &3i32.to_le_bytes(),
        "num_output_group of a 3-class model"
    );
    let mut c = b.clone();
    patch(&mut c, at, &1i32.to_le_bytes());
    let i = inspect_bounded(&c, "num_output_group").expect("parses");
    assert_eq!(
        find(&i, "xgb.binary.num_output_group").severity,
        Severity::Error
    );
    // A parent whose "is left child" bit (31) contradicts the parent's children.
    let b = fixture("1.7.4/softprob.bin");
    let m = model_of(&b);
    let at = offset(&m.locate_node(0, "parents", 1));
    let raw = u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!(
        raw & 0x8000_0000,
        0x8000_0000,
        "node 1 is its parent's left child"
    );
    let mut c = b.clone();
    patch(&mut c, at, &(raw & 0x7FFF_FFFF).to_le_bytes());
    let i = inspect_bounded(&c, "parent side").expect("parses");
    let f = find(&i, "xgb.binary.parent_side");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.location, Some(Location::Offset(at as u64)));
}

/// A protocol-2 pickle of `xgboost.core.Booster` whose state is
/// `{"handle": <BINBYTES handle>}` followed by `extra` opcodes before `ub.`.
fn booster_pickle(handle: &[u8], extra: &[u8]) -> Vec<u8> {
    let mut p =
        b"\x80\x02cxgboost.core\nBooster\nq\x00)\x81q\x01}q\x02(X\x06\x00\x00\x00handleB".to_vec();
    p.extend((handle.len() as u32).to_le_bytes());
    p.extend(handle);
    p.extend(extra);
    p.extend(b"ub.");
    p
}

#[test]
fn every_pickle_problem_has_its_code() {
    let model = fixture("2.1.4/logistic.ubj");
    // Sanity: the hand-built wrapper around a real model reads.
    let i = inspect_bounded(&booster_pickle(&model, b""), "plain").expect("reads");
    assert_eq!(i.model.trees().len(), 5);
    assert_eq!(find(&i, "xgb.pickle.booster").severity, Severity::Warning);
    // A pickle inside the handle.
    let inner = fixture("1.5.2/logistic.p4.pkl");
    let e = inspect_bounded(&booster_pickle(&inner, b""), "nested").expect_err("nested");
    assert_eq!(err_code(&e), "xgb.pickle.nested", "{e}");
    // Handle bytes that are no model: says what they are.
    let e = inspect_bounded(&booster_pickle(b"hello, world", b""), "payload").expect_err("text");
    assert_eq!(err_code(&e), "xgb.pickle.payload", "{e}");
    assert!(e.to_string().contains("text"), "{e}");
    // Protocol-5 out-of-band buffer (NEXT_BUFFER) as the handle.
    let p = b"\x80\x05cxgboost.core\nBooster\n)\x81}(X\x06\x00\x00\x00handle\x97ub.";
    let e = inspect_bounded(p, "out of band").expect_err("out of band");
    assert_eq!(err_code(&e), "xgb.pickle.out_of_band", "{e}");
    // No STOP opcode.
    let b = fixture("1.5.2/logistic.p4.pkl");
    assert_eq!(b.last(), Some(&b'.'));
    let e = inspect_bounded(&b[..b.len() - 1], "no STOP").expect_err("truncated");
    assert_eq!(err_code(&e), "xgb.pickle.truncated", "{e}");
    // An opcode pickle does not have.
    let e = inspect_bounded(b"\x80\x04\xff.", "bad opcode").expect_err("malformed");
    assert_eq!(err_code(&e), "xgb.pickle.malformed", "{e}");
    assert_eq!(finding_location(&e), Some(&Location::Offset(2)), "{e}");
    // Stack underflow: SETITEM on an empty stack.
    let e = inspect_bounded(b"\x80\x04s.", "underflow").expect_err("malformed");
    assert_eq!(err_code(&e), "xgb.pickle.malformed", "{e}");
    // A global outside xgboost/numpy/sklearn/builtins is noted, never imported.
    let i = inspect_bounded(
        &booster_pickle(&model, b"X\x01\x00\x00\x00zcmyproject.features\nScaler\n)R"),
        "unexpected global",
    )
    .expect("reads");
    let f = find(&i, "xgb.pickle.unexpected_global");
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.message.contains("myproject.features.Scaler"),
        "{}",
        f.message
    );
}
