//! The foundation's acceptance tests: deterministic, atomic, accepted by the
//! standard tools, refusing what it must refuse.

mod common;

use common::*;
use sm_pack::archive::{Member, PackOptions, stage_archive, stage_archive_with_sink};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn pack_once(
    dir: &std::path::Path,
    model: &std::path::Path,
    extra_env: &[(&str, &str)],
) -> Vec<u8> {
    let out = dir.join("model.tar.gz");
    let mut c = bin();
    c.current_dir(dir).args([
        "xgboost",
        model.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--force",
    ]);
    for (k, v) in extra_env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "pack failed: {}", stderr(&o));
    fs::read(out).unwrap()
}

#[test]
fn same_input_gives_identical_bytes_whatever_the_file_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    fs::copy(example_model(), &model).unwrap();
    let manifest = || fs::read(dir.path().join("model.tar.gz.manifest.json")).unwrap();
    let a = pack_once(dir.path(), &model, &[]);
    let manifest_a = manifest();
    let b = pack_once(dir.path(), &model, &[]);
    assert_eq!(a, b, "two runs differ");
    assert_eq!(manifest_a, manifest(), "two runs wrote different manifests");

    // Different mtime, owner, permissions and a different process umask: same bytes.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(&model, Some(4242), Some(4343)).unwrap();
    } else {
        eprintln!("owner not changed: only root can give the file to another user");
    }
    let f = fs::File::options().write(true).open(&model).unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_234_567))
        .unwrap();
    fs::set_permissions(&model, fs::Permissions::from_mode(0o600)).unwrap();
    let c = {
        let out = dir.path().join("model.tar.gz");
        let o = Command::new("sh")
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .env_remove("SOURCE_DATE_EPOCH")
            .arg("-c")
            .arg(format!(
                "umask 077 && exec '{}' xgboost m.json -o model.tar.gz --force --threads 1",
                env!("CARGO_BIN_EXE_sm-pack")
            ))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        fs::read(out).unwrap()
    };
    assert_eq!(a, c, "file metadata or umask leaked into the archive");
    assert_eq!(
        manifest_a,
        manifest(),
        "file metadata leaked into the manifest"
    );

    // A copy under another name and folder: same archive (the member is always xgboost-model).
    let other = tempfile::tempdir().unwrap();
    let model2 = other.path().join("renamed.model");
    fs::copy(&model, &model2).unwrap();
    let d = pack_once(other.path(), &model2, &[]);
    assert_eq!(a, d);
}

#[test]
fn source_date_epoch_changes_only_entry_mtimes() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    fs::copy(example_model(), &model).unwrap();
    let plain = pack_once(dir.path(), &model, &[]);
    let dated = pack_once(dir.path(), &model, &[("SOURCE_DATE_EPOCH", "1700000000")]);
    assert_ne!(plain, dated);
    let untar = |gz: &[u8]| {
        let mut tar = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz), &mut tar).unwrap();
        tar
    };
    let (t1, t2) = (untar(&plain), untar(&dated));
    assert_eq!(t1.len(), t2.len());
    // Only the header's mtime field (offset 136, 12 bytes) and checksum (148, 8 bytes) differ.
    let diff: Vec<usize> = (0..t1.len()).filter(|&i| t1[i] != t2[i]).collect();
    assert!(!diff.is_empty());
    assert!(
        diff.iter().all(|&i| (136..156).contains(&i)),
        "unexpected differences at {diff:?}"
    );
    let mut a = tar::Archive::new(&t2[..]);
    let e = a.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(e.header().mtime().unwrap(), 1_700_000_000);
    // The manifest records the time only when SOURCE_DATE_EPOCH is set.
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("model.tar.gz.manifest.json")).unwrap())
            .unwrap();
    assert_eq!(m["created"], "2023-11-14T22:13:20Z");
    assert_eq!(m["tar"]["mtime"], 1_700_000_000);
}

#[test]
fn source_date_epoch_is_bounded_by_the_tar_header() {
    let dir = tempfile::tempdir().unwrap();
    let m = example_model();
    let max = sm_pack::archive::MAX_MTIME.to_string();
    // The largest mtime a header holds in octal: GNU tar reads it back.
    let o = bin()
        .current_dir(dir.path())
        .env("SOURCE_DATE_EPOCH", &max)
        .args(["xgboost", m.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = Command::new("tar")
        .args(["--utc", "-tvzf", "model.tar.gz"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "GNU tar: {}", stderr(&o));
    assert!(stdout(&o).contains("2242-03-16 12:56"), "{}", stdout(&o));
    // One second later, and values GNU tar or the format cannot hold: refused, nothing written.
    let later = (sm_pack::archive::MAX_MTIME + 1).to_string();
    for v in [later.as_str(), "18446744073709551615", "-1", "soon"] {
        let o = bin()
            .current_dir(dir.path())
            .env("SOURCE_DATE_EPOCH", v)
            .args(["xgboost", m.to_str().unwrap(), "-o", "late.tar.gz"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{v}: {}", stderr(&o));
        assert!(stderr(&o).contains("SOURCE_DATE_EPOCH"), "{}", stderr(&o));
        assert!(!dir.path().join("late.tar.gz").exists());
    }
    // The library refuses such an mtime too.
    let opts = PackOptions {
        mtime: sm_pack::archive::MAX_MTIME + 1,
        ..PackOptions::default()
    };
    let out = dir.path().join("lib.tar.gz");
    let err = stage_archive(&[Member::new(&m, "xgboost-model")], &out, &opts).unwrap_err();
    assert!(matches!(err, sm_pack::Error::Usage { .. }), "{err}");
    assert!(!out.exists());
}

#[test]
fn headers_are_normalised() {
    let dir = tempfile::tempdir().unwrap();
    let gz = pack_once(dir.path(), &example_model(), &[]);
    assert_eq!(
        &gz[..10],
        &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255],
        "gzip header"
    );
    let mut a = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
    let mut names = Vec::new();
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        names.push(e.path().unwrap().to_string_lossy().into_owned());
        assert_eq!(h.entry_type(), tar::EntryType::Regular);
        assert_eq!(h.mode().unwrap(), 0o644);
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        assert_eq!(h.username().unwrap(), Some(""));
        assert_eq!(h.groupname().unwrap(), Some(""));
        assert_eq!(h.mtime().unwrap(), sm_pack::archive::DEFAULT_MTIME);
        let gnu = h.as_gnu().expect("GNU header");
        // atime and ctime are not written: all NUL, as GNU tar leaves them.
        assert_eq!((gnu.atime, gnu.ctime), ([0; 12], [0; 12]));
    }
    assert_eq!(names, ["xgboost-model"]);
}

#[test]
fn gnu_tar_python_tarfile_and_sha256sum_accept_the_outputs() {
    let dir = tempfile::tempdir().unwrap();
    pack_once(dir.path(), &example_model(), &[]);
    let model_bytes = fs::read(example_model()).unwrap();

    let o = Command::new("sha256sum")
        .current_dir(dir.path())
        .args(["--strict", "-c", "SHA256SUMS"])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "sha256sum -c: {}{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(stdout(&o).contains("model.tar.gz: OK"));
    assert!(stdout(&o).contains("model.tar.gz.manifest.json: OK"));

    let gx = dir.path().join("gnu");
    fs::create_dir(&gx).unwrap();
    let o = Command::new("tar")
        .args(["-xzf", "../model.tar.gz"])
        .current_dir(&gx)
        .output()
        .unwrap();
    assert!(o.status.success(), "GNU tar: {}", stderr(&o));
    assert_eq!(fs::read(gx.join("xgboost-model")).unwrap(), model_bytes);
    let o = Command::new("tar")
        .args(["-tvzf", "model.tar.gz"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(stdout(&o).starts_with("-rw-r--r-- 0/0"), "{}", stdout(&o));

    let px = dir.path().join("py");
    let script = "import sys, tarfile\n\
        t = tarfile.open(sys.argv[1])\n\
        names = t.getnames()\n\
        assert names == ['xgboost-model'], names\n\
        m = t.getmember('xgboost-model')\n\
        assert m.isreg() and m.pax_headers == {} and m.uname == '' and m.gname == '', m\n\
        t.extractall(sys.argv[2], filter='data')\n\
        print('ok')\n";
    let o = Command::new("python3")
        .args([
            "-c",
            script,
            dir.path().join("model.tar.gz").to_str().unwrap(),
            px.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "python tarfile: {}", stderr(&o));
    assert_eq!(fs::read(px.join("xgboost-model")).unwrap(), model_bytes);
}

#[test]
fn refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let model = example_model();
    let m = model.to_str().unwrap();
    let o = run_in(dir.path(), &["xgboost", m]);
    assert!(o.status.success());
    let before = fs::read(dir.path().join("model.tar.gz")).unwrap();
    fs::write(dir.path().join("model.tar.gz"), b"precious").unwrap();
    let o = run_in(dir.path(), &["xgboost", m]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(
        fs::read(dir.path().join("model.tar.gz")).unwrap(),
        b"precious"
    );
    let o = run_in(dir.path(), &["xgboost", m, "--force"]);
    assert!(o.status.success());
    assert_eq!(fs::read(dir.path().join("model.tar.gz")).unwrap(), before);
    assert_eq!(
        listing(dir.path()),
        ["SHA256SUMS", "model.tar.gz", "model.tar.gz.manifest.json"]
    );
}

#[test]
fn symlinked_input_is_refused_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(example_model(), &link).unwrap();
    let o = run_in(dir.path(), &["xgboost", "link.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("symbolic link"), "{}", stderr(&o));
    assert!(stderr(&o).contains("--follow-symlinks"), "{}", stderr(&o));
    assert_eq!(listing(dir.path()), ["link.json"]);
    let o = run_in(dir.path(), &["xgboost", "link.json", "--follow-symlinks"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The target's bytes, stored as a regular file.
    let gz = fs::read(dir.path().join("model.tar.gz")).unwrap();
    let mut a = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
    let mut e = a.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(e.header().entry_type(), tar::EntryType::Regular);
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
    assert_eq!(bytes, fs::read(example_model()).unwrap());

    // The library refuses symlinks and non-regular files too.
    let out = dir.path().join("x.tar.gz");
    let err = stage_archive(
        &[Member::new(&link, "xgboost-model")],
        &out,
        &PackOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    let err = stage_archive(
        &[Member::new(dir.path(), "d")],
        &out,
        &PackOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("directory"), "{err}");
}

#[test]
fn unsafe_member_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.tar.gz");
    for name in ["/etc/passwd", "../x", "./x", "a//b", "", "a\0b"] {
        let err = stage_archive(
            &[Member::new(example_model(), name)],
            &out,
            &PackOptions::default(),
        )
        .unwrap_err();
        assert!(
            matches!(err, sm_pack::Error::InvalidMemberName { .. }),
            "{name:?}: {err}"
        );
    }
    assert_eq!(listing(dir.path()), Vec::<String>::new());
}

#[test]
fn members_are_sorted_and_digested_while_streaming() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    fs::write(&a, noise(300_000, 1)).unwrap();
    fs::write(&b, b"second").unwrap();
    let out = dir.path().join("x.tar.gz");
    let staged = stage_archive(
        &[Member::new(&b, "z-last"), Member::new(&a, "code/a-first")],
        &out,
        &PackOptions::default(),
    )
    .unwrap();
    let rec = staged.record.clone();
    staged.file.commit(false).unwrap();
    assert_eq!(rec.members[0].name, "code/a-first");
    assert_eq!(
        rec.members[0].sha256,
        sm_pack::hash::sha256_hex(&fs::read(&a).unwrap())
    );
    assert_eq!(rec.members[1].sha256, sm_pack::hash::sha256_hex(b"second"));
    let gz = fs::read(&out).unwrap();
    assert_eq!(rec.sha256, sm_pack::hash::sha256_hex(&gz));
    assert_eq!(rec.size, gz.len() as u64);
    let mut tar = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut tar).unwrap();
    assert_eq!(rec.tar_sha256, sm_pack::hash::sha256_hex(&tar));
    assert_eq!(rec.tar_size, tar.len() as u64);
}

#[test]
fn output_is_identical_across_thread_counts_and_matches_levels() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("big.bin");
    // Three and a half compression blocks of half-compressible data.
    let mut data = noise(3_600_000, 7);
    for (i, b) in data.iter_mut().enumerate() {
        if i % 3 != 0 {
            *b = (i % 17) as u8;
        }
    }
    fs::write(&model, &data).unwrap();
    for level in [1, 6, 9] {
        let mut outputs = Vec::new();
        for threads in [1, 2, 5] {
            let out = dir.path().join(format!("o-{level}-{threads}.tar.gz"));
            let opts = PackOptions {
                level,
                threads,
                ..PackOptions::default()
            };
            let s = stage_archive(&[Member::new(&model, "model.bin")], &out, &opts).unwrap();
            s.file.commit(false).unwrap();
            outputs.push(fs::read(&out).unwrap());
        }
        assert!(
            outputs.windows(2).all(|w| w[0] == w[1]),
            "level {level} differs by thread count"
        );
    }
}

/// Float32 weights as fastText initialises the rows no training touched
/// (uniform in ±1/dim, dim 100), after a real fastText model's own bytes.
fn float_weights(extra_rows: usize) -> Vec<u8> {
    let mut v =
        fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fasttext/sg.bin"))
            .unwrap();
    let mut x: u64 = 5;
    for _ in 0..extra_rows * 100 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let u = (x >> 40) as f32 / (1u64 << 24) as f32;
        v.extend_from_slice(&((u * 2.0 - 1.0) * 0.01).to_le_bytes());
    }
    v
}

#[test]
fn weights_and_json_pack_the_same_for_any_thread_count_and_standard_tools_read_them() {
    let dir = tempfile::tempdir().unwrap();
    // ~3.3 MB of float32 weights (literal-coded blocks) and 3.5 MB of real
    // JSON (LZ77 blocks), so both codings and the switch between them occur.
    let weights = dir.path().join("weights.bin");
    fs::write(&weights, float_weights(8_000)).unwrap();
    let json = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/xgboost/container-matrix.json");
    let members = [
        Member::new(&weights, "model.bin"),
        Member::new(&json, "notes/matrix.json"),
    ];
    for level in [0, 1, 6, 9] {
        let mut outputs = Vec::new();
        for threads in [1, 2, 5] {
            let out = dir.path().join(format!("w-{level}-{threads}.tar.gz"));
            let opts = PackOptions {
                level,
                threads,
                ..PackOptions::default()
            };
            let s = stage_archive(&members, &out, &opts).unwrap();
            s.file.commit(false).unwrap();
            outputs.push(fs::read(&out).unwrap());
        }
        assert!(
            outputs.windows(2).all(|w| w[0] == w[1]),
            "level {level} differs by thread count"
        );
        let out = dir.path().join(format!("w-{level}-1.tar.gz"));
        let input = fs::metadata(&weights).unwrap().len() + fs::metadata(&json).unwrap().len();
        if level > 0 {
            assert!(
                (outputs[0].len() as u64) < input * 7 / 10,
                "level {level}: {} bytes",
                outputs[0].len()
            );
        }
        let o = Command::new("gzip").arg("-t").arg(&out).output().unwrap();
        assert!(o.status.success(), "gzip -t, level {level}: {}", stderr(&o));
        let gx = dir.path().join(format!("gnu-{level}"));
        fs::create_dir(&gx).unwrap();
        let o = Command::new("tar")
            .arg("-xzf")
            .arg(&out)
            .current_dir(&gx)
            .output()
            .unwrap();
        assert!(o.status.success(), "GNU tar, level {level}: {}", stderr(&o));
        assert!(fs::read(gx.join("model.bin")).unwrap() == fs::read(&weights).unwrap());
        assert!(fs::read(gx.join("notes/matrix.json")).unwrap() == fs::read(&json).unwrap());
        let script = "import sys, tarfile, hashlib\n\
            t = tarfile.open(sys.argv[1])\n\
            for m in t.getmembers():\n    print(m.name, hashlib.sha256(t.extractfile(m).read()).hexdigest())\n";
        let o = Command::new("python3")
            .args(["-c", script, out.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "python tarfile: {}", stderr(&o));
        let want = format!(
            "model.bin {}\nnotes/matrix.json {}\n",
            sm_pack::hash::sha256_hex(&fs::read(&weights).unwrap()),
            sm_pack::hash::sha256_hex(&fs::read(&json).unwrap())
        );
        assert_eq!(stdout(&o), want, "level {level}");
    }
}

/// A sink that fails after `limit` bytes, like a full disk.
struct FailAfter {
    written: usize,
    limit: usize,
}

impl Write for FailAfter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.written + buf.len() > self.limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space left",
            ));
        }
        self.written += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn injected_write_failure_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let model = src.path().join("m.bin");
    fs::write(&model, noise(5_000_000, 3)).unwrap();
    let out = dir.path().join("model.tar.gz");
    let mut sink = FailAfter {
        written: 0,
        limit: 1_000_000,
    };
    let err = stage_archive_with_sink(
        &[Member::new(&model, "model.bin")],
        &out,
        &PackOptions::default(),
        Some(&mut sink),
    )
    .unwrap_err();
    assert!(matches!(err, sm_pack::Error::Io { .. }), "{err}");
    assert_eq!(
        listing(dir.path()),
        Vec::<String>::new(),
        "temp file left behind"
    );
}

#[test]
fn file_size_limit_mid_write_leaves_no_partial_archive() {
    // A real write failure in the real binary: RLIMIT_FSIZE makes write(2)
    // fail with EFBIG once the archive passes 1 MiB (SIGXFSZ is ignored).
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.bin");
    fs::write(&model, noise(4_000_000, 5)).unwrap();
    let out_dir = dir.path().join("out");
    fs::create_dir(&out_dir).unwrap();
    let o = Command::new("bash")
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 1024; exec '{}' fasttext m.bin -o out/model.tar.gz",
            env!("CARGO_BIN_EXE_sm-pack")
        ))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "stderr: {}", stderr(&o));
    assert!(stderr(&o).contains("cannot write"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("hint: the file size limit"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        listing(&out_dir),
        Vec::<String>::new(),
        "partial output left behind"
    );
}

#[test]
fn sigint_during_packing_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.bin");
    fs::write(&model, noise(96 << 20, 9)).unwrap();
    let out_dir = dir.path().join("out");
    fs::create_dir(&out_dir).unwrap();
    let child = bin()
        .current_dir(dir.path())
        .args([
            "fasttext",
            "m.bin",
            "-o",
            "out/model.tar.gz",
            "--level",
            "9",
            "--threads",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the temporary file exists, then interrupt.
    let start = std::time::Instant::now();
    while listing(&out_dir).is_empty() && start.elapsed().as_secs() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let o = child.wait_with_output().unwrap();
    // 96 MiB of noise at level 9 on one thread takes seconds; the signal
    // lands long before the end.
    assert!(
        !o.status.success(),
        "finished before the signal; make the input bigger"
    );
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(stderr(&o).contains("interrupted"), "{}", stderr(&o));
    assert_eq!(
        listing(&out_dir),
        Vec::<String>::new(),
        "partial output left behind"
    );
}

#[test]
fn manifest_validates_against_its_json_schema() {
    let dir = tempfile::tempdir().unwrap();
    pack_once(
        dir.path(),
        &example_model(),
        &[("SOURCE_DATE_EPOCH", "1700000000")],
    );
    let schema: serde_json::Value =
        serde_json::from_slice(&fs::read(repo().join("formats/manifest.schema.json")).unwrap())
            .unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("model.tar.gz.manifest.json")).unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&manifest)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(manifest["schema"], "sm-pack.manifest/v1");
    assert_eq!(manifest["members"][0]["name"], "xgboost-model");
    // A broken manifest is caught by the schema (the test can fail).
    let mut broken = manifest.clone();
    broken["archive"]["sha256"] = "xyz".into();
    assert!(!validator.is_valid(&broken));
}

#[test]
fn json_report_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_in(
        dir.path(),
        &["--json", "xgboost", example_model().to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["schema"], "sm-pack.report/v1");
    assert_eq!(r["ok"], true);
    assert_eq!(r["exit_code"], 0);
    let digest = sm_pack::hash::sha256_hex(&fs::read(dir.path().join("model.tar.gz")).unwrap());
    assert_eq!(
        r["outcome"]["manifest"]["archive"]["sha256"],
        digest.as_str()
    );

    // Missing input: exit 2 with a JSON error.
    let o = run_in(
        dir.path(),
        &["--json", "xgboost", "nope.json", "-o", "n.tar.gz"],
    );
    assert_eq!(o.status.code(), Some(2));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["ok"], false);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nope.json")
    );
    assert!(
        r["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("check the path")
    );

    // Usage error: exit 2.
    let o = run_in(dir.path(), &["xgboost", "--level", "12", "x"]);
    assert_eq!(o.status.code(), Some(2));

    // Empty model: validation failure, exit 1, nothing written.
    fs::write(dir.path().join("empty.json"), b"").unwrap();
    let o = run_in(dir.path(), &["xgboost", "empty.json", "-o", "e.tar.gz"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(!dir.path().join("e.tar.gz").exists());
}

#[test]
fn two_archives_in_one_folder_share_sha256sums() {
    let dir = tempfile::tempdir().unwrap();
    let m = example_model();
    let other = dir.path().join("other.bin");
    fs::copy(repo().join("testdata/xgboost/3.0.5/logistic.ubj"), &other).unwrap();
    assert!(
        run_in(
            dir.path(),
            &["xgboost", m.to_str().unwrap(), "-o", "a.tar.gz"]
        )
        .status
        .success()
    );
    assert!(
        run_in(dir.path(), &["xgboost", "other.bin", "-o", "b.tar.gz"])
            .status
            .success()
    );
    let sums = fs::read_to_string(dir.path().join("SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), 4, "{sums}");
    let o = Command::new("sha256sum")
        .current_dir(dir.path())
        .args(["--strict", "-c", "SHA256SUMS"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stdout(&o));
    // Repacking one of them replaces its lines, not duplicates them.
    assert!(
        run_in(
            dir.path(),
            &["xgboost", "other.bin", "-o", "b.tar.gz", "--force"]
        )
        .status
        .success()
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("SHA256SUMS"))
            .unwrap()
            .lines()
            .count(),
        4
    );
    // A foreign file called SHA256SUMS is never clobbered.
    fs::write(dir.path().join("SHA256SUMS"), "my notes\n").unwrap();
    let o = run_in(dir.path(), &["xgboost", "other.bin", "-o", "c.tar.gz"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(
        fs::read_to_string(dir.path().join("SHA256SUMS")).unwrap(),
        "my notes\n"
    );
    assert!(!dir.path().join("c.tar.gz").exists());
}
