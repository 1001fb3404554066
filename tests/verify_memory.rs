//! The reader's memory stays bounded on a large archive: a ~300 MB
//! `.tar.gz` is generated on the fly by a `Read` (never a file, never held in
//! memory) and streamed through the reader with a 1 MiB capture cap.
//!
//! Bounded by construction (fixed-size buffers; captures stop at the cap;
//! visitors get chunks of at most `CHUNK_SIZE`), and checked: the capture is
//! exactly the cap, every chunk is at most `CHUNK_SIZE`, the digests match
//! the generator's, and (on Linux) the process's peak RSS grows by far less
//! than the archive size. This file holds one test so that the peak-RSS
//! reading is not disturbed by other tests running in parallel.

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
