//! Memory bounds of the fastText reader, measured with a counting global
//! allocator (peak bytes live during a call). One test function runs the
//! cases one after another so no other test allocates concurrently.

use sm_pack::fasttext::{Model, Options, Validator, read_from};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result with the peak bytes allocated on top of
/// what was live before.
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

/// A reader that counts the bytes it hands out.
struct Counted<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

fn header(size: i32, nwords: i32, nlabels: i32, pruneidx_size: i64) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(793_712_314i32.to_le_bytes());
    b.extend(12i32.to_le_bytes());
    for v in [100i32, 5, 5, 1, 5, 2, 3, 3, 2_000_000, 0, 0, 100] {
        b.extend(v.to_le_bytes());
    }
    b.extend(1e-4f64.to_le_bytes());
    b.extend(size.to_le_bytes());
    b.extend(nwords.to_le_bytes());
    b.extend(nlabels.to_le_bytes());
    b.extend(1000i64.to_le_bytes());
    b.extend(pruneidx_size.to_le_bytes());
    b
}

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

#[test]
fn allocations_are_bounded_by_the_input() {
    let opts = Options::default();

    // 1. A header claiming two billion words against a 200-byte file: an
    //    immediate, precise error, a few hundred KiB at most (the read buffer).
    let mut tiny = header(2_000_000_000, 2_000_000_000, 0, -1);
    tiny.extend(b"</s>\0");
    tiny.extend([0u8; 9 + 100]);
    let (i, peak) = measure(|| read_from(tiny.as_slice(), Some(tiny.len() as u64), &opts).unwrap());
    let t = i.truncation.expect("truncation");
    assert!(
        t.needed >= 20_000_000_000 && t.section.starts_with("dictionary"),
        "{t:?}"
    );
    assert!(peak < 512 * KIB, "known length: peak {peak} bytes");

    // The same claim in front of 256 MiB of real bytes (a 256 MiB file is
    // still far short of 20 GB): the pull reader gives up at the claim, so it
    // reads at most its first buffer, not the file.
    let tail = 256 * MIB as u64;
    let mut src = Counted {
        inner: tiny.as_slice().chain(std::io::repeat(0).take(tail)),
        read: 0,
    };
    let len = tiny.len() as u64 + tail;
    let (i, peak) = measure(|| read_from(&mut src, Some(len), &opts).unwrap());
    let t = i.truncation.expect("truncation");
    assert_eq!(t.file_len, len);
    assert_eq!(t.missing, t.needed - (len - 92), "{t:?}");
    assert!(src.read <= 512 * KIB as u64, "read {} bytes", src.read);
    assert!(
        peak < 512 * KIB,
        "known length, long file: peak {peak} bytes"
    );

    // Same bytes pushed without a length: nothing is reserved for the claim.
    let (i, peak) = measure(|| {
        let mut v = Validator::new(&opts);
        v.write_all(&tiny).unwrap();
        v.finish().unwrap()
    });
    assert!(i.truncation.is_some());
    assert!(peak < 256 * KIB, "unknown length: peak {peak} bytes");

    // The in-memory loader likewise.
    let (r, peak) = measure(|| Model::read_from(tiny.as_slice(), None));
    assert!(r.is_err());
    assert!(peak < 512 * KIB, "model, unknown length: peak {peak} bytes");

    // 2. A stream of unknown length with 200,000 real entries under the same
    //    absurd claim: memory follows the bytes received (about 2.4 MB), not
    //    the claim (20 GB).
    let mut stream = header(2_000_000_000, 2_000_000_000, 0, -1);
    for k in 0..200_000u32 {
        stream.extend(format!("w{k}").as_bytes());
        stream.push(0);
        stream.extend(1i64.to_le_bytes());
        stream.push(0);
    }
    let (i, peak) = measure(|| {
        let mut v = Validator::new(&opts);
        for c in stream.chunks(64 * KIB) {
            v.write_all(c).unwrap();
        }
        v.finish().unwrap()
    });
    assert!(i.truncation.is_some());
    assert!(
        peak < 4 * stream.len(),
        "streamed dictionary: peak {peak} for {} input bytes",
        stream.len()
    );

    // 3. A matrix claiming 2^40 rows, pushed without a length into the loader
    //    that keeps matrices: reservations are capped, growth follows the data.
    let mut b = header(1, 1, 0, -1);
    b.extend(b"</s>\0");
    b.extend(1i64.to_le_bytes());
    b.push(0);
    b.push(0); // quant flag
    b.extend((1i64 << 40).to_le_bytes());
    b.extend(100i64.to_le_bytes());
    b.extend(vec![0u8; 4 * 100 * 50]); // 50 real rows
    let (r, peak) = measure(|| Model::read_from(b.as_slice(), None));
    assert!(r.is_err());
    assert!(
        peak < 2 * MIB,
        "model, huge matrix, unknown length: peak {peak}"
    );

    // 4. The validator does not keep matrices: a model with a 16 MiB input
    //    matrix is validated in far less than the matrix.
    let rows = 41_943i64; // × 100 × 4 bytes ≈ 16 MiB
    let mut big = header(1, 1, 0, -1);
    // bucket 2,000,000 in the header; make it consistent: bucket = rows - 1
    big[40..44].copy_from_slice(&((rows - 1) as i32).to_le_bytes());
    big[28..32].copy_from_slice(&1i32.to_le_bytes()); // model: cbow, so output rows = nwords
    big[36..40].copy_from_slice(&1i32.to_le_bytes());
    big[32..36].copy_from_slice(&2i32.to_le_bytes()); // loss ns
    big.extend(b"</s>\0");
    big.extend(1i64.to_le_bytes());
    big.push(0);
    big.push(0);
    big.extend(rows.to_le_bytes());
    big.extend(100i64.to_le_bytes());
    big.extend(vec![0u8; rows as usize * 400]);
    big.push(0);
    big.extend(1i64.to_le_bytes());
    big.extend(100i64.to_le_bytes());
    big.extend(vec![0u8; 400]);
    for known in [true, false] {
        let (i, peak) = measure(|| {
            let mut v = if known {
                Validator::with_len(&opts, big.len() as u64)
            } else {
                Validator::new(&opts)
            };
            for c in big.chunks(64 * KIB) {
                v.write_all(c).unwrap();
            }
            v.finish().unwrap()
        });
        assert!(i.complete, "{:#?}", i.findings);
        assert!(!i.has_errors(), "{:#?}", i.findings);
        assert!(
            peak < 256 * KIB,
            "validator on a {} byte model: peak {peak}",
            big.len()
        );
    }
    let (i, peak) = measure(|| read_from(big.as_slice(), Some(big.len() as u64), &opts).unwrap());
    assert!(i.complete);
    assert!(peak < 512 * KIB, "pull validator: peak {peak}");
    // ...while the in-memory model holds it (with a known length, one exact reservation)
    let (m, peak) = measure(|| Model::read_from(big.as_slice(), Some(big.len() as u64)).unwrap());
    assert_eq!(m.input().rows(), rows as usize);
    let matrix = rows as usize * 400;
    assert!(
        peak >= matrix && peak < matrix + MIB,
        "model peak {peak} for a {matrix} byte matrix"
    );
}
