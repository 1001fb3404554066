//! `sm-pack predict` for XGBoost models and the sample gate of
//! `sm-pack xgboost --sample … --expect …`.

mod common;

use common::{bin, example_model, listing, repo, stdout};
use std::fs;
use std::path::{Path, PathBuf};

fn example(name: &str) -> PathBuf {
    repo().join("testdata/example").join(name)
}

fn fixture(name: &str) -> PathBuf {
    repo().join("testdata/xgboost").join(name)
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn run(args: &[&str]) -> std::process::Output {
    bin().args(args).output().expect("run sm-pack")
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn numbers(text: &str) -> Vec<Vec<f64>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split(',')
                .map(|v| v.trim().parse().expect("number"))
                .collect()
        })
        .collect()
}

#[test]
fn predict_reproduces_the_expected_sample() {
    let o = run(&[
        "predict",
        p(&example_model()),
        "--input",
        p(&example("sample.csv")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = numbers(&stdout(&o));
    let want = numbers(&fs::read_to_string(example("sample.expected.csv")).unwrap());
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert!(
            (g[0] - w[0]).abs() <= 1e-6 * w[0].abs().max(1.0),
            "{g:?} vs {w:?}"
        );
    }
    // Python's repr of the float32 value, as the container's text/csv response.
    assert!(
        stdout(&o).starts_with("0.6120294332504272\n"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn json_output_is_the_container_response() {
    let o = run(&[
        "--json",
        "predict",
        p(&fixture("3.2.0/softprob.json")),
        "--input",
        p(&fixture("inputs/dense5.csv")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let preds = v["predictions"].as_array().expect("predictions");
    assert_eq!(preds.len(), 200);
    assert_eq!(preds[0]["score"].as_array().map(Vec::len), Some(3));
    // One value per row for a binary model: {"score": x}.
    let o = run(&[
        "--json",
        "predict",
        p(&example_model()),
        "--input",
        p(&example("sample.csv")),
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert!(v["predictions"][0]["score"].is_f64());
}

#[test]
fn predictions_match_the_library_files() {
    for (model, input, pred, margin) in [
        (
            "3.2.0/softmax.json",
            "inputs/dense5.csv",
            "3.2.0/softmax.pred.csv",
            false,
        ),
        (
            "3.2.0/softmax.json",
            "inputs/dense5.csv",
            "3.2.0/softmax.margin.csv",
            true,
        ),
        (
            "1.7.4/cat.json",
            "inputs/cat.csv",
            "1.7.4/cat.pred.csv",
            false,
        ),
        (
            "0.90/dart.bin",
            "inputs/dense5.csv",
            "0.90/dart.pred.csv",
            false,
        ),
        (
            "2.0.3/mtree.ubj",
            "inputs/dense5.csv",
            "2.0.3/mtree.pred.csv",
            false,
        ),
    ] {
        let (mp, inp) = (fixture(model), fixture(input));
        let mut args = vec!["predict", p(&mp), "--input"];
        args.push(p(&inp));
        if margin {
            args.push("--margin");
        }
        let o = run(&args);
        assert!(o.status.success(), "{model}: {}", stderr(&o));
        let got = numbers(&stdout(&o));
        let want = numbers(&fs::read_to_string(fixture(pred)).unwrap());
        assert_eq!(got.len(), want.len(), "{model}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.len(), w.len(), "{model}");
            for (a, b) in g.iter().zip(w) {
                assert_eq!(*a as f32, *b as f32, "{model}");
            }
        }
    }
}

/// The sample as a libsvm body (label 0, missing values left out), with
/// 0- or 1-based indices.
fn sample_as_libsvm(one_based: bool) -> String {
    let csv = fs::read_to_string(example("sample.csv")).unwrap();
    let mut out = String::new();
    for line in csv.lines() {
        out.push('0');
        for (i, v) in line.split(',').enumerate() {
            if !v.is_empty() {
                out.push_str(&format!(" {}:{v}", i + usize::from(one_based)));
            }
        }
        out.push('\n');
    }
    out
}

#[test]
fn libsvm_input_and_the_3_2_index_shift() {
    let dir = tempfile::tempdir().unwrap();
    let csv = run(&[
        "predict",
        p(&example_model()),
        "--input",
        p(&example("sample.csv")),
    ]);
    let zero = dir.path().join("zero.libsvm");
    fs::write(&zero, sample_as_libsvm(false)).unwrap();
    let one = dir.path().join("one.libsvm");
    fs::write(&one, sample_as_libsvm(true)).unwrap();
    // Sniffed and explicit content types agree with the CSV body.
    for args in [
        vec!["predict", p(&example_model()), "--input", p(&zero)],
        vec![
            "predict",
            p(&example_model()),
            "--input",
            p(&zero),
            "--content-type",
            "text/libsvm",
        ],
    ] {
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o), stdout(&csv));
    }
    // 3.2-0 shifts 1-based indices down; 1.7-1 does not.
    let o = run(&[
        "predict",
        p(&example_model()),
        "--input",
        p(&one),
        "--container",
        "3.2-0",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), stdout(&csv));
    let o = run(&[
        "predict",
        p(&example_model()),
        "--input",
        p(&one),
        "--container",
        "1.7-1",
    ]);
    assert_ne!(stdout(&o), stdout(&csv), "{}", stderr(&o));
}

#[test]
fn container_predictions_apply_best_ntree_limit() {
    // A 1.5.2 early-stopped pickle: 1.5-1 predicts with best_ntree_limit,
    // which differs from the producer's prediction with every tree.
    let model = fixture("1.5.2/early-stop.p4.pkl");
    let input = fixture("inputs/dense5.csv");
    let all = run(&["predict", p(&model), "--input", p(&input)]);
    assert!(all.status.success(), "{}", stderr(&all));
    let c = run(&[
        "predict",
        p(&model),
        "--input",
        p(&input),
        "--container",
        "1.5-1",
    ]);
    assert!(c.status.success(), "{}", stderr(&c));
    assert!(stderr(&c).contains("best_ntree_limit="), "{}", stderr(&c));
    assert_ne!(stdout(&all), stdout(&c));
    // -q keeps stderr clean.
    let q = run(&[
        "-q",
        "predict",
        p(&model),
        "--input",
        p(&input),
        "--container",
        "1.5-1",
    ]);
    assert_eq!(stdout(&q), stdout(&c));
    assert!(stderr(&q).is_empty(), "{}", stderr(&q));
}

#[test]
fn bad_requests_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let wide = dir.path().join("wide.csv");
    fs::write(&wide, "1,2,3,4,5,6\n").unwrap();
    let o = run(&["predict", p(&example_model()), "--input", p(&wide)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("6 features"), "{}", stderr(&o));
    // A pickled model in a container: serve_utils' own check and message.
    let narrow = dir.path().join("narrow.csv");
    fs::write(&narrow, "1,2,3\n").unwrap();
    let o = run(&[
        "predict",
        p(&fixture("1.7.4/logistic.p4.pkl")),
        "--input",
        p(&narrow),
        "--container",
        "1.7-1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("Feature size of text/csv inference data 3 is not consistent"),
        "{}",
        stderr(&o)
    );
    let ragged = dir.path().join("ragged.csv");
    fs::write(&ragged, "1,2,3\n1,2\n").unwrap();
    let o = run(&["predict", p(&example_model()), "--input", p(&ragged)]);
    assert_eq!(o.status.code(), Some(2));
    // A container that cannot load the model.
    let o = run(&[
        "predict",
        p(&fixture("3.2.0/logistic.ubj")),
        "--input",
        p(&fixture("inputs/dense5.csv")),
        "--container",
        "1.0-1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("fails to load"), "{}", stderr(&o));
    // fastText-only and XGBoost-only options.
    let o = run(&[
        "predict",
        p(&example_model()),
        "--input",
        p(&example("sample.csv")),
        "-k",
        "3",
    ]);
    assert_eq!(o.status.code(), Some(2));
    // Not a model.
    let o = run(&["predict", p(&example("sample.csv")), "--input", p(&wide)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

#[test]
fn stdin_input_works() {
    use std::io::Write;
    let mut child = bin()
        .args(["predict", p(&example_model())])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b",108.593971,1,12,11.5252924\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    assert_eq!(stdout(&o), "0.6120294332504272\n");
}

/// RecordIO-protobuf bodies the SageMaker SDK wrote (dense float32, dense
/// float64 with labels, sparse) predict the real library's numbers, sniffed
/// or named; the packing gate takes one as its sample.
#[test]
fn recordio_protobuf_inputs_predict_the_library_numbers() {
    let rec = |name: &str| repo().join("testdata/serve/recordio").join(name);
    // Both as float32: the library's file holds %.9g, the response Python's repr.
    let f32s =
        |t: &str| -> Vec<f32> { numbers(t).into_iter().flatten().map(|v| v as f32).collect() };
    let want = f32s(&fs::read_to_string(fixture("1.7.4/logistic.pred.csv")).unwrap());
    assert_eq!(want.len(), 200);
    for (name, ct) in [
        ("dense5.dense-f32.rec", None),
        (
            "dense5.dense-f64-labels.rec",
            Some("application/x-recordio-protobuf"),
        ),
        ("dense5.sparse-f32.rec", Some("recordio-protobuf")),
    ] {
        let (model, input) = (fixture("1.7.4/logistic.json"), rec(name));
        let mut args = vec!["predict", p(&model), "--input", p(&input)];
        if let Some(ct) = ct {
            args.extend(["--content-type", ct]);
        }
        let o = run(&args);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert_eq!(f32s(&stdout(&o)), want, "{name}");
    }
    // Too narrow for a pickled model, in the container's words.
    let o = run(&[
        "predict",
        p(&fixture("1.7.4/logistic.p4.pkl")),
        "--container",
        "1.7-1",
        "--input",
        p(&rec("dense5-3cols.dense-f32.rec")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Feature size of recordio-protobuf inference data 3"),
        "{}",
        stderr(&o)
    );
    // A CSV named as RecordIO says what it found.
    let o = run(&[
        "predict",
        p(&fixture("1.7.4/logistic.json")),
        "--content-type",
        "application/x-recordio-protobuf",
        "--input",
        p(&fixture("inputs/dense5.csv")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("does not start with the RecordIO magic"),
        "{}",
        stderr(&o)
    );

    // The gate: a RecordIO sample against the library's predictions.
    let dir = tempfile::tempdir().unwrap();
    let o = bin()
        .current_dir(dir.path())
        .args([
            "xgboost",
            p(&fixture("1.7.4/logistic.json")),
            "--container",
            "1.7-1",
            "--sample",
            p(&rec("dense5.sparse-f32.rec")),
            "--expect",
            p(&fixture("1.7.4/logistic.pred.csv")),
            "-o",
            "m.tar.gz",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("m.tar.gz.manifest.json")).unwrap())
            .unwrap();
    assert_eq!(
        m["sample"]["content_type"],
        "application/x-recordio-protobuf"
    );
    assert_eq!(m["sample"]["rows"], 200);
    assert_eq!(m["sample"]["result"], "pass");
}

// ------------------------------------------------------------- sample gate

fn pack(dir: &Path, extra: &[&str]) -> std::process::Output {
    let model = example_model();
    let mut args = vec!["xgboost", p(&model)];
    args.extend_from_slice(extra);
    bin()
        .current_dir(dir)
        .args(&args)
        .output()
        .expect("run sm-pack")
}

#[test]
fn sample_gate_passes_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let sample = example("sample.csv");
    let expect = example("sample.expected.csv");
    let o = pack(
        dir.path(),
        &[
            "--sample",
            p(&sample),
            "--expect",
            p(&expect),
            "-o",
            "m.tar.gz",
        ],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("sample    sample.csv: 8 rows"),
        "{}",
        stdout(&o)
    );
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("m.tar.gz.manifest.json")).unwrap())
            .unwrap();
    let s = &m["sample"];
    assert_eq!(s["rows"], 8);
    assert_eq!(s["columns"], 1);
    assert_eq!(s["result"], "pass");
    assert_eq!(s["content_type"], "text/csv");
    assert_eq!(s["tolerance"], 1e-6);
    assert!(s["max_abs_diff"].as_f64().unwrap() < 1e-6);
    assert_eq!(
        s["input_sha256"],
        sm_pack::hash::sha256_hex(&fs::read(&sample).unwrap())
    );
    assert_eq!(
        s["expected_sha256"],
        sm_pack::hash::sha256_hex(&fs::read(&expect).unwrap())
    );
    let schema: serde_json::Value =
        serde_json::from_slice(&fs::read(repo().join("formats/manifest.schema.json")).unwrap())
            .unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v.iter_errors(&m).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // Without --sample the manifest has no sample record (and stays as before).
    let o = pack(dir.path(), &["-o", "plain.tar.gz"]);
    assert!(o.status.success());
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("plain.tar.gz.manifest.json")).unwrap())
            .unwrap();
    assert!(m.get("sample").is_none());
    // With a container tag (converted for 0.90-2: the converted bytes are checked).
    let o = pack(
        dir.path(),
        &[
            "--sample",
            p(&sample),
            "--expect",
            p(&expect),
            "--container",
            "0.90-2",
            "-o",
            "old.tar.gz",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let s = &r["outcome"]["manifest"]["sample"];
    assert_eq!(s["result"], "pass", "{r:#}");
    assert!(s["semantics"].as_str().unwrap().contains("0.90-2"), "{s}");
}

#[test]
fn sample_gate_fails_with_a_diff_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.csv");
    let text = fs::read_to_string(example("sample.expected.csv")).unwrap();
    fs::write(&wrong, text.replace("0.581150055", "0.5812")).unwrap();
    let before = listing(dir.path());
    let o = pack(
        dir.path(),
        &[
            "--sample",
            p(&example("sample.csv")),
            "--expect",
            p(&wrong),
            "-o",
            "m.tar.gz",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("xgb.sample.mismatch"), "{out}");
    assert!(
        out.contains("row 3, column 1: expected 0.5812, got 0.5811500549316406"),
        "{out}"
    );
    assert_eq!(listing(dir.path()), before, "nothing may be written");
    // A looser tolerance lets it through.
    let o = pack(
        dir.path(),
        &[
            "--sample",
            p(&example("sample.csv")),
            "--expect",
            p(&wrong),
            "--tolerance",
            "1e-3",
            "-o",
            "m.tar.gz",
        ],
    );
    assert!(o.status.success(), "{}", stdout(&o));
    // Wrong row count: a shape error.
    let short = dir.path().join("short.csv");
    fs::write(&short, "0.5\n").unwrap();
    let o = pack(
        dir.path(),
        &[
            "--sample",
            p(&example("sample.csv")),
            "--expect",
            p(&short),
            "-o",
            "s.tar.gz",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("has 1 rows but the sample has 8"),
        "{}",
        stdout(&o)
    );
    // --sample without --expect is a usage error; a missing file is an I/O error.
    let o = pack(dir.path(), &["--sample", p(&example("sample.csv"))]);
    assert_eq!(o.status.code(), Some(2));
    let o = pack(
        dir.path(),
        &[
            "--sample",
            "nope.csv",
            "--expect",
            p(&short),
            "-o",
            "n.tar.gz",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!dir.path().join("n.tar.gz").exists());
}

#[test]
fn an_xgboost_sample_given_to_a_fasttext_model_is_unevaluable() {
    let dir = tempfile::tempdir().unwrap();
    let ft = repo().join("testdata/fasttext/cbow_nosub.bin");
    let o = bin()
        .current_dir(dir.path())
        .args([
            "fasttext",
            p(&ft),
            "--sample",
            p(&example("sample.csv")),
            "--expect",
            p(&example("sample.expected.csv")),
        ])
        .output()
        .unwrap();
    // The fastText gate (tests/fasttext_sample_gate.rs) reads CSV numbers
    // where word vectors (word v1 .. v12) are expected: a clear failure, nothing written.
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("ft.sample.mismatch"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("a vector of 12 values, expected 0"),
        "{}",
        stdout(&o)
    );
    assert_eq!(listing(dir.path()), Vec::<String>::new());
}
