//! fastText reader benchmarks (criterion): validating the real fixtures from
//! memory through the pull reader and the push (`Write`) validator, loading
//! the in-memory model, and raw float-scan throughput on a synthetic 16 MiB
//! matrix; with `SM_PACK_FT_BENCH_MODEL=model.bin`, push validation of that
//! (large) model. The 800 MB comparison with `fasttext.load_model` is run by
//! hand with `examples/fasttext_validate.rs` (see formats/fasttext.md).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sm_pack::fasttext::{Model, Options, Predictor, Validator, read_from};
use std::hint::black_box;
use std::io::Write;
use std::path::Path;

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/fasttext")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A consistent cbow model whose input matrix has `rows` × 100 floats.
fn synthetic(rows: i64) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(793_712_314i32.to_le_bytes());
    b.extend(12i32.to_le_bytes());
    for v in [100i32, 5, 5, 1, 5, 1, 2, 1, (rows - 1) as i32, 3, 6, 100] {
        b.extend(v.to_le_bytes());
    }
    b.extend(1e-4f64.to_le_bytes());
    for v in [1i32, 1, 0] {
        b.extend(v.to_le_bytes());
    }
    b.extend(10i64.to_le_bytes());
    b.extend((-1i64).to_le_bytes());
    b.extend(b"</s>\0");
    b.extend(10i64.to_le_bytes());
    b.push(0);
    b.push(0);
    b.extend(rows.to_le_bytes());
    b.extend(100i64.to_le_bytes());
    for k in 0..rows * 100 {
        b.extend(((k % 1000) as f32 * 1e-3).to_le_bytes());
    }
    b.push(0);
    b.extend(1i64.to_le_bytes());
    b.extend(100i64.to_le_bytes());
    b.extend([0u8; 400]);
    b
}

fn fixtures(c: &mut Criterion) {
    let opts = Options::default().allow_quantized(true);
    for name in [
        "sup_softmax.bin",
        "sup_ngrams.bin",
        "sup_ngrams_qnorm.ftz",
        "many_hs.bin",
    ] {
        let bytes = fixture(name);
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function("pull", |b| {
            b.iter(|| {
                read_from(black_box(bytes.as_slice()), Some(bytes.len() as u64), &opts)
                    .map(|i| i.complete)
            })
        });
        g.bench_function("push_64k", |b| {
            b.iter(|| {
                let mut v = Validator::with_len(&opts, bytes.len() as u64);
                for c in black_box(&bytes).chunks(64 << 10) {
                    let _ = v.write_all(c);
                }
                v.finish().map(|i| i.complete)
            })
        });
        g.bench_function("model", |b| {
            b.iter(|| {
                Model::read_from(black_box(bytes.as_slice()), Some(bytes.len() as u64))
                    .map(|m| m.nwords())
            })
        });
        g.finish();
    }
}

fn float_scan(c: &mut Criterion) {
    let opts = Options::default();
    let bytes = synthetic(41_943);
    let mut g = c.benchmark_group("dense_16MiB");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.sample_size(20);
    g.bench_function("validate", |b| {
        b.iter(|| {
            read_from(black_box(bytes.as_slice()), Some(bytes.len() as u64), &opts)
                .map(|i| i.complete)
        })
    });
    g.finish();
}

/// Stream validation (the push `Validator` that `sm-pack fasttext` feeds
/// while packing, 1 MiB writes) of a large real model, when
/// `SM_PACK_FT_BENCH_MODEL` names one (`scripts/bench.sh micro` passes its
/// 808 MB model); skipped otherwise.
fn big_model(c: &mut Criterion) {
    let Some(path) = std::env::var_os("SM_PACK_FT_BENCH_MODEL") else {
        eprintln!("fasttext bench: SM_PACK_FT_BENCH_MODEL not set; skipping the large-model group");
        return;
    };
    let bytes = std::fs::read(&path).expect("read SM_PACK_FT_BENCH_MODEL");
    let opts = Options::default().allow_quantized(true);
    let mut g = c.benchmark_group("big_model");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.sample_size(10);
    g.bench_function("stream_validate_1MiB_writes", |b| {
        b.iter(|| {
            let mut v = Validator::with_len(&opts, bytes.len() as u64);
            for c in black_box(&bytes).chunks(1 << 20) {
                let _ = v.write_all(c);
            }
            v.finish().map(|i| i.complete)
        })
    });
    g.finish();
}

criterion_group!(benches, fixtures, float_scan, big_model);

/// Prediction throughput (lines/s): the 62 lines of lines.json, k = 1, on
/// each kind of supervised fixture. The comparison with Python's
/// `fasttext` predict on an 800 MB model is by hand (formats/fasttext.md).
fn predict(c: &mut Criterion) {
    let lines: Vec<String> = serde_json::from_slice(&fixture("lines.json")).expect("lines.json");
    let mut g = c.benchmark_group("predict");
    g.throughput(Throughput::Elements(lines.len() as u64));
    for name in [
        "sup_softmax.bin",
        "sup_ova.bin",
        "sup_ngrams.bin",
        "sup_ngrams_qnorm.ftz",
        "many_hs.bin",
        "many_hs_qout.ftz",
    ] {
        let bytes = fixture(name);
        let model = Model::read_from(bytes.as_slice(), Some(bytes.len() as u64)).expect(name);
        let p = Predictor::new(&model).expect(name);
        g.bench_function(name, |b| {
            b.iter(|| {
                lines
                    .iter()
                    .map(|l| {
                        p.predict(black_box(l.as_bytes()), 1, 0.0)
                            .map_or(0, |r| r.len())
                    })
                    .sum::<usize>()
            })
        });
    }
    g.finish();
}

criterion_group!(predict_benches, predict);
criterion_main!(benches, predict_benches);
