//! `verify` on the crafted archives of `testdata/archives` (made by the
//! committed `make_archives.py` with GNU tar, Python tarfile and hand-built
//! headers), on archives sm-pack itself packs, and on tampered sidecars.

mod common;

use common::{have, repo, run_in, stdout};
use sm_pack::Severity;
use sm_pack::pack::{Family, PackJob, pack};
use sm_pack::verify::{Sidecar, Target, VerifyOptions, VerifyReport, verify_archive};
use std::path::{Path, PathBuf};

fn archives() -> PathBuf {
    repo().join("testdata/archives")
}

fn options(container: Option<&str>) -> VerifyOptions {
    VerifyOptions {
        target: match container {
            Some("blazingtext") => Target::Blazingtext,
            Some(tag) => Target::Xgboost(Some(tag.to_string())),
            None => Target::Xgboost(None),
        },
        manifest: Sidecar::Skip,
        sums: Sidecar::Skip,
        ..VerifyOptions::default()
    }
}

fn codes(r: &VerifyReport) -> Vec<&str> {
    r.findings.iter().map(|f| f.code.as_str()).collect()
}

fn not_info(r: &VerifyReport) -> Vec<String> {
    r.findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .map(|f| f.to_string())
        .collect()
}

/// Checks every archive of an index against its expectations; returns the
/// number of checks.
fn check_index(dir: &Path) -> usize {
    let text = std::fs::read_to_string(dir.join("index.json")).expect("index.json");
    let index: serde_json::Value = serde_json::from_str(&text).expect("index json");
    let mut n = 0;
    let mut failures = Vec::new();
    for a in index["archives"].as_array().expect("archives") {
        let file = a["file"].as_str().expect("file");
        for check in a["checks"].as_array().expect("checks") {
            let container = check["container"].as_str();
            let r = verify_archive(&dir.join(file), &options(container))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            let got = codes(&r);
            let want: Vec<&str> = check["codes"]
                .as_array()
                .expect("codes")
                .iter()
                .filter_map(|c| c.as_str())
                .collect();
            let exit = check["exit"].as_i64().expect("exit") as i32;
            for w in &want {
                if !got.contains(w) {
                    failures.push(format!("{file} ({container:?}): no {w} in {got:?}"));
                }
            }
            let absent = check["absent"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            for a in absent.iter().filter_map(|c| c.as_str()) {
                if got.contains(&a) {
                    failures.push(format!("{file} ({container:?}): unexpected {a} in {got:?}"));
                }
            }
            if r.exit_code() != exit {
                failures.push(format!(
                    "{file} ({container:?}): exit {} instead of {exit}: {got:?}",
                    r.exit_code()
                ));
            }
            // A good archive is clean: not even a warning.
            if want.is_empty() && !not_info(&r).is_empty() {
                failures.push(format!("{file}: not clean: {:?}", not_info(&r)));
            }
            n += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    n
}

#[test]
fn every_crafted_archive_gives_its_finding() {
    let n = check_index(&archives());
    assert!(n >= 53, "only {n} checks");
}

#[test]
fn the_committed_script_makes_archives_with_the_same_findings() {
    if !have("python3") || !have("tar") {
        eprintln!("python3 or GNU tar missing; skipped");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new("python3")
        .arg(archives().join("make_archives.py"))
        .arg("--out")
        .arg(tmp.path())
        .output()
        .expect("run make_archives.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_index(tmp.path());
}

/// Every problem (error or warning) a crafted archive shows comes with a
/// hint, and layout problems name the exact sm-pack command that rebuilds
/// the archive (the model file's name in it, the archive's own name as -o).
#[test]
fn every_problem_says_how_to_fix_it() {
    let text = std::fs::read_to_string(archives().join("index.json")).expect("index.json");
    let index: serde_json::Value = serde_json::from_str(&text).expect("index json");
    let mut missing = Vec::new();
    let mut with_command = 0;
    for a in index["archives"].as_array().expect("archives") {
        let file = a["file"].as_str().expect("file");
        for container in [None, Some("1.2-2"), Some("0.90-1"), Some("blazingtext")] {
            let r = verify_archive(&archives().join(file), &options(container)).expect("verify");
            for f in &r.findings {
                // The verdict summary repeats the reasons listed above it.
                if f.severity == Severity::Info || f.code == "container.verdict" {
                    continue;
                }
                if f.hint.as_deref().is_none_or(str::is_empty) {
                    missing.push(format!("{file} ({container:?}): {f}"));
                }
            }
            if let Some(cmd) = &r.rebuild {
                assert!(
                    cmd.contains("sm-pack ") && cmd.contains(&format!("-o {file} --force")),
                    "{file}: {cmd}"
                );
                let layout = r.findings.iter().filter(|f| {
                    f.severity == Severity::Error
                        && (f.code.starts_with("member.") || f.code.starts_with("archive."))
                });
                for f in layout {
                    let hint = f.hint.as_deref().unwrap_or("");
                    if !hint.contains(cmd.as_str()) {
                        missing.push(format!("{file}: {} hint lacks `{cmd}`: {hint}", f.code));
                    }
                }
                with_command += 1;
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    assert!(
        with_command >= 40,
        "only {with_command} reports name a rebuild command"
    );
}

/// The rebuild command `verify` prints works: run by a shell in a folder
/// holding only the archive (GNU tar, gunzip, head and this sm-pack on the
/// PATH), it replaces the archive with one that verifies clean.
#[test]
fn the_printed_rebuild_commands_work() {
    if !have("tar") || !have("bash") || !have("gunzip") {
        eprintln!("GNU tar, bash or gunzip missing; skipped");
        return;
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_sm-pack"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    let text = std::fs::read_to_string(archives().join("index.json")).expect("index.json");
    let index: serde_json::Value = serde_json::from_str(&text).expect("index json");
    let mut ran = Vec::new();
    let mut failures = Vec::new();
    for a in index["archives"].as_array().expect("archives") {
        let file = a["file"].as_str().expect("file");
        for container in [None, Some("blazingtext")] {
            let r = verify_archive(&archives().join(file), &options(container)).expect("verify");
            let Some(cmd) = r.rebuild else { continue };
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::copy(archives().join(file), dir.path().join(file)).expect("copy");
            let o = std::process::Command::new("bash")
                .args(["-o", "pipefail", "-c", &cmd])
                .current_dir(dir.path())
                .env("PATH", &path)
                .env_remove("SOURCE_DATE_EPOCH")
                .output()
                .expect("bash");
            if !o.status.success() {
                failures.push(format!(
                    "{file}: `{cmd}` failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                ));
                continue;
            }
            let again =
                verify_archive(&dir.path().join(file), &options(container)).expect("verify");
            if again.exit_code() != 0 || !not_info(&again).is_empty() {
                failures.push(format!(
                    "{file}: rebuilt by `{cmd}`: {:?}",
                    not_info(&again)
                ));
            }
            ran.push(file);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Links, duplicates, wrapping folders, absolute names, trailing garbage,
    // double gzip, plain tar, extra files, AppleDouble, BlazingText ...
    for f in [
        "symlink-gnu-tar.tar.gz",
        "hardlink.tar.gz",
        "duplicate.tar.gz",
        "wrapping-folder.tar.gz",
        "absolute-path-gnu-tar.tar.gz",
        "trailing-garbage.tar.gz",
        "double-gzip.tar.gz",
        "plain.tar",
        "extra-file.tar.gz",
        "no-model-bin.tar.gz",
    ] {
        assert!(ran.contains(&f), "no rebuild command ran for {f}: {ran:?}");
    }
}

/// `verify` and `inspect` never extract: on every crafted archive (absolute
/// paths, `..`, links, devices included) the working folder, its parent and
/// an empty TMPDIR are left exactly as they were.
#[test]
fn verify_and_inspect_write_nothing_anywhere() {
    let root = tempfile::tempdir().expect("tempdir");
    let work = root.path().join("work");
    let tmp = root.path().join("tmp");
    std::fs::create_dir(&work).expect("mkdir");
    std::fs::create_dir(&tmp).expect("mkdir");
    let mut names = Vec::new();
    for e in std::fs::read_dir(archives()).expect("read dir") {
        let e = e.expect("entry");
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".py") || name.ends_with(".json") {
            continue;
        }
        std::fs::copy(e.path(), work.join(&name)).expect("copy");
        names.push(name);
    }
    names.sort();
    let before = (common::listing(root.path()), common::listing(&work));
    // The absolute-path fixtures name /xgboost-model.
    let outside = Path::new("/xgboost-model").exists();
    for name in &names {
        for args in [
            vec!["verify", name.as_str()],
            vec!["--json", "verify", name.as_str(), "--container", "1.2-2"],
            vec!["verify", name.as_str(), "--blazingtext"],
            vec!["inspect", name.as_str()],
        ] {
            let o = common::bin()
                .current_dir(&work)
                .env("TMPDIR", &tmp)
                .args(&args)
                .output()
                .expect("run sm-pack");
            assert!(
                matches!(o.status.code(), Some(0..=2)),
                "{args:?}: {:?}",
                o.status
            );
        }
    }
    assert_eq!(
        (common::listing(root.path()), common::listing(&work)),
        before
    );
    assert!(
        common::listing(&tmp).is_empty(),
        "{:?}",
        common::listing(&tmp)
    );
    assert_eq!(Path::new("/xgboost-model").exists(), outside);
}

#[test]
fn good_archives_load_in_the_tags_their_model_supports() {
    for file in [
        "good-gnu-tar.tar.gz",
        "good-tarfile.tar.gz",
        "dot-slash.tar.gz",
    ] {
        let r = verify_archive(&archives().join(file), &options(None)).expect("verify");
        let loads: Vec<&str> = r
            .verdicts
            .iter()
            .filter(|t| t.verdict.is_loads())
            .map(|t| t.tag.as_str())
            .collect();
        // The model is a JSON file saved by xgboost 1.7.4.
        assert_eq!(loads, ["1.7-1", "3.0-5", "3.2-0"], "{file}");
        assert_eq!(r.discovery.loads, ["xgboost-model"], "{file}");
        assert!(r.models[0].validated, "{file}");
    }
}

#[test]
fn what_each_tag_does_with_an_appledouble_file() {
    let path = archives().join("appledouble.tar.gz");
    let skips = |tag: &str| {
        let r = verify_archive(&path, &options(Some(tag))).expect("verify");
        (r.discovery.loads.clone(), r.discovery.one_of.clone())
    };
    // 1.3-1 and later skip dotfiles; 1.2-2 loads it as an ensemble member;
    // 1.0-1 may pick it as the model; 0.90-1 takes any first entry.
    assert_eq!(skips("3.2-0").0, ["xgboost-model"]);
    assert_eq!(skips("1.3-1").0, ["xgboost-model"]);
    assert_eq!(skips("1.2-1").0, ["xgboost-model"]);
    let (loads, _) = skips("1.2-2");
    assert!(loads.contains(&"._xgboost-model".to_string()), "{loads:?}");
    let (_, one_of) = skips("1.0-1");
    assert!(
        one_of.contains(&"._xgboost-model".to_string()),
        "{one_of:?}"
    );
    let (_, one_of) = skips("0.90-1");
    assert_eq!(one_of.len(), 2);
}

#[test]
fn the_ensemble_can_be_simulated_off() {
    let path = archives().join("two-models.tar.gz");
    let mut o = options(Some("1.7-1"));
    let r = verify_archive(&path, &o).expect("verify");
    assert!(codes(&r).contains(&"container.ensemble"));
    o.ensemble = Some(false);
    let r = verify_archive(&path, &o).expect("verify");
    assert!(
        codes(&r).contains(&"container.order_dependent"),
        "{:?}",
        codes(&r)
    );
    assert_eq!(r.discovery.one_of.len(), 2);
}

#[test]
fn inspect_lists_members_with_what_they_are() {
    let l =
        sm_pack::verify::inspect_archive(&archives().join("extra-file.tar.gz")).expect("inspect");
    assert_eq!(l.members.len(), 2);
    assert_eq!(l.captured_bytes(), 0);
    let text = l.human_summary();
    assert!(text.contains("manifest.json"), "{text}");
    assert!(text.contains("0644"), "{text}");
    assert!(
        text.contains(l.members[1].sha256.as_deref().expect("digest")),
        "{text}"
    );
    // manifest.json is JSON but no model; xgboost-model (1.7.4/logistic.json)
    // is named as what it is, by the XGBoost reader, not by its first bytes.
    assert_eq!(l.members[0].name, "manifest.json");
    assert_eq!(l.members[0].model, None);
    assert!(text.contains("JSON text"), "{text}");
    assert_eq!(
        l.members[1].model.as_deref(),
        Some("XGBoost model (JSON), saved by xgboost 1.7.4: binary:logistic, 5 trees"),
        "{text}"
    );
    assert!(text.contains("saved by xgboost 1.7.4"), "{text}");
    let l = sm_pack::verify::inspect_archive(&archives().join("symlink.tar.gz")).expect("inspect");
    assert!(l.human_summary().contains("symbolic link to real-model"));
}

// ---------------------------------------------------------------------------
// sm-pack's own output

struct Packed {
    _dir: tempfile::TempDir,
    archive: PathBuf,
}

fn pack_one(family: Family, model: &str) -> Packed {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("model.tar.gz");
    let job = PackJob::new(family, repo().join(model), &archive).expect("job");
    let outcome = pack(&job).expect("pack");
    assert!(outcome.packed, "{:?}", outcome.findings);
    Packed { _dir: dir, archive }
}

fn with_sidecars(container: Option<&str>) -> VerifyOptions {
    VerifyOptions {
        manifest: Sidecar::Auto,
        sums: Sidecar::Auto,
        ..options(container)
    }
}

#[test]
fn sm_pack_output_verifies_clean_with_its_sidecars() {
    let p = pack_one(Family::Xgboost, "testdata/xgboost/1.7.4/logistic.json");
    let r = verify_archive(&p.archive, &with_sidecars(None)).expect("verify");
    assert_eq!(r.exit_code(), 0, "{:?}", r.findings);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert!(r.manifest.as_ref().is_some_and(|m| m.ok));
    assert!(
        r.sums
            .as_ref()
            .is_some_and(|s| s.ok && s.checked.len() == 2)
    );
    assert!(r.verdict.is_loads());
    assert!(r.listing.end_marker && r.listing.complete);

    let p = pack_one(Family::Blazingtext, "testdata/fasttext/sup_hs.bin");
    let r = verify_archive(&p.archive, &with_sidecars(Some("blazingtext"))).expect("verify");
    assert_eq!(r.exit_code(), 0, "{:?}", r.findings);
    assert!(r.verdict.is_loads(), "{}", r.verdict);
    assert!(r.models[0].validated);
}

#[test]
fn manifest_and_sums_tampering_is_detected() {
    let p = pack_one(Family::Xgboost, "testdata/xgboost/1.7.4/logistic.json");
    let dir = p.archive.parent().expect("dir").to_path_buf();
    let manifest = dir.join("model.tar.gz.manifest.json");
    let sums = dir.join("SHA256SUMS");
    let original_manifest = std::fs::read_to_string(&manifest).expect("manifest");
    let original_sums = std::fs::read_to_string(&sums).expect("sums");
    let check = |want: &[&str]| {
        let r = verify_archive(&p.archive, &with_sidecars(None)).expect("verify");
        for w in want {
            assert!(codes(&r).contains(w), "no {w} in {:?}", codes(&r));
        }
        assert_eq!(r.exit_code(), 1);
        // Every sidecar problem says what to do.
        for f in r
            .findings
            .iter()
            .filter(|f| f.severity != Severity::Info && f.code != "container.verdict")
        {
            assert!(f.hint.is_some(), "no hint: {f}");
        }
    };
    let mut doc: serde_json::Value = serde_json::from_str(&original_manifest).expect("json");

    // A member digest.
    doc["members"][0]["sha256"] = "00".repeat(32).into();
    std::fs::write(&manifest, serde_json::to_string(&doc).expect("json")).expect("write");
    check(&["manifest.member_mismatch", "sums.mismatch"]);

    // A member size and a member the archive lacks.
    let mut d2: serde_json::Value = serde_json::from_str(&original_manifest).expect("json");
    d2["members"][0]["size"] = 1.into();
    d2["members"]
        .as_array_mut()
        .expect("members")
        .push(serde_json::json!({"name": "ghost", "size": 1, "mode": "0644", "sha256": "00"}));
    std::fs::write(&manifest, serde_json::to_string(&d2).expect("json")).expect("write");
    check(&["manifest.member_mismatch", "manifest.member_missing"]);

    // The archive digest and the tar digest.
    let mut d3: serde_json::Value = serde_json::from_str(&original_manifest).expect("json");
    d3["archive"]["sha256"] = "11".repeat(32).into();
    d3["tar"]["size"] = 12.into();
    std::fs::write(&manifest, serde_json::to_string(&d3).expect("json")).expect("write");
    check(&["manifest.archive_mismatch", "manifest.tar_mismatch"]);

    // The member list: the archive holds a member the manifest lacks.
    let mut d4: serde_json::Value = serde_json::from_str(&original_manifest).expect("json");
    d4["members"] = serde_json::json!([]);
    std::fs::write(&manifest, serde_json::to_string(&d4).expect("json")).expect("write");
    check(&["manifest.member_extra"]);

    // Not a manifest.
    std::fs::write(&manifest, "{}").expect("write");
    check(&["manifest.unreadable"]);

    // SHA256SUMS alone.
    std::fs::write(&manifest, &original_manifest).expect("write");
    let bad = original_sums.replacen(&original_sums[..4], "ffff", 1);
    std::fs::write(&sums, &bad).expect("write");
    check(&["sums.mismatch"]);
    std::fs::write(&sums, "not a sums file\n").expect("write");
    check(&["sums.unreadable", "sums.missing"]);

    // The archive itself: one byte appended.
    std::fs::write(&sums, &original_sums).expect("write");
    let mut bytes = std::fs::read(&p.archive).expect("archive");
    bytes.push(b'!');
    std::fs::write(&p.archive, &bytes).expect("write");
    check(&[
        "manifest.archive_mismatch",
        "sums.mismatch",
        "archive.gzip_trailing",
    ]);
}

#[test]
fn explicit_sidecars_must_exist_and_are_used() {
    let p = pack_one(Family::Xgboost, "testdata/xgboost/1.7.4/logistic.json");
    let dir = p.archive.parent().expect("dir").to_path_buf();
    let moved = dir.join("elsewhere.json");
    std::fs::rename(dir.join("model.tar.gz.manifest.json"), &moved).expect("rename");
    let mut o = with_sidecars(None);
    o.manifest = Sidecar::Path(moved);
    let r = verify_archive(&p.archive, &o).expect("verify");
    assert!(
        r.manifest.as_ref().is_some_and(|m| m.ok),
        "{:?}",
        r.findings
    );
    o.manifest = Sidecar::Path(dir.join("missing.json"));
    let e = verify_archive(&p.archive, &o).expect_err("missing manifest");
    assert_eq!(e.exit_code(), 2);
}

// ---------------------------------------------------------------------------
// The CLI

#[test]
fn cli_exit_codes_and_json() {
    let dir = archives();
    let o = run_in(&dir, &["verify", "good-gnu-tar.tar.gz"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("verdict 3.2-0: loads"),
        "{}",
        stdout(&o)
    );

    let o = run_in(&dir, &["verify", "wrapping-folder.tar.gz"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("archive.wrapping_folder"), "{out}");
    assert!(
        out.contains("sm-pack xgboost model/xgboost-model --container 3.2-0 -o wrapping-folder.tar.gz --force"),
        "{out}"
    );

    let o = run_in(
        &dir,
        &[
            "--json",
            "verify",
            "extra-file.tar.gz",
            "--container",
            "1.7-1",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["schema"], "sm-pack.report/v1");
    assert_eq!(v["command"], "verify");
    assert_eq!(v["ok"], false);
    assert_eq!(v["report"]["container"], "1.7-1");
    assert_eq!(v["report"]["verdict"]["outcome"], "fails_to_load");
    assert_eq!(v["report"]["verdicts"].as_array().map(Vec::len), Some(10));
    assert_eq!(v["report"]["discovery"]["loads"][0], "manifest.json");

    let o = run_in(
        &dir,
        &["verify", "good-blazingtext.tar.gz", "--blazingtext"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));

    let o = run_in(&dir, &["verify", "does-not-exist.tar.gz"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run_in(
        &dir,
        &["verify", "good-gnu-tar.tar.gz", "--container", "9.9-9"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        common::stderr(&o).contains("3.2-0"),
        "{}",
        common::stderr(&o)
    );
    let o = run_in(
        &dir,
        &[
            "verify",
            "good-gnu-tar.tar.gz",
            "--container",
            "1.7-1",
            "--blazingtext",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
}
