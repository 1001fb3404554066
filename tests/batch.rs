//! Batch packing (`sm-pack xgboost|fasttext MODEL... --out-dir DIR`) on
//! real fixtures: good, bad and convertible models, byte identity with
//! single runs, name collisions, reruns after interruptions, stop vs
//! `--keep-going`, and upload skipping against the local S3 server.

mod common;
mod report_support;
#[cfg(feature = "s3")]
mod s3_support;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

fn fixture(rel: &str) -> PathBuf {
    repo().join("testdata").join(rel)
}

/// XGBoost 1.3.3 JSON: the 1.3-1 container loads it as given.
const GOOD: &str = "xgboost/1.3.3/logistic.json";
/// Another model 1.3-1 loads as given (XGBoost 1.3.3 regression).
const GOOD2: &str = "xgboost/1.3.3/squarederror.json";
/// XGBoost 3.2.0 UBJSON: xgboost 1.3.3 cannot read UBJSON, so sm-pack converts it for 1.3-1.
const CONVERTIBLE: &str = "xgboost/3.2.0/logistic.ubj";

struct Batch {
    dir: tempfile::TempDir,
}

impl Batch {
    /// A scratch folder with `in/` holding copies of fixtures under the given names.
    fn new(models: &[(&str, &str)]) -> Batch {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("in")).expect("in");
        let b = Batch { dir };
        for (name, rel) in models {
            b.put(name, &std::fs::read(fixture(rel)).expect("fixture"));
        }
        b
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn put(&self, name: &str, bytes: &[u8]) {
        let p = self.path("in").join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, bytes).expect("write model");
    }

    fn run(&self, args: &[&str]) -> Output {
        run_in(self.dir.path(), args)
    }

    /// `--json` batch run; returns (exit code, report).
    fn json(&self, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}):\nstdout:\n{}\nstderr:\n{}",
                stdout(&out),
                stderr(&out)
            )
        });
        (out.status.code().unwrap_or(-1), report)
    }

    fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    fn index(&self) -> Value {
        serde_json::from_slice(&self.read("out/index.json")).expect("index.json is JSON")
    }

    fn mtime(&self, rel: &str) -> std::time::SystemTime {
        std::fs::metadata(self.path(rel))
            .and_then(|m| m.modified())
            .expect("mtime")
    }
}

/// name -> entry of a report or index.
fn by_name(report: &Value) -> std::collections::BTreeMap<String, Value> {
    report["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap_or_default().to_string(),
                m.clone(),
            )
        })
        .collect()
}

fn status(report: &Value, name: &str) -> String {
    by_name(report)
        .get(name)
        .and_then(|m| m["status"].as_str())
        .unwrap_or("(missing)")
        .to_string()
}

fn sha256sum_check(dir: &Path) {
    if !have("sha256sum") {
        return;
    }
    let out = std::process::Command::new("sha256sum")
        .args(["-c", "--strict", "SHA256SUMS"])
        .current_dir(dir)
        .output()
        .expect("sha256sum");
    assert!(
        out.status.success(),
        "sha256sum -c failed:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// A real model cut short: valid JSON start, broken document.
fn broken_model() -> Vec<u8> {
    let mut b = std::fs::read(fixture(GOOD)).expect("fixture");
    b.truncate(b.len() / 2);
    b
}

#[test]
fn batch_of_good_bad_and_convertible_models() {
    let b = Batch::new(&[("good.json", GOOD), ("converted.ubj", CONVERTIBLE)]);
    b.put("broken.json", &broken_model());
    b.put("notes.txt", b"not a model\n");
    b.put(
        "sub/other.json",
        &std::fs::read(fixture(GOOD2)).expect("fixture"),
    );

    let (code, report) = b.json(&[
        "xgboost",
        "in",
        "--out-dir",
        "out",
        "--container",
        "1.3-1",
        "--keep-going",
    ]);
    assert_eq!(code, 1, "a failed model makes the exit code 1: {report:#}");
    assert_eq!(report["schema"], "sm-pack.report/v1");
    assert_eq!(report["command"], "xgboost");
    assert_eq!(report["ok"], false);
    let names: Vec<_> = by_name(&report).keys().cloned().collect();
    assert_eq!(
        names,
        ["broken", "converted", "good"],
        "sorted, sub/ not taken"
    );

    let m = by_name(&report);
    assert_eq!(m["broken"]["status"], "failed");
    assert_eq!(m["broken"]["exit_code"], 1);
    assert!(m["broken"]["archive"].is_null());
    assert!(
        m["broken"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid XGBoost JSON model"),
        "{:#}",
        m["broken"]
    );
    assert_eq!(m["good"]["status"], "packed");
    assert!(m["good"]["conversion"].is_null());
    assert_eq!(m["converted"]["status"], "packed");
    assert!(
        m["converted"]["conversion"]["to"]
            .as_str()
            .unwrap_or_default()
            .contains("xgboost 1.3"),
        "{:#}",
        m["converted"]
    );
    assert_eq!(m["converted"]["container"], "1.3-1");
    // The source digest is the file as given, the member the converted model.
    let src = sha256_of(&b.read("in/converted.ubj"));
    assert_eq!(m["converted"]["source_digest"]["sha256"], src.as_str());
    assert_ne!(m["converted"]["member"]["sha256"], src.as_str());

    let skipped = report["skipped"].as_array().expect("skipped");
    let reasons: Vec<String> = skipped
        .iter()
        .map(|s| format!("{} {}", s["path"], s["reason"]))
        .collect();
    assert_eq!(skipped.len(), 2, "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("notes.txt")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("--recursive")),
        "{reasons:?}"
    );
    assert_eq!(report["summary"]["packed"], 2);
    assert_eq!(report["summary"]["failed"], 1);
    assert_eq!(report["summary"]["converted"], 1);
    assert_eq!(report["summary"]["complete"], true);

    // Exactly the archives of the good models, their manifests, one SHA256SUMS and the index.
    assert_eq!(
        listing(&b.path("out")),
        [
            ".sm-pack-batch.lock",
            "SHA256SUMS",
            "converted.tar.gz",
            "converted.tar.gz.manifest.json",
            "good.tar.gz",
            "good.tar.gz.manifest.json",
            "index.json",
        ]
    );
    sha256sum_check(&b.path("out"));
    let sums = String::from_utf8(b.read("out/SHA256SUMS")).expect("utf-8");
    assert_eq!(sums.lines().count(), 4, "{sums}");

    // The index: same entries as the report, digests of the files on disk.
    let index = b.index();
    assert_eq!(index["schema"], "sm-pack.batch-index/v1");
    assert_eq!(index["options"]["container"], "1.3-1");
    assert_eq!(by_name(&index), by_name(&report));
    for name in ["good", "converted"] {
        let archive = b.read(&format!("out/{name}.tar.gz"));
        assert_eq!(m[name]["archive"]["sha256"], sha256_of(&archive).as_str());
        assert_eq!(m[name]["archive"]["size"], archive.len());
        let manifest = b.read(&format!("out/{name}.tar.gz.manifest.json"));
        assert_eq!(m[name]["manifest"]["sha256"], sha256_of(&manifest).as_str());
        let doc: Value = serde_json::from_slice(&manifest).expect("manifest");
        assert_eq!(doc["target"]["container"], "1.3-1");
        assert_eq!(doc["archive"]["name"], format!("{name}.tar.gz"));
        // The container this batch targets loads what was packed.
        let v = b.run(&[
            "verify",
            &format!("out/{name}.tar.gz"),
            "--container",
            "1.3-1",
        ]);
        assert!(
            v.status.success(),
            "verify {name}:\n{}{}",
            stdout(&v),
            stderr(&v)
        );
    }

    // --recursive takes sub/other.json, named by its folder.
    let (code, report) = b.json(&[
        "xgboost",
        "in",
        "--out-dir",
        "out2",
        "--container",
        "1.3-1",
        "--keep-going",
        "--recursive",
    ]);
    assert_eq!(code, 1);
    assert_eq!(status(&report, "sub-other"), "packed", "{report:#}");
}

fn sha256_of(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

#[test]
fn archives_and_manifests_are_byte_identical_to_single_runs() {
    let b = Batch::new(&[
        ("good.json", GOOD),
        ("converted.ubj", CONVERTIBLE),
        ("softprob.ubj", "xgboost/2.1.4/softprob.ubj"),
        ("legacy", "xgboost/0.90/squarederror.noext"),
    ]);
    let out = b.run(&[
        "xgboost",
        "in",
        "--out-dir",
        "out",
        "--container",
        "1.3-1",
        "--threads",
        "3",
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    std::fs::create_dir(b.path("single")).expect("mkdir");
    for (name, file) in [
        ("good", "good.json"),
        ("converted", "converted.ubj"),
        ("softprob", "softprob.ubj"),
        ("legacy", "legacy"),
    ] {
        let archive = format!("single/{name}.tar.gz");
        let one = b.run(&[
            "xgboost",
            &format!("in/{file}"),
            "--container",
            "1.3-1",
            "-o",
            &archive,
        ]);
        assert!(one.status.success(), "{}{}", stdout(&one), stderr(&one));
        assert_eq!(
            b.read(&format!("out/{name}.tar.gz")),
            b.read(&archive),
            "{name}: archive"
        );
        assert_eq!(
            b.read(&format!("out/{name}.tar.gz.manifest.json")),
            b.read(&format!("{archive}.manifest.json")),
            "{name}: manifest"
        );
    }

    // fastText: the same for BlazingText archives.
    let ft = Batch::new(&[
        ("sup.bin", "fasttext/sup_ngrams.bin"),
        ("hs.bin", "fasttext/sup_hs.bin"),
    ]);
    let out = ft.run(&["fasttext", "in/sup.bin", "in/hs.bin", "--out-dir", "out"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    for name in ["sup", "hs"] {
        let archive = format!("{name}.tar.gz");
        let one = ft.run(&["fasttext", &format!("in/{name}.bin"), "-o", &archive]);
        assert!(one.status.success(), "{}{}", stdout(&one), stderr(&one));
        assert_eq!(ft.read(&format!("out/{archive}")), ft.read(&archive));
        assert_eq!(
            ft.read(&format!("out/{archive}.manifest.json")),
            ft.read(&format!("{archive}.manifest.json"))
        );
    }
    sha256sum_check(&ft.path("out"));
}

#[test]
fn name_collisions_are_refused_before_any_work() {
    let b = Batch::new(&[("a/model.json", GOOD), ("b/model.ubj", CONVERTIBLE)]);
    let out = b.run(&[
        "xgboost",
        "in/a/model.json",
        "in/b/model.ubj",
        "--out-dir",
        "out",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("in/a/model.json")
            && err.contains("in/b/model.ubj")
            && err.contains("model.tar.gz"),
        "{err}"
    );
    assert!(!b.path("out").exists(), "nothing is created");

    // Names that differ only in letter case collide too (case-insensitive file systems).
    let c = Batch::new(&[("Churn.json", GOOD), ("churn.ubj", CONVERTIBLE)]);
    let out = c.run(&["xgboost", "in", "--out-dir", "out"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("letter case"), "{}", stderr(&out));
    assert!(!c.path("out").exists());

    // Through a glob the shell did not expand, the folders become part of the names.
    let out = b.run(&["xgboost", "in/*/model.*", "--out-dir", "out", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    let names: Vec<_> = by_name(&report).keys().cloned().collect();
    assert_eq!(names, ["a-model", "b-model"]);

    // Names are sanitised to what S3 keys and TargetModel accept.
    let d = Batch::new(&[("Kunde Müller (v2).json", GOOD)]);
    let (code, report) = d.json(&["xgboost", "in", "--out-dir", "out"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        by_name(&report).keys().cloned().collect::<Vec<_>>(),
        ["Kunde_M_ller_v2_"]
    );
    assert!(d.path("out/Kunde_M_ller_v2_.tar.gz").is_file());
}

#[test]
fn rerun_redoes_only_what_is_missing_or_changed() {
    let b = Batch::new(&[("a.json", GOOD), ("b.ubj", CONVERTIBLE), ("c.json", GOOD2)]);
    let args = ["xgboost", "in", "--out-dir", "out", "--container", "1.3-1"];
    let (code, first) = b.json(&args);
    assert_eq!(code, 0, "{first:#}");
    assert_eq!(first["summary"]["packed"], 3);
    let t0: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| b.mtime(&format!("out/{n}.tar.gz")))
        .collect();
    let manifests0: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| b.read(&format!("out/{n}.tar.gz.manifest.json")))
        .collect();

    // Repeated: nothing is rewritten.
    let (code, again) = b.json(&args);
    assert_eq!(code, 0);
    for n in ["a", "b", "c"] {
        assert_eq!(status(&again, n), "unchanged");
    }
    let t1: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| b.mtime(&format!("out/{n}.tar.gz")))
        .collect();
    assert_eq!(t0, t1, "unchanged archives are not rewritten");
    assert_eq!(
        by_name(&again)["b"]["archive"],
        by_name(&first)["b"]["archive"]
    );

    // Interrupted runs: an archive gone, a manifest gone, temporary files left behind.
    std::fs::remove_file(b.path("out/a.tar.gz")).expect("rm");
    std::fs::remove_file(b.path("out/b.tar.gz.manifest.json")).expect("rm");
    std::fs::write(b.path("out/.c.tar.gz.Xy12ab.sm-pack-tmp"), b"partial").expect("tmp");
    std::fs::write(b.path("out/.SHA256SUMS.Zz99zz.sm-pack-tmp"), b"partial").expect("tmp");
    std::fs::write(b.path("out/.unrelated.Qq11qq.sm-pack-tmp"), b"keep").expect("tmp");
    let (code, rerun) = b.json(&args);
    assert_eq!(code, 0, "{rerun:#}");
    let m = by_name(&rerun);
    assert_eq!(m["a"]["status"], "packed");
    assert_eq!(m["a"]["reason"], "archive missing");
    assert_eq!(m["b"]["status"], "packed");
    assert_eq!(m["b"]["reason"], "manifest missing");
    assert_eq!(m["c"]["status"], "unchanged");
    assert_eq!(rerun["summary"]["removed_temp_files"], 2);
    assert!(!b.path("out/.c.tar.gz.Xy12ab.sm-pack-tmp").exists());
    assert!(b.path("out/.unrelated.Qq11qq.sm-pack-tmp").exists());
    // Redone outputs are the same bytes as before.
    for (i, n) in ["a", "b", "c"].iter().enumerate() {
        assert_eq!(
            b.read(&format!("out/{n}.tar.gz.manifest.json")),
            manifests0[i],
            "{n}"
        );
    }
    sha256sum_check(&b.path("out"));

    // A changed source, a corrupted archive.
    std::fs::copy(fixture("xgboost/1.3.3/softprob.json"), b.path("in/c.json")).expect("cp");
    let mut a = b.read("out/a.tar.gz");
    let last = a.len() - 1;
    a[last] ^= 1;
    std::fs::write(b.path("out/a.tar.gz"), a).expect("write");
    let (code, rerun) = b.json(&args);
    assert_eq!(code, 0, "{rerun:#}");
    let m = by_name(&rerun);
    assert_eq!(m["a"]["reason"], "archive does not match its manifest");
    assert_eq!(m["b"]["status"], "unchanged");
    assert_eq!(m["c"]["reason"], "source changed");
    sha256sum_check(&b.path("out"));

    // Other options: every model is redone.
    let (code, rerun) = b.json(&[
        "xgboost",
        "in",
        "--out-dir",
        "out",
        "--container",
        "1.3-1",
        "--level",
        "9",
    ]);
    assert_eq!(code, 0);
    assert_eq!(rerun["summary"]["packed"], 3, "{rerun:#}");
    assert_eq!(by_name(&rerun)["b"]["reason"], "gzip level changed");
}

#[test]
fn stop_at_first_failure_or_keep_going() {
    // "aa-broken" sorts first; one worker makes the order deterministic.
    let b = Batch::new(&[("b-good.json", GOOD), ("c-good.ubj", CONVERTIBLE)]);
    b.put("aa-broken.json", &broken_model());
    let (code, report) = b.json(&[
        "xgboost",
        "in",
        "--out-dir",
        "out",
        "--container",
        "1.3-1",
        "--jobs",
        "1",
    ]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(status(&report, "aa-broken"), "failed");
    assert_eq!(status(&report, "b-good"), "not-run");
    assert_eq!(status(&report, "c-good"), "not-run");
    assert_eq!(report["summary"]["complete"], false);
    assert_eq!(
        listing(&b.path("out")),
        [".sm-pack-batch.lock", "SHA256SUMS", "index.json"],
        "no output of the failed model, nothing partial"
    );
    assert_eq!(b.index()["summary"]["not_run"], 2);

    let (code, report) = b.json(&[
        "xgboost",
        "in",
        "--out-dir",
        "out",
        "--container",
        "1.3-1",
        "--jobs",
        "1",
        "--keep-going",
    ]);
    assert_eq!(code, 1);
    assert_eq!(status(&report, "aa-broken"), "failed");
    assert_eq!(status(&report, "b-good"), "packed");
    assert_eq!(status(&report, "c-good"), "packed");
    assert_eq!(report["summary"]["complete"], true);
    sha256sum_check(&b.path("out"));

    // A model that breaks after it was packed: its old archive goes away.
    b.put("b-good.json", &broken_model());
    let (code, report) = b.json(&[
        "xgboost",
        "in",
        "--out-dir",
        "out",
        "--container",
        "1.3-1",
        "--keep-going",
    ]);
    assert_eq!(code, 1);
    let m = by_name(&report);
    assert_eq!(m["b-good"]["status"], "failed");
    assert_eq!(m["b-good"]["removed_stale"], true);
    assert_eq!(m["c-good"]["status"], "unchanged");
    assert!(!b.path("out/b-good.tar.gz").exists());
    assert!(!b.path("out/b-good.tar.gz.manifest.json").exists());
    sha256sum_check(&b.path("out"));

    // The human table names every model and the summary.
    let out = b.run(&[
        "xgboost",
        "in",
        "--out-dir",
        "out",
        "--container",
        "1.3-1",
        "--keep-going",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("failed     aa-broken"), "{text}");
    assert!(text.contains("unchanged  c-good"), "{text}");
    assert!(text.contains("3 models: 1 unchanged, 2 failed"), "{text}");
}

#[test]
fn files_sm_pack_did_not_write_are_not_replaced_without_force() {
    let b = Batch::new(&[("good.json", GOOD)]);
    std::fs::create_dir(b.path("out")).expect("mkdir");
    std::fs::write(b.path("out/good.tar.gz"), b"someone else's archive").expect("write");
    let (code, report) = b.json(&["xgboost", "in", "--out-dir", "out"]);
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(status(&report, "good"), "error");
    assert_eq!(b.read("out/good.tar.gz"), b"someone else's archive");
    let (code, report) = b.json(&["xgboost", "in", "--out-dir", "out", "--force"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(status(&report, "good"), "packed");
    sha256sum_check(&b.path("out"));

    // A model given as a file that is not a model fails (a folder would pass it over).
    b.put("notes.txt", b"hello\n");
    let (code, report) = b.json(&[
        "xgboost",
        "in/notes.txt",
        "in/good.json",
        "--out-dir",
        "out",
    ]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(status(&report, "notes.txt"), "failed");
}

#[test]
fn an_interrupted_batch_keeps_what_finished_and_a_rerun_completes_it() {
    use std::io::Read;
    let b = Batch::new(&[]);
    let model = std::fs::read(fixture(GOOD)).expect("fixture");
    for i in 0..300 {
        b.put(&format!("m{i:03}.json"), &model);
    }
    let mut child = bin()
        .current_dir(b.dir.path())
        .args(["--json", "xgboost", "in", "--out-dir", "out", "--jobs", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    // Wait until the first model is reported (entries are streamed), then press Ctrl-C.
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("\"status\"") {
        let n = stdout.read(&mut chunk).expect("read");
        assert!(n > 0, "the batch ended before it reported a model");
        seen.extend_from_slice(&chunk[..n]);
    }
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: sending SIGINT to the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    stdout.read_to_end(&mut seen).expect("read");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    let report: Value = serde_json::from_slice(&seen).expect("a complete JSON report");
    let s = &report["summary"];
    let packed = s["packed"].as_u64().unwrap_or(0);
    assert!(packed >= 1, "{s:#}");
    assert!(
        s["not_run"].as_u64().unwrap_or(0) + s["interrupted"].as_u64().unwrap_or(0) >= 1,
        "{s:#}"
    );
    assert_eq!(s["complete"], false);
    assert_eq!(s["exit_code"], 130);
    assert_eq!(b.index()["summary"], *s);
    let files = listing(&b.path("out"));
    assert!(
        !files.iter().any(|f| f.ends_with(".sm-pack-tmp")),
        "{files:?}"
    );
    assert_eq!(
        files.iter().filter(|f| f.ends_with(".tar.gz")).count() as u64,
        packed
    );
    sha256sum_check(&b.path("out"));

    let (code, rerun) = b.json(&["xgboost", "in", "--out-dir", "out"]);
    assert_eq!(code, 0);
    assert_eq!(rerun["summary"]["unchanged"].as_u64(), Some(packed));
    assert_eq!(rerun["summary"]["packed"].as_u64(), Some(300 - packed));
    sha256sum_check(&b.path("out"));
}

#[test]
fn a_second_batch_into_the_same_folder_is_refused_while_one_runs() {
    use std::os::fd::AsRawFd;
    let b = Batch::new(&[("good.json", GOOD)]);
    std::fs::create_dir(b.path("out")).expect("mkdir");
    let lock = std::fs::File::create(b.path("out/.sm-pack-batch.lock")).expect("lock file");
    // SAFETY: flock on a descriptor this test owns, as a running batch holds it.
    assert_eq!(
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    let out = b.run(&["xgboost", "in", "--out-dir", "out"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("another sm-pack batch is writing to out"),
        "{}",
        stderr(&out)
    );
    assert_eq!(listing(&b.path("out")), [".sm-pack-batch.lock"]);
    drop(lock);
    let out = b.run(&["xgboost", "in", "--out-dir", "out"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[cfg(feature = "s3")]
#[test]
fn a_dry_run_names_every_destination_and_contacts_nothing() {
    let b = Batch::new(&[("churn eu.json", GOOD), ("churn-us.ubj", CONVERTIBLE)]);
    // No credentials, no server: a dry run does not need them.
    let out = bin()
        .current_dir(b.dir.path())
        .env("AWS_ACCESS_KEY_ID", "")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args([
            "--json",
            "xgboost",
            "in",
            "--out-dir",
            "out",
            "--upload",
            "s3://bucket/mme/",
            "--endpoint-url",
            "http://127.0.0.1:9",
            "--dry-run",
        ])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).expect("json");
    let uploads: Vec<_> = plan["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| m["upload"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        uploads,
        [
            "s3://bucket/mme/churn-us.tar.gz",
            "s3://bucket/mme/churn_eu.tar.gz"
        ]
    );
    assert!(!b.path("out").exists());
}

#[test]
fn reports_and_index_follow_their_schemas() {
    let reports = report_support::validator();
    let index_schema: Value = serde_json::from_slice(
        &std::fs::read(repo().join("formats/batch-index.schema.json")).expect("schema"),
    )
    .expect("schema is JSON");
    let index = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&index_schema)
        .expect("index schema compiles");
    let check = |what: &str, v: &jsonschema::Validator, doc: &Value| {
        let errors = report_support::schema_errors(v, doc);
        assert!(errors.is_empty(), "{what}: {errors:#?}\n{doc:#}");
    };

    let b = Batch::new(&[("good.json", GOOD), ("converted.ubj", CONVERTIBLE)]);
    b.put("aa-broken.json", &broken_model());
    b.put("notes.txt", b"text\n");
    let base = ["xgboost", "in", "--out-dir", "out", "--container", "1.3-1"];
    // Stopped at the first failure (not-run entries), then the whole batch, then a rerun.
    for extra in [&["--jobs", "1"][..], &["--keep-going"], &["--keep-going"]] {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let (code, report) = b.json(&args);
        assert_eq!(code, 1);
        check("report", &reports, &report);
        check("index.json", &index, &b.index());
    }
    // A clean batch (ok: true) and the dry run.
    let (code, report) = b.json(&["xgboost", "in/good.json", "--out-dir", "clean"]);
    assert_eq!(code, 0);
    check("report", &reports, &report);
    let (code, plan) = b.json(&["xgboost", "in", "--out-dir", "planned", "--dry-run"]);
    assert_eq!(code, 0, "{plan:#}");
    assert_eq!(plan["dry_run"], true);
    assert!(!b.path("planned").exists(), "a dry run writes nothing");
    check("dry run", &reports, &plan);
    // A single pack is still a pack report, not a batch.
    let (code, single) = b.json(&["xgboost", "in/good.json", "-o", "single.tar.gz"]);
    assert_eq!(code, 0);
    assert!(single.get("batch").is_none());
    check("single", &reports, &single);
}

#[cfg(feature = "s3")]
#[test]
fn upload_skips_archives_already_at_their_key() {
    use s3_support::*;
    let endpoint = need_s3!();
    let s3 = S3::new(&endpoint);
    let bucket = bucket_name("batch_upload");
    s3.create_bucket(&bucket);
    s3.enable_versioning(&bucket);
    let env = TestEnv::new();
    std::fs::create_dir(env.path("in")).expect("in");
    for (name, rel) in [
        ("good.json", GOOD),
        ("converted.ubj", CONVERTIBLE),
        ("other.json", GOOD2),
    ] {
        std::fs::copy(fixture(rel), env.path("in").join(name)).expect("copy");
    }
    let dest = format!("s3://{bucket}/mme/");
    let args = [
        "--json",
        "xgboost",
        "in",
        "--out-dir",
        "out",
        "--container",
        "1.3-1",
        "--upload",
        &dest,
        "--endpoint-url",
        &endpoint,
        "--path-style",
    ];
    let run = env.run(&args);
    run.ok();
    let report = run.json();
    assert_eq!(report["summary"]["uploaded"], 3, "{report:#}");
    for name in ["good", "converted", "other"] {
        let key = format!("mme/{name}.tar.gz");
        let local = std::fs::read(env.path(&format!("out/{name}.tar.gz"))).expect("archive");
        assert_eq!(s3.get(&bucket, &key), Some(local.clone()), "{key}");
        let head = s3.head(&bucket, &key).expect("head");
        let meta = head.metadata().and_then(|m| m.get("sha256")).cloned();
        assert_eq!(meta, Some(sha256_hex(&local)), "{key}: sha256 metadata");
        // The manifest records the upload; the uploaded manifest is the local one.
        let manifest =
            std::fs::read(env.path(&format!("out/{name}.tar.gz.manifest.json"))).expect("manifest");
        let doc: Value = serde_json::from_slice(&manifest).expect("json");
        assert_eq!(
            doc["uploads"][0]["uri"],
            format!("s3://{bucket}/{key}").as_str()
        );
        assert_eq!(
            s3.get(&bucket, &format!("{key}.manifest.json")),
            Some(manifest)
        );
    }
    // One SHA256SUMS at the prefix, the same as the local one.
    let remote = s3.get(&bucket, "mme/SHA256SUMS").expect("remote sums");
    let local = std::fs::read(env.path("out/SHA256SUMS")).expect("sums");
    assert_eq!(remote, local);
    assert_eq!(String::from_utf8_lossy(&local).lines().count(), 6);

    // Rerun: the same digests are at the keys, nothing is sent, no new versions.
    let mtime = std::fs::metadata(env.path("out/good.tar.gz.manifest.json"))
        .and_then(|m| m.modified())
        .expect("mtime");
    let run = env.run(&args);
    run.ok();
    let report = run.json();
    assert_eq!(report["summary"]["uploaded"], 0, "{report:#}");
    assert_eq!(report["summary"]["already_uploaded"], 3);
    for m in report["models"].as_array().expect("models") {
        assert_eq!(m["status"], "unchanged");
        assert_eq!(m["upload"]["status"], "already-uploaded");
        assert_eq!(m["upload"]["manifest"], "already-uploaded");
    }
    for name in ["good", "converted", "other"] {
        assert_eq!(s3.versions(&bucket, &format!("mme/{name}.tar.gz")), 1);
        assert_eq!(
            s3.versions(&bucket, &format!("mme/{name}.tar.gz.manifest.json")),
            1
        );
    }
    assert_eq!(s3.versions(&bucket, "mme/SHA256SUMS"), 1);
    let mtime_after = std::fs::metadata(env.path("out/good.tar.gz.manifest.json"))
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(mtime, mtime_after, "the manifest is not rewritten");

    // An archive lost locally is packed again to the same bytes: still nothing to send.
    std::fs::remove_file(env.path("out/good.tar.gz")).expect("rm");
    let run = env.run(&args);
    run.ok();
    let report = run.json();
    let m = by_name(&report);
    assert_eq!(m["good"]["status"], "packed");
    assert_eq!(m["good"]["upload"]["status"], "already-uploaded");
    assert_eq!(s3.versions(&bucket, "mme/good.tar.gz"), 1);

    // A changed model whose key holds other bytes is refused without --force ...
    std::fs::copy(
        fixture("xgboost/1.3.3/softprob.json"),
        env.path("in/other.json"),
    )
    .expect("copy");
    let run = env.run(&args);
    run.fails_with(2);
    let report = run.json();
    let m = by_name(&report);
    assert_eq!(m["other"]["status"], "error");
    assert!(
        m["other"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("already exists with different content"),
        "{:#}",
        m["other"]
    );
    assert_eq!(s3.versions(&bucket, "mme/other.tar.gz"), 1);
    // ... and replaced with it; the remote SHA256SUMS follows.
    let mut forced = args.to_vec();
    forced.push("--force");
    let run = env.run(&forced);
    run.ok();
    let report = run.json();
    assert_eq!(by_name(&report)["other"]["upload"]["status"], "uploaded");
    assert_eq!(s3.versions(&bucket, "mme/other.tar.gz"), 2);
    let remote = s3.get(&bucket, "mme/SHA256SUMS").expect("remote sums");
    let local = std::fs::read(env.path("out/SHA256SUMS")).expect("sums");
    assert_eq!(remote, local);
}
