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
