//! Regression tests for the problems fuzzing and the robustness review found
//! (issue 10). Each test is the smallest input that showed the problem, with
//! the bound that now holds. The fuzz targets live in `fuzz/`; see README.md,
//! "Fuzzing and robustness".

mod common;

use common::*;
use sm_pack::archive::reader::{
    DEFAULT_MAX_EXTENSION_TOTAL, MAX_NAME_KEPT, ReadOptions, codes, read_archive,
};
use sm_pack::report::Severity;
use sm_pack::verify::{
    MAX_SIDECAR_BYTES, SIDECAR_FINDINGS_PER_CODE, Sidecar, Target, VerifyOptions, codes as vcodes,
    verify_archive,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ allocation accounting

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
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
        note(layout.size() as isize);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(-(layout.size() as isize));
        // SAFETY: ptr was allocated by System with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as isize);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size as isize - layout.size() as isize);
        // SAFETY: ptr was allocated by System with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns its result with the peak of bytes live on this
/// thread on top of what was live before.
fn peak_of<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.with(|l| l.get());
    PEAK.with(|p| p.set(base));
    let r = f();
    let peak = PEAK.with(|p| p.get()) - base;
    (r, peak.max(0) as usize)
}

const MIB: usize = 1 << 20;

// ------------------------------------------------------------------ archives

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// A GNU tar (long names as `././@LongLink` entries) of empty-ish files.
fn gnu_tar(names: &[Vec<u8>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for n in names {
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // The raw-name path: the builder writes a GNU long name entry.
        let name = std::str::from_utf8(n).expect("ASCII test names");
        b.append_data(&mut h, name, &b"x"[..]).expect("append");
    }
    b.into_inner().expect("tar")
}

/// Found by reviewing the reader against a decompression bomb (issue 10):
/// 300 members with 1 MiB GNU long names compress to 330 KB and made
/// `sm-pack verify` take 92 s, 7.1 GB of memory and print 667 MB, because
/// every name was kept whole and copied into every finding, discovery list
/// and verdict. Now the long names over the whole archive are capped
/// (`max_extension_total`, 16 MiB) and each kept name is at most
/// `MAX_NAME_KEPT` bytes plus a digest marker.
#[test]
fn long_gnu_names_cannot_claim_gigabytes() {
    let names: Vec<Vec<u8>> = (0..40)
        .map(|i| {
            let mut n = vec![b'a'; MIB - 16];
            n.extend_from_slice(format!("{i:08}").as_bytes());
            n
        })
        .collect();
    let bytes = gz(&gnu_tar(&names));
    assert!(bytes.len() < 200_000, "the bomb is small: {}", bytes.len());
    let (l, peak) = peak_of(|| read_archive(&bytes[..], &ReadOptions::default()).expect("read"));
    let too_large: Vec<_> = l.findings_with(codes::HEADER_TOO_LARGE).collect();
    assert_eq!(too_large.len(), 1, "{:?}", l.findings);
    assert!(
        too_large[0].message.contains("add up to"),
        "{}",
        too_large[0]
    );
    assert!(l.members.len() <= (DEFAULT_MAX_EXTENSION_TOTAL as usize / (MIB - 8)));
    for m in &l.members {
        assert!(
            m.name.len() <= MAX_NAME_KEPT + 64,
            "{} bytes kept",
            m.name.len()
        );
        assert!(m.name.contains("bytes, sha256 "), "marker missing");
    }
    // The 16 MiB of names are read once, in 1 MiB pieces; what stays is small.
    assert!(peak < 24 * MIB, "{} MiB live at peak", peak / MIB);
}

#[test]
fn long_names_stay_distinct_and_checked_whole() {
    let mut a = vec![b'd'; 6000];
    a.extend_from_slice(b"/../escape");
    let mut b = vec![b'd'; 6000];
    b.extend_from_slice(b"/other");
    let l = read_archive(&gz(&gnu_tar(&[a, b]))[..], &ReadOptions::default()).expect("read");
    assert_eq!(l.members.len(), 2);
    assert_ne!(l.members[0].name, l.members[1].name, "kept names collide");
    // The `..` sits beyond the kept prefix and is still found.
    assert!(
        l.findings_with(codes::DOTDOT).next().is_some(),
        "{:?}",
        l.findings
    );
    assert!(l.findings_with(codes::NAME_TOO_LONG).next().is_some());
    assert!(l.findings_with(codes::DUPLICATE).next().is_none());
}

#[test]
fn cli_verify_of_a_long_name_bomb_is_small_and_fails_cleanly() {
    let names: Vec<Vec<u8>> = (0..64)
        .map(|i| {
            let mut n = vec![b'a'; MIB - 16];
            n.extend_from_slice(format!("{i:08}").as_bytes());
            n
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.tar.gz");
    std::fs::write(&path, gz(&gnu_tar(&names))).unwrap();
    for args in [
        &["verify", "bomb.tar.gz"][..],
        &["--json", "verify", "bomb.tar.gz"][..],
        &["verify", "--blazingtext", "bomb.tar.gz"][..],
    ] {
        let o = run_in(dir.path(), args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
        assert!(
            o.stdout.len() < 4 * MIB,
            "{args:?}: {} bytes of report for a {} byte archive",
            o.stdout.len(),
            std::fs::metadata(&path).unwrap().len()
        );
    }
}

// ------------------------------------------------------------------ sidecars

/// A good archive packed by sm-pack, with its sidecars, in a fresh folder.
fn packed() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let o = run_in(
        dir.path(),
        &[
            "xgboost",
            example_model().to_str().unwrap(),
            "-o",
            "model.tar.gz",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let p = dir.path().join("model.tar.gz");
    (dir, p)
}

fn verify_bt(path: &Path) -> sm_pack::verify::VerifyReport {
    let opts = VerifyOptions {
        target: Target::Blazingtext,
        manifest: Sidecar::Auto,
        sums: Sidecar::Auto,
        ..VerifyOptions::default()
    };
    verify_archive(path, &opts).expect("verify")
}

fn count(r: &sm_pack::verify::VerifyReport, code: &str) -> usize {
    r.findings.iter().filter(|f| f.code == code).count()
}

/// Found by review: the manifest check matched members with nested linear
/// scans (quadratic in manifest × archive members) and made one finding per
/// listed member, so a 16 MiB manifest could cost minutes and gigabytes.
/// Now lookups are hashed (see the `adversarial` benchmark for n vs 2n) and
/// findings of one code are capped with a count.
#[test]
fn a_manifest_listing_200k_members_is_capped() {
    let (dir, archive) = packed();
    let mpath = dir.path().join("model.tar.gz.manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    let members: Vec<serde_json::Value> = (0..200_000)
        .map(|i| serde_json::json!({"name": format!("m{i}"), "size": 1, "sha256": "00"}))
        .collect();
    m["members"] = serde_json::Value::Array(members);
    let text = serde_json::to_vec(&m).unwrap();
    assert!((text.len() as u64) < MAX_SIDECAR_BYTES);
    std::fs::write(&mpath, &text).unwrap();
    let (r, peak) = peak_of(|| verify_bt(&archive));
    let missing = count(&r, vcodes::MANIFEST_MEMBER_MISSING);
    assert_eq!(
        missing,
        SIDECAR_FINDINGS_PER_CODE + 1,
        "listed + one summary"
    );
    let summary = r
        .findings
        .iter()
        .rfind(|f| f.code == vcodes::MANIFEST_MEMBER_MISSING)
        .unwrap();
    assert!(
        summary
            .message
            .contains(&format!("{} more", 200_000 - SIDECAR_FINDINGS_PER_CODE)),
        "{summary}"
    );
    assert!(!r.manifest.as_ref().unwrap().ok);
    // serde_json's tree of 200k small objects dominates: ~40 × the text.
    assert!(
        peak < 64 * text.len(),
        "{} MiB live for a {} MiB manifest",
        peak / MIB,
        text.len() / MIB
    );
}

#[test]
fn garbage_sha256sums_lines_are_capped() {
    let (dir, archive) = packed();
    let spath = dir.path().join("SHA256SUMS");
    let mut text = std::fs::read(&spath).unwrap();
    for i in 0..100_000 {
        writeln!(text, "not a sum {i}").unwrap();
    }
    text.extend_from_slice(b"\xff\xfe non-UTF-8 \xc3\n");
    std::fs::write(&spath, &text).unwrap();
    let r = verify_bt(&archive);
    assert_eq!(
        count(&r, vcodes::SUMS_UNREADABLE),
        SIDECAR_FINDINGS_PER_CODE + 1
    );
    // The real lines are still checked.
    assert_eq!(count(&r, vcodes::SUMS_MISMATCH), 0, "{:?}", r.findings);
    assert_eq!(count(&r, vcodes::SUMS_MISSING), 0);
}

#[test]
fn oversized_sidecars_are_refused_without_reading_them() {
    let (dir, archive) = packed();
    let mpath = dir.path().join("model.tar.gz.manifest.json");
    let spath = dir.path().join("SHA256SUMS");
    // Sparse files: a 1 GiB manifest costs no disk.
    for p in [&mpath, &spath] {
        let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
        f.set_len(1 << 30).unwrap();
    }
    let (r, peak) = peak_of(|| verify_bt(&archive));
    let unreadable: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == vcodes::MANIFEST_UNREADABLE || f.code == vcodes::SUMS_UNREADABLE)
        .collect();
    assert_eq!(unreadable.len(), 2, "{:?}", r.findings);
    assert!(unreadable.iter().all(|f| f.severity == Severity::Error));
    assert!(
        unreadable[0].message.contains("larger than"),
        "{}",
        unreadable[0]
    );
    assert!(peak < 3 * MAX_SIDECAR_BYTES as usize, "{} MiB", peak / MIB);
}

/// Found by review: a FIFO named like a sidecar beside the archive made
/// `sm-pack verify` block forever in open(2). Auto-discovered sidecars are
/// now opened without blocking and must be regular files.
#[test]
fn a_fifo_beside_the_archive_does_not_hang_verify() {
    let (dir, _archive) = packed();
    let mpath = dir.path().join("model.tar.gz.manifest.json");
    std::fs::remove_file(&mpath).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(&mpath)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let mut child = bin()
        .current_dir(dir.path())
        .args(["verify", "model.tar.gz"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("sm-pack verify hung on a FIFO sidecar");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("not a regular file"), "{}", stdout(&o));
}

// ------------------------------------------------------------------ device files

/// Found by review: `sm-pack verify model.tar.gz` where model.tar.gz is a
/// symlink to /dev/zero (a file a hostile repository can hold) read zero
/// blocks forever. Devices are now refused before reading.
#[test]
fn verify_refuses_a_device_instead_of_reading_forever() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("model.tar.gz")).unwrap();
    let e = sm_pack::archive::reader::read_archive_file(
        &dir.path().join("model.tar.gz"),
        &ReadOptions::default(),
    )
    .expect_err("a device");
    assert!(e.to_string().contains("is a device"), "{e}");
    assert_eq!(e.exit_code(), 2);
    for args in [
        &["verify", "model.tar.gz"][..],
        &["verify", "--blazingtext", "model.tar.gz"][..],
    ] {
        let mut child = bin()
            .current_dir(dir.path())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{args:?} kept reading /dev/zero");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
}

/// `sm-pack inspect`, `sm-pack predict` and `sm-pack xgboost
/// --follow-symlinks` read an XGBoost model path whole with `fs::read`, so a
/// symlink to /dev/zero grew memory until the allocator failed (2 GB under a
/// 2 GB address-space limit, all memory without one). Model paths now go
/// through `sm_pack::input::read_model_file`: regular files only, at most
/// `MAX_MODEL_BYTES`.
#[test]
fn inspect_and_predict_refuse_a_device() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("model.json")).unwrap();
    for args in [
        "inspect model.json",
        "predict model.json",
        "xgboost --follow-symlinks model.json -o out.tar.gz",
    ] {
        let o = std::process::Command::new("bash")
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .arg("-c")
            .arg(format!(
                "ulimit -v 1000000; exec '{}' {args} </dev/null",
                env!("CARGO_BIN_EXE_sm-pack")
            ))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("device") || stderr(&o).contains("regular file"),
            "{args}: {}",
            stderr(&o)
        );
    }
}

/// The rest of the same fix: a FIFO named like a model is refused without
/// waiting for a writer (it used to block `inspect`, `predict`, `convert`
/// and `fasttext` forever, and a blocked open does not see SIGTERM's
/// cancel flag), a sparse file claiming 5 GiB is refused by its size
/// before anything is read (`MAX_MODEL_BYTES`, 4 GiB), and a request body
/// or sample that is a device is refused (`predict --input /dev/zero` read
/// forever).
#[test]
fn model_and_request_paths_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fifo = std::ffi::CString::new(d.join("fifo.json").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    std::fs::File::create(d.join("huge.json"))
        .unwrap()
        .set_len(5 << 30)
        .unwrap();
    std::fs::copy(example_model(), d.join("m.json")).unwrap();
    std::fs::copy(
        repo().join("testdata/fasttext/sup_hs.bin"),
        d.join("ft.bin"),
    )
    .unwrap();
    std::fs::write(d.join("rows.csv"), b"1,2,3\n").unwrap();
    let cases: [(&[&str], &str); 12] = [
        (&["inspect", "fifo.json"], "not a regular file"),
        (
            &["predict", "fifo.json", "--input", "rows.csv"],
            "not a regular file",
        ),
        (
            &["convert", "fifo.json", "-o", "o.json"],
            "not a regular file",
        ),
        (&["xgboost", "fifo.json", "-o", "a.tar.gz"], "regular file"),
        (&["fasttext", "fifo.json", "-o", "a.tar.gz"], "regular file"),
        (&["fasttext", "/dev/zero", "-o", "a.tar.gz"], "regular file"),
        (
            &[
                "fasttext",
                "ft.bin",
                "-o",
                "d.tar.gz",
                "--sample",
                "/dev/zero",
                "--expect",
                "rows.csv",
            ],
            "is a device",
        ),
        (&["inspect", "huge.json"], "at most 4 GiB"),
        (
            &["predict", "huge.json", "--input", "rows.csv"],
            "at most 4 GiB",
        ),
        (&["xgboost", "huge.json", "-o", "b.tar.gz"], "at most 4 GiB"),
        (
            &["predict", "m.json", "--input", "/dev/zero"],
            "is a device",
        ),
        (
            &[
                "xgboost",
                "m.json",
                "-o",
                "c.tar.gz",
                "--sample",
                "/dev/zero",
                "--expect",
                "rows.csv",
            ],
            "is a device",
        ),
    ];
    for (args, says) in cases {
        let mut child = bin()
            .current_dir(d)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{args:?} blocked or kept reading");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
    let mut left = listing(d);
    left.sort();
    assert_eq!(
        left,
        ["fifo.json", "ft.bin", "huge.json", "m.json", "rows.csv"]
    );
}

/// `sm-pack upload` read the manifest and SHA256SUMS beside the archive
/// with `fs::read`: a FIFO named `model.tar.gz.manifest.json` blocked the
/// upload forever before anything was contacted (a device would have been
/// read forever). They are now read like `verify` reads them: regular files
/// of at most 16 MiB, a FIFO refused without blocking.
#[cfg(feature = "s3")]
#[test]
fn upload_refuses_a_fifo_named_like_a_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = bin()
        .current_dir(d)
        .args([
            "xgboost",
            example_model().to_str().unwrap(),
            "-o",
            "model.tar.gz",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for sidecar in ["model.tar.gz.manifest.json", "SHA256SUMS"] {
        let p = d.join(sidecar);
        let kept = d.join("kept");
        std::fs::rename(&p, &kept).unwrap();
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let mut child = bin()
            .current_dir(d)
            .args([
                "upload",
                "model.tar.gz",
                "s3://bucket/m/",
                "--endpoint-url",
                "http://127.0.0.1:9",
            ])
            .env("AWS_ACCESS_KEY_ID", "AKIAFAKE")
            .env("AWS_SECRET_ACCESS_KEY", "fake")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("upload blocked on a FIFO named {sidecar}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{sidecar}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("not a regular file"),
            "{sidecar}: {}",
            stderr(&o)
        );
        std::fs::remove_file(&p).unwrap();
        std::fs::rename(&kept, &p).unwrap();
    }
}

// ------------------------------------------------------------------ XGBoost document trees

/// Found by `robustness_malformed::document_trees_stay_within_the_documented_bound`:
/// a UBJSON array of nulls (`[ZZZ…]`, one byte per value) built a 64-byte tree
/// node per input byte: one allocation of 73 × the input, beyond the
/// documented 32 × + 64 KiB; a counted array (`[#L n` + n nulls) reserved
/// the same up front. `[[],[],…]` and `{"":{},…}` in JSON came to 36 × and
/// 97 ×. Verify captures up to 256 MiB of a root file, which a 256 KB gzip
/// can hold, so this was a memory bomb. The readers now allow one node per 4
/// input bytes (`doc::BYTES_PER_NODE`), far above what real models use.
#[test]
fn node_dense_documents_are_refused_within_the_bound() {
    let n = 400_000usize;
    let head = b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner".to_vec();
    let mut nulls = head.clone();
    nulls.push(b'[');
    nulls.extend(std::iter::repeat_n(b'Z', n));
    nulls.extend(b"]}");
    let mut counted = head.clone();
    counted.extend(b"[#L");
    counted.extend((n as i64).to_be_bytes());
    counted.extend(std::iter::repeat_n(b'Z', n));
    counted.push(b'}');
    let json = format!("{{\"learner\":[{}[]]}}", "[],".repeat(n / 3)).into_bytes();
    for (what, bytes) in [("nulls", nulls), ("counted", counted), ("json", json)] {
        let (r, peak) = peak_of(|| sm_pack::xgboost::inspect_bytes(&bytes));
        let e = r.expect_err(what);
        assert_eq!(e.exit_code(), 1, "{what}: {e}");
        assert!(e.to_string().contains("more values than"), "{what}: {e}");
        assert!(
            peak <= 32 * bytes.len() + 64 * 1024,
            "{what}: {peak} bytes live for {} ({}×)",
            bytes.len(),
            peak / bytes.len()
        );
    }
    // Real models are far below the budget: the densest fixture parses.
    for rel in [
        "3.2.0/cat.ubj",
        "1.0.0/logistic.json",
        "2.1.4/logistic.pretty.json",
    ] {
        let b = std::fs::read(repo().join("testdata/xgboost").join(rel)).unwrap();
        sm_pack::xgboost::inspect_bytes(&b).unwrap_or_else(|e| panic!("{rel}: {e}"));
    }
}

// ------------------------------------------------------------------ pax records

/// A tar header block with a valid checksum.
fn ustar_header(name: &str, typ: u8, size: usize) -> Vec<u8> {
    let mut h = vec![0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = typ;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

/// pax records `key=value` with their length prefixes, up to `max` bytes.
fn pax_records(max: usize, rec: impl Fn(usize) -> String) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut n = 0;
    loop {
        let r = rec(n);
        let mut len = r.len() + 3;
        let mut line = format!("{len} {r}\n");
        while line.len() != len {
            len = line.len();
            line = format!("{len} {r}\n");
        }
        if out.len() + line.len() > max {
            return (out, n);
        }
        out.extend(line.into_bytes());
        n += 1;
    }
}

fn padded(mut b: Vec<u8>) -> Vec<u8> {
    b.resize(b.len().div_ceil(512) * 512, 0);
    b
}

/// Found by the `tar_pax_records` benchmark and review: every member kept a
/// copy of all pax global records (`global_pax.clone()` per member), and
/// local records were merged with a `retain` per record (quadratic). A
/// 213 KB archive (one 1 MiB global header of 84 000 records, then 2000
/// empty members) made `sm-pack inspect` run 20 s and abort past 8 GB.
/// Global records are now indexed once and shared; a member keeps at most
/// `MAX_PAX_RECORDS_KEPT` for display.
#[test]
fn a_global_pax_header_is_not_copied_into_every_member() {
    use sm_pack::archive::reader::MAX_PAX_RECORDS_KEPT;
    let (recs, n) = pax_records(1 << 20, |i| format!("k{i}=v"));
    let mut t = ustar_header("pax_global_header", b'g', recs.len());
    t.extend(padded(recs));
    for j in 0..2000 {
        t.extend(ustar_header(&format!("f{j:05}"), b'0', 0));
    }
    t.extend([0u8; 1024]);
    let bytes = gz(&t);
    assert!(bytes.len() < 400_000, "{}", bytes.len());
    let (l, peak) = peak_of(|| read_archive(&bytes[..], &ReadOptions::default()).expect("read"));
    assert_eq!(l.members.len(), 2000);
    assert!(
        l.members
            .iter()
            .all(|m| m.pax.len() == MAX_PAX_RECORDS_KEPT)
    );
    let global = l
        .findings_with(codes::PAX_GLOBAL)
        .next()
        .expect("pax_global");
    assert!(
        global.message.contains(&format!("and {} more", n - 20)),
        "{}",
        global.message
    );
    assert!(
        global.message.len() < 1024,
        "{} bytes",
        global.message.len()
    );
    assert!(peak < 48 * MIB, "{} MiB live at peak", peak / MIB);
}

#[test]
fn many_local_pax_records_keep_the_last_of_each_key() {
    let (mut recs, _) = pax_records(512 << 10, |i| format!("SCHILY.xattr.user.k{i}=v"));
    // Two path records: the last wins, as in GNU tar and Python.
    for r in ["14 path=first\n", "15 path=second\n"] {
        recs.extend(r.as_bytes());
    }
    let mut t = ustar_header("PaxHeaders/x", b'x', recs.len());
    t.extend(padded(recs));
    t.extend(ustar_header("ignored", b'0', 1));
    t.extend(padded(b"x".to_vec()));
    t.extend([0u8; 1024]);
    let l = read_archive(&gz(&t)[..], &ReadOptions::default()).expect("read");
    assert_eq!(l.members.len(), 1, "{:?}", l.findings);
    assert_eq!(l.members[0].name, "second");
    let x = l
        .findings_with(codes::PAX_XATTR)
        .next()
        .expect("xattr finding");
    assert!(x.message.contains("more)"), "{}", x.message);
    assert!(x.message.len() < 2048, "{} bytes", x.message.len());
}

/// The archive writer opens its inputs without blocking: a FIFO handed to
/// the library directly (or swapped in after the caller's own check) is
/// refused at once instead of waiting forever for a writer in open(2).
#[test]
fn the_writer_refuses_a_fifo_without_waiting_for_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("xgboost-model");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let out = dir.path().join("model.tar.gz");
    let (tx, rx) = std::sync::mpsc::channel();
    let (f, o) = (fifo.clone(), out.clone());
    std::thread::spawn(move || {
        let r = sm_pack::archive::stage_archive(
            &[sm_pack::archive::Member::new(&f, "xgboost-model")],
            &o,
            &sm_pack::archive::PackOptions::default(),
        );
        let _ = tx.send(r.map(|_| ()).map_err(|e| e.to_string()));
    });
    let r = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("stage_archive blocked on a FIFO");
    let e = r.expect_err("a FIFO is not a regular file");
    assert!(e.contains("not a regular file"), "{e}");
    assert_eq!(listing(dir.path()), vec!["xgboost-model".to_string()]);
}

// ------------------------------------------------------------------ serve

/// fuzz `serve_request` (2026-11-26): a 17 KB libsvm body answered with
/// selectable RecordIO-protobuf output made a ~60 MB response, because the
/// container's records each repeat every earlier one (the size grows with
/// the square of the rows). The response is now sized first; one over
/// 32 MiB is a 500 that says so, and nothing near its size is allocated.
#[test]
fn quadratic_recordio_responses_are_sized_before_they_are_built() {
    use sm_pack::serve::{ContainerEnv, Endpoint, Load, LoadOptions, Request, load};
    let dir = tempfile::tempdir().unwrap();
    let o = run_in(
        dir.path(),
        &[
            "xgboost",
            repo()
                .join("testdata/xgboost/3.0.5/softprob.ubj")
                .to_str()
                .unwrap(),
            "--container",
            "3.0-5",
            "-o",
            "model.tar.gz",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let opts = LoadOptions::new(Target::Xgboost(Some("3.0-5".into())));
    let Load::Ready(models) = load(&dir.path().join("model.tar.gz"), &opts).unwrap() else {
        panic!("refused");
    };
    let mut env = ContainerEnv::default();
    env.set(
        "SAGEMAKER_INFERENCE_OUTPUT",
        "predicted_label,probability,probabilities",
    )
    .unwrap();
    let endpoint = Endpoint::new(&models, env).unwrap();
    let ask = |rows: usize| {
        let body = "0 1:0.5 2:-1.25\n".repeat(rows);
        peak_of(|| {
            endpoint.invoke(&Request {
                content_type: Some("text/libsvm"),
                accept: Some("application/x-recordio-protobuf"),
                body: body.as_bytes(),
            })
        })
    };
    let (r, peak) = ask(300);
    assert_eq!(r.status, 200, "{}", r.body_text());
    assert!(
        r.body.len() > 2 * MIB && peak < r.body.len() + 8 * MIB,
        "{} bytes, peak {peak}",
        r.body.len()
    );
    let (r, peak) = ask(3000);
    assert_eq!(r.status, 500);
    let text = r.body_text();
    assert!(
        text.contains("response to 3000 rows would be")
            && text.contains("send fewer rows per request"),
        "{text}"
    );
    assert!(peak < 8 * MIB, "peak {peak}");
}
