//! Every command's `--json` report, from the real binary on real fixtures,
//! validates against formats/report.schema.json (sm-pack.report/v1), and the
//! schema rejects what it must (so these tests can fail).
//!
//! The S3 cases (`upload`, `--upload`) need the local S3 server
//! (`eval "$(scripts/s3-server.sh start)"`, or `SM_PACK_SKIP_S3_TESTS=1`).

mod report_support;

use report_support::*;
use serde_json::{Value, json};
use std::path::Path;

/// Validates `r` and checks the envelope: schema id, command, `ok` ⇔ exit 0.
#[track_caller]
fn conforms(r: &Value, command: &str, code: i32) {
    let errors = schema_errors(&validator(), r);
    assert!(
        errors.is_empty(),
        "{errors:#?}\n{}",
        serde_json::to_string_pretty(r).unwrap()
    );
    assert_eq!(r["schema"], "sm-pack.report/v1");
    assert_eq!(r["command"], command);
    assert_eq!(r["exit_code"], code);
    assert_eq!(r["ok"], code == 0);
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn example() -> String {
    fixture("example/churn-xgboost.json")
}

fn broken() -> String {
    fixture("example/churn-xgboost-broken.json")
}

fn pack_example(dir: &Path) {
    let r = run(dir, &["xgboost", &example(), "-o", "model.tar.gz"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn xgboost_pack_reports() {
    let d = tmp();
    // Packed for the newest tag.
    let r = report(d.path(), &["xgboost", &example(), "-o", "a.tar.gz"], 0);
    conforms(&r, "xgboost", 0);
    assert_eq!(r["outcome"]["packed"], true);
    assert_eq!(r["outcome"]["container"]["default_tag"], true);
    assert_eq!(r["outcome"]["files"]["archive"], "a.tar.gz");
    // Converted for an older tag, with the sample gate.
    let r = report(
        d.path(),
        &[
            "xgboost",
            &example(),
            "--container",
            "1.5-1",
            "--sample",
            &fixture("example/sample.csv"),
            "--expect",
            &fixture("example/sample.expected.csv"),
            "-o",
            "b.tar.gz",
        ],
        0,
    );
    conforms(&r, "xgboost", 0);
    assert_eq!(r["outcome"]["container"]["converted"], true);
    assert_eq!(r["outcome"]["manifest"]["conversion"]["container"], "1.5-1");
    assert_eq!(r["outcome"]["manifest"]["sample"]["result"], "pass");
    // Packed as given for a tag that mispredicts it: packed, but exit 1 and ok false.
    let r = report(
        d.path(),
        &[
            "xgboost",
            &fixture("xgboost/3.2.0/logistic.json"),
            "--container",
            "1.7-1",
            "--no-convert",
            "-o",
            "c.tar.gz",
        ],
        1,
    );
    conforms(&r, "xgboost", 1);
    assert_eq!(r["outcome"]["packed"], true);
    assert_eq!(r["outcome"]["container"]["failed"], true);
    // Refused by validation: nothing written.
    let r = report(d.path(), &["xgboost", &broken(), "-o", "d.tar.gz"], 1);
    conforms(&r, "xgboost", 1);
    assert_eq!(r["outcome"]["packed"], false);
    assert_eq!(r["outcome"]["manifest"], Value::Null);
    let codes: Vec<&str> = r["outcome"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert!(codes.contains(&"xgb.tree.cycle"), "{codes:?}");
    assert!(!d.path().join("d.tar.gz").exists());
}

#[test]
fn fasttext_pack_reports_use_the_subcommand_name() {
    let d = tmp();
    let model = fixture("fasttext/sup_softmax.bin");
    for (alias, out) in [("fasttext", "a.tar.gz"), ("blazingtext", "b.tar.gz")] {
        let r = report(d.path(), &[alias, &model, "-o", out], 0);
        conforms(&r, "fasttext", 0);
        assert_eq!(r["family"], "blazingtext");
        assert_eq!(r["outcome"]["manifest"]["members"][0]["name"], "model.bin");
        assert_eq!(r["outcome"]["model"]["kind"], "supervised");
    }
    // Quantized without --allow-quantized: refused.
    let r = report(
        d.path(),
        &[
            "fasttext",
            &fixture("fasttext/sup_ngrams_q.ftz"),
            "-o",
            "q.tar.gz",
        ],
        1,
    );
    conforms(&r, "fasttext", 1);
    assert_eq!(r["outcome"]["packed"], false);
}

#[test]
fn error_reports() {
    let d = tmp();
    // Missing input: exit 2.
    let r = report(d.path(), &["xgboost", "no-such-model.json"], 2);
    conforms(&r, "xgboost", 2);
    assert_eq!(r["error"]["validation_failure"], false);
    // Output exists (no --force): exit 2 with a hint.
    pack_example(d.path());
    let r = report(d.path(), &["xgboost", &example(), "-o", "model.tar.gz"], 2);
    conforms(&r, "xgboost", 2);
    assert!(r["error"]["hint"].is_string(), "{r}");
    // A model the reader rejects outright: exit 1, validation failure.
    let cut = d.path().join("cut.json");
    let bytes = std::fs::read(example()).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let r = report(d.path(), &["xgboost", "cut.json", "-o", "cut.tar.gz"], 1);
    conforms(&r, "xgboost", 1);
    assert_eq!(r["error"]["validation_failure"], true);
    // Every other command reports its errors the same way.
    for (args, command) in [
        (vec!["inspect", "missing.bin"], "inspect"),
        (vec!["verify", "missing.tar.gz"], "verify"),
        (vec!["convert", "missing.json", "-o", "x.json"], "convert"),
        (vec!["predict", "missing.json"], "predict"),
        (
            vec!["upload", "missing.tar.gz", "s3://bucket-name/p/"],
            "upload",
        ),
        (vec!["containers", "--region", "xx-nowhere-1"], "containers"),
        (vec!["fasttext", "missing.bin"], "fasttext"),
        (vec!["man", "--out-dir", "model.tar.gz/man1"], "man"),
    ] {
        let r = report(d.path(), &args, 2);
        conforms(&r, command, 2);
    }
}

#[test]
fn inspect_reports() {
    let d = tmp();
    let r = report(d.path(), &["inspect", &example()], 0);
    conforms(&r, "inspect", 0);
    assert_eq!(r["format"], "xgboost");
    assert_eq!(r["verdicts"].as_array().unwrap().len(), 10);
    // As a CI gate for a tag that would mispredict.
    let r = report(
        d.path(),
        &[
            "inspect",
            &fixture("xgboost/3.2.0/logistic.json"),
            "--container",
            "1.7-1",
        ],
        1,
    );
    conforms(&r, "inspect", 1);
    assert_eq!(r["container"], "1.7-1");
    let r = report(d.path(), &["inspect", &broken()], 1);
    conforms(&r, "inspect", 1);
    let r = report(
        d.path(),
        &["inspect", &fixture("fasttext/cbow_nosub.bin")],
        0,
    );
    conforms(&r, "inspect", 0);
    assert_eq!(r["format"], "fasttext");
    let r = report(
        d.path(),
        &["inspect", &fixture("fasttext/sup_ngrams_q.ftz")],
        0,
    );
    conforms(&r, "inspect", 0);
    pack_example(d.path());
    let r = report(d.path(), &["inspect", "model.tar.gz"], 0);
    conforms(&r, "inspect", 0);
    assert_eq!(r["format"], "archive");
    let r = report(
        d.path(),
        &["inspect", &fixture("archives/appledouble.tar.gz")],
        r_code(d.path(), "archives/appledouble.tar.gz"),
    );
    assert_eq!(r["format"], "archive");
}

/// The exit code `inspect` gives an archive fixture (0 or 1), for the schema check.
fn r_code(dir: &Path, rel: &str) -> i32 {
    let r = run(dir, &["inspect", &fixture(rel)]);
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    r.code
}

#[test]
fn verify_reports() {
    let d = tmp();
    pack_example(d.path());
    let r = report(d.path(), &["verify", "model.tar.gz"], 0);
    conforms(&r, "verify", 0);
    assert_eq!(r["report"]["manifest"]["ok"], true);
    assert_eq!(r["report"]["sums"]["ok"], true);
    let r = report(
        d.path(),
        &["verify", "model.tar.gz", "--container", "0.90-1"],
        1,
    );
    conforms(&r, "verify", 1);
    // Hostile and odd archives made by real tar tools.
    for (rel, code) in [
        ("archives/dotdot.tar.gz", 1),
        ("archives/appledouble.tar.gz", 0),
        ("archives/extra-file.tar.gz", 1),
        ("archives/hardlink.tar.gz", 1),
        ("archives/double-gzip.tar.gz", 1),
        ("archives/no-end-marker.tar.gz", 0),
    ] {
        let r = report(d.path(), &["verify", &fixture(rel)], code);
        conforms(&r, "verify", code);
    }
    let r = report(
        d.path(),
        &[
            "verify",
            &fixture("archives/good-blazingtext.tar.gz"),
            "--blazingtext",
        ],
        0,
    );
    conforms(&r, "verify", 0);
    assert_eq!(r["report"]["family"], "blazingtext");
}

#[test]
fn containers_reports() {
    let d = tmp();
    let r = report(d.path(), &["containers"], 0);
    conforms(&r, "containers", 0);
    assert_eq!(r["region_defaulted"], true);
    for region in ["eu-west-1", "cn-north-1", "us-gov-west-1"] {
        let r = report(d.path(), &["containers", "--region", region], 0);
        conforms(&r, "containers", 0);
        assert_eq!(r["region"], region);
    }
}

#[test]
fn convert_reports() {
    let d = tmp();
    let r = report(
        d.path(),
        &[
            "convert",
            &example(),
            "--container",
            "1.0-1",
            "-o",
            "old.json",
        ],
        0,
    );
    conforms(&r, "convert", 0);
    assert_eq!(r["output"], "old.json");
    assert!(d.path().join("old.json").is_file());
    let r = report(
        d.path(),
        &[
            "convert",
            &fixture("xgboost/3.2.0/multi-target.json"),
            "--container",
            "1.5-1",
            "-o",
            "mt.json",
        ],
        1,
    );
    conforms(&r, "convert", 1);
    assert_eq!(r["refusal"]["oldest_tag"], "1.7-1");
    assert!(!d.path().join("mt.json").exists());
}

#[test]
fn predict_json_is_the_endpoint_response_not_a_report() {
    let d = tmp();
    let r = run(
        d.path(),
        &[
            "--json",
            "predict",
            &example(),
            "--input",
            &fixture("example/sample.csv"),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["predictions"].as_array().unwrap().len(), 8);
    assert!(v.get("schema").is_none());
    // The schema does not take it for a report.
    assert!(!validator().is_valid(&v));
}

// Upload plans need the S3 client (cargo feature `s3`, on by default).
#[cfg(feature = "s3")]
#[test]
fn upload_and_pack_dry_runs() {
    let d = tmp();
    pack_example(d.path());
    let r = report(
        d.path(),
        &[
            "upload",
            "model.tar.gz",
            "s3://my-bucket/models/churn/",
            "--dry-run",
        ],
        0,
    );
    conforms(&r, "upload", 0);
    assert_eq!(
        r["plan"]["archive"],
        "s3://my-bucket/models/churn/model.tar.gz"
    );
    let r = report(
        d.path(),
        &[
            "xgboost",
            &example(),
            "-o",
            "new.tar.gz",
            "--upload",
            "s3://my-bucket/models/churn/",
            "--dry-run",
        ],
        0,
    );
    conforms(&r, "xgboost", 0);
    let r = report(
        d.path(),
        &[
            "fasttext",
            &fixture("fasttext/sup_softmax.bin"),
            "--upload",
            "s3://my-bucket/models/topics/",
            "--dry-run",
        ],
        0,
    );
    conforms(&r, "fasttext", 0);
    let r = report(
        d.path(),
        &[
            "xgboost",
            &broken(),
            "--upload",
            "s3://my-bucket/models/churn/",
            "--dry-run",
        ],
        1,
    );
    conforms(&r, "xgboost", 1);
}

#[test]
fn the_schema_rejects_what_it_must() {
    let v = validator();
    let d = tmp();
    let good = report(d.path(), &["xgboost", &example(), "-o", "m.tar.gz"], 0);
    assert!(v.is_valid(&good));
    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut r = good.clone();
        edit(&mut r);
        r
    };
    let cases: Vec<(&str, Value)> = vec![
        (
            "unknown top-level field",
            broken(&|r| r["extra"] = json!(1)),
        ),
        (
            "ok disagrees with exit_code",
            broken(&|r| r["ok"] = json!(false)),
        ),
        (
            "wrong schema id",
            broken(&|r| r["schema"] = json!("sm-pack.report/v2")),
        ),
        (
            "unknown command",
            broken(&|r| r["command"] = json!("frobnicate")),
        ),
        (
            "renamed field",
            broken(&|r| {
                let o = r["outcome"].take();
                r["result"] = o;
                r.as_object_mut().unwrap().remove("outcome");
            }),
        ),
        (
            "bad digest in the manifest",
            broken(&|r| r["outcome"]["manifest"]["archive"]["sha256"] = json!("xyz")),
        ),
        (
            "packed without files",
            broken(&|r| r["outcome"]["files"] = Value::Null),
        ),
        (
            "bad verdict outcome",
            broken(&|r| r["outcome"]["container"]["verdict"]["outcome"] = json!("works")),
        ),
        (
            "error report with extra fields",
            json!({
                "schema": "sm-pack.report/v1", "command": "verify", "ok": false, "exit_code": 2,
                "error": {"message": "x", "hint": null, "validation_failure": false}, "report": {}
            }),
        ),
    ];
    for (what, r) in cases {
        assert!(!v.is_valid(&r), "the schema accepted: {what}");
    }
}

#[cfg(feature = "s3")]
mod s3_support;

#[cfg(feature = "s3")]
mod s3 {
    use super::*;
    use crate::s3_support::{S3, TestEnv, bucket_name, endpoint};

    #[test]
    fn upload_reports() {
        let Some(endpoint) = endpoint() else { return };
        let env = TestEnv::new();
        let s3 = S3::new(&endpoint);
        let bucket = bucket_name("report-schema");
        s3.create_bucket(&bucket);
        let dest = format!("s3://{bucket}/models/churn/");
        let model = example();
        let flags = ["--endpoint-url", endpoint.as_str(), "--path-style"];
        // Pack and upload in one pass.
        let mut args = vec!["--json", "xgboost", model.as_str(), "-o", "model.tar.gz"];
        args.extend(["--upload", dest.as_str()]);
        args.extend(flags);
        let r = env.run(&args);
        r.ok();
        let v = r.json();
        conforms(&v, "xgboost", 0);
        assert_eq!(v["upload"]["archive"]["status"], "uploaded");
        // Upload the same archive again: already there, nothing sent.
        let mut args = vec!["--json", "upload", "model.tar.gz", dest.as_str()];
        args.extend(flags);
        let r = env.run(&args);
        r.ok();
        let v = r.json();
        conforms(&v, "upload", 0);
        assert_eq!(v["upload"]["archive"]["status"], "already-uploaded");
        assert_eq!(v["upload"]["sidecars"].as_array().unwrap().len(), 2);
    }
}
