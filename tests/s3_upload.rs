//! S3 upload against a real S3-compatible server (ministack, which enforces
//! S3's checksums) on 127.0.0.1. Start it with
//! `eval "$(scripts/s3-server.sh start)"`; the tests read
//! `SM_PACK_TEST_S3_ENDPOINT` and fail without it (unless
//! `SM_PACK_SKIP_S3_TESTS=1`).
#![cfg(feature = "s3")]

mod report_support;
mod s3_support;

use s3_support::*;
use sha2::{Digest, Sha256};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const MIB: usize = 1 << 20;

fn pack_args<'a>(model: &'a str, dest: &'a str, endpoint: &'a str) -> Vec<&'a str> {
    vec![
        "fasttext",
        model,
        "-o",
        "out/model.tar.gz",
        "--upload",
        dest,
        "--endpoint-url",
        endpoint,
        "--path-style",
    ]
}

fn setup(test: &str, endpoint: &str) -> (TestEnv, S3, String) {
    let env = TestEnv::new();
    std::fs::create_dir(env.path("out")).expect("out dir");
    let s3 = S3::new(endpoint);
    let bucket = bucket_name(test);
    s3.create_bucket(&bucket);
    (env, s3, bucket)
}

fn read_json(p: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).expect("read")).expect("json")
}

#[test]
fn single_put_round_trip() {
    let endpoint = need_s3!();
    let (env, s3, bucket) = setup("single", &endpoint);
    let model = small_model();
    let dest = format!("s3://{bucket}/models/churn/");
    let mut args = pack_args(model.to_str().unwrap_or_default(), &dest, &endpoint);
    args.push("--json");
    let run = env.run(&args);
    run.ok();
    let report = run.json();

    let manifest = read_json(&env.path("out/model.tar.gz.manifest.json"));
    let digest = manifest["archive"]["sha256"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let key = "models/churn/model.tar.gz";
    let got = s3.get(&bucket, key).expect("archive uploaded");
    assert_eq!(
        sha256_hex(&got),
        digest,
        "downloaded bytes = manifest digest"
    );
    assert_eq!(
        got,
        std::fs::read(env.path("out/model.tar.gz")).unwrap_or_default()
    );

    // The object: full-object SHA-256 and the hex digest as metadata.
    let head = s3.head(&bucket, key).expect("head");
    use base64::Engine as _;
    let b64 =
        base64::engine::general_purpose::STANDARD.encode(hex::decode(&digest).unwrap_or_default());
    assert_eq!(head.checksum_sha256(), Some(b64.as_str()));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("sha256"))
            .map(String::as_str),
        Some(digest.as_str())
    );

    // The local manifest records the upload, and equals the uploaded one.
    let up = &manifest["uploads"][0];
    assert_eq!(up["bucket"], bucket.as_str());
    assert_eq!(up["key"], key);
    assert_eq!(up["uri"], format!("s3://{bucket}/{key}").as_str());
    assert_eq!(up["checksum_sha256"], b64.as_str());
    assert_eq!(up["etag"].as_str(), head.e_tag());
    // The digest is on the object as metadata, so it gets no tag.
    assert_eq!(up["digest_on_object"], "metadata");
    assert_eq!(s3.tags(&bucket, key), Some(vec![]));
    let local_manifest =
        std::fs::read(env.path("out/model.tar.gz.manifest.json")).unwrap_or_default();
    assert_eq!(
        s3.get(&bucket, "models/churn/model.tar.gz.manifest.json"),
        Some(local_manifest)
    );
    let local_sums = std::fs::read(env.path("out/SHA256SUMS")).unwrap_or_default();
    assert_eq!(s3.get(&bucket, "models/churn/SHA256SUMS"), Some(local_sums));

    // The JSON report carries the upload records.
    assert_eq!(report["upload"]["archive"]["status"], "uploaded");
    assert_eq!(report["upload"]["archive"]["method"]["kind"], "single-put");
    assert_eq!(report["upload"]["archive"]["key"], key);
    assert_eq!(
        report["upload"]["sidecars"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(report["outcome"]["manifest"]["uploads"][0]["key"], key);
    assert_eq!(report["upload"]["archive"]["digest_on_object"], "metadata");
    assert_eq!(report["upload"]["findings"], serde_json::json!([]));
    assert!(s3.multipart_uploads(&bucket).is_empty());
}

#[test]
fn multipart_round_trip() {
    let endpoint = need_s3!();
    let (env, s3, bucket) = setup("multipart", &endpoint);
    let model = env.path("big.bin");
    fasttext_model(&model, 12 * MIB, 1);
    let dest = format!("s3://{bucket}/m/");
    let mut args = pack_args(model.to_str().unwrap_or_default(), &dest, &endpoint);
    args.extend(["--part-size", "5MiB", "--json"]);
    let run = env.run(&args);
    run.ok();
    let report = run.json();

    let archive = std::fs::read(env.path("out/model.tar.gz")).expect("archive");
    assert!(
        archive.len() > 10 * MIB,
        "incompressible model: {} bytes",
        archive.len()
    );
    let manifest = read_json(&env.path("out/model.tar.gz.manifest.json"));
    let digest = manifest["archive"]["sha256"].as_str().unwrap_or_default();
    let got = s3.get(&bucket, "m/model.tar.gz").expect("archive uploaded");
    assert_eq!(sha256_hex(&got), digest);

    // S3's composite checksum is the one computed from 5 MiB parts.
    let want = composite(&got, 5 * MIB);
    assert!(want.ends_with("-3"), "{want}");
    let head = s3.head(&bucket, "m/model.tar.gz").expect("head");
    assert_eq!(head.checksum_sha256(), Some(want.as_str()));
    assert_eq!(manifest["uploads"][0]["checksum_sha256"], want.as_str());
    let method = &report["upload"]["archive"]["method"];
    assert_eq!(method["kind"], "multipart");
    assert_eq!(method["parts"], 3);
    assert_eq!(method["part_size"], 5 * MIB);

    // Streamed: the digest exists only after the last part, too late for
    // metadata; the object carries it as the tag sha256 instead.
    assert_eq!(
        head.metadata().and_then(|m| m.get("sha256")),
        None,
        "no metadata"
    );
    assert_eq!(
        s3.tags(&bucket, "m/model.tar.gz"),
        Some(vec![("sha256".to_string(), digest.to_string())])
    );
    assert_eq!(manifest["uploads"][0]["digest_on_object"], "tag");
    assert_eq!(report["upload"]["archive"]["digest_on_object"], "tag");
    assert_eq!(report["upload"]["findings"], serde_json::json!([]));
    // Tagging made no second version and left the data as it was.
    assert_eq!(s3.versions(&bucket, "m/model.tar.gz"), 1);
    assert!(
        s3.multipart_uploads(&bucket).is_empty(),
        "no upload left open"
    );
}

#[test]
fn upload_command_for_an_existing_archive() {
    let endpoint = need_s3!();
    let (env, s3, bucket) = setup("cmd", &endpoint);
    let model = env.path("big.bin");
    fasttext_model(&model, 12 * MIB, 2);
    env.run(&[
        "fasttext",
        model.to_str().unwrap_or_default(),
        "-o",
        "out/model.tar.gz",
    ])
    .ok();
    let before = read_json(&env.path("out/model.tar.gz.manifest.json"));
    assert_eq!(before["uploads"].as_array().map(Vec::len), Some(0));
    let digest = before["archive"]["sha256"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    let dest = format!("s3://{bucket}/releases/v3.tar.gz");
    env.run(&[
        "upload",
        "out/model.tar.gz",
        &dest,
        "--endpoint-url",
        &endpoint,
        "--path-style",
        "--part-size",
        "5MiB",
    ])
    .ok();
    // Exact key; the digest was known up front, so even multipart carries the metadata.
    let got = s3.get(&bucket, "releases/v3.tar.gz").expect("uploaded");
    assert_eq!(sha256_hex(&got), digest);
    let head = s3.head(&bucket, "releases/v3.tar.gz").expect("head");
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("sha256"))
            .map(String::as_str),
        Some(digest.as_str())
    );
    assert_eq!(
        head.checksum_sha256(),
        Some(composite(&got, 5 * MIB).as_str())
    );
    assert_eq!(
        s3.tags(&bucket, "releases/v3.tar.gz"),
        Some(vec![]),
        "no tag"
    );

    // The local manifest now records the upload; SHA256SUMS follows it.
    let after = std::fs::read(env.path("out/model.tar.gz.manifest.json")).expect("manifest");
    let v: serde_json::Value = serde_json::from_slice(&after).expect("json");
    assert_eq!(v["uploads"][0]["key"], "releases/v3.tar.gz");
    assert_eq!(v["uploads"][0]["digest_on_object"], "metadata");
    assert_eq!(v["archive"], before["archive"]);
    let sums = std::fs::read_to_string(env.path("out/SHA256SUMS")).expect("sums");
    assert!(
        sums.contains(&format!(
            "{}  model.tar.gz.manifest.json",
            sha256_hex(&after)
        )),
        "{sums}"
    );
    assert!(sums.contains(&format!("{digest}  model.tar.gz")), "{sums}");

    // Remote sidecars are named after the key.
    assert_eq!(
        s3.get(&bucket, "releases/v3.tar.gz.manifest.json"),
        Some(after.clone())
    );
    let remote_sums =
        String::from_utf8(s3.get(&bucket, "releases/SHA256SUMS").expect("sums")).expect("utf8");
    assert!(
        remote_sums.contains(&format!("{digest}  v3.tar.gz\n")),
        "{remote_sums}"
    );
    assert!(
        remote_sums.contains(&format!(
            "{}  v3.tar.gz.manifest.json\n",
            sha256_hex(&after)
        )),
        "{remote_sums}"
    );

    // A second run finds everything in place and sends nothing.
    let run = env.run(&[
        "upload",
        "out/model.tar.gz",
        &dest,
        "--endpoint-url",
        &endpoint,
        "--path-style",
        "--json",
    ]);
    run.ok();
    let r = run.json();
    assert_eq!(r["upload"]["archive"]["status"], "already-uploaded");
    // --force replaces different content only: the same bytes are still not sent.
    let run = env.run(&[
        "upload",
        "out/model.tar.gz",
        &dest,
        "--endpoint-url",
        &endpoint,
        "--path-style",
        "--force",
        "--json",
    ]);
    run.ok();
    assert_eq!(
        run.json()["upload"]["archive"]["status"],
        "already-uploaded"
    );
}

#[test]
fn upload_command_refuses_an_archive_that_does_not_match_its_manifest() {
    let endpoint = need_s3!();
    let (env, s3, bucket) = setup("tampered", &endpoint);
    let model = env.path("big.bin");
    fasttext_model(&model, 12 * MIB, 3);
    env.run(&[
        "fasttext",
        model.to_str().unwrap_or_default(),
        "-o",
        "out/model.tar.gz",
    ])
    .ok();
    // Flip one byte in the middle of the archive (same size).
    let p = env.path("out/model.tar.gz");
    let mut bytes = std::fs::read(&p).expect("archive");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&p, &bytes).expect("write");
    let manifest_before = std::fs::read(env.path("out/model.tar.gz.manifest.json")).expect("m");
    let run = env.run(&[
        "upload",
        "out/model.tar.gz",
        &format!("s3://{bucket}/x/"),
        "--endpoint-url",
        &endpoint,
        "--path-style",
        "--part-size",
        "5MiB",
    ]);
    run.fails_with(2);
    assert!(
        run.stderr.contains("does not match its manifest"),
        "{}",
        run.stderr
    );
    assert!(s3.keys(&bucket).is_empty(), "nothing stored");
    assert!(s3.multipart_uploads(&bucket).is_empty(), "upload aborted");
    assert_eq!(
        std::fs::read(env.path("out/model.tar.gz.manifest.json")).ok(),
        Some(manifest_before)
    );
}

#[test]
fn corrupted_part_is_rejected_and_the_upload_aborted() {
    let endpoint = need_s3!();
    let (mut env, s3, bucket) = setup("corrupt", &endpoint);
    let model = env.path("big.bin");
    fasttext_model(&model, 12 * MIB, 4);
    env.set("SM_PACK_TEST_CORRUPT_PART", "2");
    let dest = format!("s3://{bucket}/m/");
    let mut args = pack_args(model.to_str().unwrap_or_default(), &dest, &endpoint);
    args.extend(["--part-size", "5MiB"]);
    let run = env.run(&args);
    run.fails_with(2);
    assert!(run.stderr.contains("UploadPart"), "{}", run.stderr);
    assert!(run.stderr.contains("BadDigest"), "{}", run.stderr);
    assert!(s3.keys(&bucket).is_empty(), "no object");
    assert!(
        s3.multipart_uploads(&bucket).is_empty(),
        "multipart upload aborted"
    );
    assert!(
        files_in(&env.path("out"), &[]).is_empty(),
        "no local output"
    );

    // The single-PUT path: a wrong full-object checksum is refused the same way.
    env.set("SM_PACK_TEST_CORRUPT_PART", "1");
    let small = small_model();
    let run = env.run(&pack_args(
        small.to_str().unwrap_or_default(),
        &dest,
        &endpoint,
    ));
    run.fails_with(2);
    assert!(run.stderr.contains("PutObject"), "{}", run.stderr);
    assert!(run.stderr.contains("BadDigest"), "{}", run.stderr);
    assert!(s3.keys(&bucket).is_empty(), "no object");
    assert!(
        files_in(&env.path("out"), &[]).is_empty(),
        "no local output"
    );
}

#[test]
fn a_model_refused_by_validation_leaves_nothing_in_s3() {
    let endpoint = need_s3!();
    let (env, s3, bucket) = setup("refused", &endpoint);
    let model = env.path("big.bin");
    fasttext_model(&model, 12 * MIB, 5);
    // Truncate: the validator only notices at the end, after parts went up.
    let bytes = std::fs::read(&model).expect("model");
    std::fs::write(&model, &bytes[..bytes.len() - 100]).expect("write");
    let dest = format!("s3://{bucket}/m/");
    let mut args = pack_args(model.to_str().unwrap_or_default(), &dest, &endpoint);
    args.extend(["--part-size", "5MiB"]);
    let run = env.run(&args);
    assert_ne!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(s3.keys(&bucket).is_empty(), "no object");
    assert!(
        s3.multipart_uploads(&bucket).is_empty(),
        "multipart upload aborted"
    );
    assert!(
        files_in(&env.path("out"), &[]).is_empty(),
        "no local output"
    );
}

#[test]
fn existing_different_object_is_refused_without_force() {
    let endpoint = need_s3!();
    let (env, s3, bucket) = setup("exists", &endpoint);
    let key = "m/model.tar.gz";
    s3.put(&bucket, key, b"someone else's archive");
    let model = small_model();
    let dest = format!("s3://{bucket}/m/");
    let run = env.run(&pack_args(
        model.to_str().unwrap_or_default(),
        &dest,
        &endpoint,
    ));
    run.fails_with(2);
    assert!(run.stderr.contains("already exists"), "{}", run.stderr);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    assert_eq!(
        s3.get(&bucket, key).as_deref(),
        Some(&b"someone else's archive"[..])
    );
    assert!(
        files_in(&env.path("out"), &[]).is_empty(),
        "no local output"
    );

    // An sm-pack archive with a different digest is refused too.
    let other = env.path("other.bin");
    fasttext_model(&other, MIB, 6);
    let run = env.run(&pack_args(
        other.to_str().unwrap_or_default(),
        &dest,
        &endpoint,
    ));
    run.fails_with(2);

    // --force replaces it.
    let mut args = pack_args(model.to_str().unwrap_or_default(), &dest, &endpoint);
    args.push("--force");
    env.run(&args).ok();
    let manifest = read_json(&env.path("out/model.tar.gz.manifest.json"));
    let got = s3.get(&bucket, key).expect("object");
    assert_eq!(
        sha256_hex(&got),
        manifest["archive"]["sha256"].as_str().unwrap_or_default()
    );
}

#[test]
fn same_digest_is_reported_and_nothing_is_sent() {
    let endpoint = need_s3!();
    let (env, s3, bucket) = setup("same", &endpoint);
    s3.enable_versioning(&bucket);
    let model = env.path("big.bin");
    fasttext_model(&model, 12 * MIB, 7);
    let dest = format!("s3://{bucket}/m/");
    let mut args = pack_args(model.to_str().unwrap_or_default(), &dest, &endpoint);
    args.extend(["--part-size", "5MiB", "--json"]);
    let first = env.run(&args);
    first.ok();
    let v1 = first.json()["upload"]["archive"]["version_id"].clone();
    assert!(v1.is_string(), "versioned bucket: {v1}");

    std::fs::remove_dir_all(env.path("out")).expect("rm");
    std::fs::create_dir(env.path("out")).expect("mkdir");
    let second = env.run(&args);
    second.ok();
    let r = second.json();
    assert_eq!(r["upload"]["archive"]["status"], "already-uploaded");
    assert_eq!(r["upload"]["archive"]["method"]["kind"], "none");
    assert_eq!(r["upload"]["archive"]["version_id"], v1);
    assert_eq!(r["upload"]["archive"]["digest_on_object"], "tag");
    for s in r["upload"]["sidecars"].as_array().into_iter().flatten() {
        assert_eq!(s["status"], "already-uploaded", "{s}");
    }
    // Nothing was written: one version of each object.
    for key in [
        "m/model.tar.gz",
        "m/model.tar.gz.manifest.json",
        "m/SHA256SUMS",
    ] {
        assert_eq!(s3.versions(&bucket, key), 1, "{key}");
    }
    // The local manifest records the existing object.
    let manifest = read_json(&env.path("out/model.tar.gz.manifest.json"));
    assert_eq!(manifest["uploads"][0]["version_id"], v1);
}

/// A listener that counts connections (stands in for an endpoint that must not be contacted).
fn counting_listener() -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    let n = Arc::new(AtomicUsize::new(0));
    let c = n.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            c.fetch_add(1, Ordering::SeqCst);
            drop(s);
        }
    });
    (url, n)
}

#[test]
fn dry_run_contacts_nothing() {
    // Needs no server: the endpoint is a listener that counts connections.
    let (url, hits) = counting_listener();
    let mut env = TestEnv::new();
    std::fs::create_dir(env.path("out")).expect("out");
    // IMDS would be contacted to find credentials if anything loaded them.
    env.unset("AWS_EC2_METADATA_DISABLED");
    env.unset("AWS_ACCESS_KEY_ID");
    env.unset("AWS_SECRET_ACCESS_KEY");
    let model = small_model();
    let run = env.run(&[
        "fasttext",
        model.to_str().unwrap_or_default(),
        "-o",
        "out/model.tar.gz",
        "--upload",
        "s3://bucket-dry/p/",
        "--endpoint-url",
        &url,
        "--dry-run",
    ]);
    run.ok();
    assert!(
        run.stdout.contains("s3://bucket-dry/p/model.tar.gz"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("s3://bucket-dry/p/model.tar.gz.manifest.json"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("s3://bucket-dry/p/SHA256SUMS"),
        "{}",
        run.stdout
    );
    assert!(
        files_in(&env.path("out"), &[]).is_empty(),
        "dry run writes nothing"
    );

    env.run(&[
        "fasttext",
        model.to_str().unwrap_or_default(),
        "-o",
        "out/model.tar.gz",
    ])
    .ok();
    let run = env.run(&[
        "upload",
        "out/model.tar.gz",
        "s3://bucket-dry/exact.tar.gz",
        "--endpoint-url",
        &url,
        "--dry-run",
        "--json",
    ]);
    run.ok();
    let j = run.json();
    assert_eq!(j["plan"]["archive"], "s3://bucket-dry/exact.tar.gz");
    assert_eq!(j["plan"]["method"]["kind"], "single-put");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the endpoint was contacted");
}

#[test]
fn missing_credentials_is_a_clear_error_with_exit_2() {
    let endpoint = need_s3!();
    let (mut env, s3, bucket) = setup("nocreds", &endpoint);
    env.unset("AWS_ACCESS_KEY_ID");
    env.unset("AWS_SECRET_ACCESS_KEY");
    let model = small_model();
    let dest = format!("s3://{bucket}/m/");
    let run = env.run(&pack_args(
        model.to_str().unwrap_or_default(),
        &dest,
        &endpoint,
    ));
    run.fails_with(2);
    assert!(
        run.stderr.contains("no AWS credentials found"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("AWS_PROFILE"), "{}", run.stderr);
    assert!(
        files_in(&env.path("out"), &[]).is_empty(),
        "no local output"
    );
    assert!(s3.keys(&bucket).is_empty());

    // The same for `sm-pack upload`, and with --json the report says so.
    std::fs::write(env.path("out/model.tar.gz"), b"x").expect("write");
    let run = env.run(&[
        "upload",
        "out/model.tar.gz",
        &dest,
        "--endpoint-url",
        &endpoint,
        "--path-style",
        "--json",
    ]);
    run.fails_with(2);
    let j = run.json();
    assert_eq!(j["exit_code"], 2);
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no AWS credentials found"),
        "{j}"
    );
}

#[test]
fn secrets_never_appear_in_output_or_manifest() {
    let endpoint = need_s3!();
    let (mut env, s3, bucket) = setup("secrets", &endpoint);
    let secret = "SECRETfake9f8e7d6c5b4a3928171615141312";
    let token = "TOKENfakeAQoDYXdzEJr1234567890abcdefXYZ";
    let key_id = "AKIAFAKEKEYID1234567";
    env.set("AWS_SECRET_ACCESS_KEY", secret);
    env.set("AWS_SESSION_TOKEN", token);
    env.set("AWS_ACCESS_KEY_ID", key_id);
    let model = small_model();
    let dest = format!("s3://{bucket}/m/");
    let mut args = pack_args(model.to_str().unwrap_or_default(), &dest, &endpoint);
    args.extend(["--json", "--verbose"]);
    let ok = env.run(&args);
    ok.ok();
    // A failure too: a bucket that does not exist.
    let missing = format!("s3://{bucket}-missing/m/");
    std::fs::remove_dir_all(env.path("out")).expect("rm");
    std::fs::create_dir(env.path("out")).expect("mkdir");
    let bad = env.run(&pack_args(
        model.to_str().unwrap_or_default(),
        &missing,
        &endpoint,
    ));
    bad.fails_with(2);
    assert!(bad.stderr.contains("NoSuchBucket"), "{}", bad.stderr);
    let remote_manifest = s3
        .get(&bucket, "m/model.tar.gz.manifest.json")
        .expect("manifest");
    let texts = [
        ok.stdout.clone(),
        ok.stderr.clone(),
        bad.stdout.clone(),
        bad.stderr.clone(),
        String::from_utf8_lossy(&remote_manifest).into_owned(),
    ];
    for t in &texts {
        for s in [secret, token, key_id] {
            assert!(!t.contains(s), "a credential leaked: {t}");
        }
        assert!(!t.to_ascii_lowercase().contains("x-amz-signature"), "{t}");
    }
}

#[test]
fn endpoint_from_aws_endpoint_url_s3() {
    let endpoint = need_s3!();
    let (mut env, s3, bucket) = setup("envendpoint", &endpoint);
    env.set("AWS_ENDPOINT_URL_S3", &endpoint);
    let model = small_model();
    env.run(&[
        "fasttext",
        model.to_str().unwrap_or_default(),
        "-o",
        "out/model.tar.gz",
        "--upload",
        &format!("s3://{bucket}/"),
        "--path-style",
    ])
    .ok();
    assert!(s3.get(&bucket, "model.tar.gz").is_some());
    assert!(s3.get(&bucket, "SHA256SUMS").is_some());
}

#[test]
fn sse_kms_is_requested() {
    let endpoint = need_s3!();
    let (env, s3, bucket) = setup("ssekms", &endpoint);
    let model = env.path("big.bin");
    fasttext_model(&model, 6 * MIB, 8);
    let dest = format!("s3://{bucket}/m/");
    let mut args = pack_args(model.to_str().unwrap_or_default(), &dest, &endpoint);
    args.extend([
        "--part-size",
        "5MiB",
        "--sse",
        "aws:kms",
        "--sse-kms-key-id",
        "alias/models",
    ]);
    env.run(&args).ok();
    let head = s3.head(&bucket, "m/model.tar.gz").expect("head");
    assert_eq!(
        head.server_side_encryption().map(|s| s.as_str()),
        Some("aws:kms")
    );
    assert_eq!(head.ssekms_key_id(), Some("alias/models"));
    let head = s3.head(&bucket, "m/SHA256SUMS").expect("head");
    assert_eq!(
        head.server_side_encryption().map(|s| s.as_str()),
        Some("aws:kms")
    );
}

#[test]
fn ctrl_c_aborts_the_multipart_upload() {
    let endpoint = need_s3!();
    let (mut env, s3, bucket) = setup("ctrlc", &endpoint);
    let model = env.path("big.bin");
    fasttext_model(&model, 40 * MIB, 9);
    env.set("SM_PACK_TEST_PART_DELAY_MS", "400");
    let dest = format!("s3://{bucket}/m/");
    let mut args = pack_args(model.to_str().unwrap_or_default(), &dest, &endpoint);
    args.extend(["--part-size", "5MiB", "--concurrency", "1"]);
    let child = env
        .command(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    assert!(
        s3.wait_for_parts(&bucket, 1, Duration::from_secs(60)),
        "no part was uploaded"
    );
    let pid = child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let run = Run::from(child.wait_with_output().expect("wait"));
    run.fails_with(130);
    assert!(run.stderr.contains("interrupted"), "{}", run.stderr);
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

/// The value of header `name` in a request head (names compared case-insensitively).
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

#[test]
fn profile_region_and_bucket_owner_reach_every_request() {
    let endpoint = need_s3!();
    let mut env = TestEnv::new();
    std::fs::create_dir(env.path("out")).expect("out dir");
    let s3 = S3::new_in(&endpoint, "eu-west-3");
    let bucket = bucket_name("profile");
    s3.create_bucket_in(&bucket, "eu-west-3");
    // Credentials and region only in the shared files, under profile "ci".
    env.unset("AWS_ACCESS_KEY_ID");
    env.unset("AWS_SECRET_ACCESS_KEY");
    env.unset("AWS_REGION");
    std::fs::write(env.path("aws-config"), "[profile ci]\nregion = eu-west-3\n").expect("config");
    std::fs::write(
        env.path("aws-credentials"),
        "[ci]\naws_access_key_id = AKIAPROFILECI0000001\naws_secret_access_key = profile-secret\n",
    )
    .expect("credentials");
    let proxy = Proxy::start_with(
        port_of(&endpoint),
        ProxyOptions {
            record: true,
            ..Default::default()
        },
    );
    let model = env.path("big.bin");
    fasttext_model(&model, 12 * MIB, 21);
    let dest = format!("s3://{bucket}/m/");
    let mut args = pack_args(model.to_str().unwrap_or_default(), &dest, &proxy.endpoint);
    args.extend([
        "--profile",
        "ci",
        "--expected-bucket-owner",
        "111122223333",
        "--part-size",
        "5MiB",
        "--json",
    ]);
    let run = env.run(&args);
    run.ok();
    assert_eq!(run.json()["upload"]["region"], "eu-west-3");
    let heads = proxy.request_heads();
    assert!(heads.len() >= 8, "{heads:#?}");
    for h in &heads {
        let auth = header(h, "authorization").unwrap_or_default();
        assert!(
            auth.contains("Credential=AKIAPROFILECI0000001/")
                && auth.contains("/eu-west-3/s3/aws4_request"),
            "signed with the profile's key for its region: {h}"
        );
        assert_eq!(
            header(h, "x-amz-expected-bucket-owner"),
            Some("111122223333"),
            "{h}"
        );
    }
    // Each part carried its own SHA-256 (S3 checks it), equal to the digest
    // of that slice of the object as downloaded.
    let got = s3.get(&bucket, "m/model.tar.gz").expect("archive");
    let mut sent: Vec<(u32, String)> = heads
        .iter()
        .filter(|h| h.starts_with("PUT ") && h.contains("partNumber="))
        .map(|h| {
            let n = h
                .split("partNumber=")
                .nth(1)
                .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
            (
                n,
                header(h, "x-amz-checksum-sha256").unwrap_or("").to_string(),
            )
        })
        .collect();
    sent.sort();
    use base64::Engine as _;
    let want: Vec<(u32, String)> = got
        .chunks(5 * MIB)
        .enumerate()
        .map(|(i, c)| {
            (
                i as u32 + 1,
                base64::engine::general_purpose::STANDARD.encode(Sha256::digest(c)),
            )
        })
        .collect();
    assert_eq!(sent, want);

    // AWS_PROFILE picks the profile too; --region wins over the profile's
    // region (and S3 then says where the bucket is).
    env.set("AWS_PROFILE", "ci");
    let before = heads.len();
    let small = small_model();
    let run = env.run(&[
        "fasttext",
        small.to_str().unwrap_or_default(),
        "-o",
        "out/small.tar.gz",
        "--upload",
        &format!("s3://{bucket}/small/"),
        "--endpoint-url",
        &proxy.endpoint,
        "--path-style",
        "--region",
        "ap-south-1",
    ]);
    run.fails_with(2);
    assert!(
        run.stderr
            .contains("the bucket is in region eu-west-3: pass --region eu-west-3"),
        "{}",
        run.stderr
    );
    let heads = proxy.request_heads();
    assert!(heads.len() > before);
    for h in &heads[before..] {
        let auth = header(h, "authorization").unwrap_or_default();
        assert!(
            auth.contains("Credential=AKIAPROFILECI0000001/")
                && auth.contains("/ap-south-1/s3/aws4_request"),
            "{h}"
        );
        assert_eq!(header(h, "x-amz-expected-bucket-owner"), None, "{h}");
    }
    assert!(
        files_in(
            &env.path("out"),
            &["model.tar.gz", "model.tar.gz.manifest.json", "SHA256SUMS"]
        )
        .is_empty()
    );
}

#[test]
fn parts_are_uploaded_concurrently() {
    let endpoint = need_s3!();
    let (env, s3, bucket) = setup("concurrent", &endpoint);
    // The proxy slows every connection down to 1 MiB per 150 ms, so a part
    // takes longer to send than to pack: with free slots the next parts go up
    // while it is on its way, seen by the proxy as connections open at once.
    let mut open = Vec::new();
    for (n, size, concurrency) in [(0, 40 * MIB, "4"), (1, 12 * MIB, "1")] {
        let model = env.path(&format!("big{n}.bin"));
        fasttext_model(&model, size, 22 + n as u64);
        let proxy = Proxy::start_with(
            port_of(&endpoint),
            ProxyOptions {
                upload_time_per_mib: Some(Duration::from_millis(150)),
                ..Default::default()
            },
        );
        let dest = format!("s3://{bucket}/c{n}/");
        let out = format!("out/c{n}.tar.gz");
        let run = env.run(&[
            "fasttext",
            model.to_str().unwrap_or_default(),
            "-o",
            &out,
            "--upload",
            &dest,
            "--endpoint-url",
            &proxy.endpoint,
            "--path-style",
            "--part-size",
            "5MiB",
            "--concurrency",
            concurrency,
        ]);
        run.ok();
        let got = s3
            .get(&bucket, &format!("c{n}/c{n}.tar.gz"))
            .expect("object");
        assert_eq!(got, std::fs::read(env.path(&out)).unwrap_or_default());
        open.push(proxy.max_open.load(Ordering::SeqCst));
    }
    eprintln!("connections open at once: {open:?}");
    assert!(open[0] >= 3, "--concurrency 4: {open:?}");
    assert!(open[1] <= 2, "--concurrency 1: {open:?}");
}

/// A one-route HTTP server answering every request with `body` (JSON); counts requests.
fn json_server(body: String) -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    let n = Arc::new(AtomicUsize::new(0));
    let c = n.clone();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && s.read(&mut b).is_ok_and(|r| r == 1) {
                head.push(b[0]);
            }
            c.fetch_add(1, Ordering::SeqCst);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, n)
}

#[test]
fn credentials_from_credential_process_and_container_endpoint() {
    let endpoint = need_s3!();
    let (mut env, s3, bucket) = setup("credchain", &endpoint);
    env.unset("AWS_ACCESS_KEY_ID");
    env.unset("AWS_SECRET_ACCESS_KEY");
    let proxy = Proxy::start_with(
        port_of(&endpoint),
        ProxyOptions {
            record: true,
            ..Default::default()
        },
    );
    let model = small_model();
    let model = model.to_str().unwrap_or_default();
    let signed_by = |heads: &[String], key: &str| {
        assert!(!heads.is_empty());
        for h in heads {
            let auth = header(h, "authorization").unwrap_or_default();
            assert!(auth.contains(&format!("Credential={key}/")), "{h}");
        }
    };

    // A profile with credential_process (which notes each run in a file).
    let runs = env.path("process-runs");
    std::fs::write(
        env.path("aws-config"),
        format!(
            "[profile proc]\ncredential_process = /bin/sh -c 'echo run >> {}; echo \
             \"{{\\\"Version\\\": 1, \\\"AccessKeyId\\\": \\\"AKIAPROCESS000000001\\\", \
             \\\"SecretAccessKey\\\": \\\"process-secret\\\"}}\"'\n",
            runs.display()
        ),
    )
    .expect("config");
    let run = env.run(&[
        "fasttext",
        model,
        "-o",
        "out/a.tar.gz",
        "--upload",
        &format!("s3://{bucket}/a/"),
        "--endpoint-url",
        &proxy.endpoint,
        "--path-style",
        "--profile",
        "proc",
    ]);
    run.ok();
    signed_by(&proxy.request_heads(), "AKIAPROCESS000000001");
    assert!(s3.get(&bucket, "a/a.tar.gz").is_some());
    // Run once: the credentials checked before packing are the ones that sign.
    assert_eq!(
        std::fs::read_to_string(&runs).unwrap_or_default(),
        "run\n",
        "credential_process runs once per upload"
    );
    let before = proxy.request_heads().len();

    // Container credentials (ECS, EKS Pod Identity): AWS_CONTAINER_CREDENTIALS_FULL_URI.
    std::fs::write(env.path("aws-config"), "").expect("config");
    let token = "ContainerSessionTokenFake0123456789";
    let (url, hits) = json_server(format!(
        "{{\"AccessKeyId\":\"AKIACONTAINER0000001\",\"SecretAccessKey\":\"container-secret\",\
         \"Token\":\"{token}\",\"Expiration\":\"2099-01-01T00:00:00Z\"}}"
    ));
    env.set(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        &format!("{url}/creds"),
    );
    let run = env.run(&[
        "fasttext",
        model,
        "-o",
        "out/b.tar.gz",
        "--upload",
        &format!("s3://{bucket}/b/"),
        "--endpoint-url",
        &proxy.endpoint,
        "--path-style",
        "--json",
    ]);
    run.ok();
    assert!(
        hits.load(Ordering::SeqCst) >= 1,
        "credentials endpoint asked"
    );
    let heads = proxy.request_heads();
    signed_by(&heads[before..], "AKIACONTAINER0000001");
    for h in &heads[before..] {
        assert_eq!(header(h, "x-amz-security-token"), Some(token), "{h}");
    }
    assert!(!run.stdout.contains(token) && !run.stderr.contains(token));
    assert!(s3.get(&bucket, "b/b.tar.gz").is_some());
}

/// Method, path and query string of a request head's first line.
fn request_target(head: &str) -> (&str, &str, &str) {
    let line = head.lines().next().unwrap_or_default();
    let mut words = line.split(' ');
    let method = words.next().unwrap_or_default();
    let target = words.next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    (method, path, query)
}

fn has_param(query: &str, name: &str) -> bool {
    query.split('&').any(|p| p.split('=').next() == Some(name))
}

/// Removes the local outputs so that a pack command can run again without --force.
fn fresh_out(env: &TestEnv) {
    std::fs::remove_dir_all(env.path("out")).expect("rm");
    std::fs::create_dir(env.path("out")).expect("mkdir");
}

#[test]
fn a_streamed_archive_is_recognised_by_its_tag_alone() {
    let endpoint = need_s3!();
    let (env, s3, bucket) = setup("tagonly", &endpoint);
    let model = env.path("big.bin");
    fasttext_model(&model, 12 * MIB, 41);
    let model = model.to_str().unwrap_or_default().to_string();
    let dest = format!("s3://{bucket}/m/");
    let key = "m/model.tar.gz";
    let manifest_key = "m/model.tar.gz.manifest.json";
    let args_via = |endpoint: &str, json: bool| {
        let mut a: Vec<String> = pack_args(&model, &dest, endpoint)
            .into_iter()
            .map(String::from)
            .collect();
        a.extend(["--part-size".into(), "5MiB".into()]);
        if json {
            a.push("--json".into());
        }
        a
    };
    let run_via = |endpoint: &str, json: bool| {
        let a = args_via(endpoint, json);
        env.run(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let first = run_via(&endpoint, true);
    first.ok();
    let digest = first.json()["outcome"]["manifest"]["archive"]["sha256"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        s3.tags(&bucket, key),
        Some(vec![("sha256".to_string(), digest.clone())])
    );
    let etag = s3
        .head(&bucket, key)
        .and_then(|h| h.e_tag().map(str::to_string))
        .expect("etag");

    // Only the tag can prove the object's digest now: no metadata, and the
    // manifest beside it (which names it) is gone.
    s3.delete(&bucket, manifest_key);
    fresh_out(&env);
    let proxy = Proxy::start_with(
        port_of(&endpoint),
        ProxyOptions {
            record: true,
            ..Default::default()
        },
    );
    let second = run_via(&proxy.endpoint, true);
    second.ok();
    let r = second.json();
    assert_eq!(r["upload"]["archive"]["status"], "already-uploaded");
    assert_eq!(r["upload"]["archive"]["method"]["kind"], "none");
    assert_eq!(r["upload"]["archive"]["digest_on_object"], "tag");
    assert_eq!(r["upload"]["archive"]["sha256"], digest.as_str());
    // Nothing of the archive was sent: the requests for its key were the
    // HEAD and the tag read, and no multipart upload was started.
    let heads = proxy.request_heads();
    let archive_path = format!("/{bucket}/{key}");
    let on_archive: Vec<(&str, &str)> = heads
        .iter()
        .map(|h| request_target(h))
        .filter(|(_, path, _)| *path == archive_path)
        .map(|(m, _, q)| (m, q))
        .collect();
    assert!(
        on_archive
            .iter()
            .all(|(m, q)| *m == "HEAD" || (*m == "GET" && has_param(q, "tagging"))),
        "{heads:#?}"
    );
    assert!(
        on_archive
            .iter()
            .any(|(m, q)| *m == "GET" && has_param(q, "tagging")),
        "{heads:#?}"
    );
    assert!(
        !heads.iter().any(|h| {
            let (_, _, q) = request_target(h);
            has_param(q, "uploads") || has_param(q, "partNumber")
        }),
        "{heads:#?}"
    );
    assert_eq!(
        s3.head(&bucket, key)
            .and_then(|h| h.e_tag().map(str::to_string)),
        Some(etag.clone()),
        "the object is the first run's"
    );
    // The local manifest records the existing object and where its digest lives;
    // the manifest beside it is back.
    let manifest = read_json(&env.path("out/model.tar.gz.manifest.json"));
    assert_eq!(manifest["uploads"][0]["digest_on_object"], "tag");
    assert_eq!(manifest["uploads"][0]["etag"], etag.as_str());
    assert!(s3.get(&bucket, manifest_key).is_some());

    // Without s3:GetObjectTagging (and without the manifest) the digest is
    // unknown: refused, and nothing is sent.
    s3.delete(&bucket, manifest_key);
    fresh_out(&env);
    let proxy = Proxy::start_with(
        port_of(&endpoint),
        ProxyOptions {
            record: true,
            refuse: vec![Refusal {
                method: "GET",
                query_param: "tagging",
                status: 403,
                code: "AccessDenied",
            }],
            ..Default::default()
        },
    );
    let third = run_via(&proxy.endpoint, false);
    third.fails_with(2);
    assert!(
        third.stderr.contains("no readable sha256 tag"),
        "{}",
        third.stderr
    );
    assert!(third.stderr.contains("--force"), "{}", third.stderr);
    let heads = proxy.request_heads();
    assert!(
        heads.iter().any(|h| {
            let (m, p, q) = request_target(h);
            m == "GET" && p == archive_path && has_param(q, "tagging")
        }),
        "the tag was asked for: {heads:#?}"
    );
    assert!(
        !heads
            .iter()
            .any(|h| h.starts_with("PUT ") || h.starts_with("POST ")),
        "{heads:#?}"
    );
    assert_eq!(
        s3.head(&bucket, key)
            .and_then(|h| h.e_tag().map(str::to_string)),
        Some(etag)
    );
    assert!(
        files_in(&env.path("out"), &[]).is_empty(),
        "no local output"
    );
}

#[test]
fn a_refused_tag_is_a_warning_and_the_upload_stands() {
    let endpoint = need_s3!();
    let (env, s3, bucket) = setup("tagrefused", &endpoint);
    let model = env.path("big.bin");
    fasttext_model(&model, 12 * MIB, 42);
    let model = model.to_str().unwrap_or_default();
    // A bucket policy without s3:PutObjectTagging, and a store without tagging.
    for (n, status, code) in [(0, 403, "AccessDenied"), (1, 501, "NotImplemented")] {
        let proxy = Proxy::start_with(
            port_of(&endpoint),
            ProxyOptions {
                refuse: vec![Refusal {
                    method: "PUT",
                    query_param: "tagging",
                    status,
                    code,
                }],
                ..Default::default()
            },
        );
        let dest = format!("s3://{bucket}/t{n}/");
        let out = format!("out/t{n}.tar.gz");
        let mut args = vec![
            "fasttext",
            model,
            "-o",
            &out,
            "--upload",
            &dest,
            "--endpoint-url",
            &proxy.endpoint,
            "--path-style",
            "--part-size",
            "5MiB",
        ];
        if n == 0 {
            args.push("--json");
        }
        let run = env.run(&args);
        run.ok();
        // Uploaded and verified, without a tag; the manifest says so.
        let manifest = read_json(&env.path(&format!("{out}.manifest.json")));
        let digest = manifest["archive"]["sha256"].as_str().unwrap_or_default();
        let key = format!("t{n}/t{n}.tar.gz");
        let got = s3.get(&bucket, &key).expect("archive uploaded");
        assert_eq!(sha256_hex(&got), digest);
        assert_eq!(s3.tags(&bucket, &key), Some(vec![]));
        assert_eq!(manifest["uploads"][0]["digest_on_object"], "none");
        assert!(s3.multipart_uploads(&bucket).is_empty());
        if n == 0 {
            let r = run.json();
            assert_eq!(r["ok"], true);
            assert_eq!(r["upload"]["archive"]["status"], "uploaded");
            assert_eq!(r["upload"]["archive"]["digest_on_object"], "none");
            let findings = r["upload"]["findings"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert_eq!(findings.len(), 1, "{findings:#?}");
            let f = &findings[0];
            assert_eq!(f["code"], "s3.digest_tag_skipped");
            assert_eq!(f["severity"], "warning");
            let message = f["message"].as_str().unwrap_or_default();
            assert!(message.contains("AccessDenied"), "{message}");
            assert!(message.contains(digest), "{message}");
            let hint = f["hint"].as_str().unwrap_or_default();
            assert!(hint.contains("s3:PutObjectTagging"), "{hint}");
            // The report still conforms to sm-pack.report/v1.
            let errors = report_support::schema_errors(&report_support::validator(), &r);
            assert!(errors.is_empty(), "{errors:#?}");
        } else {
            assert!(
                run.stdout.contains("[s3.digest_tag_skipped]"),
                "{}",
                run.stdout
            );
            assert!(run.stdout.contains("NotImplemented"), "{}", run.stdout);
            assert!(run.stdout.contains("s3:PutObjectTagging"), "{}", run.stdout);
            assert!(
                run.stdout
                    .contains("sha256 on the object: none (the manifest beside it records it)"),
                "{}",
                run.stdout
            );
        }
    }

    // The tag is set but may not be read back (no s3:GetObjectTagging): a
    // warning too, and the manifest says the digest is in the tag.
    let proxy = Proxy::start_with(
        port_of(&endpoint),
        ProxyOptions {
            refuse: vec![Refusal {
                method: "GET",
                query_param: "tagging",
                status: 403,
                code: "AccessDenied",
            }],
            ..Default::default()
        },
    );
    let dest = format!("s3://{bucket}/t2/");
    let run = env.run(&[
        "fasttext",
        model,
        "-o",
        "out/t2.tar.gz",
        "--upload",
        &dest,
        "--endpoint-url",
        &proxy.endpoint,
        "--path-style",
        "--part-size",
        "5MiB",
        "--json",
    ]);
    run.ok();
    let r = run.json();
    let digest = r["outcome"]["manifest"]["archive"]["sha256"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(r["upload"]["archive"]["digest_on_object"], "tag");
    assert_eq!(
        r["outcome"]["manifest"]["uploads"][0]["digest_on_object"],
        "tag"
    );
    let f = &r["upload"]["findings"][0];
    assert_eq!(f["code"], "s3.digest_tag_unverified", "{r}");
    assert!(
        f["hint"]
            .as_str()
            .unwrap_or_default()
            .contains("s3:GetObjectTagging"),
        "{f}"
    );
    assert_eq!(
        s3.tags(&bucket, "t2/t2.tar.gz"),
        Some(vec![("sha256".to_string(), digest.to_string())])
    );
}

#[test]
fn a_tag_that_reads_back_different_fails_and_the_object_is_removed() {
    let endpoint = need_s3!();
    let (env, s3, bucket) = setup("tagforged", &endpoint);
    let model = env.path("big.bin");
    fasttext_model(&model, 12 * MIB, 43);
    let model = model.to_str().unwrap_or_default();
    // The archive is deterministic: pack it once to learn its digest.
    env.run(&["fasttext", model, "-o", "out/model.tar.gz"]).ok();
    let digest = read_json(&env.path("out/model.tar.gz.manifest.json"))["archive"]["sha256"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    fresh_out(&env);
    // Only GetObjectTagging's answer holds the digest (a streamed archive
    // has no metadata): the tag reads back as another value.
    let forged = "0".repeat(64);
    let proxy = Proxy::start_with(
        port_of(&endpoint),
        ProxyOptions {
            replace: Some((digest.clone().into_bytes(), forged.clone().into_bytes())),
            ..Default::default()
        },
    );
    let dest = format!("s3://{bucket}/m/");
    let mut args = pack_args(model, &dest, &proxy.endpoint);
    args.extend(["--part-size", "5MiB"]);
    let run = env.run(&args);
    run.fails_with(2);
    assert!(
        run.stderr.contains(&format!(
            "the sha256 tag reads back as {forged}, expected {digest}"
        )),
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
    assert!(s3.multipart_uploads(&bucket).is_empty());
    assert!(
        files_in(&env.path("out"), &[]).is_empty(),
        "no local output"
    );
}

/// Every request head is signed with `key_id` for `region` and carries
/// `session_token` as `x-amz-security-token`.
#[track_caller]
fn all_signed_by(heads: &[String], key_id: &str, region: &str, session_token: &str) {
    assert!(!heads.is_empty(), "no request reached the S3 server");
    for h in heads {
        let auth = header(h, "authorization").unwrap_or_default();
        assert!(
            auth.contains(&format!("Credential={key_id}/"))
                && auth.contains(&format!("/{region}/s3/aws4_request")),
            "signed with {key_id} for {region}: {h}"
        );
        assert_eq!(
            header(h, "x-amz-security-token"),
            Some(session_token),
            "{h}"
        );
    }
}

/// None of `secrets` appears in the run's output or in the uploaded manifest.
#[track_caller]
fn nothing_leaked(run: &Run, s3: &S3, bucket: &str, manifest_key: &str, secrets: &[&str]) {
    let manifest = s3.get(bucket, manifest_key).expect("uploaded manifest");
    let texts = [
        run.stdout.as_str(),
        run.stderr.as_str(),
        &String::from_utf8_lossy(&manifest),
    ];
    for t in texts {
        for s in secrets {
            assert!(!t.contains(s), "a credential leaked ({s}): {t}");
        }
    }
}

/// A pack-and-upload of the small model to `s3://{bucket}/{prefix}/` through
/// `endpoint`, with `--json --verbose` and `extra` arguments.
fn upload_small(env: &TestEnv, bucket: &str, prefix: &str, endpoint: &str, extra: &[&str]) -> Run {
    let model = small_model();
    let out = format!("out/{prefix}.tar.gz");
    let dest = format!("s3://{bucket}/{prefix}/");
    let mut args = vec![
        "fasttext",
        model.to_str().unwrap_or_default(),
        "-o",
        &out,
        "--upload",
        &dest,
        "--endpoint-url",
        endpoint,
        "--path-style",
        "--json",
        "--verbose",
    ];
    args.extend(extra);
    env.run(&args)
}

/// A run refused for want of credentials: exit 2 with the credentials error,
/// and not one request reached S3 (the proxy had seen `before`). Returns the
/// error message.
fn refused_for_credentials(run: &Run, proxy: &Proxy, before: usize) -> String {
    run.fails_with(2);
    let j = run.json();
    let message = j["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("no AWS credentials found"), "{j}");
    assert_eq!(proxy.request_heads().len(), before, "S3 was contacted");
    message
}

fn recording_proxy(endpoint: &str) -> Proxy {
    Proxy::start_with(
        port_of(endpoint),
        ProxyOptions {
            record: true,
            ..Default::default()
        },
    )
}

#[test]
fn credentials_and_region_from_ec2_instance_metadata_imdsv2() {
    const IMDS_TOKEN: &str = "IMDSv2SessionTokenFake0123456789abcdef";
    const ROLE: &str = "sm-pack-instance-role";
    const KEY_ID: &str = "ASIAIMDSFAKE00000001";
    const SECRET: &str = "imdsSecretFake0123456789abcdefghijklmno";
    const SESSION: &str = "IMDSRoleSessionTokenFake0123456789abcdef";
    const REGION: &str = "eu-north-1";
    let endpoint = need_s3!();
    let mut env = TestEnv::new();
    std::fs::create_dir(env.path("out")).expect("out dir");
    let s3 = S3::new_in(&endpoint, REGION);
    let bucket = bucket_name("imds");
    s3.create_bucket_in(&bucket, REGION);
    // Nothing but the instance metadata service: no keys, no region, empty
    // config files, IMDS switched on.
    for var in [
        "AWS_EC2_METADATA_DISABLED",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
    ] {
        env.unset(var);
    }
    // An instance that requires IMDSv2: every read without the session token is 401.
    let imds = FakeHttp::start(|r| {
        let ttl = r.header("x-aws-ec2-metadata-token-ttl-seconds");
        if r.method == "PUT" && r.path == "/latest/api/token" {
            return match ttl {
                Some(t) => Reply::new(200, "text/plain", IMDS_TOKEN)
                    .header("x-aws-ec2-metadata-token-ttl-seconds", t),
                None => Reply::new(400, "text/plain", ""),
            };
        }
        if r.method != "GET" || r.header("x-aws-ec2-metadata-token") != Some(IMDS_TOKEN) {
            return Reply::new(401, "text/plain", "");
        }
        match r.path.as_str() {
            "/latest/meta-data/iam/security-credentials/" => Reply::new(200, "text/plain", ROLE),
            p if p == format!("/latest/meta-data/iam/security-credentials/{ROLE}") => Reply::new(
                200,
                "text/plain",
                format!(
                    "{{\"Code\":\"Success\",\"LastUpdated\":\"2025-01-01T00:00:00Z\",\
                     \"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"{KEY_ID}\",\
                     \"SecretAccessKey\":\"{SECRET}\",\"Token\":\"{SESSION}\",\
                     \"Expiration\":\"2099-01-01T00:00:00Z\"}}"
                ),
            ),
            "/latest/meta-data/placement/region" => Reply::new(200, "text/plain", REGION),
            _ => Reply::new(404, "text/plain", ""),
        }
    });
    env.set("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.url);
    let proxy = recording_proxy(&endpoint);
    let run = upload_small(&env, &bucket, "imds", &proxy.endpoint, &[]);
    run.ok();
    assert_eq!(run.json()["upload"]["region"], REGION, "region from IMDS");
    all_signed_by(&proxy.request_heads(), KEY_ID, REGION, SESSION);
    assert!(s3.get(&bucket, "imds/imds.tar.gz").is_some());

    // IMDSv2: a session token was asked for with a TTL, and every metadata
    // read carried it (the fake answers 401 otherwise).
    let got = imds.received();
    assert!(
        got.iter().any(|r| r.method == "PUT"
            && r.path == "/latest/api/token"
            && r.header("x-aws-ec2-metadata-token-ttl-seconds").is_some()),
        "{got:#?}"
    );
    let reads: Vec<_> = got.iter().filter(|r| r.method == "GET").collect();
    for path in [
        "/latest/meta-data/iam/security-credentials/".to_string(),
        format!("/latest/meta-data/iam/security-credentials/{ROLE}"),
        "/latest/meta-data/placement/region".to_string(),
    ] {
        assert!(reads.iter().any(|r| r.path == path), "{path}: {got:#?}");
    }
    for r in &reads {
        assert_eq!(
            r.header("x-aws-ec2-metadata-token"),
            Some(IMDS_TOKEN),
            "{r:#?}"
        );
    }
    let role_reads = reads
        .iter()
        .filter(|r| r.path.ends_with(&format!("/{ROLE}")))
        .count();
    assert_eq!(role_reads, 1, "credentials read once: {got:#?}");
    nothing_leaked(
        &run,
        &s3,
        &bucket,
        "imds/imds.tar.gz.manifest.json",
        &[KEY_ID, SECRET, SESSION, IMDS_TOKEN],
    );
}

/// An STS answering `action` (`AssumeRole`, `AssumeRoleWithWebIdentity`)
/// for `role_arn` with the given credentials (an `AccessDenied` error for
/// anything else).
fn fake_sts(
    action: &'static str,
    role_arn: &'static str,
    key_id: &'static str,
    secret: &'static str,
    session: &'static str,
) -> FakeHttp {
    FakeHttp::start(move |r| {
        let ok = r.method == "POST"
            && r.form_param("Action").as_deref() == Some(action)
            && r.form_param("RoleArn").as_deref() == Some(role_arn);
        if !ok {
            return Reply::new(
                403,
                "text/xml",
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>\
                 <Type>Sender</Type><Code>AccessDenied</Code><Message>not this role</Message>\
                 </Error><RequestId>fake-0</RequestId></ErrorResponse>",
            );
        }
        let session_name = r.form_param("RoleSessionName").unwrap_or_default();
        Reply::new(
            200,
            "text/xml",
            format!(
                "<{action}Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
                 <{action}Result>\
                 <AssumedRoleUser><Arn>{role_arn}/{session_name}</Arn>\
                 <AssumedRoleId>AROAFAKE0000000000001:{session_name}</AssumedRoleId></AssumedRoleUser>\
                 <Credentials><AccessKeyId>{key_id}</AccessKeyId>\
                 <SecretAccessKey>{secret}</SecretAccessKey><SessionToken>{session}</SessionToken>\
                 <Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>\
                 </{action}Result>\
                 <ResponseMetadata><RequestId>fake-1</RequestId></ResponseMetadata>\
                 </{action}Response>"
            ),
        )
    })
}

#[test]
fn credentials_from_web_identity_token_through_sts() {
    const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/sm-pack-uploader";
    const KEY_ID: &str = "ASIAWEBIDFAKE0000001";
    const SECRET: &str = "webIdentitySecretFake0123456789abcdefghi";
    const SESSION: &str = "WebIdentitySessionTokenFake0123456789ab";
    // A service-account token as EKS (IRSA) or a CI's OIDC issuer writes it.
    const JWT: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZha2UifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6bWw6dXBsb2FkZXIifQ.ZmFrZS1zaWduYXR1cmUtMDEyMzQ1Njc4OQ";
    let endpoint = need_s3!();
    let (mut env, s3, bucket) = setup("webid", &endpoint);
    env.unset("AWS_ACCESS_KEY_ID");
    env.unset("AWS_SECRET_ACCESS_KEY");
    let token_file = env.path("web-identity-token");
    std::fs::write(&token_file, JWT).expect("token file");
    let sts = fake_sts(
        "AssumeRoleWithWebIdentity",
        ROLE_ARN,
        KEY_ID,
        SECRET,
        SESSION,
    );
    let proxy = recording_proxy(&endpoint);

    // From the environment, as EKS and CI runners set it.
    env.set(
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        &token_file.display().to_string(),
    );
    env.set("AWS_ROLE_ARN", ROLE_ARN);
    env.set("AWS_ROLE_SESSION_NAME", "sm-pack-ci");
    env.set("AWS_ENDPOINT_URL_STS", &sts.url);
    let run = upload_small(&env, &bucket, "env", &proxy.endpoint, &[]);
    run.ok();
    let calls = sts.received();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    let call = &calls[0];
    assert_eq!(call.form_param("WebIdentityToken").as_deref(), Some(JWT));
    assert_eq!(call.form_param("RoleArn").as_deref(), Some(ROLE_ARN));
    assert_eq!(
        call.form_param("RoleSessionName").as_deref(),
        Some("sm-pack-ci")
    );
    let heads = proxy.request_heads();
    all_signed_by(&heads, KEY_ID, "us-east-1", SESSION);
    assert!(s3.get(&bucket, "env/env.tar.gz").is_some());
    nothing_leaked(
        &run,
        &s3,
        &bucket,
        "env/env.tar.gz.manifest.json",
        &[KEY_ID, SECRET, SESSION, JWT],
    );

    // From a profile (`role_arn` + `web_identity_token_file`), with STS's
    // endpoint in the profile's `services` section.
    for var in [
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_ROLE_SESSION_NAME",
        "AWS_ENDPOINT_URL_STS",
    ] {
        env.unset(var);
    }
    std::fs::write(
        env.path("aws-config"),
        format!(
            "[profile irsa]\nrole_arn = {ROLE_ARN}\nweb_identity_token_file = {}\n\
             role_session_name = from-profile\nservices = fake-sts\n\n\
             [services fake-sts]\nsts =\n  endpoint_url = {}\n",
            token_file.display(),
            sts.url
        ),
    )
    .expect("config");
    let before = heads.len();
    let run = upload_small(
        &env,
        &bucket,
        "prof",
        &proxy.endpoint,
        &["--profile", "irsa"],
    );
    run.ok();
    let calls = sts.received();
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert_eq!(
        calls[1].form_param("WebIdentityToken").as_deref(),
        Some(JWT)
    );
    assert_eq!(
        calls[1].form_param("RoleSessionName").as_deref(),
        Some("from-profile")
    );
    all_signed_by(
        &proxy.request_heads()[before..],
        KEY_ID,
        "us-east-1",
        SESSION,
    );
    nothing_leaked(
        &run,
        &s3,
        &bucket,
        "prof/prof.tar.gz.manifest.json",
        &[KEY_ID, SECRET, SESSION, JWT],
    );

    // STS refusing the role: exit 2, the credentials error, no token shown,
    // nothing uploaded.
    std::fs::write(
        env.path("aws-config"),
        format!(
            "[profile other]\nrole_arn = arn:aws:iam::123456789012:role/not-trusted\n\
             web_identity_token_file = {}\nservices = fake-sts\n\n\
             [services fake-sts]\nsts =\n  endpoint_url = {}\n",
            token_file.display(),
            sts.url
        ),
    )
    .expect("config");
    let before = proxy.request_heads().len();
    let run = upload_small(
        &env,
        &bucket,
        "denied",
        &proxy.endpoint,
        &["--profile", "other"],
    );
    let message = refused_for_credentials(&run, &proxy, before);
    // STS's refusal reads as code and message, not as the SDK's debug text.
    assert!(message.contains("AccessDenied: not this role"), "{message}");
    assert!(!message.contains("Error {"), "{message}");
    assert!(!run.stdout.contains(JWT) && !run.stderr.contains(JWT));
    assert!(s3.get(&bucket, "denied/denied.tar.gz").is_none());
}

#[test]
fn credentials_from_sso_session_cached_token_and_portal() {
    const ACCESS_TOKEN: &str = "SsoAccessTokenFakeAoAAAAAGZ0123456789abcdefghij";
    const ACCOUNT: &str = "123456789012";
    const ROLE: &str = "ModelUploader";
    const KEY_ID: &str = "ASIASSOFAKE000000001";
    const SECRET: &str = "ssoRoleSecretFake0123456789abcdefghijklm";
    const SESSION: &str = "SsoRoleSessionTokenFake0123456789abcdefg";
    let endpoint = need_s3!();
    let (mut env, s3, bucket) = setup("sso", &endpoint);
    env.unset("AWS_ACCESS_KEY_ID");
    env.unset("AWS_SECRET_ACCESS_KEY");
    // The portal's GetRoleCredentials, which wants the cached access token as
    // its bearer token.
    let portal = FakeHttp::start(|r| {
        let ok = r.method == "GET"
            && r.path == "/federation/credentials"
            && r.header("x-amz-sso_bearer_token") == Some(ACCESS_TOKEN)
            && r.query_param("account_id").as_deref() == Some(ACCOUNT)
            && r.query_param("role_name").as_deref() == Some(ROLE);
        if !ok {
            return Reply::new(
                401,
                "application/json",
                "{\"message\":\"Session token not found or invalid\"}",
            )
            .header("x-amzn-errortype", "UnauthorizedException");
        }
        Reply::new(
            200,
            "application/json",
            format!(
                "{{\"roleCredentials\":{{\"accessKeyId\":\"{KEY_ID}\",\
                 \"secretAccessKey\":\"{SECRET}\",\"sessionToken\":\"{SESSION}\",\
                 \"expiration\":4070908800000}}}}"
            ),
        )
    });
    // A profile using an sso-session, as `aws configure sso` writes it (the
    // start URL is never contacted while the cached token is valid).
    std::fs::write(
        env.path("aws-config"),
        format!(
            "[profile dev]\nsso_session = corp\nsso_account_id = {ACCOUNT}\n\
             sso_role_name = {ROLE}\nregion = us-east-1\n\n\
             [sso-session corp]\nsso_region = us-east-1\n\
             sso_start_url = https://corp.example.invalid/start\n\
             sso_registration_scopes = sso:account:access\n"
        ),
    )
    .expect("config");
    // The token `aws sso login` leaves in $HOME/.aws/sso/cache/<sha1 of the session name>.json.
    let cache = env.path(".aws/sso/cache");
    std::fs::create_dir_all(&cache).expect("cache dir");
    let write_token = |expires_at: &str| {
        std::fs::write(
            cache.join(format!("{}.json", sha1_hex("corp"))),
            format!(
                "{{\"startUrl\":\"https://corp.example.invalid/start\",\"region\":\"us-east-1\",\
                 \"accessToken\":\"{ACCESS_TOKEN}\",\"expiresAt\":\"{expires_at}\"}}"
            ),
        )
        .expect("token cache");
    };
    write_token("2099-01-01T00:00:00Z");
    env.set("AWS_ENDPOINT_URL_SSO", &portal.url);
    let proxy = recording_proxy(&endpoint);
    let run = upload_small(&env, &bucket, "sso", &proxy.endpoint, &["--profile", "dev"]);
    run.ok();
    let calls = portal.received();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(
        calls[0].header("x-amz-sso_bearer_token"),
        Some(ACCESS_TOKEN)
    );
    all_signed_by(&proxy.request_heads(), KEY_ID, "us-east-1", SESSION);
    assert!(s3.get(&bucket, "sso/sso.tar.gz").is_some());
    nothing_leaked(
        &run,
        &s3,
        &bucket,
        "sso/sso.tar.gz.manifest.json",
        &[KEY_ID, SECRET, SESSION, ACCESS_TOKEN],
    );

    // An expired login (no refresh token): exit 2 with the credentials
    // error, before the portal or S3 is contacted.
    write_token("2020-01-01T00:00:00Z");
    let before = proxy.request_heads().len();
    let run = upload_small(
        &env,
        &bucket,
        "expired",
        &proxy.endpoint,
        &["--profile", "dev"],
    );
    let message = refused_for_credentials(&run, &proxy, before);
    assert!(message.contains("the SSO token has expired"), "{message}");
    assert_eq!(portal.received().len(), 1, "the portal was asked again");
    assert!(!run.stdout.contains(ACCESS_TOKEN) && !run.stderr.contains(ACCESS_TOKEN));
}

#[test]
fn credentials_from_assume_role_with_a_source_profile() {
    const ROLE_ARN: &str = "arn:aws:iam::210987654321:role/cross-account-uploader";
    const SOURCE_KEY: &str = "AKIASOURCEFAKE000001";
    const KEY_ID: &str = "ASIAASSUMEDFAKE00001";
    const SECRET: &str = "assumedRoleSecretFake0123456789abcdefgh";
    const SESSION: &str = "AssumedRoleSessionTokenFake0123456789ab";
    let endpoint = need_s3!();
    let (mut env, s3, bucket) = setup("assumerole", &endpoint);
    env.unset("AWS_ACCESS_KEY_ID");
    env.unset("AWS_SECRET_ACCESS_KEY");
    let sts = fake_sts("AssumeRole", ROLE_ARN, KEY_ID, SECRET, SESSION);
    // A role in another account, assumed with the keys of a source profile.
    std::fs::write(
        env.path("aws-config"),
        format!(
            "[profile deploy]\nrole_arn = {ROLE_ARN}\nsource_profile = base\n\
             role_session_name = sm-pack-deploy\nexternal_id = ext-42\n\n\
             [profile base]\nregion = us-east-1\n"
        ),
    )
    .expect("config");
    std::fs::write(
        env.path("aws-credentials"),
        format!("[base]\naws_access_key_id = {SOURCE_KEY}\naws_secret_access_key = source-secret-0123456789\n"),
    )
    .expect("credentials");
    env.set("AWS_ENDPOINT_URL_STS", &sts.url);
    let proxy = recording_proxy(&endpoint);
    let run = upload_small(
        &env,
        &bucket,
        "ar",
        &proxy.endpoint,
        &["--profile", "deploy"],
    );
    run.ok();
    let calls = sts.received();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    // STS was asked with the source profile's keys (SigV4 for sts), for the role.
    assert!(
        calls[0]
            .header("authorization")
            .is_some_and(|a| a.contains(&format!("Credential={SOURCE_KEY}/"))
                && a.contains("/sts/aws4_request")),
        "{calls:#?}"
    );
    assert_eq!(
        calls[0].form_param("RoleSessionName").as_deref(),
        Some("sm-pack-deploy")
    );
    assert_eq!(calls[0].form_param("ExternalId").as_deref(), Some("ext-42"));
    all_signed_by(&proxy.request_heads(), KEY_ID, "us-east-1", SESSION);
    nothing_leaked(
        &run,
        &s3,
        &bucket,
        "ar/ar.tar.gz.manifest.json",
        &[
            KEY_ID,
            SECRET,
            SESSION,
            SOURCE_KEY,
            "source-secret-0123456789",
        ],
    );
}
