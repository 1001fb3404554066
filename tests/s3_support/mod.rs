//! Shared helpers of the S3 integration tests (`tests/s3_*.rs`): the test
//! server, an isolated AWS environment for the binary, an SDK client for
//! checking what landed in the bucket, synthetic models, a cuttable proxy.
#![allow(dead_code)]

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
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
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
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

/// A TCP proxy in front of a server that can be cut ("down": existing
/// connections are shut, new ones closed at once) and restored.
pub struct Proxy {
    pub endpoint: String,
    down: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    pub accepted: Arc<AtomicUsize>,
}

impl Proxy {
    pub fn start(upstream_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let down = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (d, cs, acc) = (down.clone(), conns.clone(), accepted.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                acc.fetch_add(1, Ordering::SeqCst);
                if d.load(Ordering::SeqCst) {
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
                for (mut from, mut to) in [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ]
                .into_iter()
                .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
                {
                    std::thread::spawn(move || {
                        let mut buf = vec![0u8; 64 << 10];
                        loop {
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Proxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            down,
            conns,
            accepted,
        }
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
