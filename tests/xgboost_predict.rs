//! The evaluator (`sm_pack::xgboost::predict`) against the real libraries.
//!
//! * Every fixture in `testdata/xgboost/index.json` (1267 models written by
//!   XGBoost 0.90 … 3.2.0): margins and plain predictions equal the
//!   producer's CSVs to 1e-6 relative (`|Δ| / max(1, |x|)`), class indices
//!   and hinge labels exactly.
//! * Every (fixture, container) cell of `testdata/xgboost/container-matrix.json`
//!   that loads or mispredicts: `predict_as_container` either reproduces what
//!   the container's xgboost returned (shape, sums, first row, and the
//!   difference to the producer) or refuses with a reason; the refusals are
//!   counted and bounded.
//! * Options: tree limits, threads (bit-identical), rows narrower than the
//!   model, wrong widths.
//! * Hostile IR: cycles, out-of-range children, features, groups, weights,
//!   categories never panic.

use serde_json::Value;
use sm_pack::xgboost::ir::*;
use sm_pack::xgboost::predict::*;
use sm_pack::xgboost::read_model;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/xgboost")
}

fn index() -> Value {
    let text = std::fs::read_to_string(root().join("index.json")).expect("index.json");
    serde_json::from_str(&text).expect("index.json parses")
}

/// A fixture CSV: no header, empty field = NaN.
fn csv(path: &Path) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_expected(&text).expect("fixture CSV")
}

fn input(rel: &str, cache: &mut BTreeMap<String, DenseMatrix>) -> DenseMatrix {
    cache
        .entry(rel.to_string())
        .or_insert_with(|| {
            let text = std::fs::read_to_string(root().join(rel)).expect("input");
            parse_csv(&text).expect("input CSV")
        })
        .clone()
}

/// Largest `|a − b| / max(1, |b|)` (NaN on both sides counts as equal);
/// `None` for a shape difference. Also counts bit-identical values.
fn max_rel(ours: &Predictions, theirs: &[Vec<f64>], exact: &mut usize) -> Option<f64> {
    if ours.rows() != theirs.len() {
        return None;
    }
    let mut worst = 0f64;
    for (r, want) in theirs.iter().enumerate() {
        let have = ours.row(r);
        if have.len() != want.len() {
            return None;
        }
        for (&h, &w) in have.iter().zip(want) {
            // The CSVs hold float32 values printed with %.9g (exact round trip).
            if (h.is_nan() && w.is_nan()) || h == w as f32 {
                *exact += 1;
                continue;
            }
            let h = f64::from(h);
            if h == w {
                *exact += 1;
                continue;
            }
            let d = (h - w).abs() / w.abs().max(1.0);
            worst = worst.max(if d.is_nan() { f64::INFINITY } else { d });
        }
    }
    Some(worst)
}

#[test]
fn every_fixture_predicts_like_its_producer() {
    let idx = index();
    let entries = idx["entries"].as_array().expect("entries");
    assert!(entries.len() >= 1267, "{} entries", entries.len());
    let mut cache = BTreeMap::new();
    let mut failures = Vec::new();
    let (mut values, mut exact) = (0usize, 0usize);
    let (mut worst_margin, mut worst_pred) = (0f64, 0f64);
    for e in entries {
        let file = e["file"].as_str().expect("file");
        let bytes = std::fs::read(root().join(file)).expect("model");
        let (model, _) = match read_model(&bytes) {
            Ok(m) => m,
            Err(err) => {
                failures.push(format!("{file}: read: {err}"));
                continue;
            }
        };
        let x = input(e["input"].as_str().expect("input"), &mut cache);
        let p = match Predictor::new(&model) {
            Ok(p) => p,
            Err(err) => {
                failures.push(format!("{file}: {err}"));
                continue;
            }
        };
        for (margin, key) in [(true, "pred_margin"), (false, "pred")] {
            let want = csv(&root().join(e[key].as_str().expect(key)));
            let opts = PredictOptions {
                margin,
                ..PredictOptions::default()
            };
            let got = match p.predict(&x, &opts) {
                Ok(g) => g,
                Err(err) => {
                    failures.push(format!("{file} ({key}): {err}"));
                    continue;
                }
            };
            values += got.values().len();
            match max_rel(&got, &want, &mut exact) {
                None => failures.push(format!(
                    "{file} ({key}): shape {}x{} vs library {}x{}",
                    got.rows(),
                    got.width(),
                    want.len(),
                    want.first().map_or(0, Vec::len)
                )),
                Some(d) => {
                    let limit = if got.is_integer() { 0.0 } else { 1e-6 };
                    if d > limit {
                        failures.push(format!("{file} ({key}): max relative diff {d:.3e}"));
                    }
                    if margin {
                        worst_margin = worst_margin.max(d);
                    } else {
                        worst_pred = worst_pred.max(d);
                    }
                }
            }
        }
    }
    eprintln!(
        "{} fixtures, {values} values: {exact} bit-identical ({:.4}%), max relative diff margins {worst_margin:.3e}, predictions {worst_pred:.3e}",
        entries.len(),
        100.0 * exact as f64 / values.max(1) as f64
    );
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A number or the text the oracle writes for a non-finite one.
fn num(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => match s.as_str() {
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            _ => f64::NAN,
        },
        _ => f64::NAN,
    }
}

/// Compares our prediction with the oracle's digest of the container's.
fn matches_digest(p: &Predictions, d: &Value) -> Result<(), String> {
    let shape = [p.rows() as u64, p.width() as u64];
    let theirs = [d["shape"][0].as_u64(), d["shape"][1].as_u64()];
    if theirs != [Some(shape[0]), Some(shape[1])] {
        return Err(format!("shape {shape:?} vs container {:?}", d["shape"]));
    }
    let vals: Vec<f64> = p.values().iter().map(|&v| f64::from(v)).collect();
    let fin: Vec<f64> = vals.iter().copied().filter(|v| v.is_finite()).collect();
    let nan = vals.iter().filter(|v| v.is_nan()).count() as u64;
    let inf = vals.iter().filter(|v| v.is_infinite()).count() as u64;
    if d["nan"].as_u64() != Some(nan) || d["inf"].as_u64() != Some(inf) {
        return Err(format!(
            "{nan} NaN / {inf} inf vs container {} / {}",
            d["nan"], d["inf"]
        ));
    }
    let sum: f64 = fin.iter().sum();
    let l1: f64 = fin.iter().map(|v| v.abs()).sum();
    let (tsum, tl1) = (num(&d["sum"]), num(&d["l1"]));
    // Each value may differ by 1e-6 relative: the sums by that much of l1.
    let tol = 1e-6 * tl1.max(1.0);
    if (sum - tsum).abs() > tol || (l1 - tl1).abs() > tol {
        return Err(format!("sum {sum} / l1 {l1} vs container {tsum} / {tl1}"));
    }
    let row0 = d["row0"].as_array().cloned().unwrap_or_default();
    for (i, (ours, theirs)) in p.row(0).iter().zip(row0.iter().map(num)).enumerate() {
        let ours = f64::from(*ours);
        let same = (ours.is_nan() && theirs.is_nan())
            || ours == theirs
            || (ours - theirs).abs() <= 1e-6 * theirs.abs().max(1.0);
        if !same {
            return Err(format!("row 1 value {i}: {ours} vs container {theirs}"));
        }
    }
    Ok(())
}

#[test]
fn containers_predict_what_the_oracle_recorded() {
    let path = root().join("container-matrix.json");
    let oracle: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("container-matrix.json"))
            .expect("json");
    let tags = oracle["tags"].as_object().expect("tags").clone();
    let idx = index();
    let by_file: BTreeMap<&str, &Value> = idx["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| (e["file"].as_str().unwrap_or_default(), e))
        .collect();
    let table = sm_pack::container::ContainerTable::builtin().expect("table");
    let mut cache = BTreeMap::new();
    let mut failures = Vec::new();
    let (mut reproduced, mut refused, mut cells) = (0usize, BTreeMap::new(), 0usize);
    let mut digests = 0usize;
    for (file, per_version) in oracle["results"].as_object().expect("results") {
        let e = by_file[file.as_str()];
        let bytes = std::fs::read(root().join(file)).expect("model");
        let (model, _) = read_model(&bytes).expect("fixture reads");
        let x = input(e["input"].as_str().expect("input"), &mut cache);
        let producer = csv(&root().join(e["pred"].as_str().expect("pred")));
        for (tag, xgb) in &tags {
            let Some(cell) = per_version.get(xgb.as_str().unwrap_or_default()) else {
                continue;
            };
            let outcome = cell["outcome"].as_str().unwrap_or_default();
            if outcome != "loads" && outcome != "mispredicts" {
                continue;
            }
            // The oracle's venvs run a newer Python than some containers: a
            // pickle protocol the container's Python cannot read is not a
            // prediction question.
            let c = table.require(tag).expect("tag");
            if let Some(p) = &model.source.pickle
                && c.pickle_protocol_reason(p.protocol, None).is_some()
            {
                continue;
            }
            cells += 1;
            let got = predict_as_container(&model, Some(&bytes), tag, &x, false);
            let got = match got {
                Ok(g) => g,
                Err(err) => {
                    // Refusing is allowed only for a mispredicting cell whose
                    // numbers sm-pack does not claim to reproduce.
                    if outcome == "loads" || !err.to_string().contains("cannot reproduce") {
                        failures.push(format!("{file} under {tag} ({outcome}): refused: {err}"));
                    } else {
                        let key = err.to_string();
                        let key = key
                            .split(": ")
                            .nth(1)
                            .unwrap_or(&key)
                            .chars()
                            .take(60)
                            .collect::<String>();
                        *refused.entry(key).or_insert(0usize) += 1;
                    }
                    continue;
                }
            };
            // The difference to the producer, as the oracle measured it.
            let mut exact = 0;
            let d = max_rel(&got, &producer, &mut exact);
            let recorded = match &cell["max_rel_diff"] {
                Value::Number(n) => n.as_f64(),
                Value::String(_) => None, // "shape"
                _ => Some(0.0),
            };
            let agree = match (d, recorded) {
                (None, None) => true,
                (Some(a), Some(b)) => {
                    (a <= 1e-6 && b <= 1e-6) || (a - b).abs() <= 1e-6 * b.abs().max(1.0)
                }
                _ => false,
            };
            if !agree {
                failures.push(format!(
                    "{file} under {tag} ({outcome}): our difference to the producer {d:?} vs recorded {recorded:?}"
                ));
                continue;
            }
            for (key, margin) in [("pred", false), ("margin", true)] {
                if cell.get(key).is_none() {
                    continue;
                }
                let p = if margin {
                    predict_as_container(&model, Some(&bytes), tag, &x, true).expect("margin")
                } else {
                    got.clone()
                };
                digests += 1;
                if let Err(msg) = matches_digest(&p, &cell[key]) {
                    failures.push(format!("{file} under {tag} ({outcome}, {key}): {msg}"));
                }
            }
            reproduced += 1;
        }
    }
    let total_refused: usize = refused.values().sum();
    eprintln!(
        "{cells} loading/mispredicting cells: {reproduced} reproduced ({digests} digests checked), {total_refused} refused:"
    );
    for (k, n) in &refused {
        eprintln!("  {n:5}  {k}");
    }
    assert!(
        failures.is_empty(),
        "{} cells disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cells > 5000, "{cells} cells");
    assert!(reproduced > 5000, "{reproduced} of {cells}");
}

fn model(file: &str) -> (Model, Vec<u8>) {
    let bytes = std::fs::read(root().join(file)).expect(file);
    (read_model(&bytes).expect(file).0, bytes)
}

fn dense5() -> DenseMatrix {
    let text = std::fs::read_to_string(root().join("inputs/dense5.csv")).expect("dense5");
    parse_csv(&text).expect("csv")
}

#[test]
fn threads_give_bit_identical_results() {
    let (m, _) = model("3.2.0/softprob.json");
    let p = Predictor::new(&m).expect("predictor");
    // 200 rows repeated to 20_000 so the parallel path runs.
    let x = dense5();
    let mut big = Vec::new();
    for _ in 0..100 {
        big.extend_from_slice(x.values());
    }
    let big = DenseMatrix::new(big, x.rows() * 100, x.cols()).expect("matrix");
    let one = p
        .predict(
            &big,
            &PredictOptions {
                threads: 1,
                ..Default::default()
            },
        )
        .expect("1 thread");
    for t in [2, 3, 7, 0] {
        let many = p
            .predict(
                &big,
                &PredictOptions {
                    threads: t,
                    ..Default::default()
                },
            )
            .expect("threads");
        let a: Vec<u32> = one.values().iter().map(|v| v.to_bits()).collect();
        let b: Vec<u32> = many.values().iter().map(|v| v.to_bits()).collect();
        assert_eq!(a, b, "{t} threads");
    }
    assert_eq!(one.row(0), one.row(200));
}

/// Margins as bits, for bit-for-bit comparisons.
fn bits(p: &Predictions) -> Vec<u32> {
    p.values().iter().map(|v| v.to_bits()).collect()
}

#[test]
fn kernels_give_bit_identical_results() {
    // Every fixture, every kernel this CPU runs, against the portable one;
    // row counts that leave partial SIMD vectors and blocks.
    let kernels: Vec<Kernel> = Kernel::available()
        .filter(|&k| k != Kernel::Portable)
        .collect();
    eprintln!(
        "kernels on this CPU: portable {}",
        kernels
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let idx = index();
    let mut cache = BTreeMap::new();
    let mut compared = 0usize;
    for e in idx["entries"].as_array().expect("entries") {
        let file = e["file"].as_str().expect("file");
        let bytes = std::fs::read(root().join(file)).expect("model");
        let Ok((model, _)) = read_model(&bytes) else {
            continue;
        };
        let Ok(p) = Predictor::new(&model) else {
            continue;
        };
        let x = input(e["input"].as_str().expect("input"), &mut cache);
        for rows in [1, 5, 16, 17, 63, 64, 65, x.rows()] {
            let rows = rows.min(x.rows());
            let sub = DenseMatrix::new(x.values()[..rows * x.cols()].to_vec(), rows, x.cols())
                .expect("rows");
            let run = |kernel| {
                let opts = PredictOptions {
                    margin: true,
                    threads: 1,
                    kernel,
                    ..PredictOptions::default()
                };
                p.predict(&sub, &opts).expect(file)
            };
            let want = bits(&run(Kernel::Portable));
            for &k in &kernels {
                assert_eq!(bits(&run(k)), want, "{file}, {rows} rows, {}", k.name());
                compared += 1;
            }
        }
    }
    eprintln!("{compared} comparisons");
    if !kernels.is_empty() {
        assert!(compared > 8000, "{compared} comparisons");
    }
    // A kernel the CPU lacks is refused, not silently replaced.
    if let Some(k) = [Kernel::Avx2, Kernel::Avx512]
        .into_iter()
        .find(|k| !k.is_available())
    {
        let (m, _) = model("1.7.4/logistic.json");
        let opts = PredictOptions {
            kernel: k,
            ..PredictOptions::default()
        };
        let err = Predictor::new(&m)
            .expect("predictor")
            .predict(&dense5(), &opts)
            .unwrap_err();
        assert!(err.to_string().contains(k.name()), "{err}");
    }
}

#[test]
fn tree_limits_select_rounds() {
    let (m, _) = model("3.2.0/softprob.json");
    let p = Predictor::new(&m).expect("predictor");
    assert_eq!(p.rounds(), 5);
    assert_eq!(p.tree_range(TreeLimit::All).unwrap(), 0..15);
    assert_eq!(p.tree_range(TreeLimit::NtreeLimit(2)).unwrap(), 0..6);
    assert_eq!(p.tree_range(TreeLimit::NtreeLimit(0)).unwrap(), 0..15);
    assert_eq!(p.tree_range(TreeLimit::NtreeLimit(99)).unwrap(), 0..15);
    assert_eq!(
        p.tree_range(TreeLimit::Iterations { begin: 1, end: 3 })
            .unwrap(),
        3..9
    );
    assert_eq!(
        p.tree_range(TreeLimit::Iterations { begin: 2, end: 0 })
            .unwrap(),
        6..15
    );
    assert!(
        p.tree_range(TreeLimit::Iterations { begin: 0, end: 6 })
            .is_err()
    );
    assert!(
        p.tree_range(TreeLimit::Iterations { begin: 4, end: 3 })
            .is_err()
    );
    // Rounds 0..0 (an empty range) leaves only the intercept.
    let x = dense5();
    let opts = PredictOptions {
        margin: true,
        limit: TreeLimit::Iterations { begin: 2, end: 2 },
        threads: 1,
        ..PredictOptions::default()
    };
    let only_base = p.predict(&x, &opts).expect("empty range");
    assert_eq!(only_base.row(0), p.base_margins());
    // Random forest: 4 parallel trees per round.
    let (rf, _) = model("3.2.0/rf.json");
    let p = Predictor::new(&rf).expect("rf");
    assert_eq!(p.rounds(), 2);
    assert_eq!(
        p.tree_range(TreeLimit::Iterations { begin: 0, end: 1 })
            .unwrap(),
        0..4
    );
}

#[test]
fn narrow_rows_are_missing_and_wide_rows_refused() {
    let (m, _) = model("1.7.4/logistic.json");
    let p = Predictor::new(&m).expect("predictor");
    let full = p
        .predict_row(&[f32::NAN, f32::NAN, 1.0, f32::NAN, f32::NAN], false)
        .expect("full");
    let narrow = p
        .predict_row(&[f32::NAN, f32::NAN, 1.0], false)
        .expect("narrow");
    assert_eq!(full, narrow);
    let err = p.predict_row(&[0.0; 6], false).unwrap_err().to_string();
    assert!(err.contains("6 features") && err.contains("has 5"), "{err}");
}

#[test]
fn outputs_have_the_library_shapes() {
    let x = dense5();
    let cases = [
        ("3.2.0/softmax.json", false, 1, OutputKind::ClassIndex),
        ("3.2.0/softmax.json", true, 3, OutputKind::Margin),
        ("3.2.0/softprob.json", false, 3, OutputKind::Value),
        ("3.2.0/hinge.json", false, 1, OutputKind::Label),
        ("3.2.0/mtree.json", false, 2, OutputKind::Value),
        ("3.2.0/quantile-multi.json", false, 3, OutputKind::Value),
        ("3.2.0/gblinear-multi.json", false, 3, OutputKind::Value),
    ];
    for (file, margin, width, kind) in cases {
        let (m, _) = model(file);
        let p = predict(&m, &x, margin).expect(file);
        assert_eq!(
            (p.rows(), p.width(), p.kind()),
            (200, width, kind),
            "{file}"
        );
    }
}

#[test]
fn container_plans_apply_best_ntree_limit() {
    // A 1.3.3 early-stopped pickle: the container passes best_ntree_limit.
    let (m, bytes) = model("1.5.2/early-stop.p4.pkl");
    let plan = container_plan(&m, Some(&bytes), "1.5-1").expect("plan");
    assert!(plan.best_ntree_limit.is_some(), "{plan:?}");
    assert_eq!(plan.xgboost, "1.5.2");
    // 0.90 predicts DART with random dropout unless a limit is set: refused.
    let (m, bytes) = model("0.90/dart.bin");
    let err = container_plan(&m, Some(&bytes), "0.90-2").unwrap_err();
    assert!(err.to_string().contains("cannot reproduce"), "{err}");
    // A container that cannot load the model says so.
    let (m, bytes) = model("3.2.0/logistic.ubj");
    let err = predict_as_container(&m, Some(&bytes), "1.0-1", &dense5(), false).unwrap_err();
    assert!(err.to_string().contains("fails to load"), "{err}");
    assert!(predict_as_container(&m, Some(&bytes), "no-such-tag", &dense5(), false).is_err());
}

#[test]
fn request_bodies_parse_like_the_container() {
    let m = parse_csv("1,,nan\n 2 ,3.5,NaN\r\n").expect("csv");
    assert_eq!((m.rows(), m.cols()), (2, 3));
    assert_eq!(m.row(1)[0], 2.0);
    assert!(m.row(0)[1].is_nan() && m.row(0)[2].is_nan());
    assert!(parse_csv("1,2\n3").is_err());
    assert!(parse_csv("a,b\n1,2").is_err());
    assert_eq!(parse_csv("").expect("empty").rows(), 0);

    let s = parse_libsvm("1 0:1.5 2:3\n0 1:2 1:0.5", false, 10).expect("libsvm");
    assert_eq!((s.rows(), s.cols()), (2, 3));
    assert_eq!(s.row(0)[0], 1.5);
    assert!(s.row(0)[1].is_nan());
    assert_eq!(s.row(1)[1], 2.5, "duplicates are summed");
    // 3.2-0 shifts 1-based indices.
    let s = parse_libsvm("1 1:1.5 3:3", true, 10).expect("shifted");
    assert_eq!((s.cols(), s.row(0)[0], s.row(0)[2]), (3, 1.5, 3.0));
    let s = parse_libsvm("1 0:1.5 3:3", true, 10).expect("not shifted");
    assert_eq!(s.cols(), 4);
    assert!(parse_libsvm("1 0:1 99999999999:1", false, 10).is_err());
    assert!(parse_libsvm("1 -1:1", false, 10).is_err());
    assert_eq!(ContentType::sniff("1 0:1 3:2"), ContentType::Libsvm);
    assert_eq!(ContentType::sniff("1,2,3"), ContentType::Csv);
    assert!(container_feature_check(5, 4, ContentType::Csv).is_ok());
    let e = container_feature_check(5, 3, ContentType::Csv).unwrap_err();
    assert!(e.to_string().contains("not consistent"), "{e}");
    assert!(container_feature_check(5, 7, ContentType::Libsvm).is_err());
}

#[test]
fn responses_are_formatted_like_the_container() {
    let (m, _) = model("3.2.0/softprob.json");
    let x = DenseMatrix::from_rows(&[vec![1.0f32, 2.0, f32::NAN, 0.5, 3.0]]).expect("row");
    let p = predict(&m, &x, false).expect("predict");
    let csv = csv_response(&p);
    assert_eq!(csv.lines().count(), 1);
    assert_eq!(csv.trim_end().split(',').count(), 3);
    let json: Value = serde_json::from_str(&json_response(&p)).expect("json");
    assert_eq!(
        json["predictions"][0]["score"].as_array().map(Vec::len),
        Some(3)
    );
    let (m, _) = model("3.2.0/softmax.json");
    let p = predict(&m, &x, false).expect("softmax");
    assert!(csv_response(&p).ends_with(".0\n"));
    let (m, _) = model("3.2.0/logistic.json");
    let p = predict(&m, &x, false).expect("logistic");
    let body = json_response(&p);
    assert!(
        body.starts_with("{\"predictions\": [{\"score\": 0."),
        "{body}"
    );
}

#[test]
fn sample_comparison_reports_the_differences() {
    let (m, _) = model("3.2.0/logistic.json");
    let x = dense5();
    let p = predict(&m, &x, false).expect("predict");
    let good = csv_response(&p);
    let want = parse_expected(&good).expect("expected");
    let c = compare_predictions(&p, &want, 1e-6);
    assert!(c.passed(), "{}", c.describe());
    assert_eq!(c.max_abs_diff, 0.0);
    let mut bad = want.clone();
    bad[3][0] += 0.01;
    let c = compare_predictions(&p, &bad, 1e-6);
    assert!(!c.passed());
    assert_eq!(c.mismatches, 1);
    assert_eq!((c.first[0].row, c.first[0].column), (4, 1));
    assert!(c.describe().contains("row 4, column 1"), "{}", c.describe());
    let c = compare_predictions(&p, &want[..10], 1e-6);
    assert!(c.shape_error.is_some());
}

// ---------------------------------------------------------------- hostile IR

fn base_model() -> Model {
    model("3.2.0/softprob.json").0
}

fn trees_mut(m: &mut Model) -> &mut TreeModel {
    match &mut m.booster {
        Booster::Trees(t) => t,
        Booster::Linear(_) => unreachable!("fixture is gbtree"),
    }
}

fn assert_refused(m: &Model, what: &str) {
    let x = dense5();
    let r = Predictor::new(m).and_then(|p| p.predict(&x, &PredictOptions::default()));
    let e = r.expect_err(what);
    assert!(
        matches!(
            e,
            sm_pack::Error::InvalidModel { .. } | sm_pack::Error::Usage { .. }
        ),
        "{what}: {e}"
    );
}

#[test]
fn hostile_models_are_refused_without_panics() {
    // A cycle: a child points back to the root.
    let mut m = base_model();
    trees_mut(&mut m).trees[0].left_children[1] = 0;
    trees_mut(&mut m).trees[0].right_children[1] = 2;
    assert_refused(&m, "cycle");
    // A shared node.
    let mut m = base_model();
    let t = &mut trees_mut(&mut m).trees[0];
    let l = t.left_children[0];
    t.right_children[0] = l;
    assert_refused(&m, "shared");
    // Children out of range.
    let mut m = base_model();
    trees_mut(&mut m).trees[0].left_children[0] = 10_000;
    assert_refused(&m, "child range");
    let mut m = base_model();
    trees_mut(&mut m).trees[0].right_children[0] = -5;
    assert_refused(&m, "negative child");
    // Arrays shorter than the node count.
    let mut m = base_model();
    trees_mut(&mut m).trees[0].split_conditions.truncate(1);
    assert_refused(&m, "short split_conditions");
    let mut m = base_model();
    trees_mut(&mut m).trees[0].default_left.clear();
    assert_refused(&m, "no default_left");
    // An empty tree.
    let mut m = base_model();
    let t = &mut trees_mut(&mut m).trees[0];
    t.left_children.clear();
    assert_refused(&m, "empty tree");
    // tree_info out of range / wrong length.
    let mut m = base_model();
    trees_mut(&mut m).tree_info[0] = 7;
    assert_refused(&m, "group");
    let mut m = base_model();
    trees_mut(&mut m).tree_info.pop();
    assert_refused(&m, "tree_info length");
    // DART weights missing.
    let mut m = base_model();
    trees_mut(&mut m).dart = true;
    assert_refused(&m, "dart weights");
    // Absurd class count.
    let mut m = base_model();
    m.learner.num_class = i64::MAX;
    assert_refused(&m, "num_class");
    // Unknown objective.
    let mut m = base_model();
    m.objective.name = "reg:nonsense".into();
    assert_refused(&m, "objective");
    // base_score outside the domain of a logistic objective.
    let mut m = model("3.0.5/logistic.json").0;
    m.learner.base_score.values = vec![1.5];
    assert_refused(&m, "base_score domain");
    // gblinear weights of the wrong length.
    let mut m = model("3.2.0/gblinear.json").0;
    if let Booster::Linear(l) = &mut m.booster {
        l.weights.pop();
    }
    assert_refused(&m, "gblinear weights");
    // Vector leaves of the wrong size.
    let mut m = model("3.2.0/mtree.json").0;
    if let Some(lw) = &mut trees_mut(&mut m).trees[0].leaf_weights {
        lw.truncate(1);
    }
    assert_refused(&m, "leaf vectors");
}

#[test]
fn hostile_values_are_evaluated_without_panics() {
    // A split on a feature beyond the model reads a missing value.
    let mut m = base_model();
    trees_mut(&mut m).trees[0].split_indices[0] = i32::MAX;
    let p = Predictor::new(&m).expect("predictor");
    p.predict(&dense5(), &PredictOptions::default())
        .expect("predicts");
    // Categorical splits with odd sets and odd inputs, under every rule.
    let (cat, _) = model("3.2.0/cat.json");
    let x = DenseMatrix::from_rows(&[
        vec![1.0f32, -1.0, 0.0],
        vec![1.0, 1e30, 0.0],
        vec![1.0, 16_777_216.0, 0.0],
        vec![1.0, 4.9, 0.0],
        vec![1.0, f32::INFINITY, 0.0],
        vec![1.0, f32::NEG_INFINITY, 0.0],
        vec![1.0, -0.5, 0.0],
    ])
    .expect("rows");
    for v in [(1, 5), (1, 6), (1, 7), (3, 2)] {
        let p = Predictor::with_version(
            &cat,
            Version {
                major: v.0,
                minor: v.1,
                patch: Some(0),
            },
        )
        .expect("cat predictor");
        p.predict(&x, &PredictOptions::default()).expect("cat");
    }
    let mut m = cat.clone();
    for t in &mut trees_mut(&mut m).trees {
        if let Some(c) = &mut t.categories {
            for v in &mut c.values {
                *v = i32::MAX;
            }
        }
    }
    Predictor::new(&m)
        .expect("huge categories")
        .predict(&x, &PredictOptions::default())
        .expect("huge categories predict");
    let mut m = cat.clone();
    for t in &mut trees_mut(&mut m).trees {
        if let Some(c) = &mut t.categories {
            c.sizes.iter_mut().for_each(|s| *s = i64::MAX);
        }
    }
    if trees_mut(&mut m)
        .trees
        .iter()
        .any(|t| (0..t.len()).any(|n| t.is_categorical(n)))
    {
        assert_refused_cat(&m, &x);
    }
    // Huge and non-finite inputs in numeric splits.
    let (m, _) = model("3.2.0/logistic.json");
    let x = DenseMatrix::from_rows(&[
        vec![f32::INFINITY, f32::NEG_INFINITY, f32::MAX, f32::MIN, 0.0],
        vec![f32::NAN; 5],
    ])
    .expect("rows");
    predict(&m, &x, false).expect("non-finite inputs");
}

fn assert_refused_cat(m: &Model, x: &DenseMatrix) {
    let r = Predictor::new(m).and_then(|p| p.predict(x, &PredictOptions::default()));
    assert!(r.is_err(), "category sets out of range must be refused");
}
