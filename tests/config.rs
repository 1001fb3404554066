//! `sm-pack.toml`: found in the current folder or a parent up to the git root
//! (or named by --config / SM_PACK_CONFIG), fills the options the command
//! line leaves unset, and refuses unknown keys naming the key and the file.

mod report_support;

use report_support::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn example() -> String {
    fixture("example/churn-xgboost.json")
}

/// A fake repository: `root/.git/` and `root/sub/deeper/`.
fn repo_tree() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("repo");
    let deeper = root.join("sub/deeper");
    std::fs::create_dir_all(&deeper).unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    (d, root, deeper)
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// `sm-pack --json ARGS` in `dir` with extra environment.
fn json_in(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, Value, String) {
    let mut c: Command = bin(dir);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.arg("--json").args(args).output().unwrap();
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (
        o.status.code().unwrap_or(-1),
        v,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn level_and_tag(v: &Value) -> (Value, Value) {
    let m = &v["outcome"]["manifest"];
    (
        m["compression"]["level"].clone(),
        m["target"]["container"].clone(),
    )
}

const CONFIG: &str = r#"# sm-pack.toml
container = "1.5-1"
region = "eu-west-1"
level = 9
threads = 1

[upload]
bucket = "ml-models"
prefix = "churn/"
"#;

#[test]
fn found_in_a_parent_up_to_the_git_root_and_flags_win() {
    let (_d, root, deeper) = repo_tree();
    write(&root.join("sm-pack.toml"), CONFIG);
    let (code, v, err) = json_in(&deeper, &[], &["xgboost", &example()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(level_and_tag(&v), (9.into(), "1.5-1".into()));
    assert_eq!(v["outcome"]["container"]["converted"], true);
    assert_eq!(v["deploy"]["region"], "eu-west-1");
    assert_eq!(v["deploy"]["region_source"], "config");
    // Flags win, even when they repeat the built-in default (--level 6).
    let (code, v, err) = json_in(
        &deeper,
        &[],
        &[
            "xgboost",
            &example(),
            "--level",
            "6",
            "--container",
            "1.7-1",
            "--region",
            "us-west-2",
            "-o",
            "b.tar.gz",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(level_and_tag(&v), (6.into(), "1.7-1".into()));
    assert_eq!(v["deploy"]["region"], "us-west-2");
    assert_eq!(v["deploy"]["region_source"], "--region");
    // The AWS variables win over the file for the region.
    let (_, v, _) = json_in(
        &deeper,
        &[("AWS_REGION", "ap-south-1")],
        &["xgboost", &example(), "-o", "c.tar.gz"],
    );
    assert_eq!(v["deploy"]["region"], "ap-south-1");
    assert_eq!(v["deploy"]["region_source"], "AWS_REGION");
    // --no-config ignores it.
    let (_, v, _) = json_in(
        &deeper,
        &[],
        &["--no-config", "xgboost", &example(), "-o", "d.tar.gz"],
    );
    assert_eq!(level_and_tag(&v), (6.into(), Value::Null));
    // -v says which file was used and what it set.
    let r = run(&deeper, &["-v", "xgboost", &example(), "-o", "e.tar.gz"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = r
        .stderr
        .lines()
        .find(|l| l.starts_with("config: "))
        .unwrap();
    assert!(
        line.contains(&root.join("sm-pack.toml").display().to_string()),
        "{line}"
    );
    assert!(
        line.contains("container = 1.5-1") && line.contains("level = 9"),
        "{line}"
    );
}

#[test]
fn not_found_above_the_git_root_nor_outside_a_repository() {
    let (d, root, deeper) = repo_tree();
    // Above the repository root: not used.
    write(&d.path().join("sm-pack.toml"), "level = 1\n");
    let (code, v, err) = json_in(&deeper, &[], &["xgboost", &example()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(level_and_tag(&v), (6.into(), Value::Null));
    // At the root itself: used.
    write(&root.join("sm-pack.toml"), "level = 2\n");
    let (_, v, _) = json_in(&deeper, &[], &["xgboost", &example(), "-o", "b.tar.gz"]);
    assert_eq!(v["outcome"]["manifest"]["compression"]["level"], 2);
    // Outside any repository only the current folder counts.
    let plain = tempfile::tempdir().unwrap();
    let below = plain.path().join("below");
    std::fs::create_dir(&below).unwrap();
    write(&plain.path().join("sm-pack.toml"), "level = 3\n");
    let (_, v, _) = json_in(&below, &[], &["xgboost", &example()]);
    assert_eq!(v["outcome"]["manifest"]["compression"]["level"], 6);
    let (_, v, _) = json_in(plain.path(), &[], &["xgboost", &example()]);
    assert_eq!(v["outcome"]["manifest"]["compression"]["level"], 3);
}

#[test]
fn config_flag_and_environment_variable() {
    let (d, _root, deeper) = repo_tree();
    let a = d.path().join("a.toml");
    let b = d.path().join("b.toml");
    write(&a, "level = 4\n");
    write(&b, "level = 5\n");
    let a_s = a.to_str().unwrap();
    let b_s = b.to_str().unwrap();
    let (_, v, _) = json_in(
        &deeper,
        &[("SM_PACK_CONFIG", b_s)],
        &["xgboost", &example(), "-o", "1.tar.gz"],
    );
    assert_eq!(v["outcome"]["manifest"]["compression"]["level"], 5);
    // --config wins over SM_PACK_CONFIG.
    let (_, v, _) = json_in(
        &deeper,
        &[("SM_PACK_CONFIG", b_s)],
        &["--config", a_s, "xgboost", &example(), "-o", "2.tar.gz"],
    );
    assert_eq!(v["outcome"]["manifest"]["compression"]["level"], 4);
    // A named file that does not exist is an error naming it.
    let (code, v, _) = json_in(
        &deeper,
        &[],
        &[
            "--config",
            "missing.toml",
            "xgboost",
            &example(),
            "-o",
            "3.tar.gz",
        ],
    );
    assert_eq!(code, 2);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing.toml"),
        "{v}"
    );
    assert!(!deeper.join("3.tar.gz").exists());
}

#[test]
fn unknown_keys_and_bad_values_are_errors_naming_the_key_and_the_file() {
    let (_d, root, deeper) = repo_tree();
    let file = root.join("sm-pack.toml");
    let ex = example();
    for (text, needle) in [
        ("container = \"1.7-1\"\ncolour = \"red\"\n", "colour"),
        ("[upload]\nbuckit = \"b\"\n", "buckit"),
        ("[pack]\nlevel = 9\n", "pack"),
        ("level = 10\n", "0 to 9"),
        ("threads = \"many\"\n", "threads"),
        ("[upload]\non_pack = true\n", "bucket"),
        ("level = \n", "level"),
    ] {
        write(&file, text);
        for args in [
            vec!["xgboost", ex.as_str()],
            vec!["containers"],
            vec!["inspect", ex.as_str()],
        ] {
            let (code, v, err) = json_in(&deeper, &[], &args);
            assert_eq!(code, 2, "{text:?} {args:?}: {v}");
            let msg = v["error"]["message"].as_str().unwrap_or("");
            assert!(msg.contains(&file.display().to_string()), "{text:?}: {msg}");
            assert!(msg.contains(needle), "{text:?}: {msg}");
            assert!(err.contains(needle), "{err}");
            let errors = schema_errors(&validator(), &v);
            assert!(errors.is_empty(), "{errors:?}");
        }
    }
    assert!(!deeper.join("model.tar.gz").exists());
}

// Upload plans need the S3 client (cargo feature `s3`, on by default).
#[cfg(feature = "s3")]
#[test]
fn upload_defaults_bucket_prefix_profile() {
    let (_d, root, deeper) = repo_tree();
    write(
        &root.join("sm-pack.toml"),
        "profile = \"ml-deploy\"\n[upload]\nbucket = \"ml-models\"\nprefix = \"/models/churn\"\n",
    );
    let r = run(&deeper, &["xgboost", &example()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Packing does not upload unless on_pack is set; the hint says where it would go.
    assert!(!r.stdout.contains("uploaded s3://"), "{}", r.stdout);
    assert!(
        r.stdout.contains(
            "upload it with `sm-pack upload model.tar.gz` (to s3://ml-models/models/churn/ of sm-pack.toml)"
        ),
        "{}",
        r.stdout
    );
    // `sm-pack upload ARCHIVE` takes the destination and profile from the file.
    let (code, v, err) = json_in(&deeper, &[], &["upload", "model.tar.gz", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        v["plan"]["archive"],
        "s3://ml-models/models/churn/model.tar.gz"
    );
    assert_eq!(v["plan"]["profile"], "ml-deploy");
    // The command line wins; AWS_PROFILE wins over the file.
    let (_, v, _) = json_in(
        &deeper,
        &[("AWS_PROFILE", "other")],
        &["upload", "model.tar.gz", "s3://elsewhere/x/", "--dry-run"],
    );
    assert_eq!(v["plan"]["archive"], "s3://elsewhere/x/model.tar.gz");
    assert_eq!(v["plan"]["profile"], "other");
    // on_pack: packing uploads there (as --upload); shown with --dry-run.
    write(
        &root.join("sm-pack.toml"),
        "profile = \"ml-deploy\"\n[upload]\nbucket = \"ml-models\"\nprefix = \"churn\"\non_pack = true\n",
    );
    let (code, v, err) = json_in(&deeper, &[], &["xgboost", &example(), "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["plan"]["archive"], "s3://ml-models/churn/model.tar.gz");
    assert_eq!(v["plan"]["profile"], "ml-deploy");
    // Without a destination anywhere, `upload` says how to give one.
    let (code, v, _) = json_in(
        &deeper,
        &[],
        &["--no-config", "upload", "model.tar.gz", "--dry-run"],
    );
    assert_eq!(code, 2);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sm-pack.toml"),
        "{v}"
    );
}

#[test]
fn container_default_for_verify_and_convert_and_region_for_containers() {
    let (_d, root, deeper) = repo_tree();
    let r = run(&deeper, &["xgboost", &example()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    write(
        &root.join("sm-pack.toml"),
        "container = \"0.90-1\"\nregion = \"eu-north-1\"\n",
    );
    // The archive holds JSON, which 0.90-1 cannot load: verify judges the configured tag.
    let (code, v, _) = json_in(&deeper, &[], &["verify", "model.tar.gz"]);
    assert_eq!(code, 1);
    assert_eq!(v["report"]["container"], "0.90-1");
    let (code, v, _) = json_in(
        &deeper,
        &[],
        &["verify", "model.tar.gz", "--container", "1.7-1"],
    );
    assert_eq!(code, 0);
    assert_eq!(v["report"]["container"], "1.7-1");
    let (code, v, _) = json_in(&deeper, &[], &["convert", &example(), "-o", "old.bin"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["conversion"]["container"], "0.90-1");
    let (_, v, _) = json_in(&deeper, &[], &["containers"]);
    assert_eq!(v["region"], "eu-north-1");
    assert_eq!(v["region_defaulted"], false);
    // inspect never takes the tag from the file (it would turn a look into a gate).
    let (code, v, _) = json_in(&deeper, &[], &["inspect", &example()]);
    assert_eq!(code, 0);
    assert_eq!(v["container"], Value::Null);
}
