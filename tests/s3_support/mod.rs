//! Shared helpers of the S3 integration tests (`tests/s3_*.rs`): the test
//! server, an isolated AWS environment for the binary, an SDK client for
//! checking what landed in the bucket, synthetic models, a cuttable proxy.
#![allow(dead_code)]

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const SKIP_VAR: &str = "SM_PACK_SKIP_S3_TESTS";
pub const ENDPOINT_VAR: &str = "SM_PACK_TEST_S3_ENDPOINT";

/// The shared test server's endpoint. `None` (skip) only when
/// `SM_PACK_SKIP_S3_TESTS=1`; otherwise a missing server fails the test.
pub fn endpoint() -> Option<String> {
    if std::env::var(SKIP_VAR).is_ok_and(|v| v == "1") {
        eprintln!("skipped: {SKIP_VAR}=1");
        return None;
    }
    match std::env::var(ENDPOINT_VAR) {
        Ok(e) if !e.trim().is_empty() => Some(e.trim().trim_end_matches('/').to_string()),
        _ => panic!(
            "{ENDPOINT_VAR} is not set: start the local S3 server with \
             `eval \"$(scripts/s3-server.sh start)\"` (or set {SKIP_VAR}=1 to skip the S3 tests)"
        ),
    }
}

/// Skips the test (returns) when S3 tests are switched off.
#[macro_export]
macro_rules! need_s3 {
    () => {
        match s3_support::endpoint() {
            Some(e) => e,
            None => return,
        }
    };
}

/// A bucket name unique to this test run.
pub fn bucket_name(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut name: String = format!(
        "smp-{}-{}-{nanos:x}",
        test.replace('_', "-"),
        std::process::id()
    )
    .chars()
    .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
    .collect::<String>()
    .to_ascii_lowercase();
    name.truncate(63);
    name.trim_end_matches('-').to_string()
}

/// A temporary folder with empty AWS config files, and the environment the
/// binary runs with (dummy keys, no IMDS, no profile of the developer's).
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub vars: Vec<(String, String)>,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("aws-config");
        let creds = dir.path().join("aws-credentials");
        std::fs::write(&config, "").expect("config");
        std::fs::write(&creds, "").expect("credentials");
        let vars = vec![
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
            ("AWS_CONFIG_FILE", config.display().to_string()),
            ("AWS_SHARED_CREDENTIALS_FILE", creds.display().to_string()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("HOME", dir.path().display().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        TestEnv { dir, vars }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Sets (or replaces) a variable.
    pub fn set(&mut self, k: &str, v: &str) {
        self.vars.retain(|(n, _)| n != k);
        self.vars.push((k.into(), v.into()));
    }

    /// Removes a variable.
    pub fn unset(&mut self, k: &str) {
        self.vars.retain(|(n, _)| n != k);
    }

    /// The binary with a clean environment (only PATH kept) plus ours.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sm-pack"));
        c.env_clear();
        if let Ok(p) = std::env::var("PATH") {
            c.env("PATH", p);
        }
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c.args(args).current_dir(self.dir.path());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().expect("run sm-pack");
        Run::from(out)
    }
}

/// A finished run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        use std::os::unix::process::ExitStatusExt;
        Run {
            // A signal shows as -(signal number).
            code: o
                .status
                .code()
                .unwrap_or_else(|| -o.status.signal().unwrap_or(1000)),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn fails_with(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }
}

/// An SDK client for the test server (checks what landed in the bucket).
pub struct S3 {
    pub rt: tokio::runtime::Runtime,
    pub client: Client,
}

impl S3 {
    pub fn new(endpoint: &str) -> S3 {
        S3::new_in(endpoint, "us-east-1")
    }

    /// A client signing for `region` (for buckets located there).
    pub fn new_in(endpoint: &str, region: &str) -> S3 {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .endpoint_url(endpoint)
            .force_path_style(true)
            .build();
        S3 {
            rt,
            client: Client::from_conf(conf),
        }
    }

    pub fn create_bucket(&self, bucket: &str) {
        self.rt
            .block_on(self.client.create_bucket().bucket(bucket).send())
            .expect("create bucket");
    }

    /// Creates a bucket located in `region`.
    pub fn create_bucket_in(&self, bucket: &str, region: &str) {
        use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
        let conf = CreateBucketConfiguration::builder()
            .location_constraint(BucketLocationConstraint::from(region))
            .build();
        self.rt
            .block_on(
                self.client
                    .create_bucket()
                    .bucket(bucket)
                    .create_bucket_configuration(conf)
                    .send(),
            )
            .expect("create bucket");
    }

    pub fn enable_versioning(&self, bucket: &str) {
        use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
        self.rt
            .block_on(
                self.client
                    .put_bucket_versioning()
                    .bucket(bucket)
                    .versioning_configuration(
                        VersioningConfiguration::builder()
                            .status(BucketVersioningStatus::Enabled)
                            .build(),
                    )
                    .send(),
            )
            .expect("versioning");
    }

    /// The object's bytes, `None` when it does not exist.
    pub fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        self.rt.block_on(async {
            let out = self
                .client
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .ok()?;
            Some(out.body.collect().await.ok()?.into_bytes().to_vec())
        })
    }

    pub fn head(
        &self,
        bucket: &str,
        key: &str,
    ) -> Option<aws_sdk_s3::operation::head_object::HeadObjectOutput> {
        self.rt.block_on(async {
            self.client
                .head_object()
                .bucket(bucket)
                .key(key)
                .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
                .send()
                .await
                .ok()
        })
    }

    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) {
        self.rt
            .block_on(
                self.client
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(bytes.to_vec().into())
                    .send(),
            )
            .expect("put");
    }

    /// The object's tags, `None` when GetObjectTagging fails.
    pub fn tags(&self, bucket: &str, key: &str) -> Option<Vec<(String, String)>> {
        self.rt.block_on(async {
            let out = self
                .client
                .get_object_tagging()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .ok()?;
            Some(
                out.tag_set()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect(),
            )
        })
    }

    pub fn delete(&self, bucket: &str, key: &str) {
        self.rt
            .block_on(self.client.delete_object().bucket(bucket).key(key).send())
            .expect("delete");
    }

    /// Open multipart uploads in the bucket, with their part counts.
    pub fn multipart_uploads(&self, bucket: &str) -> Vec<(String, usize)> {
        self.rt.block_on(async {
            let Ok(list) = self
                .client
                .list_multipart_uploads()
                .bucket(bucket)
                .send()
                .await
            else {
                return Vec::new();
            };
            let mut out = Vec::new();
            for u in list.uploads() {
                let (Some(key), Some(id)) = (u.key(), u.upload_id()) else {
                    continue;
                };
                let parts = self
                    .client
                    .list_parts()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(id)
                    .send()
                    .await
                    .map(|p| p.parts().len())
                    .unwrap_or(0);
                out.push((id.to_string(), parts));
            }
            out
        })
    }

    /// Keys in the bucket.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        self.rt.block_on(async {
            let out = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .send()
                .await
                .expect("list");
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string))
                .collect()
        })
    }

    /// Number of versions of a key.
    pub fn versions(&self, bucket: &str, key: &str) -> usize {
        self.rt.block_on(async {
            let out = self
                .client
                .list_object_versions()
                .bucket(bucket)
                .prefix(key)
                .send()
                .await
                .expect("versions");
            out.versions()
                .iter()
                .filter(|v| v.key() == Some(key))
                .count()
        })
    }

    /// Waits until a multipart upload in `bucket` has at least `parts` parts.
    pub fn wait_for_parts(&self, bucket: &str, parts: usize, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self
                .multipart_uploads(bucket)
                .iter()
                .any(|(_, n)| *n >= parts)
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// S3's composite SHA-256 of `bytes` uploaded in parts of `part_size`.
pub fn composite(bytes: &[u8], part_size: usize) -> String {
    use base64::Engine as _;
    let mut h = Sha256::new();
    let mut n = 0;
    for chunk in bytes.chunks(part_size) {
        h.update(Sha256::digest(chunk));
        n += 1;
    }
    format!(
        "{}-{n}",
        base64::engine::general_purpose::STANDARD.encode(h.finalize())
    )
}

/// Writes a valid supervised fastText model (format v12, softmax, no
/// n-grams) of about `size` bytes whose weights are pseudo-random floats, so
/// the archive hardly compresses. `seed` varies the weights.
pub fn fasttext_model(path: &Path, size: usize, seed: u64) {
    let dim: usize = 256;
    let nwords = (size / (dim * 4)).max(2);
    let nlabels = 2usize;
    let mut b: Vec<u8> = Vec::with_capacity(size + (1 << 20));
    for v in [
        793_712_314i32,
        12,
        dim as i32,
        5,
        5,
        1,
        5,
        1,
        3,
        3,
        0,
        0,
        0,
        100,
    ] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&1e-4f64.to_le_bytes());
    b.extend_from_slice(&((nwords + nlabels) as i32).to_le_bytes());
    b.extend_from_slice(&(nwords as i32).to_le_bytes());
    b.extend_from_slice(&(nlabels as i32).to_le_bytes());
    b.extend_from_slice(&1_000_000i64.to_le_bytes());
    b.extend_from_slice(&(-1i64).to_le_bytes());
    for i in 0..nwords {
        let w = if i == 0 {
            "</s>".to_string()
        } else {
            format!("w{i}")
        };
        b.extend_from_slice(w.as_bytes());
        b.push(0);
        b.extend_from_slice(&(1_000_000 - i as i64).to_le_bytes());
        b.push(0);
    }
    for (i, l) in ["__label__a", "__label__b"].iter().enumerate() {
        b.extend_from_slice(l.as_bytes());
        b.push(0);
        b.extend_from_slice(&(100 - i as i64).to_le_bytes());
        b.push(1);
    }
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut matrix = |b: &mut Vec<u8>, rows: usize| {
        b.push(0);
        b.extend_from_slice(&(rows as i64).to_le_bytes());
        b.extend_from_slice(&(dim as i64).to_le_bytes());
        for _ in 0..rows * dim {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            b.extend_from_slice(&f.to_le_bytes());
        }
    };
    matrix(&mut b, nwords);
    matrix(&mut b, nlabels);
    std::fs::write(path, b).expect("write model");
}

/// The small real fastText fixture (packs to a single-PUT archive).
pub fn small_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fasttext/sup_softmax.bin")
}

/// Files left in a folder, other than the ones named.
pub fn files_in(dir: &Path, except: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !except.contains(&n.as_str()))
        .collect();
    v.sort();
    v
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A ministack instance of this test's own (for tests that stop the server).
pub struct Ministack {
    pub child: Option<Child>,
    pub endpoint: String,
    pub port: u16,
    pub data: tempfile::TempDir,
}

/// The ministack binary of the venv `scripts/s3-server.sh` creates.
pub fn ministack_bin() -> PathBuf {
    let root = std::env::var("SM_PACK_VENVS").unwrap_or_else(|_| "/tmp/sm-pack-venvs".into());
    let bin = Path::new(&root).join("ministack/bin/ministack");
    assert!(
        bin.exists(),
        "{} is missing: run `scripts/s3-server.sh venv` (or `start`) first",
        bin.display()
    );
    bin
}

impl Ministack {
    pub fn start() -> Ministack {
        let port = free_port();
        let data = tempfile::tempdir().expect("tempdir");
        let child = Command::new(ministack_bin())
            .env("BIND_HOST", "127.0.0.1")
            .env("GATEWAY_PORT", port.to_string())
            .env("S3_DATA_DIR", data.path())
            // ministack writes `$TMPDIR/ministack-<port>.pid` and removes it only on
            // SIGTERM; these servers are killed, so keep it inside the temp dir.
            .env("TMPDIR", data.path())
            .env("LOG_LEVEL", "WARNING")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ministack");
        let endpoint = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "ministack did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ministack {
            child: Some(child),
            endpoint,
            port,
            data,
        }
    }

    /// Kills the server (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Ministack {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a [`Proxy`] recorded: the bytes each connection's client sent.
type Recordings = Arc<Mutex<Vec<Arc<Mutex<Vec<u8>>>>>>;

/// What a [`Proxy`] does besides forwarding.
#[derive(Debug, Clone, Default)]
pub struct ProxyOptions {
    /// Answer the first this many connections with `503 SlowDown` (after
    /// reading the request head) and close them, as a throttling S3 would.
    pub fail_first: usize,
    /// Replace these bytes with others of the same length in everything the
    /// server sends back (to make a response lie about the object).
    pub replace: Option<(Vec<u8>, Vec<u8>)>,
    /// Keep what the client sends, per connection (see [`Proxy::request_heads`]).
    pub record: bool,
    /// Slow what the client sends down to one MiB per this long, per connection
    /// (so that requests last long enough to overlap when they are concurrent).
    pub upload_time_per_mib: Option<Duration>,
    /// Answer the requests these rules match with an S3 error instead of
    /// forwarding them (the proxy then reads requests one by one, as
    /// HTTP/1.1 frames them; `upload_time_per_mib` does not apply).
    pub refuse: Vec<Refusal>,
}

/// A request the proxy answers with an S3 error itself, the way a bucket
/// policy or a store without the operation would.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// HTTP method, e.g. `PUT`.
    pub method: &'static str,
    /// A parameter the query string must have, e.g. `tagging`.
    pub query_param: &'static str,
    /// HTTP status, e.g. 403.
    pub status: u16,
    /// S3 error code, e.g. `AccessDenied`.
    pub code: &'static str,
}

impl Refusal {
    fn matches(&self, request_line: &str) -> bool {
        let mut words = request_line.split(' ');
        let (Some(method), Some(target)) = (words.next(), words.next()) else {
            return false;
        };
        let query = target.split_once('?').map_or("", |(_, q)| q);
        method == self.method
            && query
                .split('&')
                .any(|p| p.split('=').next() == Some(self.query_param))
    }

    fn response(&self, is_head: bool) -> String {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code>\
             <Message>refused by the test proxy</Message></Error>",
            self.code
        );
        format!(
            "HTTP/1.1 {} Refused\r\ncontent-type: application/xml\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{}",
            self.status,
            body.len(),
            if is_head { "" } else { body.as_str() }
        )
    }
}

/// A TCP proxy in front of a server that can be cut ("down": existing
/// connections are shut, new ones closed at once) and restored; it counts
/// connections (total and at most open at once) and can throttle, tamper
/// with responses and record requests ([`ProxyOptions`]).
pub struct Proxy {
    pub endpoint: String,
    down: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    pub accepted: Arc<AtomicUsize>,
    /// Connections open at the same time, at most.
    pub max_open: Arc<AtomicUsize>,
    recorded: Recordings,
}

/// Reads a request head (up to the blank line) from a client.
fn read_head(s: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 << 10 {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    head
}

/// The longest end of `data` that is a proper beginning of `pattern`.
fn partial_suffix(data: &[u8], pattern: &[u8]) -> usize {
    (1..pattern.len().min(data.len() + 1))
        .rev()
        .find(|&n| data[data.len() - n..] == pattern[..n])
        .unwrap_or(0)
}

/// Copies `from` to `to`, replacing `pattern` (when given) on the way and
/// recording into `record` (when given).
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    replace: Option<(Vec<u8>, Vec<u8>)>,
    record: Option<Arc<Mutex<Vec<u8>>>>,
    per_mib: Option<Duration>,
) {
    let mut buf = vec![0u8; 64 << 10];
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(d) = per_mib {
            std::thread::sleep(d * n as u32 / (1 << 20));
        }
        if let Some(r) = &record
            && let Ok(mut r) = r.lock()
        {
            r.extend_from_slice(&buf[..n]);
        }
        let out = match &replace {
            None => buf[..n].to_vec(),
            Some((pat, with)) => {
                carry.extend_from_slice(&buf[..n]);
                let mut i = 0;
                while i + pat.len() <= carry.len() {
                    if carry[i..i + pat.len()] == pat[..] {
                        carry[i..i + pat.len()].copy_from_slice(with);
                        i += pat.len();
                    } else {
                        i += 1;
                    }
                }
                // Hold back only what may be the start of a match split across reads.
                let keep = partial_suffix(&carry, pat);
                let rest = carry.split_off(carry.len() - keep);
                std::mem::replace(&mut carry, rest)
            }
        };
        if to.write_all(&out).is_err() {
            break;
        }
    }
    let _ = to.write_all(&carry);
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// Copies exactly `n` bytes (false when the stream ends first).
fn copy_exact(from: &mut impl BufRead, to: &mut impl Write, n: u64) -> bool {
    std::io::copy(&mut from.take(n), to).is_ok_and(|got| got == n)
}

/// Reads an HTTP/1.1 request head (up to the blank line). `None` at the end
/// of the connection.
fn read_request_head(from: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut raw = Vec::new();
    loop {
        let before = raw.len();
        if from.read_until(b'\n', &mut raw).ok()? == 0 {
            return None;
        }
        if &raw[before..] == b"\r\n" {
            return Some(raw);
        }
    }
}

/// The value of header `name` in a request head, lowercased.
fn head_value(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_ascii_lowercase())
    })
}

/// Copies the body of the request whose head is `head` (framed by
/// `content-length` or chunked encoding). False when the stream ends first.
fn copy_body(from: &mut impl BufRead, to: &mut impl Write, head: &str) -> bool {
    if head_value(head, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut line = Vec::new();
            if from.read_until(b'\n', &mut line).is_err() || to.write_all(&line).is_err() {
                return false;
            }
            let text = String::from_utf8_lossy(&line);
            let size = text.trim().split(';').next().map(str::trim).unwrap_or("");
            let Ok(size) = u64::from_str_radix(size, 16) else {
                return false;
            };
            if size == 0 {
                // Trailers, then the blank line.
                loop {
                    let mut t = Vec::new();
                    if from.read_until(b'\n', &mut t).unwrap_or(0) == 0 || to.write_all(&t).is_err()
                    {
                        return false;
                    }
                    if t == b"\r\n" {
                        return true;
                    }
                }
            }
            if !copy_exact(from, to, size + 2) {
                return false;
            }
        }
    }
    match head_value(head, "content-length").and_then(|v| v.parse::<u64>().ok()) {
        Some(n) => copy_exact(from, to, n),
        None => true,
    }
}

/// Forwards requests one by one from `from` to `to`, answering those a rule
/// matches on `reply` instead (then the connection is closed, as the answer says).
fn pump_requests(
    from: TcpStream,
    mut to: TcpStream,
    mut reply: TcpStream,
    rules: Vec<Refusal>,
    record: Option<Arc<Mutex<Vec<u8>>>>,
) {
    let Ok(f) = from.try_clone() else { return };
    let mut reader = BufReader::new(f);
    while let Some(raw) = read_request_head(&mut reader) {
        if let Some(r) = &record
            && let Ok(mut r) = r.lock()
        {
            r.extend_from_slice(&raw);
        }
        let head = String::from_utf8_lossy(&raw).into_owned();
        let line = head.lines().next().unwrap_or_default();
        if let Some(rule) = rules.iter().find(|r| r.matches(line)) {
            // The body is read first unless the client waits for "100 Continue".
            if !head_value(&head, "expect").is_some_and(|v| v.contains("100-continue")) {
                copy_body(&mut reader, &mut std::io::sink(), &head);
            }
            let _ = reply.write_all(rule.response(line.starts_with("HEAD ")).as_bytes());
            break;
        }
        // The head first: a client may wait for the server's "100 Continue".
        if to.write_all(&raw).is_err() || !copy_body(&mut reader, &mut to, &head) {
            break;
        }
    }
    let _ = reply.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

impl Proxy {
    pub fn start(upstream_port: u16) -> Proxy {
        Proxy::start_with(upstream_port, ProxyOptions::default())
    }

    pub fn start_with(upstream_port: u16, opts: ProxyOptions) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let down = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let accepted = Arc::new(AtomicUsize::new(0));
        let max_open = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let recorded: Recordings = Arc::default();
        let (d, cs, acc, mx, rec) = (
            down.clone(),
            conns.clone(),
            accepted.clone(),
            max_open.clone(),
            recorded.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { continue };
                let nth = acc.fetch_add(1, Ordering::SeqCst);
                if d.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                if nth < opts.fail_first {
                    let head = read_head(&mut client);
                    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
                                <Message>Please reduce your request rate.</Message></Error>";
                    let is_head = head.starts_with(b"HEAD ");
                    let reply = format!(
                        "HTTP/1.1 503 Slow Down\r\ncontent-type: application/xml\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{}",
                        body.len(),
                        if is_head { "" } else { body }
                    );
                    let _ = client.write_all(reply.as_bytes());
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                if let Ok(mut list) = cs.lock()
                    && let (Ok(a), Ok(b)) = (client.try_clone(), server.try_clone())
                {
                    list.push(a);
                    list.push(b);
                }
                let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                mx.fetch_max(now, Ordering::SeqCst);
                let record = opts.record.then(|| {
                    let r: Arc<Mutex<Vec<u8>>> = Arc::default();
                    if let Ok(mut all) = rec.lock() {
                        all.push(r.clone());
                    }
                    r
                });
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                let replace = opts.replace.clone();
                let open = open.clone();
                let per_mib = opts.upload_time_per_mib;
                if opts.refuse.is_empty() {
                    std::thread::spawn(move || pump(client, s2, None, record, per_mib));
                } else if let Ok(reply) = client.try_clone() {
                    let rules = opts.refuse.clone();
                    std::thread::spawn(move || pump_requests(client, s2, reply, rules, record));
                }
                std::thread::spawn(move || {
                    pump(server, c2, replace, None, None);
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Proxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            down,
            conns,
            accepted,
            max_open,
            recorded,
        }
    }

    /// The heads (request line and headers) of every request
    /// the client sent so far (needs [`ProxyOptions::record`]).
    pub fn request_heads(&self) -> Vec<String> {
        let mut heads = Vec::new();
        let Ok(all) = self.recorded.lock() else {
            return heads;
        };
        for conn in all.iter() {
            let Ok(bytes) = conn.lock() else { continue };
            // A request line ends with " HTTP/1.1"; these bodies hold no such text.
            let mut from = 0;
            while let Some(at) = find(&bytes[from..], b" HTTP/1.1\r\n") {
                let at = from + at;
                // The request line starts with the method (a body may precede it).
                let window = at.saturating_sub(16 << 10);
                let line_start = ["GET /", "PUT /", "POST /", "HEAD /", "DELETE /"]
                    .iter()
                    .filter_map(|m| rfind(&bytes[window..at], m.as_bytes()))
                    .max()
                    .map_or(window, |p| window + p);
                let end = find(&bytes[at..], b"\r\n\r\n").map_or(bytes.len(), |e| at + e);
                heads.push(String::from_utf8_lossy(&bytes[line_start..end]).into_owned());
                from = end;
            }
        }
        heads
    }

    /// Cuts every connection and refuses new ones.
    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        if let Ok(mut list) = self.conns.lock() {
            for s in list.drain(..) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

/// The port of an `http://127.0.0.1:PORT` endpoint.
pub fn port_of(endpoint: &str) -> u16 {
    endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("endpoint with a port")
}

/// Where `needle` last occurs in `hay`.
pub fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// Where `needle` first occurs in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A request received by a [`FakeHttp`] server.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// The query string (without `?`), as sent.
    pub query: String,
    /// Request line and headers.
    pub head: String,
    /// The body as sent (lossy UTF-8).
    pub body: String,
}

impl Received {
    /// A header's value (names compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }

    /// A parameter of the query string, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_value(&self.query, name)
    }

    /// A field of an `application/x-www-form-urlencoded` body, decoded.
    pub fn form_param(&self, name: &str) -> Option<String> {
        form_value(&self.body, name)
    }
}

/// The decoded value of `name` in `a=1&b=2` form text (`+` is a space).
pub fn form_value(form: &str, name: &str) -> Option<String> {
    form.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => match b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(v) => {
                    out.push(v);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a [`FakeHttp`] server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl ToString) -> Reply {
        self.headers.push((name.into(), value.to_string()));
        self
    }
}

/// A small HTTP/1.1 server on 127.0.0.1 standing in for an AWS credential
/// service (EC2 instance metadata, STS, the SSO portal): it records every
/// request and answers it with what `answer` returns, one request per
/// connection (`connection: close`).
pub struct FakeHttp {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl FakeHttp {
    pub fn start(answer: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> FakeHttp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake server");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let (rec, answer) = (received.clone(), Arc::new(answer));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (rec, answer) = (rec.clone(), answer.clone());
                std::thread::spawn(move || serve_one(conn, &rec, answer.as_ref()));
            }
        });
        FakeHttp { url, received }
    }

    /// The requests received so far, in order of arrival.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

fn serve_one(
    mut conn: TcpStream,
    received: &Mutex<Vec<Received>>,
    answer: &(dyn Fn(&Received) -> Reply + Send + Sync),
) {
    let Ok(c) = conn.try_clone() else { return };
    let mut reader = BufReader::new(c);
    let Some(raw) = read_request_head(&mut reader) else {
        return;
    };
    let head = String::from_utf8_lossy(&raw).trim_end().to_string();
    let mut body = Vec::new();
    if !copy_body(&mut reader, &mut body, &head) {
        return;
    }
    let line = head.lines().next().unwrap_or_default();
    let mut words = line.split(' ');
    let method = words.next().unwrap_or_default().to_string();
    let target = words.next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let req = Received {
        method,
        path: path.to_string(),
        query: query.to_string(),
        head: head.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let reply = answer(&req);
    if let Ok(mut r) = received.lock() {
        r.push(req);
    }
    let mut out = format!("HTTP/1.1 {} Fake\r\n", reply.status);
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n{}",
        reply.body.len(),
        reply.body
    ));
    let _ = conn.write_all(out.as_bytes());
    let _ = conn.shutdown(Shutdown::Both);
}

/// The SHA-1 (hex) of `text`, as `sha1sum` computes it (the name of an SSO
/// token cache file is the SHA-1 of the session name).
pub fn sha1_hex(text: &str) -> String {
    let mut child = Command::new("sha1sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run sha1sum");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to sha1sum");
    let out = child.wait_with_output().expect("sha1sum");
    assert!(out.status.success(), "sha1sum failed");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("sha1sum output")
        .to_string()
}
