//! Every fixture in `testdata/xgboost/index.json` (models written by the real
//! XGBoost 0.90 … 3.2.0 in every encoding they can write) parses, the IR
//! agrees with what the producing library reported after reloading the
//! file, and the evaluator (`sm_pack::xgboost::predict`) reproduces the
//! library's margin predictions (`tests/xgboost_predict.rs` checks the
//! evaluator in depth).
//!
//! No Python is needed: `index.json` and the prediction CSVs are committed.

use serde_json::Value;
use sm_pack::Severity;
use sm_pack::xgboost::inspect_bytes;
use sm_pack::xgboost::ir::*;
use sm_pack::xgboost::predict::{DenseMatrix, predict};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/xgboost")
}

fn index() -> Value {
    let text =
        std::fs::read_to_string(root().join("index.json")).expect("testdata/xgboost/index.json");
    serde_json::from_str(&text).expect("index.json parses")
}

/// Parses a fixture CSV: no header, empty field = NaN.
fn csv(path: &Path) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.split(',')
                .map(|v| {
                    if v.is_empty() {
                        f64::NAN
                    } else {
                        v.parse::<f64>().expect("number")
                    }
                })
                .collect()
        })
        .collect()
}

fn check_entry(e: &Value, inputs: &mut BTreeMap<String, DenseMatrix>) -> Result<(), String> {
    let file = e["file"].as_str().ok_or("entry without file")?;
    let bytes = std::fs::read(root().join(file)).map_err(|x| format!("read: {x}"))?;
    let insp = inspect_bytes(&bytes).map_err(|x| format!("inspect failed: {x}"))?;
    let m = &insp.model;
    let s = &insp.summary;
    let mut errs = Vec::new();
    let mut eq = |what: &str, ours: Value, theirs: &Value| {
        if &ours != theirs {
            errs.push(format!("{what}: ours {ours} vs library {theirs}"));
        }
    };
    eq(
        "objective",
        Value::from(m.objective.name.clone()),
        &e["objective"],
    );
    eq("booster", Value::from(m.booster.name()), &e["booster"]);
    eq(
        "num_feature",
        Value::from(m.learner.num_feature),
        &e["num_feature"],
    );
    eq(
        "num_class",
        Value::from(m.learner.num_class),
        &e["num_class"],
    );
    eq(
        "num_target",
        Value::from(m.learner.num_target),
        &e["num_target"],
    );
    eq("num_trees", Value::from(m.trees().len()), &e["num_trees"]);
    let names = if m.feature_names.is_empty() {
        Value::Null
    } else {
        Value::from(m.feature_names.clone())
    };
    eq("feature_names", names, &e["feature_names"]);
    let attrs: serde_json::Map<String, Value> = m
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.clone())))
        .collect();
    eq("attributes", Value::Object(attrs), &e["attributes"]);
    if let (Some(rounds), Some(t)) = (e["num_boosted_rounds"].as_u64(), &s.trees) {
        eq(
            "num_boosted_rounds",
            Value::from(t.rounds),
            &Value::from(rounds),
        );
    }
    if let (Some(npt), Some(d)) = (e["num_parallel_tree"].as_i64(), &m.source.dialect)
        && d.num_parallel_tree_param
        && let Booster::Trees(t) = &m.booster
    {
        eq(
            "num_parallel_tree",
            Value::from(t.num_parallel_tree),
            &Value::from(npt),
        );
    }
    // base_score: the 3.1+ string exactly; a float up to 3.0; 0.90's header margin.
    let bs = &m.learner.base_score;
    match (&e["base_score"], e.get("base_score_margin")) {
        (_, Some(margin)) if margin.is_number() => {
            let theirs = margin.as_f64().unwrap_or(f64::NAN) as f32;
            if bs.space != ScoreSpace::Margin || bs.values != vec![theirs] {
                errs.push(format!(
                    "base_score margin: ours {:?} {:?} vs {theirs}",
                    bs.space, bs.values
                ));
            }
        }
        (Value::String(t), _) => {
            if &bs.stored != t {
                errs.push(format!("base_score: ours {:?} vs {t:?}", bs.stored));
            }
        }
        (Value::Number(n), _) => {
            let theirs = n.as_f64().unwrap_or(f64::NAN) as f32;
            if bs.values.first() != Some(&theirs) {
                errs.push(format!("base_score: ours {:?} vs {theirs}", bs.values));
            }
        }
        (other, _) => errs.push(format!("unexpected base_score in index: {other}")),
    }
    // Findings: fixtures are healthy models. Pickles carry their expected notes.
    let sklearn = e["format"] == "sklearn-pickle";
    for f in &insp.findings {
        let expected = match f.code.as_str() {
            "xgb.pickle.booster" => e["format"]
                .as_str()
                .is_some_and(|x| x.starts_with("pickle")),
            "xgb.pickle.wrapper" => sklearn,
            _ => false,
        };
        if !expected && f.severity >= Severity::Warning {
            errs.push(format!("unexpected finding: {f}"));
        }
    }
    if sklearn && !insp.findings.iter().any(|f| f.code == "xgb.pickle.wrapper") {
        errs.push("sklearn wrapper not reported".into());
    }
    // Margins.
    let input = e["input"].as_str().ok_or("no input")?;
    let xs = inputs.entry(input.to_string()).or_insert_with(|| {
        let rows: Vec<Vec<f32>> = csv(&root().join(input))
            .into_iter()
            .map(|r| r.into_iter().map(|v| v as f32).collect())
            .collect();
        DenseMatrix::from_rows(&rows).expect("input rows")
    });
    let refm = csv(&root().join(e["pred_margin"].as_str().ok_or("no pred_margin")?));
    if refm.len() != xs.rows() {
        errs.push(format!(
            "margin rows {} vs input rows {}",
            refm.len(),
            xs.rows()
        ));
    }
    let mut worst = 0.0f64;
    match predict(m, xs, true) {
        Err(e) => errs.push(format!("the evaluator refuses the model: {e}")),
        Ok(ours) => {
            for (i, r) in refm.iter().enumerate() {
                let row = ours.row(i);
                if row.len() != r.len() {
                    errs.push(format!(
                        "margin width: ours {} vs library {}",
                        row.len(),
                        r.len()
                    ));
                    break;
                }
                for (a, b) in row.iter().zip(r) {
                    let d = (f64::from(*a) - b).abs() / b.abs().max(1.0);
                    if d.is_nan() || d > worst {
                        worst = if d.is_nan() { f64::INFINITY } else { d };
                    }
                }
            }
        }
    }
    if worst > 1e-6 {
        errs.push(format!(
            "margins differ from the library's by up to {worst:.3e}"
        ));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

#[test]
fn every_fixture_parses_and_matches_the_library() {
    let idx = index();
    let entries = idx["entries"].as_array().expect("entries");
    assert!(
        entries.len() > 1000,
        "expected the full fixture set, found {}",
        entries.len()
    );
    let mut inputs = BTreeMap::new();
    let mut failures = Vec::new();
    for e in entries {
        if let Err(msg) = check_entry(e, &mut inputs) {
            failures.push(format!("{}: {msg}", e["file"]));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures disagree:\n{}",
        failures.len(),
        entries.len(),
        failures.join("\n")
    );
}

#[test]
fn every_model_file_is_listed_in_the_index() {
    let idx = index();
    let listed: std::collections::BTreeSet<String> = idx["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["file"].as_str().map(String::from))
        .collect();
    let mut unlisted = Vec::new();
    for dir in std::fs::read_dir(root()).expect("testdata/xgboost") {
        let dir = dir.expect("entry").path();
        if !dir.is_dir() || dir.ends_with("inputs") {
            continue;
        }
        for f in std::fs::read_dir(&dir).expect("version dir") {
            let p = f.expect("entry").path();
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            if name.ends_with(".csv") || name.starts_with('_') {
                continue;
            }
            let rel = p
                .strip_prefix(root())
                .expect("prefix")
                .to_string_lossy()
                .replace('\\', "/");
            if !listed.contains(&rel) {
                unlisted.push(rel);
            }
        }
    }
    assert!(
        unlisted.is_empty(),
        "model files missing from index.json: {unlisted:?}"
    );
}

#[test]
fn failures_listed_in_the_index_have_no_file() {
    let idx = index();
    let suffix = |format: &str| match format {
        "binary" => Some("bin"),
        "noext" => Some("noext"),
        "json" => Some("json"),
        "pretty-json" => Some("pretty.json"),
        "ubj" => Some("ubj"),
        "pickle-p2" => Some("p2.pkl"),
        "pickle-p4" => Some("p4.pkl"),
        "pickle-p5" => Some("p5.pkl"),
        "sklearn-pickle" => Some("sklearn.pkl"),
        _ => None,
    };
    for f in idx["failures"].as_array().expect("failures") {
        let (Some(p), Some(m), Some(fmt)) = (
            f["producer"].as_str(),
            f["model"].as_str(),
            f["format"].as_str(),
        ) else {
            continue;
        };
        let files: Vec<String> = match suffix(fmt) {
            Some(s) => vec![format!("{p}/{m}.{s}")],
            None => ["bin", "noext", "json", "ubj", "p4.pkl"]
                .iter()
                .map(|s| format!("{p}/{m}.{s}"))
                .collect(),
        };
        for file in files {
            assert!(
                !root().join(&file).exists(),
                "{file} exists although index.json lists it as a failure"
            );
        }
    }
}

#[test]
fn encodings_and_versions_are_recognised() {
    // Spot checks of the dialect facts on known files.
    let check = |file: &str, f: &dyn Fn(&Model)| {
        let bytes = std::fs::read(root().join(file)).expect(file);
        let i = inspect_bytes(&bytes).expect(file);
        f(&i.model);
    };
    check("0.90/logistic.bin", &|m| {
        assert_eq!(m.source.encoding, Encoding::LegacyBinary);
        let b = m.source.binary.as_ref().expect("binary facts");
        assert!(!b.binf_magic);
        assert_eq!(b.major_version, 0);
        assert_eq!(m.learner.base_score.space, ScoreSpace::Margin);
        assert_eq!(m.version.exact, None);
        assert_eq!(m.version.to_string(), "0.90");
    });
    check("1.2.0/logistic.bin", &|m| {
        assert!(m.source.binary.as_ref().expect("binary").binf_magic);
        assert_eq!(m.version.exact, Some(Version::mm(1, 2)));
    });
    check("1.0.0/logistic.p2.pkl", &|m| {
        assert_eq!(m.source.snapshot, Some(SnapshotKind::ConfigOffset));
        let p = m.source.pickle.as_ref().expect("pickle");
        assert_eq!((p.protocol, p.object), (2, PickleObject::Booster));
        assert_eq!(p.payload_op, PicklePayloadOp::Latin1String);
    });
    check("1.0.0/logistic.json", &|m| {
        let d = m.source.dialect.as_ref().expect("dialect");
        assert!(d.leaf_child_counts);
        assert_eq!(d.default_left, Some(BoolRepr::Bool));
        assert!(d.long_float_text);
    });
    check("1.5.2/logistic.p4.pkl", &|m| {
        assert_eq!(m.source.snapshot, Some(SnapshotKind::Json));
        assert_eq!(
            m.source.pickle.as_ref().expect("pickle").payload_op,
            PicklePayloadOp::Binbytes
        );
    });
    check("1.7.4/logistic.ubj", &|m| {
        let d = m.source.dialect.as_ref().expect("dialect");
        assert_eq!(d.default_left, Some(BoolRepr::Int));
        assert!(d.typed_tree_arrays);
        assert!(d.typed_array_markers.contains('d') && d.typed_array_markers.contains('U'));
    });
    check("3.2.0/cat.ubj", &|m| {
        let d = m.source.dialect.as_ref().expect("dialect");
        assert!(d.cats && d.base_score_vector);
        assert!(
            d.typed_array_markers.contains('i'),
            "cats uses $i: {}",
            d.typed_array_markers
        );
    });
    check("3.2.0/mtree.json", &|m| {
        let d = m.source.dialect.as_ref().expect("dialect");
        assert_eq!(d.multi_target_layout, Some(MultiTargetLayout::LeafWeights));
    });
    check("2.0.3/mtree.json", &|m| {
        let d = m.source.dialect.as_ref().expect("dialect");
        assert_eq!(
            d.multi_target_layout,
            Some(MultiTargetLayout::PerNodeBaseWeights)
        );
    });
    check("3.2.0/dart.p5.pkl", &|m| {
        assert_eq!(
            m.source.pickle.as_ref().expect("pickle").payload_op,
            PicklePayloadOp::Bytearray8
        );
        assert!(matches!(&m.booster, Booster::Trees(t) if t.dart));
    });
}

#[test]
fn dart_folded_into_gbtree_3_4_layout_is_read() {
    // XGBoost 3.4 writes DART as `"name": "gbtree"` with `model.weight_drop`
    // (not installable here, so built from a 3.2 dart model).
    let mut v: Value =
        serde_json::from_slice(&std::fs::read(root().join("3.2.0/dart.json")).expect("read"))
            .expect("json");
    let gb = v
        .pointer_mut("/learner/gradient_booster")
        .expect("gradient_booster");
    let weights = gb["weight_drop"].clone();
    let mut model = gb["gbtree"]["model"].clone();
    model["weight_drop"] = weights.clone();
    *gb = serde_json::json!({"name": "gbtree", "model": model});
    v["version"] = serde_json::json!([3, 4, 1]);
    let i = inspect_bytes(&serde_json::to_vec(&v).expect("ser")).expect("parses");
    let d = i.model.source.dialect.as_ref().expect("dialect");
    assert!(d.weight_drop_in_gbtree);
    assert_eq!(d.booster_name, "gbtree");
    match &i.model.booster {
        Booster::Trees(t) => {
            assert!(t.dart);
            let w: Vec<f32> = weights
                .as_array()
                .expect("weights")
                .iter()
                .map(|x| x.as_f64().unwrap_or(0.0) as f32)
                .collect();
            assert_eq!(t.weight_drop.as_deref(), Some(w.as_slice()));
        }
        other => panic!("{other:?}"),
    }
    assert!(!i.has_errors(), "{:?}", i.findings);
    assert!(
        i.human_summary()
            .contains("DART weights inside gbtree (3.4+)")
    );
}

#[test]
fn feature_types_and_tree_shapes_match_the_library() {
    // testdata/xgboost/library-facts.json (library_facts.py): what each
    // producer reports after reloading the file: Booster.feature_types and,
    // from get_dump(), every tree's split count, leaf count and depth.
    let text = std::fs::read_to_string(root().join("library-facts.json"))
        .expect("testdata/xgboost/library-facts.json");
    let facts: Value = serde_json::from_str(&text).expect("library-facts.json parses");
    let facts = facts["entries"].as_object().expect("entries");
    let idx = index();
    let entries = idx["entries"].as_array().expect("entries");
    assert_eq!(facts.len(), entries.len(), "one fact record per fixture");
    let (mut failures, mut trees_checked, mut typed) = (Vec::new(), 0usize, 0usize);
    for e in entries {
        let file = e["file"].as_str().expect("file");
        let f = &facts[file];
        let bytes = std::fs::read(root().join(file)).expect("fixture");
        let (model, _) = sm_pack::xgboost::read_model(&bytes).expect("parses");
        let ours = if model.feature_types.is_empty() {
            Value::Null
        } else {
            typed += 1;
            Value::from(model.feature_types.clone())
        };
        if ours != f["feature_types"] {
            failures.push(format!(
                "{file}: feature_types ours {ours} vs library {}",
                f["feature_types"]
            ));
        }
        let Some(lib) = f["trees"].as_array() else {
            continue;
        };
        let (_, stats) = sm_pack::xgboost::validate::validate(&model);
        if stats.len() != lib.len() {
            failures.push(format!(
                "{file}: {} trees vs {} dumped",
                stats.len(),
                lib.len()
            ));
            continue;
        }
        for (i, (s, l)) in stats.iter().zip(lib).enumerate() {
            let ours = serde_json::json!([s.splits, s.leaves, s.depth]);
            if &ours != l {
                failures.push(format!(
                    "{file} tree {i}: [splits, leaves, depth] ours {ours} vs library {l}"
                ));
            }
            trees_checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(trees_checked > 5000, "{trees_checked} trees checked");
    assert!(typed > 50, "{typed} fixtures with feature types");
}
