//! Shared by tests/report_schema.rs and tests/report_snapshots.rs: the report
//! schema validator and a way to run the real binary for its report.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fixture under testdata/, as a string argument.
pub fn fixture(rel: &str) -> String {
    let p = repo().join("testdata").join(rel);
    assert!(p.is_file(), "missing fixture {}", p.display());
    p.to_string_lossy().into_owned()
}

fn load(rel: &str) -> serde_json::Value {
    let text = std::fs::read(repo().join(rel)).expect("read schema");
    serde_json::from_slice(&text).expect("schema is JSON")
}

/// A validator for formats/report.schema.json, with the manifest and batch
/// index schemas it refers to.
pub fn validator() -> jsonschema::Validator {
    let manifest = load("formats/manifest.schema.json");
    let id = manifest["$id"].as_str().expect("manifest $id").to_string();
    let batch = load("formats/batch-index.schema.json");
    let batch_id = batch["$id"].as_str().expect("batch index $id").to_string();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .with_resource(
            id,
            jsonschema::Resource::from_contents(manifest).expect("manifest schema"),
        )
        .with_resource(
            batch_id,
            jsonschema::Resource::from_contents(batch).expect("batch index schema"),
        )
        .build(&load("formats/report.schema.json"))
        .expect("report schema compiles")
}

/// The binary, with an environment that does not depend on the developer's.
pub fn bin(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sm-pack"));
    c.current_dir(dir)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_PROFILE")
        .env_remove("SM_PACK_CONFIG")
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100");
    c
}

/// One finished run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs sm-pack in `dir`.
pub fn run(dir: &Path, args: &[&str]) -> Run {
    bin(dir).args(args).output().expect("run sm-pack").into()
}

/// Runs sm-pack with `--json` in `dir`, checks the exit code and returns the report.
#[track_caller]
pub fn report(dir: &Path, args: &[&str], code: i32) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let r = run(dir, &all);
    assert_eq!(
        r.code, code,
        "sm-pack {all:?}\nstdout:\n{}\nstderr:\n{}",
        r.stdout, r.stderr
    );
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{}", r.stdout))
}

/// Schema errors of a report (empty when it conforms).
pub fn schema_errors(v: &jsonschema::Validator, report: &serde_json::Value) -> Vec<String> {
    v.iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}
