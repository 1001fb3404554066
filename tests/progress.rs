//! Progress reporting: the library callbacks of `verify` (and, through the
//! same `archive::Progress`, `upload`) reach the archive's size, and the CLI
//! draws a bar on stderr only when stderr is a terminal and a human reads it.

mod common;

use common::*;
use sm_pack::archive::{Member, PackOptions, Progress, stage_archive};
use sm_pack::verify::{Target, VerifyOptions, verify_archive};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

/// A 72 MiB archive (above the 64 MiB threshold for drawing a bar) whose
/// single member is not a model: `verify` reads it all, then fails it.
fn big_archive(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("xgboost-model");
    std::fs::write(&src, noise(72 << 20, 7)).unwrap();
    let out = dir.join("big.tar.gz");
    let opts = PackOptions {
        level: 0,
        ..PackOptions::default()
    };
    let staged = stage_archive(&[Member::new(&src, "xgboost-model")], &out, &opts).unwrap();
    staged.file.commit(false).unwrap();
    out
}

#[test]
fn verify_reports_every_byte_it_reads_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let archive = big_archive(dir.path());
    let size = std::fs::metadata(&archive).unwrap().len();
    let seen = Arc::new(Mutex::new(Vec::<u64>::new()));
    let s = seen.clone();
    let opts = VerifyOptions {
        target: Target::Xgboost(Some("1.7-1".into())),
        progress: Some(Progress(Arc::new(move |n| s.lock().unwrap().push(n)))),
        ..VerifyOptions::default()
    };
    let report = verify_archive(&archive, &opts).unwrap();
    assert_eq!(report.exit_code(), 1, "noise is not a model");
    let seen = seen.lock().unwrap();
    assert!(seen.len() > 10, "{} calls", seen.len());
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "not monotonic");
    assert_eq!(*seen.last().unwrap(), size);
}

/// Runs `sm-pack ARGS` under `script`, so stderr is a pseudo-terminal.
fn on_a_tty(dir: &Path, args: &str, env: &[(&str, &str)]) -> String {
    let bin = env!("CARGO_BIN_EXE_sm-pack");
    let mut c = Command::new("script");
    c.current_dir(dir)
        .args(["-qec", &format!("{bin} {args}"), "/dev/null"])
        .env_remove("NO_COLOR");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_cli_draws_a_bar_only_for_a_human_on_a_terminal() {
    if !have("script") {
        panic!("`script` (util-linux) is needed to give the CLI a terminal");
    }
    let dir = tempfile::tempdir().unwrap();
    big_archive(dir.path());
    let tty = on_a_tty(dir.path(), "verify big.tar.gz --container 1.7-1", &[]);
    assert!(tty.contains("verifying"), "no bar on a terminal: {tty}");
    for quiet in [
        "--quiet verify big.tar.gz --container 1.7-1",
        "--json verify big.tar.gz --container 1.7-1",
    ] {
        let out = on_a_tty(dir.path(), quiet, &[]);
        assert!(!out.contains("verifying ["), "{quiet}: {out}");
    }
    // Not a terminal: no bar.
    let o = run_in(
        dir.path(),
        &["verify", "big.tar.gz", "--container", "1.7-1"],
    );
    assert!(!stderr(&o).contains("verifying ["), "{}", stderr(&o));
}

#[cfg(feature = "s3")]
mod s3_support;

/// `sm-pack upload` of an existing archive draws an "uploading" bar on a
/// terminal (the local S3 server of the test suite).
#[cfg(feature = "s3")]
#[test]
fn upload_draws_a_bar_on_a_terminal() {
    let Some(endpoint) = s3_support::endpoint() else {
        return;
    };
    let env = s3_support::TestEnv::new();
    let bucket = s3_support::bucket_name("progress");
    s3_support::S3::new(&endpoint).create_bucket(&bucket);
    big_archive(env.dir.path());
    let vars: Vec<(&str, &str)> = env
        .vars
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let out = on_a_tty(
        env.dir.path(),
        &format!(
            "upload big.tar.gz s3://{bucket}/p/ --endpoint-url {endpoint} --path-style --part-size 8MiB"
        ),
        &vars,
    );
    assert!(out.contains("uploading"), "no bar on a terminal: {out}");
    assert!(out.contains("uploaded"), "{out}");
}
