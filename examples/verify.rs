//! Verify an existing `model.tar.gz` the way SageMaker will: a safe streaming
//! read (nothing is extracted), which files the container loads, the models'
//! validity and verdict, and the manifest and `SHA256SUMS` beside it.
//!
//! ```sh
//! cargo run --example pack && cargo run --example verify     # packs, then verifies that archive
//! cargo run --example verify -- model.tar.gz 1.7-1
//! cargo run --example verify -- langid.tar.gz blazingtext
//! ```
//!
//! Exits 1 when a finding has error severity.

use sm_pack::verify::{Target, VerifyOptions, verify_archive};
use std::path::PathBuf;

fn main() -> Result<(), sm_pack::Error> {
    let mut args = std::env::args().skip(1);
    let archive = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/example-pack/model.tar.gz")
    });
    let target = match args.next().as_deref() {
        Some("blazingtext") => Target::Blazingtext,
        Some(tag) => Target::Xgboost(Some(tag.to_string())),
        None => Target::Xgboost(None), // the newest tag
    };

    let opts = VerifyOptions {
        target,
        ..VerifyOptions::default()
    };
    let report = verify_archive(&archive, &opts)?;
    for line in report.human_lines() {
        println!("{line}");
    }
    for finding in &report.findings {
        println!("  {finding}");
    }
    if let Some(cmd) = &report.rebuild {
        println!("rebuild with: {cmd}");
    }
    std::process::exit(report.exit_code());
}
