//! `sm-pack fasttext MODEL --sample LINES --expect EXPECTED`: the packing gate
//! checks the packed model's predictions against the real fastText's
//! (fasttext-wheel 0.9.2 predictions saved in testdata/fasttext/*.expect.json).

mod common;

use common::*;
use serde_json::{Value, json};
use std::fs;
use std::path::Path;

fn ft(name: &str) -> String {
    repo()
        .join("testdata/fasttext")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn expect(stem: &str) -> Value {
    serde_json::from_slice(&fs::read(ft(&format!("{stem}.expect.json"))).unwrap()).unwrap()
}

/// The sample lines the real library predicted (one per line).
fn write_sample(dir: &Path, e: &Value) -> String {
    let lines: Vec<&str> = e["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert!(lines.len() > 50 && lines.iter().all(|l| !l.contains('\n')));
    let path = dir.join("sample.txt");
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    path.to_string_lossy().into_owned()
}

/// The real library's top-3 as `label prob ...` lines (predict-prob layout).
fn top3_text(e: &Value) -> String {
    let mut s = String::new();
    for p in e["predictions"].as_array().unwrap() {
        let t = &p["top3"];
        let parts: Vec<String> = t["labels"]
            .as_array()
            .unwrap()
            .iter()
            .zip(t["probs"].as_array().unwrap())
            .map(|(l, p)| format!("{} {}", l.as_str().unwrap(), p.as_f64().unwrap()))
            .collect();
        s.push_str(&parts.join(" "));
        s.push('\n');
    }
    s
}

/// The real library's top-3 as the BlazingText endpoint's JSON response.
fn top3_json(e: &Value) -> Value {
    Value::Array(
        e["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| json!({"label": p["top3"]["labels"], "prob": p["top3"]["probs"]}))
            .collect(),
    )
}

fn pack(
    dir: &Path,
    model: &str,
    sample: &str,
    expected: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "--json", "fasttext", model, "--sample", sample, "--expect", expected,
    ];
    args.extend_from_slice(extra);
    run_in(dir, &args)
}

fn manifest_schema() -> jsonschema::Validator {
    let schema: Value =
        serde_json::from_slice(&fs::read(repo().join("formats/manifest.schema.json")).unwrap())
            .unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn report(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} / {}", stdout(o), stderr(o)))
}

fn sample_finding(r: &Value) -> Value {
    r["outcome"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"].as_str().unwrap().starts_with("ft.sample."))
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn classifiers_pass_with_the_real_librarys_top3_as_text_and_json() {
    for stem in ["sup_softmax", "sup_hs", "sup_ns", "sup_ova", "sup_ngrams"] {
        let dir = tempfile::tempdir().unwrap();
        let e = expect(stem);
        let sample = write_sample(dir.path(), &e);
        let text = dir.path().join("expected.txt");
        fs::write(&text, top3_text(&e)).unwrap();
        let o = pack(
            dir.path(),
            &ft(&format!("{stem}.bin")),
            &sample,
            text.to_str().unwrap(),
            &[],
        );
        assert!(o.status.success(), "{stem}: {} {}", stdout(&o), stderr(&o));
        let r = report(&o);
        let s = &r["outcome"]["manifest"]["sample"];
        assert_eq!(s["result"], "pass", "{stem}");
        assert_eq!(s["rows"], e["predictions"].as_array().unwrap().len());
        assert_eq!(s["columns"], 3);
        assert_eq!(s["content_type"], "text/plain");
        assert_eq!(s["semantics"], "fastText 0.9.2 (BlazingText)");
        assert_eq!(
            s["expected_sha256"],
            sm_pack::hash::sha256_hex(&fs::read(&text).unwrap()).as_str()
        );
        assert_eq!(sample_finding(&r)["code"], "ft.sample.pass");
        // The manifest on disk carries the same record and fits its schema.
        let m: Value = serde_json::from_slice(
            &fs::read(dir.path().join("model.tar.gz.manifest.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(&m["sample"], s);
        let errors: Vec<String> = manifest_schema()
            .iter_errors(&m)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{stem}: {errors:#?}");
        // The JSON the endpoint returns passes too, into a fresh folder.
        let dir2 = tempfile::tempdir().unwrap();
        let js = dir2.path().join("expected.json");
        fs::write(&js, serde_json::to_vec(&top3_json(&e)).unwrap()).unwrap();
        let o = pack(
            dir2.path(),
            &ft(&format!("{stem}.bin")),
            &sample,
            js.to_str().unwrap(),
            &[],
        );
        assert!(o.status.success(), "{stem} json: {}", stdout(&o));
        assert_eq!(
            report(&o)["outcome"]["manifest"]["sample"]["content_type"],
            "application/json"
        );
    }
}

#[test]
fn a_quantized_classifier_passes_with_its_own_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let e = expect("sup_ngrams_q");
    let sample = write_sample(dir.path(), &e);
    let text = dir.path().join("expected.txt");
    fs::write(&text, top3_text(&e)).unwrap();
    let o = pack(
        dir.path(),
        &ft("sup_ngrams_q.ftz"),
        &sample,
        text.to_str().unwrap(),
        &["--allow-quantized"],
    );
    assert!(o.status.success(), "{}", stdout(&o));
    // ...and the unquantized model's predictions are not the quantized one's.
    let dir2 = tempfile::tempdir().unwrap();
    let other = dir2.path().join("expected.txt");
    fs::write(&other, top3_text(&expect("sup_ngrams"))).unwrap();
    let o = pack(
        dir2.path(),
        &ft("sup_ngrams_q.ftz"),
        &sample,
        other.to_str().unwrap(),
        &["--allow-quantized"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert_eq!(listing(dir2.path()), vec!["expected.txt".to_string()]);
}

#[test]
fn word_vector_models_pass_with_json_lines_vectors() {
    for stem in ["sg", "cbow_nosub"] {
        let dir = tempfile::tempdir().unwrap();
        let e = expect(stem);
        let wv = e["word_vectors"].as_array().unwrap();
        assert!(wv.len() > 10);
        let words: Vec<&str> = wv.iter().map(|w| w["word"].as_str().unwrap()).collect();
        let sample = dir.path().join("words.txt");
        fs::write(&sample, words.join("\n") + "\n").unwrap();
        let jl = dir.path().join("expected.jsonl");
        let body: String = wv
            .iter()
            .map(|w| {
                serde_json::to_string(&json!({"word": w["word"], "vector": w["vector"]})).unwrap()
                    + "\n"
            })
            .collect();
        fs::write(&jl, body).unwrap();
        let o = pack(
            dir.path(),
            &ft(&format!("{stem}.bin")),
            sample.to_str().unwrap(),
            jl.to_str().unwrap(),
            &[],
        );
        assert!(o.status.success(), "{stem}: {}", stdout(&o));
        let s = &report(&o)["outcome"]["manifest"]["sample"];
        assert_eq!(s["content_type"], "application/jsonlines");
        assert_eq!(s["columns"], e["dimension"]);
        assert_eq!(s["rows"], wv.len());
    }
}

#[test]
fn a_swapped_label_or_an_off_probability_stops_packing() {
    let e = expect("sup_softmax");
    let good = top3_text(&e);
    // Line 5: swap its first two labels.
    let mut lines: Vec<String> = good.lines().map(String::from).collect();
    let t: Vec<&str> = lines[4].split(' ').collect();
    lines[4] = format!("{} {} {} {} {} {}", t[2], t[1], t[0], t[3], t[4], t[5]);
    let swapped = lines.join("\n") + "\n";
    // Line 7: first probability off by 1e-3.
    let mut lines: Vec<String> = good.lines().map(String::from).collect();
    let mut t: Vec<String> = lines[6].split(' ').map(String::from).collect();
    t[1] = (t[1].parse::<f64>().unwrap() + 1e-3).to_string();
    lines[6] = t.join(" ");
    let off = lines.join("\n") + "\n";
    for (what, body, line) in [("swapped", swapped, "line 5"), ("off", off, "line 7")] {
        let dir = tempfile::tempdir().unwrap();
        let sample = write_sample(dir.path(), &e);
        let x = dir.path().join("expected.txt");
        fs::write(&x, &body).unwrap();
        let o = pack(
            dir.path(),
            &ft("sup_softmax.bin"),
            &sample,
            x.to_str().unwrap(),
            &[],
        );
        assert_eq!(o.status.code(), Some(1), "{what}: {}", stdout(&o));
        let r = report(&o);
        let f = sample_finding(&r);
        assert_eq!(f["code"], "ft.sample.mismatch", "{what}");
        assert_eq!(f["severity"], "error");
        let msg = f["message"].as_str().unwrap();
        assert!(
            msg.contains(line) && msg.contains("1 line(s) differ"),
            "{what}: {msg}"
        );
        // Nothing was written: only the two inputs remain.
        assert_eq!(listing(dir.path()), vec!["expected.txt", "sample.txt"]);
    }
}

#[test]
fn shape_problems_are_unevaluable_and_write_nothing() {
    let e = expect("sup_softmax");
    let good = top3_text(&e);
    let short: String = good.lines().take(10).map(|l| format!("{l}\n")).collect();
    let cases = [
        (
            "fewer answers",
            short,
            "62 sample lines but 10 expected answers",
        ),
        (
            "odd tokens",
            "__label__food\n".repeat(62),
            "expected `label prob` pairs",
        ),
        (
            "vector for a classifier",
            format!(
                "[{}]",
                vec!["{\"word\": \"a\", \"vector\": [1]}"; 62].join(",")
            ),
            "the model is a classifier",
        ),
        ("bad json", "[{\"label\": ".into(), "not valid JSON"),
    ];
    for (what, body, needle) in cases {
        let dir = tempfile::tempdir().unwrap();
        let sample = write_sample(dir.path(), &e);
        let x = dir.path().join("expected.txt");
        fs::write(&x, &body).unwrap();
        let o = pack(
            dir.path(),
            &ft("sup_softmax.bin"),
            &sample,
            x.to_str().unwrap(),
            &[],
        );
        assert_eq!(o.status.code(), Some(1), "{what}: {}", stdout(&o));
        let f = sample_finding(&report(&o));
        assert_eq!(f["code"], "ft.sample.unevaluable", "{what}");
        assert!(
            f["message"].as_str().unwrap().contains(needle),
            "{what}: {f}"
        );
        assert_eq!(listing(dir.path()), vec!["expected.txt", "sample.txt"]);
    }
}

#[test]
fn the_human_report_shows_the_sample_and_a_missing_file_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let e = expect("sup_hs");
    let sample = write_sample(dir.path(), &e);
    let x = dir.path().join("expected.txt");
    fs::write(&x, top3_text(&e)).unwrap();
    let o = run_in(
        dir.path(),
        &[
            "fasttext",
            &ft("sup_hs.bin"),
            "--sample",
            &sample,
            "--expect",
            x.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("sample"), "{}", stdout(&o));
    let o = run_in(
        dir.path(),
        &[
            "fasttext",
            &ft("sup_hs.bin"),
            "--sample",
            &sample,
            "--expect",
            "missing.txt",
            "-o",
            "b.tar.gz",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("missing.txt"), "{}", stderr(&o));
    assert!(!dir.path().join("b.tar.gz").exists());
}
