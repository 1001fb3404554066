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

/// What the real fastText 0.9.2 reported for a fixture (`<stem>.expect.json`).
fn expect(name: &str) -> serde_json::Value {
    let stem = name.rsplit_once('.').unwrap().0;
    let p = repo().join(format!("testdata/fasttext/{stem}.expect.json"));
    serde_json::from_slice(&fs::read(&p).unwrap()).unwrap()
}

/// Every fixture listed in testdata/fasttext/index.json.
fn all_fixtures() -> Vec<String> {
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(repo().join("testdata/fasttext/index.json")).unwrap())
            .unwrap();
    index["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["file"].as_str().unwrap().to_string())
        .collect()
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
        // the report says which kind of model it is and what the endpoint expects
        let exp = expect(name);
        let sup = exp["args"]["model"] == "sup";
        let model = &r["outcome"]["model"];
        assert_eq!(
            model["kind"],
            match exp["args"]["model"].as_str().unwrap() {
                "sup" => "supervised",
                "sg" => "skipgram",
                _ => "cbow",
            },
            "{name}"
        );
        let bt = &model["blazingtext"];
        assert_eq!(bt["content_type"], "application/json", "{name}");
        if sup {
            assert_eq!(bt["mode"], "classifier", "{name}");
            assert_eq!(bt["request"]["configuration"]["k"], 1, "{name}");
            assert!(bt["request"]["instances"][0].is_string(), "{name}");
            assert_eq!(bt["batch"]["content_type"], "application/jsonlines");
            assert_eq!(bt["response"][0]["label"][0], exp["labels"][0], "{name}");
        } else {
            assert_eq!(bt["mode"], "word2vec", "{name}");
            assert!(bt["request"]["instances"][0].is_string(), "{name}");
            assert!(bt["request"].get("configuration").is_none(), "{name}");
            assert!(bt["response"][0]["vector"].is_array(), "{name}");
        }
        assert_eq!(m["model"]["blazingtext"], *bt, "{name}: manifest");
    }
}

#[test]
fn human_pack_report_names_the_kind_and_the_request() {
    for (name, model_line, endpoint) in [
        (
            "sup_ova.bin",
            "fastText supervised (ova loss), dim 16, 101 words, 4 labels",
            r#"BlazingText classifier: POST application/json {"instances":["#,
        ),
        (
            "cbow_nosub.bin",
            "fastText cbow (ns loss), dim 12, 123 words",
            r#"BlazingText word2vec: POST application/json {"instances":["word1","word2"]}"#,
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let o = run_in(dir.path(), &["fasttext", &ft(name)]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains(&format!("  model     {model_line}\n")),
            "{out}"
        );
        assert!(out.contains(&format!("  endpoint  {endpoint}")), "{out}");
        if name == "sup_ova.bin" {
            assert!(out.contains(r#""configuration":{"k":1}}"#), "{out}");
        }
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
    // `sm-pack --json inspect` on every fixture: the fields the issue lists,
    // against what the real fastText 0.9.2 reported after load_model.
    let fixtures = all_fixtures();
    assert_eq!(fixtures.len(), 19);
    for name in &fixtures {
        let exp = expect(name);
        let o = bin()
            .args(["--json", "inspect", &ft(name)])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r["format"], "fasttext", "{name}");
        let s = &r["model"];
        let a = &exp["args"];
        assert_eq!(s["file_size"], exp["file_size"], "{name}");
        assert_eq!(s["complete"], true, "{name}");
        assert_eq!(s["loss"], a["loss"], "{name}");
        assert_eq!(s["dim"], exp["dimension"], "{name}");
        assert_eq!(s["args"]["model"], a["model"], "{name}");
        for key in ["wordNgrams", "minn", "maxn", "bucket"] {
            assert_eq!(s["ngrams"][key], a[key], "{name}: {key}");
            assert_eq!(s["args"][key], a[key], "{name}: {key}");
        }
        let d = &s["dictionary"];
        assert_eq!(d["nwords"], exp["nwords"], "{name}");
        assert_eq!(d["nlabels"], exp["nlabels"], "{name}");
        assert_eq!(d["labels_count"], exp["nlabels"], "{name}");
        let labels = exp["labels"].as_array().unwrap();
        let first: Vec<_> = labels.iter().take(10).cloned().collect();
        assert_eq!(d["labels_first"], serde_json::Value::from(first), "{name}");
        let quant = exp["is_quantized"].as_bool().unwrap();
        assert_eq!(s["quantization"]["quantized"], quant, "{name}");
        let dim = exp["dimension"].as_i64().unwrap();
        for key in ["input_matrix", "output_matrix"] {
            let m = &s[key];
            assert_eq!(m["cols"], dim, "{name}: {key}");
            assert_eq!(m["rows"], m["expected_rows"], "{name}: {key}");
            assert!(m["bytes"].as_u64().unwrap() > 0, "{name}: {key}");
            if let Some(shape) = exp[key]["shape"].as_array() {
                assert_eq!(m["kind"], "dense", "{name}: {key}");
                assert_eq!(m["rows"], shape[0], "{name}: {key} rows vs fastText");
                assert_eq!(m["cols"], shape[1], "{name}: {key} cols vs fastText");
            } else {
                assert_eq!(m["kind"], "quantized", "{name}: {key}");
            }
        }
        let total: u64 = s["sections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["bytes"].as_u64().unwrap())
            .sum();
        assert_eq!(total, exp["file_size"].as_u64().unwrap(), "{name}: sizes");
        // findings: none above a note, except the quantized-hosting warning
        let codes: Vec<&str> = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] != "info")
            .map(|f| f["code"].as_str().unwrap())
            .collect();
        let want: &[&str] = if quant { &["bt.quantized"] } else { &[] };
        assert_eq!(codes, want, "{name}");
    }

    // the human rendering carries the same facts
    let o = bin()
        .args(["inspect", &ft("sup_ngrams.bin")])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for needle in [
        "kind           supervised classifier, loss softmax",
        "dim            16",
        "vocabulary     105 entries: 101 words, 4 labels",
        "labels         __label__sports, __label__travel, __label__tech, __label__food",
        "n-grams        wordNgrams 2, char n-grams 2..4, bucket 3000",
        "quantization   none",
        "input matrix   dense 3101 × 16",
        "output matrix  dense 4 × 16",
        "findings       0 errors, 0 warnings",
        r#""configuration":{"k":1}"#,
    ] {
        assert!(text.contains(needle), "lacks {needle:?}:\n{text}");
    }
    // a broken model: inspect exits 1 and names the finding
    let dir = tempfile::tempdir().unwrap();
    let bytes = fs::read(ft("sup_ngrams.bin")).unwrap();
    fs::write(dir.path().join("cut.bin"), &bytes[..150_000]).unwrap();
    let o = run_in(dir.path(), &["--json", "inspect", "cut.bin"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = &r["model"]["truncation"];
    assert_eq!(t["file_len"], 150_000);
    assert_eq!(t["missing"], 198_464 + 1_720 - 150_000);
    assert_eq!(r["findings"][0]["code"], "ft.truncated");
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
