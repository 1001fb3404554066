//! Adversarial inputs, each at sizes n, 2n and 4n: the time must grow
//! linearly (×2 per doubling), never quadratically (×4). One case per
//! parser's known worst shapes (issue 10):
//!
//! | case | parser | shape |
//! |---|---|---|
//! | `xgb_json_nulls` | JSON | `[null,null,…]`: as many generic nodes as the budget allows |
//! | `xgb_json_escapes` | JSON | one string of `\u00e9` escapes |
//! | `xgb_json_long_number` | JSON | one float literal with n digits |
//! | `xgb_json_nesting` | JSON | 126-deep arrays, one after the other |
//! | `xgb_json_deep_tree` | JSON + validation | one tree that is a chain of n splits (depth n) |
//! | `xgb_ubj_typed` | UBJSON | many typed arrays |
//! | `xgb_pickle_appends` | pickle | MARK + n × None + APPENDS |
//! | `xgb_pickle_self_append` | pickle | a list appended to itself n times through the memo |
//! | `ft_dictionary` | fastText | n dictionary words |
//! | `ft_same_word` | fastText | n copies of one word (duplicate detection) |
//! | `ft_bytewise` | fastText | a model pushed one byte at a time |
//! | `tar_members` | archive reader + verify | n empty files at the root (an ensemble) |
//! | `tar_pax_records` | archive reader | one pax header with n records |
//! | `manifest_members` | verify sidecars | a manifest listing n members the archive lacks |
//! | `sums_lines` | verify sidecars | SHA256SUMS with n lines |
//!
//! `cargo bench --bench adversarial` runs them under criterion (throughput
//! per size: equal throughput at n, 2n and 4n is linear). For a quick table
//! of time ratios instead: `SM_PACK_ADV_BENCH_ONCE=1 cargo bench --bench
//! adversarial` (best of 3 runs per size; a ratio near 2 per doubling is
//! linear, near 4 quadratic).

use criterion::{BenchmarkId, Criterion, Throughput, black_box};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

type Run = Box<dyn Fn()>;

/// A case: a name and, for a size factor k (1, 2, 4), the input's length
/// and a closure that processes it once.
struct Case {
    name: &'static str,
    make: fn(usize) -> (u64, Run),
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scratch() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("tempdir").keep())
}

fn xgb(bytes: Vec<u8>) -> (u64, Run) {
    (
        bytes.len() as u64,
        Box::new(move || {
            let _ = black_box(sm_pack::xgboost::inspect_bytes(&bytes));
        }),
    )
}

// ------------------------------------------------------------------ XGBoost

fn json_nulls(k: usize) -> (u64, Run) {
    xgb(format!("{{\"learner\":[{}null]}}", "null,".repeat(100_000 * k)).into_bytes())
}

fn json_escapes(k: usize) -> (u64, Run) {
    xgb(format!(
        "{{\"learner\":{{\"feature_names\":[\"{}\"]}}}}",
        "\\u00e9".repeat(100_000 * k)
    )
    .into_bytes())
}

fn json_long_number(k: usize) -> (u64, Run) {
    xgb(format!("{{\"learner\":[0.{}1e-30]}}", "0".repeat(500_000 * k)).into_bytes())
}

fn json_nesting(k: usize) -> (u64, Run) {
    // 126 levels inside `{"learner":[…]}`: just under the 128 cap.
    let one = format!("{}{}", "[".repeat(126), "]".repeat(126));
    let items = vec![one; 2_000 * k].join(",");
    xgb(format!("{{\"learner\":[{items}]}}").into_bytes())
}

/// The example model with its trees replaced by one chain of `splits`
/// splits: node 2i splits, its right child 2i+1 is a leaf, its left child
/// is the next split; depth `splits`.
fn deep_tree_model(splits: usize) -> Vec<u8> {
    let text = std::fs::read(repo().join("testdata/example/churn-xgboost.json")).expect("example");
    let mut m: serde_json::Value = serde_json::from_slice(&text).expect("example JSON");
    let n = 2 * splits + 1;
    let mut left = vec![-1i64; n];
    let mut right = vec![-1i64; n];
    let mut parents = vec![2_147_483_647i64; n];
    for i in 0..splits {
        let node = 2 * i;
        left[node] = (node + 2) as i64;
        right[node] = (node + 1) as i64;
        parents[node + 1] = node as i64;
        parents[node + 2] = node as i64;
    }
    let zeros_f = vec![0.5f32; n];
    let zeros_i = vec![0i64; n];
    let model = &mut m["learner"]["gradient_booster"]["model"];
    let mut tree = model["trees"][0].clone();
    tree["left_children"] = serde_json::json!(left);
    tree["right_children"] = serde_json::json!(right);
    tree["parents"] = serde_json::json!(parents);
    for key in [
        "split_conditions",
        "base_weights",
        "loss_changes",
        "sum_hessian",
    ] {
        tree[key] = serde_json::json!(zeros_f);
    }
    for key in ["split_indices", "default_left", "split_type"] {
        tree[key] = serde_json::json!(zeros_i);
    }
    tree["id"] = serde_json::json!(0);
    tree["tree_param"]["num_nodes"] = serde_json::json!(n.to_string());
    model["trees"] = serde_json::json!([tree]);
    model["tree_info"] = serde_json::json!([0]);
    model["iteration_indptr"] = serde_json::json!([0, 1]);
    model["gbtree_model_param"]["num_trees"] = serde_json::json!("1");
    serde_json::to_vec(&m).expect("serialise")
}

fn json_deep_tree(k: usize) -> (u64, Run) {
    xgb(deep_tree_model(50_000 * k))
}

fn ubj_typed(k: usize) -> (u64, Run) {
    let mut b = b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner[".to_vec();
    for _ in 0..20_000 * k {
        b.extend(b"[$d#L\x00\x00\x00\x00\x00\x00\x00\x02");
        b.extend([0u8; 8]);
    }
    b.extend(b"]}");
    xgb(b)
}

fn pickle_appends(k: usize) -> (u64, Run) {
    let mut p = b"\x80\x04](".to_vec();
    p.extend(std::iter::repeat_n(b'N', 500_000 * k));
    p.extend(b"e.");
    xgb(p)
}

fn pickle_self_append(k: usize) -> (u64, Run) {
    // [] MEMOIZE, then n × (BINGET 0, APPEND): the list holds itself n times.
    let mut p = b"\x80\x04]\x94".to_vec();
    for _ in 0..200_000 * k {
        p.extend(b"h\x00a");
    }
    p.push(b'.');
    xgb(p)
}

// ------------------------------------------------------------------ fastText

/// A supervised model with `words` dictionary entries (the words given by
/// `word`), one label, dim 1, no buckets.
fn ft_model(words: usize, word: impl Fn(usize) -> Vec<u8>) -> Vec<u8> {
    let mut o = Vec::new();
    o.extend(793_712_314i32.to_le_bytes());
    o.extend(12i32.to_le_bytes());
    // dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate
    for v in [1i32, 5, 5, 1, 5, 1, 3, 3, 0, 0, 0, 100] {
        o.extend(v.to_le_bytes());
    }
    o.extend(1e-4f64.to_le_bytes());
    let size = words as i32 + 1;
    for v in [size, words as i32, 1] {
        o.extend(v.to_le_bytes());
    }
    o.extend(1000i64.to_le_bytes());
    o.extend((-1i64).to_le_bytes());
    for i in 0..words {
        o.extend(word(i));
        o.push(0);
        o.extend(1i64.to_le_bytes());
        o.push(0);
    }
    o.extend(b"__label__a\0");
    o.extend(1i64.to_le_bytes());
    o.push(1);
    o.push(0); // not quantized
    o.extend((words as i64).to_le_bytes());
    o.extend(1i64.to_le_bytes());
    o.extend(std::iter::repeat_n(0u8, 4 * words));
    o.push(0); // qout
    o.extend(1i64.to_le_bytes());
    o.extend(1i64.to_le_bytes());
    o.extend(0f32.to_le_bytes());
    o
}

fn ft_run(bytes: Vec<u8>, chunk: usize) -> (u64, Run) {
    (
        bytes.len() as u64,
        Box::new(move || {
            let opts = sm_pack::fasttext::Options::default();
            let mut v = sm_pack::fasttext::Validator::with_len(&opts, bytes.len() as u64);
            for c in bytes.chunks(chunk) {
                v.feed(c);
            }
            let _ = black_box(v.finish());
        }),
    )
}

fn ft_dictionary(k: usize) -> (u64, Run) {
    ft_run(
        ft_model(50_000 * k, |i| format!("w{i}").into_bytes()),
        1 << 16,
    )
}

fn ft_same_word(k: usize) -> (u64, Run) {
    ft_run(ft_model(50_000 * k, |_| b"same".to_vec()), 1 << 16)
}

fn ft_bytewise(k: usize) -> (u64, Run) {
    ft_run(ft_model(10_000 * k, |i| format!("w{i}").into_bytes()), 1)
}

// ------------------------------------------------------------------ archives and sidecars

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

fn tar_of(names: impl Iterator<Item = String>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for n in names {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, n, &b""[..]).expect("append");
    }
    b.into_inner().expect("tar")
}

fn verify_run(path: PathBuf, target: sm_pack::verify::Target, sidecars: bool) -> Run {
    Box::new(move || {
        let side = if sidecars {
            sm_pack::verify::Sidecar::Auto
        } else {
            sm_pack::verify::Sidecar::Skip
        };
        let opts = sm_pack::verify::VerifyOptions {
            target: target.clone(),
            manifest: side.clone(),
            sums: side,
            ..sm_pack::verify::VerifyOptions::default()
        };
        let _ = black_box(sm_pack::verify::verify_archive(&path, &opts));
    })
}

fn tar_members(k: usize) -> (u64, Run) {
    let bytes = gz(&tar_of((0..5_000 * k).map(|i| format!("m{i}"))));
    let path = scratch().join(format!("members-{k}.tar.gz"));
    std::fs::write(&path, &bytes).expect("write");
    (
        bytes.len() as u64,
        verify_run(path, sm_pack::verify::Target::Xgboost(None), false),
    )
}

fn tar_pax_records(k: usize) -> (u64, Run) {
    let mut records = Vec::new();
    // 8 000 records × 4 ≈ 1 MB: within the 1 MiB pax header cap.
    for i in 0..8_000 * k {
        let rec = format!("SCHILY.xattr.user.k{i}=v");
        let mut len = rec.len() + 3;
        let mut line = format!("{len} {rec}\n");
        while line.len() != len {
            len = line.len();
            line = format!("{len} {rec}\n");
        }
        records.extend(line.into_bytes());
    }
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(records.len() as u64);
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_mode(0o644);
    b.append_data(&mut h, "PaxHeaders/xgboost-model", &records[..])
        .expect("pax");
    let mut h = tar::Header::new_ustar();
    h.set_size(1);
    h.set_mode(0o644);
    b.append_data(&mut h, "xgboost-model", &b"x"[..])
        .expect("member");
    let bytes = gz(&b.into_inner().expect("tar"));
    (
        bytes.len() as u64,
        Box::new(move || {
            let opts = sm_pack::archive::reader::ReadOptions::default();
            let _ = black_box(sm_pack::archive::reader::read_archive(&bytes[..], &opts));
        }),
    )
}

/// A folder holding the example model packed by sm-pack, for the sidecar cases.
fn packed_example(tag: &str) -> PathBuf {
    let dir = scratch().join(tag);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let model = repo().join("testdata/example/churn-xgboost.json");
    let mut job = sm_pack::pack::PackJob::new(
        sm_pack::pack::Family::Xgboost,
        model,
        dir.join("model.tar.gz"),
    )
    .expect("job");
    job.options.overwrite = true;
    let o = sm_pack::pack::pack(&job).expect("pack");
    assert!(o.packed);
    dir
}

fn manifest_members(k: usize) -> (u64, Run) {
    let dir = packed_example(&format!("manifest-{k}"));
    let mpath = dir.join("model.tar.gz.manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&mpath).expect("manifest")).expect("JSON");
    let members: Vec<serde_json::Value> = (0..50_000 * k)
        .map(|i| serde_json::json!({"name": format!("m{i}"), "size": 0, "sha256": "0"}))
        .collect();
    m["members"] = serde_json::Value::Array(members);
    let text = serde_json::to_vec(&m).expect("JSON");
    std::fs::write(&mpath, &text).expect("write");
    (
        text.len() as u64,
        verify_run(
            dir.join("model.tar.gz"),
            sm_pack::verify::Target::Blazingtext,
            true,
        ),
    )
}

fn sums_lines(k: usize) -> (u64, Run) {
    let dir = packed_example(&format!("sums-{k}"));
    let spath = dir.join("SHA256SUMS");
    let mut text = std::fs::read(&spath).expect("sums");
    // 25 000 lines × 4 = 8.5 MB: under the 16 MiB sidecar cap.
    for i in 0..25_000 * k {
        writeln!(text, "{:064x}  other-{i}.tar.gz", i).expect("line");
    }
    std::fs::write(&spath, &text).expect("write");
    (
        text.len() as u64,
        verify_run(
            dir.join("model.tar.gz"),
            sm_pack::verify::Target::Blazingtext,
            true,
        ),
    )
}

// ------------------------------------------------------------------ driver

const CASES: &[Case] = &[
    Case {
        name: "xgb_json_nulls",
        make: json_nulls,
    },
    Case {
        name: "xgb_json_escapes",
        make: json_escapes,
    },
    Case {
        name: "xgb_json_long_number",
        make: json_long_number,
    },
    Case {
        name: "xgb_json_nesting",
        make: json_nesting,
    },
    Case {
        name: "xgb_json_deep_tree",
        make: json_deep_tree,
    },
    Case {
        name: "xgb_ubj_typed",
        make: ubj_typed,
    },
    Case {
        name: "xgb_pickle_appends",
        make: pickle_appends,
    },
    Case {
        name: "xgb_pickle_self_append",
        make: pickle_self_append,
    },
    Case {
        name: "ft_dictionary",
        make: ft_dictionary,
    },
    Case {
        name: "ft_same_word",
        make: ft_same_word,
    },
    Case {
        name: "ft_bytewise",
        make: ft_bytewise,
    },
    Case {
        name: "tar_members",
        make: tar_members,
    },
    Case {
        name: "tar_pax_records",
        make: tar_pax_records,
    },
    Case {
        name: "manifest_members",
        make: manifest_members,
    },
    Case {
        name: "sums_lines",
        make: sums_lines,
    },
];

const FACTORS: [usize; 3] = [1, 2, 4];

fn best_of(run: &Run, n: usize) -> Duration {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            run();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// One-shot table: time per size and the ratio per doubling.
fn table() {
    println!(
        "{:<24} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>7} {:>7}",
        "case", "bytes n", "time n", "bytes 2n", "time 2n", "bytes 4n", "time 4n", "2n/n", "4n/2n"
    );
    for c in CASES {
        let mut row = Vec::new();
        for k in FACTORS {
            let (len, run) = (c.make)(k);
            run(); // warm up
            row.push((len, best_of(&run, 3)));
        }
        let r1 = row[1].1.as_secs_f64() / row[0].1.as_secs_f64().max(1e-9);
        let r2 = row[2].1.as_secs_f64() / row[1].1.as_secs_f64().max(1e-9);
        let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
        println!(
            "{:<24} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>7.2} {:>7.2}{}",
            c.name,
            row[0].0,
            ms(row[0].1),
            row[1].0,
            ms(row[1].1),
            row[2].0,
            ms(row[2].1),
            r1,
            r2,
            if r1 > 3.0 && r2 > 3.0 {
                "  QUADRATIC?"
            } else {
                ""
            }
        );
    }
}

fn adversarial(c: &mut Criterion) {
    if std::env::var_os("SM_PACK_ADV_BENCH_ONCE").is_some() {
        table();
        return;
    }
    for case in CASES {
        let mut g = c.benchmark_group(case.name);
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2));
        for k in FACTORS {
            let (len, run) = (case.make)(k);
            g.throughput(Throughput::Bytes(len));
            g.bench_function(BenchmarkId::from_parameter(format!("{k}n")), |b| {
                b.iter(&run)
            });
        }
        g.finish();
    }
}

criterion::criterion_group!(benches, adversarial);
criterion::criterion_main!(benches);
