//! Malformed input for every parser, filling the gaps the per-parser suites
//! (`xgboost_corrupt.rs`, `fasttext_corrupt.rs`, `fasttext_alloc.rs`,
//! `verify_hostile.rs`, `verify_memory.rs`) leave:
//!
//! - archives sm-pack itself made, truncated at hundreds of offsets and with
//!   bytes flipped in the *compressed* stream (gzip header, deflate data,
//!   CRC, ISIZE), through the reader and through `verify`;
//! - tar size fields and pax lengths set to huge values;
//! - the manifest and SHA256SUMS readers: truncations, flips, hostile shapes
//!   (deep nesting, wrong types, non-UTF-8, huge numbers);
//! - XGBoost documents built for the worst memory per input byte, deep
//!   object nesting, pickles with non-UTF-8 strings;
//! - fastText files cut and flipped through the in-memory model loader and
//!   the predictor (what `sm-pack predict` does);
//! - the real binary on a set of hostile files: exit 1 or 2, never a panic.
//!
//! Every case must end in a clean error or findings, never a panic, with
//! peak memory bounded by a small multiple of the input (counting allocator).

mod common;

use common::*;
use sm_pack::archive::reader::{ReadOptions, read_archive};
use sm_pack::report::Severity;
use sm_pack::verify::{Sidecar, Target, VerifyOptions, verify_archive};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::path::{Path, PathBuf};

// ------------------------------------------------------------------ allocation accounting

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static MAX_ONE: Cell<usize> = const { Cell::new(0) };
}

fn note(delta: isize, size: usize) {
    let _ = MAX_ONE.try_with(|m| m.set(m.get().max(size)));
    let _ = LIVE.try_with(|l| {
        let v = l.get() + delta;
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

// SAFETY: delegates to the system allocator; only records sizes in
// thread-local cells with const initialisers (no allocation, no recursion).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as isize, layout.size());
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(-(layout.size() as isize), 0);
        // SAFETY: ptr was allocated by System with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as isize, layout.size());
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size as isize - layout.size() as isize, new_size);
        // SAFETY: ptr was allocated by System with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f`; returns its result, the largest single allocation and the peak
/// of bytes live on this thread on top of what was live before.
fn measured<R>(f: impl FnOnce() -> R) -> (R, usize, usize) {
    MAX_ONE.with(|m| m.set(0));
    let base = LIVE.with(|l| l.get());
    PEAK.with(|p| p.set(base));
    let r = f();
    let peak = PEAK.with(|p| p.get()) - base;
    (r, MAX_ONE.with(|m| m.get()), peak.max(0) as usize)
}

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

// ------------------------------------------------------------------ helpers

fn fixture(rel: &str) -> Vec<u8> {
    let p = repo().join("testdata").join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(data), &mut out).expect("gunzip");
    out
}

/// Packs `model` with the real binary into a fresh folder; returns the
/// folder and the archive path (sidecars beside it).
fn pack(family: &str, model: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let o = run_in(
        dir.path(),
        &[
            family,
            model.to_str().unwrap(),
            "-o",
            "model.tar.gz",
            "--allow-quantized",
        ],
    );
    assert!(
        o.status.success(),
        "pack {}: {}",
        model.display(),
        stderr(&o)
    );
    let p = dir.path().join("model.tar.gz");
    (dir, p)
}

fn verify(path: &Path, target: Target, sidecars: bool) -> sm_pack::verify::VerifyReport {
    let side = if sidecars {
        Sidecar::Auto
    } else {
        Sidecar::Skip
    };
    let opts = VerifyOptions {
        target,
        manifest: side.clone(),
        sums: side,
        fasttext: sm_pack::fasttext::Options::default().allow_quantized(true),
        ..VerifyOptions::default()
    };
    verify_archive(path, &opts).unwrap_or_else(|e| panic!("verify {}: {e}", path.display()))
}

fn has_error(r: &sm_pack::verify::VerifyReport) -> bool {
    r.findings.iter().any(|f| f.severity == Severity::Error)
}

/// A 512-byte tar header with a valid checksum.
fn tar_header(name: &str, typ: u8, size_field: &[u8]) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..124 + size_field.len()].copy_from_slice(size_field);
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = typ;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

// ------------------------------------------------------------------ archives sm-pack made

/// Archives of every family sm-pack packs: XGBoost JSON, UBJSON, legacy
/// binary, pickle, and fastText .bin / .ftz.
fn made_archives() -> Vec<(tempfile::TempDir, PathBuf, Target)> {
    let x = |rel: &str| repo().join("testdata/xgboost").join(rel);
    let f = |rel: &str| repo().join("testdata/fasttext").join(rel);
    vec![
        {
            let (d, p) = pack("xgboost", &example_model());
            (d, p, Target::Xgboost(None))
        },
        {
            let (d, p) = pack("xgboost", &x("1.7.4/dart.ubj"));
            (d, p, Target::Xgboost(Some("1.7-1".into())))
        },
        {
            let (d, p) = pack("xgboost", &x("0.90/logistic.bin"));
            (d, p, Target::Xgboost(Some("0.90-1".into())))
        },
        {
            let (d, p) = pack("fasttext", &f("sup_hs.bin"));
            (d, p, Target::Blazingtext)
        },
        {
            let (d, p) = pack("fasttext", &f("sup_ngrams_qcut.ftz"));
            (d, p, Target::Blazingtext)
        },
    ]
}

#[test]
fn made_archives_truncated_anywhere_fail_verify_with_bounded_memory() {
    for (dir, path, target) in made_archives() {
        let good = std::fs::read(&path).unwrap();
        let tar_len = gunzip(&good).len();
        let clean = verify(&path, target.clone(), true);
        assert!(!has_error(&clean), "{:?}", clean.findings);
        let cut_path = dir.path().join("cut.tar.gz");
        let step = (good.len() / 150).max(1);
        for cut in (0..good.len()).step_by(step) {
            std::fs::write(&cut_path, &good[..cut]).unwrap();
            let what = format!("{} cut at {cut}", path.display());
            let (r, max_one, peak) = measured(|| verify(&cut_path, target.clone(), false));
            assert!(has_error(&r), "{what}: accepted");
            assert_eq!(r.exit_code(), 1, "{what}");
            let _ = r.human_lines();
            assert!(
                max_one <= 4 * tar_len + 2 * MIB,
                "{what}: one allocation of {max_one}"
            );
            assert!(peak <= 64 * tar_len + 8 * MIB, "{what}: {peak} bytes live");
        }
    }
}

#[test]
fn flips_in_the_compressed_stream_never_panic() {
    for (dir, path, target) in made_archives() {
        let good = std::fs::read(&path).unwrap();
        let tar_len = gunzip(&good).len();
        let flip_path = dir.path().join("flip.tar.gz");
        // Every byte of the gzip header and trailer, and ~200 in between.
        let mut positions: Vec<usize> = (0..10.min(good.len())).collect();
        positions.extend(good.len().saturating_sub(8)..good.len());
        let step = (good.len() / 200).max(1);
        positions.extend((10..good.len().saturating_sub(8)).step_by(step));
        let mut buf = good.clone();
        for p in positions {
            for v in [good[p] ^ 0x01, good[p] ^ 0xFF] {
                buf[p] = v;
                let what = format!("{} byte {p} = {v:#04x}", path.display());
                let (l, _, peak) = measured(|| read_archive(&buf[..], &ReadOptions::default()));
                let l = l.unwrap_or_else(|e| panic!("{what}: {e}"));
                assert!(peak <= 64 * tar_len + 8 * MIB, "{what}: {peak} bytes live");
                let _ = l.max_severity();
                std::fs::write(&flip_path, &buf).unwrap();
                let r = verify(&flip_path, target.clone(), false);
                let _ = r.human_lines();
                let _ = serde_json::to_string(&r).unwrap();
            }
            buf[p] = good[p];
        }
    }
}

#[test]
fn huge_size_fields_and_pax_lengths_do_not_allocate() {
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    // Octal size of 8 GiB - 1, then 100 bytes of data and the end.
    let mut t = tar_header("xgboost-model", b'0', b"77777777777\0").to_vec();
    t.extend([b'{'; 100]);
    cases.push(("octal 8 GiB", t));
    // Base-256 size of 2^62.
    let mut field = [0u8; 12];
    field[0] = 0x80;
    field[4] = 0x40;
    let mut t = tar_header("xgboost-model", b'0', &field).to_vec();
    t.extend([0u8; 1024]);
    cases.push(("base-256 2^62", t));
    // Base-256 size of -1 (all bits set).
    let mut t = tar_header("xgboost-model", b'0', &[0xFF; 12]).to_vec();
    t.extend([0u8; 1024]);
    cases.push(("base-256 -1", t));
    // A pax header claiming 2^40 bytes.
    let mut t = tar_header("PaxHeaders/x", b'x', b"20000000000000\0").to_vec();
    t.extend(b"30 path=xgboost-model\n");
    cases.push(("pax header 2^40", t));
    // A pax record whose length says a trillion bytes.
    let rec = b"999999999999 path=x\n";
    let mut t = tar_header(
        "PaxHeaders/x",
        b'x',
        format!("{:011o}\0", rec.len()).as_bytes(),
    )
    .to_vec();
    t.extend(rec);
    t.resize(1024, 0);
    t.extend(tar_header("xgboost-model", b'0', b"00000000001\0"));
    t.extend([b'x'; 512]);
    t.extend([0u8; 1024]);
    cases.push(("pax record length", t));
    // A GNU long name claiming 2^33 bytes.
    let mut t = tar_header("././@LongLink", b'L', b"100000000000\0").to_vec();
    t.extend([b'a'; 4096]);
    cases.push(("long name 2^33", t));
    // A GNU sparse entry with an endless chain of extension blocks.
    let mut h = tar_header("xgboost-model", b'S', b"00000000000\0");
    h[482] = 1;
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut t = h.to_vec();
    for _ in 0..2000 {
        let mut ext = [0u8; 512];
        ext[504] = 1;
        t.extend(ext);
    }
    cases.push(("sparse chain", t));

    for (what, tar) in cases {
        for bytes in [tar.clone(), gz(&tar)] {
            let (l, max_one, peak) =
                measured(|| read_archive(&bytes[..], &ReadOptions::default()).expect("read"));
            assert!(
                l.findings.iter().any(|f| f.severity == Severity::Error),
                "{what}: {:?}",
                l.findings
            );
            assert!(max_one <= 2 * MIB, "{what}: one allocation of {max_one}");
            assert!(peak <= 4 * MIB, "{what}: {peak} bytes live");
        }
    }
}

// ------------------------------------------------------------------ manifest and SHA256SUMS

#[test]
fn manifests_truncated_and_flipped_never_panic() {
    let (dir, archive) = pack("xgboost", &example_model());
    let mpath = dir.path().join("model.tar.gz.manifest.json");
    let good = std::fs::read(&mpath).unwrap();
    assert!(
        verify(&archive, Target::Blazingtext, true)
            .manifest
            .expect("checked")
            .ok
    );
    let step = (good.len() / 300).max(1);
    for cut in (0..good.len()).step_by(step) {
        std::fs::write(&mpath, &good[..cut]).unwrap();
        let r = verify(&archive, Target::Blazingtext, true);
        let m = r.manifest.as_ref().expect("checked");
        assert!(!m.ok, "manifest cut at {cut} accepted");
    }
    let mut buf = good.clone();
    for p in (0..good.len()).step_by(step) {
        for v in [good[p] ^ 0x20, 0xFF, b'"', b'{'] {
            buf[p] = v;
            std::fs::write(&mpath, &buf).unwrap();
            let (r, _, peak) = measured(|| verify(&archive, Target::Blazingtext, true));
            let _ = r.human_lines();
            assert!(peak <= 32 * MIB, "flip at {p}: {peak} bytes live");
        }
        buf[p] = good[p];
    }
}

#[test]
fn hostile_manifest_shapes_are_findings() {
    let (dir, archive) = pack("xgboost", &example_model());
    let mpath = dir.path().join("model.tar.gz.manifest.json");
    let good: serde_json::Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    let with = |ptr: &str, v: serde_json::Value| {
        let mut m = good.clone();
        *m.pointer_mut(ptr).expect("pointer") = v;
        serde_json::to_vec(&m).unwrap()
    };
    let deep = {
        let mut s = b"{\"schema\":\"sm-pack.manifest/v1\",\"x\":".to_vec();
        s.extend(std::iter::repeat_n(b'[', 100_000));
        s
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("null", b"null".to_vec()),
        ("array", b"[1,2,3]".to_vec()),
        (
            "non-UTF-8",
            b"{\"schema\":\"sm-pack.manifest/v1\xff\"}".to_vec(),
        ),
        ("UTF-16 BOM", b"\xff\xfe{\x00}\x00".to_vec()),
        ("deep nesting", deep),
        (
            "members not an array",
            with("/members", serde_json::json!({"a": 1})),
        ),
        (
            "member name a number",
            with("/members/0/name", serde_json::json!(7)),
        ),
        (
            "member size negative",
            with("/members/0/size", serde_json::json!(-1)),
        ),
        (
            "member size huge",
            with("/members/0/size", serde_json::json!(1e300)),
        ),
        (
            "mode not octal",
            with("/members/0/mode", serde_json::json!("0999")),
        ),
        (
            "mode overflow",
            with(
                "/members/0/mode",
                serde_json::json!("7777777777777777777777777"),
            ),
        ),
        (
            "sha256 an object",
            with("/archive/sha256", serde_json::json!({"x": []})),
        ),
        (
            "archive size a string",
            with("/archive/size", serde_json::json!("6360")),
        ),
        (
            "name with NUL",
            with("/members/0/name", serde_json::json!("xgboost-model\u{0}")),
        ),
        ("tar null", with("/tar", serde_json::Value::Null)),
    ];
    for (what, bytes) in cases {
        std::fs::write(&mpath, &bytes).unwrap();
        let r = verify(&archive, Target::Xgboost(None), true);
        let m = r.manifest.as_ref().expect("checked");
        if what == "tar null" {
            // Older manifests have no tar record: still fine.
            assert!(m.ok, "{what}: {:?}", r.findings);
            continue;
        }
        assert!(!m.ok, "{what}: accepted");
        assert!(
            r.findings
                .iter()
                .any(|f| f.code.starts_with("manifest.") && f.severity == Severity::Error),
            "{what}: {:?}",
            r.findings
        );
        // The CLI says the same with exit 1.
        let o = run_in(dir.path(), &["verify", "model.tar.gz"]);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{what}: {}", stderr(&o));
    }
}

#[test]
fn hostile_sha256sums_shapes_are_findings() {
    let (dir, archive) = pack("xgboost", &example_model());
    let spath = dir.path().join("SHA256SUMS");
    let good = std::fs::read_to_string(&spath).unwrap();
    let first = good.lines().next().unwrap().to_string();
    let (digest, rest) = first.split_at(64);
    let long_line = format!("{}\n", "f".repeat(MIB));
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        // (what, bytes, still checks clean)
        ("CRLF", good.replace('\n', "\r\n").into_bytes(), true),
        (
            "binary marker",
            format!("{digest} *{}\n", &rest[2..]).into_bytes(),
            true,
        ),
        (
            "upper-case hex",
            format!("{}{rest}\n", digest.to_uppercase()).into_bytes(),
            true,
        ),
        ("empty", Vec::new(), false),
        ("only newlines", b"\n\n\n".to_vec(), false),
        (
            "short digest",
            format!("{}{rest}\n", &digest[1..]).into_bytes(),
            false,
        ),
        (
            "tab separator",
            format!("{digest}\t{}\n", &rest[2..]).into_bytes(),
            false,
        ),
        (
            "NUL in name",
            format!("{digest}  model.tar.gz\0\n").into_bytes(),
            false,
        ),
        (
            "non-UTF-8",
            [&b"\xff\xfe"[..], first.as_bytes()].concat(),
            false,
        ),
        ("one 1 MiB line", long_line.into_bytes(), false),
        (
            "multi-byte at 64",
            format!("{}é  model.tar.gz\n", &digest[..63]).into_bytes(),
            false,
        ),
    ];
    for (what, bytes, clean) in cases {
        std::fs::write(&spath, &bytes).unwrap();
        let r = verify(&archive, Target::Xgboost(None), true);
        let s = r.sums.as_ref().expect("checked");
        assert_eq!(s.ok, clean, "{what}: {:?}", r.findings);
        let o = run_in(dir.path(), &["verify", "model.tar.gz"]);
        assert_eq!(
            o.status.code(),
            Some(if clean { 0 } else { 1 }),
            "{what}: {}",
            stdout(&o)
        );
        assert!(!stderr(&o).contains("panicked"), "{what}: {}", stderr(&o));
    }
}

// ------------------------------------------------------------------ XGBoost: worst cases

/// Live bytes per input byte of the document tree, for the inputs that pack
/// the most values into the fewest bytes.
#[test]
fn document_trees_stay_within_the_documented_bound() {
    let n = 200_000;
    let mut ubj_nulls = b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner[".to_vec();
    ubj_nulls.extend(std::iter::repeat_n(b'Z', n));
    ubj_nulls.extend(b"]}");
    let mut ubj_arrays = b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner[".to_vec();
    for _ in 0..n / 2 {
        ubj_arrays.extend(b"[]");
    }
    ubj_arrays.extend(b"]}");
    let json_arrays = format!("{{\"learner\":[{}[]]}}", "[],".repeat(n / 3)).into_bytes();
    let json_nulls = format!("{{\"learner\":[{}null]}}", "null,".repeat(n / 5)).into_bytes();
    let json_objects =
        format!("{{\"learner\":{{{}\"\":0}}}}", "\"\":{},".repeat(n / 6)).into_bytes();
    let json_strings = format!("{{\"learner\":[{}\"\"]}}", "\"\",".repeat(n / 3)).into_bytes();
    let mut over = Vec::new();
    for (what, bytes) in [
        ("UBJSON nulls", ubj_nulls),
        ("UBJSON empty arrays", ubj_arrays),
        ("JSON empty arrays", json_arrays),
        ("JSON nulls", json_nulls),
        ("JSON empty objects", json_objects),
        ("JSON empty strings", json_strings),
    ] {
        let (r, max_one, peak) = measured(|| sm_pack::xgboost::inspect_bytes(&bytes));
        assert!(r.is_err(), "{what}: a model?");
        let len = bytes.len();
        eprintln!(
            "{what}: {len} bytes, one allocation {}x, peak {}x",
            max_one / len,
            peak / len
        );
        // tests/xgboost_corrupt.rs and formats/xgboost.md: 32 × + 64 KiB for
        // one allocation, 96 × + 256 KiB live.
        if max_one > 32 * len + 64 * KIB || peak > 96 * len + 256 * KIB {
            over.push(what);
        }
    }
    assert!(over.is_empty(), "beyond the bound: {over:?}");
}

#[test]
fn deep_object_nesting_is_capped() {
    let mut j = Vec::new();
    for _ in 0..100_000 {
        j.extend(b"{\"learner\":");
    }
    let e = sm_pack::xgboost::inspect_bytes(&j).expect_err("deep JSON objects");
    assert!(e.to_string().contains("nesting deeper than"), "{e}");
    let mut u = Vec::new();
    for _ in 0..100_000 {
        u.extend(b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner");
    }
    let e = sm_pack::xgboost::inspect_bytes(&u).expect_err("deep UBJSON objects");
    assert!(e.to_string().contains("nesting deeper than"), "{e}");
}

#[test]
fn pickles_with_hostile_strings_are_errors() {
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    // GLOBAL with a non-UTF-8 module name.
    cases.push((
        "GLOBAL non-UTF-8",
        b"\x80\x02c\xff\xfe\nBooster\n)\x81.".to_vec(),
    ));
    // SHORT_BINUNICODE with invalid UTF-8, then STACK_GLOBAL.
    cases.push((
        "STACK_GLOBAL non-UTF-8",
        b"\x80\x04\x8c\x07xgboost\x8c\x03\xc3\x28\xa0\x93)\x81.".to_vec(),
    ));
    // BINUNICODE claiming 4 GiB.
    cases.push((
        "BINUNICODE 4 GiB",
        b"\x80\x03X\xff\xff\xff\xffabc.".to_vec(),
    ));
    // LONG4 claiming 2 GiB.
    cases.push(("LONG4", b"\x80\x02\x8b\xff\xff\xff\x7f.".to_vec()));
    // A memo get of an index never put.
    cases.push(("LONG_BINGET", b"\x80\x04j\xff\xff\xff\x7f.".to_vec()));
    // PROTO 99.
    cases.push(("protocol 99", b"\x80\x63N.".to_vec()));
    // Only the protocol.
    cases.push(("PROTO only", b"\x80\x05".to_vec()));
    // REDUCE on an empty stack, BUILD with nothing.
    cases.push(("REDUCE empty", b"\x80\x02R.".to_vec()));
    cases.push(("BUILD empty", b"\x80\x02b.".to_vec()));
    // FRAME claiming 2^63.
    cases.push((
        "FRAME",
        b"\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\x7fN.".to_vec(),
    ));
    for (what, bytes) in cases {
        let (r, _, peak) = measured(|| sm_pack::xgboost::inspect_bytes(&bytes));
        match r {
            Err(e) => assert!(e.exit_code() == 1, "{what}: {e}"),
            Ok(i) => assert!(i.has_errors(), "{what}: accepted"),
        }
        assert!(peak <= 256 * KIB, "{what}: {peak} bytes live");
    }
}

// ------------------------------------------------------------------ fastText: loader and predictor

#[test]
fn fasttext_model_loader_and_predictor_survive_cuts_and_flips() {
    use sm_pack::fasttext::{Model, Predictor};
    for name in [
        "sup_hs.bin",
        "sup_softmax.bin",
        "sup_ngrams_qcut.ftz",
        "cbow_nosub.bin",
    ] {
        let good = fixture(&format!("fasttext/{name}"));
        let run = |bytes: &[u8], what: &str| {
            let (r, max_one, peak) = measured(|| {
                let m = Model::read_from(bytes, Some(bytes.len() as u64))?;
                let p = Predictor::new(&m)?;
                if p.is_supervised() {
                    let _ = p.predict(b"the good ones are here __label__x", 5, 0.0);
                    let _ = p.blazingtext_classify(&["a b", ""], Some(-1));
                }
                let _ = p.sentence_vector(b"hello world");
                let _ = p.word_vector(b"hello");
                Ok::<(), sm_pack::Error>(())
            });
            if let Err(e) = r {
                assert!(matches!(e.exit_code(), 1 | 2), "{what}: {e}");
            }
            let n = bytes.len();
            assert!(
                max_one <= 4 * n + 2 * MIB,
                "{what}: one allocation of {max_one}"
            );
            assert!(peak <= 8 * n + 4 * MIB, "{what}: {peak} bytes live for {n}");
        };
        let step = (good.len() / 150).max(1);
        for cut in (0..good.len()).step_by(step) {
            run(&good[..cut], &format!("{name} cut at {cut}"));
        }
        let mut buf = good.clone();
        for p in (0..good.len().min(4096)).step_by(7) {
            for v in [good[p] ^ 0xFF, 0x7F] {
                buf[p] = v;
                run(&buf, &format!("{name} byte {p} = {v:#04x}"));
            }
            buf[p] = good[p];
        }
    }
}

// ------------------------------------------------------------------ the real binary

#[test]
fn the_cli_gives_exit_1_or_2_on_hostile_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let json = fixture("xgboost/2.1.4/logistic.json");
    let binf = fixture("xgboost/1.7.4/softprob.bin");
    let ft = fixture("fasttext/sup_hs.bin");
    let mut nested = b"{\"learner\":".to_vec();
    nested.extend(std::iter::repeat_n(b'[', 50_000));
    let mut huge_count = binf.clone();
    let n = huge_count.len();
    huge_count[n - 24..n - 16].copy_from_slice(&u64::MAX.to_le_bytes());
    let mut ft_huge = ft.clone();
    ft_huge[64..68].copy_from_slice(&i32::MAX.to_le_bytes()); // dictionary size
    let pwned = b"\x80\x02cposix\nsystem\nq\x00X\x1a\x00\x00\x00touch /tmp/sm-pack-pwned-cliq\x01\x85q\x02Rq\x03.";
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("empty.json", Vec::new()),
        ("cut.json", json[..json.len() / 2].to_vec()),
        ("nested.json", nested),
        ("huge-count.bin", huge_count),
        ("cut.bin", binf[..300].to_vec()),
        ("non-utf8.json", b"{\"learner\":{\"\xff\xfe\":1}}".to_vec()),
        ("pwned.pkl", pwned.to_vec()),
        ("ft-huge.bin", ft_huge),
        ("ft-cut.bin", ft[..ft.len() / 3].to_vec()),
        ("noise.bin", noise(100_000, 7)),
        ("bomb.tar.gz", gz(&vec![0u8; 8 * MIB])),
        (
            "garbage.tar.gz",
            [&[0x1f, 0x8b, 8, 0][..], &noise(5000, 3)].concat(),
        ),
    ];
    for (name, bytes) in &files {
        std::fs::write(d.join(name), bytes).unwrap();
    }
    let out = d.join("out");
    std::fs::create_dir(&out).unwrap();
    for (name, _) in &files {
        let runs: Vec<Vec<&str>> = vec![
            vec!["inspect", name],
            vec!["--json", "inspect", name],
            vec!["xgboost", name, "-o", "out/model.tar.gz"],
            vec!["fasttext", name, "-o", "out/model.tar.gz"],
            vec!["verify", name],
            vec!["verify", "--blazingtext", name],
            vec!["predict", name, "--input", name],
        ];
        for args in runs {
            let o = run_in(d, &args);
            let code = o.status.code();
            assert!(
                matches!(code, Some(1) | Some(2)),
                "{args:?}: exit {code:?}\nstdout: {}\nstderr: {}",
                stdout(&o),
                stderr(&o)
            );
            assert!(!stderr(&o).contains("panicked"), "{args:?}: {}", stderr(&o));
            assert_eq!(listing(&out), Vec::<String>::new(), "{args:?} wrote output");
        }
    }
    assert!(
        !Path::new("/tmp/sm-pack-pwned-cli").exists(),
        "a pickle ran code"
    );
}
