//! S3 upload when the server goes away mid-upload. Each test runs its own
//! ministack (from the venv `scripts/s3-server.sh` creates) on a free port,
//! so it can stop it. Like `s3_upload.rs`, these need
//! `SM_PACK_TEST_S3_ENDPOINT` to be set (the shared server proves the
//! environment is prepared) unless `SM_PACK_SKIP_S3_TESTS=1`.
#![cfg(feature = "s3")]

mod s3_support;

use s3_support::*;
use std::process::Stdio;
use std::time::{Duration, Instant};

const MIB: usize = 1 << 20;

fn start_upload(env: &TestEnv, model: &str, dest: &str, endpoint: &str) -> std::process::Child {
    env.command(&[
        "fasttext",
        model,
        "-o",
        "out/model.tar.gz",
        "--upload",
        dest,
        "--endpoint-url",
        endpoint,
        "--path-style",
        "--part-size",
        "5MiB",
        "--concurrency",
        "1",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn sm-pack")
}

fn wait_with_timeout(child: std::process::Child, limit: Duration) -> Run {
    let start = Instant::now();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(out)) => Run::from(out),
        _ => {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
            panic!("sm-pack did not finish within {:?}", start.elapsed());
        }
    }
}

#[test]
fn server_killed_mid_upload_is_a_clear_error_and_leaves_no_local_archive() {
    let _shared = need_s3!();
    let mut server = Ministack::start();
    let mut env = TestEnv::new();
    std::fs::create_dir(env.path("out")).expect("out");
    let s3 = S3::new(&server.endpoint);
    let bucket = bucket_name("killed");
    s3.create_bucket(&bucket);
    let model = env.path("big.bin");
    fasttext_model(&model, 40 * MIB, 11);
    env.set("SM_PACK_TEST_PART_DELAY_MS", "500");
    // One attempt per request keeps the test short; retries are the SDK's.
    env.set("AWS_MAX_ATTEMPTS", "1");
    let child = start_upload(
        &env,
        model.to_str().unwrap_or_default(),
        &format!("s3://{bucket}/m/"),
        &server.endpoint,
    );
    assert!(
        s3.wait_for_parts(&bucket, 1, Duration::from_secs(60)),
        "no part uploaded"
    );
    server.kill();
    let run = wait_with_timeout(child, Duration::from_secs(90));
    run.fails_with(2);
    assert!(run.stderr.contains("cannot reach S3"), "{}", run.stderr);
    // The server is gone, so the abort cannot succeed: the error says how to clean up.
    assert!(
        run.stderr.contains("could not be aborted"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("aws s3api abort-multipart-upload"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("--bucket {bucket} --key m/model.tar.gz")),
        "{}",
        run.stderr
    );
    assert!(
        files_in(&env.path("out"), &[]).is_empty(),
        "no local output"
    );
}

#[test]
fn outage_mid_upload_aborts_the_upload_once_the_server_is_back() {
    let _shared = need_s3!();
    let server = Ministack::start();
    let proxy = Proxy::start(server.port);
    let mut env = TestEnv::new();
    std::fs::create_dir(env.path("out")).expect("out");
    let s3 = S3::new(&server.endpoint);
    let bucket = bucket_name("outage");
    s3.create_bucket(&bucket);
    let model = env.path("big.bin");
    fasttext_model(&model, 40 * MIB, 12);
    env.set("SM_PACK_TEST_PART_DELAY_MS", "500");
    env.set("AWS_MAX_ATTEMPTS", "1");
    let child = start_upload(
        &env,
        model.to_str().unwrap_or_default(),
        &format!("s3://{bucket}/m/"),
        &proxy.endpoint,
    );
    assert!(
        s3.wait_for_parts(&bucket, 1, Duration::from_secs(60)),
        "no part uploaded"
    );
    // The server disappears (connections cut, new ones refused) for two seconds.
    proxy.cut();
    std::thread::sleep(Duration::from_secs(2));
    proxy.restore();
    let run = wait_with_timeout(child, Duration::from_secs(90));
    run.fails_with(2);
    assert!(run.stderr.contains("cannot reach S3"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("could not be aborted"),
        "{}",
        run.stderr
    );
    // The abort got through after the outage: no parts, no object, no local archive.
    assert!(
        s3.multipart_uploads(&bucket).is_empty(),
        "multipart upload aborted"
    );
    assert!(s3.keys(&bucket).is_empty(), "no object");
    assert!(
        files_in(&env.path("out"), &[]).is_empty(),
        "no local output"
    );
}

#[test]
fn throttling_is_retried() {
    let endpoint = need_s3!();
    let s3 = S3::new(&endpoint);
    let bucket = bucket_name("throttled");
    s3.create_bucket(&bucket);
    let mut env = TestEnv::new();
    std::fs::create_dir(env.path("out")).expect("out");
    let model = small_model();
    let model = model.to_str().unwrap_or_default();
    let args = |proxy: &Proxy, out: &'static str, dest: String| -> Vec<String> {
        [
            "fasttext",
            model,
            "-o",
            out,
            "--upload",
            &dest,
            "--endpoint-url",
            &proxy.endpoint,
            "--path-style",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    // The first two requests get `503 SlowDown`; the SDK's standard retry
    // mode (3 attempts, exponential backoff) gets through on the third.
    let proxy = Proxy::start_with(
        port_of(&endpoint),
        ProxyOptions {
            fail_first: 2,
            ..Default::default()
        },
    );
    let a = args(&proxy, "out/a.tar.gz", format!("s3://{bucket}/a/"));
    let run = env.run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    run.ok();
    assert!(proxy.accepted.load(std::sync::atomic::Ordering::SeqCst) >= 3);
    let got = s3.get(&bucket, "a/a.tar.gz").expect("uploaded");
    assert_eq!(
        got,
        std::fs::read(env.path("out/a.tar.gz")).unwrap_or_default()
    );

    // With one attempt only, throttling is an error that says what to do.
    env.set("AWS_MAX_ATTEMPTS", "1");
    let proxy = Proxy::start_with(
        port_of(&endpoint),
        ProxyOptions {
            fail_first: 1,
            ..Default::default()
        },
    );
    let b = args(&proxy, "out/b.tar.gz", format!("s3://{bucket}/b/"));
    let run = env.run(&b.iter().map(String::as_str).collect::<Vec<_>>());
    run.fails_with(2);
    assert!(run.stderr.contains("503"), "{}", run.stderr);
    assert!(run.stderr.contains("AWS_MAX_ATTEMPTS"), "{}", run.stderr);
    assert!(s3.get(&bucket, "b/b.tar.gz").is_none());
    assert!(!env.path("out/b.tar.gz").exists());
}

#[test]
fn an_object_that_reads_back_different_fails_and_is_removed() {
    let endpoint = need_s3!();
    let s3 = S3::new(&endpoint);
    let bucket = bucket_name("readback");
    s3.create_bucket(&bucket);
    let env = TestEnv::new();
    std::fs::create_dir(env.path("out")).expect("out");
    let small = small_model();
    env.run(&[
        "fasttext",
        small.to_str().unwrap_or_default(),
        "-o",
        "out/model.tar.gz",
    ])
    .ok();
    let manifest = std::fs::read(env.path("out/model.tar.gz.manifest.json")).expect("manifest");
    let v: serde_json::Value = serde_json::from_slice(&manifest).expect("json");
    let digest = v["archive"]["sha256"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(digest.len(), 64);

    // Single PUT: the server's answers show other `sha256` metadata than was sent.
    let forged = "0".repeat(64);
    let proxy = Proxy::start_with(
        port_of(&endpoint),
        ProxyOptions {
            replace: Some((digest.clone().into_bytes(), forged.clone().into_bytes())),
            ..Default::default()
        },
    );
    let run = env.run(&[
        "upload",
        "out/model.tar.gz",
        &format!("s3://{bucket}/one/"),
        "--endpoint-url",
        &proxy.endpoint,
        "--path-style",
    ]);
    run.fails_with(2);
    assert!(
        run.stderr
            .contains(&format!("sha256 metadata is {forged}, expected {digest}")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("the object was deleted"),
        "{}",
        run.stderr
    );
    assert!(
        s3.keys(&bucket).is_empty(),
        "nothing left: {:?}",
        s3.keys(&bucket)
    );
    assert_eq!(
        std::fs::read(env.path("out/model.tar.gz.manifest.json")).ok(),
        Some(manifest),
        "the local manifest records no upload"
    );

    // Multipart while packing: S3's composite checksum comes back different.
    // The archive is deterministic, so its parts (and composite) are known.
    let model = env.path("big.bin");
    fasttext_model(&model, 12 * MIB, 31);
    env.run(&[
        "fasttext",
        model.to_str().unwrap_or_default(),
        "-o",
        "out/big.tar.gz",
    ])
    .ok();
    let bytes = std::fs::read(env.path("out/big.tar.gz")).expect("archive");
    let composite = composite(&bytes, 5 * MIB);
    let (b64, _) = composite.split_once('-').expect("composite");
    let other = composite_of_nothing_like(b64);
    for f in ["big.tar.gz", "big.tar.gz.manifest.json", "SHA256SUMS"] {
        let _ = std::fs::remove_file(env.path(&format!("out/{f}")));
    }
    let proxy = Proxy::start_with(
        port_of(&endpoint),
        ProxyOptions {
            replace: Some((b64.as_bytes().to_vec(), other.clone().into_bytes())),
            ..Default::default()
        },
    );
    let run = env.run(&[
        "fasttext",
        model.to_str().unwrap_or_default(),
        "-o",
        "out/big.tar.gz",
        "--upload",
        &format!("s3://{bucket}/multi/"),
        "--endpoint-url",
        &proxy.endpoint,
        "--path-style",
        "--part-size",
        "5MiB",
    ]);
    run.fails_with(2);
    assert!(run.stderr.contains(&format!("{other}-3")), "{}", run.stderr);
    assert!(run.stderr.contains(&composite), "{}", run.stderr);
    assert!(
        run.stderr.contains("the object was deleted"),
        "{}",
        run.stderr
    );
    assert!(
        s3.keys(&bucket).is_empty(),
        "nothing left: {:?}",
        s3.keys(&bucket)
    );
    assert!(s3.multipart_uploads(&bucket).is_empty());
    assert!(!env.path("out/big.tar.gz").exists(), "no local archive");
}

/// A base64 SHA-256 of the same length as `b64` that differs from it.
fn composite_of_nothing_like(b64: &str) -> String {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    let other = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b64.as_bytes()));
    assert_eq!(other.len(), b64.len());
    other
}
