//! Inspect an XGBoost model: what it is, what validation found, and what every
//! SageMaker XGBoost container tag would do with it.
//!
//! ```sh
//! cargo run --example inspect                       # the example model in testdata/example/
//! cargo run --example inspect -- model.ubj 1.7-1    # a model, and the tag to gate on
//! ```
//!
//! Exits 1 when validation finds errors, or when the given tag would not load
//! the model as it is and predict the same numbers (the CLI's
//! `sm-pack inspect MODEL --container TAG`).

use sm_pack::container::{ContainerTable, verdicts_for_model};
use sm_pack::report::Findings;
use std::path::PathBuf;

fn main() -> Result<(), sm_pack::Error> {
    let mut args = std::env::args().skip(1);
    let model = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/example/churn-xgboost.json")
    });
    let gate = args.next();

    // Read (never executing pickles), validate and summarise.
    let bytes = std::fs::read(&model).map_err(|e| sm_pack::Error::io("read", &model, e))?;
    let inspection = sm_pack::xgboost::inspect_bytes(&bytes)?;
    println!("{}", model.display());
    print!("{}", inspection.human_summary());
    for finding in &inspection.findings {
        println!("  {finding}");
    }

    // The verdict of every container tag, oldest first.
    let table = ContainerTable::builtin()?;
    if let Some(tag) = &gate {
        table.require(tag)?; // an unknown tag is an error listing the valid ones
    }
    let verdicts = verdicts_for_model(table, &inspection.model, Some(&bytes));
    for (tag, verdict) in &verdicts {
        let why = verdict.reasons().first().map(|r| r.message.as_str());
        println!("  {tag:<7} {:<22} {}", verdict.label(), why.unwrap_or(""));
    }

    let gate_failed = gate
        .as_ref()
        .is_some_and(|g| !verdicts.iter().any(|(t, v)| t == g && v.is_loads()));
    if inspection.findings.has_errors() || gate_failed {
        std::process::exit(1);
    }
    Ok(())
}
