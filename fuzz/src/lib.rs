//! Helpers shared by the fuzz targets: one function per parser, doing what
//! the library and the CLI do with hostile bytes (parse, validate, render),
//! so a panic, an abort or an out-of-memory anywhere on the way is found.
//!
//! Every function here must return normally for every input; libFuzzer
//! reports anything else (panic = crash, `-rss_limit_mb`/`-malloc_limit_mb`
//! = out of memory, `-timeout` = hang).

use sm_pack::archive::reader::{CapturePolicy, ReadOptions};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Reads, validates and renders an XGBoost model the way `sm-pack inspect`
/// and the packing gate do, and asks every container for its verdict.
pub fn xgb_inspect(data: &[u8]) {
    match sm_pack::xgboost::inspect_bytes(data) {
        Ok(i) => {
            let _ = i.human_summary();
            let _ = serde_json::to_string(&i.summary_json());
            let _ = i.has_errors();
            for f in &i.findings {
                let _ = f.to_string();
            }
            if let Ok(table) = sm_pack::container::ContainerTable::builtin() {
                for (_, v) in sm_pack::container::verdicts_for_model(table, &i.model, Some(data)) {
                    let _ = format!("{v:?}");
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
            let _ = e.exit_code();
            let _ = e.hint();
        }
    }
}

/// `sm-pack serve`'s request handling, as a client on the network drives
/// it: the first byte picks the endpoint (XGBoost 1.7-1 plain or with
/// selectable output, 3.2-0 with selectable output in batch mode, 0.90-2),
/// the `Content-Type` (none, CSV, libsvm, RecordIO-protobuf, JSON) and the
/// `Accept`; the rest is the body. Every request must get a status.
pub fn serve_request(data: &[u8]) {
    use sm_pack::serve::Request;
    const TYPES: [Option<&str>; 8] = [
        None,
        Some("text/csv"),
        Some("text/libsvm"),
        Some("application/x-recordio-protobuf"),
        Some("recordio-protobuf"),
        Some("text/csv; label_size=1"),
        Some("application/json"),
        Some("text/x-libsvm"),
    ];
    const ACCEPTS: [Option<&str>; 4] = [
        None,
        Some("application/json"),
        Some("application/x-recordio-protobuf"),
        Some("text/csv"),
    ];
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let endpoints = serve_endpoints();
    let endpoint = &endpoints[usize::from(pick & 3) % endpoints.len()];
    let r = endpoint.invoke(&Request {
        content_type: TYPES[usize::from(pick >> 2) & 7],
        accept: ACCEPTS[usize::from(pick >> 5) & 3],
        body,
    });
    assert!((200..600).contains(&r.status), "status {}", r.status);
    // Error pages and text responses are text; RecordIO-protobuf is not.
    if r.content_type.as_deref().is_none_or(|t| !t.contains("protobuf")) {
        let _ = r.body_text();
    }
}

/// The endpoints [`serve_request`] drives, built once: real fixtures packed
/// by sm-pack into the scratch folder and loaded as the container would.
fn serve_endpoints() -> &'static [sm_pack::serve::Endpoint<'static>] {
    use sm_pack::pack::{Family, PackJob, pack};
    use sm_pack::serve::{ContainerEnv, Endpoint, Load, LoadOptions, load};
    use sm_pack::verify::Target;
    static ENDPOINTS: OnceLock<Vec<Endpoint<'static>>> = OnceLock::new();
    ENDPOINTS.get_or_init(|| {
        let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/xgboost");
        let setups: [(&str, &str, &[(&str, &str)]); 4] = [
            ("1.7.4/logistic.json", "1.7-1", &[]),
            (
                "1.7.4/logistic.json",
                "1.7-1",
                &[("SAGEMAKER_INFERENCE_OUTPUT", "predicted_label,probabilities,labels,raw_scores,predicted_score")],
            ),
            (
                "3.0.5/softprob.ubj",
                "3.0-5",
                &[
                    ("SAGEMAKER_INFERENCE_OUTPUT", "predicted_label,probability,probabilities"),
                    ("SAGEMAKER_BATCH", "true"),
                ],
            ),
            ("0.90/logistic.noext", "0.90-2", &[]),
        ];
        let mut endpoints = Vec::new();
        for (i, (model, tag, env)) in setups.iter().enumerate() {
            let out = scratch().join(format!("serve-{i}.tar.gz"));
            let mut job = PackJob::new(Family::Xgboost, testdata.join(model), &out)
                .expect("pack job");
            job.container = Some(tag.to_string());
            let packed = pack(&job).expect("fixture packs");
            assert!(packed.packed, "{model} packs for {tag}");
            let opts = LoadOptions::new(Target::Xgboost(Some(tag.to_string())));
            let Load::Ready(models) = load(&out, &opts).expect("archive loads") else {
                panic!("{model} in {tag}: refused");
            };
            let models: &'static _ = Box::leak(Box::new(models));
            let mut container_env = ContainerEnv::default();
            for (k, v) in *env {
                container_env.set(k, v).expect("container variable");
            }
            endpoints.push(Endpoint::new(models, container_env).expect("endpoint"));
        }
        endpoints
    })
}

/// Reader options with small caps, so that inputs a fuzzer can make reach
/// every limit (the defaults are 256 MiB captures and 100 000 members).
pub fn small_read_options(capture: CapturePolicy) -> ReadOptions {
    ReadOptions {
        capture,
        capture_limit: 64 << 10,
        capture_total_limit: 128 << 10,
        max_members: 64,
        max_extension_bytes: 4 << 10,
        max_extension_total: 16 << 10,
    }
}

/// A private scratch folder for targets that need files (verify reads an
/// archive and its sidecars by path): a new folder inside
/// `$SM_PACK_FUZZ_SCRATCH` (scripts/fuzz.sh sets it and removes it
/// afterwards), else inside /dev/shm when it exists, so no disk I/O. Lives
/// for the whole process.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let from_env = std::env::var_os("SM_PACK_FUZZ_SCRATCH").map(PathBuf::from);
        let shm = from_env.as_deref().unwrap_or(Path::new("/dev/shm"));
        let b = tempfile::Builder::new()
            .prefix("sm-pack-fuzz.")
            .tempdir_in(if shm.is_dir() { shm } else { Path::new("/tmp") });
        let dir = b.or_else(|_| tempfile::tempdir()).expect("scratch dir");
        dir.keep()
    })
}

/// A deterministic stream of numbers derived from the input (xorshift64
/// seeded with an FNV-1a hash), for choices such as chunk sizes that must
/// not disturb the model bytes the corpus is seeded with.
pub struct Choices(u64);

impl Choices {
    /// Seeds from `data`.
    pub fn from(data: &[u8]) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in data.iter().take(4096) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= data.len() as u64;
        Choices(h | 1)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

// ---------------------------------------------------------------------------
// Memory budget
//
// libFuzzer's `-malloc_limit_mb` needs a sanitizer's malloc hooks, and
// `-rss_limit_mb` misses a huge allocation that is never touched (calloc'd
// pages are not resident). So the targets run under a counting global
// allocator that aborts (a crash libFuzzer records, with the input) when one
// allocation or the bytes live during a run exceed a budget proportional to
// the input: a parser that allocates from a claimed size rather than from
// the bytes present trips it at once.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

static LIVE: AtomicIsize = AtomicIsize::new(0);
static ONE_LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);
static LIVE_LIMIT: AtomicIsize = AtomicIsize::new(isize::MAX);

/// Budget for one allocation: 64 MiB + 256 × input.
pub const ONE_BASE: usize = 64 << 20;
/// Budget for bytes live at once (beyond what was live before the run):
/// 128 MiB + 512 × input.
pub const LIVE_BASE: usize = 128 << 20;

/// The counting allocator every target uses.
pub struct Budgeted;

fn write_num(buf: &mut [u8; 24], mut n: usize) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cold]
fn over_budget(what: &[u8], size: usize) -> ! {
    use std::io::Write;
    let mut b = [0u8; 24];
    let mut e = std::io::stderr();
    let _ = e.write_all(b"\nsm-pack-fuzz: ");
    let _ = e.write_all(what);
    let _ = e.write_all(b" (");
    let _ = e.write_all(write_num(&mut b, size));
    let _ = e.write_all(b" bytes) exceeds the memory budget for this input\n");
    std::process::abort();
}

fn note_alloc(size: usize) {
    if size > ONE_LIMIT.load(Ordering::Relaxed) {
        over_budget(b"one allocation", size);
    }
    let live = LIVE.fetch_add(size as isize, Ordering::Relaxed) + size as isize;
    if live > LIVE_LIMIT.load(Ordering::Relaxed) {
        over_budget(b"live memory", live as usize);
    }
}

// SAFETY: delegates every call to the system allocator with the caller's
// layout; only counts sizes in atomics (no allocation, no recursion).
unsafe impl GlobalAlloc for Budgeted {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: ptr came from System with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        note_alloc(new_size);
        // SAFETY: ptr came from System with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Budgeted = Budgeted;

/// Runs one fuzz input under the memory budget for an input of `len` bytes.
pub fn budget<R>(len: usize, f: impl FnOnce() -> R) -> R {
    ONE_LIMIT.store(
        ONE_BASE.saturating_add(len.saturating_mul(256)),
        Ordering::Relaxed,
    );
    let base = LIVE.load(Ordering::Relaxed);
    LIVE_LIMIT.store(
        base.saturating_add(LIVE_BASE.saturating_add(len.saturating_mul(512)) as isize),
        Ordering::Relaxed,
    );
    let r = f();
    ONE_LIMIT.store(usize::MAX, Ordering::Relaxed);
    LIVE_LIMIT.store(isize::MAX, Ordering::Relaxed);
    r
}
