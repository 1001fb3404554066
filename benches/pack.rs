//! Packing micro-benchmarks (criterion): the per-block gzip coders on 1 MiB
//! of float32 weights (literal-only Huffman blocks) and of XGBoost JSON
//! (zlib-rs LZ77 at levels 1, 6 and 9), and SHA-256 — three digests of every
//! byte are the floor under `sm-pack` packing time. The whole-file
//! comparisons with tar, gzip, pigz and Python are `scripts/bench.sh`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sha2::{Digest, Sha256};
use sm_pack::archive::pgzip::{BLOCK_SIZE, BlockCoding, compress_block};
use std::hint::black_box;
use std::path::Path;

/// Float32 weights as fastText initialises untrained rows (uniform in ±1/dim).
fn weights(n: usize) -> Vec<u8> {
    let mut x: u64 = 1;
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let u = (x >> 40) as f32 / (1u64 << 24) as f32;
        v.extend_from_slice(&((u * 2.0 - 1.0) * 0.01).to_le_bytes());
    }
    v.truncate(n);
    v
}

/// Real XGBoost JSON (the container verdict matrix is the largest JSON in
/// testdata), repeated up to `n` bytes.
fn json(n: usize) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/xgboost/container-matrix.json");
    let one = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    one.iter().copied().cycle().take(n).collect()
}

fn coders(c: &mut Criterion) {
    let w = weights(2 * BLOCK_SIZE);
    let j = json(2 * BLOCK_SIZE);
    let mut g = c.benchmark_group("gzip_block_1MiB");
    g.throughput(Throughput::Bytes(BLOCK_SIZE as u64));
    let mut out = Vec::with_capacity(2 * BLOCK_SIZE);
    let (dict, block) = w.split_at(BLOCK_SIZE);
    out.clear();
    assert_eq!(
        compress_block(6, dict, block, false, &mut out).expect("compress"),
        BlockCoding::Literals
    );
    g.bench_function("float32_weights_literals", |b| {
        b.iter(|| {
            out.clear();
            compress_block(6, black_box(dict), black_box(block), false, &mut out)
        })
    });
    let (dict, block) = j.split_at(BLOCK_SIZE);
    for level in [1, 6, 9] {
        g.bench_function(format!("xgboost_json_lz77_level{level}"), |b| {
            b.iter(|| {
                out.clear();
                compress_block(level, black_box(dict), black_box(block), false, &mut out)
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("sha256_1MiB");
    g.throughput(Throughput::Bytes(BLOCK_SIZE as u64));
    g.bench_function("sha2", |b| {
        b.iter(|| Sha256::digest(black_box(&w[..BLOCK_SIZE])))
    });
    g.finish();
}

criterion_group!(benches, coders);
criterion_main!(benches);
