//! `sm-pack inspect` on XGBoost models (with container verdicts as a CI gate)
//! and on archives.

mod common;

use common::*;

fn xgb(rel: &str) -> String {
    repo()
        .join("testdata/xgboost")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn verdict_table_and_container_gate() {
    // xgboost 3.2.0 JSON: 1.7-1 loads it but mispredicts (vector base_score); 3.2-0 loads it.
    let o = bin()
        .args(["inspect", &xgb("3.2.0/logistic.json")])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("binary:logistic"), "{out}");
    assert!(
        out.contains("1.7-1") && out.contains("loads but mispredicts"),
        "{out}"
    );
    let o = bin()
        .args([
            "inspect",
            &xgb("3.2.0/logistic.json"),
            "--container",
            "1.7-1",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let o = bin()
        .args([
            "inspect",
            &xgb("3.2.0/logistic.json"),
            "--container",
            "3.2-0",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = bin()
        .args([
            "--json",
            "inspect",
            &xgb("1.7.4/logistic.ubj"),
            "--container",
            "1.5-1",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let v = r["verdicts"].as_array().unwrap();
    assert_eq!(v.len(), 10, "one verdict per XGBoost tag");
    let tag = |t: &str| v.iter().find(|x| x["tag"] == t).unwrap()["verdict"].clone();
    assert_eq!(tag("1.5-1"), "fails to load");
    assert_eq!(tag("1.7-1"), "loads");
    // Unknown tag: usage error listing the valid ones.
    let o = bin()
        .args([
            "inspect",
            &xgb("1.7.4/logistic.ubj"),
            "--container",
            "9.9-9",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("1.7-1"), "{}", stderr(&o));
}

#[test]
fn not_a_model_is_a_validation_failure() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    let o = run_in(dir.path(), &["inspect", "notes.txt"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not an XGBoost model"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn archives_list_their_members() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_in(dir.path(), &["xgboost", example_model().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run_in(dir.path(), &["--json", "inspect", "model.tar.gz"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["format"], "archive");
    let text = stdout(&run_in(dir.path(), &["inspect", "model.tar.gz"]));
    assert!(text.contains("xgboost-model"), "{text}");
}

/// Tree statistics computed here, independently of sm-pack's readers, from
/// the JSON file the same XGBoost release wrote for the same model:
/// (trees, total nodes, reachable leaves, reachable splits, min depth, max
/// depth, categorical splits, leaf vector size).
fn json_tree_stats(rel: &str) -> (usize, usize, usize, usize, usize, usize, usize, usize) {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(xgb(rel)).unwrap()).unwrap();
    let gb = &v["learner"]["gradient_booster"];
    let model = if gb["name"] == "dart" {
        &gb["gbtree"]["model"]
    } else {
        &gb["model"]
    };
    let ints = |t: &serde_json::Value, k: &str| -> Vec<i64> {
        t[k].as_array()
            .map(|a| a.iter().map(|x| x.as_i64().unwrap()).collect())
            .unwrap_or_default()
    };
    let trees = model["trees"].as_array().unwrap();
    let (mut nodes, mut leaves, mut splits, mut cats) = (0, 0, 0, 0);
    let (mut dmin, mut dmax, mut k) = (usize::MAX, 0, 1);
    for t in trees {
        let (l, r, st) = (
            ints(t, "left_children"),
            ints(t, "right_children"),
            ints(t, "split_type"),
        );
        nodes += l.len();
        k = t["tree_param"]["size_leaf_vector"]
            .as_str()
            .unwrap()
            .parse::<usize>()
            .unwrap()
            .max(1);
        let mut depth = 0;
        let mut stack = vec![(0usize, 0usize)];
        while let Some((n, d)) = stack.pop() {
            if l[n] == -1 {
                leaves += 1;
                depth = depth.max(d);
            } else {
                splits += 1;
                cats += usize::from(st.get(n) == Some(&1));
                stack.push((l[n] as usize, d + 1));
                stack.push((r[n] as usize, d + 1));
            }
        }
        dmin = dmin.min(depth);
        dmax = dmax.max(depth);
    }
    (trees.len(), nodes, leaves, splits, dmin, dmax, cats, k)
}

#[test]
fn inspect_json_reports_every_field_in_every_encoding() {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo().join("testdata/xgboost/index.json")).unwrap())
            .unwrap();
    let entry = |rel: &str| {
        index["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["file"] == rel)
            .unwrap_or_else(|| panic!("{rel} not in index.json"))
            .clone()
    };
    // (JSON file the stats come from, files of the same model, encoding of each).
    let groups: &[(&str, &[(&str, &str)])] = &[
        (
            "3.2.0/cat.json",
            &[
                ("3.2.0/cat.json", "json"),
                ("3.2.0/cat.ubj", "ubjson"),
                ("3.2.0/cat.p4.pkl", "ubjson"),
            ],
        ),
        (
            "1.7.4/softprob.json",
            &[
                ("1.7.4/softprob.bin", "legacy-binary"),
                ("1.7.4/softprob.ubj", "ubjson"),
                ("1.7.4/softprob.p2.pkl", "ubjson"),
            ],
        ),
        (
            "3.2.0/mtree.json",
            &[("3.2.0/mtree.json", "json"), ("3.2.0/mtree.ubj", "ubjson")],
        ),
        (
            "2.0.3/mtree.json",
            &[
                ("2.0.3/mtree.ubj", "ubjson"),
                ("2.0.3/mtree.p5.pkl", "ubjson"),
            ],
        ),
        (
            "1.2.0/dart.json",
            &[
                ("1.2.0/dart.bin", "legacy-binary"),
                ("1.2.0/dart.p4.pkl", "legacy-binary"),
            ],
        ),
        (
            "1.0.0/rf.json",
            &[
                ("1.0.0/rf.noext", "legacy-binary"),
                ("1.0.0/rf.json", "json"),
            ],
        ),
    ];
    for (json_file, files) in groups {
        let (ntrees, nodes, leaves, splits, dmin, dmax, cats, k) = json_tree_stats(json_file);
        for (rel, encoding) in *files {
            let e = entry(rel);
            let o = bin()
                .args(["--json", "inspect", &xgb(rel)])
                .output()
                .unwrap();
            assert_eq!(o.status.code(), Some(0), "{rel}: {}", stderr(&o));
            let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            let m = &r["model"];
            let t = &m["trees"];
            assert_eq!(m["encoding"], *encoding, "{rel}");
            // JSON/UBJSON record the exact release; a legacy binary header
            // major.minor only.
            let producer = e["producer"].as_str().unwrap();
            if *encoding == "legacy-binary" {
                let v = m["producer"]["version"].as_str().unwrap();
                assert!(producer.starts_with(&format!("{v}.")), "{rel}: {v}");
            } else {
                assert_eq!(m["producer"]["exact"], producer, "{rel}");
            }
            assert_eq!(m["objective"], e["objective"], "{rel}");
            assert_eq!(m["booster"], e["booster"], "{rel}");
            assert_eq!(m["num_feature"], e["num_feature"], "{rel}");
            assert_eq!(m["num_class"], e["num_class"], "{rel}");
            assert_eq!(m["num_target"], e["num_target"], "{rel}");
            assert_eq!(t["num_trees"], e["num_trees"], "{rel}");
            assert_eq!(t["num_trees"], ntrees, "{rel}");
            if let Some(rounds) = e["num_boosted_rounds"].as_u64() {
                assert_eq!(t["rounds"], rounds, "{rel}");
            }
            assert_eq!(t["dart"], e["booster"] == "dart", "{rel}");
            assert_eq!(t["total_nodes"], nodes, "{rel}");
            assert_eq!(t["leaves"], leaves, "{rel}");
            assert_eq!(t["splits"], splits, "{rel}");
            assert_eq!(t["min_depth"], dmin, "{rel}");
            assert_eq!(t["max_depth"], dmax, "{rel}");
            assert_eq!(t["categorical_splits"], cats, "{rel}");
            assert_eq!(t["leaf_vector_size"], k, "{rel}");
            assert_eq!(m["categorical"], cats > 0, "{rel}");
            assert_eq!(m["vector_leaves"], k > 1, "{rel}");
            let names = if m["feature_names"].as_array().is_some_and(|a| a.is_empty()) {
                serde_json::Value::Null
            } else {
                m["feature_names"].clone()
            };
            assert_eq!(names, e["feature_names"], "{rel}");
            if let Some(s) = e["base_score"].as_str() {
                assert_eq!(m["base_score"]["stored"], s, "{rel}");
                assert_eq!(m["base_score"]["vector"], s.starts_with('['), "{rel}");
            }
            assert_eq!(m["findings"]["errors"], 0, "{rel}");
            assert!(r["findings"].is_array(), "{rel}");
        }
    }
    // The producer where the file records no exact release: a 0.90 header
    // (version 0.0) means "0.90 or earlier"; a 1.0 header gives major.minor.
    let producer = |path: &str| {
        let o = bin().args(["--json", "inspect", path]).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{path}: {}", stderr(&o));
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        r["model"]["producer"].clone()
    };
    let p = producer(&xgb("0.90/logistic.bin"));
    assert_eq!(p["exact"], serde_json::Value::Null, "{p}");
    assert_eq!(p["version"], "0.90", "{p}");
    assert!(
        p["basis"].as_str().unwrap().contains("0.90 or earlier"),
        "{p}"
    );
    let p = producer(&xgb("1.0.0/logistic.noext"));
    assert_eq!(
        (&p["min"], &p["max"]),
        (&"1.0".into(), &"1.0".into()),
        "{p}"
    );
    assert!(
        p["basis"].as_str().unwrap().contains("header version 1.0"),
        "{p}"
    );
    // A JSON document without its "version" field: the range its dialect
    // implies (JSON ⇒ ≥ 1.0, boolean default_left ⇒ ≤ 1.5).
    let dir = tempfile::tempdir().unwrap();
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(xgb("1.3.3/logistic.json")).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("version");
    let path = dir.path().join("xgboost-model");
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    let p = producer(path.to_str().unwrap());
    assert_eq!(p["exact"], serde_json::Value::Null, "{p}");
    assert_eq!(
        (&p["min"], &p["max"]),
        (&"1.0".into(), &"1.5".into()),
        "{p}"
    );
    assert!(
        p["basis"]
            .as_str()
            .unwrap()
            .contains("boolean default_left"),
        "{p}"
    );
    // gblinear: weights instead of trees.
    let o = bin()
        .args(["--json", "inspect", &xgb("2.1.4/gblinear-multi.ubj")])
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["model"]["booster"], "gblinear");
    assert_eq!(r["model"]["linear"]["weights"], (5 + 1) * 3);
    assert_eq!(r["model"]["num_class"], 3);
}

#[test]
fn inspect_text_names_every_field() {
    let o = bin()
        .args(["inspect", &xgb("3.2.0/cat.ubj")])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    for line in [
        "XGBoost model (UBJSON)",
        "written by    XGBoost 3.2.0",
        "objective     binary:logistic",
        "booster       gbtree: 5 trees in 5 rounds",
        "tree depth    min 3, mean 3.0, max 3",
        "nodes         55 total: 25 splits, 30 leaves, 0 deleted",
        "features      3: num, color, x2",
        "outputs       1 output",
        "base_score    \"[4.25E-1]\"",
        "uses          categorical splits (5), vector base_score (3.1+)",
        "findings      0 errors, 0 warnings, 0 info",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    let out = stdout(
        &bin()
            .args(["inspect", &xgb("3.2.0/mtree.ubj")])
            .output()
            .unwrap(),
    );
    assert!(out.contains("vector leaves"), "{out}");
    let out = stdout(
        &bin()
            .args(["inspect", &xgb("3.2.0/softprob.json")])
            .output()
            .unwrap(),
    );
    assert!(out.contains("3 classes"), "{out}");
}
