//! The converter: every fixture converted for every container tag.
//!
//! * Round trips: IR → bytes → IR gives the planned model back, for every
//!   fixture and every dialect it can be represented in.
//! * Refusals carry their reasons and the oldest tag that works.
//! * The CLI: `sm-pack convert`, automatic conversion in
//!   `sm-pack xgboost --container TAG`, `--no-convert`.
//! * Against the real libraries: every converted file (the tag's default
//!   encoding and every other one `--to` accepts for the tag) is loaded by
//!   the tag's pinned xgboost the container's way and must predict the
//!   producer's numbers (`tests/oracle/convert_check.py`).

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
    let mut per_encoding: BTreeMap<String, usize> = BTreeMap::new();
    for (file, entry) in fixtures() {
        let bytes = fixture_bytes(&file);
        let Ok((model, _)) = read_model(&bytes) else {
            continue;
        };
        // The tag's default encoding, and every other one `--to` accepts
        // for it (a usage error otherwise, e.g. binary for 3.2-0).
        let requests = table.containers().iter().flat_map(|c| {
            let default = convert::resolve_dialect(&Request::for_tag(&c.tag), c)
                .unwrap()
                .encoding;
            [
                None,
                Some(Encoding::LegacyBinary),
                Some(Encoding::Json),
                Some(Encoding::Ubjson),
            ]
            .into_iter()
            .filter(move |e| *e != Some(default))
            .map(move |encoding| {
                (
                    c,
                    Request {
                        container: Some(c.tag.clone()),
                        encoding,
                        dialect: None,
                        sample: None,
                    },
                )
            })
            .filter(|(c, req)| convert::resolve_dialect(req, c).is_ok())
        });
        for (c, req) in requests {
            let Outcome::Converted(conv) = convert::convert(&model, Some(&bytes), &req).unwrap()
            else {
                continue;
            };
            *per_encoding.entry(conv.to.description.clone()).or_default() += 1;
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
                .push(format!("{file} -> {} as {}", c.tag, conv.to.description));
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
        "converted files checked in the real libraries ({} s): {by_version:?} (loads, other); {} fixture conversions: {per_encoding:?}",
        report["seconds"],
        per_job.values().map(Vec::len).sum::<usize>()
    );
    // `--to` is covered: each encoding a tag can be asked for was written
    // and checked (legacy binary 0.90 - 3.0, JSON 1.0+, UBJSON 1.6+).
    for enc in ["legacy binary", "JSON", "UBJSON"] {
        for v in ["1.0", "1.3", "1.5", "1.7", "3.0", "3.2"] {
            let what = format!("{enc} as xgboost {v} writes it");
            let possible = match enc {
                "legacy binary" => v != "3.2",
                "UBJSON" => v == "1.7" || v.starts_with('3'),
                _ => true,
            };
            assert_eq!(
                per_encoding.get(&what).is_some_and(|n| *n > 100),
                possible,
                "{what}: {per_encoding:?}"
            );
        }
    }
    assert!(
        bad.is_empty(),
        "{} converted files failed:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

fn v(major: u32, minor: u32) -> Version {
    Version {
        major,
        minor,
        patch: Some(0),
    }
}

/// Every dialect the writers know.
fn dialects() -> Vec<Dialect> {
    let mut out = Vec::new();
    for (ma, mi) in [
        (0, 90),
        (1, 0),
        (1, 2),
        (1, 3),
        (1, 5),
        (1, 6),
        (1, 7),
        (2, 0),
        (2, 1),
        (3, 0),
        (3, 1),
        (3, 2),
    ] {
        for enc in [Encoding::LegacyBinary, Encoding::Json, Encoding::Ubjson] {
            let d = Dialect::new(enc, v(ma, mi));
            if d.check().is_ok() {
                out.push(d);
            }
        }
    }
    out
}

/// IR -> bytes -> IR gives the planned model back, and writing the re-read
/// model again gives the same bytes, for every fixture and every dialect the
/// fixture can be represented in.
#[test]
fn round_trips_in_every_representable_dialect() {
    let mut written = 0usize;
    let mut per_dialect: BTreeMap<String, usize> = BTreeMap::new();
    let mut bad = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (file, _) in fixtures() {
        let bytes = fixture_bytes(&file);
        let Ok((model, _)) = read_model(&bytes) else {
            continue;
        };
        // One model per producer and model name is enough (the encodings of
        // one model read to the same trees).
        let key = (
            model.version.to_string(),
            file.rsplit('/')
                .next()
                .unwrap()
                .split('.')
                .next()
                .unwrap()
                .to_string(),
            model.source.pickle.is_some(),
        );
        if !seen.insert(key) {
            continue;
        }
        for d in dialects() {
            let Ok(plan) = convert::plan(&model, &d) else {
                continue;
            };
            let out = write_model(&plan.model, &d).unwrap();
            let (back, _) = read_model(&out).unwrap();
            let diffs = convert::round_trip_differences(&plan.model, &back);
            if !diffs.is_empty() {
                bad.push(format!("{file} as {d}: {}", diffs.join("; ")));
                continue;
            }
            let again = convert::plan(&back, &d).unwrap();
            let out2 = write_model(&again.model, &d).unwrap();
            if out2 != out {
                bad.push(format!(
                    "{file} as {d}: writing the re-read model gives other bytes"
                ));
            }
            written += 1;
            *per_dialect.entry(d.to_string()).or_default() += 1;
        }
    }
    eprintln!("{written} round trips: {per_dialect:?}");
    assert!(written > 2000, "only {written} round trips");
    assert!(
        bad.is_empty(),
        "{} round trips differ:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

fn load(file: &str) -> (Vec<u8>, sm_pack::xgboost::ir::Model) {
    let bytes = fixture_bytes(file);
    let (m, _) = read_model(&bytes).unwrap();
    (bytes, m)
}

fn converted(file: &str, tag: &str) -> convert::Conversion {
    let (bytes, m) = load(file);
    match convert::convert(&m, Some(&bytes), &Request::for_tag(tag)).unwrap() {
        Outcome::Converted(c) => *c,
        Outcome::Refused(r) => panic!("{file} -> {tag} refused: {}", r.message()),
    }
}

fn refused(file: &str, tag: &str) -> convert::Refusal {
    let (bytes, m) = load(file);
    match convert::convert(&m, Some(&bytes), &Request::for_tag(tag)).unwrap() {
        Outcome::Converted(_) => panic!("{file} -> {tag} converted"),
        Outcome::Refused(r) => *r,
    }
}

fn codes(c: &convert::Conversion) -> Vec<&str> {
    c.changes.iter().map(|x| x.code.as_str()).collect()
}

#[test]
fn refusals_say_why_and_which_tag_works() {
    let cases = [
        (
            "1.7.4/cat.json",
            "1.5-1",
            "convert.categorical",
            Some("1.7-1"),
        ),
        (
            "3.2.0/mtree.ubj",
            "1.7-1",
            "convert.multi_target",
            Some("3.0-5"),
        ),
        ("0.90/dart.bin", "0.90-1", "convert.dart", Some("1.0-1")),
        (
            "1.2.0/aft.json",
            "1.0-1",
            "convert.objective",
            Some("1.2-1"),
        ),
        (
            "2.0.3/quantile.json",
            "1.7-1",
            "convert.objective",
            Some("3.0-5"),
        ),
        (
            "1.7.4/absoluteerror.json",
            "1.5-1",
            "convert.objective",
            Some("1.7-1"),
        ),
        (
            "1.6.2/multi-target.json",
            "1.5-1",
            "convert.multi_target",
            Some("1.7-1"),
        ),
        (
            "1.0.0/squaredlogerror.json",
            "0.90-2",
            "convert.objective",
            Some("1.0-1"),
        ),
    ];
    for (file, tag, code, oldest) in cases {
        let r = refused(file, tag);
        assert!(
            r.reasons.iter().any(|x| x.code == code),
            "{file} -> {tag}: {:?}",
            r.reasons
        );
        assert_eq!(r.oldest_tag.as_deref(), oldest, "{file} -> {tag}");
        assert_eq!(r.container, tag);
        assert!(r.message().contains(oldest.unwrap()), "{}", r.message());
    }
    // retarget() turns a refusal into a validation error (exit code 1).
    let (_, m) = load("1.7.4/cat.json");
    let e = convert::retarget(&m, "1.3-1").unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert!(e.to_string().contains("categorical"), "{e}");
}

#[test]
fn impossible_requests_are_usage_errors_or_refusals() {
    let (bytes, m) = load("1.7.4/logistic.json");
    // 3.2 cannot read legacy binary at all.
    let req = Request {
        container: Some("3.2-0".into()),
        encoding: Some(Encoding::LegacyBinary),
        dialect: None,
        sample: None,
    };
    let e = convert::convert(&m, Some(&bytes), &req).unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    // UBJSON does not exist before 1.6.
    let req = Request {
        container: Some("1.3-1".into()),
        encoding: Some(Encoding::Ubjson),
        dialect: None,
        sample: None,
    };
    assert!(convert::convert(&m, Some(&bytes), &req).is_err());
    // A 3.2 dialect is not what 1.0 reads: written, re-judged, refused.
    let req = Request {
        container: Some("1.0-1".into()),
        encoding: None,
        dialect: Some(v(3, 2)),
        sample: None,
    };
    match convert::convert(&m, Some(&bytes), &req).unwrap() {
        Outcome::Refused(r) => assert!(
            r.reasons.iter().any(|x| x.code == "convert.output_verdict"),
            "{:?}",
            r.reasons
        ),
        Outcome::Converted(_) => panic!("a 3.2 dialect converted for 1.0-1"),
    }
    // Unknown tags are usage errors.
    assert_eq!(
        convert::convert(&m, Some(&bytes), &Request::for_tag("9.9-9"))
            .unwrap_err()
            .exit_code(),
        2
    );
    // An older dialect that the tag reads is fine.
    let req = Request {
        container: Some("3.2-0".into()),
        encoding: Some(Encoding::Json),
        dialect: Some(v(1, 0)),
        sample: None,
    };
    let Outcome::Converted(c) = convert::convert(&m, Some(&bytes), &req).unwrap() else {
        panic!("1.0 JSON for 3.2-0 refused");
    };
    assert!(c.bytes.windows(17).any(|w| w == b"leaf_child_counts"));
}

#[test]
fn conversions_fix_what_the_container_gets_wrong() {
    // 3.2 vector base_score for 1.7-1: the intercepts are folded into trees.
    let c = converted("3.2.0/softprob.ubj", "1.7-1");
    assert!(!c.verdict_before.is_loads());
    assert!(c.verdict_after.is_loads());
    assert!(
        codes(&c).contains(&"convert.intercept_folded"),
        "{:?}",
        codes(&c)
    );
    assert_eq!(c.to.encoding, Encoding::Ubjson);
    assert_eq!(c.model.learner.base_score.values, vec![0.0]);
    // Single-output 3.1+ models just get a scalar base_score.
    let c = converted("3.1.3/logistic.json", "3.0-5");
    assert_eq!(c.model.learner.base_score.values, vec![0.515]);
    assert!(!c.model.learner.base_score.vector);
    // A 0.90 binary (margin-space base_score) for 3.2-0.
    let c = converted("0.90/logistic.bin", "3.2-0");
    assert_eq!(c.model.learner.base_score.values, vec![0.5]);
    assert!(codes(&c).contains(&"convert.base_score"), "{:?}", codes(&c));
    // ... and a 3.x model for 0.90: legacy binary with a margin.
    let c = converted("3.0.5/logistic.json", "0.90-1");
    assert_eq!(c.to.encoding, Encoding::LegacyBinary);
    assert_eq!(c.model.source.binary.as_ref().unwrap().major_version, 0);
    assert_eq!(
        c.model.learner.base_score.space,
        sm_pack::xgboost::ir::ScoreSpace::Margin
    );
    // binary:logitraw from 1.2 (logit link) for 1.3+ (identity).
    let c = converted("1.2.0/logitraw.json", "3.2-0");
    assert!(codes(&c).contains(&"convert.base_score"), "{:?}", codes(&c));
    // best_ntree_limit: the 1.5 pickle makes 1.5-1 predict with 6 of 9 trees.
    let c = converted("1.5.2/early-stop.p4.pkl", "1.5-1");
    assert!(
        codes(&c).contains(&"convert.best_ntree_limit"),
        "{:?}",
        codes(&c)
    );
    assert!(codes(&c).contains(&"convert.unwrapped"));
    assert!(c.predicts.contains("every tree"), "{}", c.predicts);
    assert!(
        !c.model
            .attributes
            .iter()
            .any(|(k, _)| k == "best_ntree_limit")
    );
    // Multi-target layouts both ways.
    let c = converted("3.2.0/mtree.ubj", "3.0-5");
    assert!(codes(&c).contains(&"convert.multi_target_layout"));
    assert!(c.model.trees()[0].leaf_weights.is_none());
    let c = converted("2.0.3/mtree.json", "3.2-0");
    assert!(codes(&c).contains(&"convert.multi_target_layout"));
    assert!(c.model.trees()[0].leaf_weights.is_some());
    // A scikit-learn wrapper pickle: the Booster comes out.
    let c = converted("1.7.4/logistic.sklearn.pkl", "1.7-1");
    assert!(!c.verdict_before.is_loads());
    assert!(codes(&c).contains(&"convert.unwrapped"));
    // Objective configurations older loaders need.
    let c = converted("3.0.5/squaredlogerror.json", "1.7-1");
    assert!(c.model.objective.config.get("reg_loss_param").is_some());
    let c = converted("3.0.5/rank-ndcg.json", "1.5-1");
    assert!(c.model.objective.config.get("lambda_rank_param").is_some());
    // Preferred encodings per tag.
    for (tag, enc) in [
        ("0.90-2", Encoding::LegacyBinary),
        ("1.0-1", Encoding::Json),
        ("1.5-1", Encoding::Json),
        ("1.7-1", Encoding::Ubjson),
        ("3.2-0", Encoding::Ubjson),
    ] {
        assert_eq!(
            converted("1.0.0/squarederror.json", tag).to.encoding,
            enc,
            "{tag}"
        );
    }
    // A model that already loads is still rewritten when asked, verdicts unchanged.
    let c = converted("1.7.4/logistic.ubj", "1.7-1");
    assert!(c.verdict_before.is_loads() && c.why.is_empty());
}

// ---------------------------------------------------------------------------
// CLI

fn tdir() -> PathBuf {
    common::repo().join("testdata/xgboost")
}

#[test]
fn cli_convert_writes_or_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let src = tdir().join("3.2.0/softprob.ubj");
    let src = src.to_str().unwrap();
    let o = common::run_in(
        dir.path(),
        &["convert", src, "--container", "1.7-1", "-o", "out.ubj"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", common::stderr(&o));
    let out = common::stdout(&o);
    assert!(out.contains("converted") && out.contains("1.7-1"), "{out}");
    assert!(out.contains("loads but mispredicts"), "{out}");
    let (m, _) = read_model(&std::fs::read(dir.path().join("out.ubj")).unwrap()).unwrap();
    assert_eq!(m.learner.base_score.values, vec![0.0]);
    // Exists: exit 2 without --force; --json report with --force.
    let o = common::run_in(
        dir.path(),
        &["convert", src, "--container", "1.7-1", "-o", "out.ubj"],
    );
    assert_eq!(o.status.code(), Some(2));
    let o = common::run_in(
        dir.path(),
        &[
            "--json",
            "convert",
            src,
            "--container",
            "1.5-1",
            "--to",
            "json",
            "-o",
            "out.ubj",
            "--force",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", common::stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["command"], "convert");
    assert_eq!(r["conversion"]["container"], "1.5-1");
    assert_eq!(r["conversion"]["to"]["encoding"], "json");
    assert_eq!(r["conversion"]["verdict_after"]["outcome"], "loads");
    // Refusal: exit 1, nothing written.
    let o = common::run_in(
        dir.path(),
        &[
            "convert",
            tdir().join("3.2.0/mtree.ubj").to_str().unwrap(),
            "--container",
            "1.5-1",
            "-o",
            "m.json",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        common::stderr(&o).contains("3.0-5"),
        "{}",
        common::stderr(&o)
    );
    assert!(!dir.path().join("m.json").exists());
    assert_eq!(common::listing(dir.path()), vec!["out.ubj"]);
    // A given sample: the check runs on its rows, as CSV or as the
    // RecordIO-protobuf body the SageMaker SDK wrote of the same rows.
    for sample in [
        tdir().join("inputs/dense5.csv"),
        common::repo().join("testdata/serve/recordio/dense5.sparse-f32.rec"),
    ] {
        let o = common::run_in(
            dir.path(),
            &[
                "--json",
                "convert",
                tdir().join("1.0.0/logistic.json").to_str().unwrap(),
                "--container",
                "0.90-1",
                "--sample",
                sample.to_str().unwrap(),
                "-o",
                "s.bin",
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{}", common::stderr(&o));
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r["conversion"]["check"]["sample"], "given sample");
        assert_eq!(r["conversion"]["check"]["rows"], 200);
        assert_eq!(r["conversion"]["to"]["encoding"], "legacy-binary");
        std::fs::remove_file(dir.path().join("s.bin")).unwrap();
    }
    // Usage: legacy binary for 3.2-0.
    let o = common::run_in(
        dir.path(),
        &["convert", src, "--to", "binary", "-o", "b.bin"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    let o = common::run_in(
        dir.path(),
        &["convert", src, "--dialect", "x.y", "-o", "b.bin"],
    );
    assert_eq!(o.status.code(), Some(2));
    // Refused only because of --to: 3.0-5 takes vector-leaf trees in UBJSON
    // or JSON, not in legacy binary. The hint says to drop --to rather than
    // naming the same tag again; nothing is written.
    let o = common::run_in(
        dir.path(),
        &[
            "convert",
            tdir().join("3.2.0/mtree.ubj").to_str().unwrap(),
            "--container",
            "3.0-5",
            "--to",
            "binary",
            "-o",
            "m.bin",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", common::stderr(&o));
    let err = common::stderr(&o);
    assert!(err.contains("legacy binary format cannot hold"), "{err}");
    assert!(err.contains("drop --to"), "{err}");
    assert!(!err.contains("(--container 3.0-5)"), "{err}");
    assert_eq!(common::listing(dir.path()), vec!["out.ubj"]);
}

fn manifest(dir: &std::path::Path, name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.manifest.json"))).unwrap())
        .unwrap()
}

#[test]
fn packing_converts_for_the_named_tag() {
    let dir = tempfile::tempdir().unwrap();
    let src = tdir().join("3.2.0/logistic.ubj");
    let src = src.to_str().unwrap();
    // Converted for 1.3-1: the archive holds JSON, the manifest says so.
    let o = common::run_in(
        dir.path(),
        &["xgboost", src, "--container", "1.3-1", "-o", "a.tar.gz"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", common::stderr(&o));
    assert!(
        common::stdout(&o).contains("converted"),
        "{}",
        common::stdout(&o)
    );
    let m = manifest(dir.path(), "a.tar.gz");
    assert_eq!(m["target"]["container"], "1.3-1");
    let c = &m["conversion"];
    assert_eq!(c["container"], "1.3-1");
    assert_eq!(c["from"]["encoding"], "UBJSON model");
    assert_eq!(c["to"]["encoding"], "json");
    assert_eq!(c["verdict_before"]["outcome"], "fails_to_load");
    assert_eq!(c["verdict_after"]["outcome"], "loads");
    assert!(!c["why"].as_array().unwrap().is_empty());
    let original = std::fs::read(tdir().join("3.2.0/logistic.ubj")).unwrap();
    assert_eq!(m["source"]["sha256"], sm_pack::hash::sha256_hex(&original));
    assert_eq!(m["members"][0]["sha256"], c["to"]["sha256"]);
    assert_ne!(m["members"][0]["sha256"], m["source"]["sha256"]);
    assert!(
        m["model"]["encoding"]
            .as_str()
            .unwrap_or("json")
            .contains("json"),
        "{}",
        m["model"]
    );
    // The --json report says the same: the tag, the verdict as given, converted.
    let o = common::run_in(
        dir.path(),
        &[
            "--json",
            "xgboost",
            src,
            "--container",
            "1.3-1",
            "-o",
            "a2.tar.gz",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", common::stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let c = &r["outcome"]["container"];
    assert_eq!(c["tag"], "1.3-1");
    assert_eq!(c["default_tag"], false);
    assert_eq!(c["verdict"]["outcome"], "fails_to_load");
    assert_eq!(c["converted"], true);
    assert_eq!(c["failed"], false);

    // --no-convert: packed as given, exit 1.
    let o = common::run_in(
        dir.path(),
        &[
            "--json",
            "xgboost",
            src,
            "--container",
            "1.3-1",
            "--no-convert",
            "-o",
            "b.tar.gz",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", common::stderr(&o));
    assert!(dir.path().join("b.tar.gz").exists());
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["exit_code"], 1);
    assert_eq!(r["outcome"]["container"]["failed"], true);
    let m = manifest(dir.path(), "b.tar.gz");
    assert!(m["conversion"].is_null());
    assert_eq!(m["members"][0]["sha256"], m["source"]["sha256"]);

    // A tag that loads it: nothing converted.
    let o = common::run_in(
        dir.path(),
        &["xgboost", src, "--container", "3.2-0", "-o", "c.tar.gz"],
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(manifest(dir.path(), "c.tar.gz")["conversion"].is_null());

    // No tag: judged against the newest, reported, never converted.
    let old = tdir().join("0.90/logistic.bin");
    let o = common::run_in(
        dir.path(),
        &["--json", "xgboost", old.to_str().unwrap(), "-o", "d.tar.gz"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", common::stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["outcome"]["container"]["tag"], "3.2-0");
    assert_eq!(r["outcome"]["container"]["default_tag"], true);
    assert_eq!(r["outcome"]["container"]["converted"], false);
    assert!(
        r["outcome"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "container.verdict")
    );
    assert!(manifest(dir.path(), "d.tar.gz")["conversion"].is_null());

    // A conversion the tag cannot take: nothing packed, exit 1.
    let o = common::run_in(
        dir.path(),
        &[
            "xgboost",
            tdir().join("3.2.0/mtree.ubj").to_str().unwrap(),
            "--container",
            "1.5-1",
            "-o",
            "e.tar.gz",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(!dir.path().join("e.tar.gz").exists());
    assert!(
        common::stdout(&o).contains("xgb.convert.refused"),
        "{}",
        common::stdout(&o)
    );
}
