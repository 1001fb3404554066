//! `sm-pack fasttext` end to end: validation in the same pass as packing.

mod common;

use common::*;
use std::fs;

fn ft(name: &str) -> String {
    repo()
        .join("testdata/fasttext")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn packs_every_unquantized_fixture_as_model_bin() {
    for name in [
        "sup_softmax.bin",
        "sup_hs.bin",
        "sup_ngrams.bin",
        "sg.bin",
        "cbow_nosub.bin",
        "sup_utf8.bin",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let o = run_in(dir.path(), &["--json", "fasttext", &ft(name)]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let m = &r["outcome"]["manifest"];
        assert_eq!(m["members"][0]["name"], "model.bin");
        assert_eq!(m["target"]["family"], "blazingtext");
        assert_eq!(
            m["members"][0]["sha256"],
            sm_pack::hash::sha256_hex(&fs::read(ft(name)).unwrap()).as_str()
        );
        assert!(
            m["model"].is_object(),
            "{name}: model summary missing from the manifest"
        );
    }
}

#[test]
fn quantized_needs_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_in(dir.path(), &["fasttext", &ft("sup_ngrams_q.ftz")]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("bt.quantized"), "{}", stdout(&o));
    assert!(stdout(&o).contains("--allow-quantized"), "{}", stdout(&o));
    assert_eq!(listing(dir.path()), Vec::<String>::new());
    let o = run_in(
        dir.path(),
        &["fasttext", &ft("sup_ngrams_q.ftz"), "--allow-quantized"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("bt.quantized"),
        "the warning must still show: {}",
        stdout(&o)
    );
}

#[test]
fn truncated_and_foreign_inputs_are_refused_with_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = fs::read(ft("sup_softmax.bin")).unwrap();
    fs::write(dir.path().join("cut.bin"), &bytes[..5000]).unwrap();
    let o = run_in(dir.path(), &["fasttext", "cut.bin", "-o", "out.tar.gz"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("ft.truncated"), "{}", stdout(&o));
    assert!(stdout(&o).contains("5000"), "{}", stdout(&o));

    let o = run_in(
        dir.path(),
        &[
            "fasttext",
            example_model().to_str().unwrap(),
            "-o",
            "x.tar.gz",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not a fastText model"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("sm-pack xgboost"), "{}", stderr(&o));
    assert_eq!(listing(dir.path()), ["cut.bin"]);
}

#[test]
fn inspect_reports_shapes() {
    let o = bin()
        .args(["--json", "inspect", &ft("sup_ngrams.bin")])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["format"], "fasttext");
    let text = bin()
        .args(["inspect", &ft("sup_ngrams.bin")])
        .output()
        .unwrap();
    assert!(
        stdout(&text).contains("supervised classifier"),
        "{}",
        stdout(&text)
    );
    assert!(stdout(&text).contains("wordNgrams 2"), "{}", stdout(&text));
}
