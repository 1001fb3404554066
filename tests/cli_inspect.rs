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
