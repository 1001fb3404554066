//! XGBoost benchmarks (criterion): parse + validate a large model, and
//! prediction throughput on it (group `xgboost_predict`, at the end).
//!
//! The model is not committed (tens of MB). Make one with any XGBoost venv,
//! e.g. 2000 trees of depth 8 (~30 MB JSON, ~18 MB UBJSON):
//!
//! ```text
//! python - <<'EOF'
//! import numpy as np, xgboost as xgb
//! rng = np.random.RandomState(0)
//! X = rng.randn(20000, 50).astype(np.float32)
//! y = (X[:, :10].sum(1) + np.sin(X[:, 10:20]).sum(1) + rng.randn(20000) > 0)
//! b = xgb.train({"objective": "binary:logistic", "max_depth": 8, "eta": 0.05,
//!                "tree_method": "hist", "min_child_weight": 0},
//!               xgb.DMatrix(X, label=y), 2000)
//! b.save_model("/tmp/xgb-bench/big.json"); b.save_model("/tmp/xgb-bench/big.ubj")
//! EOF
//! ```
//!
//! Then `cargo bench --bench xgboost`. The directory is
//! `$SM_PACK_XGB_BENCH_DIR` (default `/tmp/xgb-bench`); every `big.*` file in
//! it is benchmarked, and the benchmark is skipped with a message when there
//! is none.
//!
//! One-shot mode for peak-memory measurements:
//! `SM_PACK_XGB_BENCH_ONCE=/tmp/xgb-bench/big.json /usr/bin/time -v target/release/deps/xgboost-*`
//! reads, parses and validates the file once and prints the summary line.

use criterion::{Criterion, black_box};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn bench_dir() -> PathBuf {
    std::env::var_os("SM_PACK_XGB_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/xgb-bench"))
}

fn models() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(bench_dir())
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("big."))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn parse_and_validate(c: &mut Criterion) {
    let files = models();
    if files.is_empty() {
        eprintln!(
            "xgboost bench: no big.* model in {} (set SM_PACK_XGB_BENCH_DIR); skipping. See benches/xgboost.rs for how to make one.",
            bench_dir().display()
        );
        return;
    }
    let mut g = c.benchmark_group("xgboost");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for f in files {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("model")
            .to_string();
        let bytes = std::fs::read(&f).expect("read benchmark model");
        let mb = bytes.len() as f64 / 1e6;
        // Sanity: it parses and is clean.
        let i = sm_pack::xgboost::inspect_bytes(&bytes).expect("benchmark model parses");
        eprintln!(
            "{name}: {mb:.1} MB, {} trees, {} nodes, {} findings",
            i.model.trees().len(),
            i.summary.trees.as_ref().map(|t| t.total_nodes).unwrap_or(0),
            i.findings.len()
        );
        g.bench_function(format!("inspect_bytes/{name}"), |b| {
            b.iter(|| sm_pack::xgboost::inspect_bytes(black_box(&bytes)).expect("parses"))
        });
        g.bench_function(format!("inspect_file/{name}"), |b| {
            b.iter(|| sm_pack::xgboost::inspect_file(black_box(&f)).expect("parses"))
        });
    }
    g.finish();
}

/// `SM_PACK_XGB_BENCH_PHASES=1` with the one-shot mode: the best time of
/// each phase over the repetitions (reading the file; decoding the document
/// alone for JSON/UBJSON; reading the model; validating it).
fn phases(path: &std::path::Path, reps: usize) {
    fn best<T>(reps: usize, mut f: impl FnMut() -> T) -> f64 {
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                black_box(f());
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    }
    let read = best(reps, || std::fs::read(path).expect("read"));
    let bytes = std::fs::read(path).expect("read");
    let doc = match bytes.first() {
        Some(b'{') if bytes.get(1) == Some(&b'L') => {
            best(reps, || sm_pack::xgboost::ubjson::parse(&bytes).is_ok())
        }
        Some(b'{') => best(reps, || sm_pack::xgboost::json::parse(&bytes).is_ok()),
        _ => 0.0,
    };
    let model = best(reps, || {
        sm_pack::xgboost::read_model(&bytes).expect("parses")
    });
    let (m, _) = sm_pack::xgboost::read_model(&bytes).expect("parses");
    let validate = best(reps, || sm_pack::xgboost::validate::validate(&m));
    println!(
        "phases (best of {reps}): fs::read {read:.4} s, document {doc:.4} s, read_model {model:.4} s, validate {validate:.4} s"
    );
}

fn main() {
    if let Some(path) = std::env::var_os("SM_PACK_XGB_BENCH_DUMP") {
        // Everything inspecting the file yields (IR, summary, findings, or
        // the error), for comparing two builds.
        match sm_pack::xgboost::inspect_file(std::path::Path::new(&path)) {
            Ok(i) => println!("{i:#?}"),
            Err(e) => println!("error: {e:#?}"),
        }
        return;
    }
    if let Some(path) = std::env::var_os("SM_PACK_XGB_BENCH_ONCE") {
        // SM_PACK_XGB_BENCH_REPS=n repeats in-process and reports min/median.
        let reps: usize = std::env::var("SM_PACK_XGB_BENCH_REPS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(1)
            .max(1);
        let mut times = Vec::with_capacity(reps);
        let mut last: Option<sm_pack::xgboost::Inspection> = None;
        for _ in 0..reps {
            drop(last.take()); // free the previous model first
            let t = Instant::now();
            let i = sm_pack::xgboost::inspect_file(std::path::Path::new(&path)).expect("inspect");
            times.push(t.elapsed().as_secs_f64());
            last = Some(i);
        }
        times.sort_by(f64::total_cmp);
        if std::env::var_os("SM_PACK_XGB_BENCH_PHASES").is_some() {
            phases(std::path::Path::new(&path), reps);
        }
        if let Some(i) = last {
            println!(
                "{}: {} trees, {} findings, inspect_file min {:.4} s median {:.4} s over {reps}",
                PathBuf::from(&path).display(),
                i.model.trees().len(),
                i.findings.len(),
                times[0],
                times[reps / 2]
            );
        }
        return;
    }
    if let Some(path) = std::env::var_os("SM_PACK_XGB_PREDICT_ONCE") {
        predict_once(std::path::Path::new(&path));
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    parse_and_validate(&mut c);
    predict_throughput(&mut c);
    c.final_summary();
}

// ------------------------------------------------------------------ prediction
//
// Rows per second of `xgboost::predict` on the big model, single-threaded and
// with every CPU. The rows are `$SM_PACK_XGB_BENCH_DIR/rows10k.f32` (raw
// little-endian f32, 10 000 × num_feature, as Python writes them with
// `X.astype(np.float32).tofile(...)`, so both sides predict the same rows;
// `benches/xgboost_predict.py` writes it and times XGBoost itself)
// or, without that file, 10 000 rows of standard normal noise.
//
// One-shot, next to Python in the same session (formats/xgboost.md):
// `SM_PACK_XGB_PREDICT_ONCE=/tmp/xgb-bench/big.ubj SM_PACK_XGB_BENCH_REPS=5
//  target/release/deps/xgboost-*` prints rows/s for 1 thread and all threads,
// and, when `preds10k.f32` (Python's predictions) is there, the largest
// difference to them.

fn bench_rows(num_feature: usize) -> sm_pack::xgboost::predict::DenseMatrix {
    use sm_pack::xgboost::predict::DenseMatrix;
    let rows = 10_000;
    let file = bench_dir().join("rows10k.f32");
    if let Ok(bytes) = std::fs::read(&file)
        && bytes.len() == rows * num_feature * 4
    {
        let v = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        return DenseMatrix::new(v, rows, num_feature).expect("rows");
    }
    // xorshift + Box-Muller.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let v = (0..rows * num_feature)
        .map(|_| {
            let (u, w) = (next(), next());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * w).cos()) as f32
        })
        .collect();
    DenseMatrix::new(v, rows, num_feature).expect("rows")
}

fn predict_model() -> Option<PathBuf> {
    let files = models();
    files
        .iter()
        .find(|f| f.extension().is_some_and(|e| e == "ubj"))
        .or(files.first())
        .cloned()
}

fn predict_throughput(c: &mut Criterion) {
    use sm_pack::xgboost::predict::{PredictOptions, Predictor};
    let Some(f) = predict_model() else {
        return;
    };
    let bytes = std::fs::read(&f).expect("read benchmark model");
    let (model, _) = sm_pack::xgboost::read_model(&bytes).expect("parses");
    let p = Predictor::new(&model).expect("predictor");
    let x = bench_rows(p.num_feature());
    let mut g = c.benchmark_group("xgboost_predict");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(criterion::Throughput::Elements(x.rows() as u64));
    for threads in [1, 0] {
        let opts = PredictOptions {
            threads,
            ..PredictOptions::default()
        };
        let label = if threads == 1 {
            "1 thread"
        } else {
            "all threads"
        };
        g.bench_function(
            format!("{} trees, 10k rows, {label}", model.trees().len()),
            |b| b.iter(|| p.predict(black_box(&x), &opts).expect("predict")),
        );
    }
    g.finish();
}

fn predict_once(path: &std::path::Path) {
    use sm_pack::xgboost::predict::{DenseMatrix, Kernel, PredictOptions, Predictor};
    let reps: usize = std::env::var("SM_PACK_XGB_BENCH_REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
        .max(1);
    let bytes = std::fs::read(path).expect("read model");
    let t = Instant::now();
    let (model, _) = sm_pack::xgboost::read_model(&bytes).expect("parses");
    let p = Predictor::new(&model).expect("predictor");
    let setup = t.elapsed().as_secs_f64();
    let x = bench_rows(p.num_feature());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{}: {} trees, {} rows x {} features; read + compile {setup:.3} s",
        path.display(),
        model.trees().len(),
        x.rows(),
        x.cols()
    );
    let mut last = None;
    let kernels = Kernel::available();
    // Each kernel on one thread, then the default (the best kernel) on all.
    let runs: Vec<(Kernel, usize)> = kernels.map(|k| (k, 1)).chain([(Kernel::Auto, 0)]).collect();
    for (kernel, threads) in runs {
        let opts = PredictOptions {
            threads,
            kernel,
            ..PredictOptions::default()
        };
        let mut times = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t = Instant::now();
            let out = p.predict(&x, &opts).expect("predict");
            times.push(t.elapsed().as_secs_f64());
            last = Some(out);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "sm-pack predict, {} kernel, {} thread(s): min {:.3} s ({:.0} rows/s), median {:.3} s over {reps}",
            if kernel == Kernel::Auto {
                Kernel::best().name()
            } else {
                kernel.name()
            },
            if threads == 1 { 1 } else { cpus },
            times[0],
            x.rows() as f64 / times[0],
            times[reps / 2]
        );
    }
    // Small batches (a request's worth of rows): time per call, 1 thread.
    let kernels: Vec<Kernel> = Kernel::available().collect();
    for rows in [1, 2, 4, 8, 16, 64] {
        let sub =
            DenseMatrix::new(x.values()[..rows * x.cols()].to_vec(), rows, x.cols()).expect("rows");
        let mut line = format!("{rows:>3} rows/call:");
        for &kernel in &kernels {
            let opts = PredictOptions {
                threads: 1,
                kernel,
                ..PredictOptions::default()
            };
            let t = Instant::now();
            let mut calls = 0u32;
            while t.elapsed() < Duration::from_millis(300) {
                black_box(p.predict(&sub, &opts).expect("predict"));
                calls += 1;
            }
            let us = t.elapsed().as_secs_f64() * 1e6 / f64::from(calls);
            line += &format!("  {} {us:.0} us", kernel.name());
        }
        println!("{line}");
    }
    if let (Some(out), Ok(py)) = (last, std::fs::read(bench_dir().join("preds10k.f32"))) {
        let py: Vec<f32> = py
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if py.len() == out.values().len() {
            let worst = out
                .values()
                .iter()
                .zip(&py)
                .map(|(a, b)| (f64::from(*a) - f64::from(*b)).abs())
                .fold(0.0, f64::max);
            let same = out.values().iter().zip(&py).filter(|(a, b)| a == b).count();
            println!(
                "vs Python's predictions: {same}/{} bit-identical, max |diff| {worst:.3e}",
                py.len()
            );
        }
    }
}
