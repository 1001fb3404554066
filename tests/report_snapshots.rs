//! Snapshots of the human and JSON reports for a good model, a bad model and
//! a retargeted (converted) model, from the real binary. The snapshots are
//! committed in tests/snapshots/ (insta format).
//!
//! Volatile parts are normalised before comparing: the temporary folder →
//! `[TMP]`, the repository path → `[REPO]`, sm-pack's version → `[VERSION]`.
//! Everything else is deterministic (no SOURCE_DATE_EPOCH, fixed entry
//! times, byte-identical archives), so any other difference is a change of
//! the report. After an intended change, rewrite and review:
//!
//! ```sh
//! INSTA_UPDATE=always cargo test --test report_snapshots
//! git diff tests/snapshots/
//! ```

mod report_support;

use report_support::*;
use std::path::Path;

fn normalise(text: &str, tmp: &Path) -> String {
    let mut s = text.to_string();
    // Longest first: the temporary folder may live under the repository.
    let mut pairs = [
        (tmp.to_string_lossy().into_owned(), "[TMP]"),
        (repo().to_string_lossy().into_owned(), "[REPO]"),
    ];
    pairs.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    for (from, to) in pairs {
        s = s.replace(&from, to);
    }
    s.replace(
        &format!("\"version\": \"{}\"", env!("CARGO_PKG_VERSION")),
        "\"version\": \"[VERSION]\"",
    )
}

/// Runs sm-pack in `dir` and renders what a user sees: exit code, stdout, stderr.
fn human(dir: &Path, args: &[&str]) -> String {
    let r = run(dir, args);
    normalise(
        &format!(
            "$ sm-pack {}\nexit {}\n--- stdout\n{}--- stderr\n{}",
            args.join(" "),
            r.code,
            r.stdout,
            r.stderr
        ),
        dir,
    )
}

/// The `--json` report, checked against the schema, pretty-printed.
fn json(dir: &Path, args: &[&str], code: i32) -> String {
    let r = report(dir, args, code);
    let errors = schema_errors(&validator(), &r);
    assert!(errors.is_empty(), "{errors:#?}");
    normalise(&serde_json::to_string_pretty(&r).expect("json"), dir)
}

fn example() -> String {
    fixture("example/churn-xgboost.json")
}

fn broken() -> String {
    fixture("example/churn-xgboost-broken.json")
}

#[test]
fn good_model() {
    let d = tempfile::tempdir().unwrap();
    let model = example();
    insta::assert_snapshot!(
        "good_pack_human",
        human(d.path(), &["xgboost", &model, "-o", "model.tar.gz"])
    );
    insta::assert_snapshot!(
        "good_pack_json",
        json(
            d.path(),
            &["xgboost", &model, "-o", "model.tar.gz", "--force"],
            0
        )
    );
    insta::assert_snapshot!("good_inspect_human", human(d.path(), &["inspect", &model]));
    insta::assert_snapshot!(
        "good_verify_human",
        human(d.path(), &["verify", "model.tar.gz"])
    );
}

#[test]
fn bad_model() {
    let d = tempfile::tempdir().unwrap();
    let model = broken();
    insta::assert_snapshot!(
        "bad_pack_human",
        human(d.path(), &["xgboost", &model, "-o", "model.tar.gz"])
    );
    insta::assert_snapshot!(
        "bad_pack_json",
        json(d.path(), &["xgboost", &model, "-o", "model.tar.gz"], 1)
    );
    assert!(!d.path().join("model.tar.gz").exists());
    insta::assert_snapshot!(
        "bad_archive_verify_human",
        human(d.path(), &["verify", &fixture("archives/dotdot.tar.gz")])
    );
}

#[test]
fn retargeted_model() {
    let d = tempfile::tempdir().unwrap();
    let model = example();
    insta::assert_snapshot!(
        "retargeted_pack_human",
        human(
            d.path(),
            &[
                "xgboost",
                &model,
                "--container",
                "1.5-1",
                "--region",
                "eu-west-1",
                "-o",
                "model.tar.gz"
            ]
        )
    );
    insta::assert_snapshot!(
        "retargeted_pack_json",
        json(
            d.path(),
            &[
                "xgboost",
                &model,
                "--container",
                "1.5-1",
                "-o",
                "model.tar.gz",
                "--force"
            ],
            0
        )
    );
    insta::assert_snapshot!(
        "retargeted_convert_human",
        human(
            d.path(),
            &["convert", &model, "--container", "1.0-1", "-o", "old.json"]
        )
    );
    insta::assert_snapshot!(
        "retargeted_convert_json",
        json(
            d.path(),
            &[
                "convert",
                &model,
                "--container",
                "1.0-1",
                "-o",
                "old.json",
                "--force"
            ],
            0
        )
    );
}
