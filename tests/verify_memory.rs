//! Memory stays bounded on large archives.
//!
//! 1. The reader: a ~300 MB `.tar.gz` is generated on the fly by a `Read`
//!    (never a file, never held in memory) and streamed through the reader
//!    with a 1 MiB capture cap. Bounded by construction (fixed-size buffers;
//!    captures stop at the cap; visitors get chunks of at most `CHUNK_SIZE`),
//!    and checked: the capture is exactly the cap, every chunk is at most
//!    `CHUNK_SIZE`, the digests match the generator's, and (on Linux) the
//!    process's peak RSS grows by far less than the archive size.
//! 2. The real `sm-pack --json verify`, default options, on a multi-GB
//!    archive (5 GiB of incompressible data by default; set
//!    `SM_PACK_VERIFY_MEMORY_GIB`, e.g. 9 for a member beyond the 8 GiB octal
//!    size field) written into a named pipe, so that it exists nowhere on
//!    disk: the child's peak RSS (from `wait4`) stays below the 256 MiB model
//!    capture plus a fixed margin, and the report's sizes and digests are the
//!    generator's.
//!
//! Test 1 reads this process's own peak RSS; test 2 measures a child and
//! allocates only fixed buffers here, so it does not disturb that reading.

use sha2::{Digest, Sha256};
use sm_pack::archive::reader::{
    ArchiveMember, CHUNK_SIZE, CapturePolicy, MemberVisitor, ReadOptions, read_archive_with,
};
use std::io::{self, Read};

const MEMBER_SIZE: u64 = 300 << 20;
const CAP: u64 = 1 << 20;
const PATTERN: usize = 64 << 10;

fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A tar stream produced on demand: one GNU header, MEMBER_SIZE bytes of
/// incompressible data, the end marker. Hashes what it emits.
struct TarGenerator {
    header: Vec<u8>,
    pos: u64,
    total: u64,
    pattern: Vec<u8>,
    member_sha: std::rc::Rc<std::cell::RefCell<Sha256>>,
}

impl TarGenerator {
    fn new() -> Self {
        let mut h = tar::Header::new_gnu();
        h.set_path("xgboost-model").expect("path");
        h.set_size(MEMBER_SIZE);
        h.set_mode(0o644);
        h.set_mtime(315_532_800);
        h.set_cksum();
        TarGenerator {
            header: h.as_bytes().to_vec(),
            pos: 0,
            total: 512 + MEMBER_SIZE + 1024,
            pattern: noise(PATTERN),
            member_sha: Default::default(),
        }
    }
}

impl Read for TarGenerator {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.total {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(self.total - self.pos) as usize;
        let mut i = 0;
        while i < n {
            let p = self.pos + i as u64;
            if p < 512 {
                let k = (512 - p as usize).min(n - i);
                buf[i..i + k].copy_from_slice(&self.header[p as usize..p as usize + k]);
                i += k;
            } else if p < 512 + MEMBER_SIZE {
                let k = ((512 + MEMBER_SIZE - p) as usize).min(n - i);
                // A 64 KiB noise block, repeated: longer than deflate's
                // 32 KiB window, so the data does not compress away.
                let mut j = 0;
                while j < k {
                    let q = ((p - 512 + j as u64) % PATTERN as u64) as usize;
                    let take = (PATTERN - q).min(k - j);
                    buf[i + j..i + j + take].copy_from_slice(&self.pattern[q..q + take]);
                    j += take;
                }
                self.member_sha.borrow_mut().update(&buf[i..i + k]);
                i += k;
            } else {
                let k = n - i;
                buf[i..i + k].fill(0);
                i += k;
            }
        }
        self.pos += n as u64;
        Ok(n)
    }
}

struct Counting {
    bytes: u64,
    max_chunk: usize,
    ended: bool,
}

impl MemberVisitor for Counting {
    fn begin(&mut self, _m: &ArchiveMember) -> bool {
        true
    }
    fn data(&mut self, _m: &ArchiveMember, chunk: &[u8]) {
        self.bytes += chunk.len() as u64;
        self.max_chunk = self.max_chunk.max(chunk.len());
    }
    fn end(&mut self, _m: &ArchiveMember, complete: bool) {
        self.ended = complete;
    }
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_300_mb_archive_streams_through_with_bounded_memory() {
    let before = peak_rss_kib();
    // gzip level 1: a real gzip stream, produced as it is read.
    let generator = TarGenerator::new();
    let sha = generator.member_sha.clone();
    let gz = flate2::read::GzEncoder::new(generator, flate2::Compression::fast());
    let opts = ReadOptions {
        capture: CapturePolicy::RootFiles,
        capture_limit: CAP,
        capture_total_limit: CAP,
        ..ReadOptions::default()
    };
    let mut visitor = Counting {
        bytes: 0,
        max_chunk: 0,
        ended: false,
    };
    let listing = read_archive_with(gz, &opts, &mut visitor).expect("read");
    assert!(listing.findings.is_empty(), "{:?}", listing.findings);
    assert_eq!(listing.members.len(), 1);
    let m = &listing.members[0];
    assert_eq!(m.size, MEMBER_SIZE);
    assert_eq!(listing.tar_size, 512 + MEMBER_SIZE + 1024);
    // The capture stopped at the cap; the digest covers every byte.
    let (kept, whole) = m.captured().expect("captured");
    assert_eq!(kept.len() as u64, CAP);
    assert!(!whole);
    assert_eq!(listing.captured_bytes(), CAP);
    assert_eq!(visitor.bytes, MEMBER_SIZE);
    assert!(visitor.max_chunk <= CHUNK_SIZE, "{}", visitor.max_chunk);
    assert!(visitor.ended);
    let expected = hex::encode(std::mem::take(&mut *sha.borrow_mut()).finalize());
    assert_eq!(m.sha256.as_deref(), Some(expected.as_str()));
    if let (Some(b), Some(a)) = (before, peak_rss_kib()) {
        let grown_mib = a.saturating_sub(b) / 1024;
        assert!(
            grown_mib < 64,
            "peak RSS grew by {grown_mib} MiB while streaming a {} MiB archive",
            MEMBER_SIZE >> 20
        );
    }
}

// ---------------------------------------------------------------------------
// The CLI on a multi-GB archive, through a named pipe

mod common;

/// Hashes what goes through it.
struct Hashing<W> {
    inner: W,
    sha: Sha256,
    n: u64,
}

impl<W: io::Write> io::Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes a gzip (stored blocks: no compression work, incompressible data)
/// tar with one `size`-byte member into `out`; returns the archive's
/// SHA-256 and size and the member's SHA-256.
fn write_big_archive(out: std::fs::File, size: u64) -> io::Result<(String, u64, String)> {
    use std::io::Write;
    let mut h = tar::Header::new_gnu();
    h.set_path("xgboost-model")?;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(315_532_800);
    h.set_cksum();
    let hashing = Hashing {
        inner: io::BufWriter::with_capacity(1 << 20, out),
        sha: Sha256::new(),
        n: 0,
    };
    let mut gz = flate2::write::GzEncoder::new(hashing, flate2::Compression::none());
    gz.write_all(h.as_bytes())?;
    let pattern = noise(PATTERN);
    let mut member = Sha256::new();
    let mut left = size;
    while left > 0 {
        let k = left.min(PATTERN as u64) as usize;
        gz.write_all(&pattern[..k])?;
        member.update(&pattern[..k]);
        left -= k as u64;
    }
    let pad = (512 - size % 512) % 512;
    gz.write_all(&vec![0u8; pad as usize + 1024])?;
    let mut hashing = gz.finish()?;
    hashing.flush()?;
    Ok((
        hex::encode(hashing.sha.finalize()),
        hashing.n,
        hex::encode(member.finalize()),
    ))
}

#[test]
fn the_cli_verifies_a_multi_gb_archive_from_a_pipe_in_bounded_memory() {
    let gib: u64 = std::env::var("SM_PACK_VERIFY_MEMORY_GIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let size = gib << 30;
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("model.tar.gz");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");

    // Reaped below by wait4, which also gives its peak RSS.
    #[allow(clippy::zombie_processes)]
    let mut child = common::bin()
        .current_dir(dir.path())
        .args(["--json", "verify", "model.tar.gz", "--no-sidecars"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn sm-pack");
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let out = std::fs::OpenOptions::new().write(true).open(&fifo)?;
            write_big_archive(out, size)
        })
    };
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        let mut e = String::new();
        let _ = stderr.read_to_string(&mut e);
        (s, e)
    });
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, whose pid is valid until reaped here.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4");
    let (out, err) = reader.join().expect("reader thread");
    let (archive_sha, archive_size, member_sha) = writer
        .join()
        .expect("writer thread")
        .unwrap_or_else(|e| panic!("writing the pipe: {e}; sm-pack said: {err}"));
    assert!(libc::WIFEXITED(status), "{status}: {err}");
    let code = libc::WEXITSTATUS(status);
    let peak_mib = usage.ru_maxrss as u64 / 1024; // KiB on Linux

    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    let r = &v["report"];
    let l = &r["listing"];
    assert_eq!(l["size"], archive_size, "{err}");
    assert_eq!(l["sha256"], archive_sha.as_str());
    assert_eq!(l["tar_size"], 512 + size + (512 - size % 512) % 512 + 1024);
    assert_eq!(l["complete"], true);
    assert_eq!(l["members"][0]["size"], size);
    assert_eq!(l["members"][0]["sha256"], member_sha.as_str());
    // The model was too large to keep: an honest "undetermined", not "loads".
    let codes: Vec<&str> = r["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert!(
        codes.contains(&"container.too_large_to_validate"),
        "{codes:?}"
    );
    assert_eq!(r["verdict"]["outcome"], "undetermined", "{}", r["verdict"]);
    // A gate does not pass what it could not check.
    assert_eq!(code, 1, "undetermined fails the gate: {codes:?}");
    // 256 MiB of the model kept for validation, plus fixed buffers and the
    // program itself; independent of the archive's size.
    assert!(
        peak_mib < 256 + 96,
        "peak RSS {peak_mib} MiB verifying a {gib} GiB archive"
    );
    eprintln!("{gib} GiB archive: sm-pack verify peak RSS {peak_mib} MiB");
}
