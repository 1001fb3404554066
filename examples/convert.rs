//! Convert an XGBoost model for an older (or newer) SageMaker container tag:
//! the encoding and dialect that tag's xgboost reads, checked to predict the
//! same numbers as the original.
//!
//! ```sh
//! cargo run --example convert                                  # the example model for 1.0-1
//! cargo run --example convert -- model.ubj 1.5-1 xgboost-model
//! ```
//!
//! Exits 1 when the tag cannot take the model (nothing is written).

use sm_pack::output::StagedFile;
use sm_pack::xgboost::convert::{Outcome, Request, convert};
use std::path::PathBuf;

fn main() -> Result<(), sm_pack::Error> {
    let mut args = std::env::args().skip(1);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let model = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("testdata/example/churn-xgboost.json"));
    let tag = args.next().unwrap_or_else(|| "1.0-1".to_string());
    let output = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/example-convert/xgboost-model"));

    let bytes = std::fs::read(&model).map_err(|e| sm_pack::Error::io("read", &model, e))?;
    let (parsed, _findings) = sm_pack::xgboost::read_model(&bytes)?;
    let request = Request::for_tag(tag);
    match convert(&parsed, Some(&bytes), &request)? {
        Outcome::Refused(refusal) => {
            eprintln!("{}", refusal.message());
            std::process::exit(1);
        }
        Outcome::Converted(c) => {
            if let Some(dir) = output.parent() {
                std::fs::create_dir_all(dir).map_err(|e| sm_pack::Error::io("create", dir, e))?;
            }
            // Written to a temporary file beside the output, renamed into place.
            StagedFile::with_contents(&output, &c.bytes)?.commit(true)?;
            println!(
                "{} -> {}: {} for {} (xgboost {})",
                model.display(),
                output.display(),
                c.to.description,
                c.container,
                c.xgboost
            );
            println!(
                "before: {}, after: {}",
                c.verdict_before.label(),
                c.verdict_after.label()
            );
            for change in &c.changes {
                println!("changed: {}", change.message);
            }
            println!(
                "checked on {} rows: largest relative difference {:e}",
                c.check.rows, c.check.max_rel_diff
            );
        }
    }
    Ok(())
}
