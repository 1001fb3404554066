//! `sm-pack inspect`: what a file is, detected from its bytes: an XGBoost
//! model (with the verdict of every SageMaker container), a fastText model,
//! or a model archive (its members).

use super::args::InspectArgs;
use super::{Ctx, REPORT_SCHEMA, render, style};
use anyhow::Result;
use serde_json::json;
use sm_pack::container::{ContainerTable, Verdict, verdicts_for_model};
use sm_pack::report::Findings;
use std::io::Read;

/// What the first bytes of a file say it is.
enum Kind {
    FastText,
    Archive,
    Other,
}

fn sniff(path: &std::path::Path) -> Result<Kind> {
    let mut head = vec![0u8; 512];
    // Models and archives are regular files: a FIFO or a device is refused
    // here, before anything is read.
    let (mut f, _) = sm_pack::input::open_model_file(path)?;
    let mut n = 0;
    while n < head.len() {
        let r = f
            .read(&mut head[n..])
            .map_err(|e| sm_pack::Error::io("read", path, e))?;
        if r == 0 {
            break;
        }
        n += r;
    }
    let head = &head[..n];
    Ok(match head {
        [0xBA, 0x16, 0x4F, 0x2F, ..] => Kind::FastText,
        [0x1f, 0x8b, ..] => Kind::Archive,
        h if h.len() >= 262 && &h[257..262] == b"ustar" => Kind::Archive,
        _ => Kind::Other,
    })
}

/// Prints a multi-line block, ending it with a newline.
fn print_block(text: &str) {
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
}

fn emit_json(value: serde_json::Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

pub fn run_inspect(ctx: &Ctx, a: &InspectArgs) -> Result<i32> {
    match sniff(&a.file)? {
        Kind::FastText => inspect_fasttext(ctx, a),
        Kind::Archive => inspect_archive(ctx, a),
        Kind::Other => inspect_xgboost(ctx, a),
    }
}

fn inspect_fasttext(ctx: &Ctx, a: &InspectArgs) -> Result<i32> {
    if a.container.is_some() {
        anyhow::bail!(sm_pack::Error::Usage {
            message:
                "--container applies to XGBoost models; fastText models are hosted by BlazingText"
                    .into()
        });
    }
    let mut opts = sm_pack::fasttext::Options::default();
    // Inspecting is not deploying: report quantization as a fact.
    opts.allow_quantized = true;
    let i = sm_pack::fasttext::inspect_file_with(&a.file, &opts)?;
    let code = if i.findings.has_errors() { 1 } else { 0 };
    if ctx.json {
        emit_json(json!({
            "schema": REPORT_SCHEMA,
            "command": "inspect",
            "ok": code == 0,
            "exit_code": code,
            "input": a.file,
            "format": "fasttext",
            "model": i.summary_json(),
            "findings": i.findings,
        }))?;
    } else {
        println!("{}", a.file.display());
        print_block(&i.human_summary());
        render::findings(ctx, &i.findings);
    }
    Ok(code)
}

fn inspect_archive(ctx: &Ctx, a: &InspectArgs) -> Result<i32> {
    let listing = sm_pack::verify::inspect_archive(&a.file)?;
    let code = if listing.findings.has_errors() { 1 } else { 0 };
    if ctx.json {
        emit_json(json!({
            "schema": REPORT_SCHEMA,
            "command": "inspect",
            "ok": code == 0,
            "exit_code": code,
            "input": a.file,
            "format": "archive",
            "archive": listing,
        }))?;
    } else {
        println!("{}", a.file.display());
        println!("{}", listing.human_summary());
        println!(
            "  (to judge it the way a container will: sm-pack verify {} --container TAG)",
            a.file.display()
        );
    }
    Ok(code)
}

fn verdict_color(v: &Verdict) -> &'static str {
    match v {
        Verdict::Loads { .. } => style::GREEN,
        Verdict::LoadsButMispredicts { .. } | Verdict::Undetermined { .. } => style::YELLOW,
        _ => style::RED,
    }
}

fn inspect_xgboost(ctx: &Ctx, a: &InspectArgs) -> Result<i32> {
    let bytes = sm_pack::input::read_model_file(&a.file, sm_pack::input::MAX_MODEL_BYTES)?;
    let inspection = sm_pack::xgboost::inspect_bytes(&bytes)?;
    let table = ContainerTable::builtin()?;
    if let Some(tag) = &a.container {
        table.require(tag)?;
    }
    let verdicts = verdicts_for_model(table, &inspection.model, Some(&bytes));
    let mut code = if inspection.findings.has_errors() {
        1
    } else {
        0
    };
    if let Some(tag) = &a.container
        && !verdicts.iter().any(|(t, v)| t == tag && v.is_loads())
    {
        code = 1;
    }
    if ctx.json {
        let v: Vec<_> = verdicts
            .iter()
            .map(|(tag, v)| json!({"tag": tag, "verdict": v.label(), "detail": v}))
            .collect();
        emit_json(json!({
            "schema": REPORT_SCHEMA,
            "command": "inspect",
            "ok": code == 0,
            "exit_code": code,
            "input": a.file,
            "format": "xgboost",
            "model": inspection.summary_json(),
            "findings": inspection.findings,
            "container": a.container,
            "verdicts": v,
        }))?;
        return Ok(code);
    }
    println!("{}", a.file.display());
    print_block(&inspection.human_summary());
    render::findings(ctx, &inspection.findings);
    println!("  containers (the file loaded as /opt/ml/model/xgboost-model):");
    for (tag, v) in &verdicts {
        if let Some(want) = &a.container
            && want != tag
            && !ctx.verbose
        {
            continue;
        }
        let first = v
            .reasons()
            .first()
            .map(|r| r.message.as_str())
            .unwrap_or("");
        println!(
            "    {:<7} {:<22} {}",
            tag,
            style::paint(ctx.style.out, verdict_color(v), v.label()),
            first
        );
        if ctx.verbose {
            for r in v.reasons().iter().skip(1) {
                println!("    {:<7} {:<22} {}", "", "", r.message);
            }
        }
    }
    if let Some(tag) = &a.container
        && code == 1
        && !inspection.findings.has_errors()
    {
        println!(
            "  {} the {tag} container would not load this model as given and predict the same numbers",
            style::paint(ctx.style.out, style::RED, "not ok:")
        );
    }
    Ok(code)
}
