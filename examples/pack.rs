//! Pack a model into a deterministic `model.tar.gz` for a SageMaker built-in
//! container, with `model.tar.gz.manifest.json` and `SHA256SUMS` beside it.
//!
//! ```sh
//! cargo run --example pack                                    # the example model, for tag 1.5-1
//! cargo run --example pack -- model.json out/model.tar.gz 1.7-1
//! cargo run --example pack -- langid.bin out/langid.tar.gz    # a .bin/.ftz is packed for BlazingText
//! ```
//!
//! A model the tag would not load as it is gets converted for it (the
//! manifest's `conversion` says how); a model that fails validation is not
//! packed and nothing is written (exit 1).

use sm_pack::pack::{Family, PackJob, pack};
use std::path::PathBuf;

fn main() -> Result<(), sm_pack::Error> {
    let mut args = std::env::args().skip(1);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let model = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("testdata/example/churn-xgboost.json"));
    let output = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/example-pack/model.tar.gz"));
    let tag = args.next().or_else(|| Some("1.5-1".to_string()));

    // fastText models start with their magic number; everything else is XGBoost.
    let head = std::fs::read(&model).map_err(|e| sm_pack::Error::io("read", &model, e))?;
    let family = if head.starts_with(&[0xBA, 0x16, 0x4F, 0x2F]) {
        Family::Blazingtext
    } else {
        Family::Xgboost
    };
    if let Some(dir) = output.parent() {
        std::fs::create_dir_all(dir).map_err(|e| sm_pack::Error::io("create", dir, e))?;
    }

    let mut job = PackJob::new(family, &model, &output)?;
    if family == Family::Xgboost {
        job.container = tag;
    }
    job.options.overwrite = true; // replace the outputs of an earlier run
    let outcome = pack(&job)?;

    for finding in &outcome.findings {
        eprintln!("{finding}");
    }
    let (Some(manifest), Some(files)) = (&outcome.manifest, &outcome.files) else {
        eprintln!(
            "{} was not packed: validation found errors",
            model.display()
        );
        std::process::exit(1);
    };
    println!(
        "{} -> {} ({} bytes, sha256 {})",
        model.display(),
        files.archive.display(),
        manifest.archive.size,
        manifest.archive.sha256
    );
    if let Some(check) = &outcome.container {
        println!("container {}", check.message);
    }
    println!("manifest  {}", files.manifest.display());
    println!("checksums {}", files.sha256sums.display());
    std::process::exit(outcome.exit_code());
}
