//! XGBoost reader benchmarks (criterion): parse + validate a large model.
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

fn main() {
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
        if let Some(i) = last {
            println!(
                "{}: {} trees, {} findings, inspect_file min {:.3} s median {:.3} s over {reps}",
                PathBuf::from(&path).display(),
                i.model.trees().len(),
                i.findings.len(),
                times[0],
                times[reps / 2]
            );
        }
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    parse_and_validate(&mut c);
    c.final_summary();
}
