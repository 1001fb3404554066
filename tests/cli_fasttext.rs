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

#[test]
fn predict_json_matches_fasttext_top3() {
    let expect: serde_json::Value = serde_json::from_slice(
        &fs::read(repo().join("testdata/fasttext/sup_ngrams.expect.json")).unwrap(),
    )
    .unwrap();
    let preds = expect["predictions"].as_array().unwrap();
    // Plain corpus-like lines (no embedded newlines or control characters).
    let chosen: Vec<&serde_json::Value> = preds
        .iter()
        .filter(|p| {
            let t = p["text"].as_str().unwrap();
            !t.is_empty() && t.chars().all(|c| c == ' ' || !c.is_control())
        })
        .take(20)
        .collect();
    assert!(chosen.len() >= 10);
    let input: String = chosen
        .iter()
        .map(|p| format!("{}\n", p["text"].as_str().unwrap()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("lines.txt"), input).unwrap();
    let o = bin()
        .args([
            "--json",
            "predict",
            &ft("sup_ngrams.bin"),
            "-k",
            "3",
            "--input",
        ])
        .arg(dir.path().join("lines.txt"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let got: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let got = got.as_array().unwrap();
    assert_eq!(got.len(), chosen.len());
    for (g, want) in got.iter().zip(&chosen) {
        assert_eq!(g["label"], want["top3"]["labels"], "{}", want["text"]);
        for (a, b) in g["prob"]
            .as_array()
            .unwrap()
            .iter()
            .zip(want["top3"]["probs"].as_array().unwrap())
        {
            assert!(
                (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() <= 1e-5,
                "{a} vs {b}"
            );
        }
    }
}
