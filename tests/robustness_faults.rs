//! Faults while packing, with the real binary: a full disk (for the archive
//! and for each sidecar), no inodes left, a read-only or unwritable output
//! folder, an input that shrinks, grows or disappears mid-read, SIGTERM and
//! SIGINT. After each: exit 2 (or 130), a clear message, nothing partial at
//! the destination, no temporary file left, and outputs that existed before
//! (with --force) untouched.
//!
//! Real full disks come from a small tmpfs mounted in a private mount
//! namespace (`unshare -m`, so nothing leaks into the host and the mount
//! ends with the test); where that is not allowed (no root, no
//! CAP_SYS_ADMIN) those cases print why they are skipped, and
//! `tests/archive_pack.rs` still covers a write failure with RLIMIT_FSIZE.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as u64 } else { 4096 }
}

fn pages(bytes: u64) -> u64 {
    bytes.div_ceil(page_size())
}

/// What a run inside the mount namespace saw.
#[derive(Debug)]
struct NsRun {
    exit: i32,
    stderr: String,
    /// File name -> sha256 of every entry left in the output folder.
    files: BTreeMap<String, String>,
}

/// Runs sm-pack with `args` (where `$OUT` stands for the output folder) in
/// a private mount namespace after the shell snippet `setup` (which mounts
/// something on `$OUT` and may copy the files of `$OLD` into it). `None`
/// when mount namespaces or tmpfs are not available here.
fn in_namespace(setup: &str, old: Option<&Path>, args: &[&str]) -> Option<NsRun> {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let errf = work.path().join("stderr");
    let out_s = out.to_str().unwrap();
    let quoted: Vec<String> = args
        .iter()
        .map(|a| format!("'{}'", a.replace("$OUT", out_s).replace('\'', "'\\''")))
        .collect();
    let script = format!(
        r#"
        set -u
        {setup} || {{ echo MOUNT_FAILED; exit 0; }}
        "$BIN" {args} >/dev/null 2>"$ERRF"
        echo "exit=$?"
        for f in $(ls -A "$OUT"); do echo "file=$f $(sha256sum < "$OUT/$f" | cut -c1-64)"; done
        "#,
        args = quoted.join(" ")
    );
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c", &script])
        .env("OUT", &out)
        .env("ERRF", &errf)
        .env("BIN", env!("CARGO_BIN_EXE_sm-pack"))
        .env("NO_COLOR", "1")
        .env_remove("SOURCE_DATE_EPOCH")
        .current_dir(work.path());
    if let Some(o) = old {
        c.env("OLD", o);
    }
    let o = match c.output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipped: unshare is not available ({e})");
            return None;
        }
    };
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    if !o.status.success() || text.contains("MOUNT_FAILED") {
        eprintln!(
            "skipped: cannot mount a tmpfs in a private mount namespace here ({})",
            String::from_utf8_lossy(&o.stderr).trim()
        );
        return None;
    }
    let mut exit = -1;
    let mut files = BTreeMap::new();
    for line in text.lines() {
        if let Some(c) = line.strip_prefix("exit=") {
            exit = c.trim().parse().unwrap();
        } else if let Some(f) = line.strip_prefix("file=") {
            let (name, sum) = f.rsplit_once(' ').unwrap();
            files.insert(name.to_string(), sum.to_string());
        }
    }
    Some(NsRun {
        exit,
        stderr: std::fs::read_to_string(&errf).unwrap_or_default(),
        files,
    })
}

fn sha256_of(p: &Path) -> String {
    sm_pack::hash::sha256_hex(&std::fs::read(p).unwrap())
}

/// Packs once on a normal disk: the outputs' sizes and digests.
fn reference(family: &str, model: &Path, env: &[(&str, &str)]) -> (tempfile::TempDir, [u64; 3]) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = bin();
    c.current_dir(dir.path())
        .args([family, model.to_str().unwrap(), "-o", "model.tar.gz"]);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let size = |n: &str| std::fs::metadata(dir.path().join(n)).unwrap().len();
    let sizes = [
        size("model.tar.gz"),
        size("model.tar.gz.manifest.json"),
        size("SHA256SUMS"),
    ];
    (dir, sizes)
}

fn assert_clean_failure(what: &str, r: &NsRun, old: &BTreeMap<String, String>) {
    assert_eq!(r.exit, 2, "{what}: {}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{what}: {}", r.stderr);
    assert!(r.stderr.contains("error: "), "{what}: {}", r.stderr);
    assert_eq!(
        &r.files, old,
        "{what}: the output folder changed (partial or temporary files, or old outputs touched)\n{}",
        r.stderr
    );
}

// ------------------------------------------------------------------ full disk

#[test]
fn a_full_disk_at_each_output_leaves_nothing_behind() {
    let models = [
        ("xgboost", example_model()),
        ("fasttext", repo().join("testdata/fasttext/sup_hs.bin")),
    ];
    for (family, model) in &models {
        let (_ref_dir, [archive, manifest, sums]) = reference(family, model, &[]);
        let (a, m, s) = (pages(archive), pages(manifest), pages(sums));
        assert!(a >= 2, "{family}: the archive must span two pages");
        let ps = page_size();
        // (what, tmpfs pages, inodes): room for less than the archive; for
        // the archive only; for the archive and the manifest; then no inode
        // for the manifest's or the sums' temporary file.
        let cases = [
            ("archive", a - 1, 64),
            ("manifest", a, 64),
            ("SHA256SUMS", a + m, 64),
            ("manifest inode", a + m + s + 4, 2),
            ("SHA256SUMS inode", a + m + s + 4, 3),
        ];
        for (what, size_pages, inodes) in cases {
            let mount = format!(
                r#"mount -t tmpfs -o size={},nr_inodes={inodes},mode=0755 tmpfs "$OUT""#,
                size_pages.max(1) * ps
            );
            let Some(r) = in_namespace(
                &mount,
                None,
                &[family, model.to_str().unwrap(), "-o", "$OUT/model.tar.gz"],
            ) else {
                return;
            };
            let what = format!("{family}: disk full at the {what}");
            assert_clean_failure(&what, &r, &BTreeMap::new());
            assert!(
                r.stderr.contains("No space left on device")
                    && r.stderr.contains("hint: free space on that disk"),
                "{what}: {}",
                r.stderr
            );
        }
    }
}

/// The arguments use "$OUT" literally: the shell in the namespace expands it.
fn out_args<'a>(family: &'a str, model: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![family, model, "-o", "$OUT/model.tar.gz"];
    v.extend_from_slice(extra);
    v
}

#[test]
fn a_full_disk_while_replacing_outputs_keeps_the_old_ones() {
    let model = example_model();
    // The old outputs: the same model packed with another SOURCE_DATE_EPOCH
    // (same sizes, other bytes).
    let (old_dir, [archive, manifest, sums]) =
        reference("xgboost", &model, &[("SOURCE_DATE_EPOCH", "1700000000")]);
    let old: BTreeMap<String, String> =
        ["model.tar.gz", "model.tar.gz.manifest.json", "SHA256SUMS"]
            .iter()
            .map(|n| (n.to_string(), sha256_of(&old_dir.path().join(n))))
            .collect();
    let (a, m, s) = (pages(archive), pages(manifest), pages(sums));
    let old_pages = a + m + s;
    for (what, free) in [("archive", a - 1), ("manifest", a), ("SHA256SUMS", a + m)] {
        let mount = format!(
            r#"mount -t tmpfs -o size={},mode=0755 tmpfs "$OUT" && cp -p "$OLD"/* "$OUT"/"#,
            (old_pages + free).max(1) * page_size()
        );
        let Some(r) = in_namespace(
            &mount,
            Some(old_dir.path()),
            &out_args("xgboost", model.to_str().unwrap(), &["--force"]),
        ) else {
            return;
        };
        assert_clean_failure(&format!("--force, disk full at the {what}"), &r, &old);
    }
}

// ------------------------------------------------------------------ unwritable folder

#[test]
fn a_read_only_output_folder_is_a_clear_error() {
    let model = example_model();
    let (old_dir, _) = reference("xgboost", &model, &[]);
    let old: BTreeMap<String, String> =
        ["model.tar.gz", "model.tar.gz.manifest.json", "SHA256SUMS"]
            .iter()
            .map(|n| (n.to_string(), sha256_of(&old_dir.path().join(n))))
            .collect();
    // A read-only tmpfs (empty), and a read-only bind mount holding old
    // outputs that --force would replace.
    let ro_tmpfs = r#"mount -t tmpfs -o ro,size=1m tmpfs "$OUT""#;
    let ro_bind = r#"cp -p "$OLD"/* "$OUT"/ && mount --bind "$OUT" "$OUT" && mount -o remount,bind,ro "$OUT""#;
    let Some(r) = in_namespace(
        ro_tmpfs,
        None,
        &out_args("xgboost", model.to_str().unwrap(), &[]),
    ) else {
        return;
    };
    assert_clean_failure("read-only tmpfs", &r, &BTreeMap::new());
    assert!(
        r.stderr.contains("Read-only file system")
            && r.stderr.contains("temporary file")
            && r.stderr
                .contains("hint: that file system is mounted read-only"),
        "{}",
        r.stderr
    );
    let Some(r) = in_namespace(
        ro_bind,
        Some(old_dir.path()),
        &out_args("xgboost", model.to_str().unwrap(), &["--force"]),
    ) else {
        return;
    };
    assert_clean_failure("read-only bind mount, --force", &r, &old);
    let ft = repo().join("testdata/fasttext/sup_hs.bin");
    let Some(r) = in_namespace(
        ro_tmpfs,
        None,
        &out_args("fasttext", ft.to_str().unwrap(), &[]),
    ) else {
        return;
    };
    assert_clean_failure("read-only tmpfs, fastText", &r, &BTreeMap::new());
}

#[test]
fn an_unwritable_output_folder_is_a_clear_error_for_non_root() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        eprintln!(
            "skipped: running as root, which writes into a mode-0555 folder anyway; \
             the read-only mount cases cover an unwritable folder"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o555)).unwrap();
    let o = run_in(
        dir.path(),
        &[
            "xgboost",
            example_model().to_str().unwrap(),
            "-o",
            "out/model.tar.gz",
        ],
    );
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("Permission denied"), "{}", stderr(&o));
    assert_eq!(listing(&out), Vec::<String>::new());
}

// ------------------------------------------------------------------ the input changes

/// Packs `model` (fastText family, slow settings) in another thread of this
/// process through the library, calling `meddle` once the temporary archive
/// exists, i.e. while the input is being read.
fn pack_while(model: &Path, out_dir: &Path, meddle: impl FnOnce()) -> sm_pack::Result<bool> {
    use sm_pack::pack::{Family, PackJob, pack};
    let mut job = PackJob::new(Family::Blazingtext, model, out_dir.join("model.tar.gz"))?;
    job.options.level = 9;
    job.options.threads = 1;
    job.fasttext = sm_pack::fasttext::Options::default();
    let handle = std::thread::spawn(move || pack(&job).map(|o| o.packed));
    let start = Instant::now();
    while listing(out_dir).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "packing never started"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    meddle();
    handle.join().expect("no panic")
}

#[test]
fn an_input_that_shrinks_mid_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("big.bin");
    std::fs::write(&model, noise(48 << 20, 11)).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let m = model.clone();
    let r = pack_while(&model, &out, move || {
        let f = std::fs::OpenOptions::new().write(true).open(&m).unwrap();
        f.set_len(1 << 20).unwrap();
    });
    match r {
        Err(e @ sm_pack::Error::InputChanged { .. }) => {
            assert!(
                e.to_string().contains("changed while it was being read"),
                "{e}"
            );
            assert_eq!(e.exit_code(), 2);
        }
        other => panic!("expected InputChanged, got {other:?}"),
    }
    assert_eq!(listing(&out), Vec::<String>::new(), "left behind");
}

#[test]
fn an_input_that_grows_mid_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("big.bin");
    std::fs::write(&model, noise(48 << 20, 12)).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let m = model.clone();
    let r = pack_while(&model, &out, move || {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&m).unwrap();
        f.write_all(&[0u8; 4096]).unwrap();
    });
    assert!(
        matches!(r, Err(sm_pack::Error::InputChanged { .. })),
        "expected InputChanged, got {r:?}"
    );
    assert_eq!(listing(&out), Vec::<String>::new(), "left behind");
}

#[test]
fn an_input_deleted_mid_read_is_packed_whole_or_refused() {
    // Unlinking does not change the open file's bytes: either outcome is
    // fine as long as nothing partial is left and a written archive holds
    // exactly the original bytes.
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.bin");
    let ft = std::fs::read(repo().join("testdata/fasttext/sup_ngrams.bin")).unwrap();
    let mut big = ft.clone();
    // Pad with a trailing-bytes warning's worth of noise so reading takes time.
    big.extend(noise(32 << 20, 13));
    std::fs::write(&model, &big).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let m = model.clone();
    let r = pack_while(&model, &out, move || std::fs::remove_file(&m).unwrap());
    match r {
        Ok(true) => {
            let l = sm_pack::archive::reader::read_archive_file(
                &out.join("model.tar.gz"),
                &sm_pack::archive::reader::ReadOptions::default(),
            )
            .unwrap();
            assert_eq!(
                l.members[0].sha256.as_deref(),
                Some(sm_pack::hash::sha256_hex(&big).as_str())
            );
        }
        Ok(false) => assert_eq!(listing(&out), Vec::<String>::new()),
        Err(e) => {
            assert_eq!(e.exit_code(), 2, "{e}");
            assert_eq!(listing(&out), Vec::<String>::new(), "left behind");
        }
    }
}

/// `sm-pack xgboost` validates the model's bytes, then reads the file again
/// to pack it. A file replaced in between (same path, same size, one digit
/// of a split condition changed: a different model that would validate too)
/// must not be packed: the archive writer's digest of the member is compared
/// with the validated bytes' digest. `SM_PACK_TEST_REPLACE_MODEL` renames
/// the replacement over the model at exactly that moment.
#[test]
fn a_model_replaced_between_validation_and_packing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let original = std::fs::read(example_model()).unwrap();
    let at = original
        .windows(20)
        .position(|w| w == b"\"split_conditions\":[")
        .unwrap();
    let digit = at + original[at..].iter().position(u8::is_ascii_digit).unwrap();
    let mut other = original.clone();
    other[digit] = if other[digit] == b'7' { b'3' } else { b'7' };
    std::fs::write(d.join("m.json"), &original).unwrap();
    std::fs::write(d.join("other.json"), &other).unwrap();
    std::fs::create_dir(d.join("out")).unwrap();
    let o = bin()
        .current_dir(d)
        .env("SM_PACK_TEST_REPLACE_MODEL", d.join("other.json"))
        .args(["xgboost", "m.json", "-o", "out/model.tar.gz"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("m.json changed after it was validated")
            && err.contains(&sm_pack::hash::sha256_hex(&original))
            && err.contains(&sm_pack::hash::sha256_hex(&other)),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(listing(&d.join("out")), Vec::<String>::new(), "left behind");
    // The hook did replace the file: the refusal is not a false alarm.
    assert_eq!(std::fs::read(d.join("m.json")).unwrap(), other);
    // Without a replacement the same command packs the validated bytes.
    let o = bin()
        .current_dir(d)
        .args(["xgboost", "m.json", "-o", "out/model.tar.gz"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

// ------------------------------------------------------------------ signals

fn signal_during_packing(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.bin");
    std::fs::write(&model, noise(96 << 20, 21)).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    // An old archive that --force would replace must survive.
    std::fs::write(out_dir.join("model.tar.gz"), b"old archive").unwrap();
    let child = bin()
        .current_dir(dir.path())
        .args([
            "fasttext",
            "m.bin",
            "-o",
            "out/model.tar.gz",
            "--force",
            "--level",
            "9",
            "--threads",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while listing(&out_dir).len() < 2 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{signal}: {}", stderr(&o));
    assert!(
        stderr(&o).contains("interrupted"),
        "{signal}: {}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert_eq!(
        listing(&out_dir),
        vec!["model.tar.gz".to_string()],
        "{signal}: partial or temporary output left behind"
    );
    assert_eq!(
        std::fs::read(out_dir.join("model.tar.gz")).unwrap(),
        b"old archive"
    );
}

#[test]
fn sigterm_during_packing_leaves_nothing_behind() {
    signal_during_packing("TERM");
}

#[test]
fn sigint_during_packing_keeps_the_old_archive() {
    signal_during_packing("INT");
}

/// A second signal exits at once with `process::exit`, which runs no
/// destructors, so the staged temporary file stayed in the output folder
/// when Ctrl-C was pressed twice quickly (measured: a 0-byte
/// `.model.tar.gz.XXXXXX.sm-pack-tmp` left behind). Every temporary file is
/// now registered (`sm_pack::output::remove_temporary_files`) and the
/// second signal removes them before exiting.
///
/// Two SIGINTs sent back to back can merge into one (standard signals do
/// not queue), so the process is stopped, sent SIGINT and SIGTERM (both are
/// Ctrl-C to sm-pack) and continued: the handler then sees two signals
/// before the packing thread can react to the first.
#[test]
fn a_double_ctrl_c_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.bin");
    std::fs::write(&model, noise(96 << 20, 22)).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let child = bin()
        .current_dir(dir.path())
        .args([
            "fasttext",
            "m.bin",
            "-o",
            "out/model.tar.gz",
            "--level",
            "9",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while listing(&out_dir).is_empty() {
        std::thread::sleep(Duration::from_millis(2));
    }
    for signal in ["-STOP", "-INT", "-TERM", "-CONT"] {
        let _ = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status();
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    // Normally "interrupted twice: stopped at once, temporary files
    // removed"; the packing thread may win the race and clean up itself.
    assert!(stderr(&o).contains("interrupted"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert_eq!(listing(&out_dir), Vec::<String>::new());
}
