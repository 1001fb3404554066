//! Secrets never leave the process: with recognisable fake AWS credentials
//! and a fake presigned URL in the environment (and, for the S3 options, on
//! the command line), every command's stdout, stderr, `--json` report and
//! every file it writes (archive, manifest, SHA256SUMS) is searched for
//! them, on success and on failure paths.
//!
//! `tests/s3_upload.rs` checks a real upload with `--json --verbose` and a
//! NoSuchBucket failure against the local S3 server; this file covers every
//! other command, the S3 options' error paths (feature `s3`), and the
//! `upload` command when `SM_PACK_TEST_S3_ENDPOINT` is set.

mod common;

use common::*;
use std::path::Path;
use std::process::Output;

const SECRET: &str = "FAKESECRETwJalrXUtnFEMIK7MDENGbPxRfiCYzz9";
const TOKEN: &str = "FAKETOKENIQoJb3JpZ2luX2VjEPTwEaCXVzLWVhc3QtMSJHMEUCIQD";
const KEY_ID: &str = "AKIAFAKEKEYID0000001";
const CONTAINER_TOKEN: &str = "FAKECONTAINERTOKEN8c1d2e3f4a5b6c7d";
const SIGNATURE: &str = "FAKESIGdeadbeef0123456789abcdef0123456789abcdef0123456789abcd";
const PROXY_PASS: &str = "FAKEPROXYPASS4242";

fn presigned() -> String {
    format!(
        "https://bucket.s3.amazonaws.com/models/model.tar.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256\
         &X-Amz-Credential={KEY_ID}%2F20240101%2Fus-east-1%2Fs3%2Faws4_request\
         &X-Amz-Security-Token={TOKEN}&X-Amz-Signature={SIGNATURE}"
    )
}

/// Every value that must never be shown, with the encodings it could
/// appear in.
fn needles() -> Vec<String> {
    let mut v = Vec::new();
    for s in [
        SECRET,
        TOKEN,
        KEY_ID,
        CONTAINER_TOKEN,
        SIGNATURE,
        PROXY_PASS,
    ] {
        v.push(s.to_string());
        v.push(s.to_ascii_lowercase());
        // A prefix long enough to be unmistakable, in case of truncation.
        v.push(s[..s.len().min(16)].to_string());
    }
    v
}

fn assert_no_secret(what: &str, text: &str) {
    for n in needles() {
        assert!(!text.contains(&n), "{what}: a secret leaked ({n}):\n{text}");
    }
    let lower = text.to_ascii_lowercase();
    assert!(
        !lower.contains("x-amz-signature=fake"),
        "{what}: a signature leaked:\n{text}"
    );
}

/// sm-pack in `dir` with the fake secrets in its environment.
fn run(dir: &Path, args: &[&str]) -> Output {
    bin()
        .current_dir(dir)
        .args(args)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_SESSION_TOKEN", TOKEN)
        .env("AWS_SECURITY_TOKEN", TOKEN)
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", CONTAINER_TOKEN)
        .env("SM_PACK_MODEL_URL", presigned())
        .env(
            "HTTPS_PROXY",
            format!("http://user:{PROXY_PASS}@127.0.0.1:9"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("run sm-pack")
}

fn check(what: &str, o: &Output) {
    assert!(!stderr(o).contains("panicked"), "{what}: {}", stderr(o));
    assert_no_secret(&format!("{what} stdout"), &stdout(o));
    assert_no_secret(&format!("{what} stderr"), &stderr(o));
}

/// Every file in `dir` (archives decompressed) must be free of secrets too.
fn check_files(what: &str, dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if !p.is_file() {
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        let text = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            let _ =
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut out);
            String::from_utf8_lossy(&out).into_owned()
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        };
        assert_no_secret(&format!("{what}: {}", p.display()), &text);
    }
}

#[test]
fn no_command_shows_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let xgb = example_model();
    let xgb = xgb.to_str().unwrap();
    let ft = repo().join("testdata/fasttext/sup_hs.bin");
    let ft = ft.to_str().unwrap();
    std::fs::create_dir(d.join("x")).unwrap();
    std::fs::create_dir(d.join("f")).unwrap();
    std::fs::write(d.join("bad.json"), b"{\"learner\":").unwrap();
    std::fs::write(d.join("lines.txt"), b"the good ones\nbad things\n").unwrap();
    let runs: Vec<(&str, Vec<&str>)> = vec![
        (
            "pack xgboost",
            vec!["-v", "xgboost", xgb, "-o", "x/model.tar.gz"],
        ),
        (
            "pack xgboost --json",
            vec!["--json", "xgboost", xgb, "-o", "x/model.tar.gz", "--force"],
        ),
        (
            "pack fasttext",
            vec!["-v", "fasttext", ft, "-o", "f/model.tar.gz"],
        ),
        (
            "pack: output exists",
            vec!["xgboost", xgb, "-o", "x/model.tar.gz"],
        ),
        (
            "pack: invalid model",
            vec!["--json", "xgboost", "bad.json", "-o", "x/o.tar.gz"],
        ),
        ("pack: missing model", vec!["xgboost", "missing.json"]),
        ("inspect model", vec!["-v", "inspect", xgb]),
        ("inspect model --json", vec!["--json", "inspect", ft]),
        ("inspect archive", vec!["inspect", "x/model.tar.gz"]),
        ("verify", vec!["-v", "verify", "x/model.tar.gz"]),
        (
            "verify --json",
            vec!["--json", "verify", "f/model.tar.gz", "--blazingtext"],
        ),
        (
            "verify: wrong family",
            vec!["--json", "verify", "f/model.tar.gz"],
        ),
        (
            "verify: unknown tag",
            vec!["verify", "x/model.tar.gz", "--container", "9.9-9"],
        ),
        ("containers", vec!["containers"]),
        (
            "containers --json",
            vec!["--json", "containers", "--region", "eu-west-1"],
        ),
        (
            "predict fastText",
            vec!["--json", "predict", ft, "--input", "lines.txt"],
        ),
        (
            "predict: invalid model",
            vec!["predict", "bad.json", "--input", "lines.txt"],
        ),
        ("usage error", vec!["xgboost", "--level", "42", xgb]),
    ];
    for (what, args) in &runs {
        let o = run(d, args);
        check(what, &o);
    }
    check_files("x", &d.join("x"));
    check_files("f", &d.join("f"));
    check_files("folder", d);
}

/// The S3 options on their error paths: a presigned URL given where an S3
/// URI or an endpoint belongs must not be echoed with its signature.
///
/// It was: `invalid S3 URI "<the whole presigned URL>"` repeated the
/// signature, security token and credential of a presigned URL pasted as
/// `--upload` or `upload` destination; the dry run printed the endpoint as
/// given; "cannot reach S3 (<endpoint>)" repeated it unscrubbed. URIs and
/// endpoints are now shown without query string, fragment or user info
/// (`s3::scrub::url_for_display`).
#[cfg(feature = "s3")]
#[test]
fn s3_options_never_echo_a_signature() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let xgb = example_model();
    let xgb = xgb.to_str().unwrap();
    let url = presigned();
    let o = run(d, &["xgboost", xgb, "-o", "model.tar.gz"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let closed = format!("http://127.0.0.1:9/?X-Amz-Signature={SIGNATURE}");
    // User info and a query no scrubber knows by name: the SDK refuses the
    // endpoint and repeats it whole in its error.
    let odd = format!("http://user:{PROXY_PASS}@127.0.0.1:9/?sig={SIGNATURE}");
    let runs: Vec<(&str, Vec<&str>)> = vec![
        (
            "--upload presigned URL",
            vec!["xgboost", xgb, "-o", "a.tar.gz", "--upload", &url],
        ),
        (
            "upload to a presigned URL",
            vec!["upload", "model.tar.gz", &url],
        ),
        (
            "upload --json to a presigned URL",
            vec!["--json", "upload", "model.tar.gz", &url],
        ),
        (
            "endpoint with a signature",
            vec![
                "upload",
                "model.tar.gz",
                "s3://bucket/m/",
                "--endpoint-url",
                &closed,
                "--dry-run",
            ],
        ),
        (
            "endpoint with a password and a query",
            vec![
                "upload",
                "model.tar.gz",
                "s3://bucket/m/",
                "--endpoint-url",
                &odd,
                "--dry-run",
            ],
        ),
        (
            "invalid endpoint with a password and a query",
            vec![
                "upload",
                "model.tar.gz",
                "s3://bucket/m/",
                "--endpoint-url",
                &odd,
            ],
        ),
        (
            "unreachable endpoint with a signature",
            vec![
                "--json",
                "upload",
                "model.tar.gz",
                "s3://bucket/m/",
                "--endpoint-url",
                &closed,
            ],
        ),
    ];
    for (what, args) in &runs {
        let o = run(d, args);
        check(what, &o);
        assert!(
            matches!(o.status.code(), Some(0) | Some(2)),
            "{what}: exit {:?}: {}",
            o.status.code(),
            stderr(&o)
        );
    }
    check_files("folder", d);
}

/// `sm-pack upload` against the local S3 server (scripts/test.sh starts it):
/// a bucket that does not exist, with the fake credentials.
#[cfg(feature = "s3")]
#[test]
fn upload_failure_against_the_test_server_shows_no_secret() {
    let Ok(endpoint) = std::env::var("SM_PACK_TEST_S3_ENDPOINT") else {
        eprintln!("skipped: SM_PACK_TEST_S3_ENDPOINT is not set (scripts/test.sh sets it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let xgb = example_model();
    let o = run(d, &["xgboost", xgb.to_str().unwrap(), "-o", "model.tar.gz"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for json in [false, true] {
        let mut args = vec![
            "-v",
            "upload",
            "model.tar.gz",
            "s3://sm-pack-no-such-bucket-secrets/m/",
            "--endpoint-url",
            &endpoint,
            "--path-style",
        ];
        if json {
            args.insert(0, "--json");
        }
        let o = run(d, &args);
        check("upload to a missing bucket", &o);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    }
    check_files("folder", d);
}
