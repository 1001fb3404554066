//! `sm-pack convert`: rewrite an XGBoost model for a SageMaker container
//! tag, and the container part of the packing report.

use super::style::{self, paint};
use super::{Ctx, REPORT_SCHEMA};
use anyhow::Result;
use clap::{Args, ValueEnum};
use serde_json::json;
use sm_pack::output::{StagedFile, check_destination};
use sm_pack::pack::PackOutcome;
use sm_pack::xgboost::convert::{self, Conversion, Outcome, Refusal, Request};
use sm_pack::xgboost::ir::Encoding;
use std::path::PathBuf;

/// Output encodings of `--to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ToFormat {
    /// JSON text (xgboost 1.0+).
    Json,
    /// UBJSON (xgboost 1.6+).
    Ubj,
    /// Legacy binary (xgboost 0.90 - 3.0).
    Binary,
}

impl ToFormat {
    fn encoding(self) -> Encoding {
        match self {
            ToFormat::Json => Encoding::Json,
            ToFormat::Ubj => Encoding::Ubjson,
            ToFormat::Binary => Encoding::LegacyBinary,
        }
    }
}

/// Options of `sm-pack convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The XGBoost model (any encoding sm-pack reads: legacy binary, JSON, UBJSON, a pickled
    /// Booster or scikit-learn wrapper, a memory snapshot).
    pub model: PathBuf,
    /// Where to write the converted model (written atomically; nothing is written on refusal).
    #[arg(short, long)]
    pub output: PathBuf,
    /// SageMaker container tag to convert for (default: the newest tag).
    #[arg(long, value_name = "TAG")]
    pub container: Option<String>,
    /// Output encoding (default: legacy binary for 0.90 tags, JSON for 1.0-1.5, UBJSON for
    /// 1.7+).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub to: Option<ToFormat>,
    /// Write the dialect of this xgboost version (e.g. 1.3) instead of the tag's own; the
    /// result must still load in the tag.
    #[arg(long, value_name = "VERSION")]
    pub dialect: Option<String>,
    /// Rows (text/csv, text/libsvm or application/x-recordio-protobuf, like a request
    /// body) on which the original and the converted model must predict the same numbers
    /// (default: rows synthesised from the model's split thresholds).
    #[arg(long, value_name = "FILE")]
    pub sample: Option<PathBuf>,
    /// Overwrite the output if it exists.
    #[arg(long)]
    pub force: bool,
}

pub fn run_convert(ctx: &Ctx, a: &ConvertArgs) -> Result<i32> {
    let dialect = match &a.dialect {
        Some(d) => Some(
            convert::parse_version(d).ok_or_else(|| sm_pack::Error::Usage {
                message: format!("--dialect {d:?} is not a version such as 1.7 or 0.90"),
            })?,
        ),
        None => None,
    };
    check_destination(&a.output, a.force)?;
    let bytes = sm_pack::input::read_model_file(&a.model, sm_pack::input::MAX_MODEL_BYTES)?;
    let (model, _) = sm_pack::xgboost::read_model(&bytes)?;
    let sample = match &a.sample {
        Some(p) => {
            let body = sm_pack::input::read_data_file(p, sm_pack::input::MAX_DATA_BYTES)?;
            let cols = usize::try_from(model.learner.num_feature).unwrap_or(usize::MAX);
            let (rows, _) =
                sm_pack::xgboost::predict::parse_request_bytes(&body, None, false, cols.max(1))?;
            Some(rows)
        }
        None => None,
    };
    let req = Request {
        container: a.container.clone(),
        encoding: a.to.map(ToFormat::encoding),
        dialect,
        sample,
    };
    match convert::convert(&model, Some(&bytes), &req)? {
        Outcome::Refused(r) => {
            report_refusal(ctx, a, &r)?;
            Ok(1)
        }
        Outcome::Converted(c) => {
            let staged = StagedFile::with_contents(&a.output, &c.bytes)?;
            staged.commit(a.force)?;
            report_conversion(ctx, a, &c)?;
            Ok(0)
        }
    }
}

fn report_refusal(ctx: &Ctx, a: &ConvertArgs, r: &Refusal) -> Result<()> {
    if ctx.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "schema": REPORT_SCHEMA,
                "command": "convert",
                "ok": false,
                "exit_code": 1,
                "input": a.model,
                "output": null,
                "refusal": r,
            }))?
        );
        return Ok(());
    }
    eprintln!(
        "{} cannot convert {} for {} (xgboost {}); nothing was written",
        paint(ctx.style.err, style::RED, "refused:"),
        a.model.display(),
        r.container,
        r.xgboost
    );
    for reason in &r.reasons {
        eprintln!("  - {}", reason.message);
    }
    match &r.oldest_tag {
        // The tag asked for takes the model, only not in the requested
        // encoding or dialect: naming the same tag again would not help.
        Some(t) if *t == r.container => eprintln!(
            "  {} {t} can take this model in its default encoding and dialect: drop --to / --dialect",
            paint(ctx.style.err, style::DIM, "hint:")
        ),
        Some(t) => eprintln!(
            "  {} the oldest tag that can take this model is {t} (--container {t})",
            paint(ctx.style.err, style::DIM, "hint:")
        ),
        None => eprintln!("  no SageMaker XGBoost tag can take this model"),
    }
    Ok(())
}

fn report_conversion(ctx: &Ctx, a: &ConvertArgs, c: &Conversion) -> Result<()> {
    if ctx.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "schema": REPORT_SCHEMA,
                "command": "convert",
                "ok": true,
                "exit_code": 0,
                "input": a.model,
                "output": a.output,
                "conversion": c,
            }))?
        );
        return Ok(());
    }
    if ctx.quiet {
        return Ok(());
    }
    println!(
        "{} {} -> {} for {} (xgboost {})",
        paint(ctx.style.out, style::GREEN, "converted"),
        a.model.display(),
        a.output.display(),
        c.container,
        c.xgboost
    );
    print_conversion(ctx, c);
    Ok(())
}

fn print_conversion(ctx: &Ctx, c: &Conversion) {
    println!(
        "  from      {}, xgboost {}, {} ({})",
        c.from.encoding, c.from.producer, c.from.objective, c.from.booster
    );
    println!(
        "  to        {}, {} bytes, sha256 {}",
        c.to.description, c.to.size, c.to.sha256
    );
    let color = |v: &sm_pack::container::Verdict| {
        if v.is_loads() {
            style::GREEN
        } else {
            style::RED
        }
    };
    println!(
        "  before    {}",
        paint(
            ctx.style.out,
            color(&c.verdict_before),
            c.verdict_before.label()
        )
    );
    for r in &c.why {
        println!("            - {}", r.message);
    }
    println!(
        "  after     {}",
        paint(
            ctx.style.out,
            color(&c.verdict_after),
            c.verdict_after.label()
        )
    );
    for (i, ch) in c.changes.iter().enumerate() {
        println!(
            "  {} - {}",
            if i == 0 { "changed " } else { "        " },
            ch.message
        );
    }
    println!("  predicts  {}", c.predicts);
    println!("  checked   {}", c.check.compared);
    println!(
        "            predictions on {} rows ({}): largest relative difference {:.1e} (tolerance {:.0e})",
        c.check.rows, c.check.sample, c.check.max_rel_diff, c.check.tolerance
    );
    if ctx.verbose {
        for n in &c.check.notes {
            println!("            note: {n}");
        }
    }
}

/// The container lines of `sm-pack xgboost`'s human report.
pub fn render_container_check(ctx: &Ctx, outcome: &PackOutcome) {
    let Some(check) = &outcome.container else {
        return;
    };
    if ctx.quiet && !check.failed {
        return;
    }
    if check.converted {
        println!(
            "  {} {}",
            paint(ctx.style.out, style::YELLOW, "converted:"),
            check.message
        );
    } else if check.verdict.is_loads() {
        println!(
            "  {} {}",
            paint(ctx.style.out, style::GREEN, "container"),
            check.message
        );
    } else if check.failed && outcome.packed {
        // The warning above says why.
        println!(
            "  {} packed as given for {}, which would not load it or would mispredict (exit code 1)",
            paint(ctx.style.out, style::RED, "not ok:"),
            check.tag
        );
    }
    if let Some(c) = outcome
        .manifest
        .as_ref()
        .and_then(|m| m.conversion.as_ref())
        .and_then(|v| serde_json::from_value::<ConversionView>(v.clone()).ok())
    {
        for ch in &c.changes {
            println!("      - {}", ch.message);
        }
        println!("      {}", c.predicts);
    }
}

/// The parts of the manifest's conversion record the report prints.
#[derive(serde::Deserialize)]
struct ConversionView {
    changes: Vec<convert::Change>,
    predicts: String,
}
