//! The reader and the verifier never panic and never fail with anything but
//! findings on damaged input: every truncation point of a small archive and
//! thousands of byte mutations of its tar headers (plain and gzipped).

use sm_pack::archive::reader::{ReadOptions, read_archive};
use std::io::Write;

fn fixture_tar() -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/archives/plain.tar");
    std::fs::read(path).expect("plain.tar")
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

#[test]
fn every_truncation_is_a_finding() {
    let tar = fixture_tar();
    let gzipped = gz(&tar);
    for cut in (0..gzipped.len()).step_by(7) {
        let l = read_archive(&gzipped[..cut], &ReadOptions::default()).expect("no error");
        if cut < gzipped.len() {
            assert!(!l.findings.is_empty(), "cut at {cut} gave no finding");
        }
    }
    for cut in (0..tar.len()).step_by(61) {
        let l = read_archive(&tar[..cut], &ReadOptions::default()).expect("no error");
        assert!(!l.findings.is_empty(), "cut at {cut} gave no finding");
    }
}

#[test]
fn mutated_headers_never_panic() {
    let tar = fixture_tar();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..3000 {
        let mut t = tar.clone();
        for _ in 0..1 + next() % 4 {
            // Mostly the header, sometimes anywhere.
            let span = if round % 4 == 0 { t.len() } else { 512 };
            let at = (next() as usize) % span;
            t[at] = next() as u8;
        }
        // Also make the header's checksum right now and then, so the fields
        // behind it are parsed.
        if round % 2 == 0 {
            t[148..156].copy_from_slice(b"        ");
            let sum: u32 = t[..512].iter().map(|b| u32::from(*b)).sum();
            let s = format!("{sum:06o}\0 ");
            t[148..156].copy_from_slice(s.as_bytes());
        }
        let opts = ReadOptions {
            capture_limit: 4096,
            ..ReadOptions::default()
        };
        let _ = read_archive(&t[..], &opts).expect("plain");
        let _ = read_archive(&gz(&t)[..], &opts).expect("gzip");
    }
}

#[test]
fn verify_survives_mutated_archives() {
    use sm_pack::verify::{Sidecar, Target, VerifyOptions, verify_archive};
    let tar = fixture_tar();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("model.tar.gz");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..300 {
        let mut t = tar.clone();
        let at = (next() as usize) % 512;
        t[at] = next() as u8;
        t[148..156].copy_from_slice(b"        ");
        let sum: u32 = t[..512].iter().map(|b| u32::from(*b)).sum();
        t[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        std::fs::write(&path, gz(&t)).expect("write");
        for target in [
            Target::Xgboost(None),
            Target::Xgboost(Some("0.90-1".into())),
            Target::Blazingtext,
        ] {
            let opts = VerifyOptions {
                target,
                manifest: Sidecar::Skip,
                sums: Sidecar::Skip,
                ..VerifyOptions::default()
            };
            let r = verify_archive(&path, &opts).unwrap_or_else(|e| panic!("round {round}: {e}"));
            let _ = r.human_lines();
        }
    }
}
